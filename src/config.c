/* SPDX-License-Identifier: MIT */
/*
 * config — load the libconfig file into struct config and validate it.
 *
 * The only file that includes libconfig. The rules: every key has a default,
 * unknown keys are errors (a typo such as "pasword" must not silently fall
 * back to a default), types are never converted (true is not 1), and every
 * message carries the line of the setting it is about, so `ssring --check`
 * points at the mistake. Only the first error is reported.
 *
 * Secrets (password or base64 key) may sit in the config text, in a file or
 * in an environment variable. They are turned into the master key here and
 * the copies this file controls are wiped; libconfig's own scanner buffers
 * are freed unwiped, which is one reason to prefer *_file or *_env.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero, O_CLOEXEC */
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_WORKERS 256
/* Upper bounds that only catch typos: both sizes are preallocated per worker. */
#define CONFIG_MAX_TABLE 16777216
/* One week; longer timeouts are almost certainly a unit mistake. */
#define CONFIG_MAX_TIMEOUT_S 604800
/* A password or base64 key file larger than this is the wrong file. */
#define CONFIG_MAX_SECRET_FILE 4096

/* A listen address seen so far, for the collision check across roles. */
struct seen_listen {
	const struct hostport *hp;
	const config_setting_t *s;
};

struct ctx {
	const char *name; /* file name for messages */
	const char *dir;  /* directory of the file, for relative secret paths; NULL: cwd */
	char *err;
	size_t err_len;
	struct seen_listen *listens;
	size_t n_listens, cap_listens;
};

typedef int (*parse_elem_fn)(struct ctx *x, const config_setting_t *g, void *elem);

/*
 * Known keys per group, NULL-terminated; the order is the one the "expected
 * one of" hint lists. SECRET_KEYS are the ways to give a secret, exactly one
 * per endpoint.
 */
#define SECRET_KEYS "password", "key", "password_file", "key_file", "password_env", "key_env"
static const char *const top_keys[] = { "workers", "log_level", "limits",  "timeouts",
					"dns",	   "servers",	"locals", "tunnels", NULL };
static const char *const limits_keys[] = { "tcp_sessions", "udp_associations", NULL };
static const char *const timeouts_keys[] = { "connect",	 "handshake", "tcp_idle",
					     "udp_idle", "shutdown",  NULL };
static const char *const dns_keys[] = { "servers", "cache_entries", "prefer", NULL };
static const char *const server_keys[] = { "listen", "method", SECRET_KEYS,
					   "udp",    "allow_private", "users", "probe",
					   "probe_forward", NULL };
static const char *const user2022_keys[] = { "name", "key", NULL };
static const char *const local_keys[] = { "listen", "server", "method", SECRET_KEYS,
					  "udp",    "users",  NULL };
static const char *const tunnel_keys[] = { "listen", "forward", "server", "method", SECRET_KEYS,
					   "tcp",    "udp",	NULL };
static const char *const user_keys[] = { "name", "password", NULL };
static const char *const secret_keys[] = { SECRET_KEYS, NULL };
static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const prefer_names[] = { "ipv4", "ipv6", NULL };

/* "servers[0].users[1].name": where a setting sits, for messages. */
static size_t setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;
	int w;

	buf[0] = '\0';
	if (!parent)
		return 0;
	n = setting_path(parent, buf, len);
	if (config_setting_name(s))
		w = snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
	else
		w = snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
	n += w > 0 ? (size_t)w : 0;
	return n < len ? n : len - 1;
}

/*
 * The file a setting or parse error comes from. libconfig names @include
 * files as written, relative to the include directory we gave it, and the
 * main file not at all when read from a stream.
 */
static const char *file_name(const struct ctx *x, const char *file, char *buf, size_t len)
{
	if (!file)
		return x->name;
	if (file[0] == '/' || !x->dir)
		return file;
	snprintf(buf, len, "%s/%s", x->dir, file);
	return buf;
}

/*
 * Report "FILE:LINE: PATH: message" where LINE is that of at and PATH names
 * where. They differ for unknown keys: the line of the key, the path of the
 * group it is in. Always returns -EINVAL so callers can "return fail(...)".
 */
