/* SPDX-License-Identifier: MIT */
/*
 * genkey — ssring genkey METHOD: a random key for a 2022 method (its PSK)
 * or for an AEAD-2017 method (a master key for `key = "..."`), in base64.
 */
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "proto/aead.h"
#include "proto/ss2022.h"

static void b64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* ssring genkey METHOD: a base64 key of the method's exact length. */
int cli_genkey(const char *name)
{
	const struct ss2022_method *m2 = ss2022_method_find(name);
	const struct aead_method *m = aead_method_find(name);
	char out[SS2022_KEY_B64_MAX + 1];
	uint8_t key[AEAD_MAX_KEY_BYTES];

	if (m2) {
		if (ss2022_genkey(m2, out, sizeof(out)) < 0)
			return 1;
		printf("%s\n", out);
		return 0;
	}
	if (!m) {
		fprintf(stderr, "ssring genkey: unknown method '%s'\n", name);
		return 2;
	}
	/* AEAD-2017: a random master key, for `key = "..."` instead of a password. */
	if (aead_random(key, m->key_len))
		return 1;
	b64(key, m->key_len, out);
	printf("%s\n", out);
	return 0;
}
