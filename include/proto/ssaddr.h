/* SPDX-License-Identifier: MIT */
/*
 * ssaddr — the Shadowsocks / SOCKS5 address header: ATYP | ADDR | PORT
 * (protocol.md §1.9, §2). Pure code over bytes.
 */
#ifndef SSRING_SSADDR_H
#define SSRING_SSADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SSADDR_ATYP_IPV4 0x01
#define SSADDR_ATYP_DOMAIN 0x03
#define SSADDR_ATYP_IPV6 0x04
/* Longest encoded header: ATYP + len + 255 name bytes + port. */
#define SSADDR_MAX_BYTES 259

struct ssaddr {
	uint8_t atyp;
	uint16_t port;            /* host order */
	union {
		uint8_t ipv4[4];
		uint8_t ipv6[16];
		struct {
			uint8_t len;
			char name[256]; /* NUL-terminated copy */
		} domain;
	} u;
};

/*
 * Parse a header at the start of buf[0..len). Returns the number of bytes it
 * occupies, -EAGAIN if more bytes are needed to decide, or -EINVAL for an
 * unknown ATYP or a zero-length domain.
 */
int ssaddr_parse(const uint8_t *buf, size_t len, struct ssaddr *out);
/* Encode a into out (room for SSADDR_MAX_BYTES). Returns the length. */
size_t ssaddr_encode(const struct ssaddr *a, uint8_t *out);
/*
 * Turn a into a socket address. A domain holding an IPv4/IPv6 literal is
 * converted too. Returns 0, or -EAGAIN for a real domain name (needs DNS).
 */
int ssaddr_to_sockaddr(const struct ssaddr *a, struct sockaddr_storage *ss, socklen_t *len);
/* Build an ssaddr from a socket address (AF_INET/AF_INET6). 0 or -EAFNOSUPPORT. */
int ssaddr_from_sockaddr(const struct sockaddr *sa, struct ssaddr *out);
/* Printable "host:port" / "[v6]:port" for logs. Returns buf. */
const char *ssaddr_format(const struct ssaddr *a, char *buf, size_t len);
/*
 * True if sa is in a range the server must not reach unless allowed:
 * loopback, private (RFC 1918, ULA), link-local, unspecified, CGNAT,
 * multicast, broadcast, documentation/benchmark and IPv4-mapped forms of these.
 */
bool ssaddr_is_special(const struct sockaddr *sa);

#endif
