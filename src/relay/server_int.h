/* SPDX-License-Identifier: MIT */
/*
 * server_int — between the server role (server.c) and its answer to
 * connections that do not authenticate (probe.c); the relay engine sees
 * neither (relay/role.h).
 */
#ifndef SSRING_SERVER_INT_H
#define SSRING_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/role.h"
#include "relay/session.h"

extern const struct session_role role_server;

/* The request is in: key the response stream (a plain one to a decoy and
 * method none have none). 0, or -1 when the session was closed. */
int server_response_cipher(struct loop *l, struct session *s);

/*
 * probe_start: a server session was accepted; its deadline is drawn and it
 * joins the unauthenticated. probe_keep: raw bytes of a receive before
 * authentication (kept for the decoy). probe_authenticated: the request's
 * first record opened and its salt is fresh. probe_end: it closes, or its
 * relay starts (the copy for the decoy goes). probe_auth_failed: the
 * request could not be authenticated (why, counted as reason): the probe
 * policy. probe_deadline, probe_peer_closed: the deadline passed or the peer
 * sent FIN before a decision; true if the policy took the session (to the
 * decoy).
 */
void probe_start(struct loop *l, struct session *s);
void probe_keep(struct loop *l, struct session *s, const uint8_t *in, size_t n);
void probe_authenticated(struct loop *l, struct session *s);
void probe_end(struct loop *l, struct session *s);
void probe_auth_failed(struct loop *l, struct session *s, enum ep_ctr reason, const char *why);
bool probe_deadline(struct loop *l, struct session *s);
bool probe_peer_closed(struct loop *l, struct session *s);

#endif
