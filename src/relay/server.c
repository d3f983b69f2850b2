/* SPDX-License-Identifier: MIT */
/*
 * server — the server role (relay/role.h): the inbound side is an ss stream
 * whose first plaintext is the request's address header; then connect to
 * the target and hand both directions to the relay (the magic destination
 * of UDP over TCP: hand the session to uot_server.c instead). Who the
 * client is (a user's key, relay/users.h) and the salt checks are decided
 * here; what a connection that does not authenticate gets is probe.c's.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/replay.h"
#include "relay/role.h"
#include "server_int.h"
#include "uot_int.h"
#include "relay/user_gate.h"
#include "relay/users.h"

static const struct config_server *server_conf(const struct session *s)
{
	return s->conf;
}

static void server_start(struct loop *l, struct session *s)
{
	const struct config_server *cs = server_conf(s);

	s->cipher = &cs->cipher;
	if (cs->cipher.none) {
		/* No reader: the address header comes in clear (request_bytes). */
	} else if (cs->cipher.m2022) {
		s->v2022 = 1;
		ss2022_reader_init_server(&s->rd2, &cs->srv2022, &s->hs->target);
	} else if (cs->users) {
		/* Users: the key is found from the request itself (users.h). */
		aead_reader_init_trial(&s->rd, cs->cipher.method);
	} else {
		aead_reader_init(&s->rd, cs->cipher.method, cs->cipher.key);
	}
	s->d[DIR_IN_OUT].codec = cs->cipher.none ? CODEC_CLEAR : CODEC_OPEN;
	s->d[DIR_IN_OUT].bgid = BG_CIPHER;
	s->d[DIR_OUT_IN].codec = cs->cipher.none ? CODEC_CLEAR : CODEC_SEAL;
	s->d[DIR_OUT_IN].bgid = BG_PLAIN;
	s->state = SESS_ST_HANDSHAKE;
	probe_start(l, s); /* the deadline of an unauthenticated connection */
	session_arm_recv(l, s, DIR_IN_OUT);
}

static int start_connect(struct loop *l, struct session *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char name[300];
	int uot = uot_version(&s->hs->target);

	if (uot) /* not a target: UDP over TCP (uot_server.c) */
		return uot_server_start(l, s, uot);
	if (ssaddr_to_sockaddr(&s->hs->target, &ss, &sl) < 0) {
		/* A name: resolved on the ring (dns.c), never by getaddrinfo. */
		int ret;

		if (relay_acl_blocks_name(server_conf(s), s->hs->target.u.domain.name)) {
			log_info("target %s refused: in the ACL's outbound_block_list",
				 ssaddr_format(&s->hs->target, name, sizeof(name)));
			return -1;
		}
		ret = session_connect_name(l, s, s->hs->target.u.domain.name, s->hs->target.port,
					       server_conf(s)->allow_private);

		if (ret < 0) {
			tcp_of(l)->st.domain_refused++;
			log_info("target %s: %s", ssaddr_format(&s->hs->target, name, sizeof(name)),
				 ret == -EACCES ? "private/special address refused (allow_private = false)"
						: strerror(-ret));
			return -1;
		}
		return 0;
	}
	if (relay_acl_blocks_addr(server_conf(s), (struct sockaddr *)&ss)) {
		log_info("target %s refused: in the ACL's outbound_block_list",
			 ssaddr_format(&s->hs->target, name, sizeof(name)));
		return -1;
	}
	if (!server_conf(s)->allow_private && ssaddr_is_special((struct sockaddr *)&ss)) {
		tcp_of(l)->st.private_refused++;
		log_info("target %s refused: private/special address (allow_private = false)",
			 ssaddr_format(&s->hs->target, name, sizeof(name)));
		return -1;
	}
	if (session_connect(l, s, (struct sockaddr *)&ss, sl) < 0)
		return -1;
	log_debug("session %u: connecting to %s", s->slot,
		  ssaddr_format(&s->hs->target, name, sizeof(name)));
	return 0;
}

