/* SPDX-License-Identifier: MIT */
/*
 * role — what a TCP session does that the relay engine (session.c,
 * stream.c, connect.c) does not: a table of hooks, one instance per role,
 * chosen once at accept (roles.c) and switched only by a role itself (a
 * local that finds an HTTP or SOCKS4 request becomes that front end). The
 * engine receives, transforms, sends and closes in both directions alike
 * and calls a role only through these hooks, the way the loop calls
 * modules only through their registration. A NULL hook means "nothing to do" (or, where
 * it returns bool, "not taken").
 *
 *   role      file          inbound                        outbound
 *   server    server.c      ss stream (opened), probes     plain to the target
 *   local     local.c       SOCKS5 handshake, then plain   ss stream to a server
 *   http      http_front.c  HTTP CONNECT or plain HTTP     ss stream to a server
 *   socks4    socks4.c      SOCKS4/4a CONNECT, then plain  ss stream to a server
 *   tunnel    tunnel.c      plain, target from the config  ss stream to a server
 *   redir     redir.c       plain, the original target     ss stream to a server
 *   uot srv   uot_server.c  ss stream of UDP-over-TCP      datagrams (its UDP association)
 *   uot cli   uot_client.c  datagrams (its association)    ss stream to a server
 *
 * The client roles share client.c (upstreams, routing by the ACL, the
 * request prefix); the server's answer to probes is probe.c.
 */
#ifndef SSRING_ROLE_H
#define SSRING_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "relay/relay.h"
#include "relay/stats.h"

struct loop;
struct session;

struct session_role {
	const char *name;
	/* Accepted: set the codecs, the state and the deadline, start reading. */
	void (*start)(struct loop *l, struct session *s);
	/*
	 * A receive on the inbound side while the request is being read
	 * (SESS_ST_HANDSHAKE), raw as it came: true if the role took it (a
	 * client's SOCKS5 or HTTP handshake), false to let the engine open it
	 * as an ss stream (a server keeps a copy for its decoy first).
	 */
	bool (*handshake_data)(struct loop *l, struct session *s, const uint8_t *in, size_t n);
	/* Server: the first plaintext of the request; bytes of it that were
	 * header, or -1 when the session failed. */
	int (*request_bytes)(struct loop *l, struct session *s, uint8_t *p, size_t n);
	/* Server with AEAD-2017 users: key the reader from the salt and first
	 * length at buf. 0, or -1 when the session failed. */
	int (*identify)(struct loop *l, struct session *s, const uint8_t *buf);
	/* The opened stream's first record was authentic (AEAD-2017: its first
	 * length; 2022: the fixed header): the salt checks. 0, or -1 when the
	 * session failed. */
	int (*first_record)(struct loop *l, struct session *s);
	/* Server, 2022: the request's variable header is in. 0, or -1. */
	int (*request_header)(struct loop *l, struct session *s);
	/* The request could not be authenticated (why, counted as reason). */
	void (*auth_failed)(struct loop *l, struct session *s, enum ep_ctr reason,
			    const char *why);
	/* The outbound connect completed (res = 0), failed or did not resolve
	 * (res = -errno). */
	void (*connected)(struct loop *l, struct session *s, int res);
	/* A handshake reply to the client went out completely. */
	void (*reply_sent)(struct loop *l, struct session *s);
	/* The first answer byte from a client's upstream (s->up_wait). */
	void (*first_answer)(struct loop *l, struct session *s);
	/* A receive of direction di while relaying: true if the role handled it
	 * (plain HTTP rewrites its requests). */
	bool (*pump)(struct loop *l, struct session *s, int di);
	/* The plaintext of direction di (DIR_F_DELIVER) while relaying,
	 * instead of a send to a socket: the role takes it at once (UDP over
	 * TCP: frames that become datagrams). 0, or -1 when the session failed. */
	int (*deliver)(struct loop *l, struct session *s, int di, const uint8_t *p, size_t n);
	/* A send of direction di completed while relaying: true if the role
	 * took the next step (plain HTTP: requests still parked). */
	bool (*sent)(struct loop *l, struct session *s, int di);
	/* The handshake deadline passed / the peer sent FIN during the
	 * handshake: true if the role took the session on (a server's decoy). */
	bool (*deadline)(struct loop *l, struct session *s);
	bool (*peer_closed)(struct loop *l, struct session *s);
	/* May the session connect to sa, an address its target resolved to? */
	bool (*allows_addr)(const struct session *s, const struct sockaddr *sa);
	/* The session's outbound socket options. */
	const struct config_outbound *(*outbound)(const struct session *s);
	/* The session is closing (once): let go of what the role holds. */
	void (*closing)(struct loop *l, struct session *s);
};

/* The role of a new session on a listener of kind role for entry conf. */
const struct session_role *session_role_of(enum role role, const void *conf);

#endif