static int fail_at(struct ctx *x, const config_setting_t *at, const config_setting_t *where,
		   const char *fmt, ...)
{
	char path[256], msg[CONFIG_ERR_BYTES], file[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	setting_path(where, path, sizeof(path));
	if (x->err_len)
		snprintf(x->err, x->err_len, "%s:%u: %s%s%s",
			 file_name(x, config_setting_source_file(at), file, sizeof(file)),
			 config_setting_source_line(at), path, path[0] ? ": " : "", msg);
	return -EINVAL;
}

#define fail(x, s, ...) fail_at((x), (s), (s), __VA_ARGS__)

static bool in_list(const char *const *names, const char *name)
{
	for (; *names; names++)
		if (!strcmp(*names, name))
			return true;
	return false;
}

static void join_names(const char *const *names, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *names && n < len; names++) {
		int w = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", *names);

		n += w > 0 ? (size_t)w : 0;
	}
}

/* Unknown keys are errors: a misspelt key would otherwise mean "default". */
static int check_keys(struct ctx *x, const config_setting_t *g, const char *const *known)
{
	int i, n = config_setting_length(g);
	char list[256];

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned int)i);

		if (in_list(known, config_setting_name(m)))
			continue;
		join_names(known, list, sizeof(list));
		return fail_at(x, m, g, "unknown key '%s' (expected one of: %s)",
			       config_setting_name(m), list);
	}
	return 0;
}

static const config_setting_t *member(const config_setting_t *g, const char *key)
{
	return config_setting_get_member(g, key);
}

/* Absent keys keep the caller's default in *out. */
static int get_int(struct ctx *x, const config_setting_t *g, const char *key, long long min,
		   long long max, long long *out)
{
	const config_setting_t *s = member(g, key);
	long long v;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(x, s, "must be an integer from %lld to %lld", min, max);
	v = config_setting_get_int64(s);
	if (v < min || v > max)
		return fail(x, s, "must be an integer from %lld to %lld, not %lld", min, max, v);
	*out = v;
	return 0;
}

static int get_u32(struct ctx *x, const config_setting_t *g, const char *key, long long min,
		   long long max, uint32_t *out)
{
	long long v = *out;
	int ret = get_int(x, g, key, min, max, &v);

	*out = (uint32_t)v;
	return ret;
}

static int get_bool(struct ctx *x, const config_setting_t *g, const char *key, bool *out)
{
	const config_setting_t *s = member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(x, s, "must be a boolean: true or false (not a number or a string)");
	*out = config_setting_get_bool(s);
	return 0;
}

/* *out stays untouched when the key is absent and not required. */
static int get_string(struct ctx *x, const config_setting_t *g, const char *key, bool required,
		      const char **out)
{
	const config_setting_t *s = member(g, key);

	if (!s) {
		if (required)
			return fail(x, g, "missing required key '%s'", key);
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(x, s, "must be a string");
	*out = config_setting_get_string(s);
	return 0;
}

static int get_enum(struct ctx *x, const config_setting_t *g, const char *key,
		    const char *const *names, int *out)
{
	const char *v = NULL;
	char list[128];
	int i, ret;

	ret = get_string(x, g, key, false, &v);
	if (ret || !v)
		return ret;
	for (i = 0; names[i]; i++) {
		if (!strcmp(names[i], v)) {
			*out = i;
			return 0;
		}
	}
	join_names(names, list, sizeof(list));
	return fail(x, member(g, key), "must be one of %s, not '%s'", list, v);
}

/* Parse s as host:port; need_ip rejects host names (listeners are not resolved). */
static int check_hostport(struct ctx *x, const config_setting_t *s, const char *v, bool need_ip,
			  struct hostport *out)
{
	if (hostport_parse(v, false, out))
		return fail(x, s,
			    "'%s' is not host:port (port 1 to 65535, IPv6 in brackets as "
			    "[::1]:8388)",
			    v);
	if (need_ip && !out->is_ip)
		return fail(x, s,
			    "'%s' must be an IP address and port such as 127.0.0.1:1080 or "
			    "[::1]:1080; host names are not resolved here",
			    v);
	return 0;
}

static int get_hostport(struct ctx *x, const config_setting_t *g, const char *key, bool need_ip,
			struct hostport *out)
{
	const char *v = NULL;
	int ret = get_string(x, g, key, true, &v);

	if (ret)
		return ret;
	return check_hostport(x, member(g, key), v, need_ip, out);
}

/* NULL with 0 when absent. */
static int get_group(struct ctx *x, const config_setting_t *g, const char *key,
		     const char *const *known, const config_setting_t **out)
{
	const config_setting_t *s = member(g, key);

	*out = NULL;
	if (!s)
		return 0;
	if (!config_setting_is_group(s))
		return fail(x, s, "must be a group: %s = { ... };", key);
	*out = s;
	return check_keys(x, s, known);
}

static bool listens_overlap(const struct hostport *a, const struct hostport *b)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->addr;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)&b->addr;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->addr;
	const struct sockaddr_in *b4 = (const struct sockaddr_in *)&b->addr;

	if (a->addr.ss_family != b->addr.ss_family || a->port != b->port)
		return false;
	if (a->addr.ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		       a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		       b4->sin_addr.s_addr == htonl(INADDR_ANY);
	return !memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) ||
	       IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr);
}

