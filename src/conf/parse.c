/* SPDX-License-Identifier: MIT */
/*
 * parse — load the libconfig file into struct config and validate it: the
 * file itself, the top level and the global groups (the roles are in
 * parse_roles.c, secrets in parse_secret.c).
 *
 * The rules: every key has a default, unknown keys are errors (a typo such
 * as "pasword" must not silently fall back to a default), types are never
 * converted (true is not 1), and every message carries the line of the
 * setting it is about, so `ssring --check` points at the mistake. Only the
 * first error is reported.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/sockaddr.h"
#include "parse_int.h"

/*
 * Known keys per group, NULL-terminated; the order is the one the "expected
 * one of" hint lists.
 */
static const char *const top_keys[] = { "workers",   "log_level", "log_format", "limits",
					"timeouts",  "dns",	  "servers",	"locals",
					"tunnels",   "redirs",	  "user",	"group",
					"metrics",   "api",	  "state_file", "plugins_allowed",
					"dns_proxies", NULL };
static const char *const limits_keys[] = { "tcp_sessions", "udp_associations",
					   "handshakes_per_source", "sessions_per_source", NULL };
static const char *const timeouts_keys[] = { "connect",  "handshake", "tcp_idle", "udp_idle",
					     "shutdown", "probe_window", NULL };
static const char *const dns_keys[] = { "servers", "cache_entries", "prefer", NULL };
static const char *const prefer_names[] = { "ipv4", "ipv6", NULL };

/* "servers[0].users[1].name": where a setting sits, for messages. */
size_t cf_setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;
	int w;

	buf[0] = '\0';
	if (!parent)
		return 0;
	n = cf_setting_path(parent, buf, len);
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
static const char *cf_file_name(const struct ctx *x, const char *file, char *buf, size_t len)
{
	if (!file)
		return x->name;
	if (file[0] == '/' || !x->dir)
		return file;
	snprintf(buf, len, "%s/%s", x->dir, file);
	return buf;
}

int cf_fail_at(struct ctx *x, const config_setting_t *at, const config_setting_t *where,
		   const char *fmt, ...)
{
	char path[256], msg[CONFIG_ERR_BYTES], file[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cf_setting_path(where, path, sizeof(path));
	if (x->err_len)
		snprintf(x->err, x->err_len, "%s:%u: %s%s%s",
			 cf_file_name(x, config_setting_source_file(at), file, sizeof(file)),
			 config_setting_source_line(at), path, path[0] ? ": " : "", msg);
	return -EINVAL;
}

bool cf_in_list(const char *const *names, const char *name)
{
	for (; *names; names++)
		if (!strcmp(*names, name))
			return true;
	return false;
}

void cf_join_names(const char *const *names, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *names && n < len; names++) {
		int w = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", *names);

		n += w > 0 ? (size_t)w : 0;
	}
}

/* Unknown keys are errors: a misspelt key would otherwise mean "default". */
int cf_check_keys(struct ctx *x, const config_setting_t *g, const char *const *known)
{
	int i, n = config_setting_length(g);
	char list[256];

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned int)i);

		if (cf_in_list(known, config_setting_name(m)))
			continue;
		cf_join_names(known, list, sizeof(list));
		return cf_fail_at(x, m, g, "unknown key '%s' (expected one of: %s)",
			       config_setting_name(m), list);
	}
	return 0;
}

const config_setting_t *cf_member(const config_setting_t *g, const char *key)
{
	return config_setting_get_member(g, key);
}

