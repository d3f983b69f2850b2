/* SPDX-License-Identifier: MIT */
/*
 * udp_uot — the UDP relay's side of UDP over TCP (uot_int.h).
 *
 * Server: an association owned by a UoT session (struct udp_owner), not in
 * the table and without an idle timer of its own. A datagram the session
 * hands over is checked and charged as a native one (udp_target_ok) and
 * sent at once with a non-blocking sendto from the association's socket: it
 * is in the session's memory, not in a ring buffer (dropped and counted if
 * the socket's queue is full). A name is resolved on the ring; until the
 * answer the datagram waits in a copy, at most UOT_HELD per association. A
 * reply goes to the owner's reply callback, in its ring buffer.
 *
 * Client: an association with udp_over_tcp opens a TCP session on its first
 * datagram (uot_client.c) and sends every datagram through it; replies come
 * back as calls from the session and leave, again with non-blocking sends,
 * as the native UDP of its role would send them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "uot_int.h"
#include "udp_int.h"

/* Datagrams of one association waiting for a name's answer. */
#define UOT_HELD 4

static void dropped(struct loop *l, int v)
{
	udp_of(l)->st.dropped++;
	stats_worker_add(l->id, WC_DROP_TRUNCATED + (unsigned)v - 1, 1);
}

/* ---- server */

int udp_uot_assoc(struct loop *l, const struct udp_owner *owner, const struct config_server *cs,
		  const struct config *cfg, int user)
{
	struct udp_assoc *a;
	uint32_t uid = udp_uid(cs, user);

	if (!udp_of(l))
		return -EOPNOTSUPP;
	a = udp_assoc_alloc(l, ROLE_SERVER, cfg, cs->rt.ep, owner);
	if (!a)
		return -EAGAIN;
	a->conf = cs;
	/* The session was admitted under its user's limits: the association
	 * only counts as the user's. */
	if (uid != STATS_NONE)
		udp_assoc_bind_user(l, a, uid, &cs->users->u[user]);
	return (int)a->slot;
}

/* Send p/n of a to dst now: a verdict. */
static int send_now(struct loop *l, struct udp_assoc *a, const struct sockaddr *dst,
		    const uint8_t *p, size_t n)
{
	int fd = udp_target_ok(l, a, n, dst);

	if (fd < 0)
		return -fd;
	if (sendto(fd, p, n, MSG_DONTWAIT, dst, sockaddr_len(dst)) < 0)
		return UDP_DROP_OTHER;
	udp_of(l)->st.out++;
	return UDP_KEPT;
}

/* A datagram waiting for its destination's name. */
struct held {
	uint16_t port;
	size_t len;
	uint8_t data[];
};

/* The answer for a name: the datagram held for it (if any) goes, or is dropped. */
static void held_resolved(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
			  int err)
{
	struct held *h = (struct held *)(uintptr_t)((uint64_t)w->arg[1] << 32 | w->arg[0]);
	struct udp_assoc *a = udp_assoc_lookup(l, w->slot, w->gen);
	union dns_addr dst;
	int v = UDP_DROP_OTHER;

	if (!h)
		return; /* the lookup that found the name missing: nothing held */
	if (a)
		a->held--;
	if (!udp_of(l)) {
		free(h);
		return;
	}
	if (a && a->state == UDP_ST_LIVE)
		v = err || udp_pick_target(a, e, h->port, &dst) < 0
			    ? UDP_DROP_REFUSED
			    : send_now(l, a, &dst.sa, h->data, h->len);
	if (v != UDP_KEPT)
		dropped(l, v);
	free(h);
}

/* A datagram for a name: sent now from the cache, or held for the answer. */
static int resolve(struct loop *l, struct udp_assoc *a, const struct ssaddr *dst,
		   const uint8_t *p, size_t n)
{
	struct dns_waiter w = { .done = held_resolved, .slot = a->slot, .gen = a->gen };
	const struct dns_entry *e;
	union dns_addr to;
	struct held *h;
	uintptr_t hp;
	int ret;

	ret = udp_lookup_target(l, a, dst->u.domain.name, &w, &e);
	if (ret < 0)
		return -ret;
	if (ret == DNS_HIT)
		return udp_pick_target(a, e, dst->port, &to) < 0 ? UDP_DROP_REFUSED
								 : send_now(l, a, &to.sa, p, n);
	/* Being looked up: a copy waits with a second waiter on the same query. */
	if (a->held >= UOT_HELD || !(h = malloc(sizeof(*h) + n)))
		return UDP_DROP_OTHER;
	h->port = dst->port;
	h->len = n;
	memcpy(h->data, p, n);
	hp = (uintptr_t)h;
	w.arg[0] = (uint32_t)hp;
	w.arg[1] = (uint32_t)((uint64_t)hp >> 32);
	if (dns_lookup(l, dst->u.domain.name, &w, &e) != DNS_PENDING) {
		free(h);
		return UDP_DROP_OTHER;
	}
	a->held++;
	return UDP_KEPT;
}

