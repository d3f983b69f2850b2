/* SPDX-License-Identifier: MIT */
/*
 * timer — hashed timer wheel for one loop, 1 slot per TIMER_TICK_MS. Owners
 * keep their own deadline; the wheel only says "look at me around then". An
 * owner that pushed its deadline later is simply re-inserted when its slot
 * comes round (lazy re-arming: activity costs one store, not a list move).
 * The wheel itself only collects expired timers; the loop calls their fn.
 */
#ifndef SSRING_TIMER_H
#define SSRING_TIMER_H

#include <stdint.h>

#include "core/list.h"

#define TIMER_TICK_MS 250
#define TIMER_SLOTS 1024

struct loop;
struct timer;
/* What happens when a timer expires; the timer is already disarmed. */
typedef void (*timer_fn)(struct loop *l, struct timer *t);

struct timer {
	struct list node;
	uint64_t deadline_ms;   /* 0 = not armed */
	timer_fn fn;            /* called by the loop when it expires */
};

struct timer_wheel {
	struct list slot[TIMER_SLOTS];
	uint64_t tick;          /* next tick to process */
};

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms);
void timer_init(struct timer *t);
/* timer_init with the function the loop calls when t expires. */
void timer_init_fn(struct timer *t, timer_fn fn);
/* Arm (or re-arm) t for deadline_ms. Cheap if t is already armed earlier. */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t deadline_ms);
void timer_cancel(struct timer *t);
/*
 * Collect every timer whose deadline has passed into `expired` (unlinked from
 * the wheel). Timers whose deadline moved later are re-inserted.
 */
void timer_wheel_advance(struct timer_wheel *w, uint64_t now_ms, struct list *expired);

#endif
