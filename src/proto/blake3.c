/* SPDX-License-Identifier: MIT */
/*
 * BLAKE3, portable C, one block at a time (protocol.md §6). SS2022 hashes at
 * most 64 bytes per call, so clarity wins over SIMD; the tree logic is the
 * "lazy merge" form: a chunk is only finished when more input arrives, so the
 * last chunk (or the top parent) can still become the root.
 */
#include "proto/blake3.h"

#include <string.h>

enum {
	CHUNK_START = 1 << 0,
	CHUNK_END = 1 << 1,
	PARENT = 1 << 2,
	ROOT = 1 << 3,
	KEYED_HASH = 1 << 4,
	DERIVE_KEY_CONTEXT = 1 << 5,
	DERIVE_KEY_MATERIAL = 1 << 6,
};

static const uint32_t IV[8] = {
	0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
	0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
};

static const uint8_t MSG_PERM[16] = { 2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8 };

/* A node whose compression is deferred: either a chaining value or root output. */
struct output {
	uint32_t cv[8];
	uint8_t block[BLAKE3_BLOCK_BYTES];
	uint64_t counter;
	uint8_t block_len;
	uint8_t flags;
};

/* memset that the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t rotr32(uint32_t x, unsigned n)
{
	return x >> n | x << (32 - n);
}

static void g(uint32_t *s, int a, int b, int c, int d, uint32_t x, uint32_t y)
{
	s[a] += s[b] + x;
	s[d] = rotr32(s[d] ^ s[a], 16);
	s[c] += s[d];
	s[b] = rotr32(s[b] ^ s[c], 12);
	s[a] += s[b] + y;
	s[d] = rotr32(s[d] ^ s[a], 8);
	s[c] += s[d];
	s[b] = rotr32(s[b] ^ s[c], 7);
}

/* Columns, then diagonals. */
static void do_round(uint32_t s[16], const uint32_t m[16])
{
	g(s, 0, 4, 8, 12, m[0], m[1]);
	g(s, 1, 5, 9, 13, m[2], m[3]);
	g(s, 2, 6, 10, 14, m[4], m[5]);
	g(s, 3, 7, 11, 15, m[6], m[7]);
	g(s, 0, 5, 10, 15, m[8], m[9]);
	g(s, 1, 6, 11, 12, m[10], m[11]);
	g(s, 2, 7, 8, 13, m[12], m[13]);
	g(s, 3, 4, 9, 14, m[14], m[15]);
}

static void permute(uint32_t m[16])
{
	uint32_t t[16];

	for (int i = 0; i < 16; i++)
		t[i] = m[MSG_PERM[i]];
	memcpy(m, t, sizeof(t));
}

/* The compression function; out gets all 16 state words (8 = new chaining value). */
static void compress(const uint32_t cv[8], const uint8_t block[BLAKE3_BLOCK_BYTES],
		     uint64_t counter, uint32_t block_len, uint32_t flags, uint32_t out[16])
{
	uint32_t m[16], s[16];

	for (int i = 0; i < 16; i++)
		m[i] = load_le32(block + 4 * i);
	memcpy(s, cv, 8 * sizeof(uint32_t));
	memcpy(s + 8, IV, 4 * sizeof(uint32_t));
	s[12] = (uint32_t)counter;
	s[13] = (uint32_t)(counter >> 32);
	s[14] = block_len;
	s[15] = flags;
	for (int r = 0; r < 7; r++) {
		do_round(s, m);
		if (r < 6)
			permute(m);
	}
	for (int i = 0; i < 8; i++) {
		s[i] ^= s[i + 8];
		s[i + 8] ^= cv[i];
	}
	memcpy(out, s, sizeof(s));
	wipe(m, sizeof(m));
	wipe(s, sizeof(s));
}

