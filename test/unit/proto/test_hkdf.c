/* SPDX-License-Identifier: MIT */
/*
 * hkdf_sha1: RFC 5869 test cases 4, 5 and 7 (SHA-1), and agreement with
 * wolfCrypt's wc_HKDF for random inputs of every allowed size, with the SHA
 * extensions and with the portable compression.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/kdf.h>
#include <wolfssl/wolfcrypt/sha.h>

#include "check.h"
#include "proto/hkdf_sha1.h"
#include "util.h"

static void rfc_case(const char *ikm_h, const char *salt_h, const char *info_h, size_t len,
		     const char *okm_h)
{
	uint8_t ikm[80], salt[80], info[80], okm[82], got[82];
	size_t il = unhex(ikm_h, ikm, sizeof(ikm)), sl = unhex(salt_h, salt, sizeof(salt));
	size_t nl = unhex(info_h, info, sizeof(info));

	CHECK_EQ(unhex(okm_h, okm, sizeof(okm)), len);
	CHECK_EQ(hkdf_sha1(salt, sl, ikm, il, info, nl, got, len), 0);
	CHECK_MEM(got, okm, len);
}

static uint8_t rnd8(void)
{
	return (uint8_t)rnd();
}

static void against_wolfcrypt(void)
{
	uint8_t salt[64], ikm[55], info[34], a[255], b[255];

	for (int iter = 0; iter < 4000; iter++) {
		size_t sl = rnd8() % 65, il = rnd8() % 56, nl = rnd8() % 35;
		size_t ol = iter % 4 == 0 ? rnd8() % 256 : 16 + 8 * (rnd8() % 3);

		for (size_t i = 0; i < sizeof(salt); i++)
			salt[i] = rnd8();
		for (size_t i = 0; i < sizeof(ikm); i++)
			ikm[i] = rnd8();
		for (size_t i = 0; i < sizeof(info); i++)
			info[i] = rnd8();
		if (ol == 0)
			ol = 1;
		CHECK_EQ(hkdf_sha1(salt, sl, ikm, il, info, nl, a, ol), 0);
		CHECK_EQ(wc_HKDF(WC_SHA, ikm, (word32)il, sl ? salt : NULL, (word32)sl, info,
				 (word32)nl, b, (word32)ol),
			 0);
		CHECK_MEM(a, b, ol);
		/* The two-step form (one salt, many keys) gives the same bytes. */
		{
			struct hkdf_sha1_salt hs;

			hkdf_sha1_salt_init(&hs, salt, sl);
			memset(a, 0, sizeof(a));
			CHECK_EQ(hkdf_sha1_salted(&hs, ikm, il, info, nl, a, ol), 0);
			CHECK_MEM(a, b, ol);
		}
	}
}

static void compress_agrees(void)
{
	uint8_t blk[64];
	uint32_t h1[5], h2[5];

	for (int iter = 0; iter < 2000; iter++) {
		for (size_t i = 0; i < sizeof(blk); i++)
			blk[i] = rnd8();
		for (int i = 0; i < 5; i++)
			h1[i] = h2[i] = (uint32_t)rnd8() << 24 | (uint32_t)rnd8() << 16 |
					(uint32_t)rnd8() << 8 | rnd8();
		sha1_compress(h1, blk);
		sha1_compress_portable(h2, blk);
		CHECK_MEM(h1, h2, sizeof(h1));
	}
}

static void limits(void)
{
	uint8_t buf[300] = { 0 }, out[300];

	CHECK_EQ(hkdf_sha1(buf, 65, buf, 1, buf, 1, out, 16), -EINVAL);
	CHECK_EQ(hkdf_sha1(buf, 16, buf, 56, buf, 1, out, 16), -EINVAL);
	CHECK_EQ(hkdf_sha1(buf, 16, buf, 16, buf, 35, out, 16), -EINVAL);
	CHECK_EQ(hkdf_sha1(buf, 16, buf, 16, buf, 9, out, 256), -EINVAL);
}

static void all_cases(void)
{
	/* RFC 5869 A.4 */
	rfc_case("0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
		 "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f"
		 "896");
	/* A.6: empty salt and info */
	rfc_case("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
		 "0ac1af7002b3d761d1e55298da9d0506b9ae52057220a306e07b6b87e8df21d0ea00033de03984d34"
		 "918");
	/* A.7: no salt, IKM of 0x0c */
	rfc_case("0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "", "", 42,
		 "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acf"
		 "c48");
	compress_agrees();
	against_wolfcrypt();
	limits();
}

int main(void)
{
	printf("SHA extensions: %s\n", sha1_has_shani() ? "yes" : "no");
	all_cases();
	sha1_force_portable(true);
	all_cases();
	printf("test_hkdf: RFC 5869 cases, 2000 compressions, 4000 derivations against wc_HKDF, "
	       "limits: ok (SHA extensions and portable)\n");
	return 0;
}
