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
#include "relay/udp_owner.h"
#include "udp_int.h"

#define UDP_BUFS 64
#define UDP_RCVBUF (4 << 20)
/* Associations being torn down still hold a slot until their last CQE. */
#define UDP_POOL_SLACK 256

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

void udp_arm_ep(struct loop *l, struct udp_ep *ep)
{
	struct io_uring_sqe *sqe;
	struct udp_assoc *a = NULL;
	uint64_t ud;

	if (ep->armed || ep->waiting || ep->fd < 0 || l->stopping)
		return;
	if (ep->kind == UDP_EP_LISTENER) {
		ud = ud_pack(loop_tag(&udp_module, UDP_OP_RECV_LST), ep->owner, 0);
	} else {
		a = udp_assoc_at(l, ep->owner);
		if (a->state != UDP_ST_LIVE)
			return;
		ud = ud_pack(loop_tag(&udp_module, ep->kind == UDP_EP_ASSOC_A ? UDP_OP_RECV_A
									      : UDP_OP_RECV_B),
			     a->slot, a->gen);
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
	if (bind_to && bind(fd, bind_to, sa_len(bind_to)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static bool dispatch_dgram(struct loop *l, struct udp_ep *ep, struct udp_assoc *a,
			   struct dgram *g)
{
	if (ep->kind == UDP_EP_LISTENER) {
		const struct udp_listener *L = &udp_of(l)->lst[ep->owner];

		if (L->role == ROLE_SERVER)
			return ((const struct config_server *)L->conf)->cipher.m2022
				       ? udp_server2022_from_client(l, ep->owner, g)
				       : udp_server_from_client(l, ep->owner, g);
		return udp_tunnel_from_client(l, ep->owner, g);
	}
	if (a->state != UDP_ST_LIVE)
		return false;
	if (a->role == ROLE_SERVER)
		return udp_server_from_target(l, a, g);
	if (ep->kind == UDP_EP_ASSOC_A)
		return udp_from_server(l, a, g);
	return udp_local_from_client(l, a, g);
}

static void take_dgram(struct loop *l, struct udp_ep *ep, struct udp_assoc *a, uint16_t bid,
		       int res)
{
	struct udp_state *u = udp_of(l);
	uint8_t *buf = loop_buf_base(l, BG_UDP, bid);
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
		handle_recv(l, &udp_of(l)->lst[ud_slot(ud)].ep, NULL, cqe);
		break;
	case UDP_OP_RECV_A:
	case UDP_OP_RECV_B:
		a = udp_assoc_lookup(l, ud_slot(ud), ud_gen(ud));
		if (a)
			handle_recv(l, &a->ep[op == UDP_OP_RECV_A ? 0 : 1], a, cqe);
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

static int add_listener(struct loop *l, enum role role, const void *conf,
			const struct hostport *hp)
{
	struct udp_state *u = udp_of(l);
	struct udp_listener *L = &u->lst[u->n_lst];
	char buf[80];
	int fd = udp_open_socket(hp->addr.ss_family, (const struct sockaddr *)&hp->addr, true);

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
		udp_of(l)->lst[udp_of(l)->n_lst - 1].fwd_len =
			(uint16_t)ssaddr_encode(&fwd, udp_of(l)->lst[udp_of(l)->n_lst - 1].fwd_hdr);
	}
	return 0;
}

static int udp_init(struct loop *l)
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
	loop_set_state(l, &udp_module, u);
	list_init(&u->lru);
	cap = udp_per_loop_limit(l) + UDP_POOL_SLACK;
	while (hsize < 2 * cap)
		hsize <<= 1;
	u->hash = malloc(sizeof(uint32_t) * hsize);
	u->lst = calloc(c->n_servers + c->n_tunnels + 1, sizeof(*u->lst));
	if (!u->hash || !u->lst || udp_tx_init(u, UDP_BUFS) ||
	    pool_init(&u->assocs, sizeof(struct udp_assoc), cap))
		return -ENOMEM;
	memset(u->hash, 0xff, sizeof(uint32_t) * hsize);
	u->hash_mask = hsize - 1;
	u->rx_msg.msg_namelen = UDP_NAME_BYTES;
	u->rx_msg.msg_controllen = UDP_CTRL_BYTES;
	ret = loop_setup_bufring(l, BG_UDP, UDP_BUFS, BUF_UDP_BYTES, 0, BUF_UDP_BYTES,
				 retry_waiters);
	if (ret)
		return ret;
	return open_listeners(l);
}

static void udp_start(struct loop *l)
{
	if (!udp_of(l))
		return;
	for (unsigned i = 0; i < udp_of(l)->n_lst; i++)
		udp_arm_ep(l, &udp_of(l)->lst[i].ep);
}

static void udp_stop(struct loop *l)
{
	struct udp_state *u = udp_of(l);

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
		udp_assoc_close(l, list_entry(u->lru.next, struct udp_assoc, lru), "shutdown");
}

static bool udp_busy(const struct loop *l)
{
	return udp_of(l) && udp_of(l)->assocs.used;
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
	relay_log_user_bytes(l->cfg, u->user_bytes, " over UDP");
	for (unsigned i = 0; i < u->n_lst; i++)
		if (u->lst[i].ep.fd >= 0)
			close(u->lst[i].ep.fd);
	for (uint32_t i = 0; i < u->assocs.next_new; i++) {
		struct udp_assoc *a = udp_assoc_at(l, i);

		for (int e = 0; (a->gen & 1) && e < 2; e++)
			if (a->ep[e].fd >= 0)
				close(a->ep[e].fd);
	}
	pool_destroy(&u->assocs);
	free(u->hash);
	free(u->lst);
	udp_tx_free(u);
	free(u);
	loop_set_state(l, &udp_module, NULL);
}

static void udp_tick(struct loop *l)
{
	udp_flush(l); /* the datagrams of this turn, batched per destination */
}

/* The 2022 owner table every worker shares (sessions that roam). */
static int udp_setup(const struct config *cfg)
{
	(void)cfg;
	relay_shared.owners = udp_owners_new(4096);
	return relay_shared.owners ? 0 : -ENOMEM;
}

static void udp_teardown(void)
{
	udp_owners_free(relay_shared.owners);
	relay_shared.owners = NULL;
}

struct loop_module udp_module = {
	.name = "udp",
	.n_ops = UDP_OP_COUNT,
	.setup = udp_setup,
	.teardown = udp_teardown,
	.init = udp_init,
	.start = udp_start,
	.cqe = udp_cqe,
	.tick = udp_tick,
	.stop = udp_stop,
	.busy = udp_busy,
	.destroy = udp_destroy,
};
