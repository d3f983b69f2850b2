/* SPDX-License-Identifier: MIT */
#include "proto/http_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "proto/hostport.h"
#include "proto/text.h"

/* Longest Content-Length accepted: 18 digits always fit in int64_t. */
#define CL_DIGITS_MAX 18

/* What the header pass learns that does not belong in the result. */
struct parse_state {
	bool conn_close;      /* "close" in Connection or Proxy-Connection */
	bool conn_keep_alive; /* "keep-alive" in either */
	bool te_seen;
	bool te_chunked_last; /* the last transfer coding so far is chunked */
	bool host_seen;
};

/* One line of the head: [off, off + len) without its CR LF; next line at next. */
struct line {
	size_t off;
	size_t len;
	size_t next;
};

/* Walks a comma-separated field value (RFC 9110 §5.6.1), skipping empty elements. */
struct list_iter {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static bool is_tchar(uint8_t c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr(extra, c) != NULL;
}

/* Field value bytes: VCHAR, obs-text, SP, HTAB; every other control is out. */
static bool is_field_char(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool bytes_are(const uint8_t *p, size_t n, const char *s)
{
	return n == strlen(s) && strncasecmp((const char *)p, s, n) == 0;
}

static bool bytes_equal_ci(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && strncasecmp((const char *)a, (const char *)b, alen) == 0;
}

static bool name_is(const uint8_t *buf, const struct http_header *h, const char *name)
{
	return bytes_are(buf + h->name_off, h->name_len, name);
}

static bool list_next(struct list_iter *it, const uint8_t **elem, size_t *elen)
{
	while (it->pos < it->len) {
		size_t s = it->pos, e;
		const uint8_t *comma = memchr(it->p + s, ',', it->len - s);

		e = comma ? (size_t)(comma - it->p) : it->len;
		it->pos = comma ? e + 1 : it->len;
		while (s < e && is_ows(it->p[s]))
			s++;
		while (e > s && is_ows(it->p[e - 1]))
			e--;
		if (e > s) {
			*elem = it->p + s;
			*elen = e - s;
			return true;
		}
	}
	return false;
}

/* The line at pos, if its LF is before end. A CR before the LF is dropped. */
static bool next_line(const uint8_t *buf, size_t pos, size_t end, struct line *l)
{
	const uint8_t *nl;

	if (pos >= end)
		return false;
	nl = memchr(buf + pos, '\n', end - pos);
	if (!nl)
		return false;
	l->off = pos;
	l->next = (size_t)(nl - buf) + 1;
	l->len = (size_t)(nl - buf) - pos;
	if (l->len > 0 && buf[l->off + l->len - 1] == '\r')
		l->len--;
	return true;
}

/*
 * Find the empty line that ends the head, looking only at the first
 * HTTP_HEAD_MAX bytes. Empty lines before the request line are skipped
 * (RFC 9112 §2.2: a keep-alive client may send a stray CRLF after a body);
 * *first is set to the request line.
 */
static int find_head(const uint8_t *buf, size_t len, struct line *first)
{
	size_t lim = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
	size_t pos = 0;
	bool in_head = false;
	struct line l;

	while (next_line(buf, pos, lim, &l)) {
		if (l.len == 0 && in_head)
			return (int)l.next;
		if (l.len > 0 && !in_head) {
			*first = l;
			in_head = true;
		}
		pos = l.next;
	}
	return len >= HTTP_HEAD_MAX ? -E2BIG : -EAGAIN;
}

/*
 * A host as it may appear in an authority: "[IPv6]" (bracketed, h without
 * the brackets), an IPv4 literal, or a name of [A-Za-z0-9-._~] (no
 * percent-encoding or sub-delims: nothing we could resolve uses them). Port
 * is filled in by the caller.
 */
static int parse_host(const char *h, size_t n, bool bracketed, struct ssaddr *out)
{
	char tmp[256];

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, h, n);
	tmp[n] = '\0';
	if (bracketed) {
		out->atyp = SSADDR_ATYP_IPV6;
		/* Rejects IPvFuture and zone identifiers too. */
		return inet_pton(AF_INET6, tmp, out->u.ipv6) == 1 ? 0 : -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)h[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '.' || c == '_' || c == '~'))
			return -EINVAL;
	}
	if (inet_pton(AF_INET, tmp, out->u.ipv4) == 1) {
		out->atyp = SSADDR_ATYP_IPV4;
		return 0;
	}
	out->atyp = SSADDR_ATYP_DOMAIN;
	out->u.domain.len = (uint8_t)n;
	memcpy(out->u.domain.name, tmp, n + 1);
	return 0;
}