/*
 * Listeners use SO_REUSEPORT, so two roles on one address would not fail at
 * bind time: the kernel would silently spread clients over both. Catch it
 * here, including a wildcard of the same family and port (IPv6 listeners are
 * v6-only, so 0.0.0.0 and [::] do not collide).
 */
static int note_listen(struct ctx *x, const config_setting_t *g, const struct hostport *hp)
{
	const config_setting_t *s = member(g, "listen");
	char there[256], a[80], b[80];
	size_t i;

	for (i = 0; i < x->n_listens; i++) {
		const struct seen_listen *o = &x->listens[i];

		if (!listens_overlap(hp, o->hp))
			continue;
		setting_path(o->s, there, sizeof(there));
		hostport_format_addr((const struct sockaddr *)&hp->addr, a, sizeof(a));
		hostport_format_addr((const struct sockaddr *)&o->hp->addr, b, sizeof(b));
		return fail(x, s, "%s collides with %s = %s (line %u)", a, there, b,
			    config_setting_source_line(o->s));
	}
	if (x->n_listens == x->cap_listens) {
		size_t cap = x->cap_listens ? 2 * x->cap_listens : 8;
		struct seen_listen *n = realloc(x->listens, cap * sizeof(*n));

		if (!n)
			return fail(x, s, "out of memory");
		x->listens = n;
		x->cap_listens = cap;
	}
	x->listens[x->n_listens++] = (struct seen_listen){ .hp = hp, .s = s };
	return 0;
}

