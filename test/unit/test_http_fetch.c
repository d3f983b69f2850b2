/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/http_fetch: https URLs (ports, IPv6, paths and
 * queries, every error), http URLs and the check's GET made from one, and responses framed by Content-Length, by
 * chunked coding (RFC 9112 7.1, with extensions and trailers) and by the
 * end of the connection, fed whole and a byte at a time.
 */
#include "proto/http_fetch.h"

#include <errno.h>

#include "../check.h"

static void test_urls(void)
{
	struct https_url u;
	const char *why = NULL;

#define URL(s) https_url_parse((s), strlen(s), &u, &why)
	CHECK_EQ(URL("https://example.com"), 0);
	CHECK(!strcmp(u.host, "example.com") && u.port == 443 && !strcmp(u.path, "/") &&
	      !u.host_is_ip);
	CHECK_EQ(URL("HTTPS://sub.example.com:8443/a/b.json?x=1&y=2#frag"), 0);
	CHECK(!strcmp(u.host, "sub.example.com") && u.port == 8443);
	CHECK(!strcmp(u.path, "/a/b.json?x=1&y=2"));
	CHECK_EQ(URL("https://[::1]:9443/servers"), 0);
	CHECK(!strcmp(u.host, "::1") && u.port == 9443 && u.host_is_ip && !strcmp(u.path, "/servers"));
	CHECK_EQ(URL("https://127.0.0.1?token=abc"), 0);
	CHECK(u.host_is_ip && !strcmp(u.path, "/?token=abc"));
	CHECK_EQ(URL("http://example.com/"), -EINVAL);
	CHECK(strstr(why, "https://"));
	CHECK_EQ(URL("https://user:pw@example.com/"), -EINVAL);
	CHECK(strstr(why, "user name"));
	CHECK_EQ(URL("https:///x"), -EINVAL);
	CHECK(strstr(why, "host is empty"));
	CHECK_EQ(URL("https://h.example:0/"), -EINVAL);
	CHECK_EQ(URL("https://h.example:65536/"), -EINVAL);
	CHECK_EQ(URL("https://h.example:/"), -EINVAL);
	CHECK(strstr(why, "port"));
	CHECK_EQ(URL("https://[::1/"), -EINVAL);
	CHECK_EQ(URL("https://[nope]/"), -EINVAL);
	CHECK_EQ(URL("https://bad_host!/"), -EINVAL);
	CHECK_EQ(URL("https://h.example/a b"), -EINVAL);
#undef URL
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* http:// URLs (the upstream check) and the GET made from one. */
static void test_http_get(void)
{
	struct https_url u;
	const char *why = NULL;
	char req[256];

#define URL(s) http_url_parse((s), strlen(s), &u, &why)
	CHECK_EQ(URL("http://detectportal.example/success.txt"), 0);
	CHECK(!strcmp(u.host, "detectportal.example") && u.port == 80 &&
	      !strcmp(u.path, "/success.txt"));
	CHECK_EQ(http_get_request(&u, req, sizeof(req)), (int)strlen(req));
	CHECK(!strcmp(req, "GET /success.txt HTTP/1.1\r\nHost: detectportal.example\r\n"
			   "Accept: */*\r\nConnection: close\r\n\r\n"));
	CHECK_EQ(URL("HTTP://[::1]:8080"), 0);
	CHECK(u.host_is_ip && u.port == 8080 && !strcmp(u.path, "/"));
	CHECK(http_get_request(&u, req, sizeof(req)) > 0);
	CHECK(starts(req, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n"));
	CHECK_EQ(URL("http://127.0.0.1:81?q"), 0);
	CHECK(http_get_request(&u, req, sizeof(req)) > 0);
	CHECK(starts(req, "GET /?q HTTP/1.1\r\nHost: 127.0.0.1:81\r\n"));
	/* Too small a buffer: -E2BIG, never a cut request. */
	CHECK_EQ(http_get_request(&u, req, 20), -E2BIG);
	CHECK_EQ(URL("https://example.com/"), -EINVAL);
	CHECK(strstr(why, "http://"));
	CHECK_EQ(URL("http://"), -EINVAL);
	CHECK_EQ(URL("http://h.example:0/"), -EINVAL);
	CHECK(strstr(why, "port"));
	CHECK_EQ(URL("http://u@h.example/"), -EINVAL);
	CHECK_EQ(URL("http://h.example/a\nb"), -EINVAL);
#undef URL
}

static uint8_t body[4096];

static int parse_all(const char *r, bool eof, int *status, size_t *blen)
{
	const char *why = NULL;

	return http_response_parse((const uint8_t *)r, strlen(r), eof, status, body, sizeof(body),
				   blen, &why);
}

/* Fed a byte at a time, the response is incomplete until its last byte. */
static void incremental(const char *r, bool needs_eof, const char *want)
{
	size_t n = strlen(r), blen = 0;
	int status = 0;
	const char *why;

	for (size_t k = 0; k < n; k++)
		CHECK_EQ(http_response_parse((const uint8_t *)r, k, false, &status, body,
					     sizeof(body), &blen, &why),
			 -EAGAIN);
	CHECK_EQ(http_response_parse((const uint8_t *)r, n, needs_eof, &status, body, sizeof(body),
				     &blen, &why),
		 0);
	CHECK_EQ(status, 200);
	CHECK_EQ(blen, strlen(want));
	CHECK_MEM(body, want, blen);
}

static void test_responses(void)
{
	size_t blen;
	int status;

	incremental("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
		    "{\"a\": true}",
		    false, "{\"a\": true}");
	incremental("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
		    "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
		    false, "hello world");
	incremental("HTTP/1.0 200 OK\nServer: x\n\n{\"until\": \"close\"}", true,
		    "{\"until\": \"close\"}");
	/* without eof a close-delimited body is never complete */
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\n\r\nabc", false, &status, &blen), -EAGAIN);
	CHECK_EQ(parse_all("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false, &status,
			   &blen), 0);
	CHECK_EQ(status, 404);
	CHECK_EQ(blen, 0);
	CHECK_EQ(parse_all("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", false, &status, &blen), 0);
	CHECK_EQ(parse_all("HTTP/2 200 OK\r\n\r\n", true, &status, &blen), -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 20x OK\r\n\r\n", true, &status, &blen), -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", true, &status, &blen),
		 -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
			   true, &status, &blen),
		 -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true, &status, &blen),
		 -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n", false, &status,
			   &blen), -E2BIG);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true,
			   &status, &blen), -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
			   true, &status, &blen), -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
			   true, &status, &blen), -EINVAL);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n", false,
			   &status, &blen), -E2BIG);
	CHECK_EQ(parse_all("HTTP/1.1 200 OK\r\nServer: x", true, &status, &blen), -EINVAL);
	{
		static char big[20000];

		memset(big, 'a', sizeof(big) - 1);
		memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
		CHECK_EQ(parse_all(big, false, &status, &blen), -E2BIG);
	}
}

int main(void)
{
	test_urls();
	test_http_get();
	test_responses();
	printf("test_http_fetch: ok\n");
	return 0;
}
