/* SPDX-License-Identifier: MIT */
/*
 * udp — the UDP relay of every role, on the ring with multishot recvmsg and
 * sendmsg SQEs. Datagrams are transformed in place inside the provided
 * buffer they arrived in (each recvmsg buffer has UDP_HEADROOM bytes in
 * front of the payload, enough for salt + address header) and sent from
 * that same buffer, which returns to the ring when the send completes.
 *
 * Associations (struct udp_assoc) live in a per-loop pool:
 *   server: key = (listener, client address) -> sockets toward targets
 *           (one per address family, made on first use); full-cone replies.
 *   tunnel: key = (listener, sender address) -> one socket toward the server.
 *           A redir (TPROXY) is a tunnel whose datagrams each carry their
 *           original destination; replies leave from that address.
 *   local:  owned by a SOCKS5 control session: one client-facing socket (its
 *           address is the BND of the UDP ASSOCIATE reply) and one socket
 *           toward the server. It ends when the control connection ends.
 *   UDP over TCP (udp_uot.c): a server's association owned by the TCP
 *           session that carries its datagrams; a local's, tunnel's or
 *           redir's with udp_over_tcp sends through a TCP session of its own
 *           instead of a socket toward the server.
 * Server and tunnel associations are bounded by limits.udp_associations
 * (split across workers), expire after timeouts.udp_idle, and the least
 * recently used one is evicted when the pool is full.
 */
#ifndef SSRING_UDP_H
#define SSRING_UDP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/list.h"
#include "core/loop.h"
#include "core/pool.h"
#include "core/timer.h"
#include "proto/ss2022.h"
#include "proto/ssaddr.h"
#include "core/counter.h"
#include "dns/dns.h"
#include "proto/hostport.h"
#include "relay/relay.h"

struct session;

enum udp_ep_kind {
	UDP_EP_LISTENER = 0, /* a server's or tunnel's shared port */
	UDP_EP_ASSOC_A,      /* assoc: toward targets (server, v4) / the ss server */
	UDP_EP_ASSOC_B,      /* assoc: targets over v6 (server) / the client (local) */
	UDP_EP_ASSOC_C,      /* local: targets the ACL bypasses the server for, v4 */
	UDP_EP_ASSOC_D       /* local: the same over v6 */
};
/* Endpoints of an association: ep[kind - UDP_EP_ASSOC_A]. */
#define UDP_EPS 4

struct udp_ep {
	int fd;
	uint8_t kind;
	uint8_t armed;       /* a multishot recvmsg is in flight */
	uint8_t waiting;     /* parked on the ENOBUFS list */
	uint32_t owner;      /* assoc slot (listeners: unused) */
	struct list wait_node;
};

/*
 * A server's or tunnel's UDP port on this worker. Kept across reloads while
 * its role and address stay (conf follows the current snapshot); a removed
 * one closes its associations and is freed when its receive has ended.
 */
struct udp_listener {
	struct udp_ep ep;    /* first: a listener's receive carries a pointer to it */
	enum role role;
	const void *conf;    /* struct config_server / _tunnel of l->cfg */
	uint32_t id;         /* its endpoint id (relay/stats.h), the same on every worker */
	counter_t *ctr;      /* its endpoint counters on this worker */
	struct hostport listen;
	bool seen;           /* still in the snapshot being adopted */
	bool closing;
	struct list node;    /* on udp_state.listeners */
	uint8_t fwd_hdr[SSADDR_MAX_BYTES]; /* tunnel: encoded forward address */
	uint16_t fwd_len;
};

enum udp_assoc_state {
	UDP_ST_LIVE = 0,
	UDP_ST_CLOSING       /* cancels issued; freed when inflight is 0 */
};

/*
 * The owner of an association that is not in the table: a local's SOCKS5
 * control connection, or a server's UDP-over-TCP session. Each callback
 * gets the slot and generation the owner gave, and may be NULL. Datagrams
 * keep the owner alive (keepalive); replies from targets go to it instead
 * of a client's address (reply: p has UDP_HEADROOM writable bytes in front;
 * 0, or -1 when it dropped the datagram); an association that ends on its
 * own (quota, revocation, its session's end) tells it (gone). The owner
 * closes the association when it ends (udp_owned_close).
 */
struct udp_owner {
	void (*keepalive)(struct loop *l, uint32_t slot, uint32_t gen);
	int (*reply)(struct loop *l, uint32_t slot, uint32_t gen, const struct sockaddr *from,
		     uint8_t *p, size_t n);
	void (*gone)(struct loop *l, uint32_t slot, uint32_t gen);
	uint32_t slot, gen;
};

