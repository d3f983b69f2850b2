/* SPDX-License-Identifier: MIT */
/*
 * dnsproxy — the DNS forwarder's module (relay/dnsproxy.h): per worker, a
 * UDP socket and a TCP listener for every entry (SO_REUSEPORT; made on the
 * main thread like the relays' listeners, so a port below 1024 is bound
 * before privileges go), one UDP receive in flight per socket, the TCP
 * clients, and the dispatch of completions to the queries
 * (dnsproxy_query.c) and their legs (dnsproxy_up.c).
 *
 * A TCP client may send several queries without waiting (RFC 7766
 * §6.2.1.1): each is answered as its answer comes, in that order, with at
 * most DNSP_TCP_PIPELINE unanswered (receiving waits meanwhile). A client
 * that asks nothing for DNSP_TCP_IDLE_MS is closed; one that closes its
 * side still gets its answers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "relay/stats.h"
#include "relay/upstream.h"
#include "dnsproxy_int.h"

struct dnsp_state *dnsp_of(const struct loop *l)
{
	return loop_state(l, &dnsproxy_module);
}

uint64_t dnsp_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void dnsp_count(struct loop *l, unsigned wc)
{
	stats_worker_add(l->id, (enum worker_ctr)wc, 1);
}

int dnsp_slot(void ***tab, uint32_t *n)
{
	uint32_t i = 0, cap;
	void **t;

	while (i < *n && (*tab)[i])
		i++;
	if (i < *n)
		return (int)i;
	cap = *n ? 2 * *n : 64;
	if (cap > (1u << 24) || !(t = realloc(*tab, cap * sizeof(*t))))
		return -1; /* the slot must fit user_data's 24 bits */
	memset(t + *n, 0, (cap - *n) * sizeof(*t));
	*tab = t;
	*n = cap;
	return (int)i;
}

static uint64_t tag_ptr(enum dnsp_op op, const void *p)
{
	return ud_pack_ptr(loop_tag(&dnsproxy_module, op), p);
}

/* ---- UDP --------------------------------------------------------------- */

static void ep_maybe_free(struct dnsp_ep *ep)
{
	if (!ep->closing || ep->urecv || ep->refs || ep->tcp_open)
		return;
	if (ep->ufd >= 0)
		close(ep->ufd);
	list_del(&ep->node);
	free(ep);
}

void dnsp_ep_put(struct loop *l, struct dnsp_ep *ep)
{
	(void)l;
	ep->refs--;
	ep_maybe_free(ep);
}

static void urecv_arm(struct loop *l, struct dnsp_ep *ep)
{
	struct io_uring_sqe *sqe;

	if (ep->urecv || ep->closing)
		return;
	ep->iov = (struct iovec){ ep->buf, sizeof(ep->buf) };
	ep->msg = (struct msghdr){ .msg_name = &ep->from, .msg_namelen = sizeof(ep->from),
				   .msg_iov = &ep->iov, .msg_iovlen = 1 };
	sqe = loop_sqe(l);
	io_uring_prep_recvmsg(sqe, ep->ufd, &ep->msg, 0);
	io_uring_sqe_set_data64(sqe, tag_ptr(DP_OP_URECV, ep));
	ep->urecv = true;
}

static void on_urecv(struct loop *l, struct dnsp_ep *ep, int res)
{
	ep->urecv = false;
	if (ep->closing) {
		ep_maybe_free(ep);
		return;
	}
	if (res > 0 && (ep->msg.msg_flags & MSG_TRUNC)) {
		dnsp_count(l, WC_DNSP_FAIL_MALFORMED); /* over DNSP_QUERY_MAX: not a query */
	} else if (res > 0) {
		dnsp_query_new(l, ep->dp, ep, NULL, ep->buf, (size_t)res,
			       (const struct sockaddr *)&ep->from, ep->msg.msg_namelen);
	} else if (res < 0 && res != -EAGAIN && res != -EINTR && res != -ENOMEM &&
		   res != -ECONNREFUSED) {
		log_error("dns_proxy %s: UDP receive: %s: the port is closed", ep->listen.host,
			  strerror(-res));
		return;
	}
	urecv_arm(l, ep);
}

/* ---- TCP clients ------------------------------------------------------- */

struct dnsp_conn *dnsp_conn_lookup(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct dnsp_state *st = dnsp_of(l);
	struct dnsp_conn *c;

	if (!st || slot >= st->n_ctab || !(c = st->ctab[slot]) || c->gen != gen || c->closing)
		return NULL;
	return c;
}

