/* SPDX-License-Identifier: MIT */
/*
 * sockaddr — the IPv4/IPv6 socket-address chores, written once: the length
 * by family, the port (network order handled here), building one from an
 * address, and equality. The text form ("1.2.3.4:80", "[::1]:80") is
 * hostport_format_addr (proto/hostport.h).
 *
 * Inline: the UDP relay calls them for every datagram. Any family other
 * than AF_INET and AF_INET6 has length 0 and port 0, is equal to nothing,
 * and its port is never written.
 */
#ifndef SSRING_SOCKADDR_H
#define SSRING_SOCKADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

static inline socklen_t sockaddr_len(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (sa->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

/* The port in host order. */
static inline uint16_t sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

/* Set the port, given in host order. */
static inline void sockaddr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

/*
 * Fill ss (zeroed first) with family af (AF_INET: 4 bytes at ip, else
 * AF_INET6: 16) and port (host order). Returns its length.
 */
static inline socklen_t sockaddr_fill(struct sockaddr_storage *ss, int af, const void *ip,
				      uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ip, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ip, 16);
	}
	sockaddr_set_port((struct sockaddr *)ss, port);
	return sockaddr_len((const struct sockaddr *)ss);
}

/* Same family and address; the ports are not compared. */
static inline bool sockaddr_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
	return false;
}

/* 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address. */
static inline bool sockaddr_is_loopback(const struct sockaddr *sa)
{
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* Same family, address and port (the scope and flow label are not compared). */
static inline bool sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	return sockaddr_same_ip(a, b) && sockaddr_port(a) == sockaddr_port(b);
}

#endif
