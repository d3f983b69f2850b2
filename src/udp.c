/* SPDX-License-Identifier: MIT */
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aead.h"
#include "dns.h"
#include "log.h"
#include "replay.h"
#include "udp_owner.h"
#include "session.h"
#include "socks5.h"

#define UDP_NONE UINT32_MAX
#define UDP_BUFS 64
/* Associations being torn down still hold a slot until their last CQE. */
#define UDP_POOL_SLACK 256

/*
 * Datagrams for one destination that complete in the same loop turn go out
 * as one sendmsg with UDP_SEGMENT (GSO): the kernel builds and routes one
 * buffer and cuts it into datagrams, instead of a full send per datagram.
 * Each datagram stays in its receive buffer (one iovec each); all but the
 * last must have the same length. At most UDP_GSO_MAX datagrams and
 * UDP_GSO_BYTES per send.
 */
#define UDP_GSO_MAX 32
#define UDP_RCVBUF (4 << 20)
#define UDP_GSO_BYTES 65000
/* Only datagrams that fit an Ethernet frame are batched: the kernel refuses
 * (EINVAL) a segment size over the route's MTU, while a lone datagram would
 * just be fragmented. */
#define UDP_GSO_SEG_MAX4 1472
#define UDP_GSO_SEG_MAX6 1452
/* A GSO send that fails is redone datagram by datagram; after this many
 * such failures the worker stops batching. */
#define UDP_GSO_STRIKES 16

struct udp_tx {
	struct msghdr msg;
	struct iovec iov[UDP_GSO_MAX];
	struct sockaddr_storage dst;
	uint32_t assoc_slot;
	uint32_t assoc_gen;
	int fd;
	uint32_t seg;           /* length of every datagram but the last */
	uint32_t total;
	uint16_t bids[UDP_GSO_MAX]; /* bids[0] is this entry's own buffer */
	uint8_t n;
	uint8_t sealed;         /* a shorter datagram ended the batch */
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} cm;
};

static bool udp_wanted(const struct config *c)
{
	for (size_t i = 0; i < c->n_servers; i++)
		if (c->servers[i].udp)
			return true;
	for (size_t i = 0; i < c->n_locals; i++)
		if (c->locals[i].udp)
			return true;
	for (size_t i = 0; i < c->n_tunnels; i++)
		if (c->tunnels[i].udp)
			return true;
	return false;
}

static uint32_t per_loop_limit(const struct loop *l)
{
	uint32_t w = (uint32_t)l->cfg->workers;

	return (l->cfg->limits.udp_associations + w - 1) / w;
}

/* ---- addresses ---------------------------------------------------------------- */

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b, bool port)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_addr.s_addr == y->sin_addr.s_addr &&
		       (!port || x->sin_port == y->sin_port);
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
		       (!port || x->sin6_port == y->sin6_port);
	}
	return false;
}

static uint16_t port_of(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
}

