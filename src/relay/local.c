/* SPDX-License-Identifier: MIT */
/*
 * local — the local role: SOCKS5 (RFC 1928/1929, UDP ASSOCIATE included),
 * SOCKS4/4a and the HTTP proxy on one port, told apart by the first byte; a
 * request that starts like HTTP is the HTTP front end's (http_front.c) from
 * there, one that starts with 04 the SOCKS4 front end's (socks4.c).
 *
 * The handshake bytes gather in the session's carry block (d[DIR_IN_OUT]
 * half 0) until a message parses; replies go out on d[DIR_OUT_IN] and no
 * receive is armed while one is in flight, so a reply never races data.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "core/log.h"
#include "proto/http_proxy.h"
#include "proto/sockaddr.h"
#include "proto/socks4.h"
#include "proto/socks5.h"
#include "client_int.h"
#include "relay/udp.h"

static const struct config_local *local_conf(const struct session *s)
{
	return s->conf;
}

const struct config_client *local_client(const struct session *s)
{
	return &local_conf(s)->cl;
}

static void local_start(struct loop *l, struct session *s)
{
	if (client_start(l, s))
		session_arm_recv(l, s, DIR_IN_OUT);
}

static void socks_fail(struct loop *l, struct session *s, uint8_t rep)
{
	uint8_t r[SOCKS5_REPLY_MAX_BYTES];

	session_send_reply(l, s, r, socks5_build_reply(r, rep, NULL), true);
}

static void local_fail(struct loop *l, struct session *s, int err)
{
	socks_fail(l, s, (uint8_t)socks5_rep_from_errno(err));
}

/* The UDP association's datagrams keep the control connection alive. */
static void keepalive(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct session *s = session_lookup(l, slot, gen);

	if (s)
		timer_arm(&l->wheel, &s->timer,
			  l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
}

/* The association lives as long as its control connection. */
static void local_closing(struct loop *l, struct session *s)
{
	udp_owned_close(l, s->udp_slot, s->udp_gen);
	s->udp_gen = 0;
}

/*
 * UDP ASSOCIATE: a UDP socket of its own on this worker, bound to the IP the
 * client reached us on. Its port is the BND in the reply; datagrams go there
 * and nowhere a shared port would hash them to another worker (design.md).
 */
static void udp_associate(struct loop *l, struct session *s, const struct socks5_request *r)
{
	struct sockaddr_storage local, peer, bnd;
	socklen_t ll = sizeof(local), pl = sizeof(peer);
	uint8_t rep[SOCKS5_REPLY_MAX_BYTES];
	uint16_t port = r->dst.atyp == SSADDR_ATYP_DOMAIN ? 0 : r->dst.port;
	/* An association that ends on its own (its UDP-over-TCP session did)
	 * ends the control connection, which tells the client (RFC 1928 §7). */
	struct udp_owner owner = { .keepalive = keepalive, .gone = session_udp_gone,
				   .slot = s->slot, .gen = s->gen };
	int slot;

	if (getsockname(s->fd[SIDE_IN], (struct sockaddr *)&local, &ll) < 0 ||
	    getpeername(s->fd[SIDE_IN], (struct sockaddr *)&peer, &pl) < 0) {
		socks_fail(l, s, SOCKS5_REP_GENERAL_FAILURE);
		return;
	}
	/* A non-zero DST.PORT names the one port the client will send from. */
	sockaddr_set_port((struct sockaddr *)&peer, port);
	slot = udp_local_assoc(l, &owner, local_conf(s), s->cfg, (struct sockaddr *)&local,
			       (struct sockaddr *)&peer, &bnd);
	if (slot < 0) {
		log_warn("UDP ASSOCIATE refused: %s", strerror(-slot));
		socks_fail(l, s, SOCKS5_REP_GENERAL_FAILURE);
		return;
	}
	s->udp_slot = (uint32_t)slot;
	s->udp_gen = udp_assoc_gen(l, (uint32_t)slot);
	s->phase = CP_UDP;
	session_send_reply(l, s, rep,
			   socks5_build_reply(rep, SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&bnd),
			   false);
}

/* Returns the SOCKS5 phase result: 1 = go on parsing, 0 = wait, -1 = done. */
static int socks_step(struct loop *l, struct session *s, uint8_t *acc, size_t len)
{
	const struct config_local *lc = local_conf(s);
	struct socks5_greeting g;
	struct socks5_auth a;
	struct socks5_request r;
	uint8_t rep[2];
	bool ok = false;
	int n;

	switch (s->phase) {
	case CP_FIRST:
		n = socks5_parse_greeting(acc, len, &g);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			session_close(l, s, false, "bad SOCKS5 greeting");
			return -1;
		}
		client_consume(l, s, (size_t)n);
		rep[0] = SOCKS5_VER;
		rep[1] = socks5_choose_method(&g, lc->n_users > 0);
		s->phase = rep[1] == SOCKS5_METHOD_USERPASS ? CP_SOCKS_AUTH : CP_SOCKS_REQUEST;
		session_send_reply(l, s, rep, 2, rep[1] == SOCKS5_METHOD_NONE);
		return -1;
	case CP_SOCKS_AUTH:
		n = socks5_parse_auth(acc, len, &a);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			session_close(l, s, false, "bad SOCKS5 auth message");
			return -1;
		}
		client_consume(l, s, (size_t)n);
		for (size_t i = 0; i < lc->n_users; i++)
			ok |= socks5_auth_check(&a, lc->users[i].name, lc->users[i].password);
		if (!ok)
			log_info("SOCKS5 authentication failed for user '%.*s'", a.user_len, a.user);
		rep[0] = SOCKS5_AUTH_VER;
		rep[1] = ok ? SOCKS5_AUTH_STATUS_OK : SOCKS5_AUTH_STATUS_FAIL;
		s->phase = CP_SOCKS_REQUEST;
		session_send_reply(l, s, rep, 2, !ok);
		return -1;
	default:
		n = socks5_parse_request(acc, len, &r);
		if (n == -EAGAIN)
			return 0;
		if (n == -EAFNOSUPPORT) {
			socks_fail(l, s, SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED);
			return -1;
		}
		if (n < 0) {
			session_close(l, s, false, "bad SOCKS5 request");
			return -1;
		}
		client_consume(l, s, (size_t)n);
		if (r.cmd == SOCKS5_CMD_UDP_ASSOCIATE && lc->cl.udp) {
			udp_associate(l, s, &r);
			return -1;
		}
		if (r.cmd != SOCKS5_CMD_CONNECT) {
			/* BIND, UDP ASSOCIATE on a local without UDP, unknown. */
			socks_fail(l, s, SOCKS5_REP_COMMAND_NOT_SUPPORTED);
			return -1;
		}
		s->hs->target = r.dst;
		client_route(l, s);
		return -1;
	}
}

