/* SPDX-License-Identifier: MIT */
/*
 * upcheck — the active upstream check (upstream_check = { ... }): a module
 * that runs on worker 0's loop only; health is shared by the workers
 * (relay/upstream.h). Every upstream of an entry with a check has one
 * struct check, which runs one attempt at a time:
 *
 *   idle --timer--> resolving (the server's name, on the ring) -> connecting
 *   (to each of up to four of its addresses in turn while refused)
 *   -> sending (the request: salt, header for target, the request bytes)
 *   -> reading (until a record of the answer opens) -> closing -> idle
 *
 * An attempt ends at the first answer bytes that decrypt (and, for a url,
 * begin with "HTTP/1."), or with a failure: the server's name, the
 * connect, an answer that does not open, the end of the stream before an
 * answer, or the timeout over all of it. The next attempt is due interval
 * seconds ±50 % later (each upstream draws its own). The checks belong to
 * the loop's current snapshot (a reference each); a new snapshot retires
 * them (what is in flight is cancelled, and its results count nowhere) and
 * starts its own.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "dns/dns.h"
#include "proto/sockaddr.h"
#include "relay/relay.h"
#include "relay/ssclient.h"
#include "relay/upstream.h"

/* Room for the request, then for the answer's first records (2022: the
 * response header and a first payload of up to 0xFFFF bytes). */
#define CHECK_BUF (SS2022_CHUNK_MAX + 1024)

enum uc_op { UC_OP_CONNECT = 0, UC_OP_SEND, UC_OP_RECV, UC_OP_CANCEL, UC_OP_COUNT };
enum ck_state { CK_IDLE = 0, CK_RESOLVING, CK_CONNECTING, CK_SENDING, CK_READING, CK_CLOSING };

struct check {
	uint32_t slot, gen;       /* gen: a new one per attempt (CQEs, DNS answers) */
	const struct config *cfg; /* a reference */
	const char *role;
	const struct hostport *listen;
	const struct config_rt *rt;
	const struct config_upstream *u;
	const struct config_upcheck *cc;
	const struct config_outbound *ob;
	uint32_t retry;
	int idx;                  /* the upstream's index in its entry */
	uint8_t state, dead, v2022, head_len;
	int fd;
	uint32_t inflight;        /* SQEs whose CQE has not come back */
	struct timer timer;       /* the next attempt, or the running one's deadline */
	uint64_t t_conn_us;       /* when the connect began (monotonic µs) */
	struct sockaddr_storage peer;
	union dns_addr addrs[4];  /* the server name's addresses, tried in turn */
	uint8_t n_addrs, addr_i;
	uint8_t *buf;             /* CHECK_BUF bytes while an attempt runs */
	size_t len, off;          /* sending: buf[off..len); reading: len bytes held */
	uint8_t head[8];          /* the answer's first plaintext bytes */
	uint8_t salt[AEAD_MAX_SALT_BYTES]; /* AEAD-2017: the request's salt */
	struct aead_ctx wr;
	union {
		struct aead_reader rd;    /* AEAD-2017 */
		struct ss2022_reader rd2; /* 2022 edition */
	};
};

struct upcheck_state {
	struct check **tab;       /* by slot; NULL = free */
	uint32_t n_tab;
	uint32_t gen;
};

static struct upcheck_state *state_of(struct loop *l)
{
	return loop_state(l, &upcheck_module);
}

static struct check *lookup(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct upcheck_state *st = state_of(l);

	if (!st || slot >= st->n_tab || !st->tab[slot] || st->tab[slot]->gen != gen)
		return NULL;
	return st->tab[slot];
}

static uint64_t rnd64(void)
{
	uint64_t r = 0;

	if (aead_random((uint8_t *)&r, sizeof(r)))
		r = upstream_now_ms() * 0x9E3779B97F4A7C15ull;
	return r;
}

static void tag(struct loop *l, struct io_uring_sqe *sqe, enum uc_op op, struct check *c)
{
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&upcheck_module, op), c->slot, c->gen));
	c->inflight++;
	(void)l;
}