/* Read a secret file; trailing whitespace (the usual newline) is not part of it. */
static int read_secret_file(struct ctx *x, const config_setting_t *s, const char *path,
			    char *buf, size_t *len)
{
	char full[4096];
	struct stat st;
	size_t n = 0;
	ssize_t r = 1;
	int fd, err = 0;

	/* Relative to the config file, so the pair can move together. */
	if (path[0] != '/' && x->dir)
		snprintf(full, sizeof(full), "%s/%s", x->dir, path);
	else
		snprintf(full, sizeof(full), "%s", path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(x, s, "cannot open '%s': %s", full, strerror(errno));
	if (fstat(fd, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size >= CONFIG_MAX_SECRET_FILE)) {
		close(fd);
		return fail(x, s, "'%s' must be a regular file under %d bytes", full,
			    CONFIG_MAX_SECRET_FILE);
	}
	/* One byte more than allowed, to notice a file that grew after fstat. */
	while (n < CONFIG_MAX_SECRET_FILE && r > 0) {
		r = read(fd, buf + n, CONFIG_MAX_SECRET_FILE - n);
		if (r > 0)
			n += (size_t)r;
		else if (r < 0 && errno == EINTR)
			r = 1;
	}
	err = r < 0 ? errno : 0;
	close(fd);
	if (err)
		return fail(x, s, "cannot read '%s': %s", full, strerror(err));
	if (n == CONFIG_MAX_SECRET_FILE)
		return fail(x, s, "'%s' must be a regular file under %d bytes", full,
			    CONFIG_MAX_SECRET_FILE);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', n))
		return fail(x, s, "'%s' contains a NUL byte", full);
	*len = n;
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/*
 * Fetch the secret named by setting s into buf (CONFIG_MAX_SECRET_FILE bytes)
 * and derive the master key from it. The message never quotes the secret.
 */
static int derive_key(struct ctx *x, const config_setting_t *s, struct config_cipher *c,
		      char *buf)
{
	const char *name = config_setting_name(s), *v = config_setting_get_string(s);
	const struct aead_method *m = c->method;
	bool is_key = !strncmp(name, "key", 3);
	size_t len = strlen(v);
	int ret;

	if (has_suffix(name, "_file")) {
		ret = read_secret_file(x, s, v, buf, &len);
		if (ret)
			return ret;
		if (len == 0)
			return fail(x, s, "file '%s' is empty", v);
	} else if (has_suffix(name, "_env")) {
		const char *e = getenv(v);

		if (!e || !e[0])
			return fail(x, s, "environment variable '%s' is %s", v,
				    e ? "empty" : "not set");
		len = strlen(e);
		if (len >= CONFIG_MAX_SECRET_FILE)
			return fail(x, s, "environment variable '%s' is too long", v);
		memcpy(buf, e, len + 1);
	} else {
		if (len == 0)
			return fail(x, s, "must not be empty");
		if (len >= CONFIG_MAX_SECRET_FILE)
			return fail(x, s, "is too long");
		memcpy(buf, v, len + 1);
		/* Nothing reads the tree's copy any more. */
		explicit_bzero((char *)v, len);
	}
	if (c->m2022) {
		/* 2022: the key is the PSK itself (or iPSK:...:uPSK), never a password. */
		if (!is_key)
			return fail(x, s, "%s needs a base64 key (key, key_file or key_env), not a "
					  "password; make one with: ssring genkey %s",
				    c->m2022->name, c->m2022->name);
		if (ss2022_parse_keys(c->m2022, buf, &c->keys2022))
			return fail(x, s, "must be the base64 encoding of exactly %u bytes (or "
					  "iPSK:...:uPSK for the AES methods), the key size of %s",
				    c->m2022->key_len, c->m2022->name);
		memcpy(c->key, c->keys2022.psk, c->m2022->key_len);
		return 0;
	}
	if (!is_key)
		return aead_password_to_key(m, buf, len, c->key) ? fail(x, s, "key derivation failed")
								  : 0;
	if (aead_key_from_base64(m, buf, c->key))
		return fail(x, s, "must be the base64 encoding of exactly %u bytes, the key size of %s",
			    m->key_len, m->name);
	return 0;
}

/* method plus exactly one of secret_keys. */
static int get_cipher(struct ctx *x, const config_setting_t *g, struct config_cipher *c)
{
	const config_setting_t *secret = NULL;
	char buf[CONFIG_MAX_SECRET_FILE];
	const char *method = NULL;
	int i, ret;

	ret = get_string(x, g, "method", true, &method);
	if (ret)
		return ret;
	c->m2022 = ss2022_method_find(method);
	c->method = c->m2022 ? ss2022_chunk_method(c->m2022) : aead_method_find(method);
	if (!c->method)
		return fail(x, member(g, "method"),
			    "unknown method '%s' (known: %s 2022-blake3-aes-128-gcm "
			    "2022-blake3-aes-256-gcm 2022-blake3-chacha20-poly1305)",
			    method, aead_method_names());
	for (i = 0; secret_keys[i]; i++) {
		const config_setting_t *s = member(g, secret_keys[i]);

		if (!s)
			continue;
		if (secret)
			return fail(x, s, "conflicts with '%s' (line %u): give exactly one secret",
				    config_setting_name(secret), config_setting_source_line(secret));
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return fail(x, s, "must be a string");
		secret = s;
	}
	if (!secret)
		return fail(x, g,
			    "missing secret: set one of password, key, password_file, key_file, "
			    "password_env or key_env");
	ret = derive_key(x, secret, c, buf);
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

/* 2022 multi-user server: users = ( { name = "alice"; key = "<uPSK>"; } ). */
static int parse_users2022(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const config_setting_t *list = member(g, "users");
	const struct ss2022_method *m = sv->cipher.m2022;
	const char *name = NULL, *key = NULL;
	int n, ret;

	if (m) {
		sv->srv2022.m = m;
		memcpy(sv->srv2022.psk, sv->cipher.keys2022.psk, m->key_len);
		if (sv->cipher.keys2022.n_ipsk)
			return fail(x, g, "a server's key is one PSK, not a list");
	}
	if (!list)
		return 0;
	if (!m || !m->is_aes)
		return fail(x, list, "users need a 2022-blake3-aes-* method (identity headers)");
	if (!config_setting_is_list(list) || (n = config_setting_length(list)) == 0)
		return fail(x, list, "must be a non-empty list: users = ( { name = \"...\"; key = \"...\"; } );");
	if (n > CONFIG_MAX_USERS)
		return fail(x, list, "has %d entries; at most %d are supported", n, CONFIG_MAX_USERS);
	sv->users2022 = calloc((size_t)n, sizeof(*sv->users2022));
	if (!sv->users2022)
		return fail(x, list, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);
		char *nm;

		if (!config_setting_is_group(e))
			return fail(x, e, "must be a group: { name = \"...\"; key = \"...\"; }");
		if ((ret = check_keys(x, e, user2022_keys)) ||
		    (ret = get_string(x, e, "name", true, &name)) ||
		    (ret = get_string(x, e, "key", true, &key)))
			return ret;
		nm = strdup(name);
		if (!nm || ss2022_user_init(&sv->users2022[i], m, nm, key)) {
			free(nm);
			return fail(x, member(e, "key"), "must be the base64 encoding of exactly %u bytes",
				    m->key_len);
		}
		explicit_bzero((char *)key, strlen(key));
		sv->n_users2022 = (size_t)i + 1;
	}
	sv->srv2022.users = sv->users2022;
	sv->srv2022.n_users = sv->n_users2022;
	return 0;
}

static int parse_probe(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const char *p = NULL;
	int ret = get_string(x, g, "probe", false, &p);

	if (ret)
		return ret;
	sv->probe = PROBE_DRAIN;
	if (p && !strcmp(p, "close"))
		sv->probe = PROBE_CLOSE;
	else if (p && !strcmp(p, "forward"))
		sv->probe = PROBE_FORWARD;
	else if (p && strcmp(p, "drain"))
		return fail(x, member(g, "probe"), "must be \"drain\", \"close\" or \"forward\"");
	if (sv->probe == PROBE_FORWARD)
		return get_hostport(x, g, "probe_forward", true, &sv->probe_forward);
	if (member(g, "probe_forward"))
		return fail(x, member(g, "probe_forward"), "only with probe = \"forward\"");
	return 0;
}

static int parse_server(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_server *sv = elem;
	int ret;

	sv->udp = true;
	sv->allow_private = false;
	sv->line = config_setting_source_line(g);
	if ((ret = check_keys(x, g, server_keys)) ||
	    (ret = get_hostport(x, g, "listen", true, &sv->listen)) ||
	    (ret = note_listen(x, g, &sv->listen)) || (ret = get_cipher(x, g, &sv->cipher)) ||
	    (ret = get_bool(x, g, "udp", &sv->udp)) ||
	    (ret = get_bool(x, g, "allow_private", &sv->allow_private)) ||
	    (ret = parse_users2022(x, g, sv)) || (ret = parse_probe(x, g, sv)))
		return ret;
	return 0;
}

static int parse_user(struct ctx *x, const config_setting_t *g, struct config_user *u)
{
	const char *name = NULL, *pw = NULL;
	int ret;

	if (!config_setting_is_group(g))
		return fail(x, g, "must be a group: { name = \"...\"; password = \"...\"; }");
	if ((ret = check_keys(x, g, user_keys)) || (ret = get_string(x, g, "name", true, &name)) ||
	    (ret = get_string(x, g, "password", true, &pw)))
		return ret;
	/* SOCKS5 username/password auth (RFC 1929) carries each in one length byte. */
	if (strlen(name) < 1 || strlen(name) > 255)
		return fail(x, member(g, "name"), "must be 1 to 255 bytes long");
	if (strlen(pw) < 1 || strlen(pw) > 255)
		return fail(x, member(g, "password"), "must be 1 to 255 bytes long");
	strcpy(u->name, name);
	strcpy(u->password, pw);
	explicit_bzero((char *)pw, strlen(pw));
	return 0;
}

static int parse_users(struct ctx *x, const config_setting_t *g, struct config_local *lc)
{
	const config_setting_t *list = member(g, "users");
	int i, j, n, ret;

	if (!list)
		return 0;
	if (!config_setting_is_list(list))
		return fail(x, list, "must be a list: users = ( { name = \"...\"; password = \"...\"; } );");
	n = config_setting_length(list);
	/* An empty list would silently turn authentication off. */
	if (n == 0)
		return fail(x, list, "is empty; remove it to accept clients without authentication");
	if (n > CONFIG_MAX_USERS)
		return fail(x, list, "has %d entries; at most %d are supported", n, CONFIG_MAX_USERS);
	lc->users = calloc((size_t)n, sizeof(*lc->users));
	if (!lc->users)
		return fail(x, list, "out of memory");
	lc->n_users = (size_t)n;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);

		ret = parse_user(x, e, &lc->users[i]);
		if (ret)
			return ret;
		for (j = 0; j < i; j++)
			if (!strcmp(lc->users[j].name, lc->users[i].name))
				return fail(x, member(e, "name"), "duplicate user name '%s'",
					    lc->users[i].name);
	}
	return 0;
}

