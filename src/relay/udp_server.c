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
#include "relay/users.h"
#include "udp_int.h"

/* The socket of a server association toward targets of this family. */
int udp_target_fd(struct loop *l, struct udp_assoc *a, int family)
{
	struct udp_ep *ep = &a->ep[family == AF_INET ? 0 : 1];

	if (ep->fd < 0)
		return udp_open_ep(l, ep, family, &((const struct config_server *)a->conf)->outbound);
	return ep->fd;
}

/* May the server of a send to dst (allow_private, the ACL)? */
static bool target_allowed(const struct udp_assoc *a, const struct sockaddr *dst)
{
	const struct config_server *cs = a->conf;

	return (cs->allow_private || !ssaddr_is_special(dst)) && !relay_acl_blocks_addr(cs, dst);
}

int udp_target_ok(struct loop *l, struct udp_assoc *a, size_t len, const struct sockaddr *dst)
{
	int fd;

	if (!target_allowed(a, dst))
		return -UDP_DROP_REFUSED;
	if (!udp_assoc_charge(l, a, true, len))
		return -UDP_DROP_LIMIT;
	fd = udp_target_fd(l, a, dst->sa_family);
	if (fd < 0)
		return -UDP_DROP_OTHER;
	udp_assoc_count(a, true, len);
	return fd;
}

/* Send a payload of a to dst if the server may reach it. */
static int send_target(struct loop *l, struct udp_assoc *a, uint16_t bid, const uint8_t *p,
		       size_t len, const struct sockaddr *dst)
{
	int fd = udp_target_ok(l, a, len, dst);

	if (fd < 0)
		return -fd;
	udp_send_from(l, bid, fd, p, len, dst, a);
	return UDP_KEPT;
}

int udp_pick_target(const struct udp_assoc *a, const struct dns_entry *e, uint16_t port,
		    union dns_addr *dst)
{
	for (int i = 0; i < e->n; i++) {
		*dst = e->addr[i];
		if (!target_allowed(a, &dst->sa))
			continue;
		sockaddr_set_port(&dst->sa, port);
		return 0;
	}
	return -EACCES;
}

/* Send a held datagram to the first acceptable address of e. */
static int send_resolved(struct loop *l, struct udp_assoc *a, const struct dns_entry *e,
			 uint16_t bid, uint8_t *p, size_t len, uint16_t port)
{
	union dns_addr dst;

	if (udp_pick_target(a, e, port, &dst) < 0)
		return UDP_DROP_REFUSED;
	return send_target(l, a, bid, p, len, &dst.sa);
}

static void drop_held(struct loop *l, uint16_t bid, int why)
{
	if (udp_of(l)) {
		udp_of(l)->st.dropped++;
		stats_worker_add(l->id, WC_DROP_TRUNCATED + (unsigned)why - 1, 1);
	}
	loop_buf_return(l, BG_UDP, bid);
}

/* The answer for a held datagram: send it, or drop it and free its buffer. */
static void target_resolved(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
			    int err)
{
	struct udp_assoc *a = udp_assoc_lookup(l, w->slot, w->gen);
	uint16_t bid = (uint16_t)w->arg[0], port = (uint16_t)(w->arg[0] >> 16);
	uint8_t *p = loop_buf_base(l, BG_UDP, bid) + w->arg[1];
	int v = UDP_DROP_REFUSED;

	if (!err && a && a->state == UDP_ST_LIVE)
		v = send_resolved(l, a, e, bid, p, w->arg[2], port);
	else if (!a || a->state != UDP_ST_LIVE)
		v = UDP_DROP_OTHER;
	if (v != UDP_KEPT)
		drop_held(l, bid, v);
}

/* A datagram for a name: send now from the cache, or hold it for the answer. */
static int resolve_target(struct loop *l, struct udp_assoc *a, const struct ssaddr *ta,
			  struct dgram *g, uint8_t *p, size_t len)
{
	uint8_t *base = loop_buf_base(l, BG_UDP, g->bid);
	/* The datagram waits in its buffer: which one, where and how long. */
	struct dns_waiter w = { .done = target_resolved, .slot = a->slot, .gen = a->gen,
				.arg = { g->bid | (uint32_t)ta->port << 16,
					 (uint32_t)(p - base), (uint32_t)len } };
	const struct dns_entry *e;
	int ret = udp_lookup_target(l, a, ta->u.domain.name, &w, &e);

