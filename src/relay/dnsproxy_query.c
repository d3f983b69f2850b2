/* SPDX-License-Identifier: MIT */
/*
 * dnsproxy_query — one query of a DNS forwarder's client (relay/dnsproxy.h):
 * checked, answered from the cache or routed by the ACL to its resolvers
 * (dnsproxy_up.c), and answered once: the resolver's answer with the
 * client's ID and letter case, cut for a UDP client it does not fit, or
 * SERVFAIL when no usable answer came in time. A query holds the snapshot
 * it began on; it is freed once its answer is sent and nothing of it is in
 * flight. Functions that may end a query never free it: the entry points
 * (completions, timers, the resolver's callbacks) settle it last.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/acl.h"
#include "relay/stats.h"
#include "dnsproxy_int.h"

struct dnsp_query *dnsp_query_lookup(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct dnsp_state *st = dnsp_of(l);
	struct dnsp_query *q;

	if (!st || slot >= st->n_qtab || !(q = st->qtab[slot]) || q->gen != gen)
		return NULL;
	return q;
}

static void query_free(struct loop *l, struct dnsp_query *q, bool destroying)
{
	struct dnsp_state *st = dnsp_of(l);

	for (int i = 0; i < 2; i++)
		dnsp_leg_free(&q->leg[i]);
	timer_cancel(&q->timer);
	if (q->asking)
		st->asking--;
	if (q->ep && !destroying)
		dnsp_ep_put(l, q->ep);
	loop_cfg_drop(l, q->cfg);
	st->qtab[q->slot] = NULL;
	free(q->qm);
	if (q->ans != q->err)
		free(q->ans);
	free(q);
}

void dnsp_query_settle(struct loop *l, struct dnsp_query *q)
{
	if (!q->answered || !q->written || q->inflight)
		return;
	for (int i = 0; i < 2; i++)
		if (q->leg[i].state != LEG_IDLE && q->leg[i].state != LEG_DONE)
			return;
	query_free(l, q, false);
}

void dnsp_queries_free(struct loop *l)
{
	struct dnsp_state *st = dnsp_of(l);

	for (uint32_t i = 0; i < st->n_qtab; i++)
		if (st->qtab[i])
			query_free(l, st->qtab[i], true);
}

void dnsp_query_written(struct loop *l, struct dnsp_query *q)
{
	q->written = true;
	dnsp_query_settle(l, q);
}

void dnsp_query_cqe(struct loop *l, struct dnsp_query *q, int res)
{
	(void)l;
	q->inflight--;
	q->written = true;
	if (res < 0)
		log_debug("dns_proxy: an answer to a UDP client: %s", strerror(-res));
}

/* The answer in q->ans (its length in q->ans_len) goes to the client. */
static void deliver(struct loop *l, struct dnsp_query *q)
{
	struct dnsp_state *st = dnsp_of(l);
	struct dnsp_conn *c;

	q->ans[0] = (uint8_t)(q->ans_len >> 8);
	q->ans[1] = (uint8_t)q->ans_len;
	q->answered = true;
	st->st.answered++;
	timer_cancel(&q->timer);
	if (q->asking) {
		q->asking = false;
		st->asking--;
	}
	for (int i = 0; i < 2; i++)
		dnsp_leg_stop(l, q, &q->leg[i]);
	if (q->ep) {
		struct io_uring_sqe *sqe = loop_sqe(l);

		q->iov = (struct iovec){ q->ans + 2, q->ans_len };
		q->msg = (struct msghdr){ .msg_name = &q->client, .msg_namelen = q->client_len,
					  .msg_iov = &q->iov, .msg_iovlen = 1 };
		io_uring_prep_sendmsg(sqe, q->ep->ufd, &q->msg, 0);
		io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&dnsproxy_module, DP_OP_USEND),
						     q->slot, q->gen));
		q->inflight++;
	} else if ((c = dnsp_conn_lookup(l, q->conn_slot, q->conn_gen))) {
		dnsp_conn_answer(l, c, q);
	} else {
		q->written = true; /* the client is gone */
	}
}

/* An error answer (rcode) to q, counted as wc. */
static void fail(struct loop *l, struct dnsp_query *q, unsigned rcode, unsigned wc)
{
	dnsp_count(l, wc);
	dnsp_of(l)->st.failed++;
	q->ans = q->err;
	q->ans_len = dnsmsg_error(q->err + 2, sizeof(q->err) - 2, q->qm, q->q.qd ? &q->q : NULL,
				  rcode, 1232);
	deliver(l, q);
}

