/* SPDX-License-Identifier: MIT */
/*
 * users — trial decryption for AEAD-2017 servers with users (relay/users.h):
 * the per-address hint table (process-wide), the most-recently-successful
 * order and the cold-trial budget (per worker).
 */
#include "relay/users.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "relay/stats.h"

/* Client address -> the user who last succeeded from it. */
#define HINT_SLOTS 65536
/* Cold trials look at the clock every this many keys. */
#define CLOCK_EVERY 16
#define MRU_NONE UINT32_MAX
/*
 * The most recently successful users of a worker are tried outside the
 * budget: a flood of junk that spends the budget cannot lock out the users
 * who are active (behind a plugin, where no address hint exists, that is
 * what lets them in). A junk request costs WARM_KEYS tries outside it.
 */
#define WARM_KEYS 8
/* A source (IPv4 address, IPv6 /64; behind a plugin: the plugin) may spend
 * at most 1/SRC_SHARE of a worker's budget in a second. */
#define SRC_SHARE 4
#define SRC_SLOTS 256

struct users_trial_stats *users_trial_stats;
static _Atomic uint64_t *hints;
static int n_workers;

/* One server's users on this worker, most recently successful first. */
struct mru {
	uint32_t ep;
	uint32_t n;
	uint32_t head;
	uint32_t *prev, *next; /* by user index */
	uint32_t *uid;         /* the uid of each index (to carry the order over) */
};

/* What one source spent of the budget in the second sec (a slot of a
 * direct-mapped table: sources that share a slot share a share). */
struct src_use {
	uint64_t key;
	uint64_t sec;
	uint64_t used_ns;
};

struct users_worker {
	uint64_t gen;          /* the snapshot generation the orders are for */
	struct mru *mru;
	size_t n_mru;
	uint64_t sec;          /* the second the budget counts for */
	uint64_t used_ns;      /* cold-trial CPU time spent in it */
	uint64_t seed;         /* keys the source table (random per worker) */
	struct src_use src[SRC_SLOTS];
};