static void output_cv(const struct output *o, uint32_t cv[8])
{
	uint32_t w[16];

	compress(o->cv, o->block, o->counter, o->block_len, o->flags, w);
	memcpy(cv, w, 8 * sizeof(uint32_t));
	wipe(w, sizeof(w));
}

/* Root output block k is the root compression run again with counter k (the XOF). */
static void output_root(const struct output *o, uint8_t *out, size_t len)
{
	uint8_t blk[BLAKE3_BLOCK_BYTES];
	uint32_t w[16];

	for (uint64_t k = 0; len > 0; k++) {
		size_t n = len < sizeof(blk) ? len : sizeof(blk);

		compress(o->cv, o->block, k, o->block_len, o->flags | ROOT, w);
		for (int i = 0; i < 16; i++)
			store_le32(blk + 4 * i, w[i]);
		memcpy(out, blk, n);
		out += n;
		len -= n;
	}
	wipe(blk, sizeof(blk));
	wipe(w, sizeof(w));
}

/* Parent node: its block is the two child chaining values, counter 0, full length. */
static void parent_output(const uint32_t left[8], const uint32_t right[8], const uint32_t key[8],
			  uint8_t mode, struct output *o)
{
	memcpy(o->cv, key, sizeof(o->cv));
	for (int i = 0; i < 8; i++) {
		store_le32(o->block + 4 * i, left[i]);
		store_le32(o->block + 32 + 4 * i, right[i]);
	}
	o->counter = 0;
	o->block_len = BLAKE3_BLOCK_BYTES;
	o->flags = (uint8_t)(PARENT | mode);
}

/* ---- chunk state ---------------------------------------------------------- */

static void chunk_init(struct blake3_chunk *c, const uint32_t key[8], uint64_t counter,
		       uint8_t flags)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->cv, key, sizeof(c->cv));
	c->counter = counter;
	c->flags = flags;
}

static size_t chunk_len(const struct blake3_chunk *c)
{
	return (size_t)c->blocks_done * BLAKE3_BLOCK_BYTES + c->block_len;
}

static uint8_t chunk_start_flag(const struct blake3_chunk *c)
{
	return c->blocks_done == 0 ? CHUNK_START : 0;
}

/*
 * A full block is only compressed once more input shows it is not the
 * chunk's last one (the last block carries CHUNK_END and maybe ROOT).
 */
static void chunk_update(struct blake3_chunk *c, const uint8_t *in, size_t len)
{
	while (len > 0) {
		size_t n;

		if (c->block_len == BLAKE3_BLOCK_BYTES) {
			uint32_t w[16];

			compress(c->cv, c->block, c->counter, BLAKE3_BLOCK_BYTES,
				 c->flags | chunk_start_flag(c), w);
			memcpy(c->cv, w, sizeof(c->cv));
			wipe(w, sizeof(w));
			c->blocks_done++;
			c->block_len = 0;
			memset(c->block, 0, sizeof(c->block));
		}
		n = BLAKE3_BLOCK_BYTES - c->block_len;
		if (n > len)
			n = len;
		memcpy(c->block + c->block_len, in, n);
		c->block_len = (uint8_t)(c->block_len + n);
		in += n;
		len -= n;
	}
}

/* The unused tail of block is zero: chunk_init and chunk_update keep it so. */
static void chunk_output(const struct blake3_chunk *c, struct output *o)
{
	memcpy(o->cv, c->cv, sizeof(o->cv));
	memcpy(o->block, c->block, sizeof(o->block));
	o->counter = c->counter;
	o->block_len = c->block_len;
	o->flags = (uint8_t)(c->flags | chunk_start_flag(c) | CHUNK_END);
}

/* ---- hasher ------------------------------------------------------------------- */

static void hasher_init(struct blake3_hasher *h, const uint32_t key[8], uint8_t flags)
{
	memcpy(h->key, key, sizeof(h->key));
	chunk_init(&h->chunk, key, 0, flags);
	h->cv_stack_len = 0;
	h->flags = flags;
}

