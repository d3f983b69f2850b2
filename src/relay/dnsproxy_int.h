/* SPDX-License-Identifier: MIT */
/*
 * dnsproxy_int — the DNS forwarder's parts (relay/dnsproxy.h), shared by:
 *   dnsproxy.c        the module: listeners (UDP, TCP) and TCP clients
 *   dnsproxy_query.c  a query: the cache, the route, the answer
 *   dnsproxy_up.c     the legs of a query: UDP and TCP to local_dns, an ss
 *                     stream through the server to remote_dns
 *   dnsproxy_cache.c  the per-worker cache of answers
 */
#ifndef SSRING_DNSPROXY_INT_H
#define SSRING_DNSPROXY_INT_H

#include <sys/socket.h>

#include "core/listener.h"
#include "dns/dns.h"
#include "proto/aead.h"
#include "proto/dnsmsg.h"
#include "proto/ss2022.h"
#include "relay/dnsproxy.h"

/* Bounds, per worker. */
#define DNSP_INFLIGHT 256          /* queries waiting for a resolver; more get SERVFAIL */
#define DNSP_TCP_CONNS 64          /* TCP clients; more are closed at accept */
#define DNSP_TCP_PIPELINE 16       /* queries of one TCP client not answered yet */
#define DNSP_TCP_IDLE_MS 10000     /* a TCP client that asks nothing (RFC 7766 §6.2.3) */
#define DNSP_QUERY_MAX 4096        /* a query's bytes (queries are small; an update is not ours) */
#define DNSP_UDP_MAX 65507         /* the largest UDP payload over IPv4 */
#define DNSP_TIMEOUT_MAX_S 5       /* a query's time: timeouts.connect, at most this */
#define DNSP_GRACE_MS 500          /* asking both: the local answer's time after the remote one */
#define DNSP_CACHE_ENTRIES 4096
#define DNSP_CACHE_BYTES (4u << 20)
#define DNSP_TTL_MAX_S 3600        /* a positive answer's life in the cache, at most */
#define DNSP_NEG_TTL_MAX_S 30      /* a negative one's (its SOA's TTL, at most this) */
#define DNSP_NEG_TTL_S 5           /* a negative one without an SOA */

enum dnsp_op {
	DP_OP_URECV = 0,  /* ptr: a listener's UDP receive */
	DP_OP_USEND,      /* slot: an answer sent to a UDP client */
	DP_OP_CRECV,      /* slot: a TCP client's receive */
	DP_OP_CSEND,      /* slot: a TCP client's send */
	DP_OP_CCANCEL,
	DP_OP_LEG,        /* slot: a leg's op, DP_OP_LEG + leg * LEG_OP_COUNT + op */
};

enum leg_op { LEG_CONNECT = 0, LEG_SEND, LEG_RECV, LEG_CANCEL, LEG_OP_COUNT };
#define DP_OP_COUNT (DP_OP_LEG + 2 * LEG_OP_COUNT)

/* A listen address: a UDP socket and a TCP listener. */
struct dnsp_ep {
	struct list node;
	struct hostport listen;
	const struct config_dns_proxy *dp; /* of the loop's current snapshot */
	struct loop_listener tcp;
	int ufd;
	bool urecv;               /* a receive is in flight */
	bool tcp_open;            /* the TCP listener is not closed yet */
	bool seen, closing;
	uint32_t refs;            /* UDP queries that answer through ufd */
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage from;
	uint8_t buf[DNSP_QUERY_MAX + 1];
};

/* A TCP client: length-prefixed queries, answered as they come (RFC 7766 §6.2.1.1). */
struct dnsp_conn {
	uint32_t slot, gen;
	int fd;
	const struct config *cfg; /* held */
	const struct config_dns_proxy *dp;
	struct list node;         /* the worker's clients */
	struct list wq;           /* answers to write, oldest first */
	uint32_t inflight;        /* SQEs */
	uint16_t pending;         /* queries not written yet */
	bool reading, sending, eof, closing;
	size_t soff;              /* of the answer being written */
	struct timer idle;
	size_t rlen;
	uint8_t rbuf[2 + DNSP_QUERY_MAX];
};

enum leg_kind { LEG_UDP = 0, LEG_TCP, LEG_SS };
enum leg_state { LEG_IDLE = 0, LEG_RESOLVING, LEG_CONNECTING, LEG_SENDING, LEG_READING,
		 LEG_CLOSING, LEG_DONE };
enum { LEG_LOCAL = 0, LEG_REMOTE = 1 };

/* The stream of a remote leg (only while it runs: the keys are wiped after). */
struct leg_ss {
	struct aead_ctx wr;
	uint8_t v2022;
	union {
		struct aead_reader rd;    /* AEAD-2017 */
		struct ss2022_reader rd2; /* 2022 edition */
	};
};

/* One resolver asked for one query: local_dns (UDP, then TCP if cut) or remote_dns. */
struct dnsp_leg {
	uint8_t kind, state, ok;
	uint8_t plain;            /* a stream without a cipher: TCP, or method none */
	uint8_t timed_out;
	uint8_t n_addrs, addr_i;  /* the server name's addresses, tried in turn */
	int fd;
	uint32_t inflight;        /* SQEs */
	uint16_t id;              /* the query's ID toward this resolver */
	int up;                   /* the upstream in use, -1 for the entry's server */
	uint32_t tried;           /* upstreams tried (a bit each) */
	uint32_t attempt;         /* lookups of a server name: an old answer is not ours */
	uint64_t t_conn_us;
	const char *why;          /* a failure, for the log */
	uint8_t *buf;             /* the request, then what comes back */
	size_t len, off, cap;
	uint8_t *ans;             /* TCP: the answer with its 2-byte length */
	size_t ans_len, ans_cap;
	struct dnsmsg a;          /* ok: the answer, parsed (at ans + 2, or buf for UDP) */
	struct leg_ss *ss;
	struct sockaddr_storage peer, from;
	struct msghdr msg;
	struct iovec iov;
	union dns_addr addrs[4];
};

