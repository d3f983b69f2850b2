/* SPDX-License-Identifier: MIT */
/*
 * SOCKS5 codecs: greeting, method choice, RFC 1929 auth, requests for every
 * ATYP, every error class, every truncation, reply bytes, UDP headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "check.h"
#include "proto/socks5.h"

static void test_greeting(void)
{
	const uint8_t both[] = { 0x05, 0x02, 0x00, 0x02, 0xaa };
	const uint8_t gss[] = { 0x05, 0x01, 0x01 };
	const uint8_t zero[] = { 0x05, 0x00 };
	const uint8_t v4[] = { 0x04, 0x01, 0x00, 0x50 };
	struct socks5_greeting g;

	CHECK_EQ(socks5_parse_greeting(both, sizeof(both), &g), 4); /* 0xaa is not ours */
	CHECK_EQ(g.nmethods, 2);
	CHECK(g.has_noauth && g.has_userpass);
	for (size_t n = 0; n < 4; n++)
		CHECK_EQ(socks5_parse_greeting(both, n, &g), -EAGAIN);
	CHECK_EQ(socks5_parse_greeting(gss, sizeof(gss), &g), 3);
	CHECK(!g.has_noauth && !g.has_userpass);
	CHECK_EQ(socks5_parse_greeting(zero, sizeof(zero), &g), -EINVAL);
	CHECK_EQ(socks5_parse_greeting(v4, sizeof(v4), &g), -EPROTO);
	CHECK_EQ(socks5_parse_greeting(v4, 1, &g), -EPROTO); /* decided on byte 1 */
	CHECK_EQ(socks5_parse_greeting(zero, 1, &g), -EAGAIN);

	/* All 255 methods, with 0x00 and 0x02 somewhere in the middle. */
	{
		uint8_t big[2 + 255];

		big[0] = 0x05;
		big[1] = 255;
		for (int i = 0; i < 255; i++)
			big[2 + i] = (uint8_t)(i + 1); /* 0x01..0xff: has 02, lacks 00 */
		CHECK_EQ(socks5_parse_greeting(big, sizeof(big), &g), 257);
		CHECK(!g.has_noauth && g.has_userpass);
		big[200] = 0x00;
		CHECK_EQ(socks5_parse_greeting(big, sizeof(big), &g), 257);
		CHECK(g.has_noauth);
		CHECK_EQ(socks5_parse_greeting(big, 256, &g), -EAGAIN);
	}
}

static void test_choose_method(void)
{
	struct socks5_greeting g = { 1, false, false };

	CHECK_EQ(socks5_choose_method(&g, false), SOCKS5_METHOD_NONE);
	CHECK_EQ(socks5_choose_method(&g, true), SOCKS5_METHOD_NONE);
	g.has_noauth = true;
	CHECK_EQ(socks5_choose_method(&g, false), SOCKS5_METHOD_NOAUTH);
	/* Never fall back to no-auth when auth is configured. */
	CHECK_EQ(socks5_choose_method(&g, true), SOCKS5_METHOD_NONE);
	g.has_userpass = true;
	CHECK_EQ(socks5_choose_method(&g, true), SOCKS5_METHOD_USERPASS);
	CHECK_EQ(socks5_choose_method(&g, false), SOCKS5_METHOD_NOAUTH);
	g.has_noauth = false;
	CHECK_EQ(socks5_choose_method(&g, true), SOCKS5_METHOD_USERPASS);
	/* Without auth configured, offering only 02 is not acceptable. */
	CHECK_EQ(socks5_choose_method(&g, false), SOCKS5_METHOD_NONE);
}

