/* SPDX-License-Identifier: MIT */
/*
 * parse_secret — an endpoint's method and secret. Secrets (password or
 * base64 key) may sit in the config text, in a file or in an environment
 * variable. They are turned into the master key here and the copies this
 * file controls are wiped; libconfig's own scanner buffers are freed
 * unwiped, which is one reason to prefer *_file or *_env.
 *
 * A *_env variable is read once and then removed from the environment
 * (nothing ssring starts later may inherit it) and wiped where the kernel
 * put it (what /proc/PID/environ shows); the value is kept here, by name,
 * for the reloads that name it again. So a variable changed outside takes
 * a restart (as any environment change does).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero, O_CLOEXEC */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse_int.h"

static const char *const secret_keys[] = { SECRET_KEYS, NULL };

extern char **environ;

/* The values of the *_env variables read so far, by name (loader thread only). */
struct env_secret {
	struct env_secret *next;
	char *val;
	char name[];
};

static struct env_secret *env_secrets;
/* The environment's strings as the kernel laid them out, above the stack. */
static const char *initial_env_lo, *initial_env_hi;

/* Before main: the strings environ points at now are the kernel's block. */
__attribute__((constructor)) static void note_initial_env(void)
{
	for (char **e = environ; e && *e; e++) {
		const char *end = *e + strlen(*e) + 1;

		if (!initial_env_lo || *e < initial_env_lo)
			initial_env_lo = *e;
		if (end > initial_env_hi)
			initial_env_hi = end;
	}
}

/*
 * The secret in environment variable name, or NULL when it is neither set
 * nor was read before. Once read it is the copy kept here: the variable
 * is unset, and its value wiped in the kernel's block (a string setenv
 * made is left alone: the C library still owns it).
 */
