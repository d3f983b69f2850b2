/* SPDX-License-Identifier: MIT */
/*
 * limits — per-user limits and shared per-user state (relay/limits.h).
 *
 * Shared state: one block of US_COUNT atomics per uid in a paged table
 * whose pages the main thread makes (limits_prepare) before any worker can
 * meet the uid, so workers only read page pointers. Slices: each worker's
 * own table (a single writer), SL_COUNT counters per uid.
 */
#include "relay/limits.h"

#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/counter.h"
#include "core/log.h"
#include "relay/relay.h"

/* Per worker and user: what is left of the slices taken. */
enum slice_field {
	SL_UP = 0,          /* bytes of rate allowance, up */
	SL_DOWN,
	SL_QUOTA,           /* bytes of quota */
	SL_QPERIOD,         /* the period the quota slice belongs to */
	SL_COUNT
};

#define RATE_SLICE_DIV 50       /* a rate slice: 20 ms of the rate ... */
#define RATE_SLICE_MIN 16384    /* ... but at least this */
#define QUOTA_SLICE_MAX (256 * 1024)
#define QUOTA_SLICE_MIN 4096

struct ipset {
	uint64_t h[LIMITS_MAX_IPS];
	int64_t t[LIMITS_MAX_IPS];  /* last connection, Unix seconds; 0 = free */
};

static struct ctr_table *shared;
static _Atomic uint64_t revocations;

struct limits_worker {
	struct ctr_table *slices;
};

