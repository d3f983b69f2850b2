/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the SOCKS5 parsers, one picked by the first byte. Besides "no
 * crash", it checks what each success promises: the consumed length is
 * within the input, every shorter prefix is -EAGAIN (stream parsers), and
 * re-encoding the address gives back the bytes parsed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks5.h"

static void check_prefixes(int (*parse)(const uint8_t *, size_t, void *), const uint8_t *d,
			   int n, void *out)
{
	for (int i = 0; i < n; i++)
		if (parse(d, (size_t)i, out) != -EAGAIN)
			abort();
}

static int parse_greeting(const uint8_t *d, size_t n, void *out)
{
	return socks5_parse_greeting(d, n, out);
}

static int parse_auth(const uint8_t *d, size_t n, void *out)
{
	return socks5_parse_auth(d, n, out);
}

static int parse_request(const uint8_t *d, size_t n, void *out)
{
	return socks5_parse_request(d, n, out);
}

static void fuzz_greeting(const uint8_t *d, size_t n)
{
	struct socks5_greeting g;
	int res = socks5_parse_greeting(d, n, &g);

	if (res > 0) {
		if ((size_t)res > n || res != 2 + d[1])
			abort();
		check_prefixes(parse_greeting, d, res, &g);
		socks5_parse_greeting(d, n, &g);
		if (socks5_choose_method(&g, true) == SOCKS5_METHOD_NOAUTH)
			abort();
	}
}

static void fuzz_auth(const uint8_t *d, size_t n)
{
	struct socks5_auth a;
	int res = socks5_parse_auth(d, n, &a);
	char user[256], pass[256];

	if (res <= 0)
		return;
	if ((size_t)res > n)
		abort();
	check_prefixes(parse_auth, d, res, &a);
	socks5_parse_auth(d, n, &a);
	/* The check agrees with a plain comparison. */
	memcpy(user, a.user, a.user_len + 1u);
	memcpy(pass, a.pass, a.pass_len + 1u);
	if (socks5_auth_check(&a, user, pass) !=
	    (strlen(user) == a.user_len && strlen(pass) == a.pass_len))
		abort();
	if (a.pass_len > 1 && socks5_auth_check(&a, user, pass + 1))
		abort();
}

static void fuzz_request(const uint8_t *d, size_t n)
{
	struct socks5_request r;
	uint8_t enc[SSADDR_MAX_BYTES];
	int res = socks5_parse_request(d, n, &r);

	if (res <= 0)
		return;
	if ((size_t)res > n || ssaddr_encode(&r.dst, enc) != (size_t)res - 3 ||
	    memcmp(enc, d + 3, (size_t)res - 3) != 0)
		abort();
	check_prefixes(parse_request, d, res, &r);
}

static void fuzz_udp(const uint8_t *d, size_t n)
{
	struct socks5_udp u;
	uint8_t out[SOCKS5_UDP_HEADER_MAX_BYTES];
	int res = socks5_parse_udp(d, n, &u);

	if (res <= 0)
		return;
	if ((size_t)res > n || socks5_build_udp_header(out, &u.dst) != (size_t)res ||
	    memcmp(out + 3, d + 3, (size_t)res - 3) != 0)
		abort();
	for (int i = 0; i < res; i++)
		if (socks5_parse_udp(d, (size_t)i, &u) >= 0)
			abort();
}

static void fuzz_reply(const uint8_t *d, size_t n)
{
	struct sockaddr_storage ss;
	uint8_t out[SOCKS5_REPLY_MAX_BYTES];
	size_t k = n < sizeof(ss) ? n : sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, d, k);
	if (socks5_build_reply(out, d[0], (struct sockaddr *)&ss) > sizeof(out))
		abort();
	socks5_rep_from_errno(n > 1 ? -(int)d[1] : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_greeting(data + 1, size - 1);
		break;
	case 1:
		fuzz_auth(data + 1, size - 1);
		break;
	case 2:
		fuzz_request(data + 1, size - 1);
		break;
	case 3:
		fuzz_udp(data + 1, size - 1);
		break;
	default:
		if (size > 1)
			fuzz_reply(data + 1, size - 1);
		break;
	}
	return 0;
}
