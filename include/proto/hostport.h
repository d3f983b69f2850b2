/* SPDX-License-Identifier: MIT */
/*
 * hostport — pure parser for "host:port" strings from the config:
 * "1.2.3.4:80", "[2001:db8::1]:443", "example.com:8388"; and the one
 * splitter of host[:port] every codec uses (config, ss:// links, URLs, HTTP
 * authorities and Host headers).
 */
#ifndef SSRING_HOSTPORT_H
#define SSRING_HOSTPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define HOSTPORT_HOST_MAX 255

/*
 * What hostport_split accepts beyond "host:port" with a port of 1..65535 in
 * 1..5 digits. The grammars differ on these only: a URL or Host header may
 * leave the port out, a Host header and a listen address may name port 0,
 * and the config has always taken leading zeros ("1.2.3.4:000080").
 */
#define HOSTPORT_PORT_OPTIONAL 0x1u /* "host" and "[v6]" alone: has_port false */
#define HOSTPORT_PORT_ZERO 0x2u     /* port 0 is a port */
#define HOSTPORT_PORT_LONG 0x4u     /* any number of digits while the value fits */

/*
 * Why hostport_split refused, in the order it checks, so that each caller
 * can word its own message (and check the host span first, where it did).
 */
enum hostport_err {
	HOSTPORT_OK,
	HOSTPORT_E_BRACKET, /* "[" with no "]": the only error with no host span */
	HOSTPORT_E_AFTER,   /* "]" followed by something else than ":" */
	HOSTPORT_E_NO_PORT, /* no ":port" and HOSTPORT_PORT_OPTIONAL not given */
	HOSTPORT_E_COLONS,  /* a second colon outside brackets: a bare IPv6 address */
	HOSTPORT_E_PORT,    /* the port is empty, not digits, too long or out of range */
};

/* host[:port] split, the host pointing into the input. */
struct hostport_span {
	const char *host; /* without brackets; may be empty: the caller checks it */
	size_t host_len;
	uint16_t port;    /* valid when has_port */
	bool bracketed;   /* "[...]": the caller checks that it is an IPv6 literal */
	bool has_port;
};

struct hostport {
	char host[HOSTPORT_HOST_MAX + 1]; /* without brackets, NUL-terminated */
	uint16_t port;
	bool is_ip;                       /* host is an IPv4/IPv6 literal */
	struct sockaddr_storage addr;     /* valid when is_ip (port filled in) */
	socklen_t addr_len;
};

/*
 * Parse s. Port must be 1..65535 (0 allowed only when allow_zero_port).
 * Host names: 1..255 bytes of [A-Za-z0-9.-_]; IPv6 literals must be bracketed.
 * Returns 0 or -EINVAL.
 */
int hostport_parse(const char *s, bool allow_zero_port, struct hostport *out);
/*
 * Sanity check of a host name: [A-Za-z0-9._-], no empty label (one trailing
 * dot allowed), labels of at most 63 bytes, last label not all digits.
 */
bool hostport_is_host_name(const char *h, size_t len);
/*
 * Split s[0..len) (no NUL needed) as "[v6]:port", "[v6]", "host:port" or
 * "host": the host is the text inside the first brackets when s starts with
 * "[", else everything before the first colon; nothing about it is checked
 * but that an unbracketed host holds no colon. Returns 0 (HOSTPORT_OK) or a
 * positive enum hostport_err; out is filled in either way (host empty on
 * HOSTPORT_E_BRACKET, port 0 when there is none).
 */
int hostport_split(const char *s, size_t len, unsigned int flags, struct hostport_span *out);
/* Format addr as "1.2.3.4:80" or "[::1]:80" into buf. Returns buf. */
const char *hostport_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
