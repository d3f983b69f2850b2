/* SPDX-License-Identifier: MIT */
/*
 * pool — fixed-size object pool (slab) for one loop. The whole capacity is
 * reserved at start with one MAP_NORESERVE mapping, so pages are only backed
 * once an object is first used: a big `limits` costs address space, not RAM.
 * Alloc/free are O(1) (index stack). Objects carry no header; callers keep
 * generations themselves. Single-threaded: only the owning loop touches it.
 */
#ifndef SSRING_POOL_H
#define SSRING_POOL_H

#include <stddef.h>
#include <stdint.h>

#define POOL_NONE UINT32_MAX
#define POOL_PAGE 4096

struct pool {
	unsigned char *base;
	size_t obj_size;
	uint32_t cap;
	uint32_t used;
	uint32_t n_free;    /* entries in free_idx */
	uint32_t next_new;  /* never-used objects start here */
	uint32_t n_cold;    /* free_idx[0 .. n_cold) have had their pages released */
	uint32_t *free_idx;
};

/* Reserve cap objects of obj_size bytes (rounded up to 64). 0 or -ENOMEM. */
int pool_init(struct pool *p, size_t obj_size, uint32_t cap);
void pool_destroy(struct pool *p);
/* Index of a free object, or POOL_NONE when the pool is full. */
uint32_t pool_alloc(struct pool *p);
void pool_free(struct pool *p, uint32_t idx);
/*
 * Give the pages of free objects back to the kernel, except the keep most
 * recently freed ones (they are reused first and stay warm). Each object is
 * released once, however often this runs, so a periodic call costs nothing
 * while nothing new is freed. Only for objects of whole pages.
 */
void pool_trim(struct pool *p, uint32_t keep);

static inline void *pool_at(const struct pool *p, uint32_t idx)
{
	return p->base + (size_t)idx * p->obj_size;
}

#endif