	if (ret < 0)
		return -ret;
	if (ret == DNS_PENDING)
		return UDP_KEPT; /* the buffer waits with the query */
	return send_resolved(l, a, e, g->bid, p, len, ta->port);
}

int udp_lookup_target(struct loop *l, const struct udp_assoc *a, const char *name,
		      const struct dns_waiter *w, const struct dns_entry **e)
{
	int ret;

	if (!dns_name_ok(name))
		return -UDP_DROP_MALFORMED;
	if (relay_acl_blocks_name(a->conf, name))
		return -UDP_DROP_REFUSED;
	ret = dns_lookup(l, name, w, e);
	return ret < 0 ? -UDP_DROP_REFUSED : ret;
}

/* The target of a request: an address, or a name to look up first. */
static int to_target(struct loop *l, struct udp_assoc *a, const struct ssaddr *ta,
		     struct dgram *g, uint8_t *p, size_t len)
{
	struct sockaddr_storage dst;
	socklen_t dl;

	if (ssaddr_to_sockaddr(ta, &dst, &dl) < 0)
		return resolve_target(l, a, ta, g, p, len);
	return send_target(l, a, g->bid, p, len, (struct sockaddr *)&dst);
}

uint32_t udp_uid(const struct config_server *cs, int user)
{
	if (user < 0 || !cs->rt.uids || !cs->users || (size_t)user >= cs->users->n)
		return STATS_NONE;
	return cs->rt.uids[user];
}

/*
 * A packet of session a passed the session's window: record it, note its
 * user and where the client was last seen (replies go there: it may roam).
 * false if the packet ID was seen before or is too old.
 */
bool udp_accept2022(struct loop *l, struct udp_assoc *a, uint64_t pid, uint32_t uid,
		    const struct sockaddr *from, const uint8_t *psk)
{
	const struct config_server *cs = a->conf;
	int idx = uid == STATS_NONE ? -1 : users_index_of(cs, uid);

	if (!ss2022_window_check(a->win, pid))
		return false;
	if (!udp_assoc_set_user(l, a, uid, idx >= 0 ? &cs->users->u[idx] : NULL, from))
		return false;
	ss2022_window_update(a->win, pid);
	memcpy(&a->peer, from, sockaddr_len(from));
	a->peer_len = sockaddr_len(from);
	memcpy(a->psk, psk, ((const struct config_server *)a->conf)->cipher.m2022->key_len);
	udp_assoc_touch(l, a);
	return true;
}

int udp_server2022_from_client(struct loop *l, struct udp_listener *L, struct dgram *g)
{
	const struct config_server *cs = L->conf;
	struct ss2022_udp_packet pk;
	struct udp_assoc *a;

	/* Always under the current configuration: the packet names its session. */
	if (ss2022_udp_open_server(&cs->srv2022, (uint64_t)time(NULL), g->p, g->n, &pk) < 0) {
		udp_of(l)->st.bad++; /* silently */
		return UDP_DROP_AUTH;
	}
	a = udp_assoc_find2022(l, L, pk.session_id);
	if (!a && relay_owners()) {
		int w = udp_owners_get(relay_owners(), pk.session_id);

		/* The client roamed onto our socket: its session lives elsewhere. */
		if (w >= 0 && w != l->id) {
			if (udp_hand_over(l, w, L, &pk, g))
				udp_of(l)->st.handed_over++;
			return UDP_DROP_OTHER;
		}
	}
	if (!a)
		a = udp_assoc_2022(l, L, pk.session_id);
	if (!a)
		return UDP_DROP_OTHER;
	/* Its key authenticated under the current snapshot: the session follows. */
	udp_assoc_rebind(l, a, cs);
	if (!udp_accept2022(l, a, pk.packet_id, udp_uid(cs, pk.user), g->from, pk.psk)) {
		udp_of(l)->st.bad++;
		udp_of(l)->st.replays++;
		return UDP_DROP_AUTH;
	}
	return to_target(l, a, &pk.addr, g, pk.payload, pk.payload_len);
}

