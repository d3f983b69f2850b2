/* SPDX-License-Identifier: MIT */
/* libFuzzer: the address header parser, with encode round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ssaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ssaddr a;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t enc[SSADDR_MAX_BYTES];
	char buf[300];
	int n = ssaddr_parse(data, size, &a);

	if (n > 0) {
		if ((size_t)n > size || ssaddr_encode(&a, enc) != (size_t)n ||
		    memcmp(enc, data, (size_t)n) != 0)
			abort();
		ssaddr_format(&a, buf, sizeof(buf));
		if (ssaddr_to_sockaddr(&a, &ss, &sl) == 0)
			ssaddr_is_special((struct sockaddr *)&ss);
	}
	return 0;
}
