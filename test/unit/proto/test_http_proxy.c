/* SPDX-License-Identifier: MIT */
/*
 * HTTP proxy codecs: request head parsing (every form and error class, every
 * truncation, size limits), byte-exact rewrites of realistic requests,
 * status lines, and the body framer fed at every split point.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "check.h"
#include "proto/http_proxy.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static int parse_str(const char *s, struct http_request *r)
{
	return http_parse_request((const uint8_t *)s, strlen(s), r);
}

static void check_prefixes(const uint8_t *b, size_t n)
{
	struct http_request r;

	for (size_t i = 0; i < n; i++)
		CHECK_EQ(http_parse_request(b, i, &r), -EAGAIN);
}

/* Rewrite must fit exactly, and fail cleanly in anything smaller. */
static void check_rewrite(const char *in, const char *want)
{
	const uint8_t *b = (const uint8_t *)in;
	struct http_request r;
	uint8_t out[4096];
	size_t wlen = strlen(want);
	int n;

	CHECK_EQ(http_parse_request(b, strlen(in), &r), (int)r.head_len);
	n = http_rewrite_request(b, &r, out, sizeof(out));
	if (n != (int)wlen || memcmp(out, want, wlen) != 0) {
		fprintf(stderr, "rewrite of:\n%s\ngave (%d):\n%.*s\nwanted:\n%s\n", in, n,
			n > 0 ? n : 0, (const char *)out, want);
		exit(1);
	}
	CHECK_EQ(http_rewrite_request(b, &r, out, wlen), (int)wlen);
	for (size_t i = 0; i < wlen; i++)
		CHECK_EQ(http_rewrite_request(b, &r, out, i), -ENOSPC);
}

static void test_curl_get(void)
{
	static const char req[] = "GET http://127.0.0.1:8080/a?b HTTP/1.1\r\n"
				  "Host: 127.0.0.1:8080\r\n"
				  "User-Agent: curl/7.88.1\r\n"
				  "Accept: */*\r\n"
				  "Proxy-Connection: Keep-Alive\r\n"
				  "\r\n";
	static const char want[] = "GET /a?b HTTP/1.1\r\n"
				   "Host: 127.0.0.1:8080\r\n"
				   "User-Agent: curl/7.88.1\r\n"
				   "Accept: */*\r\n"
				   "Connection: keep-alive\r\n"
				   "\r\n";
	const uint8_t ip[4] = { 127, 0, 0, 1 };
	struct http_request r;

	CHECK_EQ(http_parse_request(S(req), &r), (int)sizeof(req) - 1);
	CHECK(strcmp(r.method, "GET") == 0);
	CHECK(!r.is_connect);
	CHECK_EQ(r.target.atyp, SSADDR_ATYP_IPV4);
	CHECK_MEM(r.target.u.ipv4, ip, 4);
	CHECK_EQ(r.target.port, 8080);
	CHECK_EQ(r.path_len, 4);
	CHECK_MEM(req + r.path_off, "/a?b", 4);
	CHECK_EQ(r.authority_len, 14);
	CHECK_MEM(req + r.authority_off, "127.0.0.1:8080", 14);
	CHECK_EQ(r.version_minor, 1);
	CHECK(r.keep_alive);
	CHECK_EQ(r.content_length, -1);
	CHECK(!r.chunked);
	CHECK_EQ(r.nheaders, 4);
	CHECK_EQ(r.proxy_auth_len, 0);
	check_prefixes(S(req));
	check_rewrite(req, want);
}