static uint32_t hash_addr(uint32_t lst, const struct sockaddr *sa)
{
	const uint8_t *p;
	size_t n;
	uint32_t h = 2166136261u ^ lst;

	if (sa->sa_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		n = 4;
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	h = (h ^ port_of(sa)) * 16777619u;
	return h ^ (h >> 15);
}

static socklen_t sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* ---- associations ----------------------------------------------------------- */

static struct udp_assoc *assoc_at(struct loop *l, uint32_t slot)
{
	return pool_at(&l->udp->assocs, slot);
}

static struct udp_assoc *assoc_lookup_gen(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct udp_assoc *a;

	if (slot >= l->udp->assocs.next_new)
		return NULL;
	a = assoc_at(l, slot);
	return a->gen == gen ? a : NULL;
}

uint32_t udp_assoc_gen(struct loop *l, uint32_t slot)
{
	return assoc_at(l, slot)->gen;
}

struct udp_assoc *udp_timer_owner(struct loop *l, struct timer *t)
{
	struct pool *p;
	char *c = (char *)t;

	if (!l->udp)
		return NULL;
	p = &l->udp->assocs;
	if (c < (char *)p->base || c >= (char *)p->base + (size_t)p->cap * p->obj_size)
		return NULL;
	return (struct udp_assoc *)(c - offsetof(struct udp_assoc, timer));
}

static uint32_t hash_sid(uint32_t lst, uint64_t sid)
{
	uint64_t h = (sid ^ lst) * 0x9E3779B97F4A7C15ull;

	return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

static uint32_t hash_of(const struct udp_assoc *a)
{
	return a->v2022 && a->role == ROLE_SERVER ? hash_sid(a->lst, a->csid)
						 : hash_addr(a->lst, (const struct sockaddr *)&a->peer);
}

static void hash_remove(struct loop *l, struct udp_assoc *a)
{
	struct udp_state *u = l->udp;
	uint32_t *pp = &u->hash[hash_of(a) & u->hash_mask];

	while (*pp != UDP_NONE) {
		if (*pp == a->slot) {
			*pp = a->hnext;
			u->n_hashed--;
			return;
		}
		pp = &assoc_at(l, *pp)->hnext;
	}
}

static void maybe_free(struct loop *l, struct udp_assoc *a)
{
	if (!(a->gen & 1) || a->state != UDP_ST_CLOSING || a->inflight)
		return;
	for (int i = 0; i < 2; i++) {
		if (a->ep[i].fd >= 0)
			close(a->ep[i].fd);
		a->ep[i].fd = -1;
	}
	a->gen++;
	pool_free(&l->udp->assocs, a->slot);
}

static void assoc_close(struct loop *l, struct udp_assoc *a, const char *why)
{
	if (a->state == UDP_ST_CLOSING)
		return;
	log_debug("udp association %u: closing (%s)", a->slot, why);
	a->state = UDP_ST_CLOSING;
	if (a->role != ROLE_LOCAL) {
		hash_remove(l, a);
		list_del(&a->lru);
	}
	if (a->v2022 && a->role == ROLE_SERVER && l->owners)
		udp_owners_del(l->owners, a->csid, l->id);
	timer_cancel(&a->timer);
	for (int i = 0; i < 2; i++) {
		struct udp_ep *ep = &a->ep[i];

		if (ep->waiting) {
			list_del(&ep->wait_node);
			ep->waiting = 0;
		}
		if (ep->fd >= 0 && a->inflight) {
			struct io_uring_sqe *sqe = loop_sqe(l);

			/* Receives and sends on this fd end with -ECANCELED. */
			io_uring_prep_cancel_fd(sqe, ep->fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, ud_pack(OP_UDP_CANCEL, a->slot, a->gen));
			a->inflight++;
		}
	}
	maybe_free(l, a);
}

static struct udp_assoc *assoc_alloc(struct loop *l, enum role role)
{
	struct udp_state *u = l->udp;
	uint32_t idx, gen;
	struct udp_assoc *a;

	if (role != ROLE_LOCAL && u->n_hashed >= per_loop_limit(l) && !list_empty(&u->lru)) {
		/* Full: the least recently used association makes room. */
		u->st.evicted++;
		assoc_close(l, list_entry(u->lru.next, struct udp_assoc, lru), "evicted (table full)");
	}
	idx = pool_alloc(&u->assocs);
	if (idx == POOL_NONE)
		return NULL;
	a = assoc_at(l, idx);
	gen = a->gen + 1;
	memset(a, 0, sizeof(*a));
	a->gen = gen;
	a->slot = idx;
	a->role = role;
	a->hnext = UDP_NONE;
	for (int i = 0; i < 2; i++) {
		a->ep[i].fd = -1;
		a->ep[i].kind = (uint8_t)(UDP_EP_ASSOC_A + i);
		a->ep[i].owner = idx;
		list_init(&a->ep[i].wait_node);
	}
	timer_init(&a->timer);
	list_init(&a->lru);
	u->st.created++;
	return a;
}

static void assoc_touch(struct loop *l, struct udp_assoc *a)
{
	if (a->role == ROLE_LOCAL) {
		struct session *s = session_lookup(l, a->sess_slot, a->sess_gen);

		/* Datagrams keep the SOCKS5 control connection alive. */
		if (s)
			timer_arm(&l->wheel, &s->timer,
				  l->now_ms + (uint64_t)l->cfg->timeouts.tcp_idle * 1000);
		return;
	}
	list_del(&a->lru);
	list_add_tail(&l->udp->lru, &a->lru);
	timer_arm(&l->wheel, &a->timer, l->now_ms + (uint64_t)l->cfg->timeouts.udp_idle * 1000);
}

void udp_timeout(struct loop *l, struct udp_assoc *a)
{
	assoc_close(l, a, "idle");
}

/* ---- endpoints -------------------------------------------------------------- */

static void arm_ep(struct loop *l, struct udp_ep *ep)
{
	struct io_uring_sqe *sqe;
	struct udp_assoc *a = NULL;
	uint64_t ud;

	if (ep->armed || ep->waiting || ep->fd < 0 || l->stopping)
		return;
	if (ep->kind == UDP_EP_LISTENER) {
		ud = ud_pack(OP_UDP_RECV_LST, ep->owner, 0);
	} else {
		a = assoc_at(l, ep->owner);
		if (a->state != UDP_ST_LIVE)
			return;
		ud = ud_pack(ep->kind == UDP_EP_ASSOC_A ? OP_UDP_RECV_A : OP_UDP_RECV_B, a->slot,
			     a->gen);
		a->inflight++;
	}
	sqe = loop_sqe(l);
	/* Multishot: one SQE yields a CQE per datagram, each in a buffer the
	 * kernel picks from BG_UDP; it ends (no F_MORE) on error or ENOBUFS. */
	io_uring_prep_recvmsg_multishot(sqe, ep->fd, &l->udp->rx_msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BG_UDP;
	io_uring_sqe_set_data64(sqe, ud);
	ep->armed = 1;
}

void udp_retry_waiters(struct loop *l)
{
	struct udp_state *u = l->udp;
	struct list todo;

	list_init(&todo);
	while (!list_empty(&u->waiters)) {
		struct list *n = u->waiters.next;

		list_del(n);
		list_add_tail(&todo, n);
	}
	while (!list_empty(&todo)) {
		struct udp_ep *ep = list_entry(todo.next, struct udp_ep, wait_node);

		list_del(&ep->wait_node);
		ep->waiting = 0;
		arm_ep(l, ep);
	}
}

static int open_udp(int family, const struct sockaddr *bind_to, bool reuseport)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	int rcvbuf = UDP_RCVBUF;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* A relay is a queue between two bursty peers: a receive queue of a few
	 * MiB rides out the moments the worker is not scheduled (the default
	 * ~200 KiB holds ~150 full-size datagrams). The kernel caps it at
	 * net.core.rmem_max; memory is only used while datagrams wait. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind_to && bind(fd, bind_to, sa_len(bind_to)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* ---- sending ---------------------------------------------------------------- */

static void submit_tx(struct loop *l, uint16_t bid)
{
	struct udp_tx *tx = &l->udp->tx[bid];
	struct io_uring_sqe *sqe = loop_sqe(l);

	memset(&tx->msg, 0, sizeof(tx->msg));
	tx->msg.msg_name = &tx->dst;
	tx->msg.msg_namelen = sa_len((struct sockaddr *)&tx->dst);
	tx->msg.msg_iov = tx->iov;
	tx->msg.msg_iovlen = tx->n;
	if (tx->n > 1) {
		struct cmsghdr *cm = &tx->cm.align;
		uint16_t seg = (uint16_t)tx->seg;

		tx->msg.msg_control = tx->cm.buf;
		tx->msg.msg_controllen = sizeof(tx->cm.buf);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	}
	/* Tests force the fallback path: the batch fails (EBADF) unsent. */
	io_uring_prep_sendmsg(sqe, l->udp->gso_test_fail && tx->n > 1 ? -1 : tx->fd, &tx->msg, 0);
	io_uring_sqe_set_data64(sqe, ud_pack(OP_UDP_SEND, bid, 0));
}

void udp_flush(struct loop *l)
{
	struct udp_state *u = l->udp;

	if (u && u->open != UDP_NONE) {
		submit_tx(l, (uint16_t)u->open);
		u->open = UDP_NONE;
	}
}

static bool joins(const struct udp_state *u, const struct udp_tx *b, int fd, size_t len,
		  const struct sockaddr *dst, const struct udp_assoc *a)
{
	return b->fd == fd && !b->sealed && b->n < UDP_GSO_MAX && len <= b->seg &&
	       b->total + len <= UDP_GSO_BYTES && u->gso_strikes < UDP_GSO_STRIKES &&
	       b->assoc_slot == (a ? a->slot : UDP_NONE) && b->assoc_gen == (a ? a->gen : 0) &&
	       same_addr(dst, (const struct sockaddr *)&b->dst, true);
}

/* Send len bytes at p (inside UDP buffer bid) to dst; the buffer returns to
 * the ring when the send completes. a: the association owning fd, if any.
 * The send may be batched with others of this loop turn (udp_flush). */
static void send_from(struct loop *l, uint16_t bid, int fd, const void *p, size_t len,
		      const struct sockaddr *dst, struct udp_assoc *a)
{
	struct udp_state *u = l->udp;
	struct udp_tx *tx;

	if (u->open != UDP_NONE) {
		struct udp_tx *b = &u->tx[u->open];

		if (joins(u, b, fd, len, dst, a)) {
			b->iov[b->n].iov_base = (void *)p;
			b->iov[b->n].iov_len = len;
			b->bids[b->n++] = bid;
			b->total += (uint32_t)len;
			b->sealed = len < b->seg;
			return;
		}
		udp_flush(l);
	}
	tx = &u->tx[bid];
	memcpy(&tx->dst, dst, sa_len(dst));
	tx->iov[0].iov_base = (void *)p;
	tx->iov[0].iov_len = len;
	tx->bids[0] = bid;
	tx->n = 1;
	tx->fd = fd;
	tx->seg = tx->total = (uint32_t)len;
	/* Too big to be a segment: this send takes no company. */
	tx->sealed = len > (dst->sa_family == AF_INET6 ? UDP_GSO_SEG_MAX6 : UDP_GSO_SEG_MAX4);
	tx->assoc_slot = a ? a->slot : UDP_NONE;
	tx->assoc_gen = a ? a->gen : 0;
	if (a)
		a->inflight++;
	u->open = bid;
}

/* A GSO batch failed (a device or path that cannot segment, a datagram over
 * the path MTU): send its datagrams one by one. */
static void resend_alone(struct loop *l, struct udp_tx *b, struct udp_assoc *a)
{
	struct udp_tx copy = *b;

	udp_flush(l);
	for (unsigned i = 0; i < copy.n; i++) {
		struct udp_tx *tx = &l->udp->tx[copy.bids[i]];

		memcpy(&tx->dst, &copy.dst, sizeof(copy.dst));
		tx->iov[0] = copy.iov[i];
		tx->bids[0] = copy.bids[i];
		tx->n = 1;
		tx->fd = copy.fd;
		tx->seg = tx->total = (uint32_t)copy.iov[i].iov_len;
		tx->assoc_slot = a ? a->slot : UDP_NONE;
		tx->assoc_gen = a ? a->gen : 0;
		if (a)
			a->inflight++;
		submit_tx(l, copy.bids[i]);
	}
}

static void handle_send(struct loop *l, uint16_t bid, int res)
{
	struct udp_state *u = l->udp;
	struct udp_tx *tx = &u->tx[bid];
	uint32_t aslot = tx->assoc_slot, agen = tx->assoc_gen;
	/* The owner must still be there: its fd is only open while it is. */
	struct udp_assoc *a = aslot != UDP_NONE ? assoc_lookup_gen(l, aslot, agen) : NULL;

	tx->assoc_slot = UDP_NONE;
	if (res < 0 && tx->n > 1 && res != -ECANCELED && !l->stopping &&
	    (a || aslot == UDP_NONE)) {
		if (++u->gso_strikes == UDP_GSO_STRIKES)
			log_warn("udp: GSO sends keep failing (%s): sending datagrams one by one",
				 strerror(-res));
		u->st.gso_retried += tx->n;
		resend_alone(l, tx, a);
	} else {
		if (res >= 0)
			u->st.out += tx->n;
		else if (res != -ECANCELED)
			log_debug("udp send: %s", strerror(-res));
		for (unsigned i = 0; i < tx->n; i++)
			loop_buf_return(l, BG_UDP, tx->bids[i]);
		if (tx->n > 1)
			u->st.gso_batches++;
	}
	if (a) {
		a->inflight--;
		maybe_free(l, a);
	}
}

/* ---- per-role datagram handlers --------------------------------------------- */

struct dgram {
	uint16_t bid;
	const struct sockaddr *from;
	uint8_t *p;   /* payload; UDP_HEADROOM writable bytes before it */
	size_t n;
};

static struct udp_assoc *server_assoc(struct loop *l, uint32_t li, const struct sockaddr *from)
{
	struct udp_state *u = l->udp;
	uint32_t h = hash_addr(li, from) & u->hash_mask, i;
	struct udp_assoc *a;

	for (i = u->hash[h]; i != UDP_NONE; i = a->hnext) {
		a = assoc_at(l, i);
		if (a->lst == li && !(a->v2022 && a->role == ROLE_SERVER) &&
		    same_addr((struct sockaddr *)&a->peer, from, true))
			return a;
	}
	a = assoc_alloc(l, u->lst[li].role);
	if (!a)
		return NULL;
	a->lst = li;
	memcpy(&a->peer, from, sa_len(from));
	a->peer_len = sa_len(from);
	a->hnext = u->hash[h];
	u->hash[h] = a->slot;
	u->n_hashed++;
	list_add_tail(&u->lru, &a->lru);
	return a;
}

/* The socket of a server association toward targets of this family. */
static int target_fd(struct loop *l, struct udp_assoc *a, int family)
{
	struct udp_ep *ep = &a->ep[family == AF_INET ? 0 : 1];

	if (ep->fd < 0) {
		ep->fd = open_udp(family, NULL, false);
		if (ep->fd < 0)
			return ep->fd;
		arm_ep(l, ep);
	}
	return ep->fd;
}

/* Send a held datagram to the first acceptable address of e. */
static bool send_resolved(struct loop *l, struct udp_assoc *a, const struct dns_entry *e,
			  uint16_t bid, uint8_t *p, size_t len, uint16_t port)
{
	const struct config_server *cs = l->udp->lst[a->lst].conf;

	for (int i = 0; i < e->n; i++) {
		union dns_addr dst = e->addr[i];
		int fd;

		if (!cs->allow_private && ssaddr_is_special(&dst.sa))
			continue;
		if (dst.sa.sa_family == AF_INET)
			dst.v4.sin_port = htons(port);
		else
			dst.v6.sin6_port = htons(port);
		fd = target_fd(l, a, dst.sa.sa_family);
		if (fd < 0)
			return false;
		send_from(l, bid, fd, p, len, &dst.sa, a);
		return true;
	}
	return false;
}

/* A datagram for a name: send now from the cache, or hold it for the answer. */
static bool resolve_target(struct loop *l, struct udp_assoc *a, const struct ssaddr *ta,
			   struct dgram *g, uint8_t *p, size_t len)
{
	uint8_t *base = l->bufs[BG_UDP].mem + (size_t)g->bid * l->bufs[BG_UDP].buf_bytes;
	struct dns_waiter w = { .kind = DNS_W_UDP, .slot = a->slot, .gen = a->gen,
				.bid = g->bid, .port = ta->port,
				.off = (uint32_t)(p - base), .len = (uint32_t)len };
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

/* The ss server's address is known: open the socket toward it. */
static int server_known(struct loop *l, struct udp_assoc *a, const struct sockaddr *sa,
			uint16_t port)
{
	memcpy(&a->server, sa, sa_len(sa));
	a->server_len = sa_len(sa);
	if (a->server.ss_family == AF_INET)
		((struct sockaddr_in *)&a->server)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->server)->sin6_port = htons(port);
	a->ep[0].fd = open_udp(a->server.ss_family, NULL, false);
	if (a->ep[0].fd < 0)
		return a->ep[0].fd;
	arm_ep(l, &a->ep[0]);
	return 0;
}

/*
 * Local/tunnel: point the association at the ss server. A host name is
 * looked up through the cache; until the answer comes, the client's
 * datagrams are dropped (counted). 0 or -errno.
 */
static int server_setup(struct loop *l, struct udp_assoc *a, const struct hostport *hp)
{
	struct dns_waiter w = { .kind = DNS_W_UDP, .slot = a->slot, .gen = a->gen,
				.bid = BID_NONE, .port = hp->port };
	const struct dns_entry *e;
	int ret;

	if (hp->is_ip)
		return server_known(l, a, (const struct sockaddr *)&hp->addr, hp->port);
	if (!dns_name_ok(hp->host))
		return -EINVAL;
	ret = dns_lookup(l, hp->host, &w, &e);
	if (ret == DNS_PENDING)
		return 0;
	if (ret < 0)
		return ret;
	return server_known(l, a, &e->addr[0].sa, hp->port);
}

void udp_dns_done(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e, int err)
{
	struct udp_assoc *a = l->udp ? assoc_lookup_gen(l, w->slot, w->gen) : NULL;
	uint8_t *base = l->bufs[BG_UDP].mem + (size_t)w->bid * l->bufs[BG_UDP].buf_bytes;

	if (w->bid == BID_NONE) {
		/* An association waited for its ss server's address. */
		if (!a || a->state != UDP_ST_LIVE)
			return;
		if (err || server_known(l, a, &e->addr[0].sa, w->port) < 0)
			log_warn("udp association %u: cannot resolve the ss server: %s", a->slot,
				 err ? strerror(-err) : "no socket");
		return;
	}

	if (err || !a || a->state != UDP_ST_LIVE ||
	    !send_resolved(l, a, e, w->bid, base + w->off, w->len, w->port)) {
		if (l->udp)
			l->udp->st.dropped++;
		loop_buf_return(l, BG_UDP, w->bid);
	}
}

static uint64_t random_sid(void)
{
	uint64_t v = 0;

	while (v == 0)
		if (aead_random((uint8_t *)&v, sizeof(v)))
			return 1;
	return v;
}

/* A 2022 session: keyed by the client's session ID, not its address. */
static struct udp_assoc *find2022(struct loop *l, uint32_t li, uint64_t csid)
{
	struct udp_state *u = l->udp;
	uint32_t i = u->hash[hash_sid(li, csid) & u->hash_mask];
	struct udp_assoc *a;

	for (; i != UDP_NONE; i = a->hnext) {
		a = assoc_at(l, i);
		if (a->lst == li && a->v2022 && a->role == ROLE_SERVER && a->csid == csid)
			return a;
	}
	return NULL;
}

static struct udp_assoc *session2022(struct loop *l, uint32_t li, uint64_t csid)
{
	struct udp_state *u = l->udp;
	uint32_t h = hash_sid(li, csid) & u->hash_mask;
	struct udp_assoc *a = find2022(l, li, csid);

	if (a)
		return a;
	a = assoc_alloc(l, ROLE_SERVER);
	if (!a)
		return NULL;
	a->lst = li;
	a->v2022 = 1;
	a->csid = csid;
	a->ssid = random_sid(); /* ours, never the client's (SIP022) */
	ss2022_window_init(&a->win);
	if (l->owners)
		udp_owners_set(l->owners, csid, l->id);
	a->hnext = u->hash[h];
	u->hash[h] = a->slot;
	u->n_hashed++;
	list_add_tail(&u->lru, &a->lru);
	return a;
}

/* An opened 2022 packet handed from one worker to the session's owner. */
struct xfer {
	uint32_t li;
	int user;
	uint64_t sid, pid;
	const uint8_t *psk;
	struct ssaddr addr;
	struct sockaddr_storage from;
	size_t len;
	uint8_t data[];
};

#define XFER_PTR_MASK ((1ull << 56) - 1)

static bool hand_over(struct loop *l, int w, uint32_t li, const struct ss2022_udp_packet *pk,
		      const struct dgram *g)
{
	int fd = atomic_load(&l->ring_fds[w]);
	struct xfer *x;
	struct io_uring_sqe *sqe;

	if (fd < 0 || !(x = malloc(sizeof(*x) + pk->payload_len)))
		return false;
	x->li = li;
	x->user = pk->user;
	x->sid = pk->session_id;
	x->pid = pk->packet_id;
	x->psk = pk->psk;
	x->addr = pk->addr;
	memcpy(&x->from, g->from, sa_len(g->from));
	x->len = pk->payload_len;
	memcpy(x->data, pk->payload, pk->payload_len);
	sqe = loop_sqe(l);
	/* The target's CQE carries the pointer under OP_UDP_XFER; ours comes
	 * back only to free it if the message could not be posted. */
	io_uring_prep_msg_ring(sqe, fd, 0, (uint64_t)OP_UDP_XFER << 56 | (uintptr_t)x, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)OP_UDP_XFER_SRC << 56 | (uintptr_t)x);
	return true;
}

/*
 * A packet of session a passed the session's window: record it, count its
 * user's bytes, and note where the client was last seen (replies go there:
 * it may roam). false if the packet ID was seen before or is too old.
 */
static bool accept2022(struct loop *l, struct udp_assoc *a, uint64_t pid, int user, size_t len,
		       const struct sockaddr *from, const uint8_t *psk)
{
	if (!ss2022_window_check(&a->win, pid))
		return false;
	ss2022_window_update(&a->win, pid);
	if (user >= 0 && user < 64)
		l->user_bytes[user] += len;
	memcpy(&a->peer, from, sa_len(from));
	a->peer_len = sa_len(from);
	a->psk = psk;
	assoc_touch(l, a);
	return true;
}

/* The owner's side of a hand-over: the packet was opened by the sender. */
static void take_over(struct loop *l, struct xfer *x)
{
	const struct config_server *cs = l->udp->lst[x->li].conf;
	struct sockaddr_storage dst;
	struct udp_assoc *a = session2022(l, x->li, x->sid);
	socklen_t dl;
	int fd;

	if (!a || !accept2022(l, a, x->pid, x->user, x->len, (struct sockaddr *)&x->from,
			      x->psk)) {
		l->udp->st.dropped++;
		return;
	}
	if (ssaddr_to_sockaddr(&x->addr, &dst, &dl) < 0 ||
	    (!cs->allow_private && ssaddr_is_special((struct sockaddr *)&dst)) ||
	    (fd = target_fd(l, a, dst.ss_family)) < 0) {
		l->udp->st.dropped++;
		return;
	}
	/* A non-blocking datagram send: the payload lives in x, not in a ring buffer. */
	if (sendto(fd, x->data, x->len, MSG_DONTWAIT, (struct sockaddr *)&dst, dl) >= 0)
		l->udp->st.out++;
}

static bool server2022_from_client(struct loop *l, uint32_t li, struct dgram *g)
{
	const struct config_server *cs = l->udp->lst[li].conf;
	struct ss2022_udp_packet pk;
	struct sockaddr_storage dst;
	struct udp_assoc *a;
	socklen_t dl;
	int fd;

	if (ss2022_udp_open_server(&cs->srv2022, (uint64_t)time(NULL), g->p, g->n, &pk) < 0) {
		l->udp->st.bad++; /* silently */
		return false;
	}
	a = find2022(l, li, pk.session_id);
	if (!a && l->owners) {
		int w = udp_owners_get(l->owners, pk.session_id);

		/* The client roamed onto our socket: its session lives elsewhere. */
		if (w >= 0 && w != l->id) {
			if (hand_over(l, w, li, &pk, g))
				l->udp->st.handed_over++;
			return false;
		}
	}
	if (!a)
		a = session2022(l, li, pk.session_id);
	if (!a)
		return false;
	if (!accept2022(l, a, pk.packet_id, pk.user, pk.payload_len, g->from, pk.psk)) {
		l->udp->st.bad++;
		l->st.replays++;
		return false;
	}
	if (ssaddr_to_sockaddr(&pk.addr, &dst, &dl) < 0)
		return resolve_target(l, a, &pk.addr, g, pk.payload, pk.payload_len);
	if (!cs->allow_private && ssaddr_is_special((struct sockaddr *)&dst))
		return false;
	fd = target_fd(l, a, dst.ss_family);
	if (fd < 0)
		return false;
	send_from(l, g->bid, fd, pk.payload, pk.payload_len, (struct sockaddr *)&dst, a);
	return true;
}

/* Where the sealed packet must start so that the payload stays in place. */
static uint8_t *seal2022_start(const struct ss2022_method *m, bool to_server, size_t n_eih,
			       size_t alen, struct dgram *g)
{
	return g->p - (ss2022_udp_size(m, to_server, n_eih, alen, 0, 0) - AEAD_TAG_BYTES);
}

static bool server_from_client(struct loop *l, uint32_t li, struct dgram *g)
{
	const struct config_server *cs = l->udp->lst[li].conf;
	const struct aead_method *m = cs->cipher.method;
	struct sockaddr_storage dst;
	struct udp_assoc *a;
	struct ssaddr ta;
	socklen_t dl;
	uint8_t *pt = g->p + m->salt_len;
	int r = aead_udp_open(m, cs->cipher.key, pt, g->p, g->n), k, fd;

	if (r < 0) {
		l->udp->st.bad++; /* silently: no reply, nothing a prober can see */
		return false;
	}
	if (l->replay && replay_check_insert(l->replay, g->p, m->salt_len)) {
		l->udp->st.bad++;
		l->st.replays++;
		return false;
	}
	k = ssaddr_parse(pt, (size_t)r, &ta);
	if (k <= 0)
		return false;
	a = server_assoc(l, li, g->from);
	if (!a)
		return false;
	assoc_touch(l, a);
	if (ssaddr_to_sockaddr(&ta, &dst, &dl) < 0)
		return resolve_target(l, a, &ta, g, pt + k, (size_t)r - (size_t)k);
	if (!cs->allow_private && ssaddr_is_special((struct sockaddr *)&dst))
		return false;
	fd = target_fd(l, a, dst.ss_family);
	if (fd < 0)
		return false;
	send_from(l, g->bid, fd, pt + k, (size_t)r - (size_t)k, (struct sockaddr *)&dst, a);
	return true;
}

/* Prepend hdr and seal in place; returns the packet start and size. */
static int seal_in_place(const struct config_cipher *c, struct dgram *g, const uint8_t *hdr,
			 size_t hlen, uint8_t **start)
{
	uint8_t *plain = g->p - hlen;

	memmove(plain, hdr, hlen);
	*start = plain - c->method->salt_len;
	return aead_udp_seal(c->method, c->key, *start, plain, hlen + g->n);
}

static bool server_from_target(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	struct udp_listener *L = &l->udp->lst[a->lst];
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
		n = seal_in_place(&cs->cipher, g, hdr, ssaddr_encode(&src, hdr), &start);
	}
	if (n < 0)
		return false;
	assoc_touch(l, a);
	send_from(l, g->bid, L->ep.fd, start, (size_t)n, (struct sockaddr *)&a->peer, NULL);
	return true;
}

static void client2022_init(struct udp_assoc *a)
{
	if (!a->cipher->m2022)
		return;
	a->v2022 = 1;
	a->csid = random_sid();
	ss2022_window_init(&a->win);
}

/* Client side, 2022: seal addr + payload (in place) as a client packet. */
static int seal2022_client(struct udp_assoc *a, struct dgram *g, const uint8_t *addr,
			   size_t alen, uint8_t *payload, size_t plen, uint8_t **start)
{
	const struct ss2022_method *m = a->cipher->m2022;
	const struct ss2022_keys *k = &a->cipher->keys2022;
	struct ss2022_udp_params pp = { .session_id = a->csid, .packet_id = a->pkt_id++,
					.now = (uint64_t)time(NULL), .padding_len = plen ? 0 : 1 };
	uint8_t hdr[SSADDR_MAX_BYTES];
	uint8_t *base = g->p - UDP_HEADROOM;

	memcpy(hdr, addr, alen); /* it may lie where the headers are written */
	*start = payload - (ss2022_udp_size(m, true, k->n_ipsk, alen, pp.padding_len, 0) -
			    AEAD_TAG_BYTES);
	if (*start < base)
		return -ENOSPC;
	return ss2022_udp_seal_client(m, k, &pp, hdr, alen, payload, plen, *start,
				      BUF_UDP_BYTES - (size_t)(*start - base));
}

static bool tunnel_from_client(struct loop *l, uint32_t li, struct dgram *g)
{
	struct udp_listener *L = &l->udp->lst[li];
	const struct config_tunnel *tc = L->conf;
	struct udp_assoc *a = server_assoc(l, li, g->from);
	uint8_t *start;
	int n;

	if (!a)
		return false;
	if (!a->cipher) {
		/* New association: key it and find the server. */
		a->cipher = &tc->cipher;
		client2022_init(a);
		if (server_setup(l, a, &tc->server) < 0) {
			assoc_close(l, a, "cannot reach the ss server");
			return false;
		}
	}
	if (a->ep[0].fd < 0)
		return false; /* the server's name is still being looked up */
	assoc_touch(l, a);
	if (a->v2022)
		n = seal2022_client(a, g, L->fwd_hdr, L->fwd_len, g->p, g->n, &start);
	else
		n = seal_in_place(&tc->cipher, g, L->fwd_hdr, L->fwd_len, &start);
	if (n < 0)
		return false;
	send_from(l, g->bid, a->ep[0].fd, start, (size_t)n, (struct sockaddr *)&a->server, a);
	return true;
}

static bool from_server2022(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	struct ss2022_udp_packet pk;
	uint8_t hdr[SSADDR_MAX_BYTES];
	size_t alen;

	if (ss2022_udp_open_client(a->cipher->m2022, a->cipher->keys2022.psk, a->csid,
				   (uint64_t)time(NULL), g->p, g->n, &pk) < 0) {
		l->udp->st.bad++;
		return false;
	}
	if (pk.session_id != a->ssid) {
		/* A new server session (e.g. the server restarted): new window. */
		a->ssid = pk.session_id;
		ss2022_window_init(&a->win);
	}
	if (!ss2022_window_check(&a->win, pk.packet_id)) {
		l->udp->st.bad++;
		return false;
	}
	ss2022_window_update(&a->win, pk.packet_id);
	assoc_touch(l, a);
	if (a->role == ROLE_TUNNEL) {
		send_from(l, g->bid, l->udp->lst[a->lst].ep.fd, pk.payload, pk.payload_len,
			  (struct sockaddr *)&a->peer, NULL);
		return true;
	}
	if (!a->peer_len)
		return false;
	/* SOCKS5: RSV RSV FRAG | source address | data, in front of the payload. */
	alen = ssaddr_encode(&pk.addr, hdr);
	memcpy(pk.payload - alen, hdr, alen);
	memset(pk.payload - alen - 3, 0, 3);
	send_from(l, g->bid, a->ep[1].fd, pk.payload - alen - 3, pk.payload_len + alen + 3,
		  (struct sockaddr *)&a->peer, a);
	return true;
}

/* A packet from the ss server to a local or tunnel association. */
static bool from_server(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	const struct aead_method *m = a->cipher->method;
	uint8_t *pt = g->p + m->salt_len;
	struct ssaddr src;
	int r, k;

	if (!same_addr(g->from, (struct sockaddr *)&a->server, true))
		return false;
	if (a->v2022)
		return from_server2022(l, a, g);
	r = aead_udp_open(m, a->cipher->key, pt, g->p, g->n);
	if (r < 0) {
		l->udp->st.bad++;
		return false;
	}
	k = ssaddr_parse(pt, (size_t)r, &src);
	if (k <= 0)
		return false;
	assoc_touch(l, a);
	if (a->role == ROLE_TUNNEL) {
		send_from(l, g->bid, l->udp->lst[a->lst].ep.fd, pt + k, (size_t)(r - k),
			  (struct sockaddr *)&a->peer, NULL);
		return true;
	}
	if (!a->peer_len)
		return false; /* the client has not sent anything yet */
	/* SOCKS5: RSV RSV FRAG in front of the source address and data. */
	memset(pt - 3, 0, 3);
	send_from(l, g->bid, a->ep[1].fd, pt - 3, (size_t)r + 3, (struct sockaddr *)&a->peer, a);
	return true;
}

static bool local_from_client(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	const struct aead_method *m = a->cipher->method;
	struct socks5_udp su;
	uint8_t *start;
	int n, h;

	if (a->ep[0].fd < 0)
		return false; /* the server's name is still being looked up */
	/* Only the client that opened the association (RFC 1928 §7). */
	if (!same_addr(g->from, (struct sockaddr *)&a->allow, port_of((struct sockaddr *)&a->allow)))
		return false;
	h = socks5_parse_udp(g->p, g->n, &su);
	if (h < 0 || su.frag != 0)
		return false; /* no reassembly: FRAG != 0 is dropped, as RFC 1928 allows */
	memcpy(&a->peer, g->from, sa_len(g->from));
	a->peer_len = sa_len(g->from);
	if (a->v2022) {
		n = seal2022_client(a, g, g->p + 3, (size_t)h - 3, g->p + h, g->n - (size_t)h,
				    &start);
	} else {
		start = g->p + 3 - m->salt_len;
		n = aead_udp_seal(m, a->cipher->key, start, g->p + 3, g->n - 3);
	}
	if (n < 0)
		return false;
	assoc_touch(l, a);
	send_from(l, g->bid, a->ep[0].fd, start, (size_t)n, (struct sockaddr *)&a->server, a);
	return true;
}

/* ---- receiving -------------------------------------------------------------- */

static bool dispatch_dgram(struct loop *l, struct udp_ep *ep, struct udp_assoc *a,
			   struct dgram *g)
{
	if (ep->kind == UDP_EP_LISTENER) {
		const struct udp_listener *L = &l->udp->lst[ep->owner];

		if (L->role == ROLE_SERVER)
			return ((const struct config_server *)L->conf)->cipher.m2022
				       ? server2022_from_client(l, ep->owner, g)
				       : server_from_client(l, ep->owner, g);
		return tunnel_from_client(l, ep->owner, g);
	}
	if (a->state != UDP_ST_LIVE)
		return false;
	if (a->role == ROLE_SERVER)
		return server_from_target(l, a, g);
	if (ep->kind == UDP_EP_ASSOC_A)
		return from_server(l, a, g);
	return local_from_client(l, a, g);
}

static void take_dgram(struct loop *l, struct udp_ep *ep, struct udp_assoc *a, uint16_t bid,
		       int res)
{
	struct udp_state *u = l->udp;
	uint8_t *buf = l->bufs[BG_UDP].mem + (size_t)bid * l->bufs[BG_UDP].buf_bytes;
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, res, &u->rx_msg);
	struct dgram g;

	u->st.in++;
	/* A datagram larger than the buffer arrives cut: drop it whole. */
	if (!o || (o->flags & MSG_TRUNC) || o->namelen > UDP_NAME_BYTES ||
	    o->namelen < sizeof(struct sockaddr_in)) {
		u->st.dropped++;
		loop_buf_return(l, BG_UDP, bid);
		return;
	}
	g.bid = bid;
	g.from = io_uring_recvmsg_name(o);
	g.p = io_uring_recvmsg_payload(o, &u->rx_msg);
	g.n = io_uring_recvmsg_payload_length(o, res, &u->rx_msg);
	if (!dispatch_dgram(l, ep, a, &g)) {
		u->st.dropped++;
		loop_buf_return(l, BG_UDP, bid);
	}
}

static void handle_recv(struct loop *l, struct udp_ep *ep, struct udp_assoc *a,
			const struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		l->bufs[BG_UDP].out++;
		take_dgram(l, ep, a, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT), cqe->res);
	}
	if (more)
		return;
	ep->armed = 0;
	if (a)
		a->inflight--;
	if (cqe->res == -ENOBUFS) {
		/* Not an error of this socket: wait for buffers to come back. */
		l->st.enobufs++;
		ep->waiting = 1;
		list_add_tail(&l->udp->waiters, &ep->wait_node);
		return;
	}
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		log_debug("udp recvmsg: %s", strerror(-cqe->res));
	if (a && a->state == UDP_ST_CLOSING) {
		maybe_free(l, a);
		return;
	}
	/* ICMP errors (ECONNREFUSED...) end a multishot: just re-arm. */
	if (cqe->res != -EBADF && cqe->res != -ECANCELED)
		arm_ep(l, ep);
}