static int parse_local(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_local *lc = elem;
	int ret;

	lc->udp = true;
	lc->line = config_setting_source_line(g);
	if ((ret = check_keys(x, g, local_keys)) ||
	    (ret = get_hostport(x, g, "listen", true, &lc->listen)) ||
	    (ret = note_listen(x, g, &lc->listen)) ||
	    (ret = get_hostport(x, g, "server", false, &lc->server)) ||
	    (ret = get_cipher(x, g, &lc->cipher)) || (ret = get_bool(x, g, "udp", &lc->udp)) ||
	    (ret = parse_users(x, g, lc)))
		return ret;
	return 0;
}

static int parse_tunnel(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_tunnel *t = elem;
	int ret;

	t->tcp = true;
	t->udp = true;
	t->line = config_setting_source_line(g);
	if ((ret = check_keys(x, g, tunnel_keys)) ||
	    (ret = get_hostport(x, g, "listen", true, &t->listen)) ||
	    (ret = note_listen(x, g, &t->listen)) ||
	    (ret = get_hostport(x, g, "forward", false, &t->forward)) ||
	    (ret = get_hostport(x, g, "server", false, &t->server)) ||
	    (ret = get_cipher(x, g, &t->cipher)) || (ret = get_bool(x, g, "tcp", &t->tcp)) ||
	    (ret = get_bool(x, g, "udp", &t->udp)))
		return ret;
	if (!t->tcp && !t->udp)
		return fail(x, g, "tcp and udp are both false: nothing to forward");
	return 0;
}

