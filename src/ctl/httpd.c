/* SPDX-License-Identifier: MIT */
/*
 * httpd — connections of the control loop's HTTP listeners. Each has at
 * most one operation in flight (a receive, then sends), a deadline on the
 * loop's wheel, and is freed only when that operation has come back.
 */
#include "ctl/httpd.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/listener.h"
#include "core/log.h"

enum httpd_op {
	HTTPD_OP_RECV = 0, /* ptr = struct hconn */
	HTTPD_OP_SEND,
	HTTPD_OP_CANCEL,
	HTTPD_OP_COUNT
};

struct httpd {
	struct loop_listener ll;   /* first: the listener callbacks get it */
	char name[32];
	struct httpd_limits lim;
	httpd_handler handler;
	void *arg;
	struct list conns;
	unsigned n_conns;
	uint64_t refused;          /* connections closed at accept (over a cap) */
	bool stopping;
	bool listening;
};

struct hconn {
	struct httpd *h;
	struct list node;
	int fd;
	bool has_addr;             /* an IP peer (not a Unix socket client) */
	uint8_t addr[16];          /* its address, IPv4 as ::ffff:a.b.c.d */
	bool busy;                 /* an operation is in flight */
	bool closing;
	struct timer deadline;
	size_t len, cap;           /* bytes received, room in `in` */
	uint8_t *in;
	char *out;
	size_t out_len, out_off;
};

/* Servers not yet freed: the control loop waits for them when it stops. */
static unsigned live;

static void maybe_free_httpd(struct httpd *h)
{
	if (h->stopping && !h->listening && !h->n_conns) {
		free(h);
		live--;
	}
}

static void conn_free(struct hconn *c)
{
	struct httpd *h = c->h;

	timer_cancel(&c->deadline);
	if (c->fd >= 0)
		close(c->fd);
	list_del(&c->node);
	free(c->in);
	free(c->out);
	free(c);
	h->n_conns--;
	maybe_free_httpd(h);
}

static void conn_close(struct loop *l, struct hconn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	timer_cancel(&c->deadline);
	if (!c->busy) {
		conn_free(c);
		return;
	}
	/* Cancel what is in flight; free when it is back. */
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_cancel_fd(sqe, c->fd, 0);
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&httpd_module, HTTPD_OP_CANCEL), 0, 0));
}

static void arm_recv(struct loop *l, struct hconn *c)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_recv(sqe, c->fd, c->in + c->len, c->cap - c->len, 0);
	io_uring_sqe_set_data64(sqe, ud_pack_ptr(loop_tag(&httpd_module, HTTPD_OP_RECV), c));
	c->busy = true;
}

static void arm_send(struct loop *l, struct hconn *c)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_pack_ptr(loop_tag(&httpd_module, HTTPD_OP_SEND), c));
	c->busy = true;
}

/* What is received so far: wait, or send the answer (the handler's or an error). */
static void consider(struct loop *l, struct hconn *c)
{
	struct httpd *h = c->h;
	int r = httpd_consider(l, &h->lim, h->handler, h->arg, c->in, c->len, &c->out, &c->out_len);

	/* A full buffer is always a whole request or an error; never wait on zero bytes. */
	if (r == -EAGAIN && c->len < c->cap) {
		arm_recv(l, c);
		return;
	}
	if (r) {
		conn_close(l, c); /* no memory for an answer */
		return;
	}
	c->out_off = 0;
	arm_send(l, c);
}

static void on_recv(struct loop *l, struct hconn *c, int res)
{
	if (res <= 0) {
		conn_close(l, c);
		return;
	}
	c->len += (size_t)res;
	consider(l, c);
}

