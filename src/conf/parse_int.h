/* SPDX-License-Identifier: MIT */
/*
 * parse_int — the libconfig side of the configuration, shared by its files:
 *   parse.c         the file, the top level and the global groups
 *   parse_roles.c   servers, locals, tunnels and their users
 *   parse_secret.c  secrets (text, file or environment) and the keys from them
 *   parse_control.c the control plane's keys: user and group, metrics
 * Only these files include libconfig. Every message carries the file, the line
 * and the path of the setting it is about ("FILE:LINE: servers[0].method: ...").
 */
#ifndef SSRING_PARSE_INT_H
#define SSRING_PARSE_INT_H

#include <libconfig.h>

#include "conf/config.h"

/* Upper bounds that only catch typos: both sizes are preallocated per worker. */
#define CONFIG_MAX_TABLE 16777216
/* One week; longer timeouts are almost certainly a unit mistake. */
#define CONFIG_MAX_TIMEOUT_S 604800
/* A password or base64 key file larger than this is the wrong file. */
#define CONFIG_MAX_SECRET_FILE 4096

/* A listen address seen so far, for the collision check across roles. */
/* A listen address seen so far: a copy, since the role arrays it came from
 * move (redirs are appended to the tunnels). */
struct seen_listen {
	struct hostport hp;
	const config_setting_t *s;
};

struct ctx {
	const char *name; /* file name for messages */
	const char *dir;  /* directory of the file, for relative secret paths; NULL: cwd */
	char *err;
	size_t err_len;
	struct seen_listen *listens;
	size_t n_listens, cap_listens;
	/* plugins_allowed, parsed before the roles (SIP008 documents read at load) */
	const struct config_plugins_allowed *plugins;
};

typedef int (*parse_elem_fn)(struct ctx *x, const config_setting_t *g, void *elem);

/* The ways to give a secret, exactly one per endpoint. */
#define SECRET_KEYS "password", "key", "password_file", "key_file", "password_env", "key_env"

/* "servers[0].users[1].name": where a setting sits. */
size_t cf_setting_path(const config_setting_t *s, char *buf, size_t len);
/*
 * Report "FILE:LINE: PATH: message" where LINE is that of at and PATH names
 * where. They differ for unknown keys: the line of the key, the path of the
 * group it is in. Always returns -EINVAL so callers can "return fail(...)".
 */
int cf_fail_at(struct ctx *x, const config_setting_t *at, const config_setting_t *where,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define fail(x, s, ...) cf_fail_at((x), (s), (s), __VA_ARGS__)
bool cf_in_list(const char *const *names, const char *name);
void cf_join_names(const char *const *names, char *buf, size_t len);
/* Unknown keys are errors: a misspelt key would otherwise mean "default". */
int cf_check_keys(struct ctx *x, const config_setting_t *g, const char *const *known);
const config_setting_t *cf_member(const config_setting_t *g, const char *key);
/* Getters: an absent key keeps the caller's default in *out. */
int cf_get_int(struct ctx *x, const config_setting_t *g, const char *key, long long min,
	       long long max, long long *out);
int cf_get_u32(struct ctx *x, const config_setting_t *g, const char *key, long long min,
	       long long max, uint32_t *out);
int cf_get_bool(struct ctx *x, const config_setting_t *g, const char *key, bool *out);
int cf_get_string(struct ctx *x, const config_setting_t *g, const char *key, bool required,
		  const char **out);
int cf_get_enum(struct ctx *x, const config_setting_t *g, const char *key,
		const char *const *names, int *out);
/* Parse v as host:port; need_ip rejects host names (listeners are not resolved). */
int cf_check_hostport(struct ctx *x, const config_setting_t *s, const char *v, bool need_ip,
		      struct hostport *out);
int cf_get_hostport(struct ctx *x, const config_setting_t *g, const char *key, bool need_ip,
		    struct hostport *out);
/* A path (relative ones are taken from the config file's folder); absent: out unchanged. */
int cf_get_path(struct ctx *x, const config_setting_t *g, const char *key, char *out, size_t cap);
/* A group of known keys, NULL with 0 when absent. */
int cf_get_group(struct ctx *x, const config_setting_t *g, const char *key,
		 const char *const *known, const config_setting_t **out);
/* Remember a listen address; two roles on overlapping addresses are an error. */
int cf_note_listen(struct ctx *x, const config_setting_t *g, const struct hostport *hp);
/*
 * method plus exactly one secret, turned into the cipher's keys
 * (parse_secret.c); with secret_optional, no secret is fine too.
 */
int cf_get_cipher(struct ctx *x, const config_setting_t *g, struct config_cipher *c,
		  bool secret_optional);
/* Whether g has one of the secret keys. */
bool cf_has_secret(const config_setting_t *g);
/* The cipher of an ss:// link: method by name, secret as the link gives it. */
int cf_cipher_from_link(struct ctx *x, const config_setting_t *s, struct config_cipher *c,
			const char *method, const char *secret);
/*
 * User i of us (a server's users) from its one secret, for the server's
 * cipher c (config_user_make).
 */
int cf_get_user_secret(struct ctx *x, const config_setting_t *g, const struct config_cipher *c,
		       struct config_users *us, size_t i, const char *name);
/* token, token_file or token_env of g (at most one; none leaves out empty). */
int cf_get_token(struct ctx *x, const config_setting_t *g, char *out, size_t cap);
/* limits = { rate; quota; quota_period; max_sessions; max_ips; } into *l. */
int cf_get_user_limits(struct ctx *x, const config_setting_t *g, const char *key,
		       struct user_limits *l, bool *given);

/* user, group, metrics, api, state_file, plugins_allowed (parse_control.c). */
int cf_parse_control(struct ctx *x, const config_setting_t *root, struct config *cfg);
/* One element of servers / locals / tunnels (parse_roles.c). */
int cf_parse_server(struct ctx *x, const config_setting_t *g, void *elem);
int cf_parse_local(struct ctx *x, const config_setting_t *g, void *elem);
int cf_parse_tunnel(struct ctx *x, const config_setting_t *g, void *elem);
int cf_parse_redir(struct ctx *x, const config_setting_t *g, void *elem);
int cf_parse_dns_proxy(struct ctx *x, const config_setting_t *g, void *elem);

#endif
