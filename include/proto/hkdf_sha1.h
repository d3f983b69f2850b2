/* SPDX-License-Identifier: MIT */
/*
 * hkdf_sha1 — HKDF-SHA1 (RFC 5869) for the AEAD-2017 subkeys, built for
 * short inputs: every HMAC message fits one SHA-1 block, so a derivation is
 * 8 to 10 block compressions and nothing else. The compression uses the x86
 * SHA extensions when the CPU has them, portable C otherwise.
 *
 * Why not wolfCrypt's wc_HKDF: each AEAD-2017 UDP packet carries its own
 * salt, so a subkey is derived per packet, and wc_HKDF (portable SHA-1, full
 * HMAC objects) took about 3 us per call here — a fifth of a UDP tunnel's
 * CPU. test_hkdf and fuzz_hkdf compare this code with wc_HKDF.
 */
#ifndef SSRING_HKDF_SHA1_H
#define SSRING_HKDF_SHA1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HKDF_SHA1_MAX_KEY 64   /* salt bytes (HMAC key of the extract step) */
#define HKDF_SHA1_MAX_IKM 55   /* input key material */
#define HKDF_SHA1_MAX_INFO 34  /* T(n-1) | info | n must fit one block */
#define HKDF_SHA1_MAX_OUT 255  /* bytes of output key material */

/*
 * out = HKDF-SHA1(salt, ikm, info)[0 .. out_len). An empty salt means 20
 * zero bytes (RFC 5869 §2.2). Returns 0, or -EINVAL when an input is longer
 * than the limits above (use a general implementation for those).
 */
int hkdf_sha1(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
	      const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);

/*
 * The same in two steps, for many derivations under one salt (trying every
 * user's key on one request): the salt's HMAC pad blocks are compressed
 * once by hkdf_sha1_salt_init, and each hkdf_sha1_salted costs two block
 * compressions fewer. salt_len <= HKDF_SHA1_MAX_KEY.
 */
struct hkdf_sha1_salt {
	uint32_t in[5];
	uint32_t out[5];
};
void hkdf_sha1_salt_init(struct hkdf_sha1_salt *hs, const uint8_t *salt, size_t salt_len);
int hkdf_sha1_salted(const struct hkdf_sha1_salt *hs, const uint8_t *ikm, size_t ikm_len,
		     const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);

/* One SHA-1 block compression on h[5]; the CPU's SHA extensions if present. */
void sha1_compress(uint32_t h[5], const uint8_t block[64]);
/* The portable compression (for tests: both must agree). */
void sha1_compress_portable(uint32_t h[5], const uint8_t block[64]);
/* Whether sha1_compress uses the SHA extensions; force_portable turns them off. */
bool sha1_has_shani(void);
void sha1_force_portable(bool on);

#endif
