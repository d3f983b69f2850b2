/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for hostport (the host:port parser, the splitter every codec
 * uses, the sockaddr formatter) and the sockaddr helpers.
 */
#include "proto/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "proto/sockaddr.h"

#include "../check.h"

static void check_ok(const char *s, const char *host, unsigned int port, bool is_ip)
{
	struct hostport hp;
	int ret = hostport_parse(s, false, &hp);

	if (ret) {
		fprintf(stderr, "hostport_parse(\"%s\") = %d, expected success\n", s, ret);
		exit(1);
	}
	CHECK(!strcmp(hp.host, host));
	CHECK_EQ(hp.port, port);
	CHECK_EQ(hp.is_ip, is_ip);
	if (!is_ip)
		CHECK_EQ(hp.addr_len, 0);
}

static void check_bad(const char *s)
{
	struct hostport hp;
	int ret = hostport_parse(s, false, &hp);

	if (ret != -EINVAL) {
		fprintf(stderr, "hostport_parse(\"%s\") = %d, expected -EINVAL\n", s, ret);
		exit(1);
	}
	/* A failed parse leaves nothing half-filled. */
	CHECK_EQ(hp.host[0], 0);
	CHECK_EQ(hp.is_ip, 0);
}

static void test_ipv4(void)
{
	struct hostport hp;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&hp.addr;
	char buf[64];

	CHECK_EQ(hostport_parse("1.2.3.4:80", false, &hp), 0);
	CHECK(hp.is_ip);
	CHECK(!strcmp(hp.host, "1.2.3.4"));
	CHECK_EQ(hp.port, 80);
	CHECK_EQ(hp.addr_len, sizeof(struct sockaddr_in));
	CHECK_EQ(sin->sin_family, AF_INET);
	CHECK_EQ(ntohs(sin->sin_port), 80);
	CHECK_EQ(ntohl(sin->sin_addr.s_addr), 0x01020304);
	CHECK(!strcmp(hostport_format_addr((const struct sockaddr *)&hp.addr, buf, sizeof(buf)),
		      "1.2.3.4:80"));

	check_ok("0.0.0.0:8388", "0.0.0.0", 8388, true);
	check_ok("255.255.255.255:65535", "255.255.255.255", 65535, true);
	/* Not a strict dotted quad: octal, short forms and out-of-range octets. */
	check_bad("010.1.1.1:80");
	check_bad("1.2.3:80");
	check_bad("1.2.3.256:80");
	check_bad("300.1.1.1:80");
	check_bad("10.1:80");
}

static void test_ipv6(void)
{
	struct hostport hp;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&hp.addr;
	char buf[80];

	CHECK_EQ(hostport_parse("[::1]:8388", false, &hp), 0);
	CHECK(hp.is_ip);
	CHECK(!strcmp(hp.host, "::1"));
	CHECK_EQ(hp.port, 8388);
	CHECK_EQ(hp.addr_len, sizeof(struct sockaddr_in6));
	CHECK_EQ(sin6->sin6_family, AF_INET6);
	CHECK_EQ(ntohs(sin6->sin6_port), 8388);
	CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	CHECK(!strcmp(hostport_format_addr((const struct sockaddr *)&hp.addr, buf, sizeof(buf)),
		      "[::1]:8388"));

	check_ok("[2001:db8::1]:443", "2001:db8::1", 443, true);
	check_ok("[::]:1", "::", 1, true);
	check_ok("[::ffff:1.2.3.4]:80", "::ffff:1.2.3.4", 80, true);
	check_ok("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:1",
		 "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 1, true);
	/* Unbracketed IPv6 is ambiguous with the port separator. */
	check_bad("::1:80");
	check_bad("2001:db8::1:443");
	check_bad("[::1]");
	check_bad("[::1]:");
	check_bad("[::1]80");
	check_bad("[::1:80");
	check_bad("[]:80");
	check_bad("[1.2.3.4]:80");
	check_bad("[example.com]:80");
	check_bad("[::1%lo]:80");
	check_bad("[::1]:80:");
	check_bad("[::1]]:80");
	check_bad("[[::1]]:80");
	check_bad("[:::]:80");
}

static void test_names(void)
{
	char longname[300];

	check_ok("example.com:8388", "example.com", 8388, false);
	check_ok("localhost:1", "localhost", 1, false);
	check_ok("my_host-1.example.org:53", "my_host-1.example.org", 53, false);
	check_ok("example.com.:80", "example.com.", 80, false);
	check_ok("1.2.3.4.example:80", "1.2.3.4.example", 80, false);
	check_bad(":80");
	check_bad("example.com");
	check_bad("exa mple.com:80");
	check_bad("example.com :80");
	check_bad(" example.com:80");
	check_bad("ex*ample.com:80");
	check_bad("example..com:80");
	check_bad(".example.com:80");
	check_bad(".:80");
	check_bad("example.com..:80");
	check_bad("h\xc3\xa9llo.com:80");
	check_bad("a:b:80");
	check_bad("1234:80");

	/* 255 bytes is the limit (labels of 63 bytes, so split with dots). */
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 63; i < sizeof(longname); i += 64)
		longname[i] = '.';
	strcpy(longname + 255, ":80");
	{
		struct hostport hp;

		CHECK_EQ(hostport_parse(longname, false, &hp), 0);
		CHECK_EQ(strlen(hp.host), 255);
	}
	/* 256 bytes, every label still short: rejected for the length alone. */
	strcpy(longname + 256, ":80");
	longname[255] = 'a';
	longname[200] = '.';
	check_bad(longname);
	/* A single label may hold at most 63 bytes. */
	memset(longname, 'a', 64);
	strcpy(longname + 64, ".com:80");
	check_bad(longname);
}

