/* SPDX-License-Identifier: MIT */
/*
 * hostport — pure parser for "host:port" strings from the config:
 * "1.2.3.4:80", "[2001:db8::1]:443", "example.com:8388".
 */
#ifndef SSRING_HOSTPORT_H
#define SSRING_HOSTPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define HOSTPORT_HOST_MAX 255

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
/* Format addr as "1.2.3.4:80" or "[::1]:80" into buf. Returns buf. */
const char *hostport_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
