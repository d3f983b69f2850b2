/* SPDX-License-Identifier: MIT */
/*
 * uot_client — the client side of UDP over TCP (proto/uot.h). A local's,
 * tunnel's or redir's UDP association with udp_over_tcp sends its datagrams
 * through one TCP session of its own, opened on its first datagram
 * (udp_uot.c), to the server or upstream a TCP connection of the entry
 * would use: client.c's connect, failover and request prefix, with the
 * magic destination as the target. The session has no inbound socket: its
 * inbound side is the association. The request's early data is the UoT
 * request (a tunnel: isConnect = 1 and its forward; a local or redir: 0 and
 * the first datagram's destination, each frame naming its own) and the
 * datagrams that came while it connected, queued in its carry block up to a
 * half (more are dropped, counted). Then datagrams are fed as frames into
 * the sealing direction (session_feed; dropped when its queue is full) and
 * the server's frames are delivered here and handed to the association,
 * which sends them to the client as its native UDP would. When either ends,
 * the other does.
 */
#include <errno.h>
#include <string.h>

#include "client_int.h"
#include "relay/ssclient.h"
#include "relay/udp.h"
#include "uot_int.h"

/* A client role that carries an association: with frames in connect mode or not. */
struct uot_client_role {
	struct client_role base;
	bool connect;
};

static const struct uot_client_role *uot_role(const struct session *s)
{
	return (const struct uot_client_role *)s->role;
}

/* A frame from the server: a datagram for the association's client. */
static void to_assoc(struct loop *l, struct session *s, const struct uot_frame *f)
{
	udp_uot_reply(l, s->udp_slot, s->udp_gen, uot_role(s)->connect ? NULL : &f->addr, f->data,
		      f->len);
}

static int uot_client_deliver(struct loop *l, struct session *s, int di, const uint8_t *p,
			      size_t n)
{
	(void)di;
	/* The sealing direction's carry is free once the request went. */
	if (uot_frames(l, s, DIR_IN_OUT, uot_role(s)->connect, p, n, to_assoc) < 0) {
		session_close(l, s, true, "bad UDP-over-TCP frame from the server");
		return -1;
	}
	return 0;
}

/* The session ends: so does its association (which then does not call back). */
static void uot_client_closing(struct loop *l, struct session *s)
{
	uint32_t gen = s->udp_gen;

	s->udp_gen = 0;
	if (gen)
		udp_uot_gone(l, s->udp_slot, gen);
}

#define UOT_CLIENT_ROLE(conf_fn, is_connect)                                               \
	{                                                                                  \
		.base = {                                                                  \
			.base = {                                                          \
				.name = "uot-client",                                      \
				.first_record = client_first_record,                       \
				.connected = client_connected,                             \
				.deliver = uot_client_deliver,                             \
				.outbound = client_outbound,                               \
				.closing = uot_client_closing,                             \
			},                                                                 \
			.conf = conf_fn,                                                   \
			.fail = tunnel_fail,                                               \
			.ready = tunnel_ready,                                             \
		},                                                                         \
		.connect = is_connect,                                                     \
	}

static const struct uot_client_role role_uot_local = UOT_CLIENT_ROLE(local_client, false);
static const struct uot_client_role role_uot_tunnel = UOT_CLIENT_ROLE(tunnel_client, true);
static const struct uot_client_role role_uot_redir = UOT_CLIENT_ROLE(tunnel_client, false);

int uot_client_open(struct loop *l, enum role role, const void *conf, const struct config *cfg,
		    uint32_t aslot, uint32_t agen, const struct ssaddr *first, uint32_t *slot,
		    uint32_t *gen)
{
	const struct config_tunnel *tc = relay_tunnel_of(role, conf);
	const struct uot_client_role *r = !tc	     ? &role_uot_local
					  : tc->redir ? &role_uot_redir
						      : &role_uot_tunnel;
	struct uot_request req = { .connect = r->connect };
	struct session *s;
	uint8_t *acc;

	s = session_new_outbound(l, cfg, conf, relay_client_of(role, conf)->rt.ep);
	if (!s)
		return -EAGAIN;
	s->role = &r->base.base;
	if (!client_start(l, s))
		return -ENOTCONN; /* no server yet (servers_url): closed */
	if (r->connect)
		ssclient_target(&req.dst, &tc->forward);
	else
		req.dst = *first;
	acc = session_acc(l, s, 0);
	if (!acc) {
		session_close(l, s, true, "carry pool exhausted");
		return -ENOMEM;
	}
	/* The request is the early data; queued datagrams follow it. */
	s->d[DIR_IN_OUT].carry_len = (uint32_t)uot_request_build(&req, acc);
	uot_magic(&s->hs->target);
	client_connect_server(l, s);
	if (!(s->gen & 1) || s->state == SESS_ST_CLOSING)
		return -ECONNREFUSED; /* failed at once: the association hears it from us */
	s->udp_slot = aslot;
	s->udp_gen = agen;
	*slot = s->slot;
	*gen = s->gen;
	return 0;
}

int uot_client_send(struct loop *l, uint32_t slot, uint32_t gen, const struct ssaddr *dst,
		    uint8_t *p, size_t n)
{
	struct session *s = session_lookup(l, slot, gen);
	uint8_t hdr[UOT_FRAME_HDR_MAX], *acc;
	struct relay_dir *d;
	size_t h;

	if (!s || s->state == SESS_ST_CLOSING)
		return -ENOTCONN;
	h = uot_frame_header(uot_role(s)->connect, dst, n, hdr);
	memcpy(p - h, hdr, h);
	if (s->state == SESS_ST_RELAY)
		return session_feed(l, s, DIR_IN_OUT, p - h, n + h);
	/* Still connecting: behind the request, as early data. */
	d = &s->d[DIR_IN_OUT];
	acc = session_acc(l, s, 0);
	if (!acc || d->carry_len + h + n > CARRY_HALF_BYTES)
		return -ENOBUFS;
	memcpy(acc + d->carry_len, p - h, h + n);
	d->carry_len += (uint32_t)(h + n);
	return 0;
}