/* Parse what the accumulator holds, as far as it goes. */
static void advance(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);
	int ret;

	if (!acc) {
		session_close(l, s, true, "carry pool exhausted");
		return;
	}
	if (s->phase == CP_UDP) {
		/* The reply is out: from now on the connection only keeps the
		 * association alive; anything the client sends is discarded. */
		s->state = SESS_ST_UDP_CTRL;
		sources_handshake_done(&s->src);
		dir_release_carry(l, d);
		timer_arm(&l->wheel, &s->timer,
			  l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
		session_arm_recv(l, s, DIR_IN_OUT);
		return;
	}
	for (;;) {
		if (d->carry_len == 0) {
			session_arm_recv(l, s, DIR_IN_OUT);
			return;
		}
		if (s->phase == CP_FIRST && acc[0] == SOCKS4_VER) {
			/* SOCKS4/4a: the SOCKS4 front end from here on. */
			s->role = &role_socks4.base;
			s->phase = CP_SOCKS4;
		} else if (s->phase == CP_FIRST && acc[0] != SOCKS5_VER) {
			if (!isalpha(acc[0])) {
				session_close(l, s, false, "neither SOCKS5, SOCKS4 nor HTTP");
				return;
			}
			/* An HTTP request: the HTTP front end from here on. */
			s->role = &role_http.base;
			s->phase = CP_HTTP_HEAD;
		}
		ret = s->phase == CP_HTTP_HEAD ? http_front_step(l, s, acc, d->carry_len) :
		      s->phase == CP_SOCKS4	 ? socks4_front_step(l, s, acc, d->carry_len) :
						   socks_step(l, s, acc, d->carry_len);
		if (ret < 0)
			return;
		if (ret == 0) {
			session_arm_recv(l, s, DIR_IN_OUT);
			return;
		}
	}
}

bool local_handshake_data(struct loop *l, struct session *s, const uint8_t *in, size_t n)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);

	if (!acc) {
		session_close(l, s, true, "carry pool exhausted");
		return true;
	}
	if (n > HTTP_HEAD_MAX + 1 - d->carry_len) {
		if (s->phase == CP_HTTP_HEAD)
			http_front_fail(l, s, 431, "Request Header Fields Too Large");
		else
			session_close(l, s, false, "handshake too long");
		dir_release_buf(l, d);
		return true;
	}
	memcpy(acc + d->carry_len, in, n);
	d->carry_len += (uint32_t)n;
	dir_release_buf(l, d);
	advance(l, s);
	return true;
}

void local_reply_sent(struct loop *l, struct session *s)
{
	advance(l, s);
}

/* Connected: SOCKS5's success reply, whose BND is our socket toward the ss
 * server (protocol.md §1.5), then the relay. */
static void local_ready(struct loop *l, struct session *s)
{
	struct sockaddr_storage bnd;
	socklen_t bl = sizeof(bnd);
	uint8_t r[SOCKS5_REPLY_MAX_BYTES];

	session_hs_release(l, s);
	getsockname(s->fd[SIDE_OUT], (struct sockaddr *)&bnd, &bl);
	session_send_reply(l, s, r,
			   socks5_build_reply(r, SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&bnd),
			   false);
	session_kick(l, s, DIR_IN_OUT);
}

const struct client_role role_local = {
	.base = {
		.name = "local",
		.start = local_start,
		.handshake_data = local_handshake_data,
		.first_record = client_first_record,
		.connected = client_connected,
		.reply_sent = local_reply_sent,
		.first_answer = client_first_answer,
		.outbound = client_outbound,
		.closing = local_closing,
	},
	.conf = local_client,
	.fail = local_fail,
	.ready = local_ready,
};
