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
 * The response in buf[0..len) (everything received so far; eof: the peer
 * closed). On 0 the whole response is there: *status is set and the body
 * (de-chunked) is in body[0..*body_len). -EAGAIN: not complete yet (give
 * it more, or eof). -EINVAL: malformed (*why). -E2BIG: the body does not
 * fit in body_cap bytes or the head is over 16 KiB.
 */
int http_response_parse(const uint8_t *buf, size_t len, bool eof, int *status, uint8_t *body,
			size_t body_cap, size_t *body_len, const char **why);

#endif
