/* SPDX-License-Identifier: MIT */
/*
 * socks5 — pure codecs for the SOCKS5 front end of the "local" role
 * (RFC 1928, RFC 1929; protocol.md §1). No sockets, no allocation: every
 * parser takes the bytes received so far and either fills its struct and
 * returns how many bytes the message occupies, or returns -EAGAIN ("need
 * more bytes") or a -errno naming what is wrong with the message.
 */
#ifndef SSRING_SOCKS5_H
#define SSRING_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/ssaddr.h"

#define SOCKS5_VER 0x05
#define SOCKS5_AUTH_VER 0x01 /* RFC 1929 sub-negotiation version */

#define SOCKS5_METHOD_NOAUTH 0x00
#define SOCKS5_METHOD_USERPASS 0x02
#define SOCKS5_METHOD_NONE 0xff /* no acceptable method: reply, then close */

#define SOCKS5_AUTH_STATUS_OK 0x00
#define SOCKS5_AUTH_STATUS_FAIL 0xff /* any non-zero fails; RUST sends 0xff */

#define SOCKS5_CMD_CONNECT 0x01
#define SOCKS5_CMD_BIND 0x02
#define SOCKS5_CMD_UDP_ASSOCIATE 0x03

#define SOCKS5_REP_SUCCEEDED 0x00
#define SOCKS5_REP_GENERAL_FAILURE 0x01
#define SOCKS5_REP_NOT_ALLOWED 0x02 /* connection not allowed by ruleset */
#define SOCKS5_REP_NETWORK_UNREACHABLE 0x03
#define SOCKS5_REP_HOST_UNREACHABLE 0x04
#define SOCKS5_REP_CONNECTION_REFUSED 0x05
#define SOCKS5_REP_TTL_EXPIRED 0x06
#define SOCKS5_REP_COMMAND_NOT_SUPPORTED 0x07
#define SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED 0x08

/* VER REP RSV + the longest BND (ATYP + IPv6 + port). */
#define SOCKS5_REPLY_MAX_BYTES 22
/* RSV RSV FRAG + the longest address header (domain). */
#define SOCKS5_UDP_HEADER_MAX_BYTES (3 + SSADDR_MAX_BYTES)

struct socks5_greeting {
	uint8_t nmethods;
	bool has_noauth;   /* 0x00 offered */
	bool has_userpass; /* 0x02 offered */
};

struct socks5_auth {
	uint8_t user_len;
	uint8_t pass_len;
	char user[256]; /* raw bytes, NUL-terminated copy; may contain NULs */
	char pass[256];
};

struct socks5_request {
	uint8_t cmd; /* not validated: the caller replies 0x07 to what it lacks */
	struct ssaddr dst;
};

struct socks5_udp {
	uint8_t frag; /* ssring drops anything but 0 (protocol.md §1.8) */
	struct ssaddr dst;
};

/*
 * Method negotiation `05 NMETHODS METHODS...`. Returns the bytes consumed,
 * -EAGAIN if incomplete, -EPROTO if VER != 5 (decided on the first byte:
 * close without a reply), -EINVAL if NMETHODS == 0.
 */
int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *g);
/*
 * The method to answer with: 0x02 if auth_required and offered, 0x00 if not
 * auth_required and offered, else 0xff. Never falls back to no-auth when
 * auth is required.
 */
uint8_t socks5_choose_method(const struct socks5_greeting *g, bool auth_required);
/*
 * RFC 1929 `01 ULEN UNAME PLEN PASSWD`. Returns the bytes consumed, -EAGAIN,
 * -EPROTO if the version byte is not 1, -EINVAL if ULEN or PLEN is 0.
 */
int socks5_parse_auth(const uint8_t *buf, size_t len, struct socks5_auth *a);
/*
 * True iff a carries exactly user and pass (NUL-terminated configured
 * values; NULL never matches). Runs in time independent of the credential
 * contents and of where they differ: both fields are always compared over
 * the full 256-byte span and the results are combined without branches.
 */
bool socks5_auth_check(const struct socks5_auth *a, const char *user, const char *pass);
/*
 * Request `05 CMD RSV ATYP DST.ADDR DST.PORT` (RSV ignored). Returns the
 * bytes consumed, -EAGAIN, -EPROTO (VER != 5), -EAFNOSUPPORT for an ATYP
 * other than 1/3/4 (decided as soon as ATYP arrives; reply 0x08), -EINVAL
 * for a zero-length domain.
 */
int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *r);
/*
 * Reply `05 REP 00 ATYP BND.ADDR BND.PORT` into out (room for
 * SOCKS5_REPLY_MAX_BYTES). bnd NULL, or a family other than AF_INET/AF_INET6,
 * gives ATYP 01 0.0.0.0:0. An IPv4-mapped IPv6 address is written as ATYP 01
 * so that a v4 client of a dual-stack listener gets an address it can use.
 * Returns the length (10 or 22).
 */
size_t socks5_build_reply(uint8_t *out, uint8_t rep, const struct sockaddr *bnd);
/*
 * REP for a failed outbound connect. err is the -errno (a positive errno is
 * accepted too): ECONNREFUSED 05, ENETUNREACH 03, EHOSTUNREACH 04,
 * ETIMEDOUT/ECANCELED (linked-timeout cancel) 06, anything else 01.
 */
int socks5_rep_from_errno(int err);
/*
 * UDP datagram header `RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA` (RSV ignored).
 * A datagram is whole, so there is no -EAGAIN: returns the header length
 * (DATA starts there; it may equal len), -EINVAL if short or unparseable,
 * -EAFNOSUPPORT for a bad ATYP.
 */
int socks5_parse_udp(const uint8_t *buf, size_t len, struct socks5_udp *u);
/*
 * Write `00 00 00` + the address header of src into out (room for
 * SOCKS5_UDP_HEADER_MAX_BYTES). Returns the length.
 */
size_t socks5_build_udp_header(uint8_t *out, const struct ssaddr *src);

#endif
