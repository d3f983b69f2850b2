/* SPDX-License-Identifier: MIT */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "proto/hkdf_sha1.h"

#include <errno.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SHA1_X86 1
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#endif

static const uint32_t SHA1_IV[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
				     0xC3D2E1F0 };

static inline uint32_t rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void sha1_compress_portable(uint32_t h[5], const uint8_t block[64])
{
	uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = get_be32(block + 4 * i);
	for (int t = 0; t < 80; t++) {
		uint32_t f, k, tmp;

		if (t >= 16)
			w[t & 15] = rol32(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^
						  w[t & 15],
					  1);
		if (t < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		} else if (t < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (t < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		tmp = rol32(a, 5) + f + e + k + w[t & 15];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

#ifdef SHA1_X86
/*
 * SHA extensions: one sha1rnds4 does four rounds on (A, B, C, D) held in
 * lanes 3..0; sha1nexte derives E for the next four rounds from the state
 * four rounds back and adds it to the message words; sha1msg1/sha1msg2
 * compute the message schedule four words at a time:
 * W[g] = msg2(msg1(W[g-4], W[g-3]) ^ W[g-2], W[g-1]).
 */
#define SHA1_NI __attribute__((target("sha,sse4.1,ssse3")))

SHA1_NI static inline __m128i sched(__m128i *w, int g)
{
	if (g >= 4)
		w[g & 3] = _mm_sha1msg2_epu32(
			_mm_xor_si128(_mm_sha1msg1_epu32(w[g & 3], w[(g + 1) & 3]), w[(g + 2) & 3]),
			w[(g + 3) & 3]);
	return w[g & 3];
}

#define SHA1_GROUP(func)                                                       \
	do {                                                                   \
		e = _mm_sha1nexte_epu32(prev, sched(w, g));                    \
		prev = abcd;                                                   \
		abcd = _mm_sha1rnds4_epu32(abcd, e, func);                     \
		g++;                                                           \
	} while (0)

SHA1_NI static void sha1_compress_ni(uint32_t h[5], const uint8_t block[64])
{
	const __m128i bswap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1B);
	__m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
	__m128i abcd_save = abcd, w[4], e, prev;
	int g = 1;

	for (int i = 0; i < 4; i++)
		w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16 * i)), bswap);
	/* Rounds 0-3 take E from the state; every later group derives it. */
	e = _mm_add_epi32(e0, w[0]);
	prev = abcd;
	abcd = _mm_sha1rnds4_epu32(abcd, e, 0);
	while (g < 5)
		SHA1_GROUP(0);
	while (g < 10)
		SHA1_GROUP(1);
	while (g < 15)
		SHA1_GROUP(2);
	while (g < 20)
		SHA1_GROUP(3);
	e0 = _mm_sha1nexte_epu32(prev, e0);
	abcd = _mm_add_epi32(abcd, abcd_save);
	_mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1B));
	h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static bool forced_portable;
/* 0: not probed yet, 1: no, 2: yes. Racing probes store the same value. */
static _Atomic int shani_state;

/* CPUID directly: __builtin_cpu_supports("sha") is unknown to older clang. */
static bool probe_shani(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return b & (1u << 29); /* CPUID.(EAX=7,ECX=0):EBX.SHA */
}

bool sha1_has_shani(void)
{
	int st = atomic_load_explicit(&shani_state, memory_order_relaxed);

	if (!st) {
		st = probe_shani() ? 2 : 1;
		atomic_store_explicit(&shani_state, st, memory_order_relaxed);
	}
	return !forced_portable && st == 2;
}

void sha1_compress(uint32_t h[5], const uint8_t block[64])
{
	if (sha1_has_shani())
		sha1_compress_ni(h, block);
	else
		sha1_compress_portable(h, block);
}
#else
static bool forced_portable;

bool sha1_has_shani(void)
{
	return false;
}

void sha1_compress(uint32_t h[5], const uint8_t block[64])
{
	sha1_compress_portable(h, block);
}
#endif

void sha1_force_portable(bool on)
{
	forced_portable = on;
}

/* ---- HMAC with the key's pad blocks compressed once ---------------------- */

struct hmac1 {
	uint32_t in[5];  /* state after (key ^ ipad) */
	uint32_t out[5]; /* state after (key ^ opad) */
};

