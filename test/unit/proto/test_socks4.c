/* SPDX-License-Identifier: MIT */
/*
 * SOCKS4/4a codec: CONNECT and BIND with and without a user id, 4a names
 * up to 255 bytes, every truncation (-EAGAIN), the bounds (-E2BIG), an empty
 * 4a name, a wrong version, the reply bytes.
 */
#include <errno.h>

#include "check.h"
#include "proto/socks4.h"

/* Every proper prefix of a complete request asks for more. */
static void check_prefixes(const uint8_t *req, size_t n)
{
	struct socks4_request r;

	for (size_t i = 0; i < n; i++)
		CHECK_EQ(socks4_parse_request(req, i, &r), i == 0 || req[0] == SOCKS4_VER
								   ? -EAGAIN : -EPROTO);
}

static void test_connect(void)
{
	const uint8_t req[] = { 4, 1, 0x1f, 0x90, 192, 0, 2, 7, 'b', 'o', 'b', 0, 0xee };
	const uint8_t empty[] = { 4, 1, 0, 80, 10, 1, 2, 3, 0 };
	const uint8_t bind[] = { 4, 2, 0, 21, 10, 1, 2, 3, 0 };
	struct socks4_request r;

	/* The byte after the NUL is the client's data, not the request's. */
	CHECK_EQ(socks4_parse_request(req, sizeof(req), &r), 12);
	CHECK_EQ(r.cmd, SOCKS4_CMD_CONNECT);
	CHECK(!r.is_4a);
	CHECK_EQ(r.user_len, 3);
	CHECK(!strcmp(r.user, "bob"));
	CHECK_EQ(r.dst.atyp, SSADDR_ATYP_IPV4);
	CHECK_EQ(r.dst.port, 8080);
	CHECK_MEM(r.dst.u.ipv4, "\xc0\x00\x02\x07", 4);
	check_prefixes(req, 12);

	CHECK_EQ(socks4_parse_request(empty, sizeof(empty), &r), 9);
	CHECK_EQ(r.user_len, 0);
	CHECK_EQ(r.user[0], 0);
	CHECK_EQ(r.dst.port, 80);
	check_prefixes(empty, sizeof(empty));

	/* BIND parses: refusing it (91) is the caller's. */
	CHECK_EQ(socks4_parse_request(bind, sizeof(bind), &r), 9);
	CHECK_EQ(r.cmd, SOCKS4_CMD_BIND);

	/* 0.0.0.0 is an address (not 4a: x must not be 0). */
	{
		const uint8_t zero[] = { 4, 1, 0, 80, 0, 0, 0, 0, 0 };

		CHECK_EQ(socks4_parse_request(zero, sizeof(zero), &r), 9);
		CHECK(!r.is_4a);
		CHECK_EQ(r.dst.atyp, SSADDR_ATYP_IPV4);
	}
}

static void test_4a(void)
{
	const uint8_t req[] = { 4, 1, 0x01, 0xbb, 0, 0, 0, 1, 'u', 0,
				'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0 };
	const uint8_t empty_host[] = { 4, 1, 0, 80, 0, 0, 0, 9, 0, 0 };
	struct socks4_request r;

	CHECK_EQ(socks4_parse_request(req, sizeof(req), &r), (int)sizeof(req));
	CHECK(r.is_4a);
	CHECK(!strcmp(r.user, "u"));
	CHECK_EQ(r.dst.atyp, SSADDR_ATYP_DOMAIN);
	CHECK_EQ(r.dst.port, 443);
	CHECK_EQ(r.dst.u.domain.len, 11);
	CHECK(!strcmp(r.dst.u.domain.name, "example.com"));
	check_prefixes(req, sizeof(req));
	CHECK_EQ(socks4_parse_request(empty_host, sizeof(empty_host), &r), -EINVAL);
	CHECK_EQ(socks4_parse_request(empty_host, sizeof(empty_host) - 1, &r), -EAGAIN);
}

/* The longest user id and name are taken; one byte more is refused. */
static void test_bounds(void)
{
	uint8_t big[SOCKS4_REQUEST_MAX + 2];
	struct socks4_request r;
	size_t n;

	memcpy(big, "\x04\x01\x00\x50\x00\x00\x00\x01", 8);
	memset(big + 8, 'u', SOCKS4_USERID_MAX);
	big[8 + SOCKS4_USERID_MAX] = 0;
	n = 8 + SOCKS4_USERID_MAX + 1;
	memset(big + n, 'h', SOCKS4_HOST_MAX);
	big[n + SOCKS4_HOST_MAX] = 0;
	n += SOCKS4_HOST_MAX + 1;
	CHECK_EQ(n, SOCKS4_REQUEST_MAX);
	CHECK_EQ(socks4_parse_request(big, n, &r), (int)n);
	CHECK_EQ(r.user_len, SOCKS4_USERID_MAX);
	CHECK_EQ(r.dst.u.domain.len, SOCKS4_HOST_MAX);
	CHECK_EQ(r.dst.u.domain.name[SOCKS4_HOST_MAX], 0);
	check_prefixes(big, n);

	/* A name of 256 bytes: refused once its 256th byte has come. */
	big[n - 1] = 'h';
	CHECK_EQ(socks4_parse_request(big, n - 1, &r), -EAGAIN);
	CHECK_EQ(socks4_parse_request(big, n, &r), -E2BIG);
	/* A user id of 256 bytes. */
	big[8 + SOCKS4_USERID_MAX] = 'u';
	CHECK_EQ(socks4_parse_request(big, 8 + SOCKS4_USERID_MAX, &r), -EAGAIN);
	CHECK_EQ(socks4_parse_request(big, 8 + SOCKS4_USERID_MAX + 1, &r), -E2BIG);
}

static void test_version_and_reply(void)
{
	const uint8_t v5[] = { 5, 1, 0 };
	struct socks4_request r;
	uint8_t out[SOCKS4_REPLY_BYTES];

	CHECK_EQ(socks4_parse_request(v5, 1, &r), -EPROTO);
	CHECK_EQ(socks4_parse_request(v5, 0, &r), -EAGAIN);
	CHECK_EQ(socks4_build_reply(out, SOCKS4_REP_GRANTED), 8);
	CHECK_MEM(out, "\x00\x5a\x00\x00\x00\x00\x00\x00", 8);
	CHECK_EQ(socks4_build_reply(out, SOCKS4_REP_REJECTED), 8);
	CHECK_MEM(out, "\x00\x5b\x00\x00\x00\x00\x00\x00", 8);
	CHECK_EQ(SOCKS4_REP_USERID_MISMATCH, 93);
}

int main(void)
{
	test_connect();
	test_4a();
	test_bounds();
	test_version_and_reply();
	printf("test_socks4: OK\n");
	return 0;
}
