/* SPDX-License-Identifier: MIT */
/*
 * api_int — what api.c (the module), api_routes.c (the requests) and
 * state.c (the overlay of API users and the state file) share.
 */
#ifndef SSRING_API_INT_H
#define SSRING_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "core/loop.h"
#include "proto/ssm.h"

/* The users added through the API, by server name (what the state file keeps). */
extern struct ssm_state api_overlay;
/* An API change not yet in the state file (the periodic save retries it). */
extern bool api_dirty;
/* Free api_routes.c's memory (the ?clear=true baselines). */
void api_routes_free(void);

/* The overlay's entry for a server, made if create; NULL if none (or no memory). */
struct ssm_state_server *overlay_server(const char *name, bool create);
/* Index of user name in the server's overlay, or -1. */
int overlay_find(const struct ssm_state_server *sv, const char *name);
/* Add (a copy of) u; replace the entry at i (>= 0) or append (-1). 0 or -ENOMEM. */
int overlay_put(struct ssm_state_server *sv, int i, const char *name, const char *secret,
		bool is_password, const struct ssm_limits *lim);
void overlay_del(struct ssm_state_server *sv, int i);

/* Rebuild sv's users from its non-API users and the overlay. 0 or -EINVAL (err). */
int overlay_apply_server(struct config_server *sv, char *err, size_t err_len);

/* The state file: read at start (setup), written after changes and periodically. */
int state_load(const char *path, char *err, size_t err_len);
void state_restore_usage(const struct config *cfg);
int state_save(const struct config *cfg);

/* A struct user_limits from the API's, and back. */
void limits_from_ssm(const struct ssm_limits *in, struct user_limits *out);
void limits_to_ssm(const struct user_limits *in, struct ssm_limits *out);

#endif
