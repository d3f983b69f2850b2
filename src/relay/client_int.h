/* SPDX-License-Identifier: MIT */
/*
 * client_int — what the client roles (local.c, http_front.c, socks4.c,
 * tunnel.c, redir.c) share in client.c: the server or upstream a connection speaks to,
 * routing by the ACL, the request prefix, the connect's outcome. The relay
 * engine sees none of it (relay/role.h).
 */
#ifndef SSRING_CLIENT_INT_H
#define SSRING_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "relay/role.h"
#include "relay/session.h"

/*
 * A client role: the session role (first: a session's role pointer is one
 * of these) and what the shared client code asks of it.
 */
struct client_role {
	struct session_role base;
	/* The entry's client fields (the session's conf is its local or tunnel). */
	const struct config_client *(*conf)(const struct session *s);
	/* The connection could not be made (err = -errno): tell the client. */
	void (*fail)(struct loop *l, struct session *s, int err);
	/* The first bytes toward the server once connected (NULL:
	 * client_prefix, the request header with what the client sent). */
	int (*prefix)(struct loop *l, struct session *s);
	/* Connected and the request is on its way: answer the client if it
	 * waits for that, and start relaying. */
	void (*ready)(struct loop *l, struct session *s);
};

extern const struct client_role role_local, role_http, role_socks4, role_tunnel, role_redir;

static inline const struct client_role *client_role(const struct session *s)
{
	return (const struct client_role *)s->role;
}

static inline const struct config_client *client_conf(const struct session *s)
{
	return client_role(s)->conf(s);
}

enum client_phase {
	CP_FIRST = 0,     /* nothing parsed yet: SOCKS5, SOCKS4 or HTTP? */
	CP_SOCKS_AUTH,    /* method 02 chosen: waiting for RFC 1929 credentials */
	CP_SOCKS_REQUEST, /* waiting for the SOCKS5 request */
	CP_HTTP_HEAD,     /* waiting for a complete HTTP request head */
	CP_SOCKS4,        /* waiting for a complete SOCKS4/4a request */
	CP_CONNECTING,    /* request accepted: connecting to the ss server */
	CP_UDP,           /* UDP ASSOCIATE answered: the connection only holds it */
	CP_DONE           /* relaying */
};

/* Accepted: codecs, cipher, an upstream, the handshake deadline. false if
 * the session was closed (no server known yet). */
bool client_start(struct loop *l, struct session *s);
/* The target is known (s->hs->target): through the server or, by the ACL,
 * straight there. */
void client_route(struct loop *l, struct session *s);
/* Connect to the server (or the upstream chosen). */
void client_connect_server(struct loop *l, struct session *s);
/* The request prefix (salt, header, early data) into out (TX_BYTES). */
int client_request_prefix(struct session *s, const uint8_t *early, size_t early_len,
			  uint8_t *out, size_t *n);
/* Queue the request prefix with the bytes the client sent so far (or, when
 * the ACL sent the session direct, those bytes as they are). 0 or -errno. */
int client_prefix(struct loop *l, struct session *s);
/* The shared session-role hooks of every client role. */
void client_connected(struct loop *l, struct session *s, int res);
void client_first_answer(struct loop *l, struct session *s);
int client_first_record(struct loop *l, struct session *s);
const struct config_outbound *client_outbound(const struct session *s);
/* Drop n parsed bytes from the front of the handshake accumulator. */
void client_consume(struct loop *l, struct session *s, size_t n);

/*
 * The local's port speaks SOCKS5, SOCKS4 and HTTP (local.c): its handshake
 * hooks serve all three roles, and a request that starts like HTTP or with
 * SOCKS4's 04 goes on with the HTTP (http_front.c) or SOCKS4 (socks4.c)
 * front end, which takes the session over.
 */
bool local_handshake_data(struct loop *l, struct session *s, const uint8_t *in, size_t n);
/* A tunnel's and a redir's (tunnel.c): the entry's client fields, a connect
 * that failed (closed), a connect that succeeded (the relay starts). */
const struct config_client *tunnel_client(const struct session *s);
void tunnel_fail(struct loop *l, struct session *s, int err);
void tunnel_ready(struct loop *l, struct session *s);
void local_reply_sent(struct loop *l, struct session *s);
const struct config_client *local_client(const struct session *s);
/* An HTTP request head at the front of the accumulator: 1 = go on parsing,
 * 0 = wait for more, -1 = done (answered, routed or closed). */
int http_front_step(struct loop *l, struct session *s, uint8_t *acc, size_t len);
void http_front_fail(struct loop *l, struct session *s, int code, const char *reason);
/* A SOCKS4/4a request at the front of the accumulator: 0 = wait for more,
 * -1 = done (answered, routed or closed). */
int socks4_front_step(struct loop *l, struct session *s, uint8_t *acc, size_t len);

#endif