static void test_connection_list(void)
{
	static const char req[] = "POST http://example.com/submit HTTP/1.1\r\n"
				  "Host: example.com\r\n"
				  "Connection: close, X-Foo\r\n"
				  "X-Foo: secret\r\n"
				  "X-Bar:kept  \r\n"
				  "Content-Length: 5\r\n"
				  "Keep-Alive: timeout=5\r\n"
				  "TE: trailers\r\n"
				  "Trailer: X-T\r\n"
				  "Upgrade: h2c\r\n"
				  "Proxy-Authenticate: x\r\n"
				  "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
				  "\r\n"
				  "helloGET";
	static const char want[] = "POST /submit HTTP/1.1\r\n"
				   "Host: example.com\r\n"
				   "X-Bar: kept\r\n"
				   "Content-Length: 5\r\n"
				   "Connection: close\r\n"
				   "\r\n";
	struct http_request r;
	struct http_body b;
	size_t used;
	int head = http_parse_request(S(req), &r);

	CHECK_EQ(head, (int)sizeof(req) - 1 - 8);
	CHECK(strcmp(r.method, "POST") == 0);
	CHECK_EQ(r.target.atyp, SSADDR_ATYP_DOMAIN);
	CHECK(strcmp(r.target.u.domain.name, "example.com") == 0);
	CHECK_EQ(r.target.port, 80);
	CHECK(!r.keep_alive);
	CHECK_EQ(r.content_length, 5);
	CHECK_EQ(r.proxy_auth_len, 18);
	CHECK_MEM(req + r.proxy_auth_off, "Basic dXNlcjpwYXNz", 18);
	check_prefixes((const uint8_t *)req, (size_t)head);
	check_rewrite(req, want);

	http_body_init(&b, &r);
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)req + head, 8, &used), 1);
	CHECK_EQ(used, 5);
	/* Done stays done. */
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)req + head + 5, 3, &used), 1);
	CHECK_EQ(used, 0);
}