/* Where the sealed packet must start so that the payload stays in place. */
static uint8_t *seal2022_start(const struct ss2022_method *m, bool to_server, size_t n_eih,
			       size_t alen, struct dgram *g)
{
	return g->p - (ss2022_udp_size(m, to_server, n_eih, alen, 0, 0) - AEAD_TAG_BYTES);
}

/*
 * Open an AEAD-2017 packet with cs's key into pt. With keep, the ciphertext
 * survives a failure (a second key may be tried): it is opened out of place
 * and copied back only when it authenticates.
 */
static int open2017(const struct config_server *cs, struct dgram *g, uint8_t *pt, bool keep)
{
	static _Thread_local uint8_t scratch[65536];
	const struct aead_method *m = cs->cipher.method;
	int r;

	if (!keep)
		return aead_udp_open(m, cs->cipher.key, pt, g->p, g->n);
	if (g->n > sizeof(scratch))
		return -EINVAL;
	r = aead_udp_open(m, cs->cipher.key, scratch, g->p, g->n);
	if (r > 0)
		memcpy(pt, scratch, (size_t)r);
	return r;
}

/*
 * A client's plaintext at pt (len bytes): the address header, then the
 * payload for the target, on association a (made for the client if NULL).
 */
static int plain_to_target(struct loop *l, struct udp_listener *L, struct dgram *g,
			   struct udp_assoc *a, uint8_t *pt, size_t len)
{
	struct ssaddr ta;
	int k = ssaddr_parse(pt, len, &ta);

	if (k <= 0)
		return UDP_DROP_MALFORMED;
	if (!a)
		a = udp_assoc_by_addr(l, L, g->from);
	if (!a)
		return UDP_DROP_OTHER;
	udp_assoc_touch(l, a);
	return to_target(l, a, &ta, g, pt + k, len - (size_t)k);
}

/*
 * An AEAD-2017 server with users: an association opens its packets with its
 * user's key; a new one's first packet (or one its key no longer opens)
 * goes through trial decryption (users.h), and the association takes the
 * user it finds.
 */
static int from_client_users(struct loop *l, struct udp_listener *L, struct dgram *g,
			     struct udp_assoc *a)
{
	const struct config_server *cs = L->conf;
	const struct aead_method *m = cs->cipher.method;
	uint8_t *pt = g->p + m->salt_len;
	size_t plen = 0;
	int r = -1, idx;

	if (a && a->keyed && ((const struct config_server *)a->conf)->cipher.method == m) {
		static _Thread_local uint8_t scratch[65536];

		if (g->n <= sizeof(scratch) + m->salt_len) {
			r = aead_udp_open(m, a->psk, scratch, g->p, g->n);
			if (r >= 0)
				memcpy(pt, scratch, (size_t)r);
		}
	}
	if (r >= 0) {
		plen = (size_t)r;
	} else {
		if (!cs->users)
			goto auth;
		idx = users_identify_udp(l, cs, g->from, g->p, g->n, pt, &plen);
		if (idx < 0)
			goto auth;
		if (!a)
			a = udp_assoc_by_addr(l, L, g->from);
		if (!a)
			return UDP_DROP_OTHER;
		if (a->conf != cs)
			udp_assoc_rebind(l, a, cs);
		if (!udp_assoc_set_user(l, a, udp_uid(cs, idx), &cs->users->u[idx], g->from))
			return UDP_DROP_LIMIT;
		a->keyed = 1;
		memcpy(a->psk, cs->users->u[idx].key, m->key_len);
	}
	if (relay_replay() && replay_check_insert(relay_replay(), g->p, m->salt_len)) {
		udp_of(l)->st.replays++;
		goto auth;
	}
	return plain_to_target(l, L, g, a, pt, plen);
auth:
	udp_of(l)->st.bad++; /* silently: no reply, nothing a prober can see */
	return UDP_DROP_AUTH;
}

/*
 * Method none: the address header and the payload, as they are. Nothing
 * authenticates a packet, so an association on an older snapshot simply
 * follows the current one.
 */
static int from_client_none(struct loop *l, struct udp_listener *L, struct dgram *g,
			    struct udp_assoc *a)
{
	if (a && a->conf != L->conf)
		udp_assoc_rebind(l, a, L->conf);
	return plain_to_target(l, L, g, a, g->p, g->n);
}