static void test_auth_parse(void)
{
	const uint8_t ok[] = { 0x01, 5, 'a', 'd', 'm', 'i', 'n', 3, 'p', 'w', 0, 0x99 };
	const uint8_t ver5[] = { 0x05, 1, 'a', 1, 'b' };
	const uint8_t nouser[] = { 0x01, 0, 1, 'b' };
	const uint8_t nopass[] = { 0x01, 1, 'a', 0 };
	struct socks5_auth a;
	uint8_t big[3 + 255 + 255];

	CHECK_EQ(socks5_parse_auth(ok, sizeof(ok), &a), 11);
	CHECK_EQ(a.user_len, 5);
	CHECK(strcmp(a.user, "admin") == 0);
	CHECK_EQ(a.pass_len, 3);
	CHECK_MEM(a.pass, "pw\0", 3); /* raw bytes, NUL included */
	for (size_t n = 0; n < 11; n++)
		CHECK_EQ(socks5_parse_auth(ok, n, &a), -EAGAIN);
	CHECK_EQ(socks5_parse_auth(ver5, sizeof(ver5), &a), -EPROTO);
	CHECK_EQ(socks5_parse_auth(ver5, 1, &a), -EPROTO);
	CHECK_EQ(socks5_parse_auth(nouser, sizeof(nouser), &a), -EINVAL);
	CHECK_EQ(socks5_parse_auth(nouser, 2, &a), -EINVAL);
	CHECK_EQ(socks5_parse_auth(nopass, sizeof(nopass), &a), -EINVAL);
	CHECK_EQ(socks5_parse_auth(nopass, 3, &a), -EAGAIN);

	big[0] = 0x01;
	big[1] = 255;
	memset(big + 2, 'u', 255);
	big[257] = 255;
	memset(big + 258, 'p', 255);
	CHECK_EQ(socks5_parse_auth(big, sizeof(big), &a), 513);
	CHECK_EQ(a.user_len, 255);
	CHECK_EQ(a.pass_len, 255);
	CHECK_EQ(strlen(a.user), 255);
	CHECK_EQ(strlen(a.pass), 255);
	for (size_t n = 0; n < sizeof(big); n++)
		CHECK_EQ(socks5_parse_auth(big, n, &a), -EAGAIN);
}

static void make_auth(struct socks5_auth *a, const char *u, size_t ul, const char *p, size_t pl)
{
	/* Fill with junk first: bytes past the lengths must not matter. */
	memset(a, 0x5a, sizeof(*a));
	a->user_len = (uint8_t)ul;
	memcpy(a->user, u, ul);
	a->pass_len = (uint8_t)pl;
	memcpy(a->pass, p, pl);
}

static void test_auth_check(void)
{
	struct socks5_auth a;
	char longv[300];

	make_auth(&a, "admin", 5, "secret", 6);
	CHECK(socks5_auth_check(&a, "admin", "secret"));
	CHECK(!socks5_auth_check(&a, "admin", "secreT"));
	CHECK(!socks5_auth_check(&a, "admix", "secret"));
	CHECK(!socks5_auth_check(&a, "admin", "secret2"));
	CHECK(!socks5_auth_check(&a, "admin", "secre"));
	CHECK(!socks5_auth_check(&a, "admi", "secret"));
	CHECK(!socks5_auth_check(&a, "adminn", "secret"));
	CHECK(!socks5_auth_check(&a, "secret", "admin"));
	CHECK(!socks5_auth_check(&a, "", "secret"));
	CHECK(!socks5_auth_check(&a, NULL, "secret"));
	CHECK(!socks5_auth_check(&a, "admin", NULL));
	/* Junk in the struct past pass_len does not make a prefix match. */
	make_auth(&a, "admin", 5, "secret", 6);
	a.pass[6] = 'X';
	CHECK(!socks5_auth_check(&a, "admin", "secretX"));
	CHECK(socks5_auth_check(&a, "admin", "secret"));
	/* An embedded NUL in what the client sent never equals a C string. */
	make_auth(&a, "admin\0", 6, "secret", 6);
	CHECK(!socks5_auth_check(&a, "admin", "secret"));
	/* Longest fields. */
	memset(longv, 'z', sizeof(longv));
	longv[255] = '\0';
	make_auth(&a, longv, 255, longv, 255);
	CHECK(socks5_auth_check(&a, longv, longv));
	longv[254] = 'y';
	CHECK(!socks5_auth_check(&a, longv, "z"));
	/* A configured value longer than 255 bytes can never match. */
	memset(longv, 'z', sizeof(longv));
	longv[256] = '\0';
	CHECK(!socks5_auth_check(&a, longv, longv));
	/* High bytes compare as bytes. */
	make_auth(&a, "\xff\x80", 2, "\x01", 1);
	CHECK(socks5_auth_check(&a, "\xff\x80", "\x01"));
	CHECK(!socks5_auth_check(&a, "\xff\x81", "\x01"));
}