/*
 * host[:port]. default_port 0 means the port is required (CONNECT). An
 * empty port ("host:") is refused rather than defaulted.
 */
static int parse_authority(const char *t, size_t n, int default_port, struct ssaddr *out)
{
	struct hostport_span hp;

	if (hostport_split(t, n, default_port ? HOSTPORT_PORT_OPTIONAL : 0, &hp) != HOSTPORT_OK ||
	    parse_host(hp.host, hp.host_len, hp.bracketed, out) < 0)
		return -EINVAL;
	out->port = hp.has_port ? hp.port : (uint16_t)default_port;
	return 0;
}

/*
 * CONNECT takes authority-form; everything else must be absolute-form with
 * the http scheme. Origin-form and asterisk-form name no upstream, and
 * https:// would need TLS, so those are refused along with userinfo
 * (rejected as a bad host character) and fragments.
 */
static int parse_target(const uint8_t *buf, size_t off, size_t n, struct http_request *r,
			bool origin)
{
	const char *t = (const char *)buf + off;
	size_t alen;

	if (origin) {
		/* A server's own resource: origin-form only (RFC 9112 §3.2.1). */
		if (r->is_connect || t[0] != '/' || memchr(t, '#', n))
			return -EINVAL;
		r->path_off = off;
		r->path_len = n;
		return 0;
	}
	if (r->is_connect) {
		r->authority_off = off;
		r->authority_len = n;
		return parse_authority(t, n, 0, &r->target);
	}
	if (n < 7 || strncasecmp(t, "http://", 7) != 0 || memchr(t, '#', n))
		return -EINVAL;
	t += 7;
	off += 7;
	n -= 7;
	for (alen = 0; alen < n && t[alen] != '/' && t[alen] != '?'; alen++)
		;
	r->authority_off = off;
	r->authority_len = alen;
	r->path_off = off + alen;
	r->path_len = n - alen;
	return parse_authority(t, alen, 80, &r->target);
}

/* METHOD SP request-target SP HTTP-version, single spaces, nothing else. */
static int parse_request_line(const uint8_t *buf, const struct line *l, struct http_request *r,
			      bool origin)
{
	const uint8_t *p = buf + l->off, *end = p + l->len;
	const uint8_t *sp, *tgt, *ver;
	size_t mlen, tlen;

	sp = memchr(p, ' ', l->len);
	if (!sp)
		return -EINVAL;
	mlen = (size_t)(sp - p);
	if (mlen == 0 || mlen > HTTP_METHOD_MAX)
		return -EINVAL;
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(p[i]))
			return -EINVAL;
	memcpy(r->method, p, mlen);
	r->method[mlen] = '\0';
	tgt = sp + 1;
	sp = memchr(tgt, ' ', (size_t)(end - tgt));
	if (!sp || sp == tgt)
		return -EINVAL;
	tlen = (size_t)(sp - tgt);
	for (size_t i = 0; i < tlen; i++)
		if (tgt[i] < 0x21 || tgt[i] > 0x7e)
			return -EINVAL;
	ver = sp + 1;
	if (end - ver != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1'))
		return -EINVAL;
	r->version_minor = (uint8_t)(ver[7] - '0');
	r->is_connect = strcmp(r->method, "CONNECT") == 0;
	return parse_target(buf, (size_t)(tgt - buf), tlen, r, origin);
}

/*
 * Content-Length: a list of identical decimal values is allowed (RFC 9110
 * §8.6), as are repeated headers with the same value; anything else is
 * ambiguous framing.
 */
static int apply_content_length(const uint8_t *v, size_t n, struct http_request *r)
{
	struct list_iter it = { v, n, 0 };
	const uint8_t *e;
	size_t elen;
	bool any = false;

	while (list_next(&it, &e, &elen)) {
		int64_t cl = 0;

		if (elen > CL_DIGITS_MAX)
			return -EINVAL;
		for (size_t i = 0; i < elen; i++) {
			if (e[i] < '0' || e[i] > '9')
				return -EINVAL;
			cl = cl * 10 + (e[i] - '0');
		}
		if (r->content_length >= 0 && r->content_length != cl)
			return -EINVAL;
		r->content_length = cl;
		any = true;
	}
	return any ? 0 : -EINVAL;
}

