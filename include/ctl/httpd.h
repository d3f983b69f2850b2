/* SPDX-License-Identifier: MIT */
/*
 * httpd — a small HTTP/1.1 server for the control loop's listeners (the
 * Prometheus metrics, the management API). One request per connection
 * (answered with Connection: close), bounded in every way a client could
 * stretch it: concurrent connections (in all and per client address), head
 * and body size, and time. The request head is parsed by
 * proto/http_proxy.h; the handler runs on the control loop and must not
 * block.
 */
#ifndef SSRING_HTTPD_H
#define SSRING_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "proto/http_proxy.h"

struct httpd_limits {
	unsigned max_conns;     /* more at once are closed at accept */
	/*
	 * At most this many at once from one IP address (0: no cap): one
	 * client reconnecting every timeout_ms cannot hold every slot. Unix
	 * socket clients only count against max_conns (the socket's mode
	 * decides who they are).
	 */
	unsigned max_per_addr;
	size_t max_head;        /* request head, final empty line included */
	size_t max_body;        /* Content-Length above: 413 */
	unsigned timeout_ms;    /* from accept to the last byte of the answer */
};

/* The answer: body is malloc'ed (or NULL) and freed by httpd. */
struct httpd_resp {
	int status;
	const char *content_type;   /* NULL: no body type */
	char *body;
	size_t len;
	const char *extra_headers;  /* "Name: value\r\n..." or NULL */
};

struct httpd_req {
	const uint8_t *buf;         /* the head as received */
	const struct http_request *head;
	const uint8_t *body;
	size_t body_len;
};

typedef void (*httpd_handler)(struct loop *l, void *arg, const struct httpd_req *req,
			      struct httpd_resp *resp);

struct httpd;

/*
 * Serve on the listening socket fd (taken over) with handler. NULL without
 * memory (fd closed). The control loop's httpd_module must be registered.
 */
struct httpd *httpd_start(struct loop *l, int fd, const char *name,
			  const struct httpd_limits *lim, httpd_handler handler, void *arg);
/* Stop: close the listener and every connection; freed once all are done. */
void httpd_stop(struct loop *l, struct httpd *h);
/* Connections open now (tests and metrics). */
unsigned httpd_conns(const struct httpd *h);
/* Connections closed at accept because a cap was reached. */
uint64_t httpd_refused(const struct httpd *h);

/* A body of text for resp (copied); false without memory (then no body at all). */
bool httpd_text(struct httpd_resp *resp, int status, const char *type, const char *text);

/*
 * The first value of header name (case-insensitive) in *v and *len, and how
 * many times it is there (0: absent, *v untouched).
 */
unsigned httpd_header(const struct httpd_req *req, const char *name, const uint8_t **v,
		      size_t *len);

/* Does req carry "Authorization: Bearer <token>"? Constant time in the token's length. */
bool httpd_token_ok(const struct httpd_req *req, const char *token);

/*
 * A connection's request as far as received, in[0..len) (in has room for
 * lim->max_head + lim->max_body): -EAGAIN while it is incomplete; else the
 * answer — handler's, or an error httpd gives itself (400, 411, 413, 431)
 * — as the bytes to send, malloc'ed into *out and *out_len (0), or -ENOMEM
 * (close without an answer). No I/O: the connection code (httpd.c), the
 * unit tests and fuzz_httpd drive requests through it alike.
 */
int httpd_consider(struct loop *l, const struct httpd_limits *lim, httpd_handler handler,
		   void *arg, const uint8_t *in, size_t len, char **out, size_t *out_len);

extern struct loop_module httpd_module;

#endif