static void conn_tag(struct io_uring_sqe *sqe, enum dnsp_op op, struct dnsp_conn *c)
{
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&dnsproxy_module, op), c->slot, c->gen));
	c->inflight++;
}

static void conn_settle(struct loop *l, struct dnsp_conn *c)
{
	struct dnsp_state *st = dnsp_of(l);

	if (!c->closing || c->inflight)
		return;
	close(c->fd);
	timer_cancel(&c->idle);
	list_del(&c->node);
	st->n_conns--;
	st->ctab[c->slot] = NULL;
	loop_cfg_drop(l, c->cfg);
	free(c);
}

static void conn_close(struct loop *l, struct dnsp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->inflight) {
		struct io_uring_sqe *sqe = loop_sqe(l);

		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		conn_tag(sqe, DP_OP_CCANCEL, c);
	}
	/* Answers not written go with the client; queries still asking find
	 * it gone when their answer comes. */
	while (!list_empty(&c->wq)) {
		struct dnsp_query *q = list_entry(c->wq.next, struct dnsp_query, wnode);

		list_del(&q->wnode);
		dnsp_query_written(l, q);
	}
	conn_settle(l, c);
}

/* Done with a client that closed its side, or on a stop, once its answers are out. */
static void conn_maybe_end(struct loop *l, struct dnsp_conn *c)
{
	if ((c->eof || l->stopping) && !c->pending && !c->sending)
		conn_close(l, c);
}

static void crecv_arm(struct loop *l, struct dnsp_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->reading || c->closing || c->eof || l->stopping || c->pending >= DNSP_TCP_PIPELINE)
		return;
	sqe = loop_sqe(l);
	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
	conn_tag(sqe, DP_OP_CRECV, c);
	c->reading = true;
}

static void csend_more(struct loop *l, struct dnsp_conn *c)
{
	struct dnsp_query *q;
	struct io_uring_sqe *sqe;

	if (c->sending || c->closing || list_empty(&c->wq))
		return;
	q = list_entry(c->wq.next, struct dnsp_query, wnode);
	sqe = loop_sqe(l);
	io_uring_prep_send(sqe, c->fd, q->ans + c->soff, 2 + q->ans_len - c->soff, MSG_NOSIGNAL);
	conn_tag(sqe, DP_OP_CSEND, c);
	c->sending = true;
}

void dnsp_conn_answer(struct loop *l, struct dnsp_conn *c, struct dnsp_query *q)
{
	list_add_tail(&c->wq, &q->wnode);
	csend_more(l, c);
}

/* Each whole query in rbuf (2-byte length, then the message) becomes a query. */
static void take_queries(struct loop *l, struct dnsp_conn *c)
{
	size_t off = 0;

	while (!c->closing && c->pending < DNSP_TCP_PIPELINE && c->rlen - off >= 2) {
		size_t n = (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];

		if (n < DNSMSG_HEADER || n > DNSP_QUERY_MAX) {
			dnsp_count(l, WC_DNSP_FAIL_MALFORMED);
			conn_close(l, c); /* not DNS over TCP: the stream cannot be framed */
			return;
		}
		if (c->rlen - off < 2 + n)
			break;
		c->pending++;
		if (!dnsp_query_new(l, c->dp, NULL, c, c->rbuf + off + 2, n, NULL, 0))
			c->pending--;
		off += 2 + n;
	}
	if (c->closing)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static void on_crecv(struct loop *l, struct dnsp_conn *c, int res)
{
	c->reading = false;
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET)
			log_debug("dns_proxy: a TCP client: %s", strerror(-res));
		c->eof = true;
		if (res < 0)
			conn_close(l, c);
		else
			conn_maybe_end(l, c);
		return;
	}
	c->rlen += (size_t)res;
	timer_arm(&l->wheel, &c->idle, l->now_ms + DNSP_TCP_IDLE_MS);
	take_queries(l, c);
	crecv_arm(l, c);
}

static void on_csend(struct loop *l, struct dnsp_conn *c, int res)
{
	struct dnsp_query *q = list_entry(c->wq.next, struct dnsp_query, wnode);

	c->sending = false;
	if (res <= 0) {
		conn_close(l, c);
		return;
	}
	c->soff += (size_t)res;
	timer_arm(&l->wheel, &c->idle, l->now_ms + DNSP_TCP_IDLE_MS);
	if (c->soff == 2 + q->ans_len) {
		c->soff = 0;
		c->pending--;
		list_del(&q->wnode);
		dnsp_query_written(l, q);
		take_queries(l, c); /* what waited for room in the pipeline */
	}
	csend_more(l, c);
	crecv_arm(l, c);
	conn_maybe_end(l, c);
}

