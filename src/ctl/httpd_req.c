/* SPDX-License-Identifier: MIT */
/*
 * httpd_req — the I/O-free half of ctl/httpd.h: from the bytes a
 * connection has received to the bytes of its answer (the head, the
 * Content-Length and its body, the handler, the status line and headers).
 * httpd.c only moves bytes and keeps time; tests and fuzz_httpd call
 * httpd_consider() with the same bytes and get the same answer.
 */
#include "ctl/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

bool httpd_text(struct httpd_resp *resp, int status, const char *type, const char *text)
{
	size_t len = strlen(text);

	resp->status = status;
	resp->body = malloc(len + 1);
	if (!resp->body) {
		/* No memory for the body: the status alone, never a length without bytes. */
		resp->content_type = NULL;
		resp->len = 0;
		return false;
	}
	resp->content_type = type;
	resp->len = len;
	memcpy(resp->body, text, len + 1);
	return true;
}

unsigned httpd_header(const struct httpd_req *req, const char *name, const uint8_t **v,
		      size_t *len)
{
	const struct http_request *r = req->head;
	size_t nl = strlen(name);
	unsigned n = 0;

	for (unsigned i = 0; i < r->nheaders; i++) {
		const struct http_header *hd = &r->headers[i];

		if (hd->name_len != nl ||
		    strncasecmp((const char *)req->buf + hd->name_off, name, nl))
			continue;
		if (!n++) {
			*v = req->buf + hd->value_off;
			*len = hd->value_len;
		}
	}
	return n;
}

bool httpd_token_ok(const struct httpd_req *req, const char *token)
{
	size_t tl = strlen(token), vl = 0;
	const uint8_t *v = NULL;
	unsigned diff = 0;

	if (!tl)
		return true;
	/* Two Authorization headers are one too many: which would a proxy have checked? */
	if (httpd_header(req, "Authorization", &v, &vl) != 1 || vl != 7 + tl ||
	    strncasecmp((const char *)v, "Bearer ", 7))
		return false;
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned)(v[7 + i] ^ (uint8_t)token[i]);
	return diff == 0;
}

/* The answer's bytes: status line, headers, body (r->body is freed). NULL without memory. */
static char *answer(struct httpd_resp *r, size_t *out_len)
{
	char head[512], *out;
	int n;

	/* No body with 204 (RFC 9110 §15.3.5). */
	if (r->status == 204)
		r->len = 0;
	if (r->len && !r->body) {
		/* A handler that lost its body: nothing sensible to send. */
		return NULL;
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		     r->status, reason(r->status), r->content_type ? "Content-Type: " : "",
		     r->content_type ? r->content_type : "", r->content_type ? "\r\n" : "", r->len,
		     r->extra_headers ? r->extra_headers : "");
	if (n <= 0 || (size_t)n >= sizeof(head))
		return NULL;
	out = malloc((size_t)n + r->len);
	if (!out)
		return NULL;
	memcpy(out, head, (size_t)n);
	if (r->len)
		memcpy(out + n, r->body, r->len);
	*out_len = (size_t)n + r->len;
	return out;
}

/* An error httpd gives itself: "431 Request Header Fields Too Large\n". */
static void status_only(struct httpd_resp *r, int status)
{
	char text[128];

	snprintf(text, sizeof(text), "%d %s\n", status, reason(status));
	httpd_text(r, status, "text/plain; charset=utf-8", text);
}

int httpd_consider(struct loop *l, const struct httpd_limits *lim, httpd_handler handler,
		   void *arg, const uint8_t *in, size_t len, char **out, size_t *out_len)
{
	struct http_request r;
	struct httpd_resp resp = { 0 };
	int n = http_parse_server_request(in, len < lim->max_head ? len : lim->max_head, &r);
	size_t need;

	if (n == -EAGAIN && len < lim->max_head)
		return -EAGAIN;
	if (n == -EAGAIN || n == -E2BIG) {
		status_only(&resp, 431);
	} else if (n < 0) {
		status_only(&resp, 400);
	} else if (r.chunked) {
		status_only(&resp, 411);
	} else if (r.content_length > 0 && (uint64_t)r.content_length > lim->max_body) {
		status_only(&resp, 413);
	} else {
		need = (size_t)n + (size_t)(r.content_length > 0 ? r.content_length : 0);
		if (len < need)
			return -EAGAIN;
		struct httpd_req req = { .buf = in, .head = &r, .body = in + n,
					 .body_len = need - (size_t)n };

		handler(l, arg, &req, &resp);
	}
	*out = answer(&resp, out_len);
	free(resp.body);
	return *out ? 0 : -ENOMEM;
}
