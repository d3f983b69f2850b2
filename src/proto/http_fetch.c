/* SPDX-License-Identifier: MIT */
/*
 * http_fetch — the URL and response codecs of a one-shot HTTPS GET
 * (proto/http_fetch.h). Bytes in, bytes out; every read bounded by len.
 */
#include "proto/http_fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/hostport.h"
#include "proto/text.h"

#define HEAD_MAX 16384

static int no(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return -EINVAL;
}

/* A URL of scheme (with "://", skip bytes) whose default port is port. */
static int url_parse(const char *url, size_t len, const char *scheme, uint16_t port,
		     struct https_url *out, const char **why)
{
	size_t skip = strlen(scheme);
	const char *p = url + skip, *end = url + len, *auth_end;
	struct hostport_span hp;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len <= skip || strncasecmp(url, scheme, skip))
		return no(why, port == 443 ? "the URL must start with https://"
					   : "the URL must start with http://");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return no(why, "the URL has spaces, control or non-ASCII characters");
	auth_end = p;
	while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
		auth_end++;
	if (memchr(p, '@', (size_t)(auth_end - p)))
		return no(why, "the URL must not carry a user name or password");
	rc = hostport_split(p, (size_t)(auth_end - p), HOSTPORT_PORT_OPTIONAL, &hp);
	if (rc == HOSTPORT_E_BRACKET)
		return no(why, "an IPv6 host has no closing ']'");
	if (hp.host_len == 0 || hp.host_len > HTTPS_HOST_MAX)
		return no(why, "the host is empty or too long");
	if (rc == HOSTPORT_E_AFTER)
		return no(why, "junk after the IPv6 host");
	if (rc != HOSTPORT_OK)
		return no(why, "the port must be a number from 1 to 65535");
	memcpy(out->host, hp.host, hp.host_len);
	out->port = hp.has_port ? hp.port : port;
	{
		struct in6_addr a6;
		struct in_addr a4;

		if (hp.bracketed) {
			if (inet_pton(AF_INET6, out->host, &a6) != 1)
				return no(why, "the host in brackets is not an IPv6 address");
			out->host_is_ip = true;
		} else if (inet_pton(AF_INET, out->host, &a4) == 1) {
			out->host_is_ip = true;
		} else if (!hostport_is_host_name(out->host, hp.host_len)) {
			return no(why, "the host is not a valid name or address");
		}
	}
	/* The path and query, without a fragment. */
	{
		const char *frag = memchr(auth_end, '#', (size_t)(end - auth_end));
		const char *pe = frag ? frag : end;
		size_t pl = (size_t)(pe - auth_end);

		if (pl == 0) {
			out->path[0] = '/';
		} else if (*auth_end == '?') {
			if (pl + 1 > HTTPS_PATH_MAX)
				return no(why, "the path is too long");
			out->path[0] = '/';
			memcpy(out->path + 1, auth_end, pl);
		} else {
			if (pl > HTTPS_PATH_MAX)
				return no(why, "the path is too long");
			memcpy(out->path, auth_end, pl);
		}
	}
	return 0;
}

int https_url_parse(const char *url, size_t len, struct https_url *out, const char **why)
{
	return url_parse(url, len, "https://", 443, out, why);
}

int http_url_parse(const char *url, size_t len, struct https_url *out, const char **why)
{
	return url_parse(url, len, "http://", 80, out, why);
}

