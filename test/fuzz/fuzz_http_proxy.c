/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the HTTP proxy codecs. Input: 2 bytes of rewrite buffer size,
 * 1 byte of body split point, then the bytes a client sent. Checks beyond
 * "no crash": a head's prefixes are all -EAGAIN, the rewrite never writes
 * past the (exactly sized, heap-allocated) buffer and fits when the buffer
 * is big enough, and the body framer gives the same answer whether fed in
 * one piece or two. The chunked framer also runs on the raw input so it is
 * exercised when the head does not parse. The server-side parse (origin-form,
 * for ssring's own HTTP listeners) runs on the same input: its target lies
 * inside the head and starts with '/', its prefixes are -EAGAIN, and header
 * lookups stay inside the head.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_proxy.h"

static void check_rewrite(const uint8_t *d, const struct http_request *r, size_t want_cap)
{
	/* Output is at most the head with ": " and CR added per line, plus our lines. */
	size_t big = 2 * r->head_len + 512;
	uint8_t *out = malloc(want_cap ? want_cap : 1);
	uint8_t *full = malloc(big);
	int n, m;

	if (!out || !full)
		abort();
	n = http_rewrite_request(d, r, out, want_cap);
	m = http_rewrite_request(d, r, full, big);
	if (m <= 0 || (size_t)m > big)
		abort();
	if (n != -ENOSPC && (n != m || memcmp(out, full, (size_t)m) != 0))
		abort();
	if ((n == -ENOSPC) != ((size_t)m > want_cap))
		abort();
	free(out);
	free(full);
}

/* Run the framer over body in one piece and split at k; both must agree. */
static void check_body(const struct http_request *r, const uint8_t *body, size_t n, size_t k)
{
	struct http_body b1, b2;
	size_t u1 = 0, u2 = 0, u3 = 0;
	int res1, res2;

	http_body_init(&b1, r);
	res1 = http_body_feed(&b1, body, n, &u1);
	if (u1 > n)
		abort();
	if (k > n)
		k = n;
	http_body_init(&b2, r);
	res2 = http_body_feed(&b2, body, k, &u2);
	if (res2 == 0) {
		res2 = http_body_feed(&b2, body + k, n - k, &u3);
		u2 += u3;
	}
	if (res1 != res2 || (res1 == 1 && u1 != u2))
		abort();
}

static void check_server(const uint8_t *data, size_t size)
{
	struct http_request r;
	const uint8_t *v;
	size_t vlen;
	int head = http_parse_server_request(data, size, &r);

	if (head <= 0)
		return;
	if ((size_t)head > size || r.path_len == 0 || r.path_off + r.path_len > (size_t)head ||
	    data[r.path_off] != '/' || r.is_connect)
		abort();
	for (size_t i = 0; i < (size_t)head && head <= 2048; i++)
		if (http_parse_server_request(data, i, &r) != -EAGAIN)
			abort();
	http_parse_server_request(data, size, &r);
	if (http_header_value(data, &r, "authorization", &v, &vlen) &&
	    (v < data || v + vlen > data + head))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request r, chunked = { .chunked = true, .content_length = -1 };
	size_t cap, split;
	int head;

	if (size < 3)
		return 0;
	cap = (size_t)(data[0] << 8 | data[1]);
	split = data[2];
	data += 3;
	size -= 3;

	check_body(&chunked, data, size, split);
	check_server(data, size);
	head = http_parse_request(data, size, &r);
	if (head <= 0)
		return 0;
	if ((size_t)head > size || (size_t)head > HTTP_HEAD_MAX || r.nheaders > HTTP_HEADERS_MAX)
		abort();
	for (size_t i = 0; i < (size_t)head && head <= 2048; i++)
		if (http_parse_request(data, i, &r) != -EAGAIN)
			abort();
	http_parse_request(data, size, &r);
	if (!r.is_connect)
		check_rewrite(data, &r, cap);
	check_body(&r, data + head, size - (size_t)head, split);
	return 0;
}
