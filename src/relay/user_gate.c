/* SPDX-License-Identifier: MIT */
/*
 * user_gate — the TCP sessions of users with limits (relay/limits.h): admit
 * them, charge what they relay, make a direction over its rate wait by not
 * receiving, end them when their quota is used up or their key was revoked.
 *
 * Waiting: a direction that must wait gets DIR_F_THROTTLED (session_arm_recv
 * then does nothing) and an entry in the worker's min-heap of resume times.
 * One IORING_OP_TIMEOUT (absolute, CLOCK_MONOTONIC) is kept for the
 * earliest entry; when it fires, every entry that is due resumes its
 * direction, if its session is still the one it was (slot and generation).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "relay/limits.h"
#include "relay/user_gate.h"

struct throttle_ent {
	uint64_t at;            /* resume, monotonic ns */
	uint32_t slot, gen;
	uint8_t di;
};

struct throttle {
	struct throttle_ent *h; /* min-heap by at */
	uint32_t n, cap;
	uint64_t busy;          /* timespec slots whose timeout is in flight */
	uint64_t armed[THROTTLE_TIMEOUTS];
	struct __kernel_timespec ts[THROTTLE_TIMEOUTS];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct throttle *thr(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	if (!t->thr)
		t->thr = calloc(1, sizeof(*t->thr));
	return t->thr;
}

void throttle_free(struct tcp_state *t)
{
	if (t->thr)
		free(t->thr->h);
	free(t->thr);
	t->thr = NULL;
}

static void heap_swap(struct throttle *th, uint32_t a, uint32_t b)
{
	struct throttle_ent x = th->h[a];

	th->h[a] = th->h[b];
	th->h[b] = x;
}

static int heap_push(struct throttle *th, const struct throttle_ent *e)
{
	uint32_t i;

	if (th->n == th->cap) {
		uint32_t cap = th->cap ? 2 * th->cap : 64;
		struct throttle_ent *n = realloc(th->h, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		th->h = n;
		th->cap = cap;
	}
	i = th->n++;
	th->h[i] = *e;
	while (i && th->h[(i - 1) / 2].at > th->h[i].at) {
		heap_swap(th, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return 0;
}

static void heap_pop(struct throttle *th)
{
	uint32_t i = 0;

	th->h[0] = th->h[--th->n];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < th->n && th->h[l].at < th->h[m].at)
			m = l;
		if (r < th->n && th->h[r].at < th->h[m].at)
			m = r;
		if (m == i)
			break;
		heap_swap(th, i, m);
		i = m;
	}
}

/* Keep a timeout armed no later than the earliest entry. */
static void arm(struct loop *l, struct throttle *th)
{
	struct io_uring_sqe *sqe;
	uint64_t at;
	int k = -1;

	if (!th->n)
		return;
	at = th->h[0].at;
	for (int i = 0; i < THROTTLE_TIMEOUTS; i++) {
		if (th->busy & (1ull << i)) {
			if (th->armed[i] <= at)
				return; /* one fires in time */
		} else if (k < 0) {
			k = i;
		}
	}
	if (k < 0)
		return; /* all slots in flight: the earliest of them will re-arm */
	th->busy |= 1ull << k;
	th->armed[k] = at;
	th->ts[k].tv_sec = (long long)(at / 1000000000u);
	th->ts[k].tv_nsec = (long long)(at % 1000000000u);
	sqe = loop_sqe(l);
	io_uring_prep_timeout(sqe, &th->ts[k], 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&tcp_module, TCP_OP_THROTTLE),
					     (uint32_t)k, 0));
}

static void pause_dir(struct loop *l, struct session *s, int di, uint64_t wait_ns)
{
	struct throttle *th = thr(l);
	struct throttle_ent e = { .at = mono_ns() + wait_ns, .slot = s->slot, .gen = s->gen,
				  .di = (uint8_t)di };

	if (!th || heap_push(th, &e))
		return; /* no memory: no wait (the rate is exceeded, nothing breaks) */
	s->d[di].flags |= DIR_F_THROTTLED;
	arm(l, th);
}

