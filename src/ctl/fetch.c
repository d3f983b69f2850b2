/* SPDX-License-Identifier: MIT */
/*
 * fetch — an HTTPS GET on the control loop (ctl/fetch.h).
 *
 * Steps: resolve (getaddrinfo in a thread of ours, which writes an eventfd
 * the loop reads; IP literals skip it) -> connect (IORING_OP_CONNECT, each address
 * in turn) -> TLS handshake -> request -> response, then done(). wolfSSL
 * never touches the socket: its I/O callbacks read from and write to
 * buffers, and this file moves those with one recv and one send SQE at a
 * time. A fetch is freed only when none of its operations is in flight.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ctl/fetch.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "core/log.h"
#include "core/timer.h"
#include "core/tsan.h"
#include "core/uring_compat.h"
#include "proto/hostport.h"
#include "proto/http_fetch.h"

#ifndef SSRING_VERSION
#define SSRING_VERSION "0.0.0"
#endif

#define SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define RECV_CHUNK 16384
#define HEAD_ROOM 16384

enum fetch_op { FOP_GAI = 0, FOP_CONNECT, FOP_SEND, FOP_RECV, FOP_COUNT };
enum fetch_step { ST_RESOLVE = 0, ST_CONNECT, ST_HANDSHAKE, ST_REQUEST, ST_RESPONSE, ST_DONE };
static const char *const step_names[] = { "resolving", "connecting", "the TLS handshake",
					  "sending the request", "reading the response", "done" };

struct fetch {
	struct fetch *next;
	struct loop *l;
	fetch_done_fn done;
	void *arg;
	struct https_url u;
	char ca[1024];
	enum fetch_step step;
	bool reported, canceled;
	unsigned ops;              /* SQEs in flight */
	bool gai_pending;          /* the resolver thread may still write efd */
	/* resolving: our own thread runs getaddrinfo (glibc's getaddrinfo_a
	 * threads are invisible to ThreadSanitizer, which crashes in them) */
	int efd;
	uint64_t ev;
	pthread_t resolver;
	int gai_rc;
	struct addrinfo hints;
	struct addrinfo *res, *cur;
	char port_str[8];
	struct sockaddr_storage lit;  /* an IP-literal host */
	socklen_t lit_len;
	/* the connection */
	int fd;
	WOLFSSL_CTX *ctx;
	WOLFSSL *ssl;
	uint8_t rbuf[RECV_CHUNK];  /* the recv in flight */
	uint8_t *rx;               /* ciphertext received, not yet given to wolfSSL */
	size_t rx_len, rx_off;
	bool eof;
	uint8_t *tx;               /* ciphertext wolfSSL wrote, not yet sent */
	size_t tx_len, tx_sent, tx_cap;
	bool sending, receiving;
	char req[HTTPS_PATH_MAX + HTTPS_HOST_MAX + 256];
	size_t req_len, req_off;
	uint8_t *plain;            /* the response so far */
	size_t plain_len, plain_cap, body_max;
	struct http_response_state resp; /* how far plain is parsed: each byte once */
	uint8_t *body;
	struct timer deadline;
	bool fail_pending;         /* could not start: report err_msg from the timer */
	char err_msg[300];
};

static struct fetch *fetches;
static bool tls_ready;

static void finish(struct fetch *f, int err, const char *why, int status, const uint8_t *body,
		   size_t len);
static void drive(struct fetch *f);

/* ---- wolfSSL's I/O, over our buffers ---------------------------------------- */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct fetch *f = ctx;
	size_t n = f->rx_len - f->rx_off;

	(void)ssl;
	if (n == 0)
		return f->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
	if (n > (size_t)sz)
		n = (size_t)sz;
	memcpy(buf, f->rx + f->rx_off, n);
	f->rx_off += n;
	if (f->rx_off == f->rx_len)
		f->rx_off = f->rx_len = 0;
	return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct fetch *f = ctx;

	(void)ssl;
	if (f->tx_len + (size_t)sz > f->tx_cap) {
		size_t cap = (f->tx_len + (size_t)sz) * 2;
		uint8_t *p = realloc(f->tx, cap);

		if (!p)
			return WOLFSSL_CBIO_ERR_GENERAL;
		f->tx = p;
		f->tx_cap = cap;
	}
	memcpy(f->tx + f->tx_len, buf, (size_t)sz);
	f->tx_len += (size_t)sz;
	return sz;
}

/* ---- SQEs ------------------------------------------------------------------- */

