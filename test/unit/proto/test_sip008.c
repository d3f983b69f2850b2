/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/sip008: the example document of the SIP008 text
 * (shadowsocks-org, "SIP008 Online Configuration Delivery"), optional
 * fields, servers with methods ssring does not know, and one check per
 * error message.
 */
#include "proto/sip008.h"

#include <errno.h>

#include "../check.h"

static char err[256];
static struct sip008_doc d;

static int parse(const char *s)
{
	return sip008_parse(s, strlen(s), &d, err, sizeof(err));
}

#define EXPECT_BAD(text, want)                                                                  \
	do {                                                                                 \
		CHECK_EQ(parse(text), -EINVAL);                                              \
		if (!strstr(err, (want))) {                                                  \
			fprintf(stderr, "%s:%d: message '%s' lacks '%s'\n", __FILE__, __LINE__, \
				err, (want));                                                \
			exit(1);                                                             \
		}                                                                            \
		CHECK(d.s == NULL && d.n == 0);                                              \
	} while (0)

static void test_example(void)
{
	/* SIP008's example, as the document gives it */
	CHECK_EQ(parse("{\n"
		       "    \"version\": 1,\n"
		       "    \"servers\": [\n"
		       "        {\n"
		       "            \"id\": \"27b8a625-4f4b-4428-9f0f-8a2317db7c79\",\n"
		       "            \"remarks\": \"Name of the server\",\n"
		       "            \"server\": \"example.com\",\n"
		       "            \"server_port\": 8388,\n"
		       "            \"password\": \"example\",\n"
		       "            \"method\": \"chacha20-ietf-poly1305\",\n"
		       "            \"plugin\": \"xxx\",\n"
		       "            \"plugin_opts\": \"xxxxx\"\n"
		       "        }\n"
		       "    ],\n"
		       "    \"bytes_used\": 274877906944,\n"
		       "    \"bytes_remaining\": 824633720832\n"
		       "}"),
		 0);
	CHECK_EQ(d.n, 1);
	CHECK_EQ(d.n_usable, 1);
	CHECK(!strcmp(d.s[0].id, "27b8a625-4f4b-4428-9f0f-8a2317db7c79"));
	CHECK(!strcmp(d.s[0].remarks, "Name of the server"));
	CHECK(!strcmp(d.s[0].host, "example.com") && d.s[0].port == 8388);
	CHECK(!strcmp(d.s[0].password, "example"));
	CHECK(!strcmp(d.s[0].method, "chacha20-ietf-poly1305") && d.s[0].usable);
	CHECK(!strcmp(d.s[0].plugin, "xxx") && !strcmp(d.s[0].plugin_opts, "xxxxx"));
	CHECK_EQ(d.bytes_used, 274877906944LL);
	CHECK_EQ(d.bytes_remaining, 824633720832LL);
	CHECK(sip008_first(&d) == &d.s[0]);
	sip008_free(&d);
	CHECK(d.s == NULL && d.n == 0);
}

static void test_usable(void)
{
	/* an unknown method first: kept, not usable; the 2022 one is first usable */
	CHECK_EQ(parse("{\"version\":1,\"servers\":["
		       "{\"server\":\"a.example\",\"server_port\":1,\"password\":\"p\",\"method\":\"rc4-md5\"},"
		       "{\"server\":\"2001:db8::1\",\"server_port\":2,\"password\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
		       "\"method\":\"2022-blake3-aes-128-gcm\",\"remarks\":null}]}"),
		 0);
	CHECK_EQ(d.n, 2);
	CHECK_EQ(d.n_usable, 1);
	CHECK(!d.s[0].usable && d.s[1].usable);
	CHECK(sip008_first(&d) == &d.s[1]);
	CHECK(!strcmp(d.s[1].host, "2001:db8::1") && d.s[1].port == 2);
	CHECK_EQ(d.bytes_used, -1);
	sip008_free(&d);
}

static void test_errors(void)
{
	EXPECT_BAD("", "not JSON");
	EXPECT_BAD("{\"version\":1,\"servers\":[]", "not JSON");
	EXPECT_BAD("[1]", "must be a JSON object");
	EXPECT_BAD("{\"servers\":[]}", "\"version\" must be 1");
	EXPECT_BAD("{\"version\":2,\"servers\":[]}", "\"version\" must be 1");
	EXPECT_BAD("{\"version\":1}", "\"servers\" must be an array");
	EXPECT_BAD("{\"version\":1,\"servers\":[]}", "\"servers\" is empty");
	EXPECT_BAD("{\"version\":1,\"version\":1,\"servers\":[]}", "not JSON");
	EXPECT_BAD("{\"version\":1,\"servers\":[3]}", "servers[0]: must be an object");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server_port\":1,\"password\":\"p\","
		   "\"method\":\"aes-256-gcm\"}]}",
		   "servers[0]: \"server\" is missing");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"password\":\"p\","
		   "\"method\":\"aes-256-gcm\"}]}",
		   "servers[0]: \"server_port\" is missing");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":0,\"password\":\"p\","
		   "\"method\":\"aes-256-gcm\"}]}",
		   "\"server_port\" must be a number from 1 to 65535");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":\"80\",\"password\":\"p\","
		   "\"method\":\"aes-256-gcm\"}]}",
		   "\"server_port\" must be a number");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":1,"
		   "\"method\":\"aes-256-gcm\"}]}",
		   "servers[0]: \"password\" is missing");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":1,\"password\":\"\","
		   "\"method\":\"aes-256-gcm\"}]}",
		   "servers[0]: \"password\" is empty");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":1,\"password\":7,"
		   "\"method\":\"aes-256-gcm\"}]}",
		   "\"password\" must be a string");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":1,\"password\":\"a\\u0000b\","
		   "\"method\":\"aes-256-gcm\"}]}",
		   "is not allowed");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"bad host!\",\"server_port\":1,\"password\":\"p\","
		   "\"method\":\"aes-256-gcm\"}]}",
		   "\"server\" is not a host name or an address");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":1,\"password\":\"p\","
		   "\"method\":\"aes-256-gcm\",\"plugin_opts\":\"x\"}]}",
		   "\"plugin_opts\" without \"plugin\"");
	EXPECT_BAD("{\"version\":1,\"servers\":[{\"server\":\"h\",\"server_port\":1,\"password\":\"p\","
		   "\"method\":\"rc4-md5\"}]}",
		   "no server has a method ssring knows (the first has 'rc4-md5')");
	{
		static char big[SIP008_DOC_MAX + 2];

		memset(big, ' ', sizeof(big) - 1);
		CHECK_EQ(sip008_parse(big, sizeof(big) - 1, &d, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "over") != NULL);
	}
}

int main(void)
{
	test_example();
	test_usable();
	test_errors();
	printf("test_sip008: ok\n");
	return 0;
}