static void hmac1_key(struct hmac1 *hm, const uint8_t *key, size_t len)
{
	uint8_t pad[64];

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < len; i++)
		pad[i] ^= key[i];
	memcpy(hm->in, SHA1_IV, sizeof(SHA1_IV));
	sha1_compress(hm->in, pad);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	memcpy(hm->out, SHA1_IV, sizeof(SHA1_IV));
	sha1_compress(hm->out, pad);
	explicit_bzero(pad, sizeof(pad));
}

/* The last block of a message of total length 64 + len (len <= 55). */
static void final_block(uint32_t st[5], const uint8_t *msg, size_t len)
{
	uint8_t blk[64] = { 0 };
	uint64_t bits = (64 + (uint64_t)len) * 8;

	memcpy(blk, msg, len);
	blk[len] = 0x80;
	put_be32(blk + 56, (uint32_t)(bits >> 32));
	put_be32(blk + 60, (uint32_t)bits);
	sha1_compress(st, blk);
	explicit_bzero(blk, sizeof(blk));
}

static void hmac1_mac(const struct hmac1 *hm, const uint8_t *msg, size_t len, uint8_t mac[20])
{
	uint32_t st[5];
	uint8_t inner[20];

	memcpy(st, hm->in, sizeof(st));
	final_block(st, msg, len);
	for (int i = 0; i < 5; i++)
		put_be32(inner + 4 * i, st[i]);
	memcpy(st, hm->out, sizeof(st));
	final_block(st, inner, sizeof(inner));
	for (int i = 0; i < 5; i++)
		put_be32(mac + 4 * i, st[i]);
}

void hkdf_sha1_salt_init(struct hkdf_sha1_salt *hs, const uint8_t *salt, size_t salt_len)
{
	static const uint8_t zero_salt[20];
	struct hmac1 hm;

	if (salt_len == 0) {
		salt = zero_salt;
		salt_len = sizeof(zero_salt);
	}
	hmac1_key(&hm, salt, salt_len);
	memcpy(hs->in, hm.in, sizeof(hs->in));
	memcpy(hs->out, hm.out, sizeof(hs->out));
	explicit_bzero(&hm, sizeof(hm));
}

int hkdf_sha1_salted(const struct hkdf_sha1_salt *hs, const uint8_t *ikm, size_t ikm_len,
		     const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	struct hmac1 hm;
	uint8_t prk[20], t[20 + HKDF_SHA1_MAX_INFO + 1];
	size_t tlen = 0, done = 0;

	if (ikm_len > HKDF_SHA1_MAX_IKM || info_len > HKDF_SHA1_MAX_INFO ||
	    out_len > HKDF_SHA1_MAX_OUT)
		return -EINVAL;
	/* Extract: PRK = HMAC(salt, IKM), the salt's pads already compressed. */
	memcpy(hm.in, hs->in, sizeof(hm.in));
	memcpy(hm.out, hs->out, sizeof(hm.out));
	hmac1_mac(&hm, ikm, ikm_len, prk);
	/* Expand: T(n) = HMAC(PRK, T(n-1) | info | n). */
	hmac1_key(&hm, prk, sizeof(prk));
	for (uint8_t n = 1; done < out_len; n++) {
		size_t take;

		memcpy(t + tlen, info, info_len);
		t[tlen + info_len] = n;
		hmac1_mac(&hm, t, tlen + info_len + 1, t);
		tlen = 20;
		take = out_len - done < 20 ? out_len - done : 20;
		memcpy(out + done, t, take);
		done += take;
	}
	explicit_bzero(prk, sizeof(prk));
	explicit_bzero(t, sizeof(t));
	explicit_bzero(&hm, sizeof(hm));
	return 0;
}

int hkdf_sha1(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
	      const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	struct hkdf_sha1_salt hs;
	int ret;

	if (salt_len > HKDF_SHA1_MAX_KEY)
		return -EINVAL;
	hkdf_sha1_salt_init(&hs, salt, salt_len);
	ret = hkdf_sha1_salted(&hs, ikm, ikm_len, info, info_len, out, out_len);
	explicit_bzero(&hs, sizeof(hs));
	return ret;
}