void throttle_cqe(struct loop *l, const struct io_uring_cqe *cqe)
{
	struct throttle *th = tcp_of(l)->thr;
	uint32_t k = ud_slot(cqe->user_data);
	uint64_t now = mono_ns();

	if (!th)
		return;
	if (k < THROTTLE_TIMEOUTS)
		th->busy &= ~(1ull << k);
	while (th->n && th->h[0].at <= now) {
		struct throttle_ent e = th->h[0];
		struct session *s;

		heap_pop(th);
		s = session_lookup(l, e.slot, e.gen);
		if (!s || !(s->d[e.di].flags & DIR_F_THROTTLED))
			continue;
		s->d[e.di].flags &= (uint16_t)~DIR_F_THROTTLED;
		if (s->state == SESS_ST_RELAY || s->state == SESS_ST_HANDSHAKE)
			session_arm_recv(l, s, e.di);
	}
	arm(l, th);
}

/* ---- admission, charging, revocation --------------------------------------------- */

int session_set_user(struct loop *l, struct session *s, int user)
{
	const struct config_server *cs = s->conf;
	const struct user_limits *lim;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	enum limits_refusal r;
	uint32_t uid;

	s->user = user;
	if (user < 0 || !cs->rt.uids || !cs->users || (size_t)user >= cs->users->n)
		return 0;
	uid = cs->rt.uids[user];
	lim = &cs->users->u[user].limits;
	/* Behind a plugin every TCP client is the plugin's loopback address:
	 * the real one is unknown, so it counts for no max_ips. */
	if (!lim->max_ips || cs->plugin.cmd[0] ||
	    getpeername(s->fd[SIDE_IN], (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNSPEC;
	r = limits_admit(uid, lim, ss.ss_family == AF_UNSPEC ? NULL : (struct sockaddr *)&ss);
	if (r != LIMITS_OK) {
		log_info("user %s: session refused: %s", cs->users->u[user].name,
			 limits_refusal_name(r));
		return -1;
	}
	s->admitted = 1;
	s->limited = limits_on_data(lim);
	if (lim->rate && lim->rate / 20 < 65536) {
		/* A slow user's receives are small: one wait covers ~50 ms of
		 * its rate, not a whole 256 KiB buffer. Faster users keep full
		 * receives (a wait is then at most 256 KiB / rate). */
		uint64_t cap = lim->rate / 20;

		cap = cap < 4096 ? 4096 : cap;
		s->d[DIR_IN_OUT].recv_cap = (uint16_t)cap;
		s->d[DIR_OUT_IN].recv_cap = (uint16_t)cap;
	}
	s->uctr = stats_user(l->id, uid);
	ctr_add(&s->uctr[UC_TCP_OPEN], 1);
	ctr_add(&s->uctr[UC_TCP_TOTAL], 1);
	return 0;
}

void session_user_end(struct session *s)
{
	const struct config_server *cs = s->conf;

	if (s->admitted && s->user >= 0 && cs->rt.uids)
		limits_release(cs->rt.uids[s->user]);
	s->admitted = 0;
}

int session_charge(struct loop *l, struct session *s, int di, size_t *n)
{
	const struct config_server *cs = s->conf;
	const struct config_srv_user *u = &cs->users->u[s->user];
	size_t allowed = 0;
	int64_t w = limits_charge(l, cs->rt.uids[s->user], &u->limits, di == DIR_IN_OUT, *n, false,
				  &allowed);

	if (w == -EDQUOT) {
		/* The bytes the quota still covered go out, then both
		 * directions end as if their sources had sent FIN: what was
		 * charged is delivered, and the close is a FIN, not a reset
		 * that would drop what the kernel still holds. */
		log_info("user %s: quota used up: the session ends once %zu more bytes are sent",
			 u->name, allowed);
		*n = allowed < *n ? allowed : *n;
		s->quota_end = 1;
		s->d[0].flags |= DIR_F_EOF;
		s->d[1].flags |= DIR_F_EOF;
		return 1;
	}
	if (w > 0)
		pause_dir(l, s, di, (uint64_t)w);
	return 0;
}

void sessions_sweep_revoked(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);
	uint64_t r = limits_revocations();

	if (r == t->revocations)
		return;
	t->revocations = r;
	for (uint32_t i = 0; i < t->sessions.next_new; i++) {
		struct session *s = pool_at(&t->sessions, i);
		const struct config_server *cs;

		/* Only a server's sessions have users. */
		if (!(s->gen & 1) || s->user < 0 || s->state == SESS_ST_CLOSING)
			continue;
		cs = s->conf;
		if (cs->rt.uids && limits_revoked(cs->rt.uids[s->user], s->cfg->generation)) {
			log_info("user %s: removed or re-keyed: session closed",
				 cs->users->u[s->user].name);
			session_close(l, s, true, "user removed or re-keyed");
		}
	}
}
