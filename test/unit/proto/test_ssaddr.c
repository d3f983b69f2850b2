/* SPDX-License-Identifier: MIT */
/* Address header codec: every ATYP, truncation, bad input, special ranges. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "check.h"
#include "proto/ssaddr.h"

static void test_ipv4(void)
{
	const uint8_t b[] = { 0x01, 127, 0, 0, 1, 0x1f, 0x90, 'x' };
	struct ssaddr a;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t enc[SSADDR_MAX_BYTES];
	char s[300];

	CHECK_EQ(ssaddr_parse(b, sizeof(b), &a), 7);
	CHECK_EQ(a.atyp, SSADDR_ATYP_IPV4);
	CHECK_EQ(a.port, 8080);
	for (size_t n = 0; n < 7; n++)
		CHECK_EQ(ssaddr_parse(b, n, &a), -EAGAIN);
	ssaddr_parse(b, sizeof(b), &a);
	CHECK_EQ(ssaddr_to_sockaddr(&a, &ss, &sl), 0);
	CHECK_EQ(ss.ss_family, AF_INET);
	CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
	CHECK_EQ(ssaddr_encode(&a, enc), 7);
	CHECK_MEM(enc, b, 7);
	CHECK(strcmp(ssaddr_format(&a, s, sizeof(s)), "127.0.0.1:8080") == 0);
	CHECK(ssaddr_is_special((struct sockaddr *)&ss));
}

static void test_ipv6(void)
{
	uint8_t b[19] = { 0x04 };
	struct ssaddr a, back;
	struct sockaddr_storage ss;
	socklen_t sl;
	char s[300];

	inet_pton(AF_INET6, "2001:4860::8888", b + 1);
	b[17] = 0x01;
	b[18] = 0xbb;
	CHECK_EQ(ssaddr_parse(b, sizeof(b), &a), 19);
	CHECK_EQ(ssaddr_parse(b, 18, &a), -EAGAIN);
	ssaddr_parse(b, sizeof(b), &a);
	CHECK_EQ(a.port, 443);
	CHECK(strcmp(ssaddr_format(&a, s, sizeof(s)), "[2001:4860::8888]:443") == 0);
	CHECK_EQ(ssaddr_to_sockaddr(&a, &ss, &sl), 0);
	CHECK_EQ(sl, sizeof(struct sockaddr_in6));
	CHECK(!ssaddr_is_special((struct sockaddr *)&ss));
	CHECK_EQ(ssaddr_from_sockaddr((struct sockaddr *)&ss, &back), 0);
	CHECK_MEM(back.u.ipv6, a.u.ipv6, 16);
	CHECK_EQ(back.port, 443);
}

static void test_domain(void)
{
	const uint8_t b[] = { 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
			      0x00, 0x50 };
	const uint8_t lit[] = { 0x03, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1', 0, 80 };
	const uint8_t zero[] = { 0x03, 0, 0, 80 };
	struct ssaddr a;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t enc[SSADDR_MAX_BYTES], big[SSADDR_MAX_BYTES];

	CHECK_EQ(ssaddr_parse(b, sizeof(b), &a), 15);
	CHECK(strcmp(a.u.domain.name, "example.com") == 0);
	CHECK_EQ(a.port, 80);
	CHECK_EQ(ssaddr_to_sockaddr(&a, &ss, &sl), -EAGAIN);
	CHECK_EQ(ssaddr_encode(&a, enc), sizeof(b));
	CHECK_MEM(enc, b, sizeof(b));
	for (size_t n = 0; n < sizeof(b); n++)
		CHECK_EQ(ssaddr_parse(b, n, &a), -EAGAIN);
	/* An IP literal in the domain field is used as that address. */
	CHECK_EQ(ssaddr_parse(lit, sizeof(lit), &a), 13);
	CHECK_EQ(ssaddr_to_sockaddr(&a, &ss, &sl), 0);
	CHECK_EQ(ss.ss_family, AF_INET);
	CHECK_EQ(ssaddr_parse(zero, sizeof(zero), &a), -EINVAL);
	/* Longest name. */
	big[0] = 0x03;
	big[1] = 255;
	memset(big + 2, 'a', 255);
	big[257] = 1;
	big[258] = 2;
	CHECK_EQ(ssaddr_parse(big, sizeof(big), &a), SSADDR_MAX_BYTES);
	CHECK_EQ(a.port, 0x0102);
	CHECK_EQ(strlen(a.u.domain.name), 255);
}

static void test_bad_atyp(void)
{
	struct ssaddr a;

	for (int t = 0; t < 256; t++) {
		uint8_t b[32] = { (uint8_t)t, 4 };

		if (t == 1 || t == 3 || t == 4)
			continue;
		CHECK_EQ(ssaddr_parse(b, sizeof(b), &a), -EINVAL);
	}
	/* The old one-time-auth flag is not masked off. */
	{
		uint8_t b[8] = { 0x11, 1, 2, 3, 4, 0, 80 };

		CHECK_EQ(ssaddr_parse(b, sizeof(b), &a), -EINVAL);
	}
}

static void test_special(void)
{
	static const char *const special[] = { "10.1.2.3", "172.16.0.1", "172.31.255.255",
					       "192.168.1.1", "169.254.1.1", "100.64.0.1",
					       "0.0.0.0", "224.0.0.1", "255.255.255.255" };
	static const char *const public[] = { "8.8.8.8", "172.32.0.1", "100.128.0.1",
					      "1.1.1.1" };
	static const char *const special6[] = { "::1", "::", "fe80::1", "fd00::1",
						"::ffff:127.0.0.1", "ff02::1", "2001:db8::1" };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	for (size_t i = 0; i < sizeof(special) / sizeof(*special); i++) {
		inet_pton(AF_INET, special[i], &sin.sin_addr);
		CHECK(ssaddr_is_special((struct sockaddr *)&sin));
	}
	for (size_t i = 0; i < sizeof(public) / sizeof(*public); i++) {
		inet_pton(AF_INET, public[i], &sin.sin_addr);
		CHECK(!ssaddr_is_special((struct sockaddr *)&sin));
	}
	for (size_t i = 0; i < sizeof(special6) / sizeof(*special6); i++) {
		inet_pton(AF_INET6, special6[i], &sin6.sin6_addr);
		CHECK(ssaddr_is_special((struct sockaddr *)&sin6));
	}
	inet_pton(AF_INET6, "2606:4700::1111", &sin6.sin6_addr);
	CHECK(!ssaddr_is_special((struct sockaddr *)&sin6));
}

int main(void)
{
	test_ipv4();
	test_ipv6();
	test_domain();
	test_bad_atyp();
	test_special();
	printf("test_ssaddr: ok\n");
	return 0;
}