/* The attempt's keys go (as a session's do). */
static void wipe_keys(struct check *c)
{
	if (c->v2022)
		ss2022_reader_wipe(&c->rd2);
	else
		aead_ctx_wipe(&c->rd.ctx);
	aead_ctx_wipe(&c->wr);
	c->v2022 = 0;
}

static void free_check(struct loop *l, struct check *c)
{
	struct upcheck_state *st = state_of(l);

	timer_cancel(&c->timer);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	wipe_keys(c);
	st->tab[c->slot] = NULL;
	config_unref(c->cfg);
	free(c);
}

/* The attempt is over and nothing of it is in flight: idle until the next. */
static void settle(struct loop *l, struct check *c)
{
	if (c->state != CK_CLOSING || c->inflight)
		return;
	if (c->dead) {
		free_check(l, c);
		return;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	free(c->buf);
	c->buf = NULL;
	wipe_keys(c);
	c->state = CK_IDLE;
	timer_arm(&l->wheel, &c->timer,
		  l->now_ms + upstream_check_delay_ms(c->cc->interval, rnd64()));
}

/* A check on loopback can answer within a millisecond: time it in µs. */
static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void report(struct check *c, const char *why)
{
	struct upstream_health *h = &c->rt->health[c->idx];
	uint64_t now = upstream_now_ms(), took_us;
	bool was_up = upstream_up(c->rt, c->idx, now);

	if (why) {
		upstream_failed(c->rt, c->idx, c->retry, now);
		atomic_fetch_add_explicit(&h->checks_failed, 1, memory_order_relaxed);
		log_msg(was_up ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
			"%s %s:%u: upstream %s:%u failed its check (%s)%s", c->role,
			c->listen->host, (unsigned)c->listen->port, c->u->server.host,
			(unsigned)c->u->server.port, why, was_up ? ": it is out" : "");
		return;
	}
	upstream_connected(c->rt, c->idx);
	took_us = mono_us() - c->t_conn_us;
	upstream_answered(c->rt, c->idx, took_us);
	atomic_fetch_add_explicit(&h->checks_ok, 1, memory_order_relaxed);
	log_msg(was_up ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		"%s %s:%u: upstream %s:%u passed its check in %.3f ms%s", c->role,
		c->listen->host, (unsigned)c->listen->port, c->u->server.host,
		(unsigned)c->u->server.port, (double)took_us / 1000,
		was_up ? "" : ": it is in again");
}

/* End the attempt: why = NULL for a pass. What is in flight is cancelled. */
static void finish(struct loop *l, struct check *c, const char *why)
{
	if (c->state == CK_CLOSING || c->state == CK_IDLE)
		return;
	if (!c->dead)
		report(c, why);
	c->state = CK_CLOSING;
	if (c->fd >= 0 && c->inflight) {
		struct io_uring_sqe *sqe = loop_sqe(l);

		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		tag(l, sqe, UC_OP_CANCEL, c);
	}
	settle(l, c);
}

static void connect_to(struct loop *l, struct check *c, const struct sockaddr *sa, socklen_t len)
{
	struct io_uring_sqe *sqe;
	int ret = relay_client_socket(sa->sa_family, c->ob);

	if (ret < 0) {
		finish(l, c, strerror(-ret));
		return;
	}
	c->fd = ret;
	memcpy(&c->peer, sa, len);
	c->state = CK_CONNECTING;
	c->t_conn_us = mono_us();
	sqe = loop_sqe(l);
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->peer, len);
	tag(l, sqe, UC_OP_CONNECT, c);
}

/* The next of the name's addresses; false when none is left. */
static bool connect_next(struct loop *l, struct check *c)
{
	union dns_addr a;

	if (c->addr_i >= c->n_addrs)
		return false;
	a = c->addrs[c->addr_i++];
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	sockaddr_set_port(&a.sa, c->u->tcp_server.port);
	connect_to(l, c, &a.sa, sockaddr_len(&a.sa));
	return true;
}

/* Up to four of the name's addresses, in the resolver's order (as a
 * session connecting to the server tries them); start() emptied the list. */
