/* SPDX-License-Identifier: MIT */
#include "core/counter.h"

#include <stdlib.h>

/* Where counts go that have no page (out of memory): per writer thread. */
static _Thread_local counter_t scratch[64];

struct ctr_table *ctr_table_new(unsigned n_counters)
{
	struct ctr_table *t;

	if (n_counters == 0 || n_counters > sizeof(scratch) / sizeof(scratch[0]))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t)
		t->n_counters = n_counters;
	return t;
}

void ctr_table_free(struct ctr_table *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < CTR_MAX_PAGES; i++)
		free(atomic_load_explicit(&t->pages[i], memory_order_relaxed));
	free(t);
}

counter_t *ctr_block(struct ctr_table *t, uint32_t id)
{
	uint32_t pg = id / CTR_PAGE_BLOCKS;
	counter_t *p;

	if (pg >= CTR_MAX_PAGES)
		return scratch;
	/* Only this thread writes the table: a relaxed load sees its own store. */
	p = atomic_load_explicit(&t->pages[pg], memory_order_relaxed);
	if (!p) {
		p = calloc((size_t)CTR_PAGE_BLOCKS * t->n_counters, sizeof(counter_t));
		if (!p)
			return scratch;
		atomic_store_explicit(&t->pages[pg], p, memory_order_release);
	}
	return p + (size_t)(id % CTR_PAGE_BLOCKS) * t->n_counters;
}

const counter_t *ctr_peek(const struct ctr_table *t, uint32_t id)
{
	uint32_t pg = id / CTR_PAGE_BLOCKS;
	counter_t *p;

	if (!t || pg >= CTR_MAX_PAGES)
		return NULL;
	p = atomic_load_explicit((_Atomic(counter_t *) *)&t->pages[pg], memory_order_acquire);
	return p ? p + (size_t)(id % CTR_PAGE_BLOCKS) * t->n_counters : NULL;
}
