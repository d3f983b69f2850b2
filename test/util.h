/* SPDX-License-Identifier: MIT */
/*
 * util — what unit tests and fuzz targets share: hex text to bytes, a
 * reproducible pseudo-random sequence, and the carry model (how a relay
 * feeds a record reader what it receives). Static inline, and without
 * check.h: a fuzz target reports a broken invariant by crashing, so these
 * helpers abort() where a test's CHECK would exit 1; either fails a test.
 */
#ifndef SSRING_TEST_UTIL_H
#define SSRING_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UTIL_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* Hex text (whole bytes, at most cap of them) to bytes; returns how many. */
static inline size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h) / 2;

	UTIL_CHECK(strlen(h) % 2 == 0 && n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		UTIL_CHECK(sscanf(h + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

/*
 * xorshift32 (13, 17, 5): split points, sizes and payloads drawn from a
 * seed, so that a failure happens again on the next run. *s is never 0.
 */
static inline uint32_t xorshift32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A test's own sequence; one that starts elsewhere defines UTIL_RND_SEED first. */
#ifndef UTIL_RND_SEED
#define UTIL_RND_SEED 0x12345678u
#endif
__attribute__((unused)) static uint32_t rnd_state = UTIL_RND_SEED;

static inline uint32_t rnd(void)
{
	return xorshift32(&rnd_state);
}

/*
 * The carry model: a relay shows a record reader each received segment
 * where it lies (decryption is in place) and copies only a record split
 * across segments into a carry buffer, until the reader's need() is there.
 * step() is the relay's: the reader's step and whatever it does with the
 * result, which is < 0 (an error: the feed ends), 0 (the readers'
 * NEED_MORE: the view is shorter than need(), nothing used) or > 0 (*used
 * bytes taken).
 */
struct carry {
	uint8_t *buf;           /* room for the largest record the reader asks for */
	size_t cap;
	size_t len;             /* bytes of a partial record held */
	size_t (*need)(void *arg);
	int (*step)(void *arg, uint8_t *buf, size_t len, size_t *used);
	void *arg;
};

/* One received segment: finish the carried record, decode in place, carry the tail. 0 or < 0. */
static inline int carry_feed(struct carry *c, uint8_t *seg, size_t len)
{
	while (len > 0) {
		size_t need = c->need(c->arg), used;
		int res;

		if (c->len > 0) {
			size_t take = need - c->len < len ? need - c->len : len;

			memcpy(c->buf + c->len, seg, take);
			c->len += take;
			seg += take;
			len -= take;
			if (c->len < need)
				return 0;
			res = c->step(c->arg, c->buf, c->len, &used);
			if (res < 0)
				return res;
			UTIL_CHECK(res != 0 && used == c->len);
			c->len = 0;
			continue;
		}
		res = c->step(c->arg, seg, len, &used);
		if (res < 0)
			return res;
		if (res == 0) {
			UTIL_CHECK(used == 0 && len < need && len <= c->cap);
			memcpy(c->buf, seg, len);
			c->len = len;
			return 0;
		}
		seg += used;
		len -= used;
	}
	return 0;
}

/*
 * Whether s (n bytes) is what proto/logfmt.h promises inside a JSON string:
 * no byte below 0x20, no DEL, no bare '"'; each '\' starts \" \\ \/ \b \f
 * \n \r \t or \u and four hex digits; the rest valid UTF-8 without U+2028
 * and U+2029. A strict reading of RFC 8259, checked byte by byte.
 */
static inline int util_json_string_ok(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];

		if (c < 0x20 || c == 0x7f || c == '"')
			return 0;
		if (c == '\\') {
			if (i + 1 >= n)
				return 0;
			if (u[i + 1] != 'u') {
				if (!strchr("\"\\/bfnrt", u[i + 1]) || !u[i + 1])
					return 0;
				i += 2;
				continue;
			}
			if (i + 6 > n)
				return 0;
			for (size_t k = 2; k < 6; k++)
				if (!strchr("0123456789abcdefABCDEF", u[i + k]) || !u[i + k])
					return 0;
			i += 6;
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		{
			size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
				   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
			uint32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;

			if (!len || i + len > n)
				return 0;
			for (size_t k = 1; k < len; k++) {
				if ((u[i + k] & 0xc0) != 0x80)
					return 0;
				cp = cp << 6 | (u[i + k] & 0x3f);
			}
			if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
			    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0x2028 ||
			    cp == 0x2029)
				return 0;
			i += len;
		}
	}
	return 1;
}

#endif
