/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/acl against shadowsocks-libev's meaning (its
 * src/acl.c): sections and their aliases, entries before any section,
 * CIDRs of both families (IPv4-mapped as IPv4), literal-suffix, exact and
 * general regular expressions (unanchored), comments anywhere, long lines
 * discarded, acl_match_* order (bypass/black first, then proxy/white), a
 * bad regex naming its line, and a 10,000-line list. Unlike libev, names
 * match whatever their case and with one trailing dot, in every list and
 * for every kind of rule; a match that hits PCRE2's limits counts as listed
 * for the block and proxy lists and not for the bypass list; a line that
 * compiles alone but not in its list's combined expression is named.
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
	CHECK_EQ(mname(a, "MAIL.GOOGLE.COM"), -1);    /* any case (libev: case-sensitive) */
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

/* Upper case and a trailing dot name the same host: no rule kind may miss it. */
static void test_case_and_dot(void)
{
	struct acl *a = parse("[outbound_block_list]\n"
			      "^blocked\\.example$\n"          /* exact */
			      "(^|\\.)Suffix\\.example$\n"   /* suffix, upper case in the file */
			      "\\.regex\\.example\n"          /* a general regex */
			      "(a)\\1\\.backref\\.example$\n"  /* one compiled alone */
			      "[bypass_list]\n(^|\\.)direct\\.example$\n"
			      "fast[0-9]+\\.cdn\\.example\n"
			      "[proxy_list]\n^via\\.example$\nthrough\\d\\.example\n");
	static const char *const blocked[] = { "BLOCKED.example", "blocked.example.",
					       "Blocked.Example.", "www.SUFFIX.example",
					       "suffix.example.", "x.REGEX.example",
					       "x.regex.example.", "AA.backref.example." };

	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		if (!acl_has_name(a, ACL_BLOCK, blocked[i], strlen(blocked[i]))) {
			fprintf(stderr, "FAIL: %s is not blocked\n", blocked[i]);
			exit(1);
		}
	}
	/* one dot only, and nothing else changes */
	CHECK(!acl_has_name(a, ACL_BLOCK, "blocked.example..", 17));
	CHECK(!acl_has_name(a, ACL_BLOCK, "xblocked.example", 16));
	CHECK(!acl_has_name(a, ACL_BLOCK, "unsuffix.example", 16));
	CHECK(!acl_has_name(a, ACL_BLOCK, "ab.backref.example", 18));
	/* a local's lists: bypass and proxy, by exact, suffix and regex rules */
	CHECK_EQ(mname(a, "WWW.DIRECT.EXAMPLE."), 1);
	CHECK_EQ(mname(a, "Fast12.CDN.example"), 1);
	CHECK_EQ(mname(a, "VIA.example."), -1);
	CHECK_EQ(mname(a, "Through7.EXAMPLE"), -1);
	CHECK(acl_route_name(a, "A.Direct.Example.", 17) == ACL_ROUTE_BYPASS);
	CHECK(acl_route_name(a, "Via.Example", 11) == ACL_ROUTE_PROXY);
	acl_free(a);
}

/*
 * A pattern that backtracks without end hits the match limit: the block
 * list refuses (fails closed), the proxy list proxies, the bypass list does
 * not bypass; other names are decided as ever, and quickly.
 */
static void test_match_limit(void)
{
	static const char evil[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
	struct timespec t0, t1;
	struct acl *a;
	double ms;

	a = parse("[outbound_block_list]\n^(a+)+$\nother\\.example\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(acl_has_name(a, ACL_BLOCK, evil, strlen(evil)));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("a match at the limit took %.2f ms\n", ms);
	CHECK(ms < 1000);
	CHECK(acl_has_name(a, ACL_BLOCK, "aaaa", 4));          /* a real match */
	CHECK(!acl_has_name(a, ACL_BLOCK, "fine.example", 12)); /* a real miss */
	acl_free(a);
	a = parse("[bypass_list]\n^(a+)+$\n[proxy_list]\n^(b+)+$\n");
	CHECK(!acl_has_name(a, ACL_BYPASS, evil, strlen(evil)));
	CHECK(acl_has_name(a, ACL_BYPASS, "aaa", 3));
	/* the bypass list's error is no match; the proxy list's pattern fails at once */
	CHECK_EQ(mname(a, evil), 0);
	CHECK_EQ(mname(a, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb!"), -1);
	CHECK(acl_route_name(a, evil, strlen(evil)) != ACL_ROUTE_BYPASS);
	acl_free(a);
	/* a name longer than any host name cannot be decided either */
	{
		char big[400];

		memset(big, 'x', sizeof(big));
		a = parse("[outbound_block_list]\n^nothing$\n[bypass_list]\n.\n");
		CHECK(acl_has_name(a, ACL_BLOCK, big, sizeof(big)));
		CHECK(!acl_has_name(a, ACL_BYPASS, big, sizeof(big)));
		acl_free(a);
	}
}

/* A line that compiles alone but not inside its list's combined expression. */
static void test_uncombinable(void)
{
	static const char *const lines[] = { "(*UTF)abc\\.example", "\\Qunterminated.example" };

	for (size_t i = 0; i < 2; i++) {
		char t[256];
		struct acl *b = NULL;

		snprintf(t, sizeof(t),
			 "[outbound_block_list]\nfirst\\.example\n\n%s\nlast\\.example\n", lines[i]);
		CHECK_EQ(acl_parse(t, strlen(t), &b, err, sizeof(err)), -EINVAL);
		if (!b && strstr(err, "line 4: ") == err && strstr(err, lines[i]) &&
		    !strstr(err, "out of memory"))
			continue;
		fprintf(stderr, "FAIL: '%s': %s\n", lines[i], err);
		exit(1);
	}
}

int main(void)
{
	test_sections();
	test_case_and_dot();
	test_match_limit();
	test_uncombinable();
	test_routes();
	test_modes_and_aliases();
	test_lines();
	test_size();
	printf("test_acl: ok\n");
	return 0;
}