/*
 * m (len bytes, a message that parses) as the answer to q: the client's
 * ID and case, TTLs less age_s (from the cache), cut to the client's size.
 */
static void answer(struct loop *l, struct dnsp_query *q, const uint8_t *m, size_t len,
		   uint32_t age_s)
{
	struct dnsmsg a;
	uint8_t *b = malloc(2 + len);
	size_t n;

	if (!b || dnsmsg_parse(m, len, &a)) {
		free(b);
		fail(l, q, DNSMSG_SERVFAIL, WC_DNSP_FAIL_UPSTREAM);
		return;
	}
	memcpy(b + 2, m, len);
	/* A resolver's cookie is for us (it should send none: we send none). */
	n = dnsmsg_drop_option(b + 2, len, &a, DNSMSG_OPT_COOKIE);
	if (n != len)
		dnsmsg_parse(b + 2, n, &a);
	dnsmsg_set_id(b + 2, q->q.id);
	dnsmsg_copy_qname_case(b + 2, &a, q->qm, &q->q);
	if (age_s)
		dnsmsg_age(b + 2, &a, age_s);
	q->ans = b;
	q->ans_len = dnsmsg_truncate(b + 2, a.end, &a, q->limit);
	deliver(l, q);
}

/* Who answered (debug). */
static void say(const struct dnsp_query *q, const char *who)
{
	char name[DNSMSG_TEXT_MAX];

	if (log_get_level() < LOG_LEVEL_DEBUG)
		return;
	dnsmsg_qname_text(&q->q, name);
	log_debug("dns_proxy: %s type %u: the answer of %s%s", name[0] ? name : ".",
		  (unsigned)q->q.qtype, who, q->route == ROUTE_BOTH ? " (both asked)" : "");
}

/* How long an answer may be kept (0: not at all): positive ones for their
 * least TTL, negative ones (NXDOMAIN, no data) briefly; never a cut one
 * (TC: a TCP client would want it whole) or a failure. */
static uint32_t cache_ttl(const struct dnsmsg *a)
{
	unsigned rc = DNSMSG_RCODE(a->flags);

	if (a->flags & DNSMSG_TC || (rc != DNSMSG_NOERROR && rc != DNSMSG_NXDOMAIN))
		return 0;
	if (rc == DNSMSG_NOERROR && a->an)
		return a->min_ttl < DNSP_TTL_MAX_S ? a->min_ttl : DNSP_TTL_MAX_S;
	if (!a->has_soa)
		return DNSP_NEG_TTL_S;
	return a->neg_ttl < DNSP_NEG_TTL_MAX_S ? a->neg_ttl : DNSP_NEG_TTL_MAX_S;
}

static void answer_from(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg, int which)
{
	uint8_t key[DNSMSG_KEY_MAX];
	size_t len;
	const uint8_t *m = dnsp_leg_answer(leg, &len);
	uint32_t ttl = cache_ttl(&leg->a);

	dnsp_count(l, which == LEG_LOCAL ? WC_DNSP_FROM_LOCAL : WC_DNSP_FROM_REMOTE);
	say(q, which == LEG_LOCAL ? "local_dns" : "remote_dns");
	/* An answer of an older snapshot may follow rules no longer in force. */
	if (ttl && q->cfg == l->cfg)
		dnsp_cache_put(dnsp_of(l)->cache, key, dnsmsg_cache_key(&q->q, key), m, leg->a.end,
			       ttl, l->now_ms);
	answer(l, q, m, leg->a.end, 0);
}

/* Would the ACL send a connection to this address through the server? */
static bool proxied_addr(void *arg, const struct sockaddr *sa)
{
	return acl_route_addr(arg, sa) == ACL_ROUTE_PROXY;
}

static bool over(const struct dnsp_leg *leg)
{
	return leg->state == LEG_CLOSING || leg->state == LEG_DONE;
}

static void no_answer(struct loop *l, struct dnsp_query *q)
{
	bool timed_out = q->leg[LEG_LOCAL].timed_out || q->leg[LEG_REMOTE].timed_out;

	fail(l, q, DNSMSG_SERVFAIL, timed_out ? WC_DNSP_FAIL_TIMEOUT : WC_DNSP_FAIL_UPSTREAM);
}