struct udp_assoc {
	uint32_t gen;        /* odd = live */
	uint32_t slot;
	enum role role;
	enum udp_assoc_state state;
	uint32_t inflight;
	struct udp_listener *L; /* server/tunnel: its listener */
	uint32_t hnext;      /* hash chain */
	struct udp_ep ep[UDP_EPS]; /* [0] = A, [1] = B, ... (see enum udp_ep_kind) */
	union dns_addr peer;  /* server/tunnel: client; local: client once seen */
	socklen_t peer_len;
	union dns_addr allow; /* local: only this IP (and port, if non-zero) */
	struct udp_owner owner; /* local, UDP over TCP on a server: its owner */
	uint8_t owned;       /* it has an owner: not in the table, no idle expiry */
	uint8_t held;        /* UDP over TCP on a server: datagrams held for a name */
	uint32_t uot_slot;   /* udp_over_tcp: the TCP session it sends through, */
	uint32_t uot_gen;    /*   0 = none yet */
	const struct config *cfg;  /* the snapshot it runs on (held) */
	const void *conf;    /* its role entry in cfg */
	const struct config_cipher *cipher;
	counter_t *ctr;      /* its endpoint's counters */
	counter_t *uctr;     /* its user's, or NULL */
	union dns_addr server; /* local/tunnel: the ss server */
	socklen_t server_len;
	struct timer timer;
	struct list lru;     /* server/tunnel associations, oldest first */
	/* 2022 edition: sessions are keyed by the client's session ID. */
	uint8_t v2022;
	uint64_t csid;       /* the client's session ID */
	uint64_t ssid;       /* the server's session ID (server: ours) */
	uint64_t pkt_id;     /* our next packet ID */
	uint8_t psk[32];     /* server: the user's key for replies (2022, or keyed) */
	uint8_t keyed;       /* AEAD-2017 server with users: psk is its user's master key */
	uint8_t admitted;    /* counted in its user's open sessions (limits.h) */
	uint32_t uid;        /* its user, STATS_NONE if none */
	const struct user_limits *lim; /* its user's limits if they touch the data path */
	/* 2022: packet IDs from the peer (1 KiB, from the worker's window pool:
	 * an AEAD-2017 association has none), and its slot there. */
	struct ss2022_window *win;
	uint32_t win_idx;
};

/* Per-loop UDP state. */
struct udp_state {
	struct list listeners; /* struct udp_listener, open or closing */
	unsigned n_listeners;  /* not yet freed */
	struct pool assocs;
	struct pool windows;      /* struct ss2022_window of 2022 associations */
	uint32_t *hash;      /* heads, UDP_NONE = empty */
	uint32_t hash_mask;
	struct list lru;
	struct msghdr rx_msg; /* template for every multishot recvmsg */
	struct udp_tx *tx;   /* per UDP buffer: its in-flight send */
	uint32_t open;       /* bid of the batch still taking datagrams, UDP_NONE */
	uint32_t gso_strikes; /* GSO batches that failed */
	bool gso_test_fail;  /* SSRING_TEST_GSO_FAIL: tests of the fallback */
	uint32_t n_hashed;
	/* redirs: sockets bound (IP_TRANSPARENT) to the addresses replies must
	 * come from, shared by this worker's associations (udp_redir.c) */
	struct udp_tp *tps;
	uint32_t n_tps;
	uint64_t tp_swept_ms;
	uint64_t tp_logged_ms;
	uint64_t revocations; /* limits_revocations() at the last sweep */
	struct {
		uint64_t in;       /* datagrams received */
		uint64_t out;      /* datagrams sent */
		uint64_t bad;      /* failed to authenticate */
		uint64_t replays;  /* of which replays (a salt or packet ID seen before) */
		uint64_t dropped;  /* truncated, unparseable, FRAG != 0, refused */
		uint64_t evicted;  /* associations evicted while the table was full */
		uint64_t created;
		uint64_t handed_over; /* 2022 packets routed to the owning worker */
		uint64_t gso_batches; /* sends that carried several datagrams */
		uint64_t gso_retried; /* datagrams resent alone after a failed batch */
	} st;
};

/* The UDP relay as a loop module. */
extern struct loop_module udp_module;

static inline struct udp_state *udp_of(const struct loop *l)
{
	return loop_state(l, &udp_module);
}

/*
 * Local role: a UDP association of local entry lc owned by a control
 * connection (owner), on snapshot cfg (held). Binds the client-facing
 * socket on local_ip (port 0) and writes its address to bnd. Returns the
 * assoc slot, or -errno.
 */
int udp_local_assoc(struct loop *l, const struct udp_owner *owner, const struct config_local *lc,
		    const struct config *cfg, const struct sockaddr *local_ip,
		    const struct sockaddr *client, struct sockaddr_storage *bnd);
/* The owner ends: close its association (gen 0: none). */
void udp_owned_close(struct loop *l, uint32_t slot, uint32_t gen);
uint32_t udp_assoc_gen(struct loop *l, uint32_t slot);

/*
 * UDP over TCP on server entry cs (udp_uot.c): an association owned by a
 * session (owner) on snapshot cfg, of user index user (-1: none; its open
 * sessions are the session's), counted as UDP on the server's endpoint and
 * the user. The slot, or -errno.
 */
int udp_uot_assoc(struct loop *l, const struct udp_owner *owner, const struct config_server *cs,
		  const struct config *cfg, int user);
/*
 * A datagram of the owned association slot/gen to dst: the server's rules
 * (allow_private, the ACL), the user's rate and quota, names resolved on the
 * ring (held until the answer, a few per association), then a non-blocking
 * send from the association's socket. Drops are counted.
 */
void udp_uot_send(struct loop *l, uint32_t slot, uint32_t gen, const struct ssaddr *dst,
		  const uint8_t *p, size_t n);
/*
 * Client side: a reply the TCP session of association slot/gen brought
 * (from src; NULL in connect mode, a tunnel's: from its forward) goes to the
 * client, as the association's native UDP would send it. Drops are counted.
 */
void udp_uot_reply(struct loop *l, uint32_t slot, uint32_t gen, const struct ssaddr *src,
		   const uint8_t *p, size_t n);
/* Client side: the association's TCP session ended; the association ends too. */
void udp_uot_gone(struct loop *l, uint32_t slot, uint32_t gen);

#endif