static struct users_worker *uw(const struct loop *l)
{
	return loop_state(l, &users_module);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The budget is CPU time of the worker's thread: time the thread was
 * preempted (a busy machine) does not count against it. */
static uint64_t cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* ---- uid -> index in a snapshot ------------------------------------------------ */

static uint32_t uid_slot(uint32_t uid)
{
	uint32_t h = uid * 2654435761u;

	return h ^ (h >> 16);
}

int users_index_of(const struct config_server *cs, uint32_t uid)
{
	const struct config_rt *rt = &cs->rt;

	if (!rt->uid_index)
		return -1;
	for (uint32_t i = uid_slot(uid) & rt->uid_mask; rt->uid_index[i];
	     i = (i + 1) & rt->uid_mask) {
		uint32_t u = rt->uid_index[i] - 1;

		if (rt->uids[u] == uid)
			return (int)u;
	}
	return -1;
}

/* ---- the hint table ------------------------------------------------------------- */

/* A 64-bit hash of (endpoint, client IP); the port does not count. */
static uint64_t addr_hash(uint32_t ep, const struct sockaddr *sa)
{
	return relay_ip_hash(ep, sa);
}

/* The hinted user's index in cs, or -1. */
static int hint_get(const struct config_server *cs, uint64_t h)
{
	uint64_t v;

	if (!hints || !h)
		return -1;
	v = atomic_load_explicit(&hints[h & (HINT_SLOTS - 1)], memory_order_relaxed);
	if ((uint32_t)(v >> 32) != (uint32_t)(h >> 32))
		return -1;
	return users_index_of(cs, (uint32_t)v);
}

static void hint_set(const struct config_server *cs, uint64_t h, int idx)
{
	uint64_t v;

	if (!hints || !h || !cs->rt.uids)
		return;
	v = (h >> 32) << 32 | cs->rt.uids[idx];
	atomic_store_explicit(&hints[h & (HINT_SLOTS - 1)], v, memory_order_relaxed);
}

/* ---- most recently successful first --------------------------------------------- */

static void mru_free(struct mru *m)
{
	free(m->prev);
	free(m->next);
	free(m->uid);
	memset(m, 0, sizeof(*m));
}

static void mru_unlink(struct mru *m, uint32_t i)
{
	if (m->prev[i] != MRU_NONE)
		m->next[m->prev[i]] = m->next[i];
	else
		m->head = m->next[i];
	if (m->next[i] != MRU_NONE)
		m->prev[m->next[i]] = m->prev[i];
}

static void mru_push_front(struct mru *m, uint32_t i)
{
	m->prev[i] = MRU_NONE;
	m->next[i] = m->head;
	if (m->head != MRU_NONE)
		m->prev[m->head] = i;
	m->head = i;
}

static void mru_touch(struct mru *m, int idx)
{
	uint32_t i = (uint32_t)idx;

	if (!m || i >= m->n || m->head == i)
		return;
	mru_unlink(m, i);
	mru_push_front(m, i);
}

/* The order for cs on the new snapshot: the old order's users first (in
 * that order), then the others by index. */
static int mru_build(struct mru *m, const struct config_server *cs, const struct mru *old)
{
	uint32_t n = (uint32_t)cs->users->n, tail = MRU_NONE;
	uint8_t *placed;

	m->ep = cs->rt.ep;
	m->n = n;
	m->head = MRU_NONE;
	m->prev = malloc((n + 1) * sizeof(uint32_t));
	m->next = malloc((n + 1) * sizeof(uint32_t));
	m->uid = malloc((n + 1) * sizeof(uint32_t));
	placed = calloc(n + 1, 1);
	if (!m->prev || !m->next || !m->uid || !placed) {
		free(placed);
		mru_free(m);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		m->uid[i] = cs->rt.uids ? cs->rt.uids[i] : i;
	/* Appending keeps the order: build from the tail. */
#define APPEND(i) do { \
		m->prev[i] = tail; m->next[i] = MRU_NONE; \
		if (tail == MRU_NONE) m->head = i; else m->next[tail] = i; \
		tail = i; placed[i] = 1; } while (0)
	for (uint32_t o = old ? old->head : MRU_NONE; o != MRU_NONE; o = old->next[o]) {
		int i = users_index_of(cs, old->uid[o]);

		if (i >= 0 && !placed[i])
			APPEND((uint32_t)i);
	}
	for (uint32_t i = 0; i < n; i++)
		if (!placed[i])
			APPEND(i);
#undef APPEND
	free(placed);
	return 0;
}

/* The orders for l->cfg's AEAD-2017 servers with users. */
static void mru_rebuild(struct loop *l)
{
	struct users_worker *w = uw(l);
	const struct config *c = l->cfg;
	struct mru *n = calloc(c->n_servers + 1, sizeof(*n));

	if (!n) {
		log_warn("no memory for the users' trial order: index order until it works");
		return;
	}
	for (size_t i = 0; i < c->n_servers; i++) {
		const struct config_server *cs = &c->servers[i];
		const struct mru *old = NULL;

		if (!cs->users || cs->cipher.m2022)
			continue;
		for (size_t k = 0; k < w->n_mru; k++)
			if (w->mru[k].n && w->mru[k].ep == cs->rt.ep)
				old = &w->mru[k];
		if (mru_build(&n[i], cs, old))
			log_warn("no memory for the trial order of a server's users");
	}
	for (size_t k = 0; k < w->n_mru; k++)
		mru_free(&w->mru[k]);
	free(w->mru);
	w->mru = n;
	w->n_mru = c->n_servers;
	w->gen = c->generation;
}

/* The order for cs if cs is an entry of the worker's current snapshot. */
static struct mru *mru_of(struct loop *l, const struct config_server *cs)
{
	struct users_worker *w = uw(l);
	size_t i;

