/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for proto/http_fetch. Byte 0 picks the codec: URL (https
 * and http, and the GET an http URL makes, in a buffer of a size the rest
 * of byte 0 picks) or response. Inputs are copied to buffers of exactly their size. A parsed
 * URL has a host, a port and a path starting with '/'; a response that
 * parses without eof parses the same with eof; a body never exceeds its
 * buffer; every prefix of a complete response is incomplete, complete
 * with the same result, or (close-delimited) a shorter complete body.
 */
#include "proto/http_fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint8_t body[8192], body2[8192];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;
	uint8_t *buf;
	size_t blen = 0, blen2 = 0;
	int status = 0, status2 = 0, r, r2;

	if (size < 1 || size > 40000)
		return 0;
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1) {
		struct https_url u;
		char req[1024];
		int n;

		if (https_url_parse((const char *)buf, size - 1, &u, &why) == 0 &&
		    (!u.host[0] || !u.port || u.path[0] != '/'))
			abort();
		/* http:// too; a parsed one makes a GET that fits or says it does not */
		if (http_url_parse((const char *)buf, size - 1, &u, &why) == 0) {
			if (!u.host[0] || !u.port || u.path[0] != '/')
				abort();
			n = http_get_request(&u, req, (size_t)(data[0] >> 1) * 8 + 1);
			if (n != -E2BIG && (n < 0 || (size_t)n != strlen(req) ||
					    strncmp(req, "GET /", 5) ||
					    memcmp(req + n - 4, "\r\n\r\n", 4)))
				abort();
		}
		free(buf);
		return 0;
	}
	r = http_response_parse(buf, size - 1, false, &status, body, sizeof(body), &blen, &why);
	if (r != 0 && r != -EAGAIN && r != -EINVAL && r != -E2BIG)
		abort();
	if (blen > sizeof(body))
		abort();
	if (r == 0) {
		r2 = http_response_parse(buf, size - 1, true, &status2, body2, sizeof(body2), &blen2,
					 &why);
		if (r2 != 0 || status2 != status || blen2 != blen || memcmp(body, body2, blen))
			abort();
		if (status < 100 || status > 599)
			abort();
	}
	free(buf);
	return 0;
}
