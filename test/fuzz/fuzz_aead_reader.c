/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the AEAD-2017 stream reader driven the way a relay drives it.
 *
 * Input: byte 0 picks the method (low 6 bits), sealed mode (0x80) and a bit
 * flip (0x40); bytes 1-2 seed the split points, and the top bit of byte 1
 * makes the reader a trial reader (a server with users: the key is found by
 * trying a wrong one, then the right one); byte 3 bounds the segment size. The rest is either
 * - raw mode: the stream itself (exercises salt/length handling and tag
 *   failures on garbage), or
 * - sealed mode: plaintext that is sealed into a valid stream with chunk
 *   sizes picked from the seed, optionally with one bit flipped; the decoded
 *   output must equal the plaintext (or its prefix of whole chunks before the
 *   flipped bit, followed by -EBADMSG).
 * Each segment is copied into a buffer of exactly its size, so ASan catches a
 * read past what the relay showed the reader. Partial records go through a
 * carry buffer of AEAD_CHUNK_WIRE_MAX bytes (test/util.h's carry model).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "proto/aead.h"

#define MAX_INPUT (1 << 17)

static const uint8_t master[AEAD_MAX_KEY_BYTES] = {
	0x6d, 0x61, 0x73, 0x74, 0x65, 0x72, 0x20, 0x6b,
	0x65, 0x79, 0x20, 0x66, 0x6f, 0x72, 0x20, 0x74,
	0x68, 0x65, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x65,
	0x72, 0x2c, 0x20, 0x66, 0x69, 0x78, 0x65, 0x64,
};

struct relay {
	struct aead_reader r;
	struct carry c;
	uint8_t carry_buf[AEAD_CHUNK_WIRE_MAX];
	uint8_t *out;
	size_t out_len, out_cap;
};

/* A key the stream was not sealed with: a server's other user. */
static const uint8_t other[AEAD_MAX_KEY_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* A trial reader met salt + first length: try another user's key, then ours. */
static int find_key(struct relay *s, const uint8_t *buf)
{
	struct aead_trial t;
	int res;

	aead_trial_init(&t, s->r.m, buf);
	if (aead_reader_try(&s->r, &t, buf, other) != -EBADMSG || s->r.state != AEAD_RD_TRIAL)
		abort();
	res = aead_reader_try(&s->r, &t, buf, master);
	if (res != 0 && (res != -EBADMSG || s->r.state != AEAD_RD_TRIAL))
		abort();
	aead_trial_wipe(&t);
	if (res != 0)
		s->r.state = AEAD_RD_FAILED; /* the relay gives up: no user's key */
	return res;
}

static size_t relay_need(void *arg)
{
	struct relay *s = arg;

	return aead_reader_need(&s->r);
}

static int relay_step(void *arg, uint8_t *buf, size_t len, size_t *used)
{
	struct relay *s = arg;
	uint8_t *plain;
	size_t plain_len;
	int res = aead_reader_step(&s->r, buf, len, used, &plain, &plain_len);

	if (res == AEAD_RD_NEED_KEY) {
		if (*used != 0 || len < aead_reader_need(&s->r))
			abort();
		if (find_key(s, buf) < 0)
			return -EBADMSG;
		res = aead_reader_step(&s->r, buf, len, used, &plain, &plain_len);
		if (res != AEAD_RD_GOT_LEN || *used != (size_t)s->r.m->salt_len + AEAD_LEN_BYTES)
			abort();
	}

	if (*used > len || (res < 0 && s->r.state != AEAD_RD_FAILED))
		abort();
	if (res == AEAD_RD_NEED_MORE && *used != 0)
		abort();
	if (res != AEAD_RD_GOT_DATA)
		return res;
	if (plain != buf || plain_len == 0 || plain_len > AEAD_CHUNK_MAX ||
	    *used != plain_len + AEAD_TAG_BYTES || s->out_len + plain_len > s->out_cap)
		abort();
	memcpy(s->out + s->out_len, plain, plain_len);
	s->out_len += plain_len;
	return res;
}

/* Feed wire in segments of 1..max_seg bytes, each in a buffer of exactly its size. */
static int feed_split(struct relay *s, const uint8_t *wire, size_t len, uint32_t seed,
		      size_t max_seg)
{
	size_t off = 0;
	int res = 0;

	while (off < len && res == 0) {
		size_t n = 1 + xorshift32(&seed) % max_seg;
		uint8_t *seg;

		if (n > len - off)
			n = len - off;
		seg = malloc(n);
		if (!seg)
			abort();
		memcpy(seg, wire + off, n);
		res = carry_feed(&s->c, seg, n);
		free(seg);
		off += n;
	}
	return res;
}

/* Seal plain into salt | chunks, chunk sizes drawn from seed. Returns the wire size. */
static size_t build_stream(const struct aead_method *m, uint8_t *wire, const uint8_t *plain,
			   size_t len, uint32_t seed)
{
	struct aead_ctx c;
	size_t w = m->salt_len;

	for (size_t i = 0; i < m->salt_len; i++)
		wire[i] = (uint8_t)xorshift32(&seed);
	if (aead_ctx_init(&c, m, master, wire) < 0)
		abort();
	while (len > 0) {
		size_t n = 1 + xorshift32(&seed) % (seed & 1 ? AEAD_CHUNK_MAX : 64);

		if (n > len)
			n = len;
		memcpy(wire + w + AEAD_LEN_BYTES, plain, n);
		if (aead_seal_chunk_inplace(&c, wire + w + AEAD_LEN_BYTES, n) != n + 34)
			abort();
		w += n + AEAD_LEN_BYTES + AEAD_TAG_BYTES;
		plain += n;
		len -= n;
	}
	aead_ctx_wipe(&c);
	return w;
}

static void run_sealed(struct relay *s, const struct aead_method *m, const uint8_t *plain,
		       size_t len, uint32_t seed, size_t max_seg, bool flip)
{
	/* worst case: one byte per chunk */
	size_t cap = AEAD_MAX_SALT_BYTES + len * (1 + AEAD_LEN_BYTES + AEAD_TAG_BYTES);
	uint8_t *wire = malloc(cap);
	size_t wire_len, bit = 0, held;
	int res;

	if (!wire)
		abort();
	wire_len = build_stream(m, wire, plain, len, seed);
	if (wire_len > cap)
		abort();
	if (flip && wire_len > 0) {
		bit = xorshift32(&seed) % (8 * wire_len);
		wire[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	res = feed_split(s, wire, wire_len, seed, max_seg);
	if (s->out_len > len || memcmp(s->out, plain, s->out_len) != 0)
		abort();
	if (flip && len > 0 && res != -EBADMSG)
		abort();
	/* An empty stream is a bare salt: a trial reader must hold it, since no
	 * key can be chosen before the first length arrives. */
	held = s->r.state == AEAD_RD_TRIAL && len == 0 ? m->salt_len : 0;
	if (!flip && (res != 0 || s->out_len != len || s->c.len != held))
		abort();
	free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct relay s;
	static uint8_t out[MAX_INPUT];
	const struct aead_method *m;
	uint32_t seed;
	size_t max_seg;

	if (size < 4 || size > MAX_INPUT)
		return 0;
	m = aead_method_find(aead_method_get((data[0] & 0x3f) % AEAD_KIND_COUNT)->name);
	if (!m)
		return 0;
	seed = 1u + ((uint32_t)data[1] << 8 | data[2]);
	max_seg = data[3] == 0xff ? AEAD_CHUNK_WIRE_MAX * 2 : (size_t)data[3] + 1;
	memset(&s, 0, sizeof(s));
	/* data[1] & 0x80: a server with users, which finds the key by trial. */
	if (data[1] & 0x80)
		aead_reader_init_trial(&s.r, m);
	else
		aead_reader_init(&s.r, m, master);
	s.out = out;
	s.out_cap = sizeof(out);
	s.c = (struct carry){ .buf = s.carry_buf, .cap = sizeof(s.carry_buf), .need = relay_need,
			      .step = relay_step, .arg = &s };
	if (data[0] & 0x80)
		run_sealed(&s, m, data + 4, size - 4, seed, max_seg, data[0] & 0x40);
	else
		feed_split(&s, data + 4, size - 4, seed, max_seg);
	aead_ctx_wipe(&s.r.ctx);
	return 0;
}
