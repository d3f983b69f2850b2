/* SPDX-License-Identifier: MIT */
/*
 * udp_server — the server role: a client's packet is opened (AEAD-2017:
 * salt | sealed address + payload; 2022: separate header + sealed body,
 * keyed by session ID), its target resolved if it is a name, and the payload
 * sent from the association's socket; a target's reply is sealed in place
 * with the address it came from (full cone) and sent to the client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "proto/aead.h"
#include "proto/replay.h"
#include "relay/udp_owner.h"
#include "udp_int.h"

/* The socket of a server association toward targets of this family. */
int udp_target_fd(struct loop *l, struct udp_assoc *a, int family)
{
	struct udp_ep *ep = &a->ep[family == AF_INET ? 0 : 1];

	if (ep->fd < 0) {
		ep->fd = udp_open_socket(family, NULL, false);
		if (ep->fd < 0)
			return ep->fd;
		udp_arm_ep(l, ep);
	}
	return ep->fd;
}

/* Send a held datagram to the first acceptable address of e. */
static bool send_resolved(struct loop *l, struct udp_assoc *a, const struct dns_entry *e,
			  uint16_t bid, uint8_t *p, size_t len, uint16_t port)
{
	const struct config_server *cs = udp_of(l)->lst[a->lst].conf;

	for (int i = 0; i < e->n; i++) {
		union dns_addr dst = e->addr[i];
		int fd;

		if (!cs->allow_private && ssaddr_is_special(&dst.sa))
			continue;
		if (dst.sa.sa_family == AF_INET)
			dst.v4.sin_port = htons(port);
		else
			dst.v6.sin6_port = htons(port);
		fd = udp_target_fd(l, a, dst.sa.sa_family);
		if (fd < 0)
			return false;
		udp_send_from(l, bid, fd, p, len, &dst.sa, a);
		return true;
	}
	return false;
}

/* The answer for a held datagram: send it, or drop it and free its buffer. */
static void target_resolved(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
			    int err)
{
	struct udp_assoc *a = udp_assoc_lookup(l, w->slot, w->gen);
	uint16_t bid = (uint16_t)w->arg[0], port = (uint16_t)(w->arg[0] >> 16);
	uint8_t *p = loop_buf_base(l, BG_UDP, bid) + w->arg[1];

	if (err || !a || a->state != UDP_ST_LIVE || !send_resolved(l, a, e, bid, p, w->arg[2], port)) {
		if (udp_of(l))
			udp_of(l)->st.dropped++;
		loop_buf_return(l, BG_UDP, bid);
	}
}

/* A datagram for a name: send now from the cache, or hold it for the answer. */
static bool resolve_target(struct loop *l, struct udp_assoc *a, const struct ssaddr *ta,
			   struct dgram *g, uint8_t *p, size_t len)
{
	uint8_t *base = loop_buf_base(l, BG_UDP, g->bid);
	/* The datagram waits in its buffer: which one, where and how long. */
	struct dns_waiter w = { .done = target_resolved, .slot = a->slot, .gen = a->gen,
				.arg = { g->bid | (uint32_t)ta->port << 16,
					 (uint32_t)(p - base), (uint32_t)len } };
	const struct dns_entry *e;
	int ret;

	if (!dns_name_ok(ta->u.domain.name))
		return false;
	ret = dns_lookup(l, ta->u.domain.name, &w, &e);
	if (ret == DNS_PENDING)
		return true; /* the buffer waits with the query */
	if (ret < 0)
		return false;
	return send_resolved(l, a, e, g->bid, p, len, ta->port);
}

/*
 * A packet of session a passed the session's window: record it, count its
 * user's bytes, and note where the client was last seen (replies go there:
 * it may roam). false if the packet ID was seen before or is too old.
 */
bool udp_accept2022(struct loop *l, struct udp_assoc *a, uint64_t pid, int user, size_t len,
		       const struct sockaddr *from, const uint8_t *psk)
{
	if (!ss2022_window_check(&a->win, pid))
		return false;
	ss2022_window_update(&a->win, pid);
	if (user >= 0 && user < RELAY_USER_COUNTERS)
		udp_of(l)->user_bytes[user] += len;
	memcpy(&a->peer, from, sa_len(from));
	a->peer_len = sa_len(from);
	a->psk = psk;
	udp_assoc_touch(l, a);
	return true;
}

