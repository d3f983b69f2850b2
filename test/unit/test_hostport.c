/* SPDX-License-Identifier: MIT */
/* Unit tests for hostport: the host:port parser and the sockaddr formatter. */
#include "proto/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

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

int main(void)
{
	test_ipv4();
	test_ipv6();
	test_names();
	test_ports();
	test_format();
	printf("test_hostport: OK\n");
	return 0;
}