enum dnsp_route { ROUTE_LOCAL = 0, ROUTE_REMOTE, ROUTE_BOTH };

struct dnsp_query {
	uint32_t slot, gen;
	const struct config *cfg;  /* held */
	const struct config_dns_proxy *dp;
	struct dnsp_ep *ep;        /* UDP: where the answer goes (a reference); else NULL */
	uint32_t conn_slot, conn_gen; /* TCP: the client */
	struct list wnode;         /* in its client's write queue */
	struct sockaddr_storage client;
	socklen_t client_len;
	struct timer timer;
	uint64_t deadline_ms;
	uint8_t route;
	bool answered;             /* ans is set */
	bool written;              /* and sent (or the client is gone) */
	bool asking;               /* counted in the worker's queries in flight */
	size_t limit;              /* what the client takes */
	uint32_t inflight;         /* SQEs of its own (the UDP answer) */
	struct dnsmsg q;
	uint8_t *qm;               /* the client's query */
	size_t qlen;
	uint8_t *ans;              /* 2 bytes of length, then the answer (or err) */
	size_t ans_len;            /* of the message */
	uint8_t err[2 + DNSMSG_HEADER + DNSMSG_NAME_MAX + 4 + 11]; /* an error answer */
	struct msghdr msg;
	struct iovec iov;
	struct dnsp_leg leg[2];
};

struct dnsp_cache;

struct dnsp_state {
	struct list eps;
	struct list conns;
	uint32_t n_conns;
	void **qtab, **ctab;       /* queries and TCP clients by slot; NULL = free */
	uint32_t n_qtab, n_ctab;
	uint32_t gen;
	uint32_t asking;           /* queries waiting for a resolver */
	struct dnsp_cache *cache;
	bool running;
	struct {
		uint64_t queries, answered, failed, spoofed;
	} st;
};

struct dnsp_state *dnsp_of(const struct loop *l);
/* CLOCK_MONOTONIC in µs: a resolver on the LAN answers within a millisecond. */
uint64_t dnsp_mono_us(void);
/* The worker's counters (relay/stats.h). */
void dnsp_count(struct loop *l, unsigned wc);

/* dnsproxy_query.c */
/*
 * A query from a client (ep for UDP with its address, or conn for TCP):
 * answered from the cache, or routed to its resolvers. Malformed ones get
 * FORMERR when they can be answered at all. 1 if it will be answered.
 */
int dnsp_query_new(struct loop *l, const struct config_dns_proxy *dp, struct dnsp_ep *ep,
		    struct dnsp_conn *conn, const uint8_t *m, size_t len,
		    const struct sockaddr *from, socklen_t from_len);
struct dnsp_query *dnsp_query_lookup(struct loop *l, uint32_t slot, uint32_t gen);
/* A leg of q is over (leg->ok, or leg->why): decide, answer, or wait for the other. */
void dnsp_leg_over(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg);
/* An SQE of q's own completed (the UDP answer). */
void dnsp_query_cqe(struct loop *l, struct dnsp_query *q, int res);
/* Free q if nothing of it is in flight and it is answered and sent. */
void dnsp_query_settle(struct loop *l, struct dnsp_query *q);
/* The TCP client's answer was written (or the client is gone): q may go. */
void dnsp_query_written(struct loop *l, struct dnsp_query *q);
/* Every query ends (the loop is destroyed): no CQE can follow. */
void dnsp_queries_free(struct loop *l);

/* dnsproxy.c: an answer for a TCP client is ready (queued, written in order). */
struct dnsp_conn *dnsp_conn_lookup(struct loop *l, uint32_t slot, uint32_t gen);
void dnsp_conn_answer(struct loop *l, struct dnsp_conn *c, struct dnsp_query *q);
void dnsp_ep_put(struct loop *l, struct dnsp_ep *ep);
/* A slot in tab (grown as needed): its index, or -1 without memory. */
int dnsp_slot(void ***tab, uint32_t *n);

/* dnsproxy_up.c */
void dnsp_leg_start(struct loop *l, struct dnsp_query *q, int which);
/* Stop a leg (its result no longer counts); it settles once nothing is in flight. */
void dnsp_leg_stop(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg);
/* The query's time is up: a leg still asking fails as timed out. */
void dnsp_leg_timeout(struct loop *l, struct dnsp_query *q, struct dnsp_leg *leg);
void dnsp_leg_cqe(struct loop *l, struct dnsp_query *q, int which, unsigned op, int res);
/* Buffers and fds of a leg that has nothing in flight. */
void dnsp_leg_free(struct dnsp_leg *leg);
/* The leg's answer (ok): the message and its length. */
uint8_t *dnsp_leg_answer(struct dnsp_leg *leg, size_t *len);

/* dnsproxy_cache.c */
struct dnsp_cache *dnsp_cache_new(void);
void dnsp_cache_free(struct dnsp_cache *c);
void dnsp_cache_flush(struct dnsp_cache *c);
/* The answer cached for key, and how long ago it was stored (ms); NULL if none or expired. */
const uint8_t *dnsp_cache_get(struct dnsp_cache *c, const uint8_t *key, size_t klen,
			      uint64_t now_ms, size_t *len, uint64_t *age_ms);
void dnsp_cache_put(struct dnsp_cache *c, const uint8_t *key, size_t klen, const uint8_t *m,
		    size_t len, uint32_t ttl_s, uint64_t now_ms);

#endif