static void connect_entry(struct loop *l, struct check *c, const struct dns_entry *e)
{
	for (int i = 0; i < e->n && c->n_addrs < 4; i++)
		c->addrs[c->n_addrs++] = e->addr[i];
	connect_next(l, c);
}

static void dns_done(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
		     int err)
{
	struct check *c = lookup(l, w->slot, w->gen);

	if (!c || c->state != CK_RESOLVING)
		return;
	if (err || !e || !e->n)
		finish(l, c, err ? dns_strerror(err) : "the server's name has no address");
	else
		connect_entry(l, c, e);
}

static void start(struct loop *l, struct check *c)
{
	const struct hostport *hp = &c->u->tcp_server; /* the server, or its plugin */
	struct dns_waiter w = { .done = dns_done, .slot = c->slot };
	const struct dns_entry *e;
	int ret;

	if (!hp->port) { /* its plugin has no port yet: not the server's fault */
		c->state = CK_CLOSING;
		settle(l, c);
		return;
	}
	c->gen = w.gen = ++state_of(l)->gen;
	c->state = CK_RESOLVING;
	c->head_len = 0;
	c->n_addrs = c->addr_i = 0;
	timer_arm(&l->wheel, &c->timer, l->now_ms + (uint64_t)c->cc->timeout * 1000);
	if (hp->is_ip) {
		connect_to(l, c, (const struct sockaddr *)&hp->addr, hp->addr_len);
		return;
	}
	ret = dns_name_ok(hp->host) ? dns_lookup(l, hp->host, &w, &e) : -EINVAL;
	if (ret == DNS_PENDING)
		return;
	if (ret < 0 || !e->n)
		finish(l, c, ret < 0 ? dns_strerror(ret) : "the server's name has no address");
	else
		connect_entry(l, c, e);
}

static void send_more(struct loop *l, struct check *c)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
	tag(l, sqe, UC_OP_SEND, c);
}

static void recv_more(struct loop *l, struct check *c)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_recv(sqe, c->fd, c->buf + c->len, CHECK_BUF - c->len, 0);
	tag(l, sqe, UC_OP_RECV, c);
}

/* Connected: the request, as a local's session makes it (ssclient.c). */
static void on_connect(struct loop *l, struct check *c, int res)
{
	struct ssaddr target;
	int r;

	if (res < 0) {
		/* refused or unreachable: the name's next address, if any (the
		 * attempt's timeout covers them all; a cancelled connect is not
		 * seen here, the attempt is closing) */
		if (connect_next(l, c))
			return;
		finish(l, c, strerror(-res));
		return;
	}
	c->buf = malloc(CHECK_BUF);
	if (!c->buf) {
		finish(l, c, "out of memory");
		return;
	}
	ssclient_target(&target, &c->cc->target);
	r = ssclient_request(&c->u->cipher, &target, (const uint8_t *)c->cc->request,
			     c->cc->request_len, &c->wr, &c->rd2, c->buf, CHECK_BUF, &c->len);
	if (r < 0) {
		finish(l, c, "cannot make the request");
		return;
	}
	c->v2022 = (uint8_t)r;
	if (!r && !c->u->cipher.none) {
		aead_reader_init(&c->rd, c->u->cipher.method, c->u->cipher.key);
		memcpy(c->salt, c->buf, c->u->cipher.method->salt_len);
	}
	c->off = 0;
	c->state = CK_SENDING;
	send_more(l, c);
}

static void on_send(struct loop *l, struct check *c, int res)
{
	if (res <= 0) {
		finish(l, c, res < 0 ? strerror(-res) : "the request was not sent");
		return;
	}
	c->off += (size_t)res;
	if (c->off < c->len) {
		send_more(l, c);
		return;
	}
	c->state = CK_READING;
	c->len = 0;
	recv_more(l, c);
}

/*
 * Open the records held in buf. 1: the answer's first bytes are in head
 * (enough of them); 0: more is needed; -1: the answer does not open; -2:
 * it is the request sent back (AEAD-2017 opens its own request with the
 * same key: an echo would pass; the 2022 edition's header tells them apart).
 */
