/* SPDX-License-Identifier: MIT */
/*
 * sources — connections per client source, process-wide: an IPv4 address,
 * or the /64 of an IPv6 one (an IPv4-mapped address is its IPv4 client).
 * limits.handshakes_per_source bounds those not yet past their handshake
 * (a server's authentication, a local's request), limits.sessions_per_source
 * all of them. Lock-free and without keys: two arrays of counters indexed
 * by two independent hashes of the source (a count-min sketch); a source
 * is over a limit only when both its counters are, so another source can
 * only be held back if it shares both slots with heavy ones. The slots come
 * from a hash keyed at random at start (sources_seed), so which sources
 * share them cannot be worked out from outside. One atomic add per counter
 * per connection event, none per packet.
 */
#ifndef SSRING_SOURCES_H
#define SSRING_SOURCES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SOURCES_SLOTS 65536

/* What a session holds of the counters. */
struct source_ticket {
	uint16_t idx[2];
	uint8_t hs;     /* counted as handshaking */
	uint8_t sess;   /* counted as a session */
};

enum source_verdict {
	SOURCE_OK = 0,
	SOURCE_TOO_MANY_HANDSHAKES,
	SOURCE_TOO_MANY_SESSIONS,
};

/*
 * Key the slots' hash with random bytes: once per process, on the main
 * thread before any worker starts (later calls do nothing). 0, or -EIO if
 * no random bytes could be read (the key is then a fixed one).
 */
int sources_seed(void);
/* Key it with k (tests: two keys place a source in different slots). */
void sources_set_key(const uint8_t k[16]);

/*
 * Count a new connection from peer against the limits (0 = no limit). On
 * SOURCE_OK the ticket holds it; otherwise nothing is counted. A peer that
 * is neither IPv4 nor IPv6 is always admitted and not counted.
 */
enum source_verdict sources_admit(const struct sockaddr *peer, uint32_t max_handshakes,
				  uint32_t max_sessions, struct source_ticket *t);
/* The connection got past its handshake. */
void sources_handshake_done(struct source_ticket *t);
/* The connection is gone. */
void sources_end(struct source_ticket *t);
/* Counters of a source now (handshakes, sessions): the lower of its two slots. */
void sources_peek(const struct sockaddr *peer, uint32_t *handshakes, uint32_t *sessions);

#endif
