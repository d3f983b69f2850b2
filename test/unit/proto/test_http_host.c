/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for http_host: which Host, Origin and Content-Type values the
 * management API takes (a page in a browser on the host must not get in).
 */
#include "proto/http_host.h"

#include "../check.h"

static const char *const NAMES[] = { "relay.example.com", "Mgmt.Internal" };

static bool host(const char *v)
{
	return http_host_allowed((const uint8_t *)v, strlen(v), NAMES, 2);
}

static bool origin(const char *v)
{
	return http_origin_allowed((const uint8_t *)v, strlen(v), NAMES, 2);
}

static bool json(const char *v)
{
	return http_media_type_is((const uint8_t *)v, strlen(v), "application/json");
}

static void test_host(void)
{
	/* Literals, localhost and the operator's names, with or without a port. */
	CHECK(host("127.0.0.1"));
	CHECK(host("127.0.0.1:6001"));
	CHECK(host("10.1.2.3:80"));
	CHECK(host("[::1]"));
	CHECK(host("[::1]:6001"));
	CHECK(host("[2001:db8::1]:443"));
	CHECK(host("localhost"));
	CHECK(host("LocalHost:6001"));
	CHECK(host("relay.example.com"));
	CHECK(host("RELAY.example.com:8443"));
	CHECK(host("mgmt.internal"));
	/* DNS rebinding: any name the page's author controls. */
	CHECK(!host("evil.example"));
	CHECK(!host("evil.example:6001"));
	CHECK(!host("127.0.0.1.nip.io:6001"));
	CHECK(!host("localhost.evil.example"));
	CHECK(!host("sub.relay.example.com"));
	CHECK(!host("relay.example.com."));
	CHECK(!host("relay.example.co"));
	CHECK(!host("localhost."));
	/* Not literals: short and octal forms are names, and names are refused. */
	CHECK(!host("127.1"));
	CHECK(!host("2130706433"));
	CHECK(!host("0x7f.0.0.1"));
	/* Malformed. */
	CHECK(!host(""));
	CHECK(!host(":6001"));
	CHECK(!host("127.0.0.1:"));
	CHECK(!host("127.0.0.1:65536"));
	CHECK(!host("127.0.0.1:123456"));
	CHECK(!host("127.0.0.1:80:80"));
	CHECK(!host("127.0.0.1:8a"));
	CHECK(!host("::1"));
	CHECK(!host("[::1"));
	CHECK(!host("[::1]x"));
	CHECK(!host("[::1]:"));
	CHECK(!host("[]"));
	CHECK(!host("[127.0.0.1]"));
	CHECK(!host("[::1%lo]"));
	CHECK(!host("user@127.0.0.1"));
	CHECK(!host("127.0.0.1 "));
	CHECK(!host("local host"));
	CHECK(!http_host_allowed((const uint8_t *)"localhost\0.evil", 15, NAMES, 2));
	CHECK(!http_host_allowed((const uint8_t *)"127.0.0.1\0", 10, NAMES, 2));
	/* No names: only literals and localhost. */
	CHECK(http_host_allowed((const uint8_t *)"127.0.0.1", 9, NULL, 0));
	CHECK(!http_host_allowed((const uint8_t *)"relay.example.com", 17, NULL, 0));
}

static void test_origin(void)
{
	CHECK(origin("http://127.0.0.1:6001"));
	CHECK(origin("https://relay.example.com"));
	CHECK(origin("HTTP://localhost:3000"));
	CHECK(origin("http://[::1]:6001"));
	CHECK(!origin("http://evil.example"));
	CHECK(!origin("https://evil.example:6001"));
	CHECK(!origin("null"));
	CHECK(!origin(""));
	CHECK(!origin("http://"));
	CHECK(!origin("file://"));
	CHECK(!origin("ftp://127.0.0.1"));
	CHECK(!origin("chrome-extension://abcdef"));
	CHECK(!origin("http://127.0.0.1/"));
	CHECK(!origin("http://127.0.0.1:6001/path"));
	CHECK(!origin("http://user@127.0.0.1"));
	CHECK(!origin("127.0.0.1"));
}

static void test_media_type(void)
{
	CHECK(json("application/json"));
	CHECK(json("Application/JSON"));
	CHECK(json("application/json; charset=utf-8"));
	CHECK(json("application/json;charset=UTF-8"));
	CHECK(json("  application/json  "));
	CHECK(json("application/json ; x=y"));
	/* What a page may send anywhere without a preflight. */
	CHECK(!json("text/plain"));
	CHECK(!json("text/plain; charset=utf-8"));
	CHECK(!json("application/x-www-form-urlencoded"));
	CHECK(!json("multipart/form-data; boundary=x"));
	/* Near misses. */
	CHECK(!json(""));
	CHECK(!json("application/jsonp"));
	CHECK(!json("application/json-seq"));
	CHECK(!json("application/jso"));
	CHECK(!json("application/json x"));
	CHECK(!json("text/json"));
	CHECK(!json("application/ld+json"));
}

int main(void)
{
	test_host();
	test_origin();
	test_media_type();
	printf("test_http_host: OK\n");
	return 0;
}