static void test_ports(void)
{
	struct hostport hp;

	check_bad("1.2.3.4:0");
	CHECK_EQ(hostport_parse("1.2.3.4:0", true, &hp), 0);
	CHECK_EQ(hp.port, 0);
	CHECK_EQ(hostport_parse("[::1]:0", true, &hp), 0);
	CHECK_EQ(hp.port, 0);
	CHECK_EQ(hostport_parse("example.com:0", true, &hp), 0);
	check_ok("1.2.3.4:1", "1.2.3.4", 1, true);
	check_ok("1.2.3.4:65535", "1.2.3.4", 65535, true);
	check_ok("1.2.3.4:0080", "1.2.3.4", 80, true);
	check_bad("1.2.3.4:65536");
	check_bad("1.2.3.4:99999999999999999999999");
	check_bad("1.2.3.4:");
	check_bad("1.2.3.4:-1");
	check_bad("1.2.3.4:+80");
	check_bad("1.2.3.4: 80");
	check_bad("1.2.3.4:80 ");
	check_bad("1.2.3.4:80x");
	check_bad("1.2.3.4:80\n");
	check_bad("1.2.3.4:0x50");
	check_bad("[::1]:65536");
	check_bad("[::1]:80 ");
	check_bad("");
	check_bad(":");
}

static void test_format(void)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	char buf[64], tiny[6];
	struct hostport hp;

	CHECK(!strcmp(hostport_format_addr((const struct sockaddr *)&ss, buf, sizeof(buf)),
		      "(address family 1)"));
	/* Truncates, never overflows. */
	CHECK_EQ(hostport_parse("192.168.100.200:65535", false, &hp), 0);
	hostport_format_addr((const struct sockaddr *)&hp.addr, tiny, sizeof(tiny));
	CHECK(!strcmp(tiny, "192.1"));
	CHECK_EQ(hostport_parse("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535", false, &hp), 0);
	CHECK(!strcmp(hostport_format_addr((const struct sockaddr *)&hp.addr, buf, sizeof(buf)),
		      "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535"));
}

/*
 * hostport_split(s, flags) returns rc; host is the span expected (NULL: not
 * checked), port the port (-1: none).
 */
static void check_split_n(const char *s, size_t n, unsigned int flags, int rc, const char *host,
			  int port)
{
	struct hostport_span sp;
	int got = hostport_split(s, n, flags, &sp);

	if (got != rc) {
		fprintf(stderr, "hostport_split(\"%.*s\", %#x) = %d, expected %d\n", (int)n, s,
			flags, got, rc);
		exit(1);
	}
	if (host) {
		CHECK_EQ(sp.host_len, strlen(host));
		CHECK_MEM(sp.host, host, sp.host_len);
	}
	CHECK_EQ(sp.has_port, port >= 0);
	CHECK_EQ(sp.port, port >= 0 ? port : 0);
}

static void check_split(const char *s, unsigned int flags, int rc, const char *host, int port)
{
	check_split_n(s, strlen(s), flags, rc, host, port);
}

