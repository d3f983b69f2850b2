/* SPDX-License-Identifier: MIT */
/*
 * hostport — parse "host:port" from the config, and split host[:port] for
 * every codec that reads one (each then checks the host by its own
 * grammar). Pure: no resolver, no sockets. Host names are only checked for
 * sanity here; the resolver decides whether they exist.
 */
#include "proto/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proto/sockaddr.h"

/* Decimal port, digits only: no sign, no spaces, nothing after it. */
static bool parse_port(const char *s, size_t n, unsigned int flags, uint16_t *port)
{
	unsigned long v = 0;

	if (n == 0 || (n > 5 && !(flags & HOSTPORT_PORT_LONG)))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
		/* Stop early so a long run of digits cannot overflow. */
		if (v > 65535)
			return false;
	}
	if (v == 0 && !(flags & HOSTPORT_PORT_ZERO))
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/*
 * Sanity checks for a host name, not full RFC 1123: allowed characters, no
 * empty label (one trailing dot is allowed, it is the absolute form), labels
 * of at most 63 bytes. The last label must not be all digits: no top-level
 * domain is, so "1.2.3.256" or "10.1" are typos of an IPv4 address, and
 * handing them to the resolver would only produce a confusing failure later.
 */
bool hostport_is_host_name(const char *h, size_t len)
{
	size_t i, label = 0, last_start = 0, end = len;
	bool all_digits = true;

	if (len == 0 || len > HOSTPORT_HOST_MAX)
		return false;
	if (h[len - 1] == '.')
		end = len - 1;
	if (end == 0)
		return false;
	for (i = 0; i < end; i++) {
		if (!is_name_char(h[i]))
			return false;
		if (h[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			last_start = i + 1;
			continue;
		}
		if (++label > 63)
			return false;
	}
	if (label == 0)
		return false;
	for (i = last_start; i < end; i++)
		if (h[i] < '0' || h[i] > '9')
			all_digits = false;
	return !all_digits;
}

/* An IP literal's address, with the port already parsed. */
static int fill_ip(struct hostport *out, int af, const void *ip)
{
	out->addr_len = sockaddr_fill(&out->addr, af, ip, out->port);
	out->is_ip = true;
	return 0;
}

int hostport_split(const char *s, size_t len, unsigned int flags, struct hostport_span *out)
{
	const char *end = s + len, *rest, *colon;

	memset(out, 0, sizeof(*out));
	out->host = s;
	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb)
			return HOSTPORT_E_BRACKET;
		out->host = s + 1;
		out->host_len = (size_t)(rb - s - 1);
		out->bracketed = true;
		rest = rb + 1;
		if (rest < end && *rest != ':')
			return HOSTPORT_E_AFTER;
	} else {
		colon = len ? memchr(s, ':', len) : NULL;
		rest = colon ? colon : end;
		out->host_len = (size_t)(rest - s);
		/* A second colon: an unbracketed IPv6 address (or garbage), which
		 * no split can tell from its port. */
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return HOSTPORT_E_COLONS;
	}
	if (rest == end)
		return flags & HOSTPORT_PORT_OPTIONAL ? HOSTPORT_OK : HOSTPORT_E_NO_PORT;
	if (!parse_port(rest + 1, (size_t)(end - rest - 1), flags, &out->port))
		return HOSTPORT_E_PORT;
	out->has_port = true;
	return HOSTPORT_OK;
}

int hostport_parse(const char *s, bool allow_zero_port, struct hostport *out)
{
	unsigned int flags = HOSTPORT_PORT_LONG | (allow_zero_port ? HOSTPORT_PORT_ZERO : 0);
	struct hostport_span sp;
	struct in6_addr a6;
	struct in_addr a4;
	size_t max;

	memset(out, 0, sizeof(*out));
	if (hostport_split(s, strlen(s), flags, &sp) != HOSTPORT_OK)
		return -EINVAL;
	/* The longest textual IPv6 address is 45 bytes (INET6_ADDRSTRLEN - 1). */
	max = sp.bracketed ? INET6_ADDRSTRLEN - 1 : HOSTPORT_HOST_MAX;
	if (sp.host_len == 0 || sp.host_len > max)
		return -EINVAL;
	memcpy(out->host, sp.host, sp.host_len);
	out->port = sp.port;
	if (sp.bracketed) {
		/* Only the bracketed form: a bare "::1:80" is ambiguous. */
		if (inet_pton(AF_INET6, out->host, &a6) == 1)
			return fill_ip(out, AF_INET6, &a6);
	} else if (inet_pton(AF_INET, out->host, &a4) == 1) {
		/* inet_pton accepts only the strict dotted quad, no "010.1" or "0x7f.1". */
		return fill_ip(out, AF_INET, &a4);
	} else if (hostport_is_host_name(out->host, sp.host_len)) {
		return 0;
	}
	/* Leave no half-parsed result behind for a caller that ignores ret. */
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

const char *hostport_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
		break;
	}
	default:
		snprintf(buf, len, "(address family %d)", sa->sa_family);
		break;
	}
	return buf;
}
