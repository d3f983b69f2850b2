/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the SS2022 server request reader driven the way a relay drives
 * it, with a fixed PSK and a fixed clock.
 *
 * Input: byte 0 picks the method (bits 0-1), a user table with EIH (0x04,
 * AES only), a bit flip (0x40) and sealed mode (0x80); bytes 1-2 seed the
 * split points and chunk sizes; byte 3 bounds the segment size. The rest is
 * - raw mode: the stream itself (garbage headers, tag failures), or
 * - sealed mode: type | ts offset (int8) | u16 length | variable header |
 *   data, sealed into a stream with a valid salt, EIH and tags, so the
 *   header checks and the variable-header parser see arbitrary plaintext.
 *   Oracles: a valid fixed header must pass; an accepted variable header
 *   must re-encode to its own bytes; the data chunks that follow must come
 *   out unchanged; a flipped bit must fail the stream.
 * Segments are copied into buffers of exactly their size so ASan catches a
 * read past what the relay showed the reader; partial records go through
 * test/util.h's carry model.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "proto/ss2022.h"

#define MAX_INPUT (1 << 16)
#define NOW 1700000000ull

struct relay {
	struct ss2022_reader r;
	struct ssaddr target;  /* where r puts the request's address */
	struct ss2022_saltset salts;
	struct carry c;
	uint8_t carry_buf[SS2022_RECORD_MAX];
	const uint8_t *var;    /* sealed mode: the variable header plaintext */
	size_t var_len;
	uint8_t *out;
	size_t out_len, out_cap;
	int fixed, varhdr;
	int want_user;         /* sealed mode with users: the EIH's user */
	bool use_out;          /* read with ss2022_reader_step_out */
	uint8_t scratch[SS2022_CHUNK_MAX];
};

static const char *const names[3] = { "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
				       "2022-blake3-chacha20-poly1305" };
static struct ss2022_user users[2];
static struct ss2022_server_cfg cfgs[3][2]; /* [method][with users] */
static uint64_t salt_mem[1024];

static void setup(void)
{
	for (int i = 0; i < 3; i++) {
		const struct ss2022_method *m = ss2022_method_find(names[i]);

		if (!m)
			abort();
		for (int u = 0; u < 2; u++) {
			cfgs[i][u].m = m;
			memset(cfgs[i][u].psk, 0x50 + i, sizeof(cfgs[i][u].psk));
			cfgs[i][u].users = users;
			cfgs[i][u].n_users = u && m->is_aes ? 2 : 0;
		}
	}
	/* 32-byte user keys; AES-128 uses their first 16 bytes via m->key_len. */
	for (int u = 0; u < 2; u++) {
		memset(users[u].psk, 0x70 + u, sizeof(users[u].psk));
		users[u].name = u ? "b" : "a";
	}
}

/* Hashes depend on the method's key length: refresh for the one in use. */
static void set_user_hashes(const struct ss2022_method *m)
{
	for (int u = 0; u < 2; u++)
		ss2022_key_hash(m, users[u].psk, users[u].hash);
}

static void check_varhdr(const struct relay *s, const uint8_t *plain, size_t plain_len)
{
	uint8_t enc[SSADDR_MAX_BYTES];
	size_t alen;

	if (!s->var)
		return;
	alen = ssaddr_encode(&s->target, enc);
	/* addr | pad len | padding | payload, with payload the tail of the chunk */
	if (alen + 2 + plain_len > s->var_len || memcmp(enc, s->var, alen) != 0)
		abort();
	if (alen + 2 + (size_t)(s->var[alen] << 8 | s->var[alen + 1]) + plain_len != s->var_len)
		abort();
	if (memcmp(plain, s->var + s->var_len - plain_len, plain_len) != 0)
		abort();
}

static size_t relay_need(void *arg)
{
	struct relay *s = arg;

	return ss2022_reader_need(&s->r);
}

static int relay_step(void *arg, uint8_t *buf, size_t len, size_t *used)
{
	struct relay *s = arg;
	uint8_t *plain;
	size_t plain_len;
	int res = s->use_out ? ss2022_reader_step_out(&s->r, buf, len, NOW, used, s->scratch,
						      &plain, &plain_len)
			     : ss2022_reader_step(&s->r, buf, len, NOW, used, &plain, &plain_len);

	if (*used > len || (res < 0 && s->r.state != SS2022_RD_FAILED))
		abort();
	if ((res <= 0 && *used != 0) || (res < 0 && plain))
		abort();
	/* Payloads in scratch with step_out, everything else inside buf. */
	if (s->use_out && res == SS2022_RD_GOT_DATA) {
		if (plain != s->scratch || plain_len > sizeof(s->scratch))
			abort();
	} else if (plain && (plain < buf || plain + plain_len > buf + *used)) {
		abort();
	}
	if (res == SS2022_RD_GOT_FIXED) {
		s->fixed++;
		if (ss2022_saltset_check_insert(&s->salts, s->r.salt, s->r.m->key_len, NOW) != 0)
			abort(); /* a fresh set per input: never seen */
	}
	if (res == SS2022_RD_GOT_VARHDR) {
		s->varhdr++;
		check_varhdr(s, plain, plain_len);
	}
	if (res == SS2022_RD_GOT_DATA) {
		if (s->out_len + plain_len > s->out_cap)
			abort();
		memcpy(s->out + s->out_len, plain, plain_len);
		s->out_len += plain_len;
	}
	return res;
}