static const char *env_secret(const char *name)
{
	char *e = getenv(name), *val;
	struct env_secret *s;

	for (s = env_secrets; s && strcmp(s->name, name); s = s->next)
		;
	if (!e || !e[0])
		return s ? s->val : e;
	val = strdup(e);
	if (!val)
		return NULL;
	if (!s) {
		s = calloc(1, sizeof(*s) + strlen(name) + 1);
		if (!s) {
			explicit_bzero(val, strlen(val));
			free(val);
			return NULL;
		}
		strcpy(s->name, name);
		s->next = env_secrets;
		env_secrets = s;
	} else {
		explicit_bzero(s->val, strlen(s->val));
		free(s->val);
	}
	s->val = val;
	unsetenv(name);
	if (e >= initial_env_lo && e < initial_env_hi)
		explicit_bzero(e, strlen(e));
	return s->val;
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
 * The text of the secret named by setting s (inline, from a file or from
 * the environment) into buf (CONFIG_MAX_SECRET_FILE bytes). The message
 * never quotes the secret.
 */
static int fetch_secret(struct ctx *x, const config_setting_t *s, char *buf, size_t *lenp)
{
	const char *name = config_setting_name(s), *v = config_setting_get_string(s);
	size_t len = strlen(v);
	int ret;

	if (has_suffix(name, "_file")) {
		ret = read_secret_file(x, s, v, buf, &len);
		if (ret)
			return ret;
		if (len == 0)
			return fail(x, s, "file '%s' is empty", v);
	} else if (has_suffix(name, "_env")) {
		const char *e = env_secret(v);

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
	*lenp = len;
	return 0;
}

/*
 * Derive c's master key from the secret text buf (len bytes): a password
 * or a base64 key (is_key). Messages point at setting s. The text is kept
 * in c->text for `ssring url`.
 */
static int apply_secret(struct ctx *x, const config_setting_t *s, struct config_cipher *c,
			const char *buf, size_t len, bool is_key)
{
	char why[300];

	if (config_cipher_secret(c, buf, len, is_key, why, sizeof(why)))
		return fail(x, s, "%s", why);
	return 0;
}

/* Derive the master key from the secret named by s; its text stays in buf. */
static int derive_key(struct ctx *x, const config_setting_t *s, struct config_cipher *c,
		      char *buf)
{
	bool is_key = !strncmp(config_setting_name(s), "key", 3);
	size_t len;
	int ret = fetch_secret(x, s, buf, &len);

	if (ret)
		return ret;
	return apply_secret(x, s, c, buf, len, is_key);
}

/* The one secret setting of g, NULL if none; an error if two are given. */
static int find_secret(struct ctx *x, const config_setting_t *g, const config_setting_t **out)
{
	const config_setting_t *secret = NULL;

	for (int i = 0; secret_keys[i]; i++) {
		const config_setting_t *s = cf_member(g, secret_keys[i]);

		if (!s)
			continue;
		if (secret)
			return fail(x, s, "conflicts with '%s' (line %u): give exactly one secret",
				    config_setting_name(secret), config_setting_source_line(secret));
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return fail(x, s, "must be a string");
		secret = s;
	}
	*out = secret;
	return 0;
}

int cf_get_user_secret(struct ctx *x, const config_setting_t *g, const struct config_cipher *c,
		       struct config_users *us, size_t i, const char *name)
{
	const config_setting_t *s = NULL;
	char buf[CONFIG_MAX_SECRET_FILE], why[200];
	size_t len = 0;
	bool is_password;
	int ret = find_secret(x, g, &s);

	if (ret)
		return ret;
	if (!s)
		return fail(x, g, "missing secret: set one of %s", c->m2022 ?
			    "key, key_file or key_env (the user's uPSK)" :
			    "password, key, password_file, key_file, password_env or key_env");
	is_password = strncmp(config_setting_name(s), "key", 3) != 0;
	if (c->m2022 && is_password)
		return fail(x, s, "a 2022 user needs a base64 uPSK (key, key_file or key_env), not "
				  "a password; make one with: ssring genkey %s", c->m2022->name);
	ret = fetch_secret(x, s, buf, &len);
	if (!ret && config_user_make(us, i, c, name, buf, is_password, why, sizeof(why)))
		ret = fail(x, s, "%s", why);
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

/* c's method from its name; messages point at s. */
static int set_method(struct ctx *x, const config_setting_t *s, struct config_cipher *c,
		      const char *method)
{
	char why[300];

	if (config_cipher_method(c, method, why, sizeof(why)))
		return fail(x, s, "%s", why);
	return 0;
}

int cf_get_cipher(struct ctx *x, const config_setting_t *g, struct config_cipher *c,
		  bool secret_optional)
{
	const config_setting_t *secret = NULL;
	char buf[CONFIG_MAX_SECRET_FILE];
	const char *method = NULL;
	int ret;

	ret = cf_get_string(x, g, "method", true, &method);
	if (ret)
		return ret;
	if ((ret = set_method(x, cf_member(g, "method"), c, method)))
		return ret;
	if ((ret = find_secret(x, g, &secret)))
		return ret;
	/* Nothing to key: a secret here is a mistake, not something to ignore
	 * (the operator may believe the traffic is encrypted). */
	if (c->none && secret)
		return fail(x, secret, "method none has no cipher: it takes no password or key "
			    "(nor identity keys: iPSK:uPSK needs a 2022 AES method)");
	if (c->none || (!secret && secret_optional))
		return 0;
	if (!secret)
		return fail(x, g,
			    "missing secret: set one of password, key, password_file, key_file, "
			    "password_env or key_env");
	ret = derive_key(x, secret, c, buf);
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

int cf_cipher_from_link(struct ctx *x, const config_setting_t *s, struct config_cipher *c,
			const char *method, const char *secret)
{
	int ret = set_method(x, s, c, method);

	if (ret)
		return ret;
	/* A link's secret is a password for AEAD-2017, the key(s) for 2022. */
	return apply_secret(x, s, c, secret, strlen(secret), c->m2022 != NULL);
}

bool cf_has_secret(const config_setting_t *g)
{
	for (int i = 0; secret_keys[i]; i++)
		if (cf_member(g, secret_keys[i]))
			return true;
	return false;
}

int cf_get_token(struct ctx *x, const config_setting_t *g, char *out, size_t cap)
{
	static const char *const keys[] = { "token", "token_file", "token_env" };
	const config_setting_t *s = NULL;
	char buf[CONFIG_MAX_SECRET_FILE];
	size_t len = 0;
	int ret = 0;

	for (int i = 0; i < 3; i++) {
		const config_setting_t *t = cf_member(g, keys[i]);

		if (!t)
			continue;
		if (s)
			return fail(x, t, "conflicts with '%s': give one token",
				    config_setting_name(s));
		if (config_setting_type(t) != CONFIG_TYPE_STRING)
			return fail(x, t, "must be a string");
		s = t;
	}
	if (!s)
		return 0;
	ret = fetch_secret(x, s, buf, &len);
	if (!ret && (len < 16 || len >= cap))
		ret = fail(x, s, "a token must be 16 to %zu bytes (make one with: head -c 32 "
			   "/dev/urandom | base64)", cap - 1);
	if (!ret)
		memcpy(out, buf, len + 1);
	explicit_bzero(buf, sizeof(buf));
	return ret;
}
