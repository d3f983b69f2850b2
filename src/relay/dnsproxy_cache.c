/* SPDX-License-Identifier: MIT */
/*
 * dnsproxy_cache — the DNS forwarder's answers, per worker (no lock; a
 * name asked on two workers is asked twice). Keyed by the question's
 * lower-cased name, type, class and the query's EDNS, DO and CD bits (an
 * answer to one is not the answer to the other); each answer kept as the
 * resolver gave it, with when it came and for how long it may be served.
 * Bounded by DNSP_CACHE_ENTRIES and DNSP_CACHE_BYTES: the least recently
 * used goes first. A reload empties it (the ACL or the resolvers may have
 * changed).
 */
#include <stdlib.h>
#include <string.h>

#include "core/list.h"
#include "dnsproxy_int.h"

#define BUCKETS 4096

struct centry {
	struct centry *hnext;
	struct list lru;          /* least recently used first */
	uint64_t stored_ms, expires_ms;
	uint32_t hash;
	uint16_t klen;
	size_t len;
	uint8_t data[];           /* the key, then the answer */
};

struct dnsp_cache {
	struct centry *bucket[BUCKETS];
	struct list lru;
	uint32_t n;
	size_t bytes;
};

static uint32_t hash_key(const uint8_t *k, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 16777619u;
	return h ^ (h >> 15);
}

static size_t size_of(const struct centry *e)
{
	return sizeof(*e) + e->klen + e->len;
}

static void drop(struct dnsp_cache *c, struct centry *e)
{
	struct centry **p = &c->bucket[e->hash % BUCKETS];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	list_del(&e->lru);
	c->n--;
	c->bytes -= size_of(e);
	free(e);
}

struct dnsp_cache *dnsp_cache_new(void)
{
	struct dnsp_cache *c = calloc(1, sizeof(*c));

	if (c)
		list_init(&c->lru);
	return c;
}

void dnsp_cache_flush(struct dnsp_cache *c)
{
	while (!list_empty(&c->lru))
		drop(c, list_entry(c->lru.next, struct centry, lru));
}

void dnsp_cache_free(struct dnsp_cache *c)
{
	if (!c)
		return;
	dnsp_cache_flush(c);
	free(c);
}

static struct centry *find(struct dnsp_cache *c, const uint8_t *key, size_t klen, uint32_t h)
{
	for (struct centry *e = c->bucket[h % BUCKETS]; e; e = e->hnext)
		if (e->hash == h && e->klen == klen && !memcmp(e->data, key, klen))
			return e;
	return NULL;
}

const uint8_t *dnsp_cache_get(struct dnsp_cache *c, const uint8_t *key, size_t klen,
			      uint64_t now_ms, size_t *len, uint64_t *age_ms)
{
	struct centry *e = find(c, key, klen, hash_key(key, klen));

	if (!e)
		return NULL;
	if (now_ms >= e->expires_ms) {
		drop(c, e);
		return NULL;
	}
	list_del(&e->lru);
	list_add_tail(&c->lru, &e->lru);
	*len = e->len;
	*age_ms = now_ms - e->stored_ms;
	return e->data + e->klen;
}

void dnsp_cache_put(struct dnsp_cache *c, const uint8_t *key, size_t klen, const uint8_t *m,
		    size_t len, uint32_t ttl_s, uint64_t now_ms)
{
	uint32_t h = hash_key(key, klen);
	struct centry *e = find(c, key, klen, h);
	size_t size = sizeof(*e) + klen + len;

	if (e)
		drop(c, e);
	if (size > DNSP_CACHE_BYTES / 16)
		return; /* a few huge answers would push out everything else */
	while (!list_empty(&c->lru) &&
	       (c->n >= DNSP_CACHE_ENTRIES || c->bytes + size > DNSP_CACHE_BYTES))
		drop(c, list_entry(c->lru.next, struct centry, lru));
	e = malloc(size);
	if (!e)
		return;
	e->hash = h;
	e->klen = (uint16_t)klen;
	e->len = len;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)ttl_s * 1000;
	memcpy(e->data, key, klen);
	memcpy(e->data + klen, m, len);
	e->hnext = c->bucket[h % BUCKETS];
	c->bucket[h % BUCKETS] = e;
	list_add_tail(&c->lru, &e->lru);
	c->n++;
	c->bytes += size_of(e);
}
