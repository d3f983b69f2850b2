/* SPDX-License-Identifier: MIT */
#include "core/timer.h"

static uint64_t tick_of(uint64_t ms)
{
	return ms / TIMER_TICK_MS;
}

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms)
{
	for (int i = 0; i < TIMER_SLOTS; i++)
		list_init(&w->slot[i]);
	w->tick = tick_of(now_ms);
}

void timer_init(struct timer *t)
{
	list_init(&t->node);
	t->deadline_ms = 0;
	t->fn = NULL;
}

void timer_init_fn(struct timer *t, timer_fn fn)
{
	timer_init(t);
	t->fn = fn;
}

static void insert(struct timer_wheel *w, struct timer *t)
{
	uint64_t tk = tick_of(t->deadline_ms);

	/* Past deadlines go to the next slot processed; far ones wrap and are
	 * re-inserted when their slot comes round early. */
	if (tk < w->tick)
		tk = w->tick;
	if (tk - w->tick >= TIMER_SLOTS)
		tk = w->tick + TIMER_SLOTS - 1;
	list_add_tail(&w->slot[tk % TIMER_SLOTS], &t->node);
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t deadline_ms)
{
	if (list_linked(&t->node)) {
		/* Already queued at or before the new deadline: it will be
		 * re-inserted lazily. Only an earlier deadline needs a move. */
		if (deadline_ms >= t->deadline_ms) {
			t->deadline_ms = deadline_ms;
			return;
		}
		list_del(&t->node);
	}
	t->deadline_ms = deadline_ms;
	insert(w, t);
}

void timer_cancel(struct timer *t)
{
	if (list_linked(&t->node))
		list_del(&t->node);
	t->deadline_ms = 0;
}

void timer_wheel_advance(struct timer_wheel *w, uint64_t now_ms, struct list *expired)
{
	uint64_t now_tick = tick_of(now_ms);
	struct list later;

	list_init(&later);
	while (w->tick <= now_tick) {
		struct list *head = &w->slot[w->tick % TIMER_SLOTS];

		while (!list_empty(head)) {
			struct timer *t = list_entry(head->next, struct timer, node);

			list_del(&t->node);
			if (t->deadline_ms <= now_ms)
				list_add_tail(expired, &t->node);
			else
				list_add_tail(&later, &t->node);
		}
		w->tick++;
	}
	while (!list_empty(&later)) {
		struct timer *t = list_entry(later.next, struct timer, node);

		list_del(&t->node);
		insert(w, t);
	}
}
