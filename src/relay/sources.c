/* SPDX-License-Identifier: MIT */
/*
 * sources — per-source connection counts (relay/sources.h).
 */
#include "relay/sources.h"

#include <stdatomic.h>
#include <string.h>
#include <netinet/in.h>

#include "relay/relay.h"

/* Two independent hashes: different seeds. */
static const uint64_t seeds[2] = { 0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full };

static _Atomic uint32_t hs_ctr[2][SOURCES_SLOTS];
static _Atomic uint32_t sess_ctr[2][SOURCES_SLOTS];

/* The source's two slots; false for what is not IP. */
static bool slots(const struct sockaddr *peer, uint16_t idx[2])
{
	struct sockaddr_in6 p64;
	const struct sockaddr *sa = peer;

	if (peer->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;

		/* An IPv6 client owns its /64; IPv4-mapped ones stay whole. */
		if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
			memset(&p64, 0, sizeof(p64));
			p64.sin6_family = AF_INET6;
			memcpy(p64.sin6_addr.s6_addr, a, 8);
			sa = (const struct sockaddr *)&p64;
		}
	} else if (peer->sa_family != AF_INET) {
		return false;
	}
	for (int k = 0; k < 2; k++) {
		/* FNV alone barely moves the middle bits for neighbouring
		 * addresses: finish with a full 64-bit mix (MurmurHash3's fmix64). */
		uint64_t h = relay_ip_hash(seeds[k], sa);

		h ^= h >> 33;
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
		h *= 0xc4ceb9fe1a85ec53ull;
		h ^= h >> 33;
		idx[k] = (uint16_t)(h % SOURCES_SLOTS);
	}
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
