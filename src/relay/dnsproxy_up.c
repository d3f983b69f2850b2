/* SPDX-License-Identifier: MIT */
/*
 * dnsproxy_up — the legs of a DNS forwarder's query (relay/dnsproxy.h): how
 * one resolver is asked, every operation on the ring.
 *
 *   local, UDP  a socket of its own per query (the kernel picks a random
 *               source port) and a random ID; a datagram that is not from
 *               local_dns, or does not answer that ID and question, is
 *               dropped and the receive goes on until the query's time is
 *               up (a spoofed answer must guess both port and ID).
 *   local, TCP  when that answer comes back cut (TC) for a TCP client, or
 *               larger than we asked for, the query again over TCP.
 *   remote      an ss stream through the server (or the upstream chosen as
 *               connections choose one) to remote_dns, with the query in
 *               the request as DNS over TCP; the answer's records are
 *               opened until the whole message is in. One stream per
 *               query: nothing to keep alive, nothing to match on a
 *               shared stream, and with fast_open the query rides in the
 *               SYN.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/sockaddr.h"
#include "relay/relay.h"
#include "relay/ssclient.h"
#include "relay/stats.h"
#include "relay/upstream.h"
#include "dnsproxy_int.h"

/* Receives of a stream: room for the largest record of its method. */
#define STREAM_BUF (16 * 1024 + 1024)
#define STREAM_BUF_2022 (SS2022_CHUNK_MAX + 1024)
#define NO_ADDRESS "the server's name has no address"

static int which_of(const struct dnsp_query *q, const struct dnsp_leg *leg)
{
	return leg == &q->leg[LEG_LOCAL] ? LEG_LOCAL : LEG_REMOTE;
}

static void leg_tag(struct io_uring_sqe *sqe, struct dnsp_query *q, struct dnsp_leg *leg,
		    enum leg_op op)
{
	unsigned tag = DP_OP_LEG + (unsigned)which_of(q, leg) * LEG_OP_COUNT + op;

	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&dnsproxy_module, tag), q->slot, q->gen));
	leg->inflight++;
}

uint8_t *dnsp_leg_answer(struct dnsp_leg *leg, size_t *len)
{
	*len = leg->a.end;
	return leg->kind == LEG_UDP ? leg->buf : leg->ans + 2;
}

/* A stream's keys go as soon as it ends (as a session's do). */
static void wipe_ss(struct dnsp_leg *leg)
{
	if (!leg->ss)
		return;
	if (leg->ss->v2022)
		ss2022_reader_wipe(&leg->ss->rd2);
	else
		aead_ctx_wipe(&leg->ss->rd.ctx);
	aead_ctx_wipe(&leg->ss->wr);
	free(leg->ss);
	leg->ss = NULL;
}

void dnsp_leg_free(struct dnsp_leg *leg)
{
	if (leg->fd >= 0)
		close(leg->fd);
	leg->fd = -1;
	wipe_ss(leg);
	free(leg->buf);
	free(leg->ans);
	leg->buf = leg->ans = NULL;
}

static void close_fd(struct dnsp_leg *leg)
{
	if (leg->fd >= 0)
		close(leg->fd);
	leg->fd = -1;
}

static void leg_settle(struct dnsp_leg *leg)
{
	if (leg->state != LEG_CLOSING || leg->inflight)
		return;
	close_fd(leg);
	wipe_ss(leg);
	leg->state = LEG_DONE;
}

static bool running(const struct dnsp_leg *leg)
{
	return leg->state != LEG_IDLE && leg->state != LEG_CLOSING && leg->state != LEG_DONE;
}

/* The leg is over: why NULL for an answer in leg->a. tell: its query decides now. */
static void leg_end(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, const char *why,
		    bool tell)
{
	if (!running(leg))
		return;
	leg->ok = !why;
	leg->why = why;
	leg->state = LEG_CLOSING;
	if (leg->fd >= 0 && leg->inflight) {
		struct io_uring_sqe *sqe = loop_sqe(l);

		io_uring_prep_cancel_fd(sqe, leg->fd, IORING_ASYNC_CANCEL_ALL);
		leg_tag(sqe, q, leg, LEG_CANCEL);
	}
	leg_settle(leg);
	if (tell)
		dnsp_leg_over(l, q, leg);
}

void dnsp_leg_stop(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	leg_end(l, q, leg, "not needed", false);
}

