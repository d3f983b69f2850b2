/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: hkdf_sha1 against wolfCrypt's wc_HKDF, with the SHA extensions
 * and with the portable compression. Input: three length bytes (salt, IKM,
 * info), one output length byte, then the bytes they take.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/kdf.h>
#include <wolfssl/wolfcrypt/sha.h>

#include "proto/hkdf_sha1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t a[256], b[256];
	size_t sl, il, nl, ol;
	int ra;

	if (size < 4)
		return 0;
	sl = data[0] % 80;
	il = data[1] % 70;
	nl = data[2] % 40;
	ol = data[3] ? data[3] : 1;
	data += 4;
	size -= 4;
	if (sl + il + nl > size)
		return 0;
	sha1_force_portable(size & 1);
	ra = hkdf_sha1(data, sl, data + sl, il, data + sl + il, nl, a, ol);
	if (sl > HKDF_SHA1_MAX_KEY || il > HKDF_SHA1_MAX_IKM || nl > HKDF_SHA1_MAX_INFO) {
		if (ra != -EINVAL)
			abort();
		return 0;
	}
	if (ra != 0 ||
	    wc_HKDF(WC_SHA, data + sl, (word32)il, sl ? data : NULL, (word32)sl, data + sl + il,
		    (word32)nl, b, (word32)ol) != 0 ||
	    memcmp(a, b, ol) != 0)
		abort();
	return 0;
}
