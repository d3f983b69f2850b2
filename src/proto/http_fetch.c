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
	const char *p = url + skip, *end = url + len, *host_end, *auth_end;
	bool bracketed = false;
	size_t hl;

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
	if (p < auth_end && *p == '[') {
		host_end = memchr(p, ']', (size_t)(auth_end - p));
		if (!host_end)
			return no(why, "an IPv6 host has no closing ']'");
		hl = (size_t)(host_end - p - 1);
		if (hl == 0 || hl > HTTPS_HOST_MAX)
			return no(why, "the host is empty or too long");
		memcpy(out->host, p + 1, hl);
		bracketed = true;
		host_end++;
		if (host_end < auth_end && *host_end != ':')
			return no(why, "junk after the IPv6 host");
	} else {
		host_end = p;
		while (host_end < auth_end && *host_end != ':')
			host_end++;
		hl = (size_t)(host_end - p);
		if (hl == 0 || hl > HTTPS_HOST_MAX)
			return no(why, "the host is empty or too long");
		memcpy(out->host, p, hl);
	}
	out->port = port;
	if (host_end < auth_end) {
		unsigned long v = 0;
		const char *q = host_end + 1;

		if (q == auth_end || auth_end - q > 5)
			return no(why, "the port must be a number from 1 to 65535");
		for (; q < auth_end; q++) {
			if (*q < '0' || *q > '9')
				return no(why, "the port must be a number from 1 to 65535");
			v = v * 10 + (unsigned long)(*q - '0');
		}
		if (v < 1 || v > 65535)
			return no(why, "the port must be a number from 1 to 65535");
		out->port = (uint16_t)v;
	}
	{
		struct in6_addr a6;
		struct in_addr a4;

		if (bracketed || strchr(out->host, ':')) {
			if (inet_pton(AF_INET6, out->host, &a6) != 1)
				return no(why, "the host in brackets is not an IPv6 address");
			out->host_is_ip = true;
		} else if (inet_pton(AF_INET, out->host, &a4) == 1) {
			out->host_is_ip = true;
		} else if (!hostport_is_host_name(out->host, strlen(out->host))) {
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

/* De-chunk buf[0..len); -EAGAIN until the last chunk and its trailers are there. */
static int dechunk(const uint8_t *buf, size_t len, uint8_t *body, size_t cap, size_t *out,
		   const char **why)
{
	size_t i = 0, o = 0;

	for (;;) {
		uint64_t size = 0;
		int digits = 0;

		while (i < len && text_hex_value(buf[i]) >= 0) {
			if (++digits > 15)
				return no(why, "a chunk size is too large");
			size = size << 4 | (uint64_t)text_hex_value(buf[i++]);
		}
		if (i == len)
			return -EAGAIN;
		if (!digits)
			return no(why, "a chunk does not start with its size");
		/* chunk extensions up to CRLF */
		while (i < len && buf[i] != '\n')
			i++;
		if (i == len)
			return -EAGAIN;
		i++;
		if (size == 0) {
			/* trailers, then an empty line */
			for (;;) {
				size_t s = i;

				while (i < len && buf[i] != '\n')
					i++;
				if (i == len)
					return -EAGAIN;
				if (i - s == 0 || (i - s == 1 && buf[s] == '\r')) {
					*out = o;
					return 0;
				}
				i++;
			}
		}
		if (size > cap - o)
			return -E2BIG;
		if (len - i < size + 1)
			return -EAGAIN;
		memcpy(body + o, buf + i, (size_t)size);
		o += (size_t)size;
		i += (size_t)size;
		if (buf[i] == '\r') {
			if (len - i < 2)
				return -EAGAIN;
			i++;
		}
		if (buf[i] != '\n')
			return no(why, "a chunk is longer than its size says");
		i++;
	}
}

int http_response_parse(const uint8_t *buf, size_t len, bool eof, int *status, uint8_t *body,
			size_t body_cap, size_t *body_len, const char **why)
{
	const uint8_t *head_end = NULL, *v;
	size_t head_len, vn, i, line_end;
	bool chunked = false, have_cl = false;
	uint64_t cl = 0;
	int code;

	*body_len = 0;
	for (i = 0; i + 1 < len && i < HEAD_MAX; i++)
		if (buf[i] == '\n' && (buf[i + 1] == '\n' ||
				       (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))) {
			head_end = buf + i + (buf[i + 1] == '\n' ? 2 : 3);
			break;
		}
	if (!head_end) {
		if (len >= HEAD_MAX)
			return -E2BIG;
		return eof ? no(why, "the response ended inside its head") : -EAGAIN;
	}
	head_len = (size_t)(head_end - buf);
	/* HTTP/1.x SP 3DIGIT */
	if (head_len < 12 || memcmp(buf, "HTTP/1.", 7) || (buf[7] != '0' && buf[7] != '1') ||
	    buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' || (head_len > 12 && buf[12] != ' ' && buf[12] != '\r' &&
					       buf[12] != '\n'))
		return no(why, "not an HTTP/1.x status line");
	code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
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
				return no(why, "a bad Content-Length");
			for (size_t k = 0; k < vn; k++) {
				if (v[k] < '0' || v[k] > '9')
					return no(why, "a bad Content-Length");
				x = x * 10 + (uint64_t)(v[k] - '0');
			}
			if (have_cl && x != cl)
				return no(why, "two different Content-Lengths");
			have_cl = true;
			cl = x;
		}
	}
	*status = code;
	buf = head_end;
	len -= head_len;
	if (chunked)
		return dechunk(buf, len, body, body_cap, body_len, why);
	if (have_cl) {
		if (cl > body_cap)
			return -E2BIG;
		if (len < cl)
			return eof ? no(why, "the body is shorter than its Content-Length") : -EAGAIN;
		memcpy(body, buf, (size_t)cl);
		*body_len = (size_t)cl;
		return 0;
	}
	/* Framed by the end of the connection. */
	if (len > body_cap)
		return -E2BIG;
	if (!eof)
		return -EAGAIN;
	memcpy(body, buf, len);
	*body_len = len;
	return 0;
}