static int open_answer(struct check *c)
{
	size_t pos = 0, want = c->cc->http ? 7 : 1;
	int ret = 0;

	if (c->u->cipher.none) {
		/* Method none: the answer is the plaintext (an echo passes too). */
		pos = c->len < want - c->head_len ? c->len : want - c->head_len;
		memcpy(c->head + c->head_len, c->buf, pos);
		c->head_len = (uint8_t)(c->head_len + pos);
		c->len = 0;
		return c->head_len >= want;
	}
	while (c->head_len < want) {
		uint8_t *plain = NULL;
		size_t used = 0, plen = 0, k;
		bool data;

		if (c->v2022) {
			ret = ss2022_reader_step(&c->rd2, c->buf + pos, c->len - pos,
						 (uint64_t)time(NULL), &used, &plain, &plen);
			data = ret == SS2022_RD_GOT_DATA;
		} else {
			ret = aead_reader_step(&c->rd, c->buf + pos, c->len - pos, &used, &plain,
					       &plen);
			data = ret == AEAD_RD_GOT_DATA;
		}
		if (ret < 0)
			return -1;
		if (ret == 0) /* NEED_MORE in both editions */
			break;
		if (!c->v2022 && ret == AEAD_RD_GOT_SALT &&
		    !memcmp(c->rd.salt, c->salt, c->u->cipher.method->salt_len))
			return -2;
		pos += used;
		k = data ? plen < want - c->head_len ? plen : want - c->head_len : 0;
		if (k) {
			memcpy(c->head + c->head_len, plain, k);
			c->head_len = (uint8_t)(c->head_len + k);
		}
	}
	memmove(c->buf, c->buf + pos, c->len - pos);
	c->len -= pos;
	return c->head_len >= want;
}

static void on_recv(struct loop *l, struct check *c, int res)
{
	int ret;

	if (res <= 0) {
		finish(l, c, res < 0 ? strerror(-res) : "the stream ended before an answer");
		return;
	}
	c->len += (size_t)res;
	ret = open_answer(c);
	if (ret < 0)
		finish(l, c, ret == -1 ? "the answer does not open: a wrong key, or not this server"
				       : "the answer is the request sent back: not an ss server");
	else if (ret > 0)
		finish(l, c, !c->cc->http || !memcmp(c->head, "HTTP/1.", 7) ? NULL
			     : "the answer is not HTTP/1.x");
	else if (c->len == CHECK_BUF)
		finish(l, c, "an answer record larger than any");
	else
		recv_more(l, c);
}

static void on_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct check *c = lookup(l, ud_slot(cqe->user_data), ud_gen(cqe->user_data));

	if (!c)
		return;
	c->inflight--;
	if (c->state == CK_CLOSING) {
		settle(l, c);
		return;
	}
	switch (op) {
	case UC_OP_CONNECT: on_connect(l, c, cqe->res); break;
	case UC_OP_SEND: on_send(l, c, cqe->res); break;
	case UC_OP_RECV: on_recv(l, c, cqe->res); break;
	default: break;
	}
}

static void on_timer(struct loop *l, struct timer *t)
{
	struct check *c = list_entry(&t->node, struct check, timer.node);

	if (c->state == CK_IDLE)
		start(l, c);
	else if (c->state != CK_CLOSING)
		finish(l, c, "timed out");
}

/* Results no longer count; the check goes once nothing of it is in flight. */
static void retire(struct loop *l, struct check *c)
{
	c->dead = 1;
	if (c->state == CK_IDLE || c->state == CK_RESOLVING) {
		free_check(l, c);
		return;
	}
	finish(l, c, NULL);
}

static void retire_all(struct loop *l)
{
	struct upcheck_state *st = state_of(l);

	for (uint32_t i = 0; st && i < st->n_tab; i++)
		if (st->tab[i] && !st->tab[i]->dead)
			retire(l, st->tab[i]);
}

