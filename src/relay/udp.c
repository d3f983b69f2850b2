/* SPDX-License-Identifier: MIT */
/*
 * udp — the UDP relay's module: per worker, one socket per UDP role
 * (SO_REUSEPORT) and the association sockets, each with a multishot
 * recvmsg that draws buffers from BG_UDP; every datagram goes to its role's
 * handler (udp_server.c, udp_client.c), which transforms it in place and
 * sends it from the same buffer (udp_tx.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/hostport.h"
#include "udp_int.h"

#define UDP_BUFS 64
#define UDP_RCVBUF (4 << 20)
/* Associations being torn down still hold a slot until their last CQE. */
#define UDP_POOL_SLACK 256

void udp_arm_ep(struct loop *l, struct udp_ep *ep)
{
	struct io_uring_sqe *sqe;
	struct udp_assoc *a = NULL;
	uint64_t ud;

	if (ep->armed || ep->waiting || ep->fd < 0 || l->stopping)
		return;
	if (ep->kind == UDP_EP_LISTENER) {
		ud = ud_pack_ptr(loop_tag(&udp_module, UDP_OP_RECV_LST), ep);
	} else {
		a = udp_assoc_at(l, ep->owner);
		if (a->state != UDP_ST_LIVE)
			return;
		static const uint8_t ops[UDP_EPS] = { UDP_OP_RECV_A, UDP_OP_RECV_B, UDP_OP_RECV_C,
						      UDP_OP_RECV_D };

		ud = ud_pack(loop_tag(&udp_module, ops[ep->kind - UDP_EP_ASSOC_A]), a->slot, a->gen);
		a->inflight++;
	}
	sqe = loop_sqe(l);
	/* Multishot: one SQE yields a CQE per datagram, each in a buffer the
	 * kernel picks from BG_UDP; it ends (no F_MORE) on error or ENOBUFS. */
	io_uring_prep_recvmsg_multishot(sqe, ep->fd, &udp_of(l)->rx_msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BG_UDP;
	io_uring_sqe_set_data64(sqe, ud);
	ep->armed = 1;
}

/* Buffers came back to the group: re-arm the endpoints that starved. */
static void retry_waiters(struct loop *l, int bgid)
{
	struct list *waiters = &l->bufs[bgid].waiters;
	struct list todo;

	list_init(&todo);
	while (!list_empty(waiters)) {
		struct list *n = waiters->next;

		list_del(n);
		list_add_tail(&todo, n);
	}
	while (!list_empty(&todo)) {
		struct udp_ep *ep = list_entry(todo.next, struct udp_ep, wait_node);

		list_del(&ep->wait_node);
		ep->waiting = 0;
		udp_arm_ep(l, ep);
	}
}

int udp_open_socket(int family, const struct sockaddr *bind_to, bool reuseport)
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
	if (bind_to && bind(fd, bind_to, sockaddr_len(bind_to)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int udp_open_ep(struct loop *l, struct udp_ep *ep, int family, const struct config_outbound *o)
{
	int ret;

	ep->fd = udp_open_socket(family, NULL, false);
	if (ep->fd < 0)
		return ep->fd;
	ret = relay_outbound_setup(ep->fd, family, o);
	if (ret < 0) {
		close(ep->fd);
		ep->fd = -1;
		return ret;
	}
	udp_arm_ep(l, ep);
	return ep->fd;
}

static int dispatch_dgram(struct loop *l, struct udp_ep *ep, struct udp_assoc *a,
			  struct dgram *g)
{
	if (ep->kind == UDP_EP_LISTENER) {
		struct udp_listener *L = (struct udp_listener *)ep;

		if (L->closing)
			return UDP_DROP_OTHER;
		if (L->role == ROLE_SERVER)
			return ((const struct config_server *)L->conf)->cipher.m2022
				       ? udp_server2022_from_client(l, L, g)
				       : udp_server_from_client(l, L, g);
		return udp_tunnel_from_client(l, L, g);
	}
	if (a->state != UDP_ST_LIVE)
		return UDP_DROP_OTHER;
	if (a->role == ROLE_SERVER)
		return a->owned ? udp_uot_from_target(l, a, g) : udp_server_from_target(l, a, g);
	if (ep->kind == UDP_EP_ASSOC_A)
		return udp_from_server(l, a, g);
	if (ep->kind >= UDP_EP_ASSOC_C)
		return a->role == ROLE_TUNNEL ? udp_redir_reply(l, a, g->bid, g->from, g->p, g->n)
					      : udp_local_from_direct(l, a, g);
	return udp_local_from_client(l, a, g);
}

static void take_dgram(struct loop *l, struct udp_ep *ep, struct udp_assoc *a, uint16_t bid,
		       int res)
{
	struct udp_state *u = udp_of(l);
	uint8_t *buf = loop_buf_base(l, BG_UDP, bid);
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, res, &u->rx_msg);
	struct dgram g;
	int v;

	u->st.in++;
	/* A datagram larger than the buffer arrives cut: drop it whole. */
	if (!o || (o->flags & MSG_TRUNC) || o->namelen > UDP_NAME_BYTES ||
	    o->namelen < sizeof(struct sockaddr_in)) {
		u->st.dropped++;
		stats_worker_add(l->id, WC_DROP_TRUNCATED, 1);
		loop_buf_return(l, BG_UDP, bid);
		return;
	}
	g.bid = bid;
	g.o = o;
	g.from = io_uring_recvmsg_name(o);
	g.p = io_uring_recvmsg_payload(o, &u->rx_msg);
	g.n = io_uring_recvmsg_payload_length(o, res, &u->rx_msg);
	v = dispatch_dgram(l, ep, a, &g);
	if (v != UDP_KEPT) {
		u->st.dropped++;
		stats_worker_add(l->id, WC_DROP_TRUNCATED + (unsigned)v - 1, 1);
		loop_buf_return(l, BG_UDP, bid);
	}
}

static void listener_free(struct loop *l, struct udp_listener *L);

static void handle_recv(struct loop *l, struct udp_ep *ep, struct udp_assoc *a,
			const struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		loop_buf_taken(l, BG_UDP);
		take_dgram(l, ep, a, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT), cqe->res);
	}
	if (more)
		return;
	ep->armed = 0;
	if (a)
		a->inflight--;
	if (cqe->res == -ENOBUFS) {
		/* Not an error of this socket: wait for buffers to come back. */
		l->enobufs++;
		ep->waiting = 1;
		list_add_tail(&l->bufs[BG_UDP].waiters, &ep->wait_node);
		return;
	}
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		log_debug("udp recvmsg: %s", strerror(-cqe->res));
	if (a && a->state == UDP_ST_CLOSING) {
		udp_assoc_maybe_free(l, a);
		return;
	}
	if (!a && ((struct udp_listener *)ep)->closing) {
		listener_free(l, (struct udp_listener *)ep);
		return;
	}
	/* ICMP errors (ECONNREFUSED...) end a multishot: just re-arm. */
	if (cqe->res != -EBADF && cqe->res != -ECANCELED)
		udp_arm_ep(l, ep);
}