/* Nothing asked, or an answer not taken, for DNSP_TCP_IDLE_MS: closed. A
 * client waiting for its resolvers waits (a query ends within seconds). */
static void on_idle(struct loop *l, struct timer *t)
{
	struct dnsp_conn *c = list_entry(&t->node, struct dnsp_conn, idle.node);

	if (c->pending && !c->sending)
		timer_arm(&l->wheel, &c->idle, l->now_ms + DNSP_TCP_IDLE_MS);
	else
		conn_close(l, c);
}

static void on_accept(struct loop *l, struct loop_listener *ls, int fd)
{
	struct dnsp_ep *ep = list_entry(ls, struct dnsp_ep, tcp);
	struct dnsp_state *st = dnsp_of(l);
	struct dnsp_conn *c;
	int slot;

	if (st->n_conns >= DNSP_TCP_CONNS || ep->closing || l->stopping ||
	    (slot = dnsp_slot(&st->ctab, &st->n_ctab)) < 0 || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->slot = (uint32_t)slot;
	c->gen = ++st->gen;
	c->fd = fd;
	c->cfg = loop_cfg_hold(l, l->cfg);
	c->dp = ep->dp;
	list_init(&c->wq);
	list_add_tail(&st->conns, &c->node);
	st->n_conns++;
	st->ctab[slot] = c;
	timer_init_fn(&c->idle, on_idle);
	timer_arm(&l->wheel, &c->idle, l->now_ms + DNSP_TCP_IDLE_MS);
	crecv_arm(l, c);
}

static void conn_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct dnsp_state *st = dnsp_of(l);
	uint32_t slot = ud_slot(cqe->user_data);
	struct dnsp_conn *c = slot < st->n_ctab ? st->ctab[slot] : NULL;

	if (!c || c->gen != ud_gen(cqe->user_data))
		return;
	c->inflight--;
	if (c->closing) {
		if (op == DP_OP_CSEND)
			c->sending = false;
		conn_settle(l, c);
		return;
	}
	if (op == DP_OP_CRECV)
		on_crecv(l, c, cqe->res);
	else if (op == DP_OP_CSEND)
		on_csend(l, c, cqe->res);
}

/* ---- listeners of a snapshot ------------------------------------------- */

static void on_tcp_closed(struct loop *l, struct loop_listener *ls)
{
	struct dnsp_ep *ep = list_entry(ls, struct dnsp_ep, tcp);

	(void)l;
	ep->tcp_open = false;
	ep_maybe_free(ep);
}

static void ep_start(struct loop *l, struct dnsp_ep *ep)
{
	urecv_arm(l, ep);
	listener_start(l, &ep->tcp, ep->tcp.fd, on_accept, on_tcp_closed);
}

static void ep_close(struct loop *l, struct dnsp_ep *ep)
{
	if (ep->closing)
		return;
	ep->closing = true;
	/* Ends the receive in flight (it completes with 0); answers still go out. */
	if (ep->urecv)
		shutdown(ep->ufd, SHUT_RD);
	if (ep->tcp_open && dnsp_of(l)->running) {
		listener_close(l, &ep->tcp);
	} else if (ep->tcp_open) {
		close(ep->tcp.fd);
		ep->tcp_open = false;
	}
	ep_maybe_free(ep);
}

static struct dnsp_ep *find_ep(struct dnsp_state *st, const struct hostport *hp)
{
	for (struct list *n = st->eps.next; n != &st->eps; n = n->next) {
		struct dnsp_ep *ep = list_entry(n, struct dnsp_ep, node);

		if (!ep->closing && config_same_listen(&ep->listen, hp))
			return ep;
	}
	return NULL;
}

