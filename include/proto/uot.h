/* SPDX-License-Identifier: MIT */
/*
 * uot — UDP over TCP, sing-box's protocol version 2 (github.com/sagernet/
 * sing, common/uot). A client opens an ordinary ss TCP stream to the magic
 * destination "sp.v2.udp-over-tcp.arpa" (a domain, port 0) and sends a
 * request: isConnect (1 byte) | destination as a SOCKS5 address (ATYP 01
 * IPv4, 03 domain, 04 IPv6 | address | u16be port). Then datagrams go both
 * ways as frames:
 *   connect mode (isConnect != 0): u16be length | data, all to (and from)
 *     the request's destination;
 *   otherwise: address | u16be length | data, where the address (the
 *     destination up, the source of a reply down) has a family byte of its
 *     own: 00 IPv4, 01 IPv6, 02 domain (sing's AddrParser), then the address
 *     and a u16be port as in SOCKS5.
 * Version 1 ("sp.udp-over-tcp.arpa") has no request: frames with addresses
 * from the first byte on. Pure code over bytes.
 */
#ifndef SSRING_UOT_H
#define SSRING_UOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/ssaddr.h"

#define UOT_MAGIC "sp.v2.udp-over-tcp.arpa"
#define UOT_MAGIC_V1 "sp.udp-over-tcp.arpa"
/* The longest request: isConnect and a SOCKS5 address. */
#define UOT_REQUEST_MAX (1 + SSADDR_MAX_BYTES)
/* The longest frame header (an address with a 255-byte name, the length),
 * and the longest frame. */
#define UOT_FRAME_HDR_MAX (SSADDR_MAX_BYTES + 2)
#define UOT_FRAME_MAX (UOT_FRAME_HDR_MAX + 0xFFFF)

struct uot_request {
	bool connect;           /* isConnect: frames carry no address */
	struct ssaddr dst;      /* the destination of every frame in connect mode */
};

struct uot_frame {
	struct ssaddr addr;     /* without connect mode: its address */
	const uint8_t *data;    /* inside the parsed bytes */
	uint16_t len;
};

/* The UoT version a request's target asks for: 2, 1 (legacy), 0 (none). */
int uot_version(const struct ssaddr *target);
/* The magic target of version 2 (a domain, port 0). */
void uot_magic(struct ssaddr *target);
/*
 * The request at p[0..n): its length, -EAGAIN while it is incomplete (it is
 * never longer than UOT_REQUEST_MAX), -EINVAL if the address is bad. Any
 * non-zero isConnect is connect mode (sing reads it as a Go bool).
 */
int uot_request_parse(const uint8_t *p, size_t n, struct uot_request *r);
/* Encode r into out (UOT_REQUEST_MAX bytes of room); its length. */
size_t uot_request_build(const struct uot_request *r, uint8_t *out);
/*
 * One frame at the start of p[0..n): its whole length (header and data),
 * with f pointing into p; -EAGAIN while incomplete, with *need the bytes
 * the frame needs as far as its first n bytes tell (always more than n, at
 * most UOT_FRAME_MAX); -EINVAL for an unknown family byte or an empty name.
 * An IPv4-mapped IPv6 address is taken as the IPv4 address (as sing does).
 */
int uot_frame_parse(const uint8_t *p, size_t n, bool connect, struct uot_frame *f, size_t *need);
/*
 * The header of a frame of len data bytes (to or from a, unless connect)
 * into out (UOT_FRAME_HDR_MAX bytes of room); its length. The data follows
 * it as it is.
 */
size_t uot_frame_header(bool connect, const struct ssaddr *a, size_t len, uint8_t *out);

#endif