static void test_split(void)
{
	const unsigned int opt = HOSTPORT_PORT_OPTIONAL;
	struct hostport_span sp;

	check_split("example.com:8388", 0, HOSTPORT_OK, "example.com", 8388);
	check_split("1.2.3.4:1", 0, HOSTPORT_OK, "1.2.3.4", 1);
	CHECK_EQ(hostport_split("[::1]:80", 8, 0, &sp), HOSTPORT_OK);
	CHECK(sp.bracketed && sp.has_port && sp.port == 80 && sp.host_len == 3);
	CHECK_EQ(hostport_split("::1.x:80", 5, opt, &sp), HOSTPORT_E_COLONS);
	CHECK(!sp.bracketed);
	/* The port: required unless optional; an empty one is never "none". */
	check_split("example.com", 0, HOSTPORT_E_NO_PORT, "example.com", -1);
	check_split("example.com", opt, HOSTPORT_OK, "example.com", -1);
	check_split("[::1]", 0, HOSTPORT_E_NO_PORT, "::1", -1);
	check_split("[::1]", opt, HOSTPORT_OK, "::1", -1);
	check_split("host:", opt, HOSTPORT_E_PORT, "host", -1);
	check_split("[::1]:", opt, HOSTPORT_E_PORT, "::1", -1);
	/* Brackets: the first "]" closes, and only ":" may follow it. */
	check_split("[::1", opt, HOSTPORT_E_BRACKET, "", -1);
	check_split("[", opt, HOSTPORT_E_BRACKET, "", -1);
	check_split("[::1]x", opt, HOSTPORT_E_AFTER, "::1", -1);
	check_split("[::1]80", 0, HOSTPORT_E_AFTER, "::1", -1);
	check_split("[a]b]:1", 0, HOSTPORT_E_AFTER, "a", -1);
	check_split("[[::1]]:80", 0, HOSTPORT_E_AFTER, "[::1", -1);
	/* Nothing is checked of the host: that is the caller's grammar. */
	check_split("[]:80", 0, HOSTPORT_OK, "", 80);
	check_split("[example.com]:80", 0, HOSTPORT_OK, "example.com", 80);
	check_split(":80", 0, HOSTPORT_OK, "", 80);
	check_split("", opt, HOSTPORT_OK, "", -1);
	check_split("", 0, HOSTPORT_E_NO_PORT, "", -1);
	check_split("a b]:80", 0, HOSTPORT_OK, "a b]", 80);
	/* A second colon outside brackets, wherever it is. */
	check_split("::1:80", opt, HOSTPORT_E_COLONS, "", -1);
	check_split("a:b:80", opt, HOSTPORT_E_COLONS, "a", -1);
	check_split("a:80:", 0, HOSTPORT_E_COLONS, "a", -1);
	check_split("[::1]:80:", 0, HOSTPORT_E_PORT, "::1", -1);
	/* Port digits: 1..65535 in 1..5 digits, 0 and more digits by flag. */
	check_split("h:65535", 0, HOSTPORT_OK, "h", 65535);
	check_split("h:65536", HOSTPORT_PORT_LONG, HOSTPORT_E_PORT, "h", -1);
	check_split("h:0", 0, HOSTPORT_E_PORT, "h", -1);
	check_split("h:0", HOSTPORT_PORT_ZERO, HOSTPORT_OK, "h", 0);
	check_split("h:00000", HOSTPORT_PORT_ZERO, HOSTPORT_OK, "h", 0);
	check_split("h:00080", 0, HOSTPORT_OK, "h", 80);
	check_split("h:000080", 0, HOSTPORT_E_PORT, "h", -1);
	check_split("h:000080", HOSTPORT_PORT_LONG, HOSTPORT_OK, "h", 80);
	check_split("h:99999999999999999999999", HOSTPORT_PORT_LONG, HOSTPORT_E_PORT, "h", -1);
	check_split("h:+80", 0, HOSTPORT_E_PORT, "h", -1);
	check_split("h:-1", HOSTPORT_PORT_ZERO, HOSTPORT_E_PORT, "h", -1);
	check_split("h: 80", 0, HOSTPORT_E_PORT, "h", -1);
	check_split("h:80 ", 0, HOSTPORT_E_PORT, "h", -1);
	check_split("h:0x50", 0, HOSTPORT_E_PORT, "h", -1);
	/* Bytes, not a string: the length ends it, a NUL is a byte like others. */
	check_split_n("example.com:80xyz", 14, 0, HOSTPORT_OK, "example.com", 80);
	check_split_n("[::1]:443]", 9, 0, HOSTPORT_OK, "::1", 443);
	check_split_n("a\0b:80", 6, 0, HOSTPORT_OK, NULL, 80);
	check_split_n("h:8\0", 4, 0, HOSTPORT_E_PORT, "h", -1);
	check_split_n("[::1]", 4, opt, HOSTPORT_E_BRACKET, "", -1);
}