static int add_check(struct loop *l, const char *role, const struct hostport *listen,
		     const struct config_rt *rt, const struct config_upstream *u, int idx,
		     const struct config_upcheck *cc, const struct config_outbound *ob,
		     uint32_t retry)
{
	struct upcheck_state *st = state_of(l);
	struct check *c;
	uint32_t slot = 0;

	while (slot < st->n_tab && st->tab[slot])
		slot++;
	if (slot == st->n_tab) {
		uint32_t n = st->n_tab ? 2 * st->n_tab : 16;
		struct check **t = realloc(st->tab, n * sizeof(*t));

		if (!t)
			return -ENOMEM;
		memset(t + st->n_tab, 0, (n - st->n_tab) * sizeof(*t));
		st->tab = t;
		st->n_tab = n;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct check){ .slot = slot, .cfg = l->cfg, .role = role, .listen = listen,
			     .rt = rt, .u = &u[idx], .idx = idx, .cc = cc, .ob = ob, .retry = retry,
			     .fd = -1 };
	config_ref(l->cfg);
	timer_init_fn(&c->timer, on_timer);
	st->tab[slot] = c;
	/* The first attempt within one interval, at a random point of it. */
	timer_arm(&l->wheel, &c->timer, l->now_ms + rnd64() % ((uint64_t)cc->interval * 1000 + 1));
	return 0;
}

/* A check for every upstream of every entry of the current snapshot that has one. */
static void add_checks(struct loop *l)
{
	const struct config *cfg = l->cfg;
	int ret = 0;

	for (size_t i = 0; i < cfg->n_locals; i++) {
		const struct config_local *lc = &cfg->locals[i];

		for (size_t k = 0; lc->cl.check.interval && lc->cl.rt.health && k < lc->cl.n_ups && !ret; k++)
			ret = add_check(l, "local", &lc->cl.listen, &lc->cl.rt, lc->cl.ups, (int)k,
					&lc->cl.check, &lc->cl.outbound, lc->cl.upstream_retry);
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		const struct config_tunnel *t = &cfg->tunnels[i];

		for (size_t k = 0; t->cl.check.interval && t->cl.rt.health && k < t->cl.n_ups && !ret; k++)
			ret = add_check(l, t->redir ? "redir" : "tunnel", &t->cl.listen, &t->cl.rt,
					t->cl.ups, (int)k, &t->cl.check, &t->cl.outbound, t->cl.upstream_retry);
	}
	if (ret)
		log_error("upstream checks: out of memory: some upstreams are not checked");
}

static int uc_init(struct loop *l)
{
	struct upcheck_state *st;

	if (l->id != 0)
		return 0; /* worker 0 checks for all */
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	loop_set_state(l, &upcheck_module, st);
	return 0;
}

static void uc_start(struct loop *l)
{
	if (state_of(l))
		add_checks(l);
}

static void uc_reconfig(struct loop *l, const struct config *old)
{
	(void)old;
	if (!state_of(l) || l->stopping)
		return;
	retire_all(l);
	add_checks(l);
}

static void uc_stop(struct loop *l)
{
	retire_all(l);
}

static bool uc_busy(const struct loop *l)
{
	const struct upcheck_state *st = l->state[upcheck_module.id];

	for (uint32_t i = 0; st && i < st->n_tab; i++)
		if (st->tab[i] && st->tab[i]->inflight)
			return true;
	return false;
}

static void uc_destroy(struct loop *l)
{
	struct upcheck_state *st = state_of(l);

	if (!st)
		return;
	for (uint32_t i = 0; i < st->n_tab; i++)
		if (st->tab[i])
			free_check(l, st->tab[i]);
	free(st->tab);
	free(st);
	loop_set_state(l, &upcheck_module, NULL);
}

struct loop_module upcheck_module = {
	.name = "upcheck",
	.n_ops = UC_OP_COUNT,
	.init = uc_init,
	.start = uc_start,
	.cqe = on_cqe,
	.stop = uc_stop,
	.busy = uc_busy,
	.destroy = uc_destroy,
	.reconfig = uc_reconfig,
};