static void submit_send(struct fetch *f)
{
	struct io_uring_sqe *sqe;

	if (f->sending || f->fd < 0 || f->tx_sent == f->tx_len)
		return;
	sqe = loop_sqe(f->l);
	io_uring_prep_send(sqe, f->fd, f->tx + f->tx_sent, f->tx_len - f->tx_sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_pack_ptr(loop_tag(&fetch_module, FOP_SEND), f));
	f->sending = true;
	f->ops++;
}

static void submit_recv(struct fetch *f)
{
	struct io_uring_sqe *sqe;

	if (f->receiving || f->fd < 0 || f->eof)
		return;
	sqe = loop_sqe(f->l);
	io_uring_prep_recv(sqe, f->fd, f->rbuf, sizeof(f->rbuf), 0);
	io_uring_sqe_set_data64(sqe, ud_pack_ptr(loop_tag(&fetch_module, FOP_RECV), f));
	f->receiving = true;
	f->ops++;
}

static void try_connect(struct fetch *f)
{
	const struct sockaddr *sa;
	socklen_t len;
	struct io_uring_sqe *sqe;

	if (f->lit_len) {
		sa = (const struct sockaddr *)&f->lit;
		len = f->lit_len;
	} else if (f->cur) {
		sa = f->cur->ai_addr;
		len = f->cur->ai_addrlen;
	} else {
		finish(f, -ECONNREFUSED, "no address of the host accepted a connection", 0, NULL, 0);
		return;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd < 0) {
		finish(f, -errno, "socket", 0, NULL, 0);
		return;
	}
	f->step = ST_CONNECT;
	sqe = loop_sqe(f->l);
	io_uring_prep_connect(sqe, f->fd, sa, len);
	io_uring_sqe_set_data64(sqe, ud_pack_ptr(loop_tag(&fetch_module, FOP_CONNECT), f));
	f->ops++;
}

/* The resolver thread: look the name up, then tell the loop. */
static void *resolve_thread(void *arg)
{
	struct fetch *f = arg;

	f->gai_rc = getaddrinfo(f->u.host, f->port_str, &f->hints, &f->res);
	/* The eventfd read that follows orders this for the kernel, not for TSan. */
	tsan_release(f);
	eventfd_write(f->efd, 1);
	return NULL;
}

static int start_resolve(struct fetch *f)
{
	struct io_uring_sqe *sqe;
	sigset_t all, old;
	int r;

	f->efd = eventfd(0, EFD_CLOEXEC);
	if (f->efd < 0)
		return -errno;
	memset(&f->hints, 0, sizeof(f->hints));
	/* No AI_ADDRCONFIG: it drops every address on a host whose only one is loopback. */
	f->hints.ai_family = AF_UNSPEC;
	f->hints.ai_socktype = SOCK_STREAM;
	snprintf(f->port_str, sizeof(f->port_str), "%u", (unsigned)f->u.port);
	sqe = loop_sqe(f->l);
	io_uring_prep_read(sqe, f->efd, &f->ev, sizeof(f->ev), 0);
	io_uring_sqe_set_data64(sqe, ud_pack_ptr(loop_tag(&fetch_module, FOP_GAI), f));
	f->ops++;
	/* The thread takes no signal: the control loop reads them from its signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&f->resolver, NULL, resolve_thread, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		f->gai_rc = EAI_SYSTEM;
		eventfd_write(f->efd, 1); /* wake our own read, then report */
		return -r;
	}
	f->gai_pending = true;
	return 0;
}

static void on_resolved(struct fetch *f, int res)
{
	int r;

	if (f->gai_pending) {
		pthread_join(f->resolver, NULL);
		f->gai_pending = false;
	}
	tsan_acquire(f);
	if (f->reported)
		return;
	if (res < 0) {
		finish(f, res, "the resolver's eventfd", 0, NULL, 0);
		return;
	}
	r = f->gai_rc;
	if (r) {
		static char why[300];

		snprintf(why, sizeof(why), "cannot resolve %s: %s", f->u.host, gai_strerror(r));
		finish(f, -EHOSTUNREACH, why, 0, NULL, 0);
		return;
	}
	f->cur = f->res;
	try_connect(f);
}

/* ---- TLS -------------------------------------------------------------------- */