void dnsp_leg_over(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg)
{
	struct dnsp_leg *lo = &q->leg[LEG_LOCAL], *re = &q->leg[LEG_REMOTE];
	const struct acl *acl = q->dp->cl.acl ? q->dp->cl.acl->acl : NULL;
	uint64_t grace;

	if (!leg->ok)
		log_debug("dns_proxy: %s asked for query %u: %s",
			  leg == lo ? "local_dns" : "remote_dns", (unsigned)q->q.id, leg->why);
	if (q->answered)
		return;
	if (q->route != ROUTE_BOTH) {
		struct dnsp_leg *only = q->route == ROUTE_LOCAL ? lo : re;

		if (over(only) && only->ok)
			answer_from(l, q, only, q->route == ROUTE_LOCAL ? LEG_LOCAL : LEG_REMOTE);
		else if (over(only))
			no_answer(l, q);
		return;
	}
	/* Both asked: the local answer unless an address in it would be proxied. */
	if (over(lo) && lo->ok && !dnsmsg_any_addr(dnsp_leg_answer(lo, &(size_t){ 0 }), &lo->a,
						   proxied_addr, (void *)acl)) {
		answer_from(l, q, lo, LEG_LOCAL);
	} else if (over(lo) && over(re)) {
		if (re->ok)
			answer_from(l, q, re, LEG_REMOTE);
		else
			no_answer(l, q);
	} else if (over(re) && !over(lo)) {
		/* The local answer is normally the quicker; it gets a little longer. */
		grace = l->now_ms + DNSP_GRACE_MS;
		timer_arm(&l->wheel, &q->timer, grace < q->deadline_ms ? grace : q->deadline_ms);
	}
}

/* The query's time is up: what still asks gives up. */
static void on_timer(struct loop *l, struct timer *t)
{
	struct dnsp_query *q = list_entry(&t->node, struct dnsp_query, timer.node);

	for (int i = 0; i < 2; i++)
		dnsp_leg_timeout(l, q, &q->leg[i]);
	dnsp_query_settle(l, q);
}

static enum dnsp_route route_of(const struct config_dns_proxy *dp, const struct dnsmsg *q)
{
	const struct acl *acl = dp->cl.acl ? dp->cl.acl->acl : NULL;
	char name[DNSMSG_TEXT_MAX];
	struct acl_stats s;
	size_t n;

	if (!acl)
		return ROUTE_REMOTE;
	n = dnsmsg_qname_text(q, name);
	switch (acl_route_name(acl, name, n)) {
	case ACL_ROUTE_BYPASS:
		return ROUTE_LOCAL;
	case ACL_ROUTE_PROXY:
		return ROUTE_REMOTE;
	default:
		break;
	}
	/* Not listed. With address rules, the answer's addresses decide (ask
	 * both); without, every address would go the mode's way. */
	acl_get_stats(acl, &s);
	if (s.cidrs)
		return ROUTE_BOTH;
	return acl_get_mode(acl) == ACL_MODE_PROXY_ALL ? ROUTE_REMOTE : ROUTE_LOCAL;
}

static struct dnsp_query *query_alloc(struct loop *l, const struct config_dns_proxy *dp,
				      struct dnsp_ep *ep, struct dnsp_conn *conn,
				      const uint8_t *m, size_t len)
{
	struct dnsp_state *st = dnsp_of(l);
	struct dnsp_query *q;
	int slot = dnsp_slot(&st->qtab, &st->n_qtab);

	if (slot < 0 || !(q = calloc(1, sizeof(*q))))
		return NULL;
	if (!(q->qm = malloc(len))) {
		free(q);
		return NULL;
	}
	memcpy(q->qm, m, len);
	q->qlen = len;
	q->slot = (uint32_t)slot;
	q->gen = ++st->gen;
	/* The snapshot dp belongs to: a TCP client's own, the current one for UDP. */
	q->cfg = loop_cfg_hold(l, conn ? conn->cfg : l->cfg);
	q->dp = dp;
	q->ep = ep;
	if (ep)
		ep->refs++;
	if (conn) {
		q->conn_slot = conn->slot;
		q->conn_gen = conn->gen;
	}
	list_init(&q->wnode);
	timer_init_fn(&q->timer, on_timer);
	for (int i = 0; i < 2; i++)
		q->leg[i].fd = -1;
	st->qtab[slot] = q;
	st->st.queries++;
	return q;
}

