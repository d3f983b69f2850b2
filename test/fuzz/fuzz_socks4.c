/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the SOCKS4/4a request parser. Besides "no crash", it checks
 * what a success promises: the length is within the input and is where the
 * last NUL the request needs lies, every proper prefix is -EAGAIN, the user
 * id and a 4a name are the bytes between their NULs, and a name is never
 * empty or past its bound. A failure other than -EAGAIN is the same for
 * every longer input (the parser decides on bytes it has seen).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks4.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct socks4_request r;
	int res = socks4_parse_request(d, n, &r);
	uint8_t out[SOCKS4_REPLY_BYTES];

	if (res == -EAGAIN)
		return 0;
	if (res < 0) {
		for (size_t i = 1; i < n; i++) {
			int p = socks4_parse_request(d, i, &r);

			if (p != -EAGAIN && p != res)
				abort();
		}
		return 0;
	}
	if ((size_t)res > n || (size_t)res > SOCKS4_REQUEST_MAX || d[res - 1] != 0)
		abort();
	/* A success has VN 4, so every shorter prefix waits for more. */
	for (int i = 0; i < res; i++)
		if (socks4_parse_request(d, (size_t)i, &r) != -EAGAIN)
			abort();
	socks4_parse_request(d, n, &r);
	if (r.user_len > SOCKS4_USERID_MAX || memcmp(r.user, d + SOCKS4_HEAD_BYTES, r.user_len) ||
	    d[SOCKS4_HEAD_BYTES + r.user_len] != 0 || strlen(r.user) != r.user_len)
		abort();
	if (r.is_4a) {
		size_t off = SOCKS4_HEAD_BYTES + r.user_len + 1u;

		if (r.dst.atyp != SSADDR_ATYP_DOMAIN || !r.dst.u.domain.len ||
		    off + r.dst.u.domain.len + 1u != (size_t)res ||
		    memcmp(r.dst.u.domain.name, d + off, r.dst.u.domain.len) ||
		    strlen(r.dst.u.domain.name) != r.dst.u.domain.len)
			abort();
	} else if (r.dst.atyp != SSADDR_ATYP_IPV4 || memcmp(r.dst.u.ipv4, d + 4, 4) ||
		   (size_t)res != SOCKS4_HEAD_BYTES + r.user_len + 1u) {
		abort();
	}
	if (socks4_build_reply(out, d[1]) != sizeof(out) || out[0] || out[1] != d[1])
		abort();
	return 0;
}
