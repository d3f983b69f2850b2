/* SPDX-License-Identifier: MIT */
/*
 * socks4 — pure codec for SOCKS4 and its 4a extension on a local's port
 * (protocol.md §1.1: VER 04). SOCKS4 has no RFC; what clients send is the
 * NEC paper's request, and 4a's names:
 *
 *   VN 04 | CD | DSTPORT u16be | DSTIP 4 bytes | USERID ... 00
 *   4a:  DSTIP 0.0.0.x with x != 0, then after USERID's NUL: HOST ... 00
 *
 * The reply is VN 00 | CD (90 granted, 91 rejected or failed, 92/93 the
 * identd codes) | DSTPORT | DSTIP: clients ignore the last two for CONNECT.
 */
#ifndef SSRING_SOCKS4_H
#define SSRING_SOCKS4_H

#include <stddef.h>
#include <stdint.h>

#include "proto/ssaddr.h"

#define SOCKS4_VER 0x04

#define SOCKS4_CMD_CONNECT 0x01
#define SOCKS4_CMD_BIND 0x02

#define SOCKS4_REP_GRANTED 90
#define SOCKS4_REP_REJECTED 91      /* request rejected or failed */
#define SOCKS4_REP_NO_IDENTD 92     /* cannot connect to the client's identd */
#define SOCKS4_REP_USERID_MISMATCH 93 /* identd and the client report different user ids */

/* Fixed part of a request: VN CD DSTPORT DSTIP. */
#define SOCKS4_HEAD_BYTES 8
/* The longest USERID and 4a HOST accepted, NUL not counted: a name fits the
 * address header's one length byte; a user id longer than that is not one. */
#define SOCKS4_USERID_MAX 255
#define SOCKS4_HOST_MAX 255
#define SOCKS4_REQUEST_MAX (SOCKS4_HEAD_BYTES + SOCKS4_USERID_MAX + 1 + SOCKS4_HOST_MAX + 1)
#define SOCKS4_REPLY_BYTES 8

struct socks4_request {
	uint8_t cmd;            /* not validated: the caller refuses what it lacks (91) */
	uint8_t is_4a;          /* dst is the name that followed the user id */
	uint16_t user_len;
	char user[SOCKS4_USERID_MAX + 1]; /* NUL-terminated copy */
	struct ssaddr dst;      /* IPv4, or a domain for 4a */
};

/*
 * Parse the request at buf[0..len), as much as has arrived. Returns the
 * bytes it occupies; -EAGAIN while it is incomplete (every proper prefix of
 * a request is); -EPROTO if VN is not 4 (decided on the first byte); -E2BIG
 * when USERID or HOST runs past its maximum without its NUL; -EINVAL for an
 * empty 4a HOST.
 */
int socks4_parse_request(const uint8_t *buf, size_t len, struct socks4_request *r);
/* The reply VN 00 | code | port 0 | 0.0.0.0 into out (SOCKS4_REPLY_BYTES). */
size_t socks4_build_reply(uint8_t *out, uint8_t code);

#endif