static void udp_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	struct udp_assoc *a;

	switch (op) {
	case UDP_OP_SEND:
		udp_tx_done(l, (uint16_t)ud_slot(ud), cqe->res);
		break;
	case UDP_OP_RECV_LST:
		handle_recv(l, ud_ptr(ud), NULL, cqe);
		break;
	case UDP_OP_RECV_A:
	case UDP_OP_RECV_B:
	case UDP_OP_RECV_C:
	case UDP_OP_RECV_D:
		a = udp_assoc_lookup(l, ud_slot(ud), ud_gen(ud));
		if (a)
			handle_recv(l, &a->ep[op == UDP_OP_RECV_A   ? 0
					      : op == UDP_OP_RECV_B ? 1
					      : op == UDP_OP_RECV_C ? 2
								    : 3],
				    a, cqe);
		break;
	case UDP_OP_XFER:
	case UDP_OP_XFER_SRC:
		udp_handover_cqe(l, op, cqe);
		break;
	default: /* UDP_OP_CANCEL */
		a = udp_assoc_lookup(l, ud_slot(ud), ud_gen(ud));
		if (a) {
			a->inflight--;
			udp_assoc_maybe_free(l, a);
		}
		break;
	}
}

static void listener_free(struct loop *l, struct udp_listener *L)
{
	if (L->ep.waiting) {
		list_del(&L->ep.wait_node);
		L->ep.waiting = 0;
	}
	if (L->ep.fd >= 0)
		close(L->ep.fd);
	list_del(&L->node);
	free(L);
	udp_of(l)->n_listeners--;
}

