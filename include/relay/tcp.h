/* SPDX-License-Identifier: MIT */
/*
 * tcp — the TCP relay as a loop module: its listeners (one set per worker,
 * SO_REUSEPORT), the pools its sessions live in, its counters. Sessions
 * themselves are in session.h, their roles behind relay/role.h (server.c,
 * local.c, http_front.c, tunnel.c, redir.c).
 */
#ifndef SSRING_TCP_H
#define SSRING_TCP_H

#include <stdint.h>

#include "core/listener.h"
#include "core/loop.h"
#include "core/pool.h"
#include "proto/hostport.h"
#include "relay/relay.h"

/* One listening socket of this worker; kept across reloads while its role
 * and address stay (then only conf changes). */
struct tcp_listener {
	struct loop_listener ll;
	enum role role;
	const void *conf;     /* struct config_server / _local / _tunnel of l->cfg */
	uint32_t ep;          /* its endpoint id (relay/stats.h) */
	bool seen;            /* still in the snapshot being adopted */
	struct hostport listen;
	struct list node;     /* on tcp_state.listeners until closed */
};

struct tcp_stats {
	uint64_t accepted;
	uint64_t refused_full;    /* session pool full */
	uint64_t refused_source;  /* limits.*_per_source */
	uint64_t refused_acl;     /* the server's ACL */
	uint64_t auth_fail;
	uint64_t replays;         /* salts seen before (counted in auth_fail too) */
	uint64_t connect_fail;
	uint64_t domain_refused;  /* domain targets that could not be resolved or used */
	uint64_t private_refused;
	uint64_t bytes_in_out;    /* relayed inbound -> outbound (plaintext) */
	uint64_t bytes_out_in;
	uint64_t timeouts;
	uint64_t unauth_evicted;  /* unauthenticated sessions closed to make room */
	uint64_t cancel_fd;       /* closes that had to cancel by fd (session.c) */
};

struct throttle;

/* Per-loop state of the TCP relay. */
struct tcp_state {
	struct pool sessions;
	struct pool hs;           /* struct session_hs: set-up state of sessions */
	struct pool carries;      /* reassembly blocks for records split across receives */
	struct pool txbufs;       /* send blocks, held only while bytes are queued */
	struct pool txsmall;      /* small send blocks (TX_SMALL_BYTES) */
	struct list listeners;    /* struct tcp_listener, open or closing */
	unsigned n_open;          /* listeners whose last CQE is not in yet */
	struct list unauth;       /* server sessions not authenticated yet, oldest first */
	uint32_t n_unauth;
	uint64_t rng;             /* deadlines of unauthenticated connections (probe.c) */
	bool rng_seeded;
	uint64_t trim_ms;         /* last pool_trim of the block pools */
	bool running;             /* start ran: the exit statistics mean something */
	struct tcp_stats st;
	struct throttle *thr;     /* sessions waiting for their user's rate (user_gate.c) */
	uint64_t revocations;     /* limits_revocations() at the last sweep */
	/* Near-limit warnings (session.c): said once on crossing 90% of the
	 * worker's session pool or of RLIMIT_NOFILE, again after falling
	 * under 80%. fd_soft: the soft limit read at init. */
	uint64_t fd_soft;
	bool near_pool, near_fds;
};

extern struct loop_module tcp_module;

static inline struct tcp_state *tcp_of(const struct loop *l)
{
	return loop_state(l, &tcp_module);
}

#endif