void dnsp_leg_timeout(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	if (!running(leg))
		return;
	leg->timed_out = 1;
	leg_end(l, q, leg, "timed out", true);
}

/* The query with this leg's ID: 2-byte length first (for TCP) when framed. */
static uint8_t *request_bytes(const struct dnsp_query *q, const struct dnsp_leg *leg, bool framed,
			      size_t *n)
{
	size_t off = framed ? 2 : 0;
	uint8_t *b = malloc(off + q->qlen);

	if (!b)
		return NULL;
	if (framed) {
		b[0] = (uint8_t)(q->qlen >> 8);
		b[1] = (uint8_t)q->qlen;
	}
	memcpy(b + off, q->qm, q->qlen);
	dnsmsg_set_id(b + off, leg->id);
	*n = off + q->qlen;
	return b;
}

/* Is m (n bytes) the answer to q's question under this leg's ID? */
static bool answers(const struct dnsp_query *q, struct dnsp_leg *leg, const uint8_t *m, size_t n)
{
	return !dnsmsg_parse(m, n, &leg->a) && (leg->a.flags & DNSMSG_QR) &&
	       leg->a.id == leg->id && dnsmsg_same_question(&leg->a, &q->q);
}

/* ---- local_dns over UDP -------------------------------------------------- */

static void udp_recv(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	leg->iov = (struct iovec){ leg->buf, leg->cap };
	leg->msg = (struct msghdr){ .msg_name = &leg->from, .msg_namelen = sizeof(leg->from),
				    .msg_iov = &leg->iov, .msg_iovlen = 1 };
	io_uring_prep_recvmsg(sqe, leg->fd, &leg->msg, 0);
	leg_tag(sqe, q, leg, LEG_RECV);
}