static counter_t *ushared(uint32_t uid)
{
	/* Made by limits_prepare for every uid a snapshot has. */
	return shared ? (counter_t *)ctr_peek(shared, uid) : NULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t ld(counter_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- admission ---------------------------------------------------------------- */

static uint64_t ip_hash(const struct sockaddr *sa)
{
	return relay_ip_hash(0, sa) | 1; /* 0 marks a free entry */
}

static void spin_lock(counter_t *l)
{
	uint64_t zero = 0;

	while (!atomic_compare_exchange_weak_explicit(l, &zero, 1, memory_order_acquire,
						      memory_order_relaxed)) {
		zero = 0;
		sched_yield();
	}
}

static void spin_unlock(counter_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/* Is peer one of at most max addresses seen in the window? Records it if so. */
static bool ip_admit(counter_t *us, uint32_t max, const struct sockaddr *peer, int64_t now)
{
	struct ipset *set = (struct ipset *)(uintptr_t)atomic_load_explicit(&us[US_IPSET],
									      memory_order_acquire);
	uint64_t h = ip_hash(peer);
	int free_i = -1, active = 0;
	bool ok = true;

	if (!set) {
		uint64_t expect = 0;

		set = calloc(1, sizeof(*set));
		if (!set)
			return true; /* no memory: do not lock the user out */
		if (!atomic_compare_exchange_strong_explicit(&us[US_IPSET], &expect,
							     (uint64_t)(uintptr_t)set,
							     memory_order_acq_rel,
							     memory_order_acquire)) {
			free(set);
			set = (struct ipset *)(uintptr_t)expect;
		}
	}
	spin_lock(&us[US_IPLOCK]);
	for (int i = 0; i < LIMITS_MAX_IPS; i++) {
		if (set->h[i] == h) {
			set->t[i] = now;
			goto out;
		}
		if (set->t[i] && now - set->t[i] < LIMITS_IP_WINDOW_S)
			active++;
		else if (free_i < 0)
			free_i = i;
	}
	if ((uint32_t)active >= max || free_i < 0) {
		ok = false;
		goto out;
	}
	set->h[free_i] = h;
	set->t[free_i] = now;
out:
	spin_unlock(&us[US_IPLOCK]);
	return ok;
}

/* The usage of the current period (a new period starts from 0). */
static uint64_t quota_current(counter_t *us, enum quota_period p, int64_t now)
{
	uint64_t start = (uint64_t)config_quota_period_start(p, now), cur = ld(&us[US_QUOTA_PERIOD]);

	if (cur != start &&
	    atomic_compare_exchange_strong_explicit(&us[US_QUOTA_PERIOD], &cur, start,
						    memory_order_acq_rel, memory_order_relaxed))
		atomic_store_explicit(&us[US_QUOTA_USED], 0, memory_order_relaxed);
	return ld(&us[US_QUOTA_USED]);
}

enum limits_refusal limits_admit(uint32_t uid, const struct user_limits *lim,
				 const struct sockaddr *peer)
{
	counter_t *us = ushared(uid);
	int64_t now = (int64_t)time(NULL);
	uint64_t open;

	if (!us)
		return LIMITS_OK;
	atomic_store_explicit(&us[US_LAST_SEEN], (uint64_t)now, memory_order_relaxed);
	if (lim->quota && quota_current(us, lim->quota_period, now) >= lim->quota)
		return LIMITS_QUOTA;
	open = atomic_fetch_add_explicit(&us[US_SESSIONS], 1, memory_order_relaxed) + 1;
	if (lim->max_sessions && open > lim->max_sessions) {
		atomic_fetch_sub_explicit(&us[US_SESSIONS], 1, memory_order_relaxed);
		return LIMITS_SESSIONS;
	}
	if (lim->max_ips && peer && (peer->sa_family == AF_INET || peer->sa_family == AF_INET6) &&
	    !ip_admit(us, lim->max_ips, peer, now)) {
		atomic_fetch_sub_explicit(&us[US_SESSIONS], 1, memory_order_relaxed);
		return LIMITS_IPS;
	}
	return LIMITS_OK;
}

void limits_release(uint32_t uid)
{
	counter_t *us = ushared(uid);

	if (!us)
		return;
	atomic_fetch_sub_explicit(&us[US_SESSIONS], 1, memory_order_relaxed);
	atomic_store_explicit(&us[US_LAST_SEEN], (uint64_t)time(NULL), memory_order_relaxed);
}

const char *limits_refusal_name(enum limits_refusal r)
{
	switch (r) {
	case LIMITS_QUOTA: return "quota used up";
	case LIMITS_SESSIONS: return "max_sessions open";
	case LIMITS_IPS: return "max_ips addresses in use";
	default: return "ok";
	}
}

/* ---- the data path -------------------------------------------------------------- */

/*
 * Take cost_ns of the user's schedule tat. commit: always (the bytes are
 * read); otherwise only if it fits the burst. Returns the wait in ns, or
 * -EAGAIN when not committed.
 */
static int64_t gcra(counter_t *tat, uint64_t cost_ns, bool commit)
{
	uint64_t now = mono_ns(), burst = (uint64_t)LIMITS_BURST_MS * 1000000u;
	uint64_t old = ld(tat), nt;

	do {
		nt = (old > now ? old : now) + cost_ns;
		if (!commit && nt - now > burst)
			return -EAGAIN;
	} while (!atomic_compare_exchange_weak_explicit(tat, &old, nt, memory_order_relaxed,
							memory_order_relaxed));
	return nt - now > burst ? (int64_t)(nt - now - burst) : 0;
}

static int64_t charge_rate(counter_t *sl, counter_t *us, const struct user_limits *lim, bool up,
			   size_t n, bool udp)
{
	counter_t *loc = &sl[up ? SL_UP : SL_DOWN];
	uint64_t have = ctr_get(loc), need, take, slice;
	int64_t wait;

	if (have >= n) {
		ctr_sub(loc, n);
		return 0;
	}
	need = n - have;
	slice = lim->rate / RATE_SLICE_DIV;
	if (slice < RATE_SLICE_MIN)
		slice = RATE_SLICE_MIN;
	take = need > slice ? need : slice;
	/* n bytes at rate: n * 1e9 / rate ns (n < 2^32 keeps it within 64 bits) */
	wait = gcra(&us[up ? US_TAT_UP : US_TAT_DOWN],
		    (uint64_t)((unsigned __int128)take * 1000000000u / lim->rate), !udp);
	if (wait < 0)
		return wait;
	atomic_store_explicit(loc, take - need, memory_order_relaxed);
	return wait;
}

static int64_t charge_quota(counter_t *sl, counter_t *us, const struct user_limits *lim,
			    size_t n, size_t *allowed)
{
	int64_t now = (int64_t)time(NULL);
	uint64_t start = (uint64_t)config_quota_period_start(lim->quota_period, now);
	uint64_t have = ctr_get(&sl[SL_QUOTA]), need, slice, used, take;

	if (ctr_get(&sl[SL_QPERIOD]) != start) {
		/* A slice of a past period is void. */
		have = 0;
		atomic_store_explicit(&sl[SL_QPERIOD], start, memory_order_relaxed);
	}
	if (have >= n) {
		atomic_store_explicit(&sl[SL_QUOTA], have - n, memory_order_relaxed);
		return 0;
	}
	need = n - have;
	slice = lim->quota / 64;
	slice = slice > QUOTA_SLICE_MAX ? QUOTA_SLICE_MAX : slice < QUOTA_SLICE_MIN ? QUOTA_SLICE_MIN
										    : slice;
	take = need > slice ? need : slice;
	quota_current(us, lim->quota_period, now);
	used = atomic_fetch_add_explicit(&us[US_QUOTA_USED], take, memory_order_relaxed);
	if (used + take > lim->quota) {
		/* Only what is left of the quota is ours. */
		uint64_t left = used < lim->quota ? lim->quota - used : 0;

		atomic_fetch_sub_explicit(&us[US_QUOTA_USED], take - left, memory_order_relaxed);
		take = left;
	}
	if (take < need) {
		/* The last of the quota: what the slice held and what was left
		 * are charged, and that much may still go. */
		atomic_store_explicit(&sl[SL_QUOTA], 0, memory_order_relaxed);
		if (allowed)
			*allowed = (size_t)(have + take);
		return -EDQUOT;
	}
	atomic_store_explicit(&sl[SL_QUOTA], take - need, memory_order_relaxed);
	return 0;
}

int64_t limits_charge(struct loop *l, uint32_t uid, const struct user_limits *lim, bool up,
		      size_t n, bool udp, size_t *allowed)
{
	struct limits_worker *w = loop_state(l, &limits_module);
	counter_t *us = ushared(uid), *sl;
	int64_t wait = 0, q;

	if (!us || !w || !n)
		return 0;
	sl = ctr_block(w->slices, uid);
	if (lim->rate) {
		wait = charge_rate(sl, us, lim, up, n, udp);
		if (wait < 0)
			return wait;
	}
	if (lim->quota && (q = charge_quota(sl, us, lim, n, allowed)) < 0)
		return q;
	return wait;
}

/* ---- control plane -------------------------------------------------------------- */

int limits_prepare(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct config_server *sv = &cfg->servers[i];

		for (size_t u = 0; sv->users && sv->rt.uids && u < sv->users->n; u++) {
			ctr_block(shared, sv->rt.uids[u]);
			if (!ctr_peek(shared, sv->rt.uids[u]))
				return -ENOMEM; /* no page: the scratch block took it */
		}
	}
	return 0;
}

uint64_t limits_quota_used(uint32_t uid, enum quota_period p, int64_t now)
{
	counter_t *us = ushared(uid);

	if (!us || ld(&us[US_QUOTA_PERIOD]) != (uint64_t)config_quota_period_start(p, now))
		return 0;
	return ld(&us[US_QUOTA_USED]);
}

void limits_quota_set(uint32_t uid, int64_t start, uint64_t used)
{
	counter_t *us = ushared(uid);

	if (!us)
		return;
	atomic_store_explicit(&us[US_QUOTA_PERIOD], (uint64_t)start, memory_order_relaxed);
	atomic_store_explicit(&us[US_QUOTA_USED], used, memory_order_relaxed);
}

uint64_t limits_sessions(uint32_t uid)
{
	counter_t *us = ushared(uid);

	return us ? ld(&us[US_SESSIONS]) : 0;
}

int64_t limits_last_seen(uint32_t uid)
{
	counter_t *us = ushared(uid);

	return us ? (int64_t)ld(&us[US_LAST_SEEN]) : 0;
}

void limits_revoke(uint32_t uid, uint64_t gen)
{
	counter_t *us = ushared(uid);

	if (!us)
		return;
	atomic_store_explicit(&us[US_REVOKED], gen, memory_order_release);
	atomic_fetch_add_explicit(&revocations, 1, memory_order_release);
}

uint64_t limits_revocations(void)
{
	return atomic_load_explicit(&revocations, memory_order_acquire);
}

bool limits_revoked(uint32_t uid, uint64_t gen)
{
	counter_t *us = ushared(uid);
	uint64_t r = us ? atomic_load_explicit(&us[US_REVOKED], memory_order_acquire) : 0;

	return r && gen < r;
}

/* ---- module ---------------------------------------------------------------------- */

static int limits_setup(const struct config *cfg)
{
	(void)cfg;
	shared = ctr_table_new(US_COUNT);
	if (!shared) {
		log_error("out of memory for the users' shared state");
		return -ENOMEM;
	}
	return 0;
}

static void limits_teardown(void)
{
	if (!shared)
		return;
	/* The ipsets hang off the blocks: free them with the table. */
	for (uint32_t p = 0; p < CTR_MAX_PAGES; p++) {
		counter_t *page = atomic_load_explicit(&shared->pages[p], memory_order_acquire);

		for (uint32_t b = 0; page && b < CTR_PAGE_BLOCKS; b++)
			free((void *)(uintptr_t)ld(&page[(size_t)b * US_COUNT + US_IPSET]));
	}
	ctr_table_free(shared);
	shared = NULL;
}

static int limits_prep(const struct config *old, struct config *cfg)
{
	(void)old;
	if (limits_prepare(cfg)) {
		log_error("out of memory for the users of the new configuration");
		return -ENOMEM;
	}
	return 0;
}

static int limits_init(struct loop *l)
{
	struct limits_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->slices = ctr_table_new(SL_COUNT);
	if (!w->slices) {
		free(w);
		return -ENOMEM;
	}
	loop_set_state(l, &limits_module, w);
	return 0;
}

static void limits_destroy(struct loop *l)
{
	struct limits_worker *w = loop_state(l, &limits_module);

	if (!w)
		return;
	ctr_table_free(w->slices);
	free(w);
	loop_set_state(l, &limits_module, NULL);
}

struct loop_module limits_module = {
	.name = "limits",
	.setup = limits_setup,
	.teardown = limits_teardown,
	.prepare = limits_prep,
	.init = limits_init,
	.destroy = limits_destroy,
};
