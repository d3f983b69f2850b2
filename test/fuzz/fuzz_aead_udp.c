/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the AEAD-2017 UDP packet codec.
 *
 * Input: byte 0 picks the method (low 6 bits) and the mode (0x80); the rest is
 * - raw mode: a received packet, opened into a separate buffer and in place,
 *   both from a buffer of exactly the packet's size; or
 * - sealed mode: plaintext, sealed with a salt taken from its first bytes and
 *   opened again (must round-trip), then with one bit flipped (must fail).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/aead.h"

static const uint8_t master[AEAD_MAX_KEY_BYTES] = {
	0x75, 0x64, 0x70, 0x20, 0x6d, 0x61, 0x73, 0x74,
	0x65, 0x72, 0x20, 0x6b, 0x65, 0x79, 0x2c, 0x20,
	0x66, 0x69, 0x78, 0x65, 0x64, 0x20, 0x66, 0x6f,
	0x72, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e,
};

static void run_raw(const struct aead_method *m, const uint8_t *data, size_t len)
{
	uint8_t *pkt = malloc(len ? len : 1), *out = malloc(len ? len : 1);
	size_t min = (size_t)m->salt_len + AEAD_TAG_BYTES;
	int a, b;

	if (!pkt || !out)
		abort();
	memcpy(pkt, data, len);
	a = aead_udp_open(m, master, out, pkt, len);
	b = aead_udp_open(m, master, pkt + (len >= m->salt_len ? m->salt_len : 0), pkt, len);
	if (len < min && (a != -EINVAL || b != -EINVAL))
		abort();
	if (len >= min && (a != b || (a < 0 && a != -EBADMSG) ||
			   (a >= 0 && (size_t)a != len - min)))
		abort();
	free(pkt);
	free(out);
}

static void run_sealed(const struct aead_method *m, const uint8_t *data, size_t len)
{
	size_t sl = m->salt_len, pkt_len;
	uint8_t *pkt, *out;
	size_t bit;

	if (len < sl)
		return;
	pkt_len = len + AEAD_TAG_BYTES; /* salt | plaintext (len - sl) | tag */
	pkt = malloc(pkt_len);
	out = malloc(len - sl + 1);
	if (!pkt || !out)
		abort();
	if (aead_udp_seal_salt(m, master, data, pkt, data + sl, len - sl) != (int)pkt_len)
		abort();
	if (memcmp(pkt, data, sl) != 0)
		abort();
	if (aead_udp_open(m, master, out, pkt, pkt_len) != (int)(len - sl) ||
	    memcmp(out, data + sl, len - sl) != 0)
		abort();
	bit = (data[0] * 131u + len) % (8 * pkt_len);
	pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	if (aead_udp_open(m, master, out, pkt, pkt_len) != -EBADMSG)
		abort();
	free(pkt);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct aead_method *m;

	if (size < 1 || size > 70000)
		return 0;
	m = aead_method_find(aead_method_get((data[0] & 0x3f) % AEAD_KIND_COUNT)->name);
	if (!m)
		return 0;
	if (data[0] & 0x80)
		run_sealed(m, data + 1, size - 1);
	else
		run_raw(m, data + 1, size - 1);
	return 0;
}