void udp_uot_send(struct loop *l, uint32_t slot, uint32_t gen, const struct ssaddr *dst,
		  const uint8_t *p, size_t n)
{
	struct udp_assoc *a = udp_assoc_lookup(l, slot, gen);
	struct sockaddr_storage ss;
	socklen_t sl;
	int v = UDP_DROP_OTHER;

	udp_of(l)->st.in++;
	if (a && a->state == UDP_ST_LIVE)
		v = ssaddr_to_sockaddr(dst, &ss, &sl) == 0
			    ? send_now(l, a, (struct sockaddr *)&ss, p, n)
			    : resolve(l, a, dst, p, n);
	if (v != UDP_KEPT)
		dropped(l, v);
}

int udp_uot_from_target(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	if (!udp_assoc_charge(l, a, false, g->n))
		return UDP_DROP_LIMIT;
	if (!a->owner.reply || a->owner.reply(l, a->owner.slot, a->owner.gen, g->from, g->p, g->n))
		return UDP_DROP_OTHER;
	/* Sealed into the session's send block: the buffer is free. */
	udp_assoc_count(a, false, g->n);
	udp_of(l)->st.out++;
	loop_buf_return(l, BG_UDP, g->bid);
	return UDP_KEPT;
}

/* ---- client */

void udp_uot_end(struct loop *l, struct udp_assoc *a)
{
	uint32_t gen = a->uot_gen;

	a->uot_gen = 0;
	if (gen)
		session_udp_gone(l, a->uot_slot, gen);
}

int udp_uot_up(struct loop *l, struct udp_assoc *a, struct dgram *g, const struct ssaddr *dst,
	       uint8_t *p, size_t n)
{
	if (!a->uot_gen &&
	    uot_client_open(l, a->role, a->conf, a->cfg, a->slot, a->gen, dst, &a->uot_slot,
			    &a->uot_gen) < 0) {
		a->uot_gen = 0;
		udp_assoc_close(l, a, "cannot open its UDP-over-TCP session");
		return UDP_DROP_REFUSED;
	}
	if (uot_client_send(l, a->uot_slot, a->uot_gen, dst, p, n) < 0)
		return UDP_DROP_OTHER;
	udp_assoc_touch(l, a);
	udp_assoc_count(a, true, n);
	udp_of(l)->st.out++;
	loop_buf_return(l, BG_UDP, g->bid); /* copied into the session's blocks */
	return UDP_KEPT;
}

/* A reply for a's client from src (NULL: a tunnel's forward): a verdict. */
static int to_client(struct loop *l, struct udp_assoc *a, const struct ssaddr *src,
		     const uint8_t *p, size_t n)
{
	const struct config_tunnel *tc = relay_tunnel_of(a->role, a->conf);
	uint8_t hdr[3 + SSADDR_MAX_BYTES] = { 0 };
	struct iovec iov[2] = { { hdr, 0 }, { (void *)p, n } };
	struct msghdr mh = { .msg_name = &a->peer, .msg_namelen = a->peer_len, .msg_iov = iov,
			     .msg_iovlen = 2 };
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	if (tc && tc->redir) {
		/* From the address the client sent to, as a redir's native reply. */
		if (!src || ssaddr_to_sockaddr(src, &ss, &sl) < 0)
			return UDP_DROP_MALFORMED;
		return udp_redir_reply_copy(l, a, (struct sockaddr *)&ss, p, n);
	}
	if (tc) {
		fd = a->L->ep.fd;
	} else {
		/* SOCKS5: RSV RSV FRAG | the source | data. */
		if (!src || !a->peer_len)
			return UDP_DROP_OTHER;
		iov[0].iov_len = 3 + ssaddr_encode(src, hdr + 3);
		fd = a->ep[1].fd;
	}
	if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0)
		return UDP_DROP_OTHER;
	udp_assoc_touch(l, a);
	udp_assoc_count(a, false, n);
	udp_of(l)->st.out++;
	return UDP_KEPT;
}

void udp_uot_reply(struct loop *l, uint32_t slot, uint32_t gen, const struct ssaddr *src,
		   const uint8_t *p, size_t n)
{
	struct udp_assoc *a = udp_of(l) ? udp_assoc_lookup(l, slot, gen) : NULL;
	int v = UDP_DROP_OTHER;

	if (!udp_of(l))
		return;
	udp_of(l)->st.in++;
	if (a && a->state == UDP_ST_LIVE)
		v = to_client(l, a, src, p, n);
	if (v != UDP_KEPT)
		dropped(l, v);
}

void udp_uot_gone(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct udp_assoc *a = udp_of(l) ? udp_assoc_lookup(l, slot, gen) : NULL;

	if (a) {
		a->uot_gen = 0; /* gone: nothing to close */
		udp_assoc_close(l, a, "its UDP-over-TCP session ended");
	}
}