/*
 * servers/locals/tunnels: a list of groups. The array is stored in *out as
 * soon as it exists so that config_free releases it after a failure halfway.
 */
static int parse_role_list(struct ctx *x, const config_setting_t *root, const char *key,
			   size_t elem_size, parse_elem_fn fn, void **out, size_t *n_out)
{
	const config_setting_t *list = member(root, key);
	int i, n, ret;
	char *arr;

	if (!list)
		return 0;
	if (!config_setting_is_list(list))
		return fail(x, list, "must be a list of groups: %s = ( { ... }, { ... } );", key);
	n = config_setting_length(list);
	if (n == 0)
		return 0;
	arr = calloc((size_t)n, elem_size);
	if (!arr)
		return fail(x, list, "out of memory");
	*out = arr;
	*n_out = (size_t)n;
	for (i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned int)i);

		if (!config_setting_is_group(g))
			return fail(x, g, "must be a group { ... }");
		ret = fn(x, g, arr + (size_t)i * elem_size);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_dns_servers(struct ctx *x, const config_setting_t *dns, struct config *cfg)
{
	const config_setting_t *list = member(dns, "servers");
	int i, n, ret;

	if (!list)
		return 0;
	if (!config_setting_is_array(list) && !config_setting_is_list(list))
		return fail(x, list, "must be an array of strings: servers = [ \"127.0.0.1:53\" ];");
	n = config_setting_length(list);
	if (n > CONFIG_MAX_DNS_SERVERS)
		return fail(x, list, "has %d entries; at most %d are supported", n,
			    CONFIG_MAX_DNS_SERVERS);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(x, e, "must be a string such as \"127.0.0.1:53\"");
		ret = check_hostport(x, e, config_setting_get_string(e), true,
				     &cfg->dns.servers[i]);
		if (ret)
			return ret;
	}
	cfg->dns.n_servers = (size_t)n;
	return 0;
}