/* A listener leaves: its associations close, and it goes once its receive has ended. */
static void listener_close(struct loop *l, struct udp_listener *L)
{
	if (L->closing)
		return;
	L->closing = true;
	udp_flush(l); /* a batch may still name its socket */
	udp_assoc_close_listener(l, L);
	if (!L->ep.armed) {
		listener_free(l, L);
		return;
	}
	/* shutdown() ends the pending multishot recvmsg. */
	shutdown(L->ep.fd, SHUT_RDWR);
}

struct udp_listener *udp_listener_by_id(struct loop *l, uint32_t ep)
{
	struct udp_state *u = udp_of(l);
	struct list *n;

	for (n = u->listeners.next; n != &u->listeners; n = n->next) {
		struct udp_listener *L = list_entry(n, struct udp_listener, node);

		if (L->id == ep && !L->closing)
			return L;
	}
	return NULL;
}

static struct udp_listener *find_listener(struct udp_state *u, enum role role,
					  const struct hostport *hp)
{
	struct list *n;

	for (n = u->listeners.next; n != &u->listeners; n = n->next) {
		struct udp_listener *L = list_entry(n, struct udp_listener, node);

		if (!L->closing && L->role == role && config_same_listen(&L->listen, hp))
			return L;
	}
	return NULL;
}

struct adopt {
	struct loop *l;
	bool running;
	int err;
};

/* One UDP port of the current snapshot: keep ours, or take the new socket. */
static void adopt_entry(void *arg, enum role role, const void *conf, const struct hostport *hp,
			struct config_rt *rt)
{
	struct adopt *ad = arg;
	struct udp_state *u = udp_of(ad->l);
	struct udp_listener *L = find_listener(u, role, hp);

	if (!L) {
		if (!rt->udp_fds || rt->udp_fds[ad->l->id] < 0 || !(L = calloc(1, sizeof(*L)))) {
			ad->err = -ENOMEM;
			log_error("worker %d: no UDP socket for %s", ad->l->id, hp->host);
			return;
		}
		L->ep.fd = rt->udp_fds[ad->l->id];
		rt->udp_fds[ad->l->id] = -1; /* ours now */
		L->ep.kind = UDP_EP_LISTENER;
		list_init(&L->ep.wait_node);
		L->role = role;
		L->listen = *hp;
		list_add_tail(&u->listeners, &L->node);
		u->n_listeners++;
		if (ad->running)
			udp_arm_ep(ad->l, &L->ep);
	}
	L->conf = conf;
	L->id = rt->ep;
	L->ctr = stats_ep(ad->l->id, rt->ep);
	L->seen = true;
}

/* Match the UDP ports to l->cfg: keep, open, and close what it no longer has. */
static int adopt_listeners(struct loop *l, bool running)
{
	struct udp_state *u = udp_of(l);
	struct adopt ad = { .l = l, .running = running };
	struct list *n, *next;

	for (n = u->listeners.next; n != &u->listeners; n = n->next)
		list_entry(n, struct udp_listener, node)->seen = false;
	relay_each_listener(l->cfg, true, adopt_entry, &ad);
	for (n = u->listeners.next; n != &u->listeners; n = next) {
		struct udp_listener *L = list_entry(n, struct udp_listener, node);

		next = n->next;
		if (!L->seen)
			listener_close(l, L);
	}
	return ad.err;
}