int http_get_request(const struct https_url *u, char *out, size_t cap)
{
	bool v6 = strchr(u->host, ':') != NULL;
	char port[8] = "";
	int n;

	if (u->port != 80)
		snprintf(port, sizeof(port), ":%u", (unsigned)u->port);
	n = snprintf(out, cap,
		     "GET %s HTTP/1.1\r\nHost: %s%s%s%s\r\nAccept: */*\r\n"
		     "Connection: close\r\n\r\n",
		     u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", port);
	return n < 0 || (size_t)n >= cap ? -E2BIG : n;
}

/* A header line "Name: value" matching name (case-insensitive); value trimmed. */
static bool header_is(const uint8_t *line, size_t n, const char *name, const uint8_t **v,
		      size_t *vn)
{
	size_t k = strlen(name);

	if (n <= k || line[k] != ':' || strncasecmp((const char *)line, name, k))
		return false;
	line += k + 1;
	n -= k + 1;
	while (n && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	*v = line;
	*vn = n;
	return true;
}

static bool token_in(const uint8_t *v, size_t n, const char *tok)
{
	size_t k = strlen(tok);

	for (size_t i = 0; i + k <= n; i++)
		if (!strncasecmp((const char *)v + i, tok, k) && (i == 0 || v[i - 1] == ' ' ||
								  v[i - 1] == ',') &&
		    (i + k == n || v[i + k] == ' ' || v[i + k] == ',' || v[i + k] == ';'))
			return true;
	return false;
}

enum { PH_HEAD = 0, PH_LENGTH, PH_CHUNKED, PH_CLOSE, PH_DONE };
enum { CH_SIZE = 0, CH_EXT, CH_DATA, CH_DATA_END, CH_DATA_LF, CH_TRAILER };

void http_response_init(struct http_response_state *st)
{
	memset(st, 0, sizeof(*st));
	st->ret = -EAGAIN;
}

/* The end of the parse: its result, kept for any later call. */
static int end(struct http_response_state *st, int ret, const char *why)
{
	st->phase = PH_DONE;
	st->ret = ret;
	st->why = why;
	return ret;
}

/* The head in buf[0..head_len): status and framing. Runs once per response. */
static int parse_head(struct http_response_state *st, const uint8_t *buf, size_t head_len,
		      size_t body_cap)
{
	const uint8_t *v;
	size_t vn, i, line_end;
	bool chunked = false, have_cl = false;
	uint64_t cl = 0;

	/* HTTP/1.x SP 3DIGIT */
	if (head_len < 12 || memcmp(buf, "HTTP/1.", 7) || (buf[7] != '0' && buf[7] != '1') ||
	    buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' || (head_len > 12 && buf[12] != ' ' && buf[12] != '\r' &&
					       buf[12] != '\n'))
		return end(st, -EINVAL, "not an HTTP/1.x status line");
	st->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	for (i = 0; i < head_len; i = line_end + 1) {
		const uint8_t *nl = memchr(buf + i, '\n', head_len - i);
		size_t n;

		line_end = nl ? (size_t)(nl - buf) : head_len;
		n = line_end - i;
		if (n && buf[i + n - 1] == '\r')
			n--;
		if (i == 0 || n == 0)
			continue;
		if (header_is(buf + i, n, "Transfer-Encoding", &v, &vn)) {
			chunked = token_in(v, vn, "chunked");
		} else if (header_is(buf + i, n, "Content-Length", &v, &vn)) {
			uint64_t x = 0;

			if (!vn || vn > 15)
				return end(st, -EINVAL, "a bad Content-Length");
			for (size_t k = 0; k < vn; k++) {
				if (v[k] < '0' || v[k] > '9')
					return end(st, -EINVAL, "a bad Content-Length");
				x = x * 10 + (uint64_t)(v[k] - '0');
			}
			if (have_cl && x != cl)
				return end(st, -EINVAL, "two different Content-Lengths");
			have_cl = true;
			cl = x;
		}
	}
	st->steps += head_len;
	if (chunked) {
		st->phase = PH_CHUNKED;
	} else if (have_cl) {
		if (cl > body_cap)
			return end(st, -E2BIG, NULL);
		st->phase = PH_LENGTH;
		st->left = cl;
	} else {
		st->phase = PH_CLOSE; /* framed by the end of the connection */
	}
	return -EAGAIN;
}

/* Find the end of the head from where the last call stopped. */
static int find_head(struct http_response_state *st, const uint8_t *buf, size_t len, bool eof,
		     size_t body_cap)
{
	size_t i = st->pos;

	/* A blank line ends the head: "\n\n" or "\n\r\n". An undecided '\n' waits. */
	for (; i < len && i < HEAD_MAX; i++) {
		st->steps++;
		if (buf[i] != '\n')
			continue;
		if (i + 1 >= len)
			break;
		if (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')) {
			st->pos = i + (buf[i + 1] == '\n' ? 2 : 3);
			return parse_head(st, buf, st->pos, body_cap);
		}
		if (buf[i + 1] == '\r' && i + 2 >= len)
			break;
	}
	st->pos = i;
	/* Every place a head could end within HEAD_MAX bytes was ruled out. */
	if (i >= HEAD_MAX)
		return end(st, -E2BIG, NULL);
	return eof ? end(st, -EINVAL, "the response ended inside its head") : -EAGAIN;
}

/* Chunked coding (RFC 9112 7.1), byte by byte from st->pos; -EAGAIN for more. */
static int dechunk(struct http_response_state *st, const uint8_t *buf, size_t len,
		   uint8_t *body, size_t cap)
{
	while (st->pos < len) {
		uint8_t c = buf[st->pos];

		st->steps++;
		switch (st->ch) {
		case CH_SIZE:
			if (text_hex_value(c) >= 0) {
				if (++st->digits > 15)
					return end(st, -EINVAL, "a chunk size is too large");
				st->left = st->left << 4 | (uint64_t)text_hex_value(c);
				st->pos++;
				continue;
			}
			if (!st->digits)
				return end(st, -EINVAL, "a chunk does not start with its size");
			st->ch = CH_EXT; /* c is looked at again there */
			continue;
		case CH_EXT: /* chunk extensions up to LF */
			st->pos++;
			if (c != '\n')
				continue;
			if (!st->left) {
				st->ch = CH_TRAILER; /* trailers, then an empty line */
				st->line = 0;
				continue;
			}
			if (st->left > cap - st->body_len)
				return end(st, -E2BIG, NULL);
			st->ch = CH_DATA;
			continue;
		case CH_DATA: {
			size_t n = len - st->pos < st->left ? len - st->pos : (size_t)st->left;

			memcpy(body + st->body_len, buf + st->pos, n);
			st->body_len += n;
			st->pos += n;
			st->left -= n;
			st->steps += n - 1;
			if (!st->left)
				st->ch = CH_DATA_END;
			continue;
		}
		case CH_DATA_END:
		case CH_DATA_LF:
			if (c == '\r' && st->ch == CH_DATA_END) {
				st->ch = CH_DATA_LF;
			} else if (c == '\n') {
				st->ch = CH_SIZE;
				st->digits = 0;
				st->left = 0;
			} else {
				return end(st, -EINVAL, "a chunk is longer than its size says");
			}
			st->pos++;
			continue;
		default: /* CH_TRAILER */
			st->pos++;
			if (c != '\n') {
				if (!st->line++)
					st->line_cr = c == '\r';
				continue;
			}
			if (!st->line || (st->line == 1 && st->line_cr))
				return end(st, 0, NULL);
			st->line = 0;
			continue;
		}
	}
	return -EAGAIN;
}

static int feed(struct http_response_state *st, const uint8_t *buf, size_t len, bool eof,
		uint8_t *body, size_t body_cap)
{
	size_t n;
	int r;

	if (st->phase == PH_HEAD && (r = find_head(st, buf, len, eof, body_cap)) != -EAGAIN)
		return r;
	switch (st->phase) {
	case PH_HEAD:
		return -EAGAIN;
	case PH_CHUNKED:
		return dechunk(st, buf, len, body, body_cap);
	case PH_LENGTH:
		n = len - st->pos < st->left ? len - st->pos : (size_t)st->left;
		memcpy(body + st->body_len, buf + st->pos, n);
		st->body_len += n;
		st->pos += n;
		st->left -= n;
		st->steps += n;
		if (!st->left)
			return end(st, 0, NULL);
		if (!eof)
			return -EAGAIN;
		return end(st, -EINVAL, "the body is shorter than its Content-Length");
	case PH_CLOSE:
		n = len - st->pos;
		if (n > body_cap - st->body_len)
			return end(st, -E2BIG, NULL);
		memcpy(body + st->body_len, buf + st->pos, n);
		st->body_len += n;
		st->pos += n;
		st->steps += n;
		return eof ? end(st, 0, NULL) : -EAGAIN;
	default:
		return st->ret;
	}
}

int http_response_feed(struct http_response_state *st, const uint8_t *buf, size_t len,
		       bool eof, int *status, uint8_t *body, size_t body_cap, size_t *body_len,
		       const char **why)
{
	int r = st->phase == PH_DONE ? st->ret : feed(st, buf, len, eof, body, body_cap);

	if (st->phase != PH_HEAD)
		*status = st->status;
	*body_len = r == 0 ? st->body_len : 0;
	if (r == -EINVAL && why)
		*why = st->why;
	return r;
}

int http_response_parse(const uint8_t *buf, size_t len, bool eof, int *status, uint8_t *body,
			size_t body_cap, size_t *body_len, const char **why)
{
	struct http_response_state st;

	http_response_init(&st);
	return http_response_feed(&st, buf, len, eof, status, body, body_cap, body_len, why);
}