/* Transfer-Encoding, possibly over several lines: chunked may only come last. */
static int apply_transfer_encoding(const uint8_t *v, size_t n, struct parse_state *st)
{
	struct list_iter it = { v, n, 0 };
	const uint8_t *e;
	size_t elen;
	bool any = false;

	while (list_next(&it, &e, &elen)) {
		if (st->te_chunked_last)
			return -EINVAL;
		st->te_chunked_last = bytes_are(e, elen, "chunked");
		any = true;
	}
	st->te_seen = true;
	return any ? 0 : -EINVAL;
}

static void apply_connection(const uint8_t *v, size_t n, struct parse_state *st)
{
	struct list_iter it = { v, n, 0 };
	const uint8_t *e;
	size_t elen;

	while (list_next(&it, &e, &elen)) {
		if (bytes_are(e, elen, "close"))
			st->conn_close = true;
		else if (bytes_are(e, elen, "keep-alive"))
			st->conn_keep_alive = true;
	}
}

static int apply_header(const uint8_t *buf, const struct http_header *h,
			struct http_request *r, struct parse_state *st)
{
	const uint8_t *v = buf + h->value_off;

	if (name_is(buf, h, "content-length"))
		return apply_content_length(v, h->value_len, r);
	if (name_is(buf, h, "transfer-encoding"))
		return apply_transfer_encoding(v, h->value_len, st);
	if (name_is(buf, h, "connection") || name_is(buf, h, "proxy-connection")) {
		apply_connection(v, h->value_len, st);
	} else if (name_is(buf, h, "host")) {
		/* RFC 9112 §3.2: more than one Host is a 400. */
		if (st->host_seen)
			return -EINVAL;
		st->host_seen = true;
	} else if (name_is(buf, h, "proxy-authorization")) {
		r->proxy_auth_off = h->value_off;
		r->proxy_auth_len = h->value_len;
	}
	return 0;
}

/* name ":" OWS value OWS, with no whitespace before the colon and no folding. */
static int parse_header_line(const uint8_t *buf, const struct line *l, struct http_request *r,
			     struct parse_state *st)
{
	const uint8_t *p = buf + l->off;
	struct http_header *h;
	size_t i, vs, ve;

	for (i = 0; i < l->len && is_tchar(p[i]); i++)
		;
	/* Also catches obs-fold (leading SP/HTAB) and "Name : value". */
	if (i == 0 || i == l->len || p[i] != ':')
		return -EINVAL;
	for (vs = i + 1; vs < l->len; vs++)
		if (!is_field_char(p[vs]))
			return -EINVAL;
	if (r->nheaders == HTTP_HEADERS_MAX)
		return -E2BIG;
	for (vs = i + 1; vs < l->len && is_ows(p[vs]); vs++)
		;
	for (ve = l->len; ve > vs && is_ows(p[ve - 1]); ve--)
		;
	h = &r->headers[r->nheaders++];
	h->name_off = (uint16_t)l->off;
	h->name_len = (uint16_t)i;
	h->value_off = (uint16_t)(l->off + vs);
	h->value_len = (uint16_t)(ve - vs);
	return apply_header(buf, h, r, st);
}

/* Framing and persistence once every header is in (RFC 9112 §6.1, §6.3, §9.3). */
static int finish_request(struct http_request *r, const struct parse_state *st)
{
	if (st->te_seen) {
		/* HTTP/1.0 has no chunked; TE with CL is a smuggling attempt. */
		if (r->version_minor == 0 || r->content_length >= 0 || !st->te_chunked_last)
			return -EINVAL;
		r->chunked = true;
	}
	if (st->conn_close)
		r->keep_alive = false;
	else
		r->keep_alive = st->conn_keep_alive || r->version_minor == 1;
	return 0;
}

static int parse_request(const uint8_t *buf, size_t len, struct http_request *r, bool origin)
{
	struct parse_state st = { 0 };
	struct line l = { 0 };
	int head = find_head(buf, len, &l), res;

	if (head < 0)
		return head;
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	res = parse_request_line(buf, &l, r, origin);
	while (res == 0 && next_line(buf, l.next, (size_t)head, &l) && l.len > 0)
		res = parse_header_line(buf, &l, r, &st);
	if (res == 0)
		res = finish_request(r, &st);
	if (res < 0)
		return res;
	r->head_len = (size_t)head;
	return head;
}

int http_parse_request(const uint8_t *buf, size_t len, struct http_request *r)
{
	return parse_request(buf, len, r, false);
}

int http_parse_server_request(const uint8_t *buf, size_t len, struct http_request *r)
{
	return parse_request(buf, len, r, true);
}