static void test_rewrite_forms(void)
{
	/* HTTP/1.0, bare LF, no Host, no path, explicit port, mixed-case scheme. */
	check_rewrite("GET HTTP://Example.COM:81 HTTP/1.0\nAccept: x\n\n",
		      "GET / HTTP/1.0\r\nHost: Example.COM:81\r\nAccept: x\r\n"
		      "Connection: close\r\n\r\n");
	/* 1.0 keep-alive via Proxy-Connection; query without a path. */
	check_rewrite("GET http://h?q=1 HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n",
		      "GET /?q=1 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
	/* A received Host is replaced by the target's, in place. */
	check_rewrite("PUT http://[::1]:8080/x HTTP/1.1\r\nA: 1\r\nhost: evil\r\nB: 2\r\n\r\n",
		      "PUT /x HTTP/1.1\r\nA: 1\r\nHost: [::1]:8080\r\nB: 2\r\n"
		      "Connection: keep-alive\r\n\r\n");
	/* Connection tokens are case-insensitive, across several Connection lines. */
	check_rewrite("GET http://a/ HTTP/1.1\r\nConnection: x-one\r\nconnection: X-TWO\r\n"
		      "X-One: 1\r\nx-two: 2\r\nX-Three: 3\r\n\r\n",
		      "GET / HTTP/1.1\r\nHost: a\r\nX-Three: 3\r\nConnection: keep-alive\r\n\r\n");
	/* Close wins over keep-alive. */
	check_rewrite("GET http://a/ HTTP/1.1\r\nConnection: keep-alive\r\n"
		      "Proxy-Connection: close\r\n\r\n",
		      "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	/* Chunked framing headers are end-to-end and pass through. */
	check_rewrite("POST http://a/u HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		      "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
		      "Connection: keep-alive\r\n\r\n");
	/* Leading empty lines are skipped. */
	check_rewrite("\r\n\nDELETE http://a/%41 HTTP/1.1\r\n\r\n",
		      "DELETE /%41 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
}

static void test_connect(void)
{
	static const char req[] = "CONNECT example.com:443 HTTP/1.1\r\n"
				  "Host: example.com:443\r\n"
				  "User-Agent: curl/7.88.1\r\n"
				  "\r\n";
	struct http_request r;
	struct http_body b;
	uint8_t out[256];
	uint8_t ip6[16];
	size_t used;

	CHECK_EQ(http_parse_request(S(req), &r), (int)sizeof(req) - 1);
	CHECK(r.is_connect);
	CHECK_EQ(r.target.atyp, SSADDR_ATYP_DOMAIN);
	CHECK(strcmp(r.target.u.domain.name, "example.com") == 0);
	CHECK_EQ(r.target.port, 443);
	CHECK_EQ(r.path_len, 0);
	CHECK(r.keep_alive);
	CHECK_EQ(http_rewrite_request((const uint8_t *)req, &r, out, sizeof(out)), -EINVAL);
	http_body_init(&b, &r);
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)"\x16\x03\x01", 3, &used), 1);
	CHECK_EQ(used, 0);
	check_prefixes(S(req));

	CHECK(parse_str("CONNECT [2001:db8::1]:8443 HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK_EQ(r.target.atyp, SSADDR_ATYP_IPV6);
	inet_pton(AF_INET6, "2001:db8::1", ip6);
	CHECK_MEM(r.target.u.ipv6, ip6, 16);
	CHECK_EQ(r.target.port, 8443);
	CHECK(!r.keep_alive);
	CHECK(parse_str("CONNECT 10.0.0.1:22 HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK_EQ(r.target.atyp, SSADDR_ATYP_IPV4);
	CHECK_EQ(r.target.port, 22);
	/* Not a valid IPv4 literal: a name, left to the remote resolver. */
	CHECK(parse_str("CONNECT 1.2.3.256:1 HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK_EQ(r.target.atyp, SSADDR_ATYP_DOMAIN);
	CHECK(parse_str("CONNECT a:65535 HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK_EQ(r.target.port, 65535);
	/* The method is case-sensitive: lower-case "connect" wants absolute-form. */
	CHECK_EQ(parse_str("connect a:443 HTTP/1.1\r\n\r\n", &r), -EINVAL);
}

static void test_fields(void)
{
	struct http_request r;

	CHECK(parse_str("GET http://a/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
	CHECK(r.keep_alive);
	CHECK(parse_str("GET http://a/ HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
	CHECK_EQ(r.version_minor, 0);
	CHECK(parse_str("GET http://a/ HTTP/1.1\r\nConnection: upgrade, CLOSE\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
	CHECK(parse_str("POST http://a/ HTTP/1.1\r\nContent-Length: 5, 5\r\n"
			"content-length: 005\r\n\r\n", &r) > 0);
	CHECK_EQ(r.content_length, 5);
	CHECK(parse_str("POST http://a/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) > 0);
	CHECK_EQ(r.content_length, 0);
	CHECK(parse_str("POST http://a/ HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n",
			&r) > 0);
	CHECK_EQ(r.content_length, 999999999999999999LL);
	CHECK(parse_str("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
			"Transfer-Encoding: CHUNKED\r\n\r\n", &r) > 0);
	CHECK(r.chunked);
	CHECK_EQ(r.content_length, -1);
	/* OWS around values, tabs, obs-text and an empty value are all fine. */
	CHECK(parse_str("GET http://a/ HTTP/1.1\r\nX-A:\t v \t\r\nX-B: caf\xc3\xa9\r\nX-C:\r\n\r\n",
			&r) > 0);
	CHECK_EQ(r.nheaders, 3);
	CHECK_EQ(r.headers[0].value_len, 1);
	CHECK_EQ(r.headers[2].value_len, 0);
	/* Long method at the limit; token punctuation in the method. */
	CHECK(parse_str("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDE http://a/ HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK_EQ(strlen(r.method), HTTP_METHOD_MAX);
	CHECK(parse_str("M-SEARCH! http://a/ HTTP/1.1\r\n\r\n", &r) > 0);
	/* Names with every allowed host character; the longest name. */
	CHECK(parse_str("GET http://a-b.c_d~E9/ HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK(strcmp(r.target.u.domain.name, "a-b.c_d~E9") == 0);
	{
		char req[400];

		snprintf(req, sizeof(req), "GET http://%0255d/ HTTP/1.1\r\n\r\n", 7);
		CHECK(parse_str(req, &r) > 0);
		CHECK_EQ(r.target.u.domain.len, 255);
		snprintf(req, sizeof(req), "GET http://%0256d/ HTTP/1.1\r\n\r\n", 7);
		CHECK_EQ(parse_str(req, &r), -EINVAL);
	}
}

/* Each must be refused as malformed or unusable (-EINVAL). */
static const char *const bad_heads[] = {
	/* Request line and target. */
	"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET https://a/ HTTP/1.1\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\n\r\n",
	"GET ftp://a/ HTTP/1.1\r\n\r\n",
	"GET http:/a/ HTTP/1.1\r\n\r\n",
	"GET http://a/ HTTP/2.0\r\n\r\n",
	"GET http://a/ HTTP/1.2\r\n\r\n",
	"GET http://a/ http/1.1\r\n\r\n",
	"GET http://a/ HTTP/1.1 \r\n\r\n",
	"GET http://a/ HTTP/1.10\r\n\r\n",
	"GET  http://a/ HTTP/1.1\r\n\r\n",
	"GET http://a/  HTTP/1.1\r\n\r\n",
	" GET http://a/ HTTP/1.1\r\n\r\n",
	"GET\thttp://a/ HTTP/1.1\r\n\r\n",
	"GET http://a/HTTP/1.1\r\n\r\n",
	"GET\r\n\r\n",
	"G(T http://a/ HTTP/1.1\r\n\r\n",
	"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF http://a/ HTTP/1.1\r\n\r\n",
	"GET http://user:pw@a/ HTTP/1.1\r\n\r\n",
	"GET http://a/#frag HTTP/1.1\r\n\r\n",
	"GET http:/// HTTP/1.1\r\n\r\n",
	"GET http://:80/ HTTP/1.1\r\n\r\n",
	"GET http://a:0/ HTTP/1.1\r\n\r\n",
	"GET http://a:65536/ HTTP/1.1\r\n\r\n",
	"GET http://a:/ HTTP/1.1\r\n\r\n",
	"GET http://a:8x/ HTTP/1.1\r\n\r\n",
	"GET http://a:000080/ HTTP/1.1\r\n\r\n",
	"GET http://a:1:2/ HTTP/1.1\r\n\r\n",
	"GET http://[::1/ HTTP/1.1\r\n\r\n",
	"GET http://[]/ HTTP/1.1\r\n\r\n",
	"GET http://[v1.x]/ HTTP/1.1\r\n\r\n",
	"GET http://[fe80::1%25eth0]/ HTTP/1.1\r\n\r\n",
	"GET http://[::1]x/ HTTP/1.1\r\n\r\n",
	"GET http://[1.2.3.4]/ HTTP/1.1\r\n\r\n",
	"GET http://a%20b/ HTTP/1.1\r\n\r\n",
	"GET http://a!b/ HTTP/1.1\r\n\r\n",
	"GET http://a/\x7f HTTP/1.1\r\n\r\n",
	"GET http://a/\x80 HTTP/1.1\r\n\r\n",
	"CONNECT a HTTP/1.1\r\n\r\n",
	"CONNECT a: HTTP/1.1\r\n\r\n",
	"CONNECT a:0 HTTP/1.1\r\n\r\n",
	"CONNECT a:443/ HTTP/1.1\r\n\r\n",
	"CONNECT http://a:443 HTTP/1.1\r\n\r\n",
	"CONNECT [::1] HTTP/1.1\r\n\r\n",
	"CONNECT :443 HTTP/1.1\r\n\r\n",
	/* Header lines. */
	"GET http://a/ HTTP/1.1\r\nX-Foo bar\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX-Foo : bar\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX-Foo\t: bar\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\n: bar\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX-Foo: a\r\n  b\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\n\tX-Foo: a\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX-Foo: a\x01" "b\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX-Foo: a\x7f\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX-Foo: a\rb\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX-Foo: a\r\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nX(Foo): a\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
	/* Framing. */
	"POST http://a/ HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: \r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: ,\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	"Content-Length: 5\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\n"
	"Transfer-Encoding: chunked\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	"Transfer-Encoding: chunked\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
	"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n",
	"POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
};

static void test_invalid(void)
{
	struct http_request r;

	for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
		int res = parse_str(bad_heads[i], &r);

		if (res != -EINVAL) {
			fprintf(stderr, "bad_heads[%zu] gave %d: %s\n", i, res, bad_heads[i]);
			exit(1);
		}
	}
	/* NUL bytes anywhere are control characters. */
	CHECK_EQ(http_parse_request(S("GET http://a/\0 HTTP/1.1\r\n\r\n"), &r), -EINVAL);
	CHECK_EQ(http_parse_request(S("GET http://a/ HTTP/1.1\r\nX: \0\r\n\r\n"), &r), -EINVAL);
	CHECK_EQ(http_parse_request(S("G\0T http://a/ HTTP/1.1\r\n\r\n"), &r), -EINVAL);
}

static void test_limits(void)
{
	static uint8_t buf[HTTP_HEAD_MAX + 64];
	static const char line[] = "GET http://a/ HTTP/1.1\r\n";
	struct http_request r;
	size_t n = sizeof(line) - 1;

	/* Nothing but a request line and filler: -EAGAIN below the limit, then -E2BIG. */
	memcpy(buf, line, n);
	memcpy(buf + n, "X: ", 3);
	memset(buf + n + 3, 'y', sizeof(buf) - n - 3);
	CHECK_EQ(http_parse_request(buf, HTTP_HEAD_MAX - 1, &r), -EAGAIN);
	CHECK_EQ(http_parse_request(buf, HTTP_HEAD_MAX, &r), -E2BIG);
	CHECK_EQ(http_parse_request(buf, sizeof(buf), &r), -E2BIG);
	/* A head of exactly HTTP_HEAD_MAX bytes is accepted; one more is not. */
	memcpy(buf + HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
	CHECK_EQ(http_parse_request(buf, sizeof(buf), &r), HTTP_HEAD_MAX);
	CHECK_EQ(r.nheaders, 1);
	CHECK_EQ(r.headers[0].value_len, HTTP_HEAD_MAX - n - 3 - 4);
	memset(buf + HTTP_HEAD_MAX - 4, 'y', 4);
	memcpy(buf + HTTP_HEAD_MAX - 3, "\r\n\r\n", 4);
	CHECK_EQ(http_parse_request(buf, sizeof(buf), &r), -E2BIG);
	CHECK_EQ(http_parse_request(buf, HTTP_HEAD_MAX + 1, &r), -E2BIG);

	/* 100 header lines are fine, 101 are not. */
	memcpy(buf, line, n);
	for (int i = 0; i < HTTP_HEADERS_MAX + 1; i++)
		memcpy(buf + n + (size_t)i * 6, "X: 1\r\n", 6);
	memcpy(buf + n + HTTP_HEADERS_MAX * 6, "\r\n", 2);
	CHECK_EQ(http_parse_request(buf, n + HTTP_HEADERS_MAX * 6 + 2, &r),
		 (int)(n + HTTP_HEADERS_MAX * 6 + 2));
	CHECK_EQ(r.nheaders, HTTP_HEADERS_MAX);
	memcpy(buf + n + HTTP_HEADERS_MAX * 6, "X: 1\r\n\r\n", 8);
	CHECK_EQ(http_parse_request(buf, n + (HTTP_HEADERS_MAX + 1) * 6 + 2, &r), -E2BIG);

	/* Only empty lines: still waiting for a request line. */
	CHECK_EQ(http_parse_request(S("\r\n\r\n\n"), &r), -EAGAIN);
	CHECK_EQ(http_parse_request(S(""), &r), -EAGAIN);
}

static void test_status(void)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
				  "Connection: close\r\n\r\n";
	static const char auth[] = "HTTP/1.1 407 Proxy Authentication Required\r\n"
				   "Content-Length: 0\r\n\r\n";
	uint8_t out[256];

	CHECK_EQ(http_build_status(out, sizeof(out), 200, "Connection established", false),
		 sizeof(ok) - 1);
	CHECK_MEM(out, ok, sizeof(ok) - 1);
	CHECK_EQ(http_build_status(out, sizeof(out), 200, NULL, false), sizeof(ok) - 1);
	CHECK_MEM(out, ok, sizeof(ok) - 1);
	CHECK_EQ(http_build_status(out, sizeof(bad) - 1, 400, "Bad Request", true),
		 sizeof(bad) - 1);
	CHECK_MEM(out, bad, sizeof(bad) - 1);
	CHECK_EQ(http_build_status(out, sizeof(bad) - 2, 400, "Bad Request", true), 0);
	CHECK_EQ(http_build_status(out, sizeof(out), 407, NULL, false), sizeof(auth) - 1);
	CHECK_MEM(out, auth, sizeof(auth) - 1);
	CHECK_EQ(http_build_status(out, sizeof(out), 502, NULL, true), 26 + 19 + 19 + 2);
	CHECK_MEM(out, "HTTP/1.1 502 Bad Gateway\r\n", 26);
	CHECK_EQ(http_build_status(out, sizeof(out), 599, NULL, false), 22 + 19 + 2);
	CHECK_MEM(out, "HTTP/1.1 599 Unknown\r\n", 22);
	CHECK_EQ(http_build_status(out, sizeof(out), 99, "x", false), 0);
	CHECK_EQ(http_build_status(out, sizeof(out), 1000, "x", false), 0);
	CHECK_EQ(http_build_status(out, sizeof(out), 400, "a\r\nX-Evil: 1", false), 0);
	CHECK_EQ(http_build_status(out, 0, 200, NULL, false), 0);
}

/* Feed body in two pieces split at k; return total consumed, or -1 on error. */
static long feed_split(const struct http_request *r, const uint8_t *b, size_t n, size_t k)
{
	struct http_body body;
	size_t used1 = 0, used2 = 0;
	int res;

	http_body_init(&body, r);
	res = http_body_feed(&body, b, k, &used1);
	if (res < 0)
		return -1;
	if (res == 1)
		return (long)used1;
	CHECK_EQ(used1, k);
	res = http_body_feed(&body, b + k, n - k, &used2);
	if (res < 0)
		return -1;
	return res == 1 ? (long)(used1 + used2) : -2;
}

static long feed_bytewise(const struct http_request *r, const uint8_t *b, size_t n)
{
	struct http_body body;
	size_t used;
	int res = 0;

	http_body_init(&body, r);
	for (size_t i = 0; i < n; i++) {
		res = http_body_feed(&body, b + i, 1, &used);
		if (res < 0)
			return -1;
		if (res == 1)
			return (long)(i + used);
		CHECK_EQ(used, 1);
	}
	return -2;
}

static void test_chunked(void)
{
	static const char body[] = "4\r\nWiki\r\n5;ext=\"a b\"\r\npedia\r\nE \r\n in\r\n\r\nchunks."
				   "\r\n00;last\r\nX-Trailer: 1\r\nX-Two: 2\r\n\r\nGET http://a/";
	const size_t blen = sizeof(body) - 1 - 13;
	struct http_request r;

	CHECK(parse_str("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r) > 0);
	for (size_t k = 0; k <= sizeof(body) - 1; k++)
		CHECK_EQ(feed_split(&r, (const uint8_t *)body, sizeof(body) - 1, k), (long)blen);
	CHECK_EQ(feed_bytewise(&r, (const uint8_t *)body, sizeof(body) - 1), (long)blen);
	/* Minimal bodies, upper-case hex, a 16-digit size. */
	CHECK_EQ(feed_split(&r, S("0\r\n\r\n"), 2), 5);
	CHECK_EQ(feed_split(&r, S("A\r\n0123456789\r\n0\r\n\r\n"), 7), 20);
	CHECK_EQ(feed_bytewise(&r, S("0000000000000000001\r\nx\r\n0\r\n\r\n")), 29);
	CHECK_EQ(feed_bytewise(&r, S("fFfFfFfFfFfFfFfF\r\n")), -2);
	/* Incomplete stays 0, never 1. */
	CHECK_EQ(feed_split(&r, S("4\r\nWiki\r\n0\r\n\r"), 3), -2);
}

static void test_chunked_bad(void)
{
	static const char *const bad[] = {
		"Z\r\n",                     /* not hex */
		"\r\n",                      /* no digits */
		";x\r\n",                    /* extension without a size */
		" 4\r\n",                    /* leading space */
		"4\nWiki\r\n0\r\n\r\n",      /* bare LF after size */
		"4\r\nWikiX\r\n0\r\n\r\n",   /* data longer than the size */
		"4\r\nWiki\n0\r\n\r\n",      /* bare LF after data */
		"4\r\nWiki\r\r\n0\r\n\r\n",  /* CR CR after data */
		"0\r\nX: 1\rY\r\n\r\n",      /* bare CR in a trailer */
		"4\r\nWiki\r\n0\r\n\n",      /* bare LF ending the trailers */
		"0\r\nX: 1\n\r\n",           /* bare LF in a trailer */
		"0\r\nX: \x01\r\n\r\n",      /* control in a trailer */
		"4;a\x01\r\n",               /* control in an extension */
		"4x\r\n",                    /* junk after the size */
		"4\r\r\n",                   /* CR CR */
		"10000000000000000\r\n",     /* 2^64 overflows */
		"-1\r\n",
		"0x4\r\n",
	};
	struct http_request r;
	struct http_body b;
	size_t used;

	CHECK(parse_str("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r) > 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);

		if (feed_bytewise(&r, (const uint8_t *)bad[i], n) != -1 ||
		    feed_split(&r, (const uint8_t *)bad[i], n, n / 2) != -1) {
			fprintf(stderr, "chunked bad[%zu] accepted\n", i);
			exit(1);
		}
	}
	/* Errors stick. */
	http_body_init(&b, &r);
	CHECK_EQ(http_body_feed(&b, S("Z"), &used), -EINVAL);
	CHECK_EQ(http_body_feed(&b, S("0\r\n\r\n"), &used), -EINVAL);
	/* An endless extension or trailer runs into the limit. */
	{
		static uint8_t big[HTTP_HEAD_MAX + 16];

		memset(big, 'a', sizeof(big));
		big[0] = '1';
		big[1] = ';';
		http_body_init(&b, &r);
		CHECK_EQ(http_body_feed(&b, big, sizeof(big), &used), -EINVAL);
		CHECK_EQ(used, HTTP_HEAD_MAX + 1);
		memcpy(big, "0\r\n", 3);
		http_body_init(&b, &r);
		CHECK_EQ(http_body_feed(&b, big, sizeof(big), &used), -EINVAL);
	}
}

static void test_length_body(void)
{
	static const char body[] = "0123456789NEXT";
	struct http_request r;
	struct http_body b;
	size_t used;

	CHECK(parse_str("PUT http://a/ HTTP/1.1\r\nContent-Length: 10\r\n\r\n", &r) > 0);
	for (size_t k = 0; k <= sizeof(body) - 1; k++)
		CHECK_EQ(feed_split(&r, S(body), k), 10);
	CHECK_EQ(feed_bytewise(&r, S(body)), 10);
	http_body_init(&b, &r);
	CHECK_EQ(http_body_feed(&b, S(""), &used), 0);
	CHECK_EQ(used, 0);

	/* No body at all: done before any byte, and a CL of 0 likewise. */
	CHECK(parse_str("GET http://a/ HTTP/1.1\r\n\r\n", &r) > 0);
	http_body_init(&b, &r);
	CHECK_EQ(http_body_feed(&b, S("GET"), &used), 1);
	CHECK_EQ(used, 0);
	CHECK(parse_str("POST http://a/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) > 0);
	http_body_init(&b, &r);
	CHECK_EQ(http_body_feed(&b, S("GET"), &used), 1);
	CHECK_EQ(used, 0);
}

/* Random and mutated heads never crash; successes keep their promises. */
static void test_random(void)
{
	static const char seed[] = "POST http://[::1]:80/p?q HTTP/1.1\r\nHost: x\r\n"
				   "Connection: close, A\r\nA: b\r\nContent-Length: 3\r\n\r\n";
	uint32_t x = 0x9e3779b9;
	uint8_t b[sizeof(seed)];
	uint8_t out[512];
	struct http_request r;

	for (int iter = 0; iter < 100000; iter++) {
		int n, w;

		memcpy(b, seed, sizeof(seed));
		for (int m = 0; m < 3; m++) {
			x = x * 1103515245u + 12345u;
			b[(x >> 8) % (sizeof(seed) - 1)] = (uint8_t)(x >> 20);
		}
		n = http_parse_request(b, sizeof(seed) - 1, &r);
		CHECK(n == -EAGAIN || n == -EINVAL || n == -E2BIG ||
		      (n > 0 && n <= (int)sizeof(b)));
		if (n <= 0 || r.is_connect)
			continue;
		w = http_rewrite_request(b, &r, out, (x >> 4) % sizeof(out));
		CHECK(w == -ENOSPC || (w > 0 && (size_t)w <= sizeof(out)));
	}
}

/* Origin-form requests for ssring's own servers (metrics, API). */
static void test_server_request(void)
{
	static const char get[] = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n"
				  "Authorization: Bearer t0k\r\n\r\n";
	static const char post[] = "POST /srv/users HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	struct http_request r;
	const uint8_t *v;
	size_t n;

	CHECK_EQ(http_parse_server_request((const uint8_t *)get, sizeof(get) - 1, &r),
		 (int)sizeof(get) - 1);
	CHECK(!strcmp(r.method, "GET"));
	CHECK_EQ(r.path_len, 12);
	CHECK(!memcmp(get + r.path_off, "/metrics?x=1", 12));
	CHECK(http_header_value((const uint8_t *)get, &r, "authorization", &v, &n));
	CHECK(n == 10 && !memcmp(v, "Bearer t0k", 10));
	CHECK(!http_header_value((const uint8_t *)get, &r, "cookie", &v, &n));
	CHECK_EQ(http_parse_server_request((const uint8_t *)post, sizeof(post) - 1, &r),
		 (int)sizeof(post) - 6);
	CHECK_EQ(r.content_length, 5);
	/* A proxy request or CONNECT is not for us; nor is a fragment. */
#define B(s) (const uint8_t *)(s), sizeof(s) - 1
	CHECK_EQ(http_parse_server_request(B("GET http://a/ HTTP/1.1\r\n\r\n"), &r), -EINVAL);
	CHECK_EQ(http_parse_server_request(B("CONNECT a:1 HTTP/1.1\r\n\r\n"), &r), -EINVAL);
	CHECK_EQ(http_parse_server_request(B("GET /a#b HTTP/1.1\r\n\r\n"), &r), -EINVAL);
	CHECK_EQ(http_parse_server_request(B("GET /a HTTP/1.1\r\n"), &r), -EAGAIN);
	/* And the proxy parser still refuses origin-form. */
	CHECK_EQ(http_parse_request(B("GET /a HTTP/1.1\r\n\r\n"), &r), -EINVAL);
#undef B
}

int main(void)
{
	test_server_request();
	test_curl_get();
	test_connection_list();
	test_rewrite_forms();
	test_connect();
	test_fields();
	test_invalid();
	test_limits();
	test_status();
	test_chunked();
	test_chunked_bad();
	test_length_body();
	test_random();
	return 0;
}
