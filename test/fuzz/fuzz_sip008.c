/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the SIP008 document codec: no crash or leak on any
 * input (copied to a buffer of exactly its size); a success has at least
 * one usable server, NUL-terminated fields of in-range lengths and a
 * non-zero port; a failure says why and leaves nothing allocated.
 */
#include "proto/sip008.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip008_doc d;
	char err[256];
	char *s = malloc(size ? size : 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	if (sip008_parse(s, size, &d, err, sizeof(err)) == 0) {
		if (!d.n_usable || d.n_usable > d.n || !sip008_first(&d))
			abort();
		for (size_t i = 0; i < d.n; i++)
			if (!d.s[i].port || !d.s[i].host[0] || !d.s[i].method[0] ||
			    !d.s[i].password[0] || strlen(d.s[i].plugin) >= sizeof(d.s[i].plugin))
				abort();
		sip008_free(&d);
	} else if (!err[0] || d.s || d.n) {
		abort();
	}
	free(s);
	return 0;
}