bool http_header_value(const uint8_t *buf, const struct http_request *r, const char *name,
		       const uint8_t **value, size_t *len)
{
	for (unsigned i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];

		if (name_is(buf, h, name)) {
			*value = buf + h->value_off;
			*len = h->value_len;
			return true;
		}
	}
	return false;
}

/* Bounded output: the first write that does not fit marks the writer full. */
struct writer {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool full;
};

static void put(struct writer *w, const void *s, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void put_str(struct writer *w, const char *s)
{
	put(w, s, strlen(s));
}

/* True if h is named in the value list of any Connection header (RFC 9110 §7.6.1). */
static bool is_listed_in_connection(const uint8_t *buf, const struct http_request *r,
				    const struct http_header *h)
{
	for (unsigned int i = 0; i < r->nheaders; i++) {
		const struct http_header *c = &r->headers[i];
		struct list_iter it = { buf + c->value_off, c->value_len, 0 };
		const uint8_t *e;
		size_t elen;

		if (!name_is(buf, c, "connection"))
			continue;
		while (list_next(&it, &e, &elen))
			if (bytes_equal_ci(e, elen, buf + h->name_off, h->name_len))
				return true;
	}
	return false;
}

static bool is_hop_by_hop(const uint8_t *buf, const struct http_request *r,
			  const struct http_header *h)
{
	static const char *const hop[] = { "connection", "proxy-connection", "keep-alive",
					   "proxy-authorization", "proxy-authenticate",
					   "te", "trailer", "upgrade" };

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (name_is(buf, h, hop[i]))
			return true;
	return is_listed_in_connection(buf, r, h);
}

static void put_host(struct writer *w, const uint8_t *buf, const struct http_request *r)
{
	put_str(w, "Host: ");
	put(w, buf + r->authority_off, r->authority_len);
	put_str(w, "\r\n");
}

static bool has_host(const uint8_t *buf, const struct http_request *r)
{
	for (unsigned int i = 0; i < r->nheaders; i++)
		if (name_is(buf, &r->headers[i], "host"))
			return true;
	return false;
}

int http_rewrite_request(const uint8_t *buf, const struct http_request *r, uint8_t *out,
			 size_t out_len)
{
	struct writer w = { out, 0, out_len, false };
	char ver[] = " HTTP/1.x\r\n";

	if (r->is_connect)
		return -EINVAL;
	put_str(&w, r->method);
	put_str(&w, " ");
	if (r->path_len == 0 || buf[r->path_off] != '/')
		put_str(&w, "/");
	put(&w, buf + r->path_off, r->path_len);
	ver[8] = (char)('0' + r->version_minor);
	put_str(&w, ver);
	if (!has_host(buf, r))
		put_host(&w, buf, r);
	for (unsigned int i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];

		/* RFC 9112 §3.2.2: replace a received Host with the target's. */
		if (name_is(buf, h, "host")) {
			put_host(&w, buf, r);
			continue;
		}
		if (is_hop_by_hop(buf, r, h))
			continue;
		put(&w, buf + h->name_off, h->name_len);
		put_str(&w, ": ");
		put(&w, buf + h->value_off, h->value_len);
		put_str(&w, "\r\n");
	}
	put_str(&w, r->keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
	return w.full ? -ENOSPC : (int)w.len;
}

static const char *default_reason(int code)
{
	static const struct {
		int code;
		const char *reason;
	} table[] = {
		{ 200, "Connection established" },
		{ 400, "Bad Request" },
		{ 403, "Forbidden" },
		{ 405, "Method Not Allowed" },
		{ 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 502, "Bad Gateway" },
		{ 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == code)
			return table[i].reason;
	return "Unknown";
}

size_t http_build_status(uint8_t *out, size_t out_len, int code, const char *reason,
			 bool close)
{
	struct writer w = { out, 0, out_len, false };
	char line[] = "HTTP/1.1 xxx ";

	if (code < 100 || code > 999)
		return 0;
	if (!reason)
		reason = default_reason(code);
	for (const char *c = reason; *c; c++)
		if (!is_field_char((uint8_t)*c))
			return 0;
	line[9] = (char)('0' + code / 100);
	line[10] = (char)('0' + code / 10 % 10);
	line[11] = (char)('0' + code % 10);
	put_str(&w, line);
	put_str(&w, reason);
	put_str(&w, "\r\n");
	/* No length on 1xx/2xx (CONNECT success, RFC 9110 §9.3.6) or 304. */
	if (code >= 300 && code != 304)
		put_str(&w, "Content-Length: 0\r\n");
	if (close)
		put_str(&w, "Connection: close\r\n");
	put_str(&w, "\r\n");
	return w.full ? 0 : w.len;
}

void http_body_init(struct http_body *b, const struct http_request *r)
{
	memset(b, 0, sizeof(*b));
	if (r->is_connect) {
		b->state = HTTP_BODY_ST_DONE;
	} else if (r->chunked) {
		b->state = HTTP_BODY_ST_SIZE;
	} else if (r->content_length > 0) {
		b->state = HTTP_BODY_ST_LENGTH;
		b->remaining = (uint64_t)r->content_length;
	} else {
		b->state = HTTP_BODY_ST_DONE;
	}
}

/* chunk-size [ chunk-ext ] CR: states SIZE and EXT. */
static int feed_size_line(struct http_body *b, uint8_t c)
{
	int v = text_hex_value((unsigned char)c);

	if (++b->line_len > HTTP_HEAD_MAX)
		return -EINVAL;
	if (b->state == HTTP_BODY_ST_SIZE && v >= 0) {
		if (b->remaining > (UINT64_MAX >> 4))
			return -EINVAL;
		b->remaining = b->remaining << 4 | (uint64_t)v;
		b->digits = true;
		return 0;
	}
	if (!b->digits)
		return -EINVAL;
	if (c == '\r') {
		b->state = HTTP_BODY_ST_SIZE_LF;
		return 0;
	}
	/* Extensions are passed through unexamined, but no controls (no bare LF). */
	if (c == ';' || is_ows(c) || (b->state == HTTP_BODY_ST_EXT && is_field_char(c))) {
		b->state = HTTP_BODY_ST_EXT;
		return 0;
	}
	return -EINVAL;
}

/* trailer-section CRLF: field lines until an empty one. */
static int feed_trailer(struct http_body *b, uint8_t c)
{
	if (++b->trailer_len > HTTP_HEAD_MAX)
		return -EINVAL;
	if (b->state == HTTP_BODY_ST_TRAILER) {
		if (c == '\r') {
			b->state = HTTP_BODY_ST_TRAILER_LF;
			return 0;
		}
		if (!is_field_char(c))
			return -EINVAL;
		b->line_len++;
		return 0;
	}
	if (c != '\n')
		return -EINVAL;
	if (b->line_len == 0) {
		b->state = HTTP_BODY_ST_DONE;
		return 1;
	}
	b->line_len = 0;
	b->state = HTTP_BODY_ST_TRAILER;
	return 0;
}

/* One byte of chunked framing outside chunk data. */
static int feed_byte(struct http_body *b, uint8_t c)
{
	switch (b->state) {
	case HTTP_BODY_ST_SIZE:
	case HTTP_BODY_ST_EXT:
		return feed_size_line(b, c);
	case HTTP_BODY_ST_SIZE_LF:
		if (c != '\n')
			return -EINVAL;
		b->state = b->remaining ? HTTP_BODY_ST_DATA : HTTP_BODY_ST_TRAILER;
		b->line_len = 0;
		return 0;
	case HTTP_BODY_ST_DATA_CR:
		if (c != '\r')
			return -EINVAL;
		b->state = HTTP_BODY_ST_DATA_LF;
		return 0;
	case HTTP_BODY_ST_DATA_LF:
		if (c != '\n')
			return -EINVAL;
		b->state = HTTP_BODY_ST_SIZE;
		b->remaining = 0;
		b->digits = false;
		b->line_len = 0;
		return 0;
	case HTTP_BODY_ST_TRAILER:
	case HTTP_BODY_ST_TRAILER_LF:
		return feed_trailer(b, c);
	default:
		return -EINVAL;
	}
}

int http_body_feed(struct http_body *b, const uint8_t *buf, size_t len, size_t *consumed)
{
	size_t i = 0;

	while (i < len && b->state != HTTP_BODY_ST_DONE && b->state != HTTP_BODY_ST_ERROR) {
		if (b->state == HTTP_BODY_ST_LENGTH || b->state == HTTP_BODY_ST_DATA) {
			size_t n = len - i;

			if (n > b->remaining)
				n = (size_t)b->remaining;
			i += n;
			b->remaining -= n;
			if (b->remaining == 0)
				b->state = b->state == HTTP_BODY_ST_LENGTH ? HTTP_BODY_ST_DONE
									   : HTTP_BODY_ST_DATA_CR;
			continue;
		}
		if (feed_byte(b, buf[i++]) < 0)
			b->state = HTTP_BODY_ST_ERROR;
	}
	*consumed = i;
	if (b->state == HTTP_BODY_ST_ERROR)
		return -EINVAL;
	return b->state == HTTP_BODY_ST_DONE;
}
