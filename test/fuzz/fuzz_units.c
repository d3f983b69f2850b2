/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for units_parse_bytes. Besides "no crash" (every read
 * stays inside the input, which is copied to a buffer of exactly its size),
 * it checks what a success promises: a value below 2^63; the same text
 * parses the same way again; a rate text without "/s" parses as a byte
 * count; a plain integer text gives its own value.
 */
#include "proto/units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	uint64_t v = 0, w = 0;
	int r, r2;
	bool rate;

	if (size < 1 || size > 256)
		return 0;
	rate = data[0] & 1;
	s = malloc(size - 1 ? size - 1 : 1);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	r = units_parse_bytes(s, size - 1, rate, &v);
	if (r != 0 && r != -EINVAL && r != -ERANGE)
		abort();
	if (r == 0) {
		bool digits_only = size > 1;

		if (v >= (uint64_t)1 << 63)
			abort();
		r2 = units_parse_bytes(s, size - 1, rate, &w);
		if (r2 != 0 || w != v)
			abort();
		if (!rate && units_parse_bytes(s, size - 1, true, &w) != 0)
			abort(); /* a byte count is also a rate */
		for (size_t i = 0; i < size - 1; i++)
			digits_only &= s[i] >= '0' && s[i] <= '9';
		if (digits_only && size - 1 <= 18) {
			uint64_t x = 0;

			for (size_t i = 0; i < size - 1; i++)
				x = x * 10 + (uint64_t)(s[i] - '0');
			if (x != v)
				abort();
		}
	}
	free(s);
	return 0;
}
