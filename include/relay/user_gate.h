/* SPDX-License-Identifier: MIT */
/*
 * user_gate — the TCP sessions of a server's users with limits
 * (relay/limits.h): admit them, charge what they relay (a direction over its
 * rate waits by not receiving), end them when their quota is used up or
 * their key was revoked.
 */
#ifndef SSRING_USER_GATE_H
#define SSRING_USER_GATE_H

#include <stddef.h>

#include "relay/session.h"

/*
 * session_set_user: the request is user's (index in conf's users); its
 * limits admit it (0) or not (-1: fail it like a bad key).
 * session_user_end: it no longer counts as open.
 * session_charge: *n bytes are to be relayed in direction di, charged
 * before they are queued; the direction waits if over the rate; 1 when the
 * quota ran out (*n is cut to what it still covered; the session ends with
 * FIN once those are sent), else 0.
 */
int session_set_user(struct loop *l, struct session *s, int user);
void session_user_end(struct session *s);
int session_charge(struct loop *l, struct session *s, int di, size_t *n);
/* The rate's timeout completed. */
void throttle_cqe(struct loop *l, const struct io_uring_cqe *cqe);
void throttle_free(struct tcp_state *t);
/* Close the sessions whose user was removed or re-keyed (after a revocation). */
void sessions_sweep_revoked(struct loop *l);

#endif
