/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/acl against shadowsocks-libev's meaning (its
 * src/acl.c): sections and their aliases, entries before any section,
 * CIDRs of both families (IPv4-mapped as IPv4), literal-suffix, exact and
 * general regular expressions (unanchored, case-sensitive like libev's
 * PCRE), comments anywhere, long lines discarded, acl_match_* order
 * (bypass/black first, then proxy/white), a bad regex naming its line, and
 * a 10,000-line list.
 */
#include "proto/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <time.h>

#include "../check.h"

static char err[256];

static struct acl *parse(const char *t)
{
	struct acl *a = NULL;

	if (acl_parse(t, strlen(t), &a, err, sizeof(err))) {
		fprintf(stderr, "parse failed: %s\n", err);
		exit(1);
	}
	return a;
}

static struct sockaddr_storage ip(const char *s)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(s, ':')) {
		ss.ss_family = AF_INET6;
		CHECK(inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1);
	} else {
		ss.ss_family = AF_INET;
		CHECK(inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1);
	}
	return ss;
}

static int maddr(const struct acl *a, const char *s)
{
	struct sockaddr_storage ss = ip(s);

	return acl_match_addr(a, (struct sockaddr *)&ss);
}

static int mname(const struct acl *a, const char *s)
{
	return acl_match_name(a, s, strlen(s));
}

static void test_sections(void)
{
	struct acl *a = parse("# a comment\n"
			      "10.0.0.0/8   # entries before a section: the bypass list\n"
			      "[proxy_all]\n"
			      "[bypass_list]\n"
			      "192.168.0.0/16\n"
			      "2001:db8::/32\n"
			      "(^|\\.)cn\\.example$\n"
			      "^exact\\.example$\n"
			      "[proxy_list]\n"
			      "8.8.8.8\n"
			      "(^|\\.)google\\.com$\n"
			      "tw\\d+\\.example\n"
			      "[outbound_block_list]\n"
			      "127.0.0.0/8\n"
			      "(^|\\.)blocked\\.example$\n");
	struct acl_stats st;

	CHECK_EQ(acl_get_mode(a), ACL_MODE_PROXY_ALL);
	CHECK_EQ(maddr(a, "10.1.2.3"), 1);
	CHECK_EQ(maddr(a, "192.168.44.5"), 1);
	CHECK_EQ(maddr(a, "::ffff:192.168.44.5"), 1);
	CHECK_EQ(maddr(a, "2001:db8:1::9"), 1);
	CHECK_EQ(maddr(a, "2001:db9::1"), 0);
	CHECK_EQ(maddr(a, "8.8.8.8"), -1);
	CHECK_EQ(maddr(a, "8.8.4.4"), 0);
	CHECK_EQ(mname(a, "cn.example"), 1);
	CHECK_EQ(mname(a, "www.cn.example"), 1);
	CHECK_EQ(mname(a, "xcn.example"), 0);
	CHECK_EQ(mname(a, "exact.example"), 1);
	CHECK_EQ(mname(a, "www.exact.example"), 0);
	CHECK_EQ(mname(a, "mail.google.com"), -1);
	CHECK_EQ(mname(a, "tw12.example"), -1);
	CHECK_EQ(mname(a, "x.tw12.example.org"), -1); /* unanchored */
	CHECK_EQ(mname(a, "MAIL.GOOGLE.COM"), 0);     /* case-sensitive, as libev */
	CHECK_EQ(mname(a, "example.net"), 0);
	{
		struct sockaddr_storage lo = ip("127.0.0.1");

		CHECK(acl_has_addr(a, ACL_BLOCK, (struct sockaddr *)&lo));
		CHECK(acl_has_name(a, ACL_BLOCK, "a.blocked.example", 17));
		CHECK(!acl_has_name(a, ACL_BLOCK, "blocked.example.org", 19));
	}
	acl_get_stats(a, &st);
	CHECK_EQ(st.cidrs, 5);
	CHECK_EQ(st.suffixes, 3);
	CHECK_EQ(st.exact, 1);
	CHECK_EQ(st.regexes, 1);
	acl_free(a);
}

static void test_modes_and_aliases(void)
{
	struct acl *a = parse("[reject_all]\n[white_list]\n203.0.113.0/24\n[black_list]\n203.0.113.9\n");

	CHECK_EQ(acl_get_mode(a), ACL_MODE_BYPASS_ALL);
	/* the black list is checked first, as in libev */
	CHECK_EQ(maddr(a, "203.0.113.9"), 1);
	CHECK_EQ(maddr(a, "203.0.113.10"), -1);
	acl_free(a);
	a = parse("[bypass_all]\n[accept_all]\n");
	CHECK_EQ(acl_get_mode(a), ACL_MODE_PROXY_ALL); /* the last mode line wins */
	acl_free(a);
	a = parse("");
	CHECK_EQ(acl_get_mode(a), ACL_MODE_PROXY_ALL);
	CHECK_EQ(mname(a, "x.example"), 0);
	acl_free(a);
}

