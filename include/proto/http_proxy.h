/* SPDX-License-Identifier: MIT */
/*
 * http_proxy — pure codecs for the HTTP proxy front end of the "local" role
 * (RFC 9110, RFC 9112): parse a request head, rewrite an absolute-form
 * request for the origin, build status lines, and find where a request body
 * ends so a keep-alive connection can carry the next request. The same head
 * parser serves ssring's own small servers (origin-form requests). No sockets, no
 * allocation; offsets in struct http_request point into the caller's buffer.
 */
#ifndef SSRING_HTTP_PROXY_H
#define SSRING_HTTP_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/ssaddr.h"

/* Largest request head accepted, final empty line included. */
#define HTTP_HEAD_MAX 16384
#define HTTP_HEADERS_MAX 100
#define HTTP_METHOD_MAX 31

/* One header line; offsets into the parsed buffer (a head fits in 16 bits). */
struct http_header {
	uint16_t name_off;
	uint16_t name_len;
	uint16_t value_off; /* value with surrounding whitespace trimmed */
	uint16_t value_len;
};

struct http_request {
	char method[HTTP_METHOD_MAX + 1];
	bool is_connect;       /* CONNECT host:port (authority-form) */
	struct ssaddr target;  /* IP literals as ATYP 1/4, names as ATYP 3 */
	size_t authority_off;  /* "host[:port]" exactly as in the request target */
	size_t authority_len;
	/*
	 * Absolute-form only: path and query as sent, after the authority. It
	 * may be empty or start with '?': the origin-form is this with "/"
	 * put in front when it does not start with '/'. 0/0 for CONNECT.
	 */
	size_t path_off;
	size_t path_len;
	uint8_t version_minor; /* HTTP/1.0 or HTTP/1.1 */
	bool keep_alive;
	int64_t content_length; /* -1 if absent */
	bool chunked;           /* Transfer-Encoding ends in chunked */
	size_t proxy_auth_off;  /* Proxy-Authorization value; len 0 if absent */
	size_t proxy_auth_len;
	size_t head_len;
	unsigned int nheaders;
	struct http_header headers[HTTP_HEADERS_MAX];
};

/*
 * Parse a request head at buf[0..len). Line ends may be CRLF or a bare LF;
 * empty lines before the request line are skipped (RFC 9112 §2.2) and
 * counted in the result. Returns the head length (> 0, final empty line
 * included; any body starts there), -EAGAIN if the head is not complete and
 * len < HTTP_HEAD_MAX, -E2BIG if no head ends within HTTP_HEAD_MAX bytes or
 * it has more than HTTP_HEADERS_MAX header lines (answer 431), or -EINVAL
 * for anything malformed or unusable by this proxy (answer 400): bad request
 * line or version (only HTTP/1.0 and 1.1), origin-form, asterisk-form or
 * https:// targets, userinfo or a fragment in the target, a header without a
 * colon or with whitespace before it, obs-fold, control characters, more than
 * one Host, a bad or conflicting Content-Length, Transfer-Encoding in
 * HTTP/1.0, not ending in chunked, or together with Content-Length.
 * r is only meaningful when the result is > 0.
 */
int http_parse_request(const uint8_t *buf, size_t len, struct http_request *r);

/*
 * The same for a request to a server of our own (metrics, management API):
 * the target must be origin-form ("/path?query", no fragment), found at
 * path_off/path_len; authority and target address are left empty. CONNECT
 * and absolute-form targets are -EINVAL.
 */
int http_parse_server_request(const uint8_t *buf, size_t len, struct http_request *r);

/* The value of the first header called name (case-insensitive), if any. */
bool http_header_value(const uint8_t *buf, const struct http_request *r, const char *name,
		       const uint8_t **value, size_t *len);

/*
 * Rewrite a parsed absolute-form request (buf is the buffer it was parsed
 * from) into the origin-form head to send upstream:
 * `METHOD origin-path HTTP/1.x`, then Host (always generated from the
 * request target per RFC 9112 §3.2.2, in place of a received Host or first
 * when there was none), then every other header except the hop-by-hop ones
 * (Connection, Proxy-Connection, Keep-Alive, Proxy-Authorization,
 * Proxy-Authenticate, TE, Trailer, Upgrade and anything the Connection
 * header lists), then `Connection: keep-alive` or `Connection: close` after
 * r->keep_alive, then the empty line. All line ends become CRLF. Returns the
 * length written, -ENOSPC if out_len is too small (out then holds garbage),
 * or -EINVAL for a CONNECT request.
 */
int http_rewrite_request(const uint8_t *buf, const struct http_request *r, uint8_t *out,
			 size_t out_len);

/*
 * Build a status-only response: `HTTP/1.1 <code> <reason>` CRLF, then for
 * codes >= 300 except 304 `Content-Length: 0` so a kept-alive client knows
 * the (empty) body's end (never on 1xx/2xx: RFC 9110 §9.3.6 forbids it in a
 * CONNECT success), then `Connection: close` if close, then CRLF. reason NULL picks the standard phrase (or "Unknown"). Returns the
 * length, or 0 if code is not 100..999, the reason has control characters, or
 * out_len is too small.
 */
size_t http_build_status(uint8_t *out, size_t out_len, int code, const char *reason,
			 bool close);

enum http_body_state {
	HTTP_BODY_ST_DONE = 0,   /* the body is complete */
	HTTP_BODY_ST_LENGTH,     /* remaining bytes of a Content-Length body */
	HTTP_BODY_ST_SIZE,       /* in a chunk-size: hex digits */
	HTTP_BODY_ST_EXT,        /* in chunk extensions, waiting for CR */
	HTTP_BODY_ST_SIZE_LF,    /* CR ended the chunk-size line; LF expected */
	HTTP_BODY_ST_DATA,       /* remaining bytes of chunk data */
	HTTP_BODY_ST_DATA_CR,    /* chunk data done; CR expected */
	HTTP_BODY_ST_DATA_LF,    /* LF expected after chunk data */
	HTTP_BODY_ST_TRAILER,    /* in the trailer section, line_len into a line */
	HTTP_BODY_ST_TRAILER_LF, /* CR seen in the trailer section; LF expected */
	HTTP_BODY_ST_ERROR       /* malformed; every feed fails */
};

struct http_body {
	enum http_body_state state;
	uint64_t remaining;    /* LENGTH/DATA: bytes left; SIZE: value so far */
	uint32_t line_len;     /* bytes of the current chunk-size or trailer line */
	uint32_t trailer_len;  /* bytes of trailer section so far */
	bool digits;           /* SIZE: at least one hex digit seen */
};

/*
 * Start framing the body of r: chunked, Content-Length, or (neither, or a
 * CONNECT) empty.
 */
void http_body_init(struct http_body *b, const struct http_request *r);
/*
 * Feed body bytes. Sets *consumed to how many of buf[0..len) belong to the
 * body (bytes after that start the next request). Returns 1 when the body,
 * including the chunked trailer section, is complete, 0 if more is needed, or
 * -EINVAL on malformed chunked framing (chunk lines must end in CRLF here,
 * unlike the head: a bare LF is how request smuggling starts). Chunk-size
 * and trailer lines are limited to HTTP_HEAD_MAX bytes.
 */
int http_body_feed(struct http_body *b, const uint8_t *buf, size_t len, size_t *consumed);

#endif
