/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/http_fetch: https URLs (ports, IPv6, paths and
 * queries, every error), http URLs and the check's GET made from one, and responses framed by Content-Length, by
 * chunked coding (RFC 9112 7.1, with extensions and trailers) and by the
 * end of the connection, fed whole and a byte at a time; parsed as it
 * arrives (one state across calls), the result is the same wherever the
 * response is cut, and the work stays linear: 64 KiB of one-byte chunks
 * given one byte per call look at each byte about once.
 */
#include "proto/http_fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

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

static uint8_t body2[4096];

/*
 * r fed in two calls to one state, cut at every position (and once a byte
 * per call), gives what r whole gives.
 */
static void split_everywhere(const char *r, bool eof)
{
	size_t n = strlen(r), blen = 0, blen2 = 0;
	int status = 0, status2 = 0, want, got;
	const char *why = NULL, *why2 = NULL;
	const uint8_t *u = (const uint8_t *)r;
	struct http_response_state st;

	want = http_response_parse(u, n, eof, &status, body, sizeof(body), &blen, &why);
	for (size_t cut = 0; cut <= n + 1; cut++) {
		http_response_init(&st);
		status2 = 0;
		if (cut <= n) {
			got = http_response_feed(&st, u, cut, false, &status2, body2, sizeof(body2),
						 &blen2, &why2);
			if (got == -EAGAIN)
				got = http_response_feed(&st, u, n, eof, &status2, body2,
							 sizeof(body2), &blen2, &why2);
		} else {
			got = -EAGAIN;
			for (size_t k = 1; k <= n && got == -EAGAIN; k++)
				got = http_response_feed(&st, u, k, eof && k == n, &status2, body2,
							 sizeof(body2), &blen2, &why2);
		}
		if (got != want || (want == 0 && (status2 != status || blen2 != blen ||
						  memcmp(body, body2, blen))) ||
		    (want == -EINVAL && strcmp(why, why2))) {
			fprintf(stderr, "FAIL: cut at %zu of %zu: %d (want %d) in\n%s\n", cut, n,
				got, want, r);
			exit(1);
		}
	}
}

static void test_splits(void)
{
	static const char *const rs[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"a\": true}",
		("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
		 "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"),
		"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n1\nd\n0\n\n",
		"HTTP/1.0 200 OK\nServer: x\n\n{\"until\": \"close\"}",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nServer: x",
	};

	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		split_everywhere(rs[i], false);
		split_everywhere(rs[i], true);
	}
}

/*
 * A server that sends 64 KiB in one-byte chunks, one byte per TLS record:
 * each call parses only what is new, so the bytes looked at stay about
 * the response's size (re-parsing from the start would be ~n^2/2, some
 * 10^11 for this one).
 */
static void test_linear(void)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	size_t body_n = 65536, n = sizeof(head) - 1 + body_n * 6 + 5, blen = 0;
	uint8_t *r = malloc(n), *out = malloc(body_n);
	struct http_response_state st;
	struct timespec t0, t1;
	const char *why = NULL;
	int status = 0, ret = -EAGAIN;
	size_t o = sizeof(head) - 1, k;
	double ms;

	CHECK(r && out);
	memcpy(r, head, o);
	for (size_t i = 0; i < body_n; i++) {
		memcpy(r + o, "1\r\nx\r\n", 6);
		r[o + 3] = (uint8_t)('a' + i % 26);
		o += 6;
	}
	memcpy(r + o, "0\r\n\r\n", 5);
	CHECK_EQ(o + 5, n);
	http_response_init(&st);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 1; k <= n && ret == -EAGAIN; k++)
		ret = http_response_feed(&st, r, k, false, &status, out, body_n, &blen, &why);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("%zu bytes, one per call: %zu bytes looked at, %.1f ms\n", n, st.steps, ms);
	CHECK_EQ(ret, 0);
	CHECK_EQ(k - 1, n);
	CHECK_EQ(status, 200);
	CHECK_EQ(blen, body_n);
	CHECK(out[0] == 'a' && out[25] == 'z' && out[body_n - 1] == 'a' + (body_n - 1) % 26);
	/* each byte about once: a few re-looks at an undecided line end at most */
	CHECK(st.steps <= 2 * n);
	CHECK(ms < 1000);
	free(r);
	free(out);
}

int main(void)
{
	test_urls();
	test_http_get();
	test_responses();
	test_splits();
	test_linear();
	printf("test_http_fetch: ok\n");
	return 0;
}