static void check_req_prefixes(const uint8_t *b, size_t n)
{
	struct socks5_request r;

	for (size_t i = 0; i < n; i++)
		CHECK_EQ(socks5_parse_request(b, i, &r), -EAGAIN);
}

static void test_request(void)
{
	const uint8_t v4[] = { 0x05, 0x01, 0x00, 0x01, 93, 184, 216, 34, 0x00, 0x50, 0xee };
	const uint8_t dom[] = { 0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l',
				'e', '.', 'c', 'o', 'm', 0x01, 0xbb };
	const uint8_t udp[] = { 0x05, 0x03, 0x7f, 0x01, 0, 0, 0, 0, 0, 0 }; /* RSV ignored */
	uint8_t v6[22] = { 0x05, 0x02, 0x00, 0x04 };
	const uint8_t empty[] = { 0x05, 0x01, 0x00, 0x03, 0x00, 0x00, 0x50 };
	const uint8_t v4ver[] = { 0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4, 0 };
	struct socks5_request r;

	CHECK_EQ(socks5_parse_request(v4, sizeof(v4), &r), 10);
	CHECK_EQ(r.cmd, SOCKS5_CMD_CONNECT);
	CHECK_EQ(r.dst.atyp, SSADDR_ATYP_IPV4);
	CHECK_MEM(r.dst.u.ipv4, v4 + 4, 4);
	CHECK_EQ(r.dst.port, 80);
	check_req_prefixes(v4, 10);

	CHECK_EQ(socks5_parse_request(dom, sizeof(dom), &r), (int)sizeof(dom));
	CHECK_EQ(r.dst.atyp, SSADDR_ATYP_DOMAIN);
	CHECK_EQ(r.dst.u.domain.len, 11);
	CHECK(strcmp(r.dst.u.domain.name, "example.com") == 0);
	CHECK_EQ(r.dst.port, 443);
	check_req_prefixes(dom, sizeof(dom));

	inet_pton(AF_INET6, "2001:db8::1", v6 + 4);
	v6[20] = 0x1f;
	v6[21] = 0x90;
	CHECK_EQ(socks5_parse_request(v6, sizeof(v6), &r), 22);
	CHECK_EQ(r.cmd, SOCKS5_CMD_BIND);
	CHECK_EQ(r.dst.atyp, SSADDR_ATYP_IPV6);
	CHECK_MEM(r.dst.u.ipv6, v6 + 4, 16);
	CHECK_EQ(r.dst.port, 8080);
	check_req_prefixes(v6, sizeof(v6));

	CHECK_EQ(socks5_parse_request(udp, sizeof(udp), &r), 10);
	CHECK_EQ(r.cmd, SOCKS5_CMD_UDP_ASSOCIATE);
	CHECK_EQ(r.dst.port, 0);

	CHECK_EQ(socks5_parse_request(empty, sizeof(empty), &r), -EINVAL);
	CHECK_EQ(socks5_parse_request(empty, 5, &r), -EINVAL);
	CHECK_EQ(socks5_parse_request(v4ver, sizeof(v4ver), &r), -EPROTO);
	CHECK_EQ(socks5_parse_request(v4ver, 1, &r), -EPROTO);
	/* Unknown CMD is recorded, not rejected: the caller answers 0x07. */
	{
		uint8_t b[10];

		memcpy(b, v4, 10);
		b[1] = 0x09;
		CHECK_EQ(socks5_parse_request(b, 10, &r), 10);
		CHECK_EQ(r.cmd, 0x09);
	}
}

static void test_request_bad_atyp(void)
{
	struct socks5_request r;

	for (int t = 0; t < 256; t++) {
		uint8_t b[32] = { 0x05, 0x01, 0x00, (uint8_t)t, 4 };

		if (t == 1 || t == 3 || t == 4)
			continue;
		CHECK_EQ(socks5_parse_request(b, sizeof(b), &r), -EAFNOSUPPORT);
		/* Decided as soon as ATYP is in. */
		CHECK_EQ(socks5_parse_request(b, 4, &r), -EAFNOSUPPORT);
		CHECK_EQ(socks5_parse_request(b, 3, &r), -EAGAIN);
	}
}

