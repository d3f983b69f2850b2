/* SPDX-License-Identifier: MIT */
#include "core/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

int pool_init(struct pool *p, size_t obj_size, uint32_t cap)
{
	size_t bytes;

	p->obj_size = (obj_size + 63) & ~(size_t)63;
	if (p->obj_size >= 4 * POOL_PAGE) /* big objects: whole pages, so pool_trim can drop them */
		p->obj_size = (p->obj_size + POOL_PAGE - 1) & ~(size_t)(POOL_PAGE - 1);
	p->cap = cap;
	p->used = p->n_free = p->next_new = p->n_cold = 0;
	bytes = p->obj_size * cap;
	p->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->base == MAP_FAILED) {
		p->base = NULL;
		return -ENOMEM;
	}
	p->free_idx = malloc(sizeof(uint32_t) * cap);
	if (!p->free_idx) {
		munmap(p->base, bytes);
		p->base = NULL;
		return -ENOMEM;
	}
	return 0;
}

void pool_destroy(struct pool *p)
{
	if (p->base)
		munmap(p->base, p->obj_size * p->cap);
	free(p->free_idx);
	p->base = NULL;
	p->free_idx = NULL;
}

uint32_t pool_alloc(struct pool *p)
{
	uint32_t idx;

	/* Prefer recently freed objects: their pages are already backed and hot. */
	if (p->n_free) {
		idx = p->free_idx[--p->n_free];
		if (p->n_cold > p->n_free)
			p->n_cold = p->n_free;
	}
	else if (p->next_new < p->cap)
		idx = p->next_new++;
	else
		return POOL_NONE;
	p->used++;
	return idx;
}

void pool_free(struct pool *p, uint32_t idx)
{
	p->free_idx[p->n_free++] = idx;
	p->used--;
}

void pool_trim(struct pool *p, uint32_t keep)
{
	uint32_t end = p->n_free > keep ? p->n_free - keep : 0;

	if (p->obj_size % POOL_PAGE)
		return;
	for (; p->n_cold < end; p->n_cold++)
		madvise(pool_at(p, p->free_idx[p->n_cold]), p->obj_size, MADV_DONTNEED);
}
