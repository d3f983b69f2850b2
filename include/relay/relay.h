/* SPDX-License-Identifier: MIT */
/*
 * relay — what the TCP relay (tcp.h, session.h) and the UDP relay (udp.h)
 * share: the roles, the provided-buffer groups and their sizes, and the
 * process-wide state every worker's relays use (replay filters, the 2022
 * UDP owner table), created on the main thread before the workers start.
 */
#ifndef SSRING_RELAY_H
#define SSRING_RELAY_H

#include <stdint.h>

#include "conf/config.h"

enum role {
	ROLE_SERVER = 0,
	ROLE_LOCAL,
	ROLE_TUNNEL
};

/* Provided-buffer groups of the relays. */
enum {
	BG_PLAIN = 0,  /* plaintext receives */
	BG_CIPHER = 1, /* ciphertext receives: several chunks */
	BG_UDP = 2     /* recvmsg: header, name and headroom, then one datagram */
};

/* Receive buffers: both TCP groups take BUF_RECV_BYTES per receive. */
#ifndef BUF_RECV_BYTES
#define BUF_RECV_BYTES (256 * 1024)
#endif
#define BUF_PLAIN_BYTES BUF_RECV_BYTES
#define BUF_CIPHER_BYTES BUF_RECV_BYTES
/*
 * A send block takes everything one receive turns into: a receive sealed
 * (salt + chunk overheads), or a receive opened plus the record completed
 * from the carry (2022: up to a 0xFFFF record).
 */
#define TX_BYTES (BUF_RECV_BYTES + 64 * 1024 + 2048)
/* Free send/carry blocks beyond the POOL_TRIM_KEEP most recent go back to
 * the kernel every POOL_TRIM_MS. */
#define POOL_TRIM_MS 1000
#define POOL_TRIM_KEEP 16
/*
 * UDP buffers: io_uring_recvmsg_out (16) + the name area (128) + a reserved
 * control area that the kernel leaves empty (no cmsg is asked for) = bytes
 * before the payload. That room takes salt + address header in front of a
 * datagram, so it is sealed where it lies.
 */
#define UDP_NAME_BYTES 128
#define UDP_CTRL_BYTES 160
#define UDP_HEADROOM (16 + UDP_NAME_BYTES + UDP_CTRL_BYTES)
#define BUF_UDP_BYTES (UDP_HEADROOM + 65536 + 64)
#define BID_NONE 0xffff

/* 2022 multi-user: per-user byte counters of a worker (see tcp.h, udp.h). */
#define RELAY_USER_COUNTERS 64

struct replay_filter;
struct replay2022;
struct udp_owners;

/*
 * Shared by every worker; the pointers are set on the main thread before
 * the workers start and never change while they run (the objects
 * themselves are thread-safe).
 */
struct relay_shared {
	struct replay_filter *replay;  /* AEAD-2017 salts; NULL = no server */
	struct replay2022 *replay2022; /* 2022 salts of the last 60 s; NULL = no 2022 */
	struct udp_owners *owners;     /* 2022 UDP session -> worker */
};

extern struct relay_shared relay_shared;

/* Does any role speak the 2022 edition? */
bool relay_uses_2022(const struct config *cfg);
/* Exit statistics: the 2022 users' bytes of one worker ("user NAME: N bytes" + how). */
void relay_log_user_bytes(const struct config *cfg, const uint64_t *bytes, const char *how);
/* Log where each role listens (once every worker is up). */
void relay_log_roles(const struct config *cfg);

#endif