static void test_request_max_domain(void)
{
	uint8_t b[4 + 1 + 255 + 2];
	struct socks5_request r;

	b[0] = 0x05;
	b[1] = 0x01;
	b[2] = 0x00;
	b[3] = 0x03;
	b[4] = 255;
	memset(b + 5, 'a', 255);
	b[260] = 0xff;
	b[261] = 0xff;
	CHECK_EQ(socks5_parse_request(b, sizeof(b), &r), 262);
	CHECK_EQ(r.dst.port, 65535);
	CHECK_EQ(strlen(r.dst.u.domain.name), 255);
	check_req_prefixes(b, sizeof(b));
}

static void test_reply(void)
{
	const uint8_t zero[] = { 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
	const uint8_t v4[] = { 0x05, 0x00, 0x00, 0x01, 0x7f, 0, 0, 1, 0x2b, 0x48 };
	const uint8_t fail[] = { 0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
	uint8_t v6[22] = { 0x05, 0x00, 0x00, 0x04 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(11080) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint8_t out[SOCKS5_REPLY_MAX_BYTES + 8];

	/* LIBEV's verified fake reply and its UDP ASSOCIATE reply (protocol.md §1.5, §1.7). */
	CHECK_EQ(socks5_build_reply(out, SOCKS5_REP_SUCCEEDED, NULL), 10);
	CHECK_MEM(out, zero, 10);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	CHECK_EQ(socks5_build_reply(out, SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&sin), 10);
	CHECK_MEM(out, v4, 10);
	CHECK_EQ(socks5_build_reply(out, SOCKS5_REP_CONNECTION_REFUSED, NULL), 10);
	CHECK_MEM(out, fail, 10);

	inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
	memcpy(v6 + 4, &sin6.sin6_addr, 16);
	v6[20] = 0x01;
	v6[21] = 0xbb;
	memset(out, 0xcc, sizeof(out));
	CHECK_EQ(socks5_build_reply(out, SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&sin6), 22);
	CHECK_MEM(out, v6, 22);
	CHECK_EQ(out[22], 0xcc); /* nothing past the 22 bytes */

	/* A v4 client on a dual-stack socket gets ATYP 01. */
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr);
	sin6.sin6_port = htons(11080);
	CHECK_EQ(socks5_build_reply(out, SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&sin6), 10);
	CHECK_MEM(out, v4, 10);

	CHECK_EQ(socks5_build_reply(out, SOCKS5_REP_GENERAL_FAILURE, (struct sockaddr *)&sun),
		 10);
	CHECK_EQ(out[1], 0x01);
	CHECK_MEM(out + 3, zero + 3, 7);
}

static void test_rep_from_errno(void)
{
	CHECK_EQ(socks5_rep_from_errno(-ECONNREFUSED), 0x05);
	CHECK_EQ(socks5_rep_from_errno(-ENETUNREACH), 0x03);
	CHECK_EQ(socks5_rep_from_errno(-EHOSTUNREACH), 0x04);
	CHECK_EQ(socks5_rep_from_errno(-ETIMEDOUT), 0x06);
	CHECK_EQ(socks5_rep_from_errno(-ECANCELED), 0x06);
	CHECK_EQ(socks5_rep_from_errno(-ECONNRESET), 0x01);
	CHECK_EQ(socks5_rep_from_errno(-ENOMEM), 0x01);
	CHECK_EQ(socks5_rep_from_errno(ECONNREFUSED), 0x05);
	CHECK_EQ(socks5_rep_from_errno(0), 0x01);
	CHECK_EQ(socks5_rep_from_errno(INT_MIN), 0x01);
	/* The RFC 1928 numbering. */
	CHECK_EQ(SOCKS5_REP_SUCCEEDED, 0);
	CHECK_EQ(SOCKS5_REP_NOT_ALLOWED, 2);
	CHECK_EQ(SOCKS5_REP_COMMAND_NOT_SUPPORTED, 7);
	CHECK_EQ(SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED, 8);
}

static void test_udp(void)
{
	/* The datagram LIBEV sent back in the live test (protocol.md §1.8). */
	const uint8_t reply[] = { 0, 0, 0, 0x01, 9, 9, 9, 9, 0x00, 0x35, 'd', 'n', 's' };
	const uint8_t dom[] = { 0, 0, 0x81, 0x03, 3, 'a', '.', 'b', 0x00, 0x35 };
	uint8_t v6[3 + 19 + 1] = { 0xff, 0xff, 0, 0x04 }; /* RSV ignored */
	const uint8_t bad[] = { 0, 0, 0, 0x05, 1, 2, 3, 4, 0, 1 };
	const uint8_t empty[] = { 0, 0, 0, 0x03, 0, 0, 0x35 };
	struct socks5_udp u;
	uint8_t out[SOCKS5_UDP_HEADER_MAX_BYTES];

	CHECK_EQ(socks5_parse_udp(reply, sizeof(reply), &u), 10);
	CHECK_EQ(u.frag, 0);
	CHECK_EQ(u.dst.atyp, SSADDR_ATYP_IPV4);
	CHECK_EQ(u.dst.port, 53);
	CHECK_EQ(socks5_build_udp_header(out, &u.dst), 10);
	CHECK_MEM(out, reply, 10);
	for (size_t n = 0; n < 10; n++)
		CHECK_EQ(socks5_parse_udp(reply, n, &u), -EINVAL);

	CHECK_EQ(socks5_parse_udp(dom, sizeof(dom), &u), 10); /* no data is fine */
	CHECK_EQ(u.frag, 0x81);
	CHECK(strcmp(u.dst.u.domain.name, "a.b") == 0);
	CHECK_EQ(socks5_build_udp_header(out, &u.dst), 10);
	CHECK_MEM(out + 3, dom + 3, 7);
	for (size_t n = 0; n < sizeof(dom); n++)
		CHECK_EQ(socks5_parse_udp(dom, n, &u), -EINVAL);

	inet_pton(AF_INET6, "::1", v6 + 4);
	v6[21] = 1;
	CHECK_EQ(socks5_parse_udp(v6, sizeof(v6), &u), 22);
	CHECK_EQ(u.dst.port, 1);
	CHECK_EQ(socks5_build_udp_header(out, &u.dst), 22);
	CHECK_MEM(out + 3, v6 + 3, 19);
	CHECK_MEM(out, "\0\0\0", 3);

	CHECK_EQ(socks5_parse_udp(bad, sizeof(bad), &u), -EAFNOSUPPORT);
	CHECK_EQ(socks5_parse_udp(bad, 4, &u), -EAFNOSUPPORT);
	CHECK_EQ(socks5_parse_udp(empty, sizeof(empty), &u), -EINVAL);
}

/* Random input never crashes, and successes stay within len. */
static void test_random(void)
{
	uint32_t x = 0x12345678;
	uint8_t b[64];
	struct socks5_greeting g;
	struct socks5_auth a;
	struct socks5_request r;
	struct socks5_udp u;

	for (int iter = 0; iter < 200000; iter++) {
		size_t len;
		int n;

		for (size_t i = 0; i < sizeof(b); i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		/* Bias towards plausible headers so deep paths are reached. */
		b[0] = (uint8_t)((iter & 3) == 0 ? b[0] : (iter & 1) ? 5 : 1);
		b[1] &= 0x0f;
		b[3] %= 5;
		b[4] &= 0x1f;
		len = (size_t)(x >> 8) % sizeof(b);
		n = socks5_parse_greeting(b, len, &g);
		CHECK(n == -EAGAIN || n == -EPROTO || n == -EINVAL || (n > 0 && (size_t)n <= len));
		n = socks5_parse_auth(b, len, &a);
		CHECK(n == -EAGAIN || n == -EPROTO || n == -EINVAL || (n > 0 && (size_t)n <= len));
		n = socks5_parse_request(b, len, &r);
		CHECK(n == -EAGAIN || n == -EPROTO || n == -EINVAL || n == -EAFNOSUPPORT ||
		      (n > 0 && (size_t)n <= len));
		n = socks5_parse_udp(b, len, &u);
		CHECK(n == -EINVAL || n == -EAFNOSUPPORT || (n > 0 && (size_t)n <= len));
	}
}

int main(void)
{
	test_greeting();
	test_choose_method();
	test_auth_parse();
	test_auth_check();
	test_request();
	test_request_bad_atyp();
	test_request_max_domain();
	test_reply();
	test_rep_from_errno();
	test_udp();
	test_random();
	return 0;
}
