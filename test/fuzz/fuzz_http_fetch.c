/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for proto/http_fetch. Byte 0 picks the codec: URL (https
 * and http, and the GET an http URL makes, in a buffer of a size the rest
 * of byte 0 picks) or response. Inputs are copied to buffers of exactly their size. A parsed
 * URL has a host, a port and a path starting with '/'; a response that
 * parses without eof parses the same with eof; a body never exceeds its
 * buffer; the response fed to one state in pieces (their sizes drawn from
 * the rest of byte 0, one byte each when it is 0) gives exactly what it
 * gives whole — result, status, body, reason — and the parser looks at no
 * more than four bytes for each one given (linear, whatever the cuts).
 */
#include "proto/http_fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint8_t body[8192], body2[8192];

/* buf fed to one state in pieces whose sizes come from seed; its result. */
static int feed_split(const uint8_t *buf, size_t len, bool eof, unsigned seed, int *status,
		      size_t *blen, const char **why)
{
	struct http_response_state st;
	uint32_t x = seed * 2654435761u + 1;
	size_t k = 0;
	int r = -EAGAIN;

	http_response_init(&st);
	while (r == -EAGAIN && k < len) {
		x = x * 1103515245u + 12345u;
		k += seed ? 1 + (x >> 16) % 64 : 1;
		if (k > len)
			k = len;
		r = http_response_feed(&st, buf, k, eof && k == len, status, body2, sizeof(body2),
				       blen, why);
	}
	if (r == -EAGAIN && !len)
		r = http_response_feed(&st, buf, 0, eof, status, body2, sizeof(body2), blen, why);
	/* each byte once, a line end up to three times while it cannot be told
	 * whether it ends the head, and the head once more for its fields */
	if (st.steps > 4 * len + 8)
		abort();
	return r;
}

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
	/* in pieces, without and with eof at the end: the same as whole */
	for (int eof = 0; eof < 2; eof++) {
		const char *why1 = NULL, *why2 = NULL;

		status = status2 = 0;
		r = http_response_parse(buf, size - 1, eof, &status, body, sizeof(body), &blen,
					&why1);
		r2 = feed_split(buf, size - 1, eof, data[0] >> 1, &status2, &blen2, &why2);
		if (r2 != r || (r == 0 && (status2 != status || blen2 != blen ||
					   memcmp(body, body2, blen))) ||
		    (r == -EINVAL && strcmp(why1, why2)))
			abort();
	}
	free(buf);
	return 0;
}