bool udp_server2022_from_client(struct loop *l, uint32_t li, struct dgram *g)
{
	const struct config_server *cs = udp_of(l)->lst[li].conf;
	struct ss2022_udp_packet pk;
	struct sockaddr_storage dst;
	struct udp_assoc *a;
	socklen_t dl;
	int fd;

	if (ss2022_udp_open_server(&cs->srv2022, (uint64_t)time(NULL), g->p, g->n, &pk) < 0) {
		udp_of(l)->st.bad++; /* silently */
		return false;
	}
	a = udp_assoc_find2022(l, li, pk.session_id);
	if (!a && relay_shared.owners) {
		int w = udp_owners_get(relay_shared.owners, pk.session_id);

		/* The client roamed onto our socket: its session lives elsewhere. */
		if (w >= 0 && w != l->id) {
			if (udp_hand_over(l, w, li, &pk, g))
				udp_of(l)->st.handed_over++;
			return false;
		}
	}
	if (!a)
		a = udp_assoc_2022(l, li, pk.session_id);
	if (!a)
		return false;
	if (!udp_accept2022(l, a, pk.packet_id, pk.user, pk.payload_len, g->from, pk.psk)) {
		udp_of(l)->st.bad++;
		udp_of(l)->st.replays++;
		return false;
	}
	if (ssaddr_to_sockaddr(&pk.addr, &dst, &dl) < 0)
		return resolve_target(l, a, &pk.addr, g, pk.payload, pk.payload_len);
	if (!cs->allow_private && ssaddr_is_special((struct sockaddr *)&dst))
		return false;
	fd = udp_target_fd(l, a, dst.ss_family);
	if (fd < 0)
		return false;
	udp_send_from(l, g->bid, fd, pk.payload, pk.payload_len, (struct sockaddr *)&dst, a);
	return true;
}

/* Where the sealed packet must start so that the payload stays in place. */
static uint8_t *seal2022_start(const struct ss2022_method *m, bool to_server, size_t n_eih,
			       size_t alen, struct dgram *g)
{
	return g->p - (ss2022_udp_size(m, to_server, n_eih, alen, 0, 0) - AEAD_TAG_BYTES);
}

bool udp_server_from_client(struct loop *l, uint32_t li, struct dgram *g)
{
	const struct config_server *cs = udp_of(l)->lst[li].conf;
	const struct aead_method *m = cs->cipher.method;
	struct sockaddr_storage dst;
	struct udp_assoc *a;
	struct ssaddr ta;
	socklen_t dl;
	uint8_t *pt = g->p + m->salt_len;
	int r = aead_udp_open(m, cs->cipher.key, pt, g->p, g->n), k, fd;

	if (r < 0) {
		udp_of(l)->st.bad++; /* silently: no reply, nothing a prober can see */
		return false;
	}
	if (relay_shared.replay && replay_check_insert(relay_shared.replay, g->p, m->salt_len)) {
		udp_of(l)->st.bad++;
		udp_of(l)->st.replays++;
		return false;
	}
	k = ssaddr_parse(pt, (size_t)r, &ta);
	if (k <= 0)
		return false;
	a = udp_assoc_by_addr(l, li, g->from);
	if (!a)
		return false;
	udp_assoc_touch(l, a);
	if (ssaddr_to_sockaddr(&ta, &dst, &dl) < 0)
		return resolve_target(l, a, &ta, g, pt + k, (size_t)r - (size_t)k);
	if (!cs->allow_private && ssaddr_is_special((struct sockaddr *)&dst))
		return false;
	fd = udp_target_fd(l, a, dst.ss_family);
	if (fd < 0)
		return false;
	udp_send_from(l, g->bid, fd, pt + k, (size_t)r - (size_t)k, (struct sockaddr *)&dst, a);
	return true;
}

/* Prepend hdr and seal in place; returns the packet start and size. */
int udp_seal_in_place(const struct config_cipher *c, struct dgram *g, const uint8_t *hdr,
			 size_t hlen, uint8_t **start)
{
	uint8_t *plain = g->p - hlen;

	memmove(plain, hdr, hlen);
	*start = plain - c->method->salt_len;
	return aead_udp_seal(c->method, c->key, *start, plain, hlen + g->n);
}

bool udp_server_from_target(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	struct udp_listener *L = &udp_of(l)->lst[a->lst];
	const struct config_server *cs = L->conf;
	uint8_t hdr[SSADDR_MAX_BYTES], *start;
	struct ssaddr src;
	int n;

	/* Full cone: any remote may answer; the header names who did. */
	if (ssaddr_from_sockaddr(g->from, &src) < 0)
		return false;
	if (a->v2022) {
		struct ss2022_udp_params pp = { .session_id = a->ssid, .packet_id = a->pkt_id++,
						.client_session_id = a->csid,
						.now = (uint64_t)time(NULL) };
		size_t alen = ssaddr_encode(&src, hdr);

		start = seal2022_start(cs->cipher.m2022, false, 0, alen, g);
		n = ss2022_udp_seal_server(cs->cipher.m2022, a->psk, &pp, hdr, alen, g->p, g->n, start,
					   BUF_UDP_BYTES - (size_t)(start - (g->p - UDP_HEADROOM)));
	} else {
		n = udp_seal_in_place(&cs->cipher, g, hdr, ssaddr_encode(&src, hdr), &start);
	}
	if (n < 0)
		return false;
	udp_assoc_touch(l, a);
	udp_send_from(l, g->bid, L->ep.fd, start, (size_t)n, (struct sockaddr *)&a->peer, NULL);
	return true;
}
