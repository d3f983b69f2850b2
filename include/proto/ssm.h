/* SPDX-License-Identifier: MIT */
/*
 * ssm — the JSON of the Shadowsocks Server Management API v1 and of the
 * state file: request bodies parsed into plain structs, responses and the
 * state built from them. Pure functions over bytes; the only file that
 * includes jansson is src/proto/ssm.c.
 *
 * API extensions (documented in docs/api.md): "password" beside "uPSK" for
 * AEAD-2017 servers, "limits" on a user, and read-only "quotaUsed",
 * "openSessions", "lastSeen" and "source".
 */
#ifndef SSRING_SSM_H
#define SSRING_SSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSM_NAME_MAX 128
#define SSM_SECRET_MAX 512
#define SSM_ERR_BYTES 200

/* A user's limits; 0 = none. period: 0 month, 1 day, 2 never (conf's enum quota_period). */
struct ssm_limits {
	uint64_t rate;
	uint64_t quota;
	int period;
	uint32_t max_sessions;
	uint32_t max_ips;
};

/* The body of POST /users or PATCH /users/:name. */
struct ssm_user_req {
	char username[SSM_NAME_MAX + 1];
	bool has_username;
	char secret[SSM_SECRET_MAX + 1];  /* uPSK or password */
	bool has_upsk, has_password;
	bool has_limits;        /* "limits": {...} given */
	bool clear_limits;      /* "limits": null: back to the server's defaults */
	struct ssm_limits limits;
};

/*
 * Parse a request body. post: a new user (username and one secret
 * required); otherwise an update (no username; at least one of uPSK,
 * password, limits). 0, or -EINVAL with a message for the client in err.
 */
int ssm_parse_user(const char *body, size_t len, bool post, struct ssm_user_req *out, char *err,
		   size_t err_len);

struct ssm_traffic {
	uint64_t down_packets, down_bytes, up_packets, up_bytes;
	uint64_t tcp_sessions, udp_sessions;
};

/* A user as responses show it. */
struct ssm_user_view {
	const char *username;
	const char *upsk;       /* base64 key (uPSK, or an AEAD-2017 key), or NULL */
	const char *password;   /* AEAD-2017 password, or NULL */
	bool has_limits;        /* its own limits */
	struct ssm_limits limits; /* in force (its own or the server's defaults) */
	bool with_traffic;
	struct ssm_traffic t;
	bool with_extra;        /* quotaUsed, openSessions, lastSeen, source */
	uint64_t quota_used;
	uint64_t open_sessions;
	int64_t last_seen;      /* Unix seconds, 0 = never */
	bool from_api;
};

/* Responses (malloc'ed, NUL-terminated, *len without the NUL); NULL without memory. */
char *ssm_json_error(const char *msg, size_t *len);
char *ssm_json_info(const char *server, const char *const *names, size_t n, size_t *len);
char *ssm_json_users(const struct ssm_user_view *u, size_t n, size_t *len);
char *ssm_json_user(const struct ssm_user_view *u, size_t *len);
char *ssm_json_stats(const struct ssm_traffic *total, const struct ssm_user_view *u, size_t n,
		     size_t *len);

/* ---- the state file ---------------------------------------------------------- */

struct ssm_state_user {
	char *username;
	char *secret;
	bool is_password;
	bool has_limits;
	struct ssm_limits limits;
};

struct ssm_state_usage {
	char *username;
	int64_t period;         /* start of the quota period, Unix seconds */
	uint64_t used;
};

struct ssm_state_server {
	char *name;
	struct ssm_state_user *users;   /* added through the API */
	size_t n_users;
	struct ssm_state_usage *usage;  /* quota usage of every user with a quota */
	size_t n_usage;
};

struct ssm_state {
	struct ssm_state_server *servers;
	size_t n;
};

/* Parse a state file. 0, or -EINVAL with the reason in err (st is then empty). */
int ssm_state_parse(const char *buf, size_t len, struct ssm_state *st, char *err, size_t err_len);
/* The state as JSON (malloc'ed); NULL without memory. */
char *ssm_state_build(const struct ssm_state *st, size_t *len);
/* Free what ssm_state_parse made (secrets wiped). */
void ssm_state_free(struct ssm_state *st);

#endif
