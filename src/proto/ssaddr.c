/* SPDX-License-Identifier: MIT */
#include "proto/ssaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proto/sockaddr.h"

int ssaddr_parse(const uint8_t *buf, size_t len, struct ssaddr *out)
{
	size_t need;

	if (len < 1)
		return -EAGAIN;
	out->atyp = buf[0];
	switch (buf[0]) {
	case SSADDR_ATYP_IPV4:
		need = 1 + 4 + 2;
		if (len < need)
			return -EAGAIN;
		memcpy(out->u.ipv4, buf + 1, 4);
		break;
	case SSADDR_ATYP_IPV6:
		need = 1 + 16 + 2;
		if (len < need)
			return -EAGAIN;
		memcpy(out->u.ipv6, buf + 1, 16);
		break;
	case SSADDR_ATYP_DOMAIN:
		if (len < 2)
			return -EAGAIN;
		if (buf[1] == 0)
			return -EINVAL;
		need = 2 + (size_t)buf[1] + 2;
		if (len < need)
			return -EAGAIN;
		out->u.domain.len = buf[1];
		memcpy(out->u.domain.name, buf + 2, buf[1]);
		out->u.domain.name[buf[1]] = '\0';
		break;
	default:
		return -EINVAL;
	}
	out->port = (uint16_t)(buf[need - 2] << 8 | buf[need - 1]);
	return (int)need;
}

size_t ssaddr_encode(const struct ssaddr *a, uint8_t *out)
{
	size_t n = 1;

	out[0] = a->atyp;
	switch (a->atyp) {
	case SSADDR_ATYP_IPV4:
		memcpy(out + 1, a->u.ipv4, 4);
		n += 4;
		break;
	case SSADDR_ATYP_IPV6:
		memcpy(out + 1, a->u.ipv6, 16);
		n += 16;
		break;
	default:
		out[1] = a->u.domain.len;
		memcpy(out + 2, a->u.domain.name, a->u.domain.len);
		n += 1 + a->u.domain.len;
		break;
	}
	out[n++] = (uint8_t)(a->port >> 8);
	out[n++] = (uint8_t)a->port;
	return n;
}

int ssaddr_to_sockaddr(const struct ssaddr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	uint8_t ip[16];

	switch (a->atyp) {
	case SSADDR_ATYP_IPV4:
		*len = sockaddr_fill(ss, AF_INET, a->u.ipv4, a->port);
		return 0;
	case SSADDR_ATYP_IPV6:
		*len = sockaddr_fill(ss, AF_INET6, a->u.ipv6, a->port);
		return 0;
	default:
		/* Clients such as curl --socks5-hostname send IP literals as names. */
		if (inet_pton(AF_INET, a->u.domain.name, ip) == 1) {
			*len = sockaddr_fill(ss, AF_INET, ip, a->port);
			return 0;
		}
		if (inet_pton(AF_INET6, a->u.domain.name, ip) == 1) {
			*len = sockaddr_fill(ss, AF_INET6, ip, a->port);
			return 0;
		}
		return -EAGAIN;
	}
}

int ssaddr_from_sockaddr(const struct sockaddr *sa, struct ssaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		out->atyp = SSADDR_ATYP_IPV4;
		memcpy(out->u.ipv4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		out->atyp = SSADDR_ATYP_IPV6;
		memcpy(out->u.ipv6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	out->port = sockaddr_port(sa);
	return 0;
}

const char *ssaddr_format(const struct ssaddr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	switch (a->atyp) {
	case SSADDR_ATYP_IPV4:
		inet_ntop(AF_INET, a->u.ipv4, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, a->port);
		break;
	case SSADDR_ATYP_IPV6:
		inet_ntop(AF_INET6, a->u.ipv6, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, a->port);
		break;
	default:
		/* Names come from the network: print only safe characters. */
		{
			char safe[256];
			size_t i;

			for (i = 0; i < a->u.domain.len; i++) {
				unsigned char ch = (unsigned char)a->u.domain.name[i];

				safe[i] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
			}
			safe[i] = '\0';
			snprintf(buf, len, "%s:%u", safe, a->port);
		}
		break;
	}
	return buf;
}

static bool v4_special(const uint8_t *b)
{
	return b[0] == 0 || b[0] == 10 || b[0] == 127 ||
	       (b[0] == 100 && (b[1] & 0xc0) == 64) ||     /* 100.64/10 CGNAT */
	       (b[0] == 169 && b[1] == 254) ||              /* link-local */
	       (b[0] == 172 && (b[1] & 0xf0) == 16) ||      /* 172.16/12 */
	       (b[0] == 192 && b[1] == 0 && b[2] == 0) ||   /* 192.0.0/24 */
	       (b[0] == 192 && b[1] == 0 && b[2] == 2) ||   /* TEST-NET-1 */
	       (b[0] == 192 && b[1] == 168) ||
	       (b[0] == 198 && (b[1] & 0xfe) == 18) ||      /* 198.18/15 */
	       (b[0] == 198 && b[1] == 51 && b[2] == 100) || /* TEST-NET-2 */
	       (b[0] == 203 && b[1] == 0 && b[2] == 113) ||  /* TEST-NET-3 */
	       b[0] >= 224;                                   /* multicast, reserved */
}

bool ssaddr_is_special(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_special((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		static const uint8_t zero[15] = { 0 };

		if (memcmp(b, mapped, 12) == 0)
			return v4_special(b + 12);
		if (memcmp(b, zero, 15) == 0)
			return true;                          /* :: and ::1 */
		return (b[0] & 0xfe) == 0xfc ||               /* fc00::/7 ULA */
		       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
		       b[0] == 0xff ||                        /* multicast */
		       (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||
		       (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b);
	}
	return true;
}