void blake3_init(struct blake3_hasher *h)
{
	hasher_init(h, IV, 0);
}

void blake3_init_keyed(struct blake3_hasher *h, const uint8_t key[BLAKE3_KEY_BYTES])
{
	uint32_t k[8];

	for (int i = 0; i < 8; i++)
		k[i] = load_le32(key + 4 * i);
	hasher_init(h, k, KEYED_HASH);
	wipe(k, sizeof(k));
}

void blake3_init_derive_key(struct blake3_hasher *h, const char *context)
{
	uint8_t ctx_key[BLAKE3_KEY_BYTES];
	uint32_t k[8];

	hasher_init(h, IV, DERIVE_KEY_CONTEXT);
	blake3_update(h, context, strlen(context));
	blake3_finalize_xof(h, ctx_key, sizeof(ctx_key));
	for (int i = 0; i < 8; i++)
		k[i] = load_le32(ctx_key + 4 * i);
	hasher_init(h, k, DERIVE_KEY_MATERIAL);
	wipe(ctx_key, sizeof(ctx_key));
	wipe(k, sizeof(k));
}

/*
 * The chunk with index total - 1 just completed. Every trailing zero bit of
 * total marks a full subtree that is now complete: merge it with the stack top.
 */
static void add_chunk_cv(struct blake3_hasher *h, uint32_t cv[8], uint64_t total)
{
	struct output o;

	while ((total & 1) == 0) {
		parent_output(h->cv_stack[--h->cv_stack_len], cv, h->key, h->flags, &o);
		output_cv(&o, cv);
		total >>= 1;
	}
	memcpy(h->cv_stack[h->cv_stack_len++], cv, 8 * sizeof(uint32_t));
	wipe(&o, sizeof(o));
}

void blake3_update(struct blake3_hasher *h, const void *in, size_t len)
{
	const uint8_t *p = in;

	while (len > 0) {
		size_t n;

		if (chunk_len(&h->chunk) == BLAKE3_CHUNK_BYTES) {
			uint64_t total = h->chunk.counter + 1;
			struct output o;
			uint32_t cv[8];

			chunk_output(&h->chunk, &o);
			output_cv(&o, cv);
			add_chunk_cv(h, cv, total);
			chunk_init(&h->chunk, h->key, total, h->flags);
			wipe(&o, sizeof(o));
			wipe(cv, sizeof(cv));
		}
		n = BLAKE3_CHUNK_BYTES - chunk_len(&h->chunk);
		if (n > len)
			n = len;
		chunk_update(&h->chunk, p, n);
		p += n;
		len -= n;
	}
}

void blake3_finalize_xof(const struct blake3_hasher *h, uint8_t *out, size_t len)
{
	struct output o;

	/* Fold the open chunk into every pending subtree root, right to left. */
	chunk_output(&h->chunk, &o);
	for (size_t i = h->cv_stack_len; i > 0; i--) {
		uint32_t cv[8];

		output_cv(&o, cv);
		parent_output(h->cv_stack[i - 1], cv, h->key, h->flags, &o);
		wipe(cv, sizeof(cv));
	}
	output_root(&o, out, len);
	wipe(&o, sizeof(o));
}

void blake3_wipe(struct blake3_hasher *h)
{
	wipe(h, sizeof(*h));
}

void blake3_hash(const void *in, size_t len, uint8_t *out, size_t out_len)
{
	struct blake3_hasher h;

	blake3_init(&h);
	blake3_update(&h, in, len);
	blake3_finalize_xof(&h, out, out_len);
	blake3_wipe(&h);
}

void blake3_derive_key(const char *context, const uint8_t *material, size_t len, uint8_t *out,
		       size_t out_len)
{
	struct blake3_hasher h;

	blake3_init_derive_key(&h, context);
	blake3_update(&h, material, len);
	blake3_finalize_xof(&h, out, out_len);
	blake3_wipe(&h);
}
