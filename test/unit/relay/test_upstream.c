/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for relay/upstream: the choice among several servers. Every
 * server that is in gets picked; a failed one is out until its time is over
 * (then it is picked again), and its time out doubles while it keeps
 * failing; a connect that gets through brings it back at once; tried ones
 * are never picked again by the same connection, and -1 says all were;
 * with every one out, the one due back first; latency weights the draw
 * (a server 100 times slower gets about a hundredth of the picks); the wait
 * before an active check is its interval ±50 %.
 */
#include "relay/upstream.h"

#include "check.h"

static void counts(const struct config_rt *rt, size_t n, uint64_t now, int draws, int *c)
{
	for (size_t i = 0; i < n; i++)
		c[i] = 0;
	for (int k = 0; k < draws; k++) {
		int i = upstream_pick(rt, n, 0, now);

		CHECK(i >= 0 && (size_t)i < n);
		c[i]++;
	}
}

/* The wait before a check: interval ±50 %, ends included, spread over the range. */
static void check_delays(void)
{
	uint64_t lo = UINT64_MAX, hi = 0, x = 88172645463325252ull, below = 0;

	CHECK_EQ(upstream_check_delay_ms(30, 0), 15000);
	CHECK_EQ(upstream_check_delay_ms(30, 30000), 45000);
	CHECK_EQ(upstream_check_delay_ms(30, 30001), 15000);
	CHECK_EQ(upstream_check_delay_ms(1, UINT64_MAX), 500 + UINT64_MAX % 1001);
	CHECK_EQ(upstream_check_delay_ms(86400, UINT64_MAX), 43200000 + UINT64_MAX % 86400001);
	for (int i = 0; i < 100000; i++) {
		uint64_t d;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		d = upstream_check_delay_ms(10, x);
		CHECK(d >= 5000 && d <= 15000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		below += d < 10000;
	}
	CHECK(lo < 5100 && hi > 14900);
	CHECK(below > 48000 && below < 52000); /* centred on the interval */
}

int main(void)
{
	struct upstream_health h[3] = { 0 };
	struct config_rt rt = { .health = h };
	uint64_t now = 1000000;
	int c[3];

	/* All in, none measured: each is picked. */
	counts(&rt, 3, now, 3000, c);
	CHECK(c[0] > 800 && c[1] > 800 && c[2] > 800);
	/* 1 fails: out for 5 s, then 10 s after a second failure. */
	upstream_failed(&rt, 1, 5, now);
	CHECK(!upstream_up(&rt, 1, now));
	counts(&rt, 3, now + 4999, 1000, c);
	CHECK_EQ(c[1], 0);
	CHECK(upstream_up(&rt, 1, now + 5000));
	upstream_failed(&rt, 1, 5, now + 5000);
	CHECK(!upstream_up(&rt, 1, now + 14999));
	CHECK(upstream_up(&rt, 1, now + 15000));
	/* A connect that gets through: in at once, the streak forgotten. */
	upstream_connected(&rt, 1);
	CHECK(upstream_up(&rt, 1, now + 5000));
	upstream_failed(&rt, 1, 5, now);
	CHECK(upstream_up(&rt, 1, now + 5000)); /* 5 s again, not 20 */
	upstream_connected(&rt, 1);
	/* Tried ones are skipped; -1 once all were. */
	CHECK_EQ(upstream_pick(&rt, 3, 0x3, now), 2);
	CHECK_EQ(upstream_pick(&rt, 3, 0x7, now), -1);
	/* All out: the one due back first. */
	upstream_failed(&rt, 0, 30, now);
	upstream_failed(&rt, 1, 10, now);
	upstream_failed(&rt, 2, 20, now);
	CHECK_EQ(upstream_pick(&rt, 3, 0, now), 1);
	for (int i = 0; i < 3; i++)
		upstream_connected(&rt, i);
	/* Latency: 100 ms against 1 ms (and one smoothed toward 1 ms). */
	upstream_answered(&rt, 0, 100000);
	upstream_answered(&rt, 1, 1000);
	upstream_answered(&rt, 2, 1000);
	counts(&rt, 3, now, 20000, c);
	CHECK(c[0] < 400 && c[1] > 9000 && c[2] > 9000);
	upstream_answered(&rt, 0, 1000); /* one fast sample moves it an eighth */
	CHECK(atomic_load(&h[0].latency_us) == 100000 - 100000 / 8 + 1000 / 8);
	CHECK(atomic_load(&h[0].picks) > 0 && atomic_load(&h[1].failures) == 4);
	/* An answer within the clock's resolution is a sample (1 µs), not "none". */
	atomic_store(&h[2].latency_us, 0);
	upstream_answered(&rt, 2, 0);
	CHECK(atomic_load(&h[2].latency_us) == 1);
	upstream_answered(&rt, 2, 0);
	CHECK(atomic_load(&h[2].latency_us) == 1);
	check_delays();
	printf("test_upstream: ok\n");
	return 0;
}
