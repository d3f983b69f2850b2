/* SPDX-License-Identifier: MIT */
/*
 * sources — per-source connection counts (relay/sources.h).
 */
#include "relay/sources.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <netinet/in.h>

#include "proto/aead.h"

/*
 * The slots are chosen by a keyed hash (SipHash-2-4) under a key drawn at
 * start: with a fixed, public hash anyone can compute offline which of
 * their addresses share both slots with a victim's, and the holder of an
 * IPv6 /48 (65,536 /64 sources) could pick those to hold the victim at its
 * limit. Keyed, which addresses collide is unknown outside the process.
 * Written once before the workers start, read-only after.
 */
static uint64_t key[2] = { 0x736f6d6570736575ull, 0x646f72616e646f6dull };
static bool keyed;

static _Atomic uint32_t hs_ctr[2][SOURCES_SLOTS];
static _Atomic uint32_t sess_ctr[2][SOURCES_SLOTS];

static uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static void sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13) ^ v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17) ^ v[2];
	v[2] = rotl(v[2], 32);
}

/* SipHash-2-4 of the two words m[0], m[1] (a 16-byte message). */
static uint64_t siphash16(const uint64_t m[2])
{
	uint64_t v[4] = { key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
			  key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull };
	const uint64_t last = (uint64_t)16 << 56;

	for (int i = 0; i < 2; i++) {
		v[3] ^= m[i];
		sipround(v);
		sipround(v);
		v[0] ^= m[i];
	}
	v[3] ^= last;
	sipround(v);
	sipround(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

void sources_set_key(const uint8_t k[16])
{
	memcpy(key, k, 16);
}

int sources_seed(void)
{
	uint8_t k[16];

	if (keyed)
		return 0;
	if (aead_random(k, sizeof(k)))
		return -EIO;
	sources_set_key(k);
	memset(k, 0, sizeof(k));
	keyed = true;
	return 0;
}

/* The source's two slots; false for what is not IP. */
static bool slots(const struct sockaddr *peer, uint16_t idx[2])
{
	uint64_t m[2] = { 0, 0 }, h;

	if (peer->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;

		if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
			/* An IPv6 client owns its /64. */
			m[0] = 6;
			memcpy(&m[1], a, 8);
		} else {
			/* An IPv4-mapped one is its IPv4 client. */
			m[0] = 4;
			memcpy(&m[1], a + 12, 4);
		}
	} else if (peer->sa_family == AF_INET) {
		m[0] = 4;
		memcpy(&m[1], &((const struct sockaddr_in *)peer)->sin_addr, 4);
	} else {
		return false;
	}
	/* One PRF output is two independent slot numbers. */
	h = siphash16(m);
	idx[0] = (uint16_t)(h % SOURCES_SLOTS);
	idx[1] = (uint16_t)((h >> 32) % SOURCES_SLOTS);
	return true;
}

static uint32_t lower(_Atomic uint32_t c[2][SOURCES_SLOTS], const uint16_t idx[2])
{
	uint32_t a = atomic_load_explicit(&c[0][idx[0]], memory_order_relaxed);
	uint32_t b = atomic_load_explicit(&c[1][idx[1]], memory_order_relaxed);

	return a < b ? a : b;
}

static void add(_Atomic uint32_t c[2][SOURCES_SLOTS], const uint16_t idx[2], int32_t d)
{
	for (int k = 0; k < 2; k++)
		atomic_fetch_add_explicit(&c[k][idx[k]], (uint32_t)d, memory_order_relaxed);
}

enum source_verdict sources_admit(const struct sockaddr *peer, uint32_t max_handshakes,
				  uint32_t max_sessions, struct source_ticket *t)
{
	memset(t, 0, sizeof(*t));
	if ((!max_handshakes && !max_sessions) || !slots(peer, t->idx))
		return SOURCE_OK;
	/*
	 * Check, then count: two workers admitting the same source at the same
	 * moment may both pass, which overshoots a limit by at most the number
	 * of workers; it never refuses below it.
	 */
	if (max_handshakes && lower(hs_ctr, t->idx) >= max_handshakes)
		return SOURCE_TOO_MANY_HANDSHAKES;
	if (max_sessions && lower(sess_ctr, t->idx) >= max_sessions)
		return SOURCE_TOO_MANY_SESSIONS;
	add(hs_ctr, t->idx, 1);
	add(sess_ctr, t->idx, 1);
	t->hs = t->sess = 1;
	return SOURCE_OK;
}

void sources_handshake_done(struct source_ticket *t)
{
	if (t->hs) {
		add(hs_ctr, t->idx, -1);
		t->hs = 0;
	}
}

void sources_end(struct source_ticket *t)
{
	sources_handshake_done(t);
	if (t->sess) {
		add(sess_ctr, t->idx, -1);
		t->sess = 0;
	}
}

void sources_peek(const struct sockaddr *peer, uint32_t *handshakes, uint32_t *sessions)
{
	uint16_t idx[2];

	*handshakes = *sessions = 0;
	if (!slots(peer, idx))
		return;
	*handshakes = lower(hs_ctr, idx);
	*sessions = lower(sess_ctr, idx);
}