int udp_server_from_client(struct loop *l, struct udp_listener *L, struct dgram *g)
{
	const struct config_server *cs = L->conf;
	struct udp_assoc *a = udp_assoc_find_addr(l, L, g->from);
	const struct config_server *first = a ? a->conf : cs;
	const struct aead_method *m;
	uint8_t *pt;
	bool second;
	int r;

	/* A new client the server's ACL refuses gets no association. */
	if (!a && relay_acl_refuses_client(cs, g->from))
		return UDP_DROP_REFUSED;
	if (cs->cipher.none)
		return from_client_none(l, L, g, a);
	if (cs->users || (a && a->keyed))
		return from_client_users(l, L, g, a);
	if (first->cipher.none) {
		/* A reload gave the server a key: the association keys with it. */
		udp_assoc_rebind(l, a, cs);
		first = cs;
	}
	m = first->cipher.method;
	pt = g->p + m->salt_len;
	second = a && a->conf != cs && !cs->cipher.m2022;
	/*
	 * An association opens its packets with the key it started with; after
	 * a reload changed it, a packet it cannot open is tried under the
	 * current configuration, and the association follows if that works (a
	 * re-keyed client on the same address is not dropped).
	 */
	r = open2017(first, g, pt, second);
	if (r < 0 && second) {
		m = cs->cipher.method;
		pt = g->p + m->salt_len;
		r = open2017(cs, g, pt, false);
		if (r >= 0)
			udp_assoc_rebind(l, a, cs);
	}
	if (r < 0) {
		udp_of(l)->st.bad++; /* silently: no reply, nothing a prober can see */
		return UDP_DROP_AUTH;
	}
	if (relay_replay() && replay_check_insert(relay_replay(), g->p, m->salt_len)) {
		udp_of(l)->st.bad++;
		udp_of(l)->st.replays++;
		return UDP_DROP_AUTH;
	}
	return plain_to_target(l, L, g, a, pt, (size_t)r);
}

/* Prepend hdr and seal in place; returns the packet start and size. */
int udp_seal_in_place(const struct aead_method *m, const uint8_t *key, struct dgram *g,
		      const uint8_t *hdr, size_t hlen, uint8_t **start)
{
	uint8_t *plain = g->p - hlen;

	memmove(plain, hdr, hlen);
	*start = plain;
	if (!m) /* method none: the header and the payload are the packet */
		return (int)(hlen + g->n);
	*start = plain - m->salt_len;
	return aead_udp_seal(m, key, *start, plain, hlen + g->n);
}

int udp_server_from_target(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	const struct config_server *cs = a->conf;
	uint8_t hdr[SSADDR_MAX_BYTES], *start;
	struct ssaddr src;
	size_t plen = g->n;
	int n;

	/* Full cone: any remote may answer; the header names who did. */
	if (ssaddr_from_sockaddr(g->from, &src) < 0)
		return UDP_DROP_MALFORMED;
	if (!udp_assoc_charge(l, a, false, plen))
		return UDP_DROP_LIMIT;
	if (a->v2022) {
		struct ss2022_udp_params pp = { .session_id = a->ssid, .packet_id = a->pkt_id++,
						.client_session_id = a->csid,
						.now = (uint64_t)time(NULL) };
		size_t alen = ssaddr_encode(&src, hdr);

		start = seal2022_start(cs->cipher.m2022, false, 0, alen, g);
		n = ss2022_udp_seal_server(cs->cipher.m2022, a->psk, &pp, hdr, alen, g->p, g->n, start,
					   BUF_UDP_BYTES - (size_t)(start - (g->p - UDP_HEADROOM)));
	} else {
		n = udp_seal_in_place(cs->cipher.method, a->keyed ? a->psk : cs->cipher.key, g, hdr,
				      ssaddr_encode(&src, hdr), &start);
	}
	if (n < 0)
		return UDP_DROP_OTHER;
	udp_assoc_touch(l, a);
	udp_assoc_count(a, false, plen);
	udp_send_from(l, g->bid, a->L->ep.fd, start, (size_t)n, (struct sockaddr *)&a->peer, NULL);
	return UDP_KEPT;
}