static void test_sockaddr(void)
{
	static const uint8_t ip4[4] = { 1, 2, 3, 4 };
	struct sockaddr_storage un = { .ss_family = AF_UNIX }, copy, ss;
	struct sockaddr *sa = (struct sockaddr *)&ss;
	struct hostport a, b;
	struct sockaddr *pa = (struct sockaddr *)&a.addr, *pb = (struct sockaddr *)&b.addr;
	char buf[80];

	/* IPv4: length, port both ways (host order outside, network inside). */
	CHECK_EQ(sockaddr_fill(&ss, AF_INET, ip4, 80), sizeof(struct sockaddr_in));
	CHECK_EQ(sockaddr_len(sa), sizeof(struct sockaddr_in));
	CHECK_EQ(sockaddr_port(sa), 80);
	CHECK_EQ(((struct sockaddr_in *)sa)->sin_port, htons(80));
	CHECK(!strcmp(hostport_format_addr(sa, buf, sizeof(buf)), "1.2.3.4:80"));
	sockaddr_set_port(sa, 8388);
	CHECK_EQ(((struct sockaddr_in *)sa)->sin_port, htons(8388));
	CHECK(!strcmp(hostport_format_addr(sa, buf, sizeof(buf)), "1.2.3.4:8388"));
	CHECK_EQ(hostport_parse("1.2.3.4:8388", false, &a), 0);
	CHECK(!memcmp(&a.addr, &ss, sizeof(ss))); /* the parser fills the same way */
	CHECK(sockaddr_equal(pa, sa) && sockaddr_same_ip(pa, sa));
	sockaddr_set_port(pa, 1);
	CHECK(!sockaddr_equal(pa, sa) && sockaddr_same_ip(pa, sa));
	CHECK_EQ(hostport_parse("1.2.3.5:8388", false, &b), 0);
	CHECK(!sockaddr_equal(pb, sa) && !sockaddr_same_ip(pb, sa));
	/* The IPv4-mapped IPv6 address is another family: not the same here. */
	CHECK_EQ(hostport_parse("[::ffff:1.2.3.4]:8388", false, &b), 0);
	CHECK(!sockaddr_equal(pb, sa) && !sockaddr_same_ip(pb, sa));

	/* IPv6. */
	CHECK_EQ(sockaddr_fill(&ss, AF_INET6, in6addr_loopback.s6_addr, 53),
		 sizeof(struct sockaddr_in6));
	CHECK_EQ(sockaddr_len(sa), sizeof(struct sockaddr_in6));
	CHECK_EQ(sockaddr_port(sa), 53);
	CHECK(!strcmp(hostport_format_addr(sa, buf, sizeof(buf)), "[::1]:53"));
	sockaddr_set_port(sa, 0);
	CHECK_EQ(((struct sockaddr_in6 *)sa)->sin6_port, 0);
	CHECK(!strcmp(hostport_format_addr(sa, buf, sizeof(buf)), "[::1]:0"));
	CHECK_EQ(hostport_parse("[::1]:0", true, &a), 0);
	CHECK(!memcmp(&a.addr, &ss, sizeof(ss)));
	CHECK(sockaddr_equal(pa, sa));
	CHECK_EQ(hostport_parse("[::2]:0", true, &b), 0);
	CHECK(!sockaddr_same_ip(pb, sa) && !sockaddr_equal(pb, sa));
	sockaddr_set_port(pa, 65535);
	CHECK_EQ(sockaddr_port(pa), 65535);
	CHECK(sockaddr_same_ip(pa, sa) && !sockaddr_equal(pa, sa));

	/* Any other family: no length, no port, equal to nothing, left alone. */
	copy = un;
	CHECK_EQ(sockaddr_len((struct sockaddr *)&un), 0);
	CHECK_EQ(sockaddr_port((struct sockaddr *)&un), 0);
	sockaddr_set_port((struct sockaddr *)&un, 80);
	CHECK(!memcmp(&un, &copy, sizeof(un)));
	CHECK(!sockaddr_same_ip((struct sockaddr *)&un, (struct sockaddr *)&copy));
	CHECK(!sockaddr_equal((struct sockaddr *)&un, (struct sockaddr *)&copy));
}

int main(void)
{
	test_ipv4();
	test_ipv6();
	test_names();
	test_ports();
	test_format();
	test_split();
	test_sockaddr();
	printf("test_hostport: OK\n");
	return 0;
}
