/* SPDX-License-Identifier: MIT */
/* Helpers shared by ss2022.c and ss2022_udp.c; not part of the module's API. */
#ifndef SSRING_SS2022_INT_H
#define SSRING_SS2022_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/ss2022.h"

/* memset that the compiler may not drop as a dead store. */
static inline void ss2022_wipe(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

static inline void ss2022_put_be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ss2022_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline size_t ss2022_get_be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

static inline uint64_t ss2022_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* |now - ts| <= 30 s; RUST rejects only when the difference is larger. */
static inline bool ss2022_is_fresh(uint64_t ts, uint64_t now)
{
	uint64_t d = ts > now ? ts - now : now - ts;

	return d <= SS2022_TIME_WINDOW_S;
}

/* Chunk-AEAD context keyed by session_subkey(psk, salt), nonce 0. */
int ss2022_ctx_init(struct aead_ctx *c, const struct ss2022_method *m, const uint8_t *psk,
		    const uint8_t *salt, size_t salt_len);

#endif