static int feed_split(struct relay *s, const uint8_t *wire, size_t len, uint32_t seed,
		      size_t max_seg)
{
	size_t off = 0;
	int res = 0;

	while (off < len && res == 0) {
		size_t n = max_seg ? 1 + xorshift32(&seed) % max_seg : len;
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

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* salt | [EIH for a user from seed] | fixed | var: returns bytes, ctx left at nonce 2. */
static size_t build_headers(const struct ss2022_server_cfg *cfg, uint8_t type, uint64_t ts,
			    const uint8_t *var, size_t var_len, uint32_t *seed,
			    struct aead_ctx *ctx, uint8_t *wire, int *user)
{
	const struct ss2022_method *m = cfg->m;
	const uint8_t *psk = cfg->psk;
	uint8_t *p = wire + m->key_len, sub[32];

	for (size_t i = 0; i < m->key_len; i++)
		wire[i] = (uint8_t)xorshift32(seed);
	if (cfg->n_users > 0) {
		uint8_t isub[32];
		int u = *user = (int)(*seed & 1);

		ss2022_identity_subkey(m, cfg->psk, wire, isub);
		if (aead_aes_block(isub, m->key_len, true, users[u].hash, p) < 0)
			abort();
		psk = users[u].psk;
		p += SS2022_EIH_BYTES;
	}
	ss2022_session_subkey(m, psk, wire, m->key_len, sub);
	if (aead_ctx_init_subkey(ctx, ss2022_chunk_method(m), sub) < 0)
		abort();
	p[0] = type;
	put_be(p + 1, ts, 8);
	put_be(p + 9, var_len, 2);
	memcpy(p + 27, var, var_len);
	if (aead_seal(ctx, p, p, 11) < 0 || aead_seal(ctx, p + 27, p + 27, var_len) < 0)
		abort();
	return (size_t)(p + 27 + var_len + AEAD_TAG_BYTES - wire);
}

static void run_sealed(struct relay *s, const struct ss2022_server_cfg *cfg, const uint8_t *in,
		       size_t len, uint32_t seed, size_t max_seg, bool flip)
{
	size_t var_len, cap, w, bit, off, chunks = 0;
	uint8_t *wire;
	uint64_t ts;
	struct aead_ctx ctx;
	int res;

	if (len < 4)
		return;
	ts = NOW + (uint64_t)(int64_t)(int8_t)in[1];
	var_len = (size_t)in[2] << 8 | in[3];
	if (var_len > len - 4)
		var_len = len - 4;
	s->var = in + 4;
	s->var_len = var_len;
	/* at most 2 * len + 1 chunks (empty ones included), each <= 34 bytes + data */
	cap = 512 + len + (2 * len + 1) * (AEAD_LEN_BYTES + AEAD_TAG_BYTES);
	wire = malloc(cap);
	if (!wire)
		abort();
	w = build_headers(cfg, in[0], ts, in + 4, var_len, &seed, &ctx, wire, &s->want_user);
	for (off = 4 + var_len; off < len && chunks++ < 2 * len + 1;) {
		size_t n = xorshift32(&seed) % 300; /* 0: an empty chunk, accepted (§5.7) */

		if (n > len - off)
			n = len - off;
		memcpy(wire + w + AEAD_LEN_BYTES, in + off, n);
		put_be(wire + w, n, 2);
		if (aead_seal(&ctx, wire + w, wire + w, 2) < 0 ||
		    aead_seal(&ctx, wire + w + AEAD_LEN_BYTES, wire + w + AEAD_LEN_BYTES, n) < 0)
			abort();
		w += AEAD_LEN_BYTES + n + AEAD_TAG_BYTES;
		off += n;
	}
	aead_ctx_wipe(&ctx);
	if (flip) {
		bit = cfg->m->key_len * 8 + xorshift32(&seed) % (8 * (w - cfg->m->key_len));
		wire[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	res = feed_split(s, wire, w, seed, max_seg);
	free(wire);
	if (flip) {
		if (res >= 0)
			abort();
		return;
	}
	if (in[0] == SS2022_TYPE_CLIENT && ts + 30 >= NOW && ts <= NOW + 30 && s->fixed != 1)
		abort();
	if (s->varhdr && (res != 0 || s->out_len != off - 4 - var_len ||
			  memcmp(s->out, in + 4 + var_len, s->out_len) != 0))
		abort();
	if (s->fixed && s->r.user != (cfg->n_users > 0 ? s->want_user : -1))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct relay s;
	static uint8_t out[MAX_INPUT];
	static bool ready;
	const struct ss2022_server_cfg *cfg;
	uint32_t seed;
	size_t max_seg;

	if (size < 4 || size > MAX_INPUT)
		return 0;
	if (!ready) {
		setup();
		ready = true;
	}
	cfg = &cfgs[(data[0] & 3) % 3][(data[0] >> 2) & 1];
	set_user_hashes(cfg->m);
	seed = (uint32_t)data[1] << 8 | data[2] | 0x10000;
	max_seg = data[3];
	memset(&s, 0, sizeof(s));
	s.out = out;
	s.out_cap = sizeof(out);
	s.c = (struct carry){ .buf = s.carry_buf, .cap = sizeof(s.carry_buf), .need = relay_need,
			      .step = relay_step, .arg = &s };
	s.use_out = data[0] & 0x20;
	if (ss2022_reader_init_server(&s.r, cfg, &s.target) < 0 ||
	    ss2022_saltset_init(&s.salts, 64, salt_mem, sizeof(salt_mem)) < 0)
		abort();
	if (data[0] & 0x80)
		run_sealed(&s, cfg, data + 4, size - 4, seed, max_seg, data[0] & 0x40);
	else
		feed_split(&s, data + 4, size - 4, seed, max_seg);
	ss2022_reader_wipe(&s.r);
	return 0;
}
