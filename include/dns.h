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

#include "list.h"
#include "loop.h"

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

enum dns_waiter_kind {
	DNS_W_SESSION = 0,      /* a TCP session: session_dns_done() */
	DNS_W_UDP               /* a held datagram: udp_dns_done() */
};

struct dns_waiter {
	uint32_t next;
	uint8_t kind;
	uint32_t slot, gen;     /* session or association */
	uint16_t bid;           /* UDP: buffer holding the payload */
	uint16_t port;          /* UDP: target port */
	uint32_t off, len;      /* UDP: payload inside the buffer */
};

/* Results of dns_lookup(). */
#define DNS_HIT 0
#define DNS_PENDING 1

int dns_init(struct loop *l);
void dns_destroy(struct loop *l);
/* Once per loop turn: retries and timeouts. */
void dns_tick(struct loop *l);
void dns_handle_cqe(struct loop *l, enum loop_op op, const struct io_uring_cqe *cqe);
/*
 * Resolve name (not an IP literal). DNS_HIT: *res is the cached answer (valid
 * until the next lookup on this loop). DNS_PENDING: *w is called back once
 * (and copied now). -ENOENT/-ETIMEDOUT/...: a cached failure. -ENOMEM: the
 * cache or the waiter pool is full.
 */
int dns_lookup(struct loop *l, const char *name, const struct dns_waiter *w,
	       const struct dns_entry **res);

/* A name we are willing to look up: 1..253 bytes of [A-Za-z0-9._-]. */
bool dns_name_ok(const char *name);

/* Callbacks (entry NULL or negative on failure; err = -errno then). */
void session_dns_done(struct loop *l, uint32_t slot, uint32_t gen, const struct dns_entry *e,
		      int err);
void udp_dns_done(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e, int err);

#endif