	if (!w)
		return NULL;
	if (w->gen != l->cfg->generation)
		mru_rebuild(l);
	if (cs < l->cfg->servers || cs >= l->cfg->servers + l->cfg->n_servers)
		return NULL;
	i = (size_t)(cs - l->cfg->servers);
	return i < w->n_mru && w->mru[i].n == cs->users->n ? &w->mru[i] : NULL;
}

/* ---- trials --------------------------------------------------------------------- */

typedef int (*try_fn)(void *arg, size_t idx);

/* The budget slot of a source, for the second sec (key 0: no address). */
static struct src_use *src_slot(struct users_worker *w, const struct sockaddr *peer,
				uint64_t sec)
{
	struct sockaddr_in6 p64;
	uint64_t key = 1; /* behind a plugin: one source */
	struct src_use *u;

	if (peer && peer->sa_family == AF_INET6 &&
	    memcmp(((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr,
		   "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		/* An IPv6 client owns its /64, as for the per-source limits. */
		memset(&p64, 0, sizeof(p64));
		p64.sin6_family = AF_INET6;
		memcpy(p64.sin6_addr.s6_addr,
		       ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr, 8);
		peer = (const struct sockaddr *)&p64;
	}
	if (peer)
		key = relay_ip_hash(w->seed, peer) | 2;
	u = &w->src[(key ^ (key >> 29)) % SRC_SLOTS];
	if (u->key != key || u->sec != sec) {
		u->key = key;
		u->sec = sec;
		u->used_ns = 0;
	}
	return u;
}

/*
 * Try every user but skip, most recent first: the first WARM_KEYS of them
 * freely, the rest within the worker's budget and the source's share of
 * it. The index that opened it, -EACCES, or -EBUSY.
 */
static int cold(struct loop *l, const struct config_server *cs, struct mru *m, int skip,
		const struct sockaddr *peer, try_fn try, void *arg)
{
	struct users_worker *w = uw(l);
	struct users_trial_stats *st = &users_trial_stats[l->id];
	uint64_t budget = (uint64_t)cs->trial_budget_ms * 1000000u, share = budget / SRC_SHARE;
	uint64_t sec = clock_ns(CLOCK_MONOTONIC) / 1000000000u, t0 = 0, t, tried = 0, spent;
	size_t n = cs->users->n, pos = 0, k = 0;
	uint32_t i = m ? m->head : 0;
	struct src_use *su = src_slot(w, peer, sec);
	int found = -EACCES;

	if (w->sec != sec) {
		w->sec = sec;
		w->used_ns = 0;
	}
	while (m ? i != MRU_NONE : i < n) {
		if ((int)i != skip) {
			if (pos == WARM_KEYS)
				t0 = cpu_ns(); /* from here on the budget counts */
			if (pos >= WARM_KEYS && k++ % CLOCK_EVERY == 0) {
				t = cpu_ns();
				if (w->used_ns + (t - t0) >= budget ||
				    su->used_ns + (t - t0) >= share) {
					found = -EBUSY;
					break;
				}
			}
			pos++;
			tried++;
			if (try(arg, i) == 0) {
				found = (int)i;
				break;
			}
		}
		i = m ? m->next[i] : i + 1;
	}
	if (pos > WARM_KEYS || found == -EBUSY) {
		spent = cpu_ns() - t0;
		w->used_ns += spent;
		su->used_ns += spent;
		atomic_store_explicit(&st->cold_ns, atomic_load_explicit(&st->cold_ns,
				      memory_order_relaxed) + spent, memory_order_relaxed);
	}
	atomic_store_explicit(&st->keys, atomic_load_explicit(&st->keys, memory_order_relaxed) +
			      tried, memory_order_relaxed);
	return found;
}

static void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Hint, then cold; on success the hint and the order remember the user. */
static int identify(struct loop *l, const struct config_server *cs, const struct sockaddr *peer,
		    try_fn try, void *arg)
{
	uint64_t h = peer ? addr_hash(cs->rt.ep, peer) : 0;
	struct users_trial_stats *st = &users_trial_stats[l->id];
	int hint = h ? hint_get(cs, h) : -1, idx;
	struct mru *m;

	if (!cs->users || !cs->users->n)
		return -EACCES;
	if (hint >= 0 && try(arg, (size_t)hint) == 0) {
		bump(&st->warm);
		idx = hint;
	} else {
		m = mru_of(l, cs);
		idx = cold(l, cs, m, hint, peer, try, arg);
		if (idx == -EBUSY)
			bump(&st->budget);
		if (idx < 0)
			return idx;
		bump(&st->cold);
		hint_set(cs, h, idx);
		mru_touch(m, idx);
		return idx;
	}
	mru_touch(mru_of(l, cs), idx);
	return idx;
}

struct tcp_try {
	struct aead_reader *r;
	const struct aead_trial *t;
	const uint8_t *buf;
	const struct config_users *us;
};

static int try_tcp(void *arg, size_t idx)
{
	struct tcp_try *a = arg;

	return aead_reader_try(a->r, a->t, a->buf, a->us->u[idx].key);
}

int users_identify_tcp(struct loop *l, const struct config_server *cs,
		       const struct sockaddr *peer, struct aead_reader *r, const uint8_t *buf)
{
	struct aead_trial t;
	struct tcp_try a = { .r = r, .t = &t, .buf = buf, .us = cs->users };
	int idx;

	aead_trial_init(&t, cs->cipher.method, buf);
	idx = identify(l, cs, peer, try_tcp, &a);
	aead_trial_wipe(&t);
	return idx;
}

struct udp_try {
	const struct aead_trial *t;
	const uint8_t *ct;
	size_t ct_len;
	uint8_t *scratch;
	const struct config_users *us;
	int plain;
};

static int try_udp(void *arg, size_t idx)
{
	struct udp_try *a = arg;
	int r = aead_trial_udp(a->t, a->us->u[idx].key, a->scratch, a->ct, a->ct_len);

	if (r < 0)
		return r;
	a->plain = r;
	return 0;
}

int users_identify_udp(struct loop *l, const struct config_server *cs,
		       const struct sockaddr *peer, const uint8_t *pkt, size_t len, uint8_t *out,
		       size_t *plain_len)
{
	static _Thread_local uint8_t scratch[65536];
	const struct aead_method *m = cs->cipher.method;
	struct aead_trial t;
	struct udp_try a;
	int idx;

	if (len < (size_t)m->salt_len + AEAD_TAG_BYTES ||
	    len - m->salt_len - AEAD_TAG_BYTES > sizeof(scratch))
		return -EINVAL;
	aead_trial_init(&t, m, pkt);
	a = (struct udp_try){ .t = &t, .ct = pkt + m->salt_len, .ct_len = len - m->salt_len,
			      .scratch = scratch, .us = cs->users };
	idx = identify(l, cs, peer, try_udp, &a);
	aead_trial_wipe(&t);
	if (idx < 0)
		return idx;
	memcpy(out, scratch, (size_t)a.plain);
	*plain_len = (size_t)a.plain;
	return idx;
}

/* ---- module ---------------------------------------------------------------------- */

static void users_teardown(void);

static int users_setup(const struct config *cfg)
{
	n_workers = cfg->workers;
	users_trial_stats = calloc((size_t)n_workers, sizeof(*users_trial_stats));
	hints = calloc(HINT_SLOTS, sizeof(*hints));
	if (!users_trial_stats || !hints) {
		users_teardown();
		log_error("out of memory for the users' tables");
		return -ENOMEM;
	}
	return 0;
}

static void users_teardown(void)
{
	free(users_trial_stats);
	free((void *)hints);
	users_trial_stats = NULL;
	hints = NULL;
	n_workers = 0;
}

/* The reverse of rt.uids: which index has a uid (for the hints). */
static int users_prepare(const struct config *old, struct config *cfg)
{
	(void)old;
	for (size_t i = 0; i < cfg->n_servers; i++) {
		struct config_server *sv = &cfg->servers[i];
		struct config_rt *rt = &sv->rt;
		size_t cap = 16;

		if (!sv->users || !rt->uids)
			continue;
		while (cap < 2 * sv->users->n)
			cap *= 2;
		free(rt->uid_index);
		rt->uid_index = calloc(cap, sizeof(uint32_t));
		if (!rt->uid_index) {
			log_error("out of memory for the users of the new configuration");
			return -ENOMEM;
		}
		rt->uid_mask = (uint32_t)(cap - 1);
		for (size_t u = 0; u < sv->users->n; u++) {
			uint32_t k = uid_slot(rt->uids[u]) & rt->uid_mask;

			while (rt->uid_index[k])
				k = (k + 1) & rt->uid_mask;
			rt->uid_index[k] = (uint32_t)u + 1;
		}
	}
	return 0;
}

static int users_init(struct loop *l)
{
	struct users_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	/* Keyed at random: which sources share a budget slot is not known
	 * outside this process. */
	if (aead_random((uint8_t *)&w->seed, sizeof(w->seed)))
		w->seed = (uint64_t)(uintptr_t)w ^ clock_ns(CLOCK_MONOTONIC);
	loop_set_state(l, &users_module, w);
	return 0;
}

static void users_destroy(struct loop *l)
{
	struct users_worker *w = uw(l);

	if (!w)
		return;
	for (size_t k = 0; k < w->n_mru; k++)
		mru_free(&w->mru[k]);
	free(w->mru);
	free(w);
	loop_set_state(l, &users_module, NULL);
}

struct loop_module users_module = {
	.name = "users",
	.setup = users_setup,
	.teardown = users_teardown,
	.prepare = users_prepare,
	.init = users_init,
	.destroy = users_destroy,
};
