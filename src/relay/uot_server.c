/* SPDX-License-Identifier: MIT */
/*
 * uot_server — a server's UDP over TCP (proto/uot.h: sing-box's version 2,
 * and version 1). A session whose request names the magic destination does
 * not connect: on a server with udp = true it gets a UDP association of its
 * own (udp_uot.c), which relays its datagrams as the server's native UDP
 * does — allow_private, the ACL's outbound_block_list, names resolved on
 * the ring, the user's rate and quota charged and its bytes counted as UDP
 * — and the session carries them. The client's plaintext comes to this role
 * (DIR_F_DELIVER on the opening direction): the request, then frames, each
 * sent from the association's socket; a target's reply comes back through
 * the association's owner callbacks and is fed, as a frame, into the sealing
 * direction (DIR_F_FED, session_feed). A frame cut by the end of a receive
 * waits in that direction's carry block, which sealing leaves free. The
 * session and its association end together.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "relay/udp.h"
#include "server_int.h"
#include "uot_int.h"

/* What the session's next plaintext is (s->phase). */
enum uot_phase {
	UOT_PH_REQUEST = 0, /* version 2: the request */
	UOT_PH_FRAMES,      /* frames, each with its address */
	UOT_PH_CONNECT      /* frames to and from the request's destination (hs->target) */
};

int uot_frames(struct loop *l, struct session *s, int cd, bool connect, const uint8_t *p,
	       size_t n, void (*fn)(struct loop *l, struct session *s, const struct uot_frame *f))
{
	struct relay_dir *d = &s->d[cd];
	struct uot_frame f;
	uint8_t *c = NULL;
	size_t need = 0;
	int r;

	while (n) {
		if (!d->carry_len) {
			r = uot_frame_parse(p, n, connect, &f, &need);
			if (r > 0) {
				fn(l, s, &f);
				p += r;
				n -= (size_t)r;
				continue;
			}
			if (r != -EAGAIN || !(c = session_carry(l, s, cd)))
				return -1;
			memcpy(c, p, n);
			d->carry_len = (uint32_t)n;
			return 0;
		}
		/* A frame begun in an earlier receive: complete it in the carry,
		 * never copying past its end (need never overshoots it). */
		c = session_carry(l, s, cd);
		r = uot_frame_parse(c, d->carry_len, connect, &f, &need);
		if (r == -EAGAIN) {
			size_t take = need - d->carry_len < n ? need - d->carry_len : n;

			memcpy(c + d->carry_len, p, take);
			d->carry_len += (uint32_t)take;
			p += take;
			n -= take;
			r = uot_frame_parse(c, d->carry_len, connect, &f, &need);
		}
		if (r == -EAGAIN)
			continue; /* its length is known now, or n is 0 */
		if (r < 0)
			return -1;
		fn(l, s, &f);
		d->carry_len = 0;
	}
	if (!d->carry_len)
		dir_release_carry(l, d);
	return 0;
}

static bool connect_mode(const struct session *s)
{
	return s->phase == UOT_PH_CONNECT;
}

/* A frame from the client: a datagram to its address, or to the request's. */
static void egress(struct loop *l, struct session *s, const struct uot_frame *f)
{
	udp_uot_send(l, s->udp_slot, s->udp_gen, connect_mode(s) ? &s->hs->target : &f->addr,
		     f->data, f->len);
}

/*
 * Version 2's request, gathered in the sealing direction's carry block:
 * the bytes of p it took (all of them while it is incomplete), or -1.
 */
static int take_request(struct loop *l, struct session *s, const uint8_t *p, size_t n)
{
	struct relay_dir *d = &s->d[DIR_OUT_IN];
	uint8_t *c = session_carry(l, s, DIR_OUT_IN);
	size_t old = d->carry_len, take = n < UOT_REQUEST_MAX - old ? n : UOT_REQUEST_MAX - old;
	struct uot_request r;
	int k;

	if (!c)
		return -1;
	memcpy(c + old, p, take);
	d->carry_len += (uint32_t)take;
	k = uot_request_parse(c, d->carry_len, &r);
	if (k == -EAGAIN)
		return (int)take; /* take == n: a full UOT_REQUEST_MAX always decides */
	dir_release_carry(l, d);
	if (k < 0)
		return -1;
	s->hs->target = r.dst;
	s->phase = r.connect ? UOT_PH_CONNECT : UOT_PH_FRAMES;
	return k - (int)old;
}