/* The entries of l->cfg: keep a listener of the same address, start new ones, close the rest. */
static int adopt(struct loop *l)
{
	struct dnsp_state *st = dnsp_of(l);
	const struct config *cfg = l->cfg;
	struct list *n, *next;
	int err = 0;

	for (n = st->eps.next; n != &st->eps; n = n->next)
		list_entry(n, struct dnsp_ep, node)->seen = false;
	for (size_t i = 0; i < cfg->n_dns_proxies; i++) {
		const struct config_dns_proxy *dp = &cfg->dns_proxies[i];
		struct config_rt *rt = (struct config_rt *)&dp->cl.rt;
		struct dnsp_ep *ep = find_ep(st, &dp->cl.listen);

		if (!ep) {
			if (!rt->udp_fds || !rt->tcp_fds || rt->udp_fds[l->id] < 0 ||
			    rt->tcp_fds[l->id] < 0 || !(ep = calloc(1, sizeof(*ep)))) {
				log_error("worker %d: no sockets for the DNS forwarder on %s",
					  l->id, dp->cl.listen.host);
				err = -ENOMEM;
				continue;
			}
			ep->listen = dp->cl.listen;
			ep->ufd = rt->udp_fds[l->id];
			ep->tcp.fd = rt->tcp_fds[l->id];
			rt->udp_fds[l->id] = rt->tcp_fds[l->id] = -1; /* ours now */
			ep->tcp_open = true;
			list_add_tail(&st->eps, &ep->node);
			if (st->running)
				ep_start(l, ep);
		}
		ep->dp = dp;
		ep->seen = true;
	}
	for (n = st->eps.next; n != &st->eps; n = next) {
		struct dnsp_ep *ep = list_entry(n, struct dnsp_ep, node);

		next = n->next;
		if (!ep->seen)
			ep_close(l, ep);
	}
	return err;
}

/* On the main thread: a UDP socket and a TCP listener per worker for each new entry. */
static int dp_prepare(const struct config *old, struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_dns_proxies; i++) {
		struct config_dns_proxy *dp = &cfg->dns_proxies[i];
		const struct sockaddr *sa = (const struct sockaddr *)&dp->cl.listen.addr;
		struct config_rt *rt = &dp->cl.rt;
		bool kept = false;

		if (dp->cl.n_ups && !rt->health &&
		    !(rt->health = calloc(dp->cl.n_ups, sizeof(*rt->health))))
			return -ENOMEM;
		for (size_t k = 0; old && k < old->n_dns_proxies; k++)
			kept |= config_same_listen(&old->dns_proxies[k].cl.listen, &dp->cl.listen);
		if (kept || rt->udp_fds)
			continue; /* the workers keep the sockets they have */
		rt->udp_fds = malloc((size_t)cfg->workers * sizeof(int));
		rt->tcp_fds = malloc((size_t)cfg->workers * sizeof(int));
		if (!rt->udp_fds || !rt->tcp_fds)
			return -ENOMEM;
		for (int w = 0; w < cfg->workers; w++)
			rt->udp_fds[w] = rt->tcp_fds[w] = -1;
		for (int w = 0; w < cfg->workers; w++) {
			int one = 1, fd = socket(sa->sa_family,
						 SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			if (fd < 0)
				return -errno;
			rt->udp_fds[w] = fd;
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
			if (sa->sa_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			if (bind(fd, sa, dp->cl.listen.addr_len) < 0) {
				log_error("dns_proxy: cannot bind UDP %s:%u: %s",
					  dp->cl.listen.host, dp->cl.listen.port, strerror(errno));
				return -errno;
			}
			rt->tcp_fds[w] = listener_socket(sa, dp->cl.listen.addr_len, true);
			if (rt->tcp_fds[w] < 0)
				return rt->tcp_fds[w];
		}
	}
	return 0;
}

/* ---- the module -------------------------------------------------------- */

static int dp_init(struct loop *l)
{
	struct dnsp_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	loop_set_state(l, &dnsproxy_module, st);
	list_init(&st->eps);
	list_init(&st->conns);
	st->cache = dnsp_cache_new();
	if (!st->cache)
		return -ENOMEM;
	return adopt(l);
}

static void dp_start(struct loop *l)
{
	struct dnsp_state *st = dnsp_of(l);

	st->running = true;
	for (struct list *n = st->eps.next; n != &st->eps; n = n->next)
		ep_start(l, list_entry(n, struct dnsp_ep, node));
	if (l->id == 0)
		for (size_t i = 0; i < l->cfg->n_dns_proxies; i++) {
			const struct config_dns_proxy *dp = &l->cfg->dns_proxies[i];

			log_info("dns_proxy listening on %s:%u (udp, tcp) -> local %s:%u, remote "
				 "%s:%u via server %s:%u%s", dp->cl.listen.host, dp->cl.listen.port,
				 dp->local_dns.port ? dp->local_dns.host : "-", dp->local_dns.port,
				 dp->remote_dns.host, dp->remote_dns.port, dp->cl.server.host,
				 dp->cl.server.port, dp->cl.acl ? ", by the ACL" : "");
		}
}

static void dp_reconfig(struct loop *l, const struct config *old)
{
	(void)old;
	if (adopt(l))
		log_error("worker %d: some DNS forwarders of the new configuration are missing",
			  l->id);
	/* The ACL, the resolvers or the servers may have changed. */
	dnsp_cache_flush(dnsp_of(l)->cache);
}

static void dp_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct dnsp_query *q;

	switch (op) {
	case DP_OP_URECV:
		on_urecv(l, ud_ptr(cqe->user_data), cqe->res);
		return;
	case DP_OP_CRECV:
	case DP_OP_CSEND:
	case DP_OP_CCANCEL:
		conn_cqe(l, op, cqe);
		return;
	default:
		break;
	}
	q = dnsp_query_lookup(l, ud_slot(cqe->user_data), ud_gen(cqe->user_data));
	if (!q)
		return;
	if (op == DP_OP_USEND)
		dnsp_query_cqe(l, q, cqe->res);
	else
		dnsp_leg_cqe(l, q, (int)((op - DP_OP_LEG) / LEG_OP_COUNT),
			     (op - DP_OP_LEG) % LEG_OP_COUNT, cqe->res);
	dnsp_query_settle(l, q);
}

