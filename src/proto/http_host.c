/* SPDX-License-Identifier: MIT */
/*
 * http_host — the Host, Origin and Content-Type checks of a server of our
 * own (proto/http_host.h). Pure: no resolver, no sockets. A name is never
 * looked up: whether it resolves to us is exactly what a rebinding attacker
 * controls, so only literals, "localhost" and the operator's names pass.
 */
#include "proto/http_host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proto/hostport.h"

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* a[0..n) equals the NUL-terminated b, ASCII case-insensitive. */
static bool same(const uint8_t *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* p[0..n) as a NUL-terminated literal of family af. */
static bool literal(int af, const uint8_t *p, size_t n)
{
	char s[INET6_ADDRSTRLEN];
	unsigned char a[sizeof(struct in6_addr)];

	if (n == 0 || n >= sizeof(s))
		return false;
	memcpy(s, p, n);
	s[n] = '\0';
	return inet_pton(af, s, a) == 1;
}

bool http_host_allowed(const uint8_t *v, size_t len, const char *const *names, size_t n)
{
	/* A port of 0..65535 or none; an empty one ("host:"), which RFC 3986
	 * allows, is refused: no browser sends it. */
	const unsigned int flags = HOSTPORT_PORT_OPTIONAL | HOSTPORT_PORT_ZERO;
	struct hostport_span hp;
	const uint8_t *h;

	if (len == 0)
		return false;
	/* Visible ASCII only: no NUL, space or control byte hides in a name. */
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return false;
	/* An IPv6 literal must be bracketed: a second colon is refused. */
	if (hostport_split((const char *)v, len, flags, &hp) != HOSTPORT_OK || hp.host_len == 0)
		return false;
	h = (const uint8_t *)hp.host;
	if (hp.bracketed)
		return literal(AF_INET6, h, hp.host_len);
	if (literal(AF_INET, h, hp.host_len) || same(h, hp.host_len, "localhost"))
		return true;
	for (size_t i = 0; i < n; i++)
		if (names[i] && same(h, hp.host_len, names[i]))
			return true;
	return false;
}

bool http_origin_allowed(const uint8_t *v, size_t len, const char *const *names, size_t n)
{
	size_t s;

	if (len > 7 && same(v, 7, "http://"))
		s = 7;
	else if (len > 8 && same(v, 8, "https://"))
		s = 8;
	else
		return false; /* "null" (a sandboxed or file: page), other schemes */
	if (memchr(v + s, '/', len - s))
		return false; /* an origin has no path */
	return http_host_allowed(v + s, len - s, names, n);
}

bool http_media_type_is(const uint8_t *v, size_t len, const char *type)
{
	size_t tl = strlen(type), i = 0;

	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (len - i < tl || !same(v + i, tl, type))
		return false;
	i += tl;
	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	return i == len || v[i] == ';';
}