static void udp_start(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	const struct hostport *to = &q->dp->local_dns;
	struct io_uring_sqe *sqe;
	int ret;

	leg->kind = LEG_UDP;
	leg->state = LEG_SENDING;
	leg->fd = socket(to->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (leg->fd < 0) {
		leg_end(l, q, leg, strerror(errno), true);
		return;
	}
	ret = relay_outbound_setup(leg->fd, to->addr.ss_family, &q->dp->cl.outbound);
	if (ret < 0 || !(leg->buf = request_bytes(q, leg, false, &leg->len))) {
		leg_end(l, q, leg, ret < 0 ? strerror(-ret) : "out of memory", true);
		return;
	}
	memcpy(&leg->peer, &to->addr, to->addr_len);
	leg->iov = (struct iovec){ leg->buf, leg->len };
	leg->msg = (struct msghdr){ .msg_name = &leg->peer, .msg_namelen = to->addr_len,
				    .msg_iov = &leg->iov, .msg_iovlen = 1 };
	sqe = loop_sqe(l);
	io_uring_prep_sendmsg(sqe, leg->fd, &leg->msg, 0);
	leg_tag(sqe, q, leg, LEG_SEND);
}

static void stream_start(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg,
			 uint8_t kind);

static void udp_sent(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, int res)
{
	/* The answer takes what the query's own OPT record says (the client's). */
	size_t want = q->q.has_opt && q->q.udp_size > DNSMSG_UDP_MIN ? q->q.udp_size
								    : DNSMSG_UDP_MIN;
	uint8_t *b;

	if (res < 0) {
		leg_end(l, q, leg, strerror(-res), true);
		return;
	}
	if (!(b = realloc(leg->buf, want + 1))) {
		leg_end(l, q, leg, "out of memory", true);
		return;
	}
	leg->buf = b;
	leg->cap = want + 1; /* a byte more: a larger datagram is seen as cut */
	leg->state = LEG_READING;
	udp_recv(l, q, leg);
}

static void udp_got(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, int res)
{
	bool cut;

	if (res < 0 && res != -EAGAIN && res != -EINTR && res != -ECONNREFUSED) {
		leg_end(l, q, leg, strerror(-res), true);
		return;
	}
	cut = res > 0 && (size_t)res == leg->cap;
	if (res <= 0 || !sockaddr_equal((struct sockaddr *)&leg->from,
					(struct sockaddr *)&leg->peer) ||
	    (!cut && !answers(q, leg, leg->buf, (size_t)res))) {
		if (res > 0)
			dnsp_of(l)->st.spoofed++;
		udp_recv(l, q, leg); /* not the answer: the query's timer bounds the wait */
		return;
	}
	/* Cut by the size we asked for, or TC for a client that takes it whole: TCP. */
	if (cut || ((leg->a.flags & DNSMSG_TC) && !q->ep)) {
		close_fd(leg);
		stream_start(l, q, leg, LEG_TCP);
		return;
	}
	leg_end(l, q, leg, NULL, true);
}

/* ---- streams: local_dns over TCP, remote_dns through the server -------- */

static void next_server(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg,
			const char *why);

static void connect_to(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg,
		       const struct sockaddr *sa, socklen_t len)
{
	struct io_uring_sqe *sqe;
	int fd;

	close_fd(leg);
	fd = relay_client_socket(sa->sa_family, &q->dp->cl.outbound);
	if (fd < 0) {
		leg_end(l, q, leg, strerror(-fd), true);
		return;
	}
	leg->fd = fd;
	memcpy(&leg->peer, sa, len);
	leg->state = LEG_CONNECTING;
	leg->t_conn_us = dnsp_mono_us();
	sqe = loop_sqe(l);
	io_uring_prep_connect(sqe, leg->fd, (struct sockaddr *)&leg->peer, len);
	leg_tag(sqe, q, leg, LEG_CONNECT);
}

/* The server name's next address; false when none is left. */
static bool connect_next(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	union dns_addr a;

	if (leg->addr_i >= leg->n_addrs)
		return false;
	a = leg->addrs[leg->addr_i++];
	connect_to(l, q, leg, &a.sa, sockaddr_len(&a.sa));
	return true;
}

/* Up to four of the name's addresses, in the resolver's order, with the server's port. */
static void connect_entry(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg,
			  const struct dns_entry *e, uint16_t port)
{
	leg->n_addrs = leg->addr_i = 0;
	for (int i = 0; i < e->n && leg->n_addrs < 4; i++) {
		leg->addrs[leg->n_addrs] = e->addr[i];
		sockaddr_set_port(&leg->addrs[leg->n_addrs++].sa, port);
	}
	connect_next(l, q, leg);
}

static const struct hostport *server_of(const struct dnsp_query *q, const struct dnsp_leg *leg)
{
	return leg->up >= 0 ? &q->dp->cl.ups[leg->up].tcp_server : &q->dp->cl.tcp_server;
}

static void dns_done(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
		     int err)
{
	struct dnsp_query *q = dnsp_query_lookup(l, w->slot, w->gen);
	struct dnsp_leg *leg = q ? &q->leg[w->arg[0]] : NULL;

	/* -ECANCELED: the resolver is torn down (the query's timer ends it otherwise) */
	if (!leg || leg->state != LEG_RESOLVING || leg->attempt != w->arg[1] || err == -ECANCELED)
		return;
	if (err || !e || !e->n)
		next_server(l, q, leg, err ? dns_strerror(err) : NO_ADDRESS);
	else
		connect_entry(l, q, leg, e, server_of(q, leg)->port);
	dnsp_query_settle(l, q);
}

/*
 * The next server to try (why: what the last one did): the entry's, or an
 * upstream not tried yet, chosen by health and latency as connections
 * choose (a failed one is out for upstream_retry, as for them).
 */
static void next_server(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg,
			const char *why)
{
	const struct config_client *cl = &q->dp->cl;
	struct dns_waiter w = { .done = dns_done, .slot = q->slot, .gen = q->gen };
	const struct hostport *hp;
	const struct dns_entry *e;
	int ret;

	if (why && leg->up >= 0)
		upstream_failed(&cl->rt, leg->up, cl->upstream_retry, upstream_now_ms());
	if (cl->n_ups && cl->rt.health)
		leg->up = upstream_pick(&cl->rt, cl->n_ups, leg->tried, upstream_now_ms());
	if ((cl->n_ups && leg->up < 0) || (!cl->n_ups && why)) {
		leg_end(l, q, leg, why ? why : "no server", true);
		return;
	}
	if (leg->up >= 0)
		leg->tried |= 1u << leg->up;
	hp = server_of(q, leg);
	if (!hp->port) {
		next_server(l, q, leg, "the server has no address yet");
		return;
	}
	if (hp->is_ip) {
		connect_to(l, q, leg, (const struct sockaddr *)&hp->addr, hp->addr_len);
		return;
	}
	w.arg[0] = (uint32_t)which_of(q, leg);
	w.arg[1] = ++leg->attempt;
	leg->state = LEG_RESOLVING;
	ret = dns_name_ok(hp->host) ? dns_lookup(l, hp->host, &w, &e) : -EINVAL;
	if (ret == DNS_PENDING)
		return;
	if (ret < 0 || !e->n)
		next_server(l, q, leg, ret < 0 ? dns_strerror(ret) : NO_ADDRESS);
	else
		connect_entry(l, q, leg, e, hp->port);
}

static void stream_start(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, uint8_t kind)
{
	const struct hostport *to = &q->dp->local_dns;

	leg->kind = kind;
	leg->state = LEG_CONNECTING;
	if (kind == LEG_TCP)
		connect_to(l, q, leg, (const struct sockaddr *)&to->addr, to->addr_len);
	else
		next_server(l, q, leg, NULL);
}

static void send_more(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_send(sqe, leg->fd, leg->buf + leg->off, leg->len - leg->off, MSG_NOSIGNAL);
	leg_tag(sqe, q, leg, LEG_SEND);
}

static void recv_more(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_recv(sqe, leg->fd, leg->buf + leg->len, leg->cap - leg->len, 0);
	leg_tag(sqe, q, leg, LEG_RECV);
}

/* The request through the server: salt, header for remote_dns, the framed query. */
static int ss_request(const struct dnsp_query *q, struct dnsp_leg *leg, uint8_t *early,
		      size_t elen)
{
	const struct config_cipher *c = leg->up >= 0 ? &q->dp->cl.ups[leg->up].cipher
						     : &q->dp->cl.cipher;
	struct ssaddr target;
	int r;

	leg->cap = elen + 2048; /* salt, identity headers, address, tags */
	if (!(leg->ss = calloc(1, sizeof(*leg->ss))) || !(leg->buf = malloc(leg->cap)))
		return -ENOMEM;
	ssclient_target(&target, &q->dp->remote_dns);
	r = ssclient_request(c, &target, early, elen, &leg->ss->wr, &leg->ss->rd2, leg->buf,
			     leg->cap, &leg->len);
	if (r < 0)
		return r;
	leg->ss->v2022 = (uint8_t)r;
	leg->plain = c->none;
	if (!r && !c->none)
		aead_reader_init(&leg->ss->rd, c->method, c->key);
	return 0;
}

static void on_connect(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, int res)
{
	const struct config_client *cl = &q->dp->cl;
	uint8_t *early;
	size_t elen;
	bool ok = false;

	if (res < 0) {
		/* refused or unreachable: the next address, then the next server */
		if (connect_next(l, q, leg))
			return;
		if (leg->kind == LEG_SS)
			next_server(l, q, leg, strerror(-res));
		else
			leg_end(l, q, leg, strerror(-res), true);
		return;
	}
	if (leg->kind == LEG_SS && leg->up >= 0)
		upstream_connected(&cl->rt, leg->up);
	early = request_bytes(q, leg, true, &elen);
	free(leg->buf);
	leg->buf = NULL;
	if (early && leg->kind == LEG_TCP) {
		leg->buf = early; /* the framed query as it is */
		leg->len = elen;
		leg->plain = 1;
		ok = true;
	} else if (early) {
		ok = ss_request(q, leg, early, elen) == 0;
		free(early);
	}
	if (!ok) {
		leg_end(l, q, leg, "cannot make the request", true);
		return;
	}
	leg->off = 0;
	leg->state = LEG_SENDING;
	send_more(l, q, leg);
}

static void on_sent(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, int res)
{
	uint8_t *b;

	if (res <= 0) {
		leg_end(l, q, leg, res < 0 ? strerror(-res) : "the request was not sent", true);
		return;
	}
	leg->off += (size_t)res;
	if (leg->off < leg->len) {
		send_more(l, q, leg);
		return;
	}
	leg->cap = leg->plain || !leg->ss->v2022 ? STREAM_BUF : STREAM_BUF_2022;
	if (!(b = realloc(leg->buf, leg->cap))) {
		leg_end(l, q, leg, "out of memory", true);
		return;
	}
	leg->buf = b;
	leg->len = 0;
	leg->state = LEG_READING;
	recv_more(l, q, leg);
}

/* Plaintext of the answer, kept up to its end: 1 once the whole message is in. */
static int append(struct dnsp_leg *leg, const uint8_t *p, size_t n)
{
	while (n) {
		size_t want = leg->ans_len < 2 ? 2 : 2 + ((size_t)leg->ans[0] << 8 | leg->ans[1]);
		size_t k = want - leg->ans_len < n ? want - leg->ans_len : n;

		if (!k)
			break; /* bytes after the answer: not ours */
		if (leg->ans_len + k > leg->ans_cap) {
			size_t cap = want > 512 ? want : 512;
			uint8_t *a = realloc(leg->ans, cap);

			if (!a)
				return -1;
			leg->ans = a;
			leg->ans_cap = cap;
		}
		memcpy(leg->ans + leg->ans_len, p, k);
		leg->ans_len += k;
		p += k;
		n -= k;
	}
	return leg->ans_len >= 2 && leg->ans_len == 2 + ((size_t)leg->ans[0] << 8 | leg->ans[1]);
}

/* Open the records in buf (a plain stream: take it as it is). 1: the whole
 * answer is in; 0: more is needed; -1: it does not open. */
static int take(struct dnsp_leg *leg)
{
	size_t pos = 0;
	int done = 0;

	if (leg->plain) {
		done = append(leg, leg->buf, leg->len);
		leg->len = 0;
		return done;
	}
	while (!done) {
		uint8_t *plain = NULL;
		size_t used = 0, plen = 0;
		int ret;

		uint8_t *at = leg->buf + pos;

		ret = leg->ss->v2022 ? ss2022_reader_step(&leg->ss->rd2, at, leg->len - pos,
							  (uint64_t)time(NULL), &used, &plain,
							  &plen)
				     : aead_reader_step(&leg->ss->rd, at, leg->len - pos, &used,
							&plain, &plen);
		if (ret < 0)
			return -1;
		if (ret == 0) /* NEED_MORE in both editions */
			break;
		pos += used;
		if (ret == (leg->ss->v2022 ? SS2022_RD_GOT_DATA : AEAD_RD_GOT_DATA) && plen)
			done = append(leg, plain, plen);
	}
	memmove(leg->buf, leg->buf + pos, leg->len - pos);
	leg->len -= pos;
	return done;
}

static void on_recv(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, int res)
{
	const struct config_client *cl = &q->dp->cl;
	int r;

	if (res <= 0) {
		leg_end(l, q, leg, res < 0 ? strerror(-res) : "the stream ended before the answer",
			true);
		return;
	}
	leg->len += (size_t)res;
	r = take(leg);
	if (r < 0) {
		leg_end(l, q, leg, "the answer does not open: a wrong key, or not this server",
			true);
	} else if (r == 0 && leg->len == leg->cap) {
		leg_end(l, q, leg, "an answer record larger than any", true);
	} else if (r == 0) {
		recv_more(l, q, leg);
	} else if (!answers(q, leg, leg->ans + 2, leg->ans_len - 2)) {
		leg_end(l, q, leg, "not an answer to the query", true);
	} else {
		if (leg->kind == LEG_SS && leg->up >= 0)
			upstream_answered(&cl->rt, leg->up, dnsp_mono_us() - leg->t_conn_us);
		leg_end(l, q, leg, NULL, true);
	}
}

/* ---- both ------------------------------------------------------------------ */

void dnsp_leg_start(struct loop *l, struct dnsp_query *q, int which)
{
	struct dnsp_leg *leg = &q->leg[which];

	leg->fd = -1;
	leg->up = -1;
	if (aead_random((uint8_t *)&leg->id, sizeof(leg->id)))
		leg->id = (uint16_t)(dnsp_mono_us() ^ q->gen);
	if (which == LEG_LOCAL)
		udp_start(l, q, leg);
	else
		stream_start(l, q, leg, LEG_SS);
}

void dnsp_leg_cqe(struct loop *l, struct dnsp_query *q, int which, unsigned op, int res)
{
	struct dnsp_leg *leg = &q->leg[which];

	leg->inflight--;
	if (leg->state == LEG_CLOSING) {
		leg_settle(leg);
		return;
	}
	switch (op) {
	case LEG_CONNECT:
		on_connect(l, q, leg, res);
		break;
	case LEG_SEND:
		if (leg->kind == LEG_UDP)
			udp_sent(l, q, leg, res);
		else
			on_sent(l, q, leg, res);
		break;
	case LEG_RECV:
		if (leg->kind == LEG_UDP)
			udp_got(l, q, leg, res);
		else
			on_recv(l, q, leg, res);
		break;
	default:
		break;
	}
}