/* Absent keys keep the caller's default in *out. */
int cf_get_int(struct ctx *x, const config_setting_t *g, const char *key, long long min,
		   long long max, long long *out)
{
	const config_setting_t *s = cf_member(g, key);
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

int cf_get_u32(struct ctx *x, const config_setting_t *g, const char *key, long long min,
		   long long max, uint32_t *out)
{
	long long v = *out;
	int ret = cf_get_int(x, g, key, min, max, &v);

	*out = (uint32_t)v;
	return ret;
}

int cf_get_bool(struct ctx *x, const config_setting_t *g, const char *key, bool *out)
{
	const config_setting_t *s = cf_member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(x, s, "must be a boolean: true or false (not a number or a string)");
	*out = config_setting_get_bool(s);
	return 0;
}

/* *out stays untouched when the key is absent and not required. */
int cf_get_string(struct ctx *x, const config_setting_t *g, const char *key, bool required,
		      const char **out)
{
	const config_setting_t *s = cf_member(g, key);

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

int cf_get_enum(struct ctx *x, const config_setting_t *g, const char *key,
		    const char *const *names, int *out)
{
	const char *v = NULL;
	char list[128];
	int i, ret;

	ret = cf_get_string(x, g, key, false, &v);
	if (ret || !v)
		return ret;
	for (i = 0; names[i]; i++) {
		if (!strcmp(names[i], v)) {
			*out = i;
			return 0;
		}
	}
	cf_join_names(names, list, sizeof(list));
	return fail(x, cf_member(g, key), "must be one of %s, not '%s'", list, v);
}

/* Parse s as host:port; need_ip rejects host names (listeners are not resolved). */
int cf_check_hostport(struct ctx *x, const config_setting_t *s, const char *v, bool need_ip,
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

int cf_get_hostport(struct ctx *x, const config_setting_t *g, const char *key, bool need_ip,
			struct hostport *out)
{
	const char *v = NULL;
	int ret = cf_get_string(x, g, key, true, &v);

	if (ret)
		return ret;
	return cf_check_hostport(x, cf_member(g, key), v, need_ip, out);
}

/* NULL with 0 when absent. */
int cf_get_path(struct ctx *x, const config_setting_t *g, const char *key, char *out, size_t cap)
{
	const char *path = NULL;
	int ret = cf_get_string(x, g, key, false, &path);
	int n;

	if (ret || !path)
		return ret;
	if (!path[0] || strlen(path) >= cap)
		return fail(x, cf_member(g, key), "must be a path of 1 to %zu bytes", cap - 1);
	/* Relative to the config file, like secret files. */
	if (path[0] != '/' && x->dir)
		n = snprintf(out, cap, "%s/%s", x->dir, path);
	else
		n = snprintf(out, cap, "%s", path);
	if (n < 0 || (size_t)n >= cap)
		return fail(x, cf_member(g, key), "path too long");
	return 0;
}

int cf_get_group(struct ctx *x, const config_setting_t *g, const char *key,
		     const char *const *known, const config_setting_t **out)
{
	const config_setting_t *s = cf_member(g, key);

	*out = NULL;
	if (!s)
		return 0;
	if (!config_setting_is_group(s))
		return fail(x, s, "must be a group: %s = { ... };", key);
	*out = s;
	return cf_check_keys(x, s, known);
}

/* 0.0.0.0 or [::]. */
static bool cf_is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static bool cf_listens_overlap(const struct hostport *a, const struct hostport *b)
{
	if (a->addr.ss_family != b->addr.ss_family || a->port != b->port)
		return false;
	return sockaddr_same_ip((const struct sockaddr *)&a->addr,
				(const struct sockaddr *)&b->addr) ||
	       cf_is_wildcard(&a->addr) || cf_is_wildcard(&b->addr);
}

/*
 * Listeners use SO_REUSEPORT, so two roles on one address would not fail at
 * bind time: the kernel would silently spread clients over both. Catch it
 * here, including a wildcard of the same family and port (IPv6 listeners are
 * v6-only, so 0.0.0.0 and [::] do not collide).
 */
int cf_note_listen(struct ctx *x, const config_setting_t *g, const struct hostport *hp)
{
	const config_setting_t *s = cf_member(g, "listen");
	char there[256], a[80], b[80];
	size_t i;

	for (i = 0; i < x->n_listens; i++) {
		const struct seen_listen *o = &x->listens[i];

		if (!cf_listens_overlap(hp, &o->hp))
			continue;
		cf_setting_path(o->s, there, sizeof(there));
		hostport_format_addr((const struct sockaddr *)&hp->addr, a, sizeof(a));
		hostport_format_addr((const struct sockaddr *)&o->hp.addr, b, sizeof(b));
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
	x->listens[x->n_listens++] = (struct seen_listen){ .hp = *hp, .s = s };
	return 0;
}

/*
 * servers/locals/tunnels: a list of groups. The array is stored in *out as
 * soon as it exists so that config_free releases it after a failure halfway.
 */
static int parse_role_list(struct ctx *x, const config_setting_t *root, const char *key,
			   size_t elem_size, parse_elem_fn fn, void **out, size_t *n_out)
{
	const config_setting_t *list = cf_member(root, key);
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
	const config_setting_t *list = cf_member(dns, "servers");
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
		ret = cf_check_hostport(x, e, config_setting_get_string(e), true,
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
		ret = cf_get_u32(x, g, k[i].name, 1, k[i].max, k[i].out);
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
	int level = cfg->log_level, format = cfg->log_format, prefer = cfg->dns.prefer, ret;

	if ((ret = cf_get_int(x, root, "workers", 1, CONFIG_MAX_WORKERS, &workers)) ||
	    (ret = cf_get_enum(x, root, "log_level", config_log_level_names, &level)) ||
	    (ret = cf_get_enum(x, root, "log_format", config_log_format_names, &format)) ||
	    (ret = cf_get_group(x, root, "limits", limits_keys, &lim)) ||
	    (ret = get_u32s(x, lim, limits, sizeof(limits) / sizeof(limits[0]))) ||
	    (lim && (ret = cf_get_u32(x, lim, "handshakes_per_source", 0, CONFIG_MAX_TABLE,
				      &cfg->limits.handshakes_per_source))) ||
	    (lim && (ret = cf_get_u32(x, lim, "sessions_per_source", 0, CONFIG_MAX_TABLE,
				      &cfg->limits.sessions_per_source))) ||
	    (ret = cf_get_group(x, root, "timeouts", timeouts_keys, &to)) ||
	    (ret = get_u32s(x, to, timeouts, sizeof(timeouts) / sizeof(timeouts[0]))) ||
	    (to && (ret = cf_get_u32(x, to, "probe_window", 0, CONFIG_MAX_TIMEOUT_S,
				     &cfg->timeouts.probe_window))) ||
	    (ret = cf_get_group(x, root, "dns", dns_keys, &dns)))
		return ret;
	if (dns && ((ret = parse_dns_servers(x, dns, cfg)) ||
		    (ret = get_u32s(x, dns, dns_sizes, 1)) ||
		    (ret = cf_get_enum(x, dns, "prefer", prefer_names, &prefer))))
		return ret;
	cfg->workers = (int)workers;
	cfg->log_level = (enum log_level)level;
	cfg->log_format = (enum log_format)format;
	cfg->dns.prefer = (enum dns_prefer)prefer;
	return 0;
}

/* redirs = (...): tunnels of their own kind, appended to cfg->tunnels. */
static int parse_redirs(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	void *rd = NULL;
	size_t n = 0;
	struct config_tunnel *all;
	int ret = parse_role_list(x, root, "redirs", sizeof(struct config_tunnel), cf_parse_redir,
				  &rd, &n);

	if (!n)
		return ret;
	all = realloc(cfg->tunnels, (cfg->n_tunnels + n) * sizeof(*all));
	if (!all) {
		/* what was parsed goes with a config of its own */
		struct config tmp = { .tunnels = rd, .n_tunnels = n };

		config_free(&tmp);
		return fail(x, root, "out of memory");
	}
	memcpy(all + cfg->n_tunnels, rd, n * sizeof(*all));
	free(rd);
	cfg->tunnels = all;
	cfg->n_tunnels += n;
	return ret;
}

static int parse_root(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	void *sv = NULL, *lc = NULL, *tn = NULL, *dp = NULL;
	int ret;

	ret = cf_check_keys(x, root, top_keys);
	if (!ret)
		ret = parse_globals(x, root, cfg);
	if (!ret)
		ret = cf_parse_control(x, root, cfg);
	if (!ret)
		ret = parse_role_list(x, root, "servers", sizeof(struct config_server),
				      cf_parse_server, &sv, &cfg->n_servers);
	cfg->servers = sv;
	for (size_t i = 0; !ret && i < cfg->n_servers; i++)
		for (size_t j = 0; !ret && j < i; j++)
			if (cfg->servers[i].name[0] &&
			    !strcmp(cfg->servers[i].name, cfg->servers[j].name))
				ret = fail(x, cf_member(config_setting_get_elem(
					   cf_member(root, "servers"), (unsigned int)i), "name"),
					   "duplicate server name '%s' (also line %d)",
					   cfg->servers[i].name, cfg->servers[j].line);
	if (!ret)
		ret = parse_role_list(x, root, "locals", sizeof(struct config_local), cf_parse_local,
				      &lc, &cfg->n_locals);
	cfg->locals = lc;
	if (!ret)
		ret = parse_role_list(x, root, "tunnels", sizeof(struct config_tunnel),
				      cf_parse_tunnel, &tn, &cfg->n_tunnels);
	cfg->tunnels = tn;
	if (!ret)
		ret = parse_role_list(x, root, "dns_proxies", sizeof(struct config_dns_proxy),
				      cf_parse_dns_proxy, &dp, &cfg->n_dns_proxies);
	cfg->dns_proxies = dp;
	/* Last: the redirs move into cfg->tunnels (the listen addresses noted
	 * so far are copies: they do not point into the arrays). */
	if (!ret)
		ret = parse_redirs(x, root, cfg);
	if (ret)
		return ret;
	if (!cfg->n_servers && !cfg->n_locals && !cfg->n_tunnels && !cfg->n_dns_proxies) {
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
	config_defaults(cfg);
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
			 cf_file_name(x, config_error_file(lc), file, sizeof(file)),
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