void udp_handle_cqe(struct loop *l, enum loop_op op, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	struct udp_assoc *a;

	switch (op) {
	case OP_UDP_SEND:
		handle_send(l, (uint16_t)ud_slot(ud), cqe->res);
		break;
	case OP_UDP_RECV_LST:
		handle_recv(l, &l->udp->lst[ud_slot(ud)].ep, NULL, cqe);
		break;
	case OP_UDP_RECV_A:
	case OP_UDP_RECV_B:
		a = assoc_lookup_gen(l, ud_slot(ud), ud_gen(ud));
		if (a)
			handle_recv(l, &a->ep[op == OP_UDP_RECV_A ? 0 : 1], a, cqe);
		break;
	case OP_UDP_XFER:
	case OP_UDP_XFER_SRC: {
		struct xfer *x = (struct xfer *)(uintptr_t)(ud & XFER_PTR_MASK);

		if (op == OP_UDP_XFER) {
			take_over(l, x);
			free(x);
		} else if (cqe->res < 0) {
			l->udp->st.dropped++;
			free(x); /* never reached the owner */
		}
		break;
	}
	default: /* OP_UDP_CANCEL */
		a = assoc_lookup_gen(l, ud_slot(ud), ud_gen(ud));
		if (a) {
			a->inflight--;
			maybe_free(l, a);
		}
		break;
	}
}