/* Check q, then answer it from the cache or ask its resolvers. */
static void query_start(struct loop *l, struct dnsp_query *q)
{
	struct dnsp_state *st = dnsp_of(l);
	uint8_t key[DNSMSG_KEY_MAX];
	const uint8_t *hit;
	uint64_t age_ms;
	size_t n;

	if (dnsmsg_parse(q->qm, q->qlen, &q->q) || q->q.qd != 1) {
		q->q.qd = 0;
		fail(l, q, DNSMSG_FORMERR, WC_DNSP_FAIL_MALFORMED);
		return;
	}
	/* RFC 6891 §6.2.5: less than 512 counts as 512. */
	q->limit = !q->q.has_opt || q->q.udp_size < DNSMSG_UDP_MIN ? DNSMSG_UDP_MIN
		   : q->q.udp_size > DNSP_UDP_MAX ? DNSP_UDP_MAX : q->q.udp_size;
	if (!q->ep)
		q->limit = DNSMSG_MAX; /* TCP: whole answers */
	if (DNSMSG_OPCODE(q->q.flags)) {
		fail(l, q, DNSMSG_NOTIMP, WC_DNSP_FAIL_MALFORMED);
		return;
	}
	/* A zone transfer is many messages; a forwarder answers with one. */
	if (q->q.qtype == DNSMSG_TYPE_AXFR || q->q.qtype == DNSMSG_TYPE_IXFR) {
		fail(l, q, DNSMSG_REFUSED, WC_DNSP_FAIL_MALFORMED);
		return;
	}
	/*
	 * COOKIE is between a client and the server it talks to (RFC 7873): the
	 * client's is not for the resolvers, and an answer with its cookie in it
	 * would be discarded by the next client the cache gives it to.
	 */
	n = dnsmsg_drop_option(q->qm, q->qlen, &q->q, DNSMSG_OPT_COOKIE);
	if (n != q->qlen) {
		q->qlen = n;
		dnsmsg_parse(q->qm, n, &q->q);
	}
	hit = dnsp_cache_get(st->cache, key, dnsmsg_cache_key(&q->q, key), l->now_ms, &n, &age_ms);
	if (hit) {
		dnsp_count(l, WC_DNSP_CACHE);
		say(q, "the cache");
		answer(l, q, hit, n, (uint32_t)(age_ms / 1000));
		return;
	}
	if (st->asking >= DNSP_INFLIGHT) {
		fail(l, q, DNSMSG_SERVFAIL, WC_DNSP_FAIL_BUSY);
		return;
	}
	q->route = (uint8_t)route_of(q->dp, &q->q);
	dnsp_count(l, q->route == ROUTE_LOCAL ? WC_DNSP_LOCAL : q->route == ROUTE_REMOTE
							       ? WC_DNSP_REMOTE : WC_DNSP_BOTH);
	q->asking = true;
	st->asking++;
	q->deadline_ms = q->cfg->timeouts.connect < DNSP_TIMEOUT_MAX_S ? q->cfg->timeouts.connect
									: DNSP_TIMEOUT_MAX_S;
	q->deadline_ms = l->now_ms + 1000 * q->deadline_ms;
	timer_arm(&l->wheel, &q->timer, q->deadline_ms);
	if (q->route != ROUTE_REMOTE)
		dnsp_leg_start(l, q, LEG_LOCAL);
	if (q->route != ROUTE_LOCAL && !q->answered)
		dnsp_leg_start(l, q, LEG_REMOTE);
}

int dnsp_query_new(struct loop *l, const struct config_dns_proxy *dp, struct dnsp_ep *ep,
		   struct dnsp_conn *conn, const uint8_t *m, size_t len,
		   const struct sockaddr *from, socklen_t from_len)
{
	struct dnsp_query *q;

	/* An answer sent to us is never answered: two forwarders would loop. */
	if (len < DNSMSG_HEADER || (m[2] & 0x80)) {
		dnsp_count(l, WC_DNSP_FAIL_MALFORMED);
		return 0;
	}
	if (!(q = query_alloc(l, dp, ep, conn, m, len)))
		return 0;
	if (from) {
		memcpy(&q->client, from, from_len);
		q->client_len = from_len;
	}
	query_start(l, q);
	dnsp_query_settle(l, q);
	return 1;
}
