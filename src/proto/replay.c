/* SPDX-License-Identifier: MIT */
#include "proto/replay.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proto/aead.h"
#include "proto/ss2022.h"

struct replay_filter {
	_Atomic uint64_t *bits[2];
	uint64_t nbits;
	unsigned k;
	uint32_t half;            /* inserts per filter before rotating */
	_Atomic uint32_t count;   /* inserts into the current filter */
	_Atomic unsigned cur;
	pthread_mutex_t mu;
	uint64_t key[2];          /* per-process secret for the hash */
};

/* Keyed mixing of the salt into two 64-bit values (double hashing). */
static void hash2(const struct replay_filter *f, const uint8_t *p, size_t len, uint64_t *h1,
		  uint64_t *h2)
{
	uint64_t a = f->key[0] ^ len, b = f->key[1];

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = 0;

		memcpy(&w, p + i, len - i < 8 ? len - i : 8);
		a ^= w;
		a *= 0x9E3779B97F4A7C15ull;
		a ^= a >> 29;
		b += a;
		b *= 0xBF58476D1CE4E5B9ull;
		b ^= b >> 31;
	}
	*h1 = a ^ (b >> 17);
	*h2 = (b ^ (a >> 23)) | 1;
}

/*
 * Every salt sets k bits at random places, so after a few thousand
 * connections every page of the filter is backed anyway (and clearing a
 * half touches all of it). Back it from the start: memory use is flat from
 * the first connection on, and no connection takes the page faults.
 */
static _Atomic uint64_t *bits_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void bits_free(_Atomic uint64_t *p, size_t bytes)
{
	if (p)
		munmap((void *)p, bytes);
}

struct replay_filter *replay_new(uint32_t entries, double fp)
{
	struct replay_filter *f = calloc(1, sizeof(*f));
	double bits_per = -log(fp) / (M_LN2 * M_LN2);
	size_t words;

	if (!f)
		return NULL;
	f->half = entries / 2 ? entries / 2 : 1;
	f->nbits = (uint64_t)(bits_per * f->half) + 64;
	f->k = (unsigned)ceil(M_LN2 * bits_per);
	words = (size_t)(f->nbits + 63) / 64;
	f->nbits = (uint64_t)words * 64;
	f->bits[0] = bits_alloc(words * sizeof(uint64_t));
	f->bits[1] = bits_alloc(words * sizeof(uint64_t));
	if (!f->bits[0] || !f->bits[1] || aead_random((uint8_t *)f->key, sizeof(f->key))) {
		replay_free(f);
		return NULL;
	}
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

void replay_free(struct replay_filter *f)
{
	if (!f)
		return;
	bits_free(f->bits[0], (size_t)(f->nbits / 8));
	bits_free(f->bits[1], (size_t)(f->nbits / 8));
	free(f);
}

size_t replay_bytes(const struct replay_filter *f)
{
	return (size_t)(f->nbits / 8) * 2;
}

static bool test_bits(const struct replay_filter *f, unsigned which, uint64_t h1, uint64_t h2)
{
	for (unsigned i = 0; i < f->k; i++) {
		uint64_t bit = (h1 + i * h2) % f->nbits;

		if (!(atomic_load_explicit(&f->bits[which][bit / 64], memory_order_relaxed) &
		      (1ull << (bit % 64))))
			return false;
	}
	return true;
}

static void rotate(struct replay_filter *f)
{
	pthread_mutex_lock(&f->mu);
	if (atomic_load(&f->count) >= f->half) {
		unsigned next = atomic_load(&f->cur) ^ 1;

		memset((void *)f->bits[next], 0, (size_t)(f->nbits / 8));
		atomic_store(&f->cur, next);
		atomic_store(&f->count, 0);
	}
	pthread_mutex_unlock(&f->mu);
}

bool replay_check_insert(struct replay_filter *f, const uint8_t *salt, size_t len)
{
	uint64_t h1, h2;
	unsigned cur;

	hash2(f, salt, len, &h1, &h2);
	if (test_bits(f, 0, h1, h2) || test_bits(f, 1, h1, h2))
		return true;
	cur = atomic_load_explicit(&f->cur, memory_order_acquire);
	for (unsigned i = 0; i < f->k; i++) {
		uint64_t bit = (h1 + i * h2) % f->nbits;

		atomic_fetch_or_explicit(&f->bits[cur][bit / 64], 1ull << (bit % 64),
					 memory_order_relaxed);
	}
	if (atomic_fetch_add_explicit(&f->count, 1, memory_order_relaxed) + 1 >= f->half)
		rotate(f);
	return false;
}

struct replay2022 {
	pthread_mutex_t mu;
	struct ss2022_saltset set;
	void *mem;
	size_t bytes;
};

struct replay2022 *replay2022_new(size_t capacity)
{
	struct replay2022 *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->bytes = ss2022_saltset_mem_size(capacity);
	r->mem = calloc(1, r->bytes);
	if (!r->mem || ss2022_saltset_init(&r->set, capacity, r->mem, r->bytes)) {
		replay2022_free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void replay2022_free(struct replay2022 *r)
{
	if (!r)
		return;
	free(r->mem);
	free(r);
}

size_t replay2022_bytes(const struct replay2022 *r)
{
	return r->bytes;
}

int replay2022_check_insert(struct replay2022 *r, const uint8_t *salt, size_t len, uint64_t now)
{
	int ret;

	pthread_mutex_lock(&r->mu);
	ret = ss2022_saltset_check_insert(&r->set, salt, len, now);
	pthread_mutex_unlock(&r->mu);
	return ret;
}
