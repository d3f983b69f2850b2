/* SPDX-License-Identifier: MIT */
/*
 * limits — per-user limits of servers with users: rate (each way), quota
 * per period, concurrent sessions, distinct client addresses; and the
 * per-user state that outlives snapshots (quota usage, open sessions, last
 * seen, revocation).
 *
 * A user's budget is shared by all workers, without a lock or an atomic
 * per packet: each worker takes a slice (about 20 ms of the rate, or 256 KiB
 * of quota) from the shared state with one atomic operation and spends it
 * locally; it comes back for more only when the slice is used up.
 *
 * Rate is a GCRA (virtual scheduling) over the shared slices: a worker that
 * takes a slice learns how long it must wait before it takes more. TCP
 * waits by not receiving (the bytes already read go out; nothing is
 * dropped); UDP datagrams beyond the rate are dropped and counted. Bursts
 * of up to LIMITS_BURST_MS of the rate pass at once.
 */
#ifndef SSRING_LIMITS_H
#define SSRING_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "core/loop.h"

#define LIMITS_BURST_MS 100
/* Client addresses count for max_ips this long after their last connection. */
#define LIMITS_IP_WINDOW_S 300
#define LIMITS_MAX_IPS CONFIG_MAX_IPS

/* The shared state of one user (process-wide, by uid). */
enum user_shared_field {
	US_TAT_UP = 0,      /* GCRA: theoretical arrival time, monotonic ns */
	US_TAT_DOWN,
	US_QUOTA_USED,      /* bytes of the current period (slices taken) */
	US_QUOTA_PERIOD,    /* the period's start, Unix seconds */
	US_SESSIONS,        /* TCP sessions + UDP associations open now */
	US_LAST_SEEN,       /* Unix seconds of the last session start or end */
	US_REVOKED,         /* snapshot generation from which the user's key is void */
	US_IPSET,           /* struct ipset * (max_ips), made on first use */
	US_IPLOCK,          /* spinlock of the ipset */
	US_COUNT
};

/* Why a user may not start a session now. */
enum limits_refusal {
	LIMITS_OK = 0,
	LIMITS_QUOTA,       /* quota of the period used up */
	LIMITS_SESSIONS,    /* max_sessions open */
	LIMITS_IPS          /* max_ips other addresses within the window */
};

/*
 * A session or association of user uid (limits lim) starts from peer. On
 * LIMITS_OK it counts as open until limits_release(). Also records last
 * seen. peer may be NULL (no address check).
 */
enum limits_refusal limits_admit(uint32_t uid, const struct user_limits *lim,
				 const struct sockaddr *peer);
void limits_release(uint32_t uid);
const char *limits_refusal_name(enum limits_refusal r);

/*
 * n payload bytes of user uid are to go (TCP) or would go (UDP) one way.
 * Returns how many nanoseconds the direction must wait before it reads
 * more (0: none), -EDQUOT when the quota is used up (the last of it was
 * charged: *allowed, if not NULL, says how many of the n bytes it covers;
 * they may still go, then the session ends), or for udp -EAGAIN when the
 * datagram is over the rate (drop; nothing was taken).
 */
int64_t limits_charge(struct loop *l, uint32_t uid, const struct user_limits *lim, bool up,
		      size_t n, bool udp, size_t *allowed);

/* Does lim limit the data path (rate or quota)? */
static inline bool limits_on_data(const struct user_limits *lim)
{
	return lim->rate || lim->quota;
}

/* ---- the control plane's side (main thread) -------------------------------- */

/* Shared state of every user of cfg made (before workers see cfg). 0 or -ENOMEM. */
int limits_prepare(const struct config *cfg);
/* Quota usage of uid in the period containing now (0 if another period). */
uint64_t limits_quota_used(uint32_t uid, enum quota_period p, int64_t now);
/* Set (restore from the state file) the usage of the period starting at start. */
void limits_quota_set(uint32_t uid, int64_t start, uint64_t used);
/* Open sessions + associations and last seen (Unix seconds, 0 = never). */
uint64_t limits_sessions(uint32_t uid);
int64_t limits_last_seen(uint32_t uid);
/*
 * The user's key is void from snapshot generation gen on (deleted or
 * re-keyed): workers close its sessions and associations started on older
 * snapshots when they adopt gen.
 */
void limits_revoke(uint32_t uid, uint64_t gen);
/* Bumped on every revocation: workers sweep when it changed. */
uint64_t limits_revocations(void);
/* Whether a session of uid started on snapshot generation gen is revoked. */
bool limits_revoked(uint32_t uid, uint64_t gen);

extern struct loop_module limits_module;

#endif