static void test_lines(void)
{
	char big[600];
	struct acl *a;
	struct acl_stats st;

	memset(big, 'a', sizeof(big));
	memcpy(big, "[bypass_list]\n", 14);
	memcpy(big + 14 + 300, "\n10.0.0.1\r\n  \t\n#only a comment\n", 32);
	big[14 + 300 + 32] = '\0';
	a = parse(big);
	acl_get_stats(a, &st);
	CHECK_EQ(st.discarded, 1); /* 300 characters: over libev's 255 */
	CHECK_EQ(maddr(a, "10.0.0.1"), 1);
	acl_free(a);
	/* not CIDR: a prefix out of range or junk after the slash is a regex */
	a = parse("10.0.0.0/33\n1.2.3.4/x\n");
	acl_get_stats(a, &st);
	CHECK_EQ(st.cidrs, 0);
	CHECK_EQ(st.regexes, 2);
	CHECK_EQ(mname(a, "10.0.0.0/33"), 1);
	acl_free(a);
	/* a pattern PCRE2 refuses names its line */
	{
		struct acl *b = NULL;
		const char *t = "[proxy_list]\n\nfoo(bar\n";

		CHECK_EQ(acl_parse(t, strlen(t), &b, err, sizeof(err)), -EINVAL);
		CHECK(b == NULL && strstr(err, "line 3") && strstr(err, "foo(bar"));
	}
	/* back-references cannot share one alternation: compiled one by one */
	a = parse("[proxy_list]\n(a)\\1x\n(b)\\1y\n");
	CHECK_EQ(mname(a, "zzaax"), -1);
	CHECK_EQ(mname(a, "bby"), -1);
	CHECK_EQ(mname(a, "abx"), 0);
	acl_free(a);
}

/* parse(), timed and reported as what. */
static struct acl *parse_timed(const char *t, const char *what, struct acl_stats *st)
{
	struct timespec t0, t1;
	struct acl *a;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	a = parse(t);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	acl_get_stats(a, st);
	printf("%s loaded in %.1f ms\n", what,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return a;
}

static void test_size(void)
{
	size_t cap = 10000 * 40, o = 0;
	char *t = malloc(cap);
	struct acl *a;
	struct acl_stats st;

	CHECK(t != NULL);
	o += (size_t)snprintf(t + o, cap - o, "[bypass_list]\n");
	for (int i = 0; i < 5000; i++)
		o += (size_t)snprintf(t + o, cap - o, "10.%d.%d.0/24\n", i / 250, i % 250);
	for (int i = 0; i < 4900; i++)
		o += (size_t)snprintf(t + o, cap - o, "(^|\\.)site%d\\.example$\n", i);
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(t + o, cap - o, "^ad%d[a-z]*\\.net\n", i);
	a = parse_timed(t, "10,000 lines", &st);
	CHECK_EQ(st.cidrs, 5000);
	CHECK_EQ(st.suffixes, 4900);
	CHECK_EQ(st.regexes, 100);
	CHECK_EQ(maddr(a, "10.19.249.7"), 1);
	CHECK_EQ(maddr(a, "10.20.0.7"), 0);
	CHECK_EQ(mname(a, "www.site4899.example"), 1);
	CHECK_EQ(mname(a, "adx.site4900.example"), 0);
	CHECK_EQ(mname(a, "ad99zzz.net"), 1);
	acl_free(a);
	/* 3,000 patterns that are not literal suffixes: more than one PCRE2
	 * expression can hold (64 KiB of code), so a few are made. */
	o = (size_t)snprintf(t, cap, "[bypass_list]\n");
	for (int i = 0; i < 3000; i++)
		o += (size_t)snprintf(t + o, cap - o, "^ads%d\\.[a-z]+\\.example$\n", i);
	a = parse_timed(t, "3,000 regular expressions", &st);
	CHECK_EQ(st.regexes, 3000);
	CHECK_EQ(mname(a, "ads0.x.example"), 1);
	CHECK_EQ(mname(a, "ads1500.abc.example"), 1);
	CHECK_EQ(mname(a, "ads2999.zz.example"), 1);
	CHECK_EQ(mname(a, "ads3000.zz.example"), 0);
	CHECK_EQ(mname(a, "ads12.9.example"), 0);
	acl_free(a);
	free(t);
}

/* libev local.c's decisions, case by case, under both modes. */
static void test_routes(void)
{
	static const char *const heads[] = { "[proxy_all]\n", "[bypass_all]\n" };

	for (int mode = 0; mode < 2; mode++) {
		char text[512];
		struct acl *a;
		struct sockaddr_storage ss;

		snprintf(text, sizeof(text), "%s[bypass_list]\n10.0.0.0/8\n(^|\\.)direct\\.example$\n"
			 "[proxy_list]\n10.1.0.0/16\n8.8.8.8\n(^|\\.)via\\.example$\n",
			 heads[mode]);
		a = parse(text);
		/* Names: listed to bypass, to proxy (bypass checked first), neither. */
		CHECK(acl_route_name(a, "a.direct.example", 16) == ACL_ROUTE_BYPASS);
		CHECK(acl_route_name(a, "via.example", 11) == ACL_ROUTE_PROXY);
		CHECK(acl_route_name(a, "other.example", 13) == ACL_ROUTE_RESOLVE);
		/* Addresses: 10.1.2.3 is in both lists: bypass wins, as in libev. */
		ss = ip("10.1.2.3");
		CHECK(acl_route_addr(a, (struct sockaddr *)&ss) == ACL_ROUTE_BYPASS);
		ss = ip("8.8.8.8");
		CHECK(acl_route_addr(a, (struct sockaddr *)&ss) == ACL_ROUTE_PROXY);
		/* Unlisted: the mode decides. */
		ss = ip("192.0.2.1");
		CHECK(acl_route_addr(a, (struct sockaddr *)&ss) ==
		      (mode ? ACL_ROUTE_BYPASS : ACL_ROUTE_PROXY));
		ss = ip("2001:db8::1");
		CHECK(acl_route_addr(a, (struct sockaddr *)&ss) ==
		      (mode ? ACL_ROUTE_BYPASS : ACL_ROUTE_PROXY));
		acl_free(a);
	}
}

int main(void)
{
	test_sections();
	test_routes();
	test_modes_and_aliases();
	test_lines();
	test_size();
	printf("test_acl: ok\n");
	return 0;
}
