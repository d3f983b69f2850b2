/* SPDX-License-Identifier: MIT */
/*
 * users — which user a request belongs to, for servers with users.
 *
 * 2022 AES methods name the user in the identity header (SIP023): one
 * lookup. AEAD-2017 requests carry no user, so the server tries the keys
 * (trial decryption) on the salt and first sealed length of a TCP stream,
 * or on the first packet of a UDP association, in this order:
 *
 *   1. the user who last succeeded from the same client address (a
 *      process-wide hint table, one relaxed 64-bit load and store per
 *      request: "warm");
 *   2. every other user, most recently successful on this worker first
 *      ("cold").
 *
 * Cold trials cost a key derivation and a small decryption per user, and
 * anyone who can reach the port can ask for them with random bytes from
 * ever new addresses. The first 8 users of the order are always tried
 * (the active ones: a flood cannot lock them out, and behind a plugin,
 * where there is no address hint, they are how users get in); past them a
 * worker spends at most the server's trial_budget milliseconds of its
 * thread's CPU time per second, and one source (an IPv4 address, an IPv6
 * /64, or the plugin) at most a quarter of that. Once either is spent, the
 * rest is not tried: an authentication failure (reason "trial_budget").
 */
#ifndef SSRING_USERS_H
#define SSRING_USERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "core/loop.h"
#include "proto/aead.h"

/*
 * Key the trial reader r of server cs (snapshot entry) from the salt and
 * first length at buf: the user's index in cs->users, -EACCES when no
 * user's key opens it, -EBUSY when the cold-trial budget was spent first.
 * peer: the client's address (NULL: no hint).
 */
int users_identify_tcp(struct loop *l, const struct config_server *cs,
		       const struct sockaddr *peer, struct aead_reader *r, const uint8_t *buf);

/*
 * The same for a UDP packet (salt | ciphertext | tag, len bytes): opened
 * into out (len - salt - 16 bytes; out may be pkt + salt_len, the packet
 * is only overwritten on success). Returns the user's index and sets
 * *plain_len, or -EACCES / -EBUSY / -EINVAL (too short).
 */
int users_identify_udp(struct loop *l, const struct config_server *cs,
		       const struct sockaddr *peer, const uint8_t *pkt, size_t len, uint8_t *out,
		       size_t *plain_len);

/* The user index of uid in cs's current users, or -1. */
int users_index_of(const struct config_server *cs, uint32_t uid);

/* Per-worker trial figures (tests and metrics read them with relaxed loads). */
struct users_trial_stats {
	_Atomic uint64_t warm;      /* requests opened by the hint */
	_Atomic uint64_t cold;      /* requests opened by a cold trial */
	_Atomic uint64_t keys;      /* keys tried in cold trials */
	_Atomic uint64_t budget;    /* refused: budget spent */
	_Atomic uint64_t cold_ns;   /* CPU time of cold trials */
};

extern struct users_trial_stats *users_trial_stats; /* per worker */

extern struct loop_module users_module;

#endif