/* ---- local role --------------------------------------------------------------- */

int udp_local_assoc(struct loop *l, struct session *s, const struct sockaddr *local_ip,
		    const struct sockaddr *client, struct sockaddr_storage *bnd)
{
	const struct config_local *lc = s->lst->conf;
	struct sockaddr_storage b;
	struct udp_assoc *a;
	socklen_t bl = sizeof(*bnd);

	if (!l->udp)
		return -EOPNOTSUPP;
	a = assoc_alloc(l, ROLE_LOCAL);
	if (!a)
		return -EAGAIN;
	a->sess_slot = s->slot;
	a->sess_gen = s->gen;
	a->cipher = &lc->cipher;
	client2022_init(a);
	memcpy(&a->allow, client, sa_len(client));
	/* The client-facing socket: the control connection's local IP, any port. */
	memcpy(&b, local_ip, sa_len(local_ip));
	if (b.ss_family == AF_INET)
		((struct sockaddr_in *)&b)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&b)->sin6_port = 0;
	a->ep[1].fd = open_udp(b.ss_family, (struct sockaddr *)&b, false);
	if (a->ep[1].fd < 0 || getsockname(a->ep[1].fd, (struct sockaddr *)bnd, &bl) < 0 ||
	    server_setup(l, a, &lc->server) < 0) {
		assoc_close(l, a, "setup failed");
		return -EMFILE;
	}
	arm_ep(l, &a->ep[1]);
	return (int)a->slot;
}