static void on_send(struct loop *l, struct hconn *c, int res)
{
	if (res <= 0) {
		conn_close(l, c);
		return;
	}
	c->out_off += (size_t)res;
	if (c->out_off < c->out_len) {
		arm_send(l, c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	conn_close(l, c);
}

static void httpd_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct hconn *c = ud_ptr(cqe->user_data);

	if (op == HTTPD_OP_CANCEL)
		return;
	c->busy = false;
	if (c->closing) {
		conn_free(c);
		return;
	}
	if (op == HTTPD_OP_RECV)
		on_recv(l, c, cqe->res);
	else
		on_send(l, c, cqe->res);
}

static void on_deadline(struct loop *l, struct timer *t)
{
	struct hconn *c = list_entry(&t->node, struct hconn, deadline.node);

	conn_close(l, c);
}

/* The peer's IP address as 16 bytes; false for a Unix socket client. */
static bool peer_addr(int fd, uint8_t out[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		return true;
	}
	if (ss.ss_family == AF_INET6) {
		memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* Would one more connection from addr pass the per-address cap? */
static bool addr_has_room(const struct httpd *h, const uint8_t addr[16])
{
	unsigned n = 0;

	if (!h->lim.max_per_addr)
		return true;
	for (const struct list *p = h->conns.next; p != &h->conns; p = p->next) {
		const struct hconn *o = list_entry(p, struct hconn, node);

		if (o->has_addr && !memcmp(o->addr, addr, 16) && ++n >= h->lim.max_per_addr)
			return false;
	}
	return true;
}

static void on_accept(struct loop *l, struct loop_listener *ll, int fd)
{
	struct httpd *h = (struct httpd *)ll;
	uint8_t addr[16];
	bool has_addr = peer_addr(fd, addr);
	struct hconn *c;

	if (h->n_conns >= h->lim.max_conns || (has_addr && !addr_has_room(h, addr))) {
		h->refused++;
		log_debug("%s: connection refused at accept (%s)", h->name,
			  h->n_conns >= h->lim.max_conns ? "all slots taken"
							 : "this address has its share of slots");
		close(fd);
		return;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->has_addr = has_addr;
	if (has_addr)
		memcpy(c->addr, addr, 16);
	c->cap = h->lim.max_head + h->lim.max_body;
	c->in = malloc(c->cap);
	if (!c->in) {
		free(c);
		close(fd);
		return;
	}
	c->h = h;
	c->fd = fd;
	list_add_tail(&h->conns, &c->node);
	h->n_conns++;
	timer_init_fn(&c->deadline, on_deadline);
	timer_arm(&l->wheel, &c->deadline, l->now_ms + h->lim.timeout_ms);
	arm_recv(l, c);
}

static void on_closed(struct loop *l, struct loop_listener *ll)
{
	struct httpd *h = (struct httpd *)ll;

	(void)l;
	h->listening = false;
	maybe_free_httpd(h);
}

struct httpd *httpd_start(struct loop *l, int fd, const char *name,
			  const struct httpd_limits *lim, httpd_handler handler, void *arg)
{
	struct httpd *h = calloc(1, sizeof(*h));

	if (!h) {
		close(fd);
		return NULL;
	}
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->lim = *lim;
	h->handler = handler;
	h->arg = arg;
	h->listening = true;
	list_init(&h->conns);
	live++;
	listener_start(l, &h->ll, fd, on_accept, on_closed);
	return h;
}

void httpd_stop(struct loop *l, struct httpd *h)
{
	struct list *n, *next;

	if (!h || h->stopping)
		return;
	h->stopping = true;
	for (n = h->conns.next; n != &h->conns; n = next) {
		next = n->next;
		conn_close(l, list_entry(n, struct hconn, node));
	}
	listener_close(l, &h->ll); /* may free h */
}

unsigned httpd_conns(const struct httpd *h)
{
	return h ? h->n_conns : 0;
}

uint64_t httpd_refused(const struct httpd *h)
{
	return h ? h->refused : 0;
}

static bool httpd_busy(const struct loop *l)
{
	(void)l;
	return live > 0;
}

struct loop_module httpd_module = {
	.name = "httpd",
	.n_ops = HTTPD_OP_COUNT,
	.cqe = httpd_cqe,
	.busy = httpd_busy,
};
