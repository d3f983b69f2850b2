/* SPDX-License-Identifier: MIT */
/*
 * dns — asynchronous name resolution on the ring, with a per-worker cache.
 *
 * Why c-ares (Debian libc-ares-dev, as shadowsocks-libev uses) and not a stub
 * resolver of our own: it already does /etc/hosts, resolv.conf (servers,
 * options timeout/attempts, search), retries across servers, truncation to
 * TCP and CNAME chains, and it lets the caller own the event loop: it tells
 * us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB) and we watch
 * them with IORING_OP_POLL_ADD SQEs; its own sockets are non-blocking. What
 * we add is the part that belongs to the ring: the cache in the worker's
 * arena (TTL with a floor and a ceiling, negative answers, LRU), one query
 * per name however many sessions wait for it, and address ordering.
 */
#ifndef SSRING_DNS_H
#define SSRING_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counter.h"
#include "core/list.h"
#include "core/loop.h"

#define DNS_MAX_ADDRS 8
#define DNS_TTL_FLOOR_S 2
#define DNS_TTL_CEIL_S 3600
#define DNS_NEG_TTL_S 5

union dns_addr {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

struct dns_entry {
	uint32_t idx;
	uint32_t hnext;
	struct list lru;
	uint8_t state;          /* enum dns_entry_state */
	uint8_t n;              /* addresses (port 0), preferred family first */
	int err;                /* negative entries: -ENOENT, -ETIMEDOUT, ... */
	uint64_t expires_ms;
	uint32_t waiters;       /* first waiter index, DNS_NONE if none */
	union dns_addr addr[DNS_MAX_ADDRS];
	char name[256];
};

struct dns_waiter;
/*
 * The answer for a waiter: e is the entry (NULL on failure, then err is
 * -ENOENT, -ETIMEDOUT, -ECANCELED...). Called once per waiter, on the loop's
 * thread, also when the resolver is torn down (err = -ECANCELED).
 */
typedef void (*dns_done_fn)(struct loop *l, const struct dns_waiter *w,
			    const struct dns_entry *e, int err);

/* Who waits for a name: the resolver keeps a copy and calls done. */
struct dns_waiter {
	uint32_t next;          /* the resolver's chain */
	dns_done_fn done;
	uint32_t slot, gen;     /* the caller's object */
	uint32_t arg[3];        /* the caller's own data, returned as given */
};

/* Results of dns_lookup(). */
#define DNS_HIT 0
#define DNS_PENDING 1

/*
 * Resolve name (not an IP literal). DNS_HIT: *res is the cached answer (valid
 * until the next lookup on this loop). DNS_PENDING: w->done is called once
 * (w is copied now). -ENOENT/-ETIMEDOUT/...: a cached failure. -ENOMEM: the
 * cache or the waiter pool is full.
 */
int dns_lookup(struct loop *l, const char *name, const struct dns_waiter *w,
	       const struct dns_entry **res);

/*
 * What a lookup's err means, in words: NXDOMAIN, NODATA, REFUSED, SERVFAIL,
 * FORMERR, NOTIMP, a timeout, unreachable name servers (other values: strerror).
 */
const char *dns_strerror(int err);

/* A name we are willing to look up: 1..253 bytes of [A-Za-z0-9._-]. */
bool dns_name_ok(const char *name);

/* The resolver as a loop module: init/tick/destroy, its sockets' completions. */
extern struct loop_module dns_module;

/* Lookups per worker (index = worker id), for the metrics: hit = answered
 * from the cache, miss = a query sent, shared = joined a query in flight,
 * failure = a query that got no usable answer. */
enum dns_ctr { DNS_CTR_HIT = 0, DNS_CTR_MISS, DNS_CTR_SHARED, DNS_CTR_FAILURE, DNS_CTR_COUNT };
extern counter_t (*dns_stats)[DNS_CTR_COUNT];

#endif