void udp_local_close(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct udp_assoc *a;

	if (!l->udp)
		return;
	a = assoc_lookup_gen(l, slot, gen);
	if (a)
		assoc_close(l, a, "control connection closed");
}

/* ---- setup ---------------------------------------------------------------------- */

static int add_listener(struct loop *l, enum role role, const void *conf,
			const struct hostport *hp)
{
	struct udp_state *u = l->udp;
	struct udp_listener *L = &u->lst[u->n_lst];
	char buf[80];
	int fd = open_udp(hp->addr.ss_family, (const struct sockaddr *)&hp->addr, true);

	if (fd < 0) {
		log_error("cannot bind UDP %s: %s",
			  hostport_format_addr((const struct sockaddr *)&hp->addr, buf, sizeof(buf)),
			  strerror(-fd));
		return fd;
	}
	memset(L, 0, sizeof(*L));
	L->ep.fd = fd;
	L->ep.kind = UDP_EP_LISTENER;
	L->ep.owner = u->n_lst;
	list_init(&L->ep.wait_node);
	L->role = role;
	L->conf = conf;
	u->n_lst++;
	return 0;
}

static int open_listeners(struct loop *l)
{
	const struct config *c = l->cfg;
	int ret;

	for (size_t i = 0; i < c->n_servers; i++) {
		if (c->servers[i].udp && (ret = add_listener(l, ROLE_SERVER, &c->servers[i],
							     &c->servers[i].listen)))
			return ret;
	}
	for (size_t i = 0; i < c->n_tunnels; i++) {
		const struct config_tunnel *t = &c->tunnels[i];
		struct ssaddr fwd;

		if (!t->udp)
			continue;
		if ((ret = add_listener(l, ROLE_TUNNEL, t, &t->listen)))
			return ret;
		if (t->forward.is_ip) {
			ssaddr_from_sockaddr((const struct sockaddr *)&t->forward.addr, &fwd);
		} else {
			memset(&fwd, 0, sizeof(fwd));
			fwd.atyp = SSADDR_ATYP_DOMAIN;
			fwd.u.domain.len = (uint8_t)strlen(t->forward.host);
			memcpy(fwd.u.domain.name, t->forward.host, fwd.u.domain.len);
			fwd.port = t->forward.port;
		}
		l->udp->lst[l->udp->n_lst - 1].fwd_len =
			(uint16_t)ssaddr_encode(&fwd, l->udp->lst[l->udp->n_lst - 1].fwd_hdr);
	}
	return 0;
}

