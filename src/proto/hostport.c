/* SPDX-License-Identifier: MIT */
/*
 * hostport — parse "host:port" from the config. Pure: no resolver, no
 * sockets. Host names are only checked for sanity here; the resolver decides
 * whether they exist.
 */
#include "proto/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Decimal port, digits only: no sign, no spaces, nothing after it. */
static int parse_port(const char *s, bool allow_zero, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		/* Stop early so a long run of digits cannot overflow. */
		if (v > 65535)
			return -EINVAL;
	}
	if (v == 0 && !allow_zero)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
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

static void fill_in4(struct hostport *out, const struct in_addr *a)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(out->port);
	sin->sin_addr = *a;
	out->addr_len = sizeof(*sin);
	out->is_ip = true;
}

static void fill_in6(struct hostport *out, const struct in6_addr *a)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(out->port);
	sin6->sin6_addr = *a;
	out->addr_len = sizeof(*sin6);
	out->is_ip = true;
}

/* "[v6]:port". Only the bracketed form: a bare "::1:80" is ambiguous. */
static int parse_bracketed(const char *s, bool allow_zero, struct hostport *out)
{
	const char *close = strchr(s, ']');
	struct in6_addr a6;
	size_t len;

	if (!close || close[1] != ':')
		return -EINVAL;
	len = (size_t)(close - (s + 1));
	/* The longest textual IPv6 address is 45 bytes (INET6_ADDRSTRLEN - 1). */
	if (len == 0 || len >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(out->host, s + 1, len);
	out->host[len] = '\0';
	if (inet_pton(AF_INET6, out->host, &a6) != 1)
		return -EINVAL;
	if (parse_port(close + 2, allow_zero, &out->port))
		return -EINVAL;
	fill_in6(out, &a6);
	return 0;
}

int hostport_parse(const char *s, bool allow_zero_port, struct hostport *out)
{
	const char *colon;
	struct in_addr a4;
	size_t len;
	int ret;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		ret = parse_bracketed(s, allow_zero_port, out);
		goto done;
	}
	colon = strchr(s, ':');
	/* A second colon means an unbracketed IPv6 address (or garbage). */
	if (!colon || strchr(colon + 1, ':')) {
		ret = -EINVAL;
		goto done;
	}
	len = (size_t)(colon - s);
	if (len == 0 || len > HOSTPORT_HOST_MAX) {
		ret = -EINVAL;
		goto done;
	}
	memcpy(out->host, s, len);
	out->host[len] = '\0';
	ret = parse_port(colon + 1, allow_zero_port, &out->port);
	if (ret)
		goto done;
	/* inet_pton accepts only the strict dotted quad, no "010.1" or "0x7f.1". */
	if (inet_pton(AF_INET, out->host, &a4) == 1)
		fill_in4(out, &a4);
	else if (!hostport_is_host_name(out->host, len))
		ret = -EINVAL;
done:
	/* Leave no half-parsed result behind for a caller that ignores ret. */
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
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