/* Integers >= 1 of one group, each with its destination and upper bound. */
struct u32_key {
	const char *name;
	uint32_t *out;
	long long max;
};

static int get_u32s(struct ctx *x, const config_setting_t *g, const struct u32_key *k, size_t n)
{
	size_t i;
	int ret;

	for (i = 0; g && i < n; i++) {
		ret = get_u32(x, g, k[i].name, 1, k[i].max, k[i].out);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_globals(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	const struct u32_key limits[] = {
		{ "tcp_sessions", &cfg->limits.tcp_sessions, CONFIG_MAX_TABLE },
		{ "udp_associations", &cfg->limits.udp_associations, CONFIG_MAX_TABLE },
	};
	const struct u32_key timeouts[] = {
		{ "connect", &cfg->timeouts.connect, CONFIG_MAX_TIMEOUT_S },
		{ "handshake", &cfg->timeouts.handshake, CONFIG_MAX_TIMEOUT_S },
		{ "tcp_idle", &cfg->timeouts.tcp_idle, CONFIG_MAX_TIMEOUT_S },
		{ "udp_idle", &cfg->timeouts.udp_idle, CONFIG_MAX_TIMEOUT_S },
		{ "shutdown", &cfg->timeouts.shutdown, CONFIG_MAX_TIMEOUT_S },
	};
	const struct u32_key dns_sizes[] = {
		{ "cache_entries", &cfg->dns.cache_entries, CONFIG_MAX_TABLE },
	};
	const config_setting_t *lim, *to, *dns;
	long long workers = cfg->workers;
	int level = cfg->log_level, prefer = cfg->dns.prefer, ret;

	if ((ret = get_int(x, root, "workers", 1, CONFIG_MAX_WORKERS, &workers)) ||
	    (ret = get_enum(x, root, "log_level", log_level_names, &level)) ||
	    (ret = get_group(x, root, "limits", limits_keys, &lim)) ||
	    (ret = get_u32s(x, lim, limits, sizeof(limits) / sizeof(limits[0]))) ||
	    (ret = get_group(x, root, "timeouts", timeouts_keys, &to)) ||
	    (ret = get_u32s(x, to, timeouts, sizeof(timeouts) / sizeof(timeouts[0]))) ||
	    (ret = get_group(x, root, "dns", dns_keys, &dns)))
		return ret;
	if (dns && ((ret = parse_dns_servers(x, dns, cfg)) ||
		    (ret = get_u32s(x, dns, dns_sizes, 1)) ||
		    (ret = get_enum(x, dns, "prefer", prefer_names, &prefer))))
		return ret;
	cfg->workers = (int)workers;
	cfg->log_level = (enum log_level)level;
	cfg->dns.prefer = (enum dns_prefer)prefer;
	return 0;
}

static void set_defaults(struct config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = cpus < 1 ? 1 : cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (int)cpus;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->limits.tcp_sessions = 65536;
	cfg->limits.udp_associations = 16384;
	cfg->timeouts.connect = 10;
	cfg->timeouts.handshake = 10;
	cfg->timeouts.tcp_idle = 300;
	cfg->timeouts.udp_idle = 300;
	cfg->timeouts.shutdown = 5;
	cfg->dns.cache_entries = 4096;
	cfg->dns.prefer = DNS_PREFER_IPV4;
}

static int parse_root(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	void *sv = NULL, *lc = NULL, *tn = NULL;
	int ret;

	ret = check_keys(x, root, top_keys);
	if (!ret)
		ret = parse_globals(x, root, cfg);
	if (!ret)
		ret = parse_role_list(x, root, "servers", sizeof(struct config_server),
				      parse_server, &sv, &cfg->n_servers);
	cfg->servers = sv;
	if (!ret)
		ret = parse_role_list(x, root, "locals", sizeof(struct config_local), parse_local,
				      &lc, &cfg->n_locals);
	cfg->locals = lc;
	if (!ret)
		ret = parse_role_list(x, root, "tunnels", sizeof(struct config_tunnel),
				      parse_tunnel, &tn, &cfg->n_tunnels);
	cfg->tunnels = tn;
	if (ret)
		return ret;
	if (!cfg->n_servers && !cfg->n_locals && !cfg->n_tunnels) {
		/* No setting to point at: the whole file is the problem. */
		if (x->err_len)
			snprintf(x->err, x->err_len,
				 "%s: nothing to run: no servers, locals or tunnels", x->name);
		return -EINVAL;
	}
	return 0;
}

/* Validate the parsed tree into cfg; on failure cfg is freed and zeroed. */
static int load(struct ctx *x, const config_t *lc, struct config *cfg)
{
	int ret;

	if (x->err_len)
		x->err[0] = '\0';
	set_defaults(cfg);
	ret = parse_root(x, config_root_setting(lc), cfg);
	free(x->listens);
	x->listens = NULL;
	if (ret)
		config_free(cfg);
	return ret;
}

static int parse_error(struct ctx *x, const config_t *lc)
{
	char file[256];

	if (x->err_len)
		snprintf(x->err, x->err_len, "%s:%d: %s",
			 file_name(x, config_error_file(lc), file, sizeof(file)),
			 config_error_line(lc), config_error_text(lc));
	return -EINVAL;
}

int config_load_string(const char *text, const char *name, struct config *cfg, char *err,
		       size_t err_len)
{
	struct ctx x = { .name = name, .err = err, .err_len = err_len };
	config_t lc;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	config_init(&lc);
	if (!config_read_string(&lc, text))
		ret = parse_error(&x, &lc);
	else
		ret = load(&x, &lc, cfg);
	config_destroy(&lc);
	return ret;
}

int config_load_file(const char *path, struct config *cfg, char *err, size_t err_len)
{
	struct ctx x = { .name = path, .err = err, .err_len = err_len };
	char *dir = NULL, *slash;
	struct stat st;
	config_t lc;
	FILE *f;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	/* Open it ourselves: libconfig reports every open failure as "file I/O error". */
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		if (err_len)
			snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	/* flex aborts the whole process when read() fails, as it does on a directory. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		if (err_len)
			snprintf(err, err_len, "%s: %s", path, strerror(EISDIR));
		fclose(f);
		return -EISDIR;
	}
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		slash[slash == dir] = '\0'; /* "/x.cfg" keeps "/" */
		x.dir = dir;
	}
	config_init(&lc);
	/* @include and secret files resolve relative to the config file. */
	if (x.dir)
		config_set_include_dir(&lc, x.dir);
	if (!config_read(&lc, f))
		ret = ferror(f) ? -EIO : parse_error(&x, &lc);
	else
		ret = load(&x, &lc, cfg);
	if (ret == -EIO && err_len)
		snprintf(err, err_len, "%s: read error", path);
	config_destroy(&lc);
	fclose(f);
	free(dir);
	return ret;
}

static void wipe_cipher(struct config_cipher *c)
{
	explicit_bzero(c->key, sizeof(c->key));
	explicit_bzero(&c->keys2022, sizeof(c->keys2022));
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_servers; i++) {
		struct config_server *sv = &cfg->servers[i];

		wipe_cipher(&sv->cipher);
		for (size_t u = 0; u < sv->n_users2022; u++)
			free((char *)sv->users2022[u].name);
		if (sv->users2022)
			explicit_bzero(sv->users2022, sv->n_users2022 * sizeof(*sv->users2022));
		free(sv->users2022);
		explicit_bzero(&sv->srv2022, sizeof(sv->srv2022));
	}
	for (i = 0; i < cfg->n_locals; i++) {
		struct config_local *lc = &cfg->locals[i];

		wipe_cipher(&lc->cipher);
		if (lc->users)
			explicit_bzero(lc->users, lc->n_users * sizeof(*lc->users));
		free(lc->users);
	}
	for (i = 0; i < cfg->n_tunnels; i++)
		wipe_cipher(&cfg->tunnels[i].cipher);
	free(cfg->servers);
	free(cfg->locals);
	free(cfg->tunnels);
	memset(cfg, 0, sizeof(*cfg));
}

const char *config_log_level_name(enum log_level l)
{
	if ((unsigned int)l < sizeof(log_level_names) / sizeof(log_level_names[0]) - 1)
		return log_level_names[l];
	return "unknown";
}
