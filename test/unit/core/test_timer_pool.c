/* SPDX-License-Identifier: MIT */
/* Pool exhaustion/reuse and timer wheel expiry, lazy re-arm, wrap-around. */
#include "check.h"
#include "core/pool.h"
#include "core/timer.h"

static void test_pool(void)
{
	struct pool p;
	uint32_t a[8];

	CHECK_EQ(pool_init(&p, 100, 8), 0);
	CHECK_EQ(p.obj_size, 128);
	for (int i = 0; i < 8; i++) {
		a[i] = pool_alloc(&p);
		CHECK(a[i] != POOL_NONE);
		memset(pool_at(&p, a[i]), i, 100);
	}
	CHECK_EQ(pool_alloc(&p), POOL_NONE); /* full is a clean refusal */
	CHECK_EQ(p.used, 8);
	pool_free(&p, a[3]);
	CHECK_EQ(pool_alloc(&p), a[3]);
	CHECK_EQ(pool_alloc(&p), POOL_NONE);
	pool_destroy(&p);
}

static int count(struct list *l)
{
	int n = 0;

	for (struct list *it = l->next; it != l; it = it->next)
		n++;
	return n;
}

static void test_timer(void)
{
	struct timer_wheel w;
	struct timer t[3];
	struct list exp;

	timer_wheel_init(&w, 1000);
	for (int i = 0; i < 3; i++)
		timer_init(&t[i]);
	timer_arm(&w, &t[0], 2000);
	timer_arm(&w, &t[1], 5000);
	timer_arm(&w, &t[2], 1000 + (uint64_t)TIMER_TICK_MS * TIMER_SLOTS * 3); /* wraps */
	list_init(&exp);
	timer_wheel_advance(&w, 1999, &exp);
	CHECK_EQ(count(&exp), 0);
	timer_wheel_advance(&w, 2000, &exp);
	CHECK_EQ(count(&exp), 1);
	CHECK(exp.next == &t[0].node);
	list_del(&t[0].node);
	/* Lazy re-arm: pushing the deadline later keeps it queued. */
	timer_arm(&w, &t[1], 9000);
	timer_wheel_advance(&w, 6000, &exp);
	CHECK_EQ(count(&exp), 0);
	timer_wheel_advance(&w, 9000, &exp);
	CHECK_EQ(count(&exp), 1);
	list_del(&t[1].node);
	/* Moving earlier moves it. */
	timer_arm(&w, &t[1], 20000);
	timer_arm(&w, &t[1], 10000);
	timer_wheel_advance(&w, 10000, &exp);
	CHECK_EQ(count(&exp), 1);
	list_del(&t[1].node);
	/* The far timer survives several wheel turns, then fires. */
	timer_wheel_advance(&w, 1000 + (uint64_t)TIMER_TICK_MS * TIMER_SLOTS * 3 - 1, &exp);
	CHECK_EQ(count(&exp), 0);
	timer_wheel_advance(&w, 1000 + (uint64_t)TIMER_TICK_MS * TIMER_SLOTS * 3, &exp);
	CHECK_EQ(count(&exp), 1);
	list_del(&t[2].node);
	/* Cancel. */
	timer_arm(&w, &t[0], 50000);
	timer_cancel(&t[0]);
	timer_wheel_advance(&w, 60000, &exp);
	CHECK_EQ(count(&exp), 0);
}

int main(void)
{
	test_pool();
	test_timer();
	printf("test_timer_pool: ok\n");
	return 0;
}
