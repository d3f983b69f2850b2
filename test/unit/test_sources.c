/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for relay/sources: the per-source limits count to their
 * bound and refuse past it, a finished handshake frees its place, the end
 * frees both; IPv6 sources are their /64, an IPv4-mapped address is its
 * IPv4 client; other sources are not held back by a heavy one (with 2,000
 * distinct sources beside it, none collides in both slots).
 */
#include "relay/sources.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "../check.h"

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;

	a->sin_family = AF_INET;
	CHECK(inet_pton(AF_INET, ip, &a->sin_addr) == 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

	a->sin6_family = AF_INET6;
	CHECK(inet_pton(AF_INET6, ip, &a->sin6_addr) == 1);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static struct source_ticket tk[300];

static void test_limits(void)
{
	struct sockaddr_storage a = v4("203.0.113.7"), b = v4("198.51.100.9");
	struct source_ticket other;
	uint32_t hs, sess;

	for (int i = 0; i < 128; i++)
		CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[i]), SOURCE_OK);
	CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[200]), SOURCE_TOO_MANY_HANDSHAKES);
	CHECK(!tk[200].hs && !tk[200].sess);
	/* another source is not affected */
	CHECK_EQ(sources_admit(SA(b), 128, 0, &other), SOURCE_OK);
	sources_end(&other);
	/* one handshake done: one more may come */
	sources_handshake_done(&tk[0]);
	sources_handshake_done(&tk[0]); /* twice is once */
	CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[128]), SOURCE_OK);
	CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[200]), SOURCE_TOO_MANY_HANDSHAKES);
	sources_peek(SA(a), &hs, &sess);
	CHECK_EQ(hs, 128);
	CHECK_EQ(sess, 129);
	/* sessions_per_source counts established ones too */
	CHECK_EQ(sources_admit(SA(a), 0, 129, &tk[200]), SOURCE_TOO_MANY_SESSIONS);
	CHECK_EQ(sources_admit(SA(a), 0, 130, &tk[129]), SOURCE_OK);
	for (int i = 0; i < 130; i++)
		sources_end(&tk[i]);
	sources_peek(SA(a), &hs, &sess);
	CHECK_EQ(hs, 0);
	CHECK_EQ(sess, 0);
	/* no limits: nothing is counted */
	CHECK_EQ(sources_admit(SA(a), 0, 0, &tk[0]), SOURCE_OK);
	CHECK(!tk[0].hs && !tk[0].sess);
	sources_peek(SA(a), &hs, &sess);
	CHECK_EQ(sess, 0);
}

static void test_families(void)
{
	struct sockaddr_storage p1 = v6("2001:db8:1:2::1"), p2 = v6("2001:db8:1:2:ffff::9");
	struct sockaddr_storage q = v6("2001:db8:1:3::1");
	struct sockaddr_storage m = v6("::ffff:192.0.2.5"), m4 = v4("192.0.2.5");
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	uint32_t hs, sess;

	CHECK_EQ(sources_admit(SA(p1), 2, 0, &tk[0]), SOURCE_OK);
	CHECK_EQ(sources_admit(SA(p2), 2, 0, &tk[1]), SOURCE_OK);
	/* the same /64: the third is over */
	CHECK_EQ(sources_admit(SA(p2), 2, 0, &tk[2]), SOURCE_TOO_MANY_HANDSHAKES);
	CHECK_EQ(sources_admit(SA(q), 2, 0, &tk[2]), SOURCE_OK);
	sources_end(&tk[0]);
	sources_end(&tk[1]);
	sources_end(&tk[2]);
	CHECK_EQ(sources_admit(SA(m), 5, 0, &tk[0]), SOURCE_OK);
	sources_peek(SA(m4), &hs, &sess);
	CHECK_EQ(hs, 1);
	sources_end(&tk[0]);
	CHECK_EQ(sources_admit(SA(un), 1, 1, &tk[0]), SOURCE_OK);
	CHECK(!tk[0].hs);
}

/* Neighbouring addresses (the usual attacker and victim) do not share slots. */
static void test_neighbours(void)
{
	for (int i = 1; i < 255; i++) {
		char a[32], b[32];
		struct sockaddr_storage x, y;
		struct source_ticket tx, ty;

		snprintf(a, sizeof(a), "127.0.0.%d", i);
		snprintf(b, sizeof(b), "127.0.0.%d", i + 1);
		x = v4(a);
		y = v4(b);
		CHECK_EQ(sources_admit(SA(x), 1, 0, &tx), SOURCE_OK);
		CHECK_EQ(sources_admit(SA(y), 1, 0, &ty), SOURCE_OK);
		CHECK(tx.idx[0] != ty.idx[0] || tx.idx[1] != ty.idx[1]);
		sources_end(&tx);
		sources_end(&ty);
	}
}

static void test_no_collateral(void)
{
	static struct source_ticket heavy[64];
	struct sockaddr_storage a = v4("203.0.113.7");
	int refused = 0;

	for (int i = 0; i < 64; i++)
		CHECK_EQ(sources_admit(SA(a), 64, 0, &heavy[i]), SOURCE_OK);
	for (int i = 0; i < 2000; i++) {
		char ip[32];
		struct sockaddr_storage o;
		struct source_ticket t;

		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
		o = v4(ip);
		if (sources_admit(SA(o), 64, 0, &t) != SOURCE_OK)
			refused++;
		sources_end(&t);
	}
	CHECK_EQ(refused, 0);
	for (int i = 0; i < 64; i++)
		sources_end(&heavy[i]);
}

int main(void)
{
	test_limits();
	test_families();
	test_neighbours();
	test_no_collateral();
	printf("test_sources: ok\n");
	return 0;
}
