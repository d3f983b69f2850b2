/* SPDX-License-Identifier: MIT */
/*
 * http_fetch — what a one-shot HTTPS GET needs, as pure codecs: the URL
 * ("https://host[:port][/path][?query]", IPv6 hosts in brackets) and the
 * response (status line, headers, a body framed by Content-Length,
 * chunked transfer coding, or the end of the connection).
 */
#ifndef SSRING_HTTP_FETCH_H
#define SSRING_HTTP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTPS_HOST_MAX 255
#define HTTPS_PATH_MAX 2048

struct https_url {
	char host[HTTPS_HOST_MAX + 1];   /* without brackets */
	uint16_t port;                   /* 443 unless given */
	bool host_is_ip;
	char path[HTTPS_PATH_MAX + 1];   /* path and query; "/" at least */
};

/* Parse an https:// URL (no userinfo, no fragment kept). 0 or -EINVAL with *why. */
int https_url_parse(const char *url, size_t len, struct https_url *out, const char **why);
/* The same for an http:// URL (port 80 unless given). */
int http_url_parse(const char *url, size_t len, struct https_url *out, const char **why);
/*
 * A plain GET of u as one HTTP/1.1 request head (Host with the port unless
 * it is 80, any type accepted, Connection: close) into out (NUL-terminated).
 * Its length, or -E2BIG when it does not fit in cap bytes.
 */
int http_get_request(const struct https_url *u, char *out, size_t cap);

/*
 * A response parsed as it arrives. Each call's buf[0..len) is everything
 * received so far (what the last call saw, and maybe more); eof: the peer
 * closed. The state remembers where parsing stopped and what it was in
 * (the head, a chunk's size, its data, ...), so every byte is looked at
 * once however the response is cut — a server that sends one byte per TLS
 * record costs no more than one that sends it whole. The body goes into
 * body as it is decoded: give the same body and body_cap every time.
 *
 * On 0 the whole response is there: *status is set and the body (de-chunked)
 * is body[0..*body_len). -EAGAIN: not complete yet (give it more, or eof).
 * -EINVAL: malformed (*why). -E2BIG: the body does not fit in body_cap bytes
 * or the head is over 16 KiB. Once 0, -EINVAL or -E2BIG, later calls give
 * the same. *status is set as soon as the head is in.
 */
struct http_response_state {
	size_t pos;              /* bytes of buf parsed */
	int phase;               /* head, body by length / chunked / until close, done */
	int ret;                 /* the result, once done */
	int status;
	uint64_t left;           /* Content-Length, or the chunk size: bytes still to come */
	int ch, digits;          /* chunked: where in a chunk, hex digits of its size */
	size_t line;             /* chunked: bytes of the trailer line so far */
	bool line_cr;            /* it starts with CR */
	size_t body_len;         /* decoded so far */
	const char *why;
	size_t steps;            /* bytes examined in all: tests check it stays linear */
};

void http_response_init(struct http_response_state *st);
int http_response_feed(struct http_response_state *st, const uint8_t *buf, size_t len,
		       bool eof, int *status, uint8_t *body, size_t body_cap, size_t *body_len,
		       const char **why);
/* The same for a response at once (a fresh state each call). */
int http_response_parse(const uint8_t *buf, size_t len, bool eof, int *status, uint8_t *body,
			size_t body_cap, size_t *body_len, const char **why);

#endif