int udp_init(struct loop *l)
{
	const struct config *c = l->cfg;
	struct udp_state *u;
	uint32_t hsize = 16, cap;
	int ret;

	if (!udp_wanted(c))
		return 0;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	l->udp = u;
	list_init(&u->lru);
	list_init(&u->waiters);
	cap = per_loop_limit(l) + UDP_POOL_SLACK;
	while (hsize < 2 * cap)
		hsize <<= 1;
	u->hash = malloc(sizeof(uint32_t) * hsize);
	u->lst = calloc(c->n_servers + c->n_tunnels + 1, sizeof(*u->lst));
	u->tx = calloc(UDP_BUFS, sizeof(*u->tx));
	u->open = UDP_NONE;
	u->gso_test_fail = getenv("SSRING_TEST_GSO_FAIL") != NULL;
	if (!u->hash || !u->lst || !u->tx || pool_init(&u->assocs, sizeof(struct udp_assoc), cap))
		return -ENOMEM;
	memset(u->hash, 0xff, sizeof(uint32_t) * hsize);
	u->hash_mask = hsize - 1;
	u->rx_msg.msg_namelen = UDP_NAME_BYTES;
	u->rx_msg.msg_controllen = UDP_CTRL_BYTES;
	ret = loop_setup_bufring(l, BG_UDP, UDP_BUFS, BUF_UDP_BYTES, 0, BUF_UDP_BYTES);
	if (ret)
		return ret;
	return open_listeners(l);
}