static int tls_setup(struct fetch *f, const char **why)
{
	const char *ca = f->ca[0] ? f->ca : SYSTEM_CA;

	f->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (!f->ctx) {
		*why = "TLS context: out of memory";
		return -ENOMEM;
	}
	wolfSSL_CTX_SetMinVersion(f->ctx, WOLFSSL_TLSV1_2);
	/* A system bundle may hold certificates wolfSSL cannot parse: skip those. */
	if (wolfSSL_CTX_load_verify_locations_ex(f->ctx, ca, NULL, WOLFSSL_LOAD_FLAG_IGNORE_ERR) !=
	    WOLFSSL_SUCCESS) {
		*why = f->ca[0] ? "cannot load servers_url_ca" : "cannot load the system CA bundle "
								 "(" SYSTEM_CA ")";
		return -EINVAL;
	}
	wolfSSL_CTX_set_verify(f->ctx, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_SetIORecv(f->ctx, io_recv);
	wolfSSL_CTX_SetIOSend(f->ctx, io_send);
	f->ssl = wolfSSL_new(f->ctx);
	if (!f->ssl) {
		*why = "TLS session: out of memory";
		return -ENOMEM;
	}
	wolfSSL_SetIOReadCtx(f->ssl, f);
	wolfSSL_SetIOWriteCtx(f->ssl, f);
	if (!f->u.host_is_ip &&
	    wolfSSL_UseSNI(f->ssl, WOLFSSL_SNI_HOST_NAME, f->u.host, (unsigned short)strlen(f->u.host)) !=
		    WOLFSSL_SUCCESS) {
		*why = "TLS SNI";
		return -EINVAL;
	}
	/* The certificate must name the host we asked for. */
	if (wolfSSL_check_domain_name(f->ssl, f->u.host) != WOLFSSL_SUCCESS) {
		*why = "TLS host name check";
		return -EINVAL;
	}
	return 0;
}

/* A TLS failure as a sentence: wolfSSL's reason and what it means for us. */
static void tls_fail(struct fetch *f, int err)
{
	static char why[300];
	const char *r = wolfSSL_ERR_reason_error_string((unsigned long)err);

	snprintf(why, sizeof(why), "%s with %s:%u failed: %s (%d)", step_names[f->step], f->u.host,
		 (unsigned)f->u.port, r ? r : "TLS error", err);
	finish(f, -EPROTO, why, 0, NULL, 0);
}

/* Parse what arrived; true when the response is complete (reported). */
static bool try_response(struct fetch *f, bool eof)
{
	const char *why = "";
	size_t blen = 0;
	int status = 0, r;

	r = http_response_feed(&f->resp, f->plain, f->plain_len, eof, &status, f->body,
			       f->body_max, &blen, &why);
	if (r == -EAGAIN)
		return false;
	if (r == -E2BIG) {
		finish(f, -E2BIG, "the response is larger than allowed", 0, NULL, 0);
		return true;
	}
	if (r < 0) {
		static char msg[200];

		snprintf(msg, sizeof(msg), "a malformed HTTP response: %s", why);
		finish(f, -EPROTO, msg, 0, NULL, 0);
		return true;
	}
	finish(f, 0, NULL, status, f->body, blen);
	return true;
}

static void drive(struct fetch *f)
{
	for (int guard = 0; guard < 1000 && !f->reported; guard++) {
		int r, e;

		if (f->step == ST_HANDSHAKE) {
			r = wolfSSL_connect(f->ssl);
			if (r == WOLFSSL_SUCCESS) {
				f->step = ST_REQUEST;
				continue;
			}
		} else if (f->step == ST_REQUEST) {
			r = wolfSSL_write(f->ssl, f->req + f->req_off, (int)(f->req_len - f->req_off));
			if (r > 0) {
				f->req_off += (size_t)r;
				if (f->req_off == f->req_len)
					f->step = ST_RESPONSE;
				continue;
			}
		} else if (f->step == ST_RESPONSE) {
			if (f->plain_len == f->plain_cap) {
				finish(f, -E2BIG, "the response is larger than allowed", 0, NULL, 0);
				return;
			}
			r = wolfSSL_read(f->ssl, f->plain + f->plain_len,
					 (int)(f->plain_cap - f->plain_len));
			if (r > 0) {
				f->plain_len += (size_t)r;
				if (try_response(f, false))
					return;
				continue;
			}
		} else {
			return;
		}
		e = wolfSSL_get_error(f->ssl, r);
		if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
			break;
		if (f->step == ST_RESPONSE && e == WOLFSSL_ERROR_ZERO_RETURN) {
			/* close_notify: the end of a close-delimited body */
			if (!try_response(f, true))
				finish(f, -EPROTO, "the response ended early", 0, NULL, 0);
			return;
		}
		if (f->step == ST_RESPONSE && f->eof) {
			/* Closed without close_notify: only a framed response is trusted. */
			if (!try_response(f, false))
				finish(f, -EPROTO, "the connection closed before the response was "
						   "complete (no TLS close_notify)", 0, NULL, 0);
			return;
		}
		tls_fail(f, e);
		return;
	}
	submit_send(f);
	if (f->step >= ST_HANDSHAKE && f->step < ST_DONE && f->tx_sent == f->tx_len)
		submit_recv(f);
}

static void on_connected(struct fetch *f, int res)
{
	const char *why = "";
	int r;

	if (f->reported)
		return;
	if (res < 0) {
		if (f->cur && f->cur->ai_next) {
			f->cur = f->cur->ai_next;
			try_connect(f);
			return;
		}
		{
			static char msg[300];

			snprintf(msg, sizeof(msg), "cannot connect to %s:%u: %s", f->u.host,
				 (unsigned)f->u.port, strerror(-res));
			finish(f, res, msg, 0, NULL, 0);
		}
		return;
	}
	r = tls_setup(f, &why);
	if (r) {
		finish(f, r, why, 0, NULL, 0);
		return;
	}
	f->step = ST_HANDSHAKE;
	drive(f);
}

/* ---- the fetch's life ----------------------------------------------------------- */

static void release(struct fetch *f)
{
	if (f->ops || f->gai_pending)
		return;
	for (struct fetch **pp = &fetches; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	timer_cancel(&f->deadline);
	if (f->ssl)
		wolfSSL_free(f->ssl);
	if (f->ctx)
		wolfSSL_CTX_free(f->ctx);
	if (f->res)
		freeaddrinfo(f->res);
	if (f->fd >= 0)
		close(f->fd);
	if (f->efd >= 0)
		close(f->efd);
	free(f->rx);
	free(f->tx);
	free(f->plain);
	free(f->body);
	free(f);
}

static void finish(struct fetch *f, int err, const char *why, int status, const uint8_t *body,
		   size_t len)
{
	if (f->reported)
		return;
	f->reported = true;
	f->step = ST_DONE;
	timer_cancel(&f->deadline);
	if (!f->canceled)
		f->done(f->l, f->arg, err, why, status, body, len);
	/* What is in flight ends now: the socket goes, the resolver is told. */
	if (f->fd >= 0)
		shutdown(f->fd, SHUT_RDWR);
	/* A lookup in flight runs to its end; its eventfd read then frees us. */
	/* Freed by release() at the end of the entry point that got here. */
}

static void on_deadline(struct loop *l, struct timer *t)
{
	struct fetch *f = (struct fetch *)((char *)t - offsetof(struct fetch, deadline));

	(void)l;
	if (f->reported)
		return;
	if (f->fail_pending) {
		finish(f, -EINVAL, f->err_msg, 0, NULL, 0);
	} else {
		snprintf(f->err_msg, sizeof(f->err_msg), "no answer within %d s (while %s)",
			 FETCH_DEADLINE_MS / 1000, step_names[f->step]);
		finish(f, -ETIMEDOUT, f->err_msg, 0, NULL, 0);
	}
	release(f);
}

/* A fetch that cannot start still reports through the loop, soon. */
static struct fetch *fail_soon(struct fetch *f, const char *why)
{
	snprintf(f->err_msg, sizeof(f->err_msg), "%s", why);
	f->fail_pending = true;
	timer_arm(&f->l->wheel, &f->deadline, f->l->now_ms + 1);
	return f;
}

struct fetch *fetch_start(struct loop *l, const char *url, const char *ca, size_t body_max,
			  fetch_done_fn done, void *arg)
{
	struct fetch *f = calloc(1, sizeof(*f));
	const char *why = "";
	int n, r;

	if (!f)
		return NULL;
	f->l = l;
	f->done = done;
	f->arg = arg;
	f->fd = f->efd = -1;
	f->body_max = body_max;
	http_response_init(&f->resp);
	timer_init_fn(&f->deadline, on_deadline);
	f->next = fetches;
	fetches = f;
	f->plain_cap = body_max + HEAD_ROOM;
	f->plain = malloc(f->plain_cap);
	f->body = malloc(body_max ? body_max : 1);
	f->rx = malloc(RECV_CHUNK);
	if (!f->plain || !f->body || !f->rx) {
		f->reported = true;
		release(f);
		return NULL;
	}
	snprintf(f->ca, sizeof(f->ca), "%s", ca ? ca : "");
	if (!tls_ready)
		return fail_soon(f, "TLS is not initialised");
	if (https_url_parse(url, strlen(url), &f->u, &why))
		return fail_soon(f, why);
	{
		/* Host: the name (IPv6 in brackets), with the port unless it is 443 */
		char host[HTTPS_HOST_MAX + 16];
		const char *fmt = strchr(f->u.host, ':') ? (f->u.port != 443 ? "[%s]:%u" : "[%s]")
							 : (f->u.port != 443 ? "%s:%u" : "%s");

		snprintf(host, sizeof(host), fmt, f->u.host, (unsigned)f->u.port);
		n = snprintf(f->req, sizeof(f->req),
			     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ssring/%s\r\n"
			     "Accept: application/json\r\nConnection: close\r\n\r\n",
			     f->u.path, host, SSRING_VERSION);
		if (n < 0 || (size_t)n >= sizeof(f->req))
			return fail_soon(f, "the URL is too long");
	}
	f->req_len = (size_t)n;
	timer_arm(&l->wheel, &f->deadline, l->now_ms + FETCH_DEADLINE_MS);
	if (f->u.host_is_ip) {
		char hp[HTTPS_HOST_MAX + 16];
		struct hostport h;

		snprintf(hp, sizeof(hp), strchr(f->u.host, ':') ? "[%s]:%u" : "%s:%u", f->u.host,
			 (unsigned)f->u.port);
		if (hostport_parse(hp, false, &h))
			return fail_soon(f, "the URL's address");
		memcpy(&f->lit, &h.addr, h.addr_len);
		f->lit_len = h.addr_len;
		try_connect(f);
		return f;
	}
	f->step = ST_RESOLVE;
	r = start_resolve(f);
	if (r)
		log_warn("fetch: cannot start resolving %s: %s", f->u.host, strerror(-r));
	return f;
}

void fetch_cancel(struct loop *l, struct fetch *f)
{
	(void)l;
	f->canceled = true;
	finish(f, -ECANCELED, "canceled", 0, NULL, 0);
	release(f);
}

static void fetch_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct fetch *f = ud_ptr(cqe->user_data);

	(void)l;
	f->ops--;
	switch (op) {
	case FOP_GAI:
		on_resolved(f, cqe->res);
		break;
	case FOP_CONNECT:
		on_connected(f, cqe->res);
		break;
	case FOP_SEND:
		f->sending = false;
		if (cqe->res < 0 && !f->reported) {
			finish(f, cqe->res, "sending to the server failed", 0, NULL, 0);
		} else if (!f->reported) {
			f->tx_sent += (size_t)cqe->res;
			if (f->tx_sent == f->tx_len)
				f->tx_sent = f->tx_len = 0;
			drive(f);
		}
		break;
	case FOP_RECV:
		f->receiving = false;
		if (cqe->res < 0 && !f->reported) {
			finish(f, cqe->res, "receiving from the server failed", 0, NULL, 0);
		} else if (!f->reported) {
			if (cqe->res == 0) {
				f->eof = true;
			} else {
				uint8_t *p;

				if (f->rx_off)
					memmove(f->rx, f->rx + f->rx_off, f->rx_len - f->rx_off);
				f->rx_len -= f->rx_off;
				f->rx_off = 0;
				p = realloc(f->rx, f->rx_len + (size_t)cqe->res);
				if (!p) {
					finish(f, -ENOMEM, "out of memory", 0, NULL, 0);
					break;
				}
				f->rx = p;
				memcpy(f->rx + f->rx_len, f->rbuf, (size_t)cqe->res);
				f->rx_len += (size_t)cqe->res;
			}
			drive(f);
		}
		break;
	default:
		break;
	}
	release(f);
}

static int fetch_setup(const struct config *cfg)
{
	(void)cfg;
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		log_error("fetch: wolfSSL_Init failed");
		return -EIO;
	}
	tls_ready = true;
	return 0;
}

static void fetch_teardown(void)
{
	if (tls_ready)
		wolfSSL_Cleanup();
	tls_ready = false;
}

static void fetch_stop(struct loop *l)
{
	for (struct fetch *f = fetches, *next; f; f = next) {
		next = f->next; /* f may be freed */
		if (!f->reported)
			fetch_cancel(l, f);
	}
}

static bool fetch_busy(const struct loop *l)
{
	(void)l;
	return fetches != NULL;
}

static void fetch_destroy(struct loop *l)
{
	(void)l;
	while (fetches) {
		struct fetch *f = fetches;

		f->ops = 0;
		if (f->gai_pending)
			pthread_join(f->resolver, NULL);
		f->gai_pending = false;
		f->reported = true;
		release(f);
	}
}

struct loop_module fetch_module = {
	.name = "fetch",
	.n_ops = FOP_COUNT,
	.setup = fetch_setup,
	.teardown = fetch_teardown,
	.cqe = fetch_cqe,
	.stop = fetch_stop,
	.busy = fetch_busy,
	.destroy = fetch_destroy,
};