static void dp_stop(struct loop *l)
{
	struct dnsp_state *st = dnsp_of(l);
	struct list *n, *next;

	for (n = st->eps.next; n != &st->eps; n = next) {
		next = n->next;
		ep_close(l, list_entry(n, struct dnsp_ep, node));
	}
	for (n = st->conns.next; n != &st->conns; n = next) {
		struct dnsp_conn *c = list_entry(n, struct dnsp_conn, node);

		next = n->next;
		if (c->reading) /* no new queries; those asked are answered */
			shutdown(c->fd, SHUT_RD);
		conn_maybe_end(l, c);
	}
}

/* Past the shutdown deadline, clients that do not take their answers go. */
static void dp_tick(struct loop *l)
{
	struct dnsp_state *st = dnsp_of(l);
	struct list *n, *next;

	if (!l->stopping || l->now_ms < l->stop_deadline_ms)
		return;
	for (n = st->conns.next; n != &st->conns; n = next) {
		next = n->next;
		conn_close(l, list_entry(n, struct dnsp_conn, node));
	}
}

static bool dp_busy(const struct loop *l)
{
	const struct dnsp_state *st = dnsp_of(l);

	if (!st)
		return false;
	if (!list_empty(&st->eps) || !list_empty(&st->conns))
		return true;
	for (uint32_t i = 0; i < st->n_qtab; i++)
		if (st->qtab[i])
			return true;
	return false;
}

static void dp_destroy(struct loop *l)
{
	struct dnsp_state *st = dnsp_of(l);

	if (!st)
		return;
	if (st->running)
		log_info("dns_proxy: %llu queries, %llu answered, %llu failed, %llu stray answers",
			 (unsigned long long)st->st.queries, (unsigned long long)st->st.answered,
			 (unsigned long long)st->st.failed, (unsigned long long)st->st.spoofed);
	/* Nothing is in flight any more (or never was): close and free. */
	dnsp_queries_free(l);
	while (!list_empty(&st->conns)) {
		struct dnsp_conn *c = list_entry(st->conns.next, struct dnsp_conn, node);

		c->closing = true;
		c->inflight = 0;
		conn_settle(l, c);
	}
	while (!list_empty(&st->eps)) {
		struct dnsp_ep *ep = list_entry(st->eps.next, struct dnsp_ep, node);

		if (ep->tcp_open)
			close(ep->tcp.fd);
		ep->tcp_open = ep->urecv = false;
		ep->closing = true;
		ep->refs = 0;
		ep_maybe_free(ep);
	}
	dnsp_cache_free(st->cache);
	free(st->qtab);
	free(st->ctab);
	free(st);
	loop_set_state(l, &dnsproxy_module, NULL);
}

struct loop_module dnsproxy_module = {
	.name = "dnsproxy",
	.n_ops = DP_OP_COUNT,
	.prepare = dp_prepare,
	.init = dp_init,
	.start = dp_start,
	.cqe = dp_cqe,
	.tick = dp_tick,
	.stop = dp_stop,
	.busy = dp_busy,
	.destroy = dp_destroy,
	.reconfig = dp_reconfig,
};
