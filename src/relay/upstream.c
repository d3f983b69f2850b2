/* SPDX-License-Identifier: MIT */
/* upstream — see include/relay/upstream.h. */
#include "relay/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#define STREAK_MAX 6 /* retry << 6: at most 64 times upstream_retry */

/* The upstreams of entry i of the locals then tunnels of c, or false past the end. */
static bool entry_ups(const struct config *c, size_t i, const struct config_upstream **ups,
		      size_t *n, struct config_rt **rt)
{
	struct config *m = (struct config *)c; /* rt is the control plane's to fill */

	if (i < c->n_locals) {
		*ups = c->locals[i].cl.ups;
		*n = c->locals[i].cl.n_ups;
		*rt = &m->locals[i].cl.rt;
	} else if (i < c->n_locals + c->n_tunnels) {
		*ups = c->tunnels[i - c->n_locals].cl.ups;
		*n = c->tunnels[i - c->n_locals].cl.n_ups;
		*rt = &m->tunnels[i - c->n_locals].cl.rt;
	} else {
		return false;
	}
	return true;
}

static bool same_server(const struct config_upstream *a, const struct config_upstream *b)
{
	return a->server.port == b->server.port && !strcmp(a->server.host, b->server.host);
}

/* What old knew of the servers entry rt (its endpoint) still has. */
static void carry_over(const struct config *old, const struct config_upstream *ups, size_t n,
		       struct config_rt *rt)
{
	const struct config_upstream *oups;
	struct config_rt *ort;
	size_t on;

	for (size_t i = 0; old && entry_ups(old, i, &oups, &on, &ort); i++) {
		if (ort->ep != rt->ep || !ort->health)
			continue;
		for (size_t j = 0; j < n; j++)
			for (size_t k = 0; k < on; k++) {
				struct upstream_health *to = &rt->health[j], *from = &ort->health[k];

				if (!same_server(&ups[j], &oups[k]))
					continue;
#define COPY(f) atomic_store(&to->f, atomic_load(&from->f))
				COPY(down_until_ms);
				COPY(streak);
				COPY(latency_us);
				COPY(failures);
				COPY(picks);
				COPY(checks_ok);
				COPY(checks_failed);
#undef COPY
				break;
			}
		return;
	}
}

int upstream_prepare(const struct config *old, struct config *cfg)
{
	const struct config_upstream *ups;
	struct config_rt *rt;
	size_t n;

	for (size_t i = 0; entry_ups(cfg, i, &ups, &n, &rt); i++) {
		if (rt->health || !n)
			continue;
		rt->health = calloc(n, sizeof(*rt->health));
		if (!rt->health)
			return -ENOMEM;
		carry_over(old, ups, n, rt);
	}
	return 0;
}

uint64_t upstream_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* xorshift64*, one state per thread: the weighted draw needs no more. */
static uint64_t rnd(void)
{
	static _Thread_local uint64_t x;

	if (!x)
		x = upstream_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&x;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x * 0x2545F4914F6CDD1Dull;
}

bool upstream_up(const struct config_rt *rt, int i, uint64_t now_ms)
{
	return atomic_load_explicit(&rt->health[i].down_until_ms, memory_order_relaxed) <= now_ms;
}

int upstream_pick(const struct config_rt *rt, size_t n, uint32_t tried, uint64_t now_ms)
{
	uint64_t w[32], total = 0, soonest = UINT64_MAX, r;
	int best = -1;

	if (n > 32)
		n = 32;
	for (size_t i = 0; i < n; i++) {
		const struct upstream_health *h = &rt->health[i];
		uint64_t down = atomic_load_explicit(&h->down_until_ms, memory_order_relaxed);
		uint64_t lat = atomic_load_explicit(&h->latency_us, memory_order_relaxed);

		w[i] = 0;
		if (tried & (1u << i))
			continue;
		if (down > now_ms) {
			if (down < soonest) {
				soonest = down;
				best = (int)i;
			}
			continue;
		}
		/* 1/latency, a millisecond at least; unmeasured counts as 1 ms. */
		w[i] = 1000000000ull / (lat > 1000 ? lat : 1000);
		total += w[i];
	}
	if (total) {
		r = rnd() % total;
		for (size_t i = 0; i < n; i++) {
			if (r < w[i]) {
				best = (int)i;
				break;
			}
			r -= w[i];
		}
	}
	if (best >= 0)
		atomic_fetch_add_explicit(&rt->health[best].picks, 1, memory_order_relaxed);
	return best;
}

void upstream_failed(const struct config_rt *rt, int i, uint32_t retry_s, uint64_t now_ms)
{
	struct upstream_health *h = &rt->health[i];
	uint32_t streak = atomic_fetch_add_explicit(&h->streak, 1, memory_order_relaxed);

	if (streak > STREAK_MAX)
		streak = STREAK_MAX;
	atomic_store_explicit(&h->down_until_ms, now_ms + ((uint64_t)retry_s * 1000 << streak),
			      memory_order_relaxed);
	atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);
}

void upstream_connected(const struct config_rt *rt, int i)
{
	struct upstream_health *h = &rt->health[i];

	if (atomic_load_explicit(&h->streak, memory_order_relaxed))
		atomic_store_explicit(&h->streak, 0, memory_order_relaxed);
	if (atomic_load_explicit(&h->down_until_ms, memory_order_relaxed))
		atomic_store_explicit(&h->down_until_ms, 0, memory_order_relaxed);
}

void upstream_answered(const struct config_rt *rt, int i, uint64_t latency_us)
{
	struct upstream_health *h = &rt->health[i];
	uint32_t old = atomic_load_explicit(&h->latency_us, memory_order_relaxed);
	/* 0 means "not measured": a sample within the clock's resolution counts
	 * as 1 µs, and the smoothed value never decays to 0 either. */
	uint64_t v = latency_us > UINT32_MAX ? UINT32_MAX : latency_us ? latency_us : 1;

	/* Workers may race here: a lost sample changes nothing that matters. */
	v = old ? old - old / 8 + v / 8 : v;
	atomic_store_explicit(&h->latency_us, v ? (uint32_t)v : 1, memory_order_relaxed);
}

uint64_t upstream_check_delay_ms(uint32_t interval_s, uint64_t r)
{
	uint64_t ms = (uint64_t)interval_s * 1000;

	return ms / 2 + r % (ms + 1);
}