void udp_start(struct loop *l)
{
	if (!l->udp)
		return;
	for (unsigned i = 0; i < l->udp->n_lst; i++)
		arm_ep(l, &l->udp->lst[i].ep);
}

void udp_stop(struct loop *l)
{
	struct udp_state *u = l->udp;

	if (!u)
		return;
	for (unsigned i = 0; i < u->n_lst; i++) {
		/* shutdown() ends the pending multishot recvmsg. */
		if (u->lst[i].ep.fd >= 0)
			shutdown(u->lst[i].ep.fd, SHUT_RDWR);
		if (u->lst[i].ep.waiting) {
			list_del(&u->lst[i].ep.wait_node);
			u->lst[i].ep.waiting = 0;
		}
	}
	while (!list_empty(&u->lru))
		assoc_close(l, list_entry(u->lru.next, struct udp_assoc, lru), "shutdown");
}

bool udp_busy(const struct loop *l)
{
	return l->udp && l->udp->assocs.used;
}

void udp_destroy(struct loop *l)
{
	struct udp_state *u = l->udp;

	if (!u)
		return;
	log_info("udp: %llu in, %llu out, %llu failed authentication, %llu dropped, "
		 "%llu associations (%llu evicted), %llu handed to another worker, "
		 "%llu batched sends (GSO), %llu resent alone",
		 (unsigned long long)u->st.in, (unsigned long long)u->st.out,
		 (unsigned long long)u->st.bad, (unsigned long long)u->st.dropped,
		 (unsigned long long)u->st.created, (unsigned long long)u->st.evicted,
		 (unsigned long long)u->st.handed_over, (unsigned long long)u->st.gso_batches,
		 (unsigned long long)u->st.gso_retried);
	for (unsigned i = 0; i < u->n_lst; i++)
		if (u->lst[i].ep.fd >= 0)
			close(u->lst[i].ep.fd);
	for (uint32_t i = 0; i < u->assocs.next_new; i++) {
		struct udp_assoc *a = assoc_at(l, i);

		for (int e = 0; (a->gen & 1) && e < 2; e++)
			if (a->ep[e].fd >= 0)
				close(a->ep[e].fd);
	}
	pool_destroy(&u->assocs);
	free(u->hash);
	free(u->lst);
	free(u->tx);
	free(u);
	l->udp = NULL;
}