static int uot_deliver(struct loop *l, struct session *s, int di, const uint8_t *p, size_t n)
{
	char t[300];
	int k;

	(void)di;
	if (s->phase == UOT_PH_REQUEST) {
		k = take_request(l, s, p, n);
		if (k < 0) {
			session_close(l, s, true, "bad UDP-over-TCP request");
			return -1;
		}
		if (s->phase == UOT_PH_REQUEST)
			return 0;
		log_debug("session %u: UDP over TCP, %s%s", s->slot,
			  connect_mode(s) ? "connect mode to " : "each datagram to its address",
			  connect_mode(s) ? ssaddr_format(&s->hs->target, t, sizeof(t)) : "");
		p += k;
		n -= (size_t)k;
	}
	if (uot_frames(l, s, DIR_OUT_IN, connect_mode(s), p, n, egress) < 0) {
		session_close(l, s, true, "bad UDP-over-TCP frame");
		return -1;
	}
	return 0;
}

/* A target's datagram to the client, as a frame (its header in the
 * buffer's headroom, in front of the datagram). 0, or -1: dropped. */
static int uot_reply(struct loop *l, uint32_t slot, uint32_t gen, const struct sockaddr *from,
		     uint8_t *p, size_t n)
{
	struct session *s = session_lookup(l, slot, gen);
	uint8_t hdr[UOT_FRAME_HDR_MAX];
	struct ssaddr src;
	size_t h;

	if (!s || s->state != SESS_ST_RELAY || s->phase == UOT_PH_REQUEST ||
	    (!connect_mode(s) && ssaddr_from_sockaddr(from, &src) < 0))
		return -1;
	h = uot_frame_header(connect_mode(s), &src, n, hdr);
	memcpy(p - h, hdr, h);
	return session_feed(l, s, DIR_OUT_IN, p - h, n + h) < 0 ? -1 : 0;
}

static void uot_closing(struct loop *l, struct session *s)
{
	udp_owned_close(l, s->udp_slot, s->udp_gen);
	s->udp_gen = 0;
}

static const struct session_role role_uot_server = {
	.name = "uot-server",
	.deliver = uot_deliver,
	.closing = uot_closing,
};

int uot_server_start(struct loop *l, struct session *s, int version)
{
	const struct config_server *cs = s->conf;
	struct udp_owner owner = { .reply = uot_reply, .gone = session_udp_gone, .slot = s->slot,
				   .gen = s->gen };
	int slot;

	if (!cs->udp) {
		log_info("session %u: UDP over TCP refused: udp = false on this server", s->slot);
		return -1;
	}
	slot = udp_uot_assoc(l, &owner, cs, s->cfg, s->user);
	if (slot < 0) {
		log_warn("session %u: UDP over TCP refused: no association (%s)", s->slot,
			 strerror(-slot));
		return -1;
	}
	s->udp_slot = (uint32_t)slot;
	s->udp_gen = udp_assoc_gen(l, (uint32_t)slot);
	s->role = &role_uot_server; /* from now on its closing releases the association */
	if (server_response_cipher(l, s) < 0)
		return -1;
	probe_end(l, s); /* authenticated: nothing kept for a decoy */
	sources_handshake_done(&s->src);
	/* Its datagrams are charged and counted as UDP, by the association. */
	s->limited = 0;
	s->d[DIR_IN_OUT].flags |= DIR_F_DELIVER;
	s->d[DIR_OUT_IN].flags |= DIR_F_FED;
	s->phase = version == 2 ? UOT_PH_REQUEST : UOT_PH_FRAMES;
	s->state = SESS_ST_RELAY;
	timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
	log_debug("session %u: UDP over TCP (version %d)", s->slot, version);
	return 0;
}
