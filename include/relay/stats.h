/* SPDX-License-Identifier: MIT */
/*
 * stats — the relays' counters and the registries that name them.
 *
 * An endpoint is a role entry of the configuration (role + listen
 * address); it keeps its id across reloads while its role and address stay,
 * so its counters go on. A user (of a server with users) keeps its id while
 * its endpoint and name stay. Ids are given on the main thread when a
 * snapshot is prepared (relay_module's prepare) and written into the
 * snapshot (struct config_rt).
 *
 * Counting: every worker has its own tables (core/counter.h); a session or
 * association keeps pointers to its blocks, so counting is one add. Bytes
 * are plaintext payload bytes: what the client and the target exchanged,
 * not the ciphertext; "up" is towards the target.
 */
#ifndef SSRING_STATS_H
#define SSRING_STATS_H

#include <stdint.h>

#include "conf/config.h"
#include "core/counter.h"
#include "core/loop.h"
#include "relay/relay.h"

#define STATS_NONE UINT32_MAX

/* Per endpoint. Gauges (*_OPEN) go up and down; the rest only up. */
enum ep_ctr {
	EPC_TCP_OPEN = 0,
	EPC_TCP_TOTAL,
	EPC_TCP_UP,            /* bytes */
	EPC_TCP_DOWN,
	EPC_UDP_UP,            /* bytes */
	EPC_UDP_DOWN,
	EPC_DGRAM_UP,          /* datagrams relayed */
	EPC_DGRAM_DOWN,
	EPC_UDP_OPEN,          /* associations */
	EPC_UDP_TOTAL,
	EPC_AUTH_BAD,          /* bad tag, length or header: not one of our clients */
	EPC_AUTH_REPLAY,       /* a salt seen before */
	EPC_AUTH_STALE,        /* 2022: timestamp outside the window */
	EPC_AUTH_USER,         /* 2022: unknown identity header */
	EPC_AUTH_SHORT,        /* 2022: first read shorter than the header */
	EPC_AUTH_FULL,         /* 2022: salt memory full */
	EPC_AUTH_BUDGET,       /* users: cold-trial budget spent, not tried */
	EPC_AUTH_LIMIT,        /* users: over a limit (quota, sessions, addresses) */
	EPC_AUTH_INCOMPLETE,   /* no complete request before the deadline or the peer's FIN */
	EPC_PROBE_DRAIN,       /* failed requests by the policy that met them */
	EPC_PROBE_CLOSE,
	EPC_PROBE_FORWARD,
	EPC_CONNECT_FAIL,      /* connects to the target (server) or ss server */
	EPC_COUNT
};

/* Per user. */
enum user_ctr {
	UC_TCP_UP = 0,
	UC_TCP_DOWN,
	UC_UDP_UP,
	UC_UDP_DOWN,
	UC_PKT_UP,             /* datagrams */
	UC_PKT_DOWN,
	UC_TCP_OPEN,
	UC_TCP_TOTAL,
	UC_UDP_OPEN,
	UC_UDP_TOTAL,
	UC_COUNT
};

/* Per worker, not tied to an endpoint. */
enum worker_ctr {
	WC_REFUSED_POOL = 0,   /* TCP session pool full */
	WC_REFUSED_DRAINING,   /* too many absorbed probes: reset instead */
	WC_REFUSED_SRC_HS,     /* limits.handshakes_per_source */
	WC_REFUSED_SRC_SESS,   /* limits.sessions_per_source */
	WC_REFUSED_ACL,        /* the server's ACL refuses the client */
	WC_UDP_EVICTED,
	WC_DROP_TRUNCATED,     /* datagrams: larger than a buffer */
	WC_DROP_AUTH,          /* failed authentication (replays included) */
	WC_DROP_MALFORMED,     /* bad header, FRAG != 0, wrong sender */
	WC_DROP_REFUSED,       /* private target, no route, no socket, name not found */
	WC_DROP_OTHER,         /* waiting for the ss server's name, send failed... */
	WC_DROP_LIMIT,         /* its user's rate or quota */
	/* The DNS forwarder (relay/dnsproxy.h): queries by route, answers by resolver, failures. */
	WC_DNSP_LOCAL,         /* the ACL bypasses the name: local_dns */
	WC_DNSP_REMOTE,        /* it proxies the name, or there is no ACL: remote_dns */
	WC_DNSP_BOTH,          /* it does not list the name: both asked */
	WC_DNSP_CACHE,         /* answered from the cache */
	WC_DNSP_FROM_LOCAL,    /* answers that came from local_dns */
	WC_DNSP_FROM_REMOTE,   /* answers that came from remote_dns */
	WC_DNSP_FAIL_TIMEOUT,  /* SERVFAIL: no answer in time */
	WC_DNSP_FAIL_UPSTREAM, /* SERVFAIL: the resolvers failed (refused, unreachable, bad answer) */
	WC_DNSP_FAIL_BUSY,     /* SERVFAIL: DNSP_INFLIGHT queries already waiting */
	WC_DNSP_FAIL_MALFORMED, /* a query that does not parse (FORMERR, or dropped) */
	WC_COUNT
};

struct relay_worker_stats {
	struct ctr_table *ep;      /* EPC_COUNT per endpoint id */
	struct ctr_table *user;    /* UC_COUNT per user id */
	counter_t w[WC_COUNT];
};

/* Per worker (index = worker id); set up by relay_module before the workers start. */
extern struct relay_worker_stats *relay_stats;

struct relay_ep_info {
	enum role role;
	bool redir;              /* a tunnel from redirs = (...) */
	char listen[64];         /* "127.0.0.1:8388", "[::1]:8388" */
};

struct relay_user_info {
	uint32_t ep;
	char name[256];
};

/* Counter k of an endpoint / a user summed over the workers (any thread). */
uint64_t stats_ep_sum(int workers, uint32_t ep, unsigned k);
uint64_t stats_user_sum(int workers, uint32_t uid, unsigned k);

/* The registries, main thread only. */
uint32_t relay_ep_count(void);
const struct relay_ep_info *relay_ep_info(uint32_t ep);
uint32_t relay_user_count(void);
const struct relay_user_info *relay_user_info(uint32_t uid);

/* A worker's counter blocks (never NULL). */
static inline counter_t *stats_ep(int worker, uint32_t ep)
{
	return ctr_block(relay_stats[worker].ep, ep);
}

static inline counter_t *stats_user(int worker, uint32_t uid)
{
	return ctr_block(relay_stats[worker].user, uid);
}

static inline void stats_worker_add(int worker, enum worker_ctr c, uint64_t n)
{
	ctr_add(&relay_stats[worker].w[c], n);
}

/*
 * The relays' process-wide module: the shared replay filters and owner
 * table (setup), endpoint and user ids for every snapshot (prepare).
 */
extern struct loop_module relay_module;

#endif
