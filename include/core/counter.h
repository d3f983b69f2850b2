/* SPDX-License-Identifier: MIT */
/*
 * counter — statistics written by one thread and read by another. Each
 * worker has its own counters and is their only writer: an increment is a
 * relaxed load and store (a plain add on x86, no lock prefix, no shared
 * cache line between workers); the control thread reads them with relaxed
 * loads at scrape time and sums over the workers.
 *
 * A table holds fixed-size blocks of counters indexed by a stable id (an
 * endpoint, a user), in pages allocated on first use, so ids may grow
 * while readers look: a page pointer is published with release and read
 * with acquire, and pages are never freed before the table.
 */
#ifndef SSRING_COUNTER_H
#define SSRING_COUNTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef _Atomic uint64_t counter_t;

static inline void ctr_add(counter_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void ctr_sub(counter_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

static inline uint64_t ctr_get(const counter_t *c)
{
	return atomic_load_explicit((counter_t *)c, memory_order_relaxed);
}

#define CTR_PAGE_BLOCKS 256
#define CTR_MAX_PAGES 4096 /* ids up to 1,048,575 */

struct ctr_table {
	unsigned n_counters;             /* counters per block */
	_Atomic(counter_t *) pages[CTR_MAX_PAGES];
};

/* A table of blocks of n counters each. NULL without memory. */
struct ctr_table *ctr_table_new(unsigned n_counters);
void ctr_table_free(struct ctr_table *t);
/*
 * The writer's block for id, its page allocated if new. Never NULL: without
 * memory (or past the last page) a scratch block takes the counts, which
 * are then lost.
 */
counter_t *ctr_block(struct ctr_table *t, uint32_t id);
/* The reader's view: NULL if nothing was ever counted for id. */
const counter_t *ctr_peek(const struct ctr_table *t, uint32_t id);

#endif