static int server_identify(struct loop *l, struct session *s, const uint8_t *buf)
{
	const struct config_server *cs = server_conf(s);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int idx;

	/* Behind a plugin the peer is the plugin: no per-address hint. */
	if (cs->plugin.cmd[0] || getpeername(s->fd[SIDE_IN], (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNSPEC;
	idx = users_identify_tcp(l, cs, ss.ss_family == AF_UNSPEC ? NULL : (struct sockaddr *)&ss,
				 &s->rd, buf);
	if (idx == -EBUSY) {
		probe_auth_failed(l, s, EPC_AUTH_BUDGET, "cold-trial budget spent: not tried");
		return -1;
	}
	if (idx < 0) {
		probe_auth_failed(l, s, EPC_AUTH_BAD, "no user's key opens the request");
		return -1;
	}
	if (session_set_user(l, s, idx) < 0) {
		probe_auth_failed(l, s, EPC_AUTH_LIMIT, "user over a limit");
		return -1;
	}
	return 0;
}

static int server_request_bytes(struct loop *l, struct session *s, uint8_t *p, size_t n)
{
	size_t old = s->hdr_len, take;
	int r;

	if (old == 0) {
		r = ssaddr_parse(p, n, &s->hs->target);
		if (r == -EAGAIN) {
			/* n < SSADDR_MAX_BYTES here, or the parse would have decided. */
			memcpy(s->hs->hdr, p, n);
			s->hdr_len = (uint16_t)n;
			return (int)n;
		}
	} else {
		/* The header continues from an earlier chunk. */
		take = n < SSADDR_MAX_BYTES - old ? n : SSADDR_MAX_BYTES - old;
		memcpy(s->hs->hdr + old, p, take);
		s->hdr_len = (uint16_t)(old + take);
		r = ssaddr_parse(s->hs->hdr, s->hdr_len, &s->hs->target);
		if (r == -EAGAIN)
			return (int)take;
		if (r > 0)
			r -= (int)old; /* bytes of this piece that belong to the header */
	}
	if (r < 0) {
		probe_auth_failed(l, s, EPC_AUTH_BAD, "bad address header");
		return -1;
	}
	/* Method none has no key: a well-formed header is all it can show. */
	if (s->cipher->none)
		probe_authenticated(l, s);
	if (start_connect(l, s) < 0) {
		session_close(l, s, false, "target refused");
		return -1;
	}
	return r;
}

/* 2022: the variable header is in, with the user's index and the target. */
static int server_request_header(struct loop *l, struct session *s)
{
	if (session_set_user(l, s, s->rd2.user) < 0) {
		probe_auth_failed(l, s, EPC_AUTH_LIMIT, "user over a limit");
		return -1;
	}
	if (start_connect(l, s) < 0) {
		session_close(l, s, false, "target refused");
		return -1;
	}
	return 0;
}

/*
 * The first record opened: the salt must be new. After the first
 * authenticated decryption, not before, or anyone could fill the filters
 * with junk salts. Every request salt is remembered (AEAD-2017: the Bloom
 * filters; 2022: 60 s exactly, SIP022). A fresh one authenticates the
 * connection: from here on it is a client's, not a prober's.
 */
static int server_first_record(struct loop *l, struct session *s)
{
	int seen = 0;

	if (s->v2022 && relay_replay2022())
		seen = replay2022_check_insert(relay_replay2022(), s->rd2.salt,
					       s->cipher->m2022->key_len, (uint64_t)time(NULL));
	else if (!s->v2022 && relay_replay())
		seen = replay_check_insert(relay_replay(), s->rd.salt,
					   s->cipher->method->salt_len) ? 1 : 0;
	if (seen) {
		tcp_of(l)->st.replays += seen == 1;
		probe_auth_failed(l, s, seen == 1 ? EPC_AUTH_REPLAY : EPC_AUTH_FULL,
				  seen == 1 ? "replayed salt" : "salt memory full");
		return -1;
	}
	probe_authenticated(l, s);
	return 0;
}

int server_response_cipher(struct loop *l, struct session *s)
{
	const struct aead_method *m = s->cipher->method;

	if (s->probe_fwd || s->cipher->none)
		return 0; /* a plain proxy to the decoy, or nothing to seal */
	if (s->v2022) {
		/* The response header builder keys its own context. */
		if (aead_random(s->wr_salt, s->cipher->m2022->key_len)) {
			session_close(l, s, true, "no randomness");
			return -1;
		}
		return 0;
	}
	/* Our own salts go into the filter too: a response stream reflected
	 * back at us as a request is then a replay. */
	do {
		if (aead_random(s->wr_salt, m->salt_len))
			break;
	} while (relay_replay() &&
		 replay_check_insert(relay_replay(), s->wr_salt, m->salt_len));
	/* The request's key answers: the server's, or the user's (rd.master). */
	if (aead_ctx_init(&s->wr, m, s->rd.master, s->wr_salt)) {
		session_close(l, s, true, "cannot set up the response cipher");
		return -1;
	}
	return 0;
}

static void server_connected(struct loop *l, struct session *s, int res)
{
	char name[300];

	if (s->state != SESS_ST_CONNECTING)
		return;
	if (res < 0 && s->fd[SIDE_OUT] < 0) {
		session_close(l, s, false, "name resolution failed");
		return;
	}
	if (res < 0 && session_connect_next(l, s) == 0)
		return; /* the name had another address */
	if (res < 0) {
		tcp_of(l)->st.connect_fail++;
		ctr_add(&s->ctr[EPC_CONNECT_FAIL], 1);
		log_debug("session %u: connect to %s failed: %s", s->slot,
			  ssaddr_format(&s->hs->target, name, sizeof(name)),
			  res == -ECANCELED ? "timed out" : strerror(-res));
		session_close(l, s, false, "connect failed");
		return;
	}
	if (server_response_cipher(l, s) < 0)
		return;
	probe_end(l, s); /* a copy kept for the decoy goes */
	session_hs_release(l, s);
	s->state = SESS_ST_RELAY;
	timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
	session_arm_recv(l, s, DIR_OUT_IN);
	session_kick(l, s, DIR_IN_OUT);
}

/* Raw request bytes: a copy for the decoy (probe = "forward") before a
 * 2022 header is opened in place; the engine then opens them. */
static bool server_handshake_data(struct loop *l, struct session *s, const uint8_t *in, size_t n)
{
	if (s->unauth)
		probe_keep(l, s, in, n);
	return false;
}

/* A server's ACL checks the resolved addresses of a name too, as libev does. */
static bool server_allows_addr(const struct session *s, const struct sockaddr *sa)
{
	return !relay_acl_blocks_addr(server_conf(s), sa);
}

static const struct config_outbound *server_outbound(const struct session *s)
{
	return &server_conf(s)->outbound;
}

const struct session_role role_server = {
	.name = "server",
	.start = server_start,
	.handshake_data = server_handshake_data,
	.request_bytes = server_request_bytes,
	.identify = server_identify,
	.first_record = server_first_record,
	.request_header = server_request_header,
	.auth_failed = probe_auth_failed,
	.connected = server_connected,
	.deadline = probe_deadline,
	.peer_closed = probe_peer_closed,
	.allows_addr = server_allows_addr,
	.outbound = server_outbound,
	.closing = probe_end,
};