static int udp_init(struct loop *l)
{
	struct udp_state *u;
	uint32_t hsize = 16, cap;
	int ret;

	/* Always there, even with no UDP role yet: a reload may add one. */
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	loop_set_state(l, &udp_module, u);
	list_init(&u->lru);
	list_init(&u->listeners);
	cap = udp_per_loop_limit(l) + UDP_POOL_SLACK;
	while (hsize < 2 * cap)
		hsize <<= 1;
	u->hash = malloc(sizeof(uint32_t) * hsize);
	if (!u->hash || udp_tx_init(u, UDP_BUFS) ||
	    pool_init(&u->assocs, sizeof(struct udp_assoc), cap) ||
	    pool_init(&u->windows, sizeof(struct ss2022_window), cap))
		return -ENOMEM;
	memset(u->hash, 0xff, sizeof(uint32_t) * hsize);
	u->hash_mask = hsize - 1;
	u->rx_msg.msg_namelen = UDP_NAME_BYTES;
	u->rx_msg.msg_controllen = UDP_CTRL_BYTES;
	ret = loop_setup_bufring(l, BG_UDP, UDP_BUFS, BUF_UDP_BYTES, 0, BUF_UDP_BYTES,
				 retry_waiters);
	if (ret)
		return ret;
	return adopt_listeners(l, false);
}

static void udp_start(struct loop *l)
{
	struct udp_state *u = udp_of(l);
	struct list *n;

	for (n = u->listeners.next; n != &u->listeners; n = n->next)
		udp_arm_ep(l, &list_entry(n, struct udp_listener, node)->ep);
}

static void udp_reconfig(struct loop *l, const struct config *old)
{
	(void)old;
	if (adopt_listeners(l, true))
		log_error("worker %d: some UDP ports of the new configuration are missing", l->id);
	udp_sweep_revoked(l);
}

static void udp_stop(struct loop *l)
{
	struct udp_state *u = udp_of(l);
	struct list *n;

	for (n = u->listeners.next; n != &u->listeners; n = n->next) {
		struct udp_listener *L = list_entry(n, struct udp_listener, node);

		/* shutdown() ends the pending multishot recvmsg; the socket is
		 * closed with the loop. */
		if (L->ep.fd >= 0)
			shutdown(L->ep.fd, SHUT_RDWR);
		if (L->ep.waiting) {
			list_del(&L->ep.wait_node);
			L->ep.waiting = 0;
		}
	}
	while (!list_empty(&u->lru))
		udp_assoc_close(l, list_entry(u->lru.next, struct udp_assoc, lru), "shutdown");
}

static bool udp_busy(const struct loop *l)
{
	return udp_of(l)->assocs.used;
}

static void udp_destroy(struct loop *l)
{
	struct udp_state *u = udp_of(l);

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
	if (u->listeners.next)
		while (!list_empty(&u->listeners))
			listener_free(l, list_entry(u->listeners.next, struct udp_listener, node));
	for (uint32_t i = 0; i < u->assocs.next_new; i++) {
		struct udp_assoc *a = udp_assoc_at(l, i);

		for (int e = 0; (a->gen & 1) && e < UDP_EPS; e++)
			if (a->ep[e].fd >= 0)
				close(a->ep[e].fd);
	}
	pool_destroy(&u->assocs);
	pool_destroy(&u->windows);
	udp_redir_free(u);
	free(u->hash);
	udp_tx_free(u);
	free(u);
	loop_set_state(l, &udp_module, NULL);
}

static int udp_port(const struct hostport *hp, enum role role, const void *conf)
{
	char buf[80];
	int fd = relay_tunnel_of(role, conf) && relay_tunnel_of(role, conf)->redir
			 ? udp_redir_socket(hp)
			 : udp_open_socket(hp->addr.ss_family, (const struct sockaddr *)&hp->addr,
					   true);

	if (fd < 0)
		log_error("cannot bind UDP %s: %s",
			  hostport_format_addr((const struct sockaddr *)&hp->addr, buf, sizeof(buf)),
			  strerror(-fd));
	return fd;
}

/* A UDP socket per worker for every UDP port new in cfg. */
static int udp_prepare(const struct config *old, struct config *cfg)
{
	return relay_prepare_sockets(old, cfg, true, udp_port);
}

static void udp_tick(struct loop *l)
{
	udp_flush(l); /* the datagrams of this turn, batched per destination */
	udp_redir_sweep(l);
}

struct loop_module udp_module = {
	.name = "udp",
	.n_ops = UDP_OP_COUNT,
	.prepare = udp_prepare,
	.init = udp_init,
	.reconfig = udp_reconfig,
	.start = udp_start,
	.cqe = udp_cqe,
	.tick = udp_tick,
	.stop = udp_stop,
	.busy = udp_busy,
	.destroy = udp_destroy,
};
