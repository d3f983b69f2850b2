/* SPDX-License-Identifier: MIT */
/*
 * httpd — connections of the control loop's HTTP listeners. Each has at
 * most one operation in flight (a receive, then sends), a deadline on the
 * loop's wheel, and is freed only when that operation has come back.
 */
#include "ctl/httpd.h"

#include <errno.h>
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
	bool stopping;
	bool listening;
};

struct hconn {
	struct httpd *h;
	struct list node;
	int fd;
	bool busy;                 /* an operation is in flight */
	bool closing;
	struct timer deadline;
	size_t len, cap;           /* bytes received, room in `in` */
	size_t head_len;           /* once the head is parsed */
	size_t need;               /* head + body */
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

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

bool httpd_text(struct httpd_resp *resp, int status, const char *type, const char *text)
{
	resp->status = status;
	resp->content_type = type;
	resp->len = strlen(text);
	resp->body = malloc(resp->len + 1);
	if (!resp->body)
		return false;
	memcpy(resp->body, text, resp->len + 1);
	return true;
}

/* Queue the answer (status line, headers, body) and start sending it. */
static void respond(struct loop *l, struct hconn *c, struct httpd_resp *r)
{
	char head[512];
	int n;

	/* No body with 204 (RFC 9110 §15.3.5). */
	if (r->status == 204)
		r->len = 0;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		     r->status, reason(r->status), r->content_type ? "Content-Type: " : "",
		     r->content_type ? r->content_type : "", r->content_type ? "\r\n" : "", r->len,
		     r->extra_headers ? r->extra_headers : "");
	c->out = malloc((size_t)n + r->len);
	if (!c->out || n <= 0 || (size_t)n >= sizeof(head)) {
		free(r->body);
		conn_close(l, c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	if (r->len)
		memcpy(c->out + n, r->body, r->len);
	free(r->body);
	c->out_len = (size_t)n + r->len;
	c->out_off = 0;
	arm_send(l, c);
}

static void respond_status(struct loop *l, struct hconn *c, int status)
{
	struct httpd_resp r = { 0 };
	char text[128];

	snprintf(text, sizeof(text), "%d %s\n", status, reason(status));
	if (!httpd_text(&r, status, "text/plain; charset=utf-8", text)) {
		conn_close(l, c);
		return;
	}
	respond(l, c, &r);
}

/* What is received so far: wait, answer an error, or hand the request over. */
static void consider(struct loop *l, struct hconn *c)
{
	struct httpd *h = c->h;
	struct http_request r;
	struct httpd_resp resp = { 0 };
	int n = http_parse_server_request(c->in, c->len < h->lim.max_head ? c->len : h->lim.max_head,
					   &r);

	if (n == -EAGAIN && c->len < h->lim.max_head) {
		arm_recv(l, c);
		return;
	}
	if (n == -EAGAIN || n == -E2BIG) {
		respond_status(l, c, 431);
		return;
	}
	if (n < 0) {
		respond_status(l, c, 400);
		return;
	}
	if (r.chunked) {
		respond_status(l, c, 411);
		return;
	}
	if (r.content_length > 0 && (uint64_t)r.content_length > h->lim.max_body) {
		respond_status(l, c, 413);
		return;
	}
	c->need = (size_t)n + (size_t)(r.content_length > 0 ? r.content_length : 0);
	if (c->len < c->need) {
		arm_recv(l, c);
		return;
	}
	struct httpd_req req = { .buf = c->in, .head = &r, .body = c->in + n,
				 .body_len = c->need - (size_t)n };

	h->handler(l, h->arg, &req, &resp);
	respond(l, c, &resp);
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

static void on_accept(struct loop *l, struct loop_listener *ll, int fd)
{
	struct httpd *h = (struct httpd *)ll;
	struct hconn *c;

	if (h->n_conns >= h->lim.max_conns || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
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
