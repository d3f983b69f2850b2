/* SPDX-License-Identifier: MIT */
/*
 * aead-bench — the stream codec alone, one core, no I/O: how fast 256 KiB
 * receives are sealed into chunks and opened again, per method and chunk
 * size, next to wolfCrypt's raw one-shot AEAD on the same bytes. It answers
 * "where does the time go besides the cipher" (per-chunk set-up, the 2-byte
 * length seal) without the noise of a loopback benchmark.
 *
 *   build/tools/aead-bench [SECONDS]      (default 1 s per row)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include "proto/aead.h"

#define RECV (256 * 1024)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t in[RECV], wire[RECV + 64 * 1024], back[AEAD_CHUNK_MAX + 64];

/* Seal RECV bytes as chunks of at most max, then open them all: MB/s of payload. */
static double stream(const struct aead_method *m, size_t max, double secs)
{
	uint8_t key[32] = { 1 }, salt[32] = { 2 };
	struct aead_ctx w;
	struct aead_reader r;
	double t0 = now(), t;
	long n = 0;

	aead_ctx_init(&w, m, key, salt);
	aead_reader_init(&r, m, key);
	/* The reader wants the salt first. */
	{
		size_t used;
		uint8_t *plain;
		size_t plen;

		memcpy(wire, salt, m->salt_len);
		aead_reader_step(&r, wire, m->salt_len, &used, &plain, &plen);
	}
	do {
		size_t len = aead_seal_chunks_max(&w, wire, in, RECV, max), pos = 0;

		while (pos < len) {
			size_t used = 0, plen = 0;

			if (aead_reader_step_out(&r, wire + pos, len - pos, &used, back, &plen) <= 0)
				abort();
			pos += used;
		}
		n++;
		t = now() - t0;
	} while (t < secs);
	aead_ctx_wipe(&w);
	return (double)n * RECV / t / 1e6;
}

/* wolfCrypt's one-shot seal and open of whole 16 KiB messages: the ceiling. */
static double raw(const struct aead_method *m, double secs)
{
	uint8_t key[32] = { 3 }, nonce[12] = { 0 }, tag[16];
	const size_t sz = 16384;
	double t0 = now(), t;
	long n = 0;
	Aes aes;

	if (m->kind != AEAD_CHACHA20_POLY1305) {
		wc_AesInit(&aes, NULL, INVALID_DEVID);
		wc_AesGcmSetKey(&aes, key, m->key_len);
	}
	do {
		for (int i = 0; i < 16; i++, n++) {
			if (m->kind == AEAD_CHACHA20_POLY1305) {
				wc_ChaCha20Poly1305_Encrypt(key, nonce, NULL, 0, in, sz, wire, tag);
				wc_ChaCha20Poly1305_Decrypt(key, nonce, NULL, 0, wire, sz, tag, back);
			} else {
				wc_AesGcmEncrypt(&aes, wire, in, sz, nonce, 12, tag, 16, NULL, 0);
				wc_AesGcmDecrypt(&aes, back, wire, sz, nonce, 12, tag, 16, NULL, 0);
			}
		}
		t = now() - t0;
	} while (t < secs);
	if (m->kind != AEAD_CHACHA20_POLY1305)
		wc_AesFree(&aes);
	return (double)n * sz / t / 1e6;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "aes-128-gcm", "aes-256-gcm",
					     "chacha20-ietf-poly1305" };
	double secs = argc > 1 ? atof(argv[1]) : 1.0;

	memset(in, 0x5a, sizeof(in));
	printf("seal + open, MB/s of payload (one core): 256 KiB receives in chunks of at most\n"
	       "0x3FFF (the protocol's limit) or 0x3F00 (what ssring sends), and wolfCrypt's\n"
	       "one-shot AEAD on whole 16 KiB messages\n\n");
	printf("%-24s %10s %10s %10s\n", "method", "0x3FFF", "0x3F00", "one-shot");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct aead_method *m = aead_method_find(names[i]);

		if (!m)
			continue;
		printf("%-24s %10.0f %10.0f %10.0f\n", names[i], stream(m, AEAD_CHUNK_MAX, secs),
		       stream(m, AEAD_CHUNK_PREF, secs), raw(m, secs));
	}
	return 0;
}
