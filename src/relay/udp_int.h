/* SPDX-License-Identifier: MIT */
/*
 * udp_int — what the files of the UDP relay share among themselves:
 *   udp.c          the module: listeners, endpoints, receiving, dispatch
 *   udp_assoc.c    the association table (hash, LRU, idle expiry)
 *   udp_tx.c       sending, with datagrams of one turn batched (GSO)
 *   udp_server.c   the server role (AEAD-2017 and 2022)
 *   udp_client.c   the tunnel and SOCKS5 (local) roles
 *   udp_redir.c    the redir role (TPROXY: original destinations, replies
 *                  from the addresses the client sent to)
 *   udp_owner.c    which worker owns a 2022 session
 *   udp_handover.c 2022 sessions that roam to another worker
 *   udp_uot.c      UDP over TCP: a server's associations owned by sessions,
 *                  a client's that send through a TCP session
 */
#ifndef SSRING_UDP_INT_H
#define SSRING_UDP_INT_H

#include <netinet/in.h>
#include <string.h>

#include "conf/config.h"
#include "dns/dns.h"
#include "proto/sockaddr.h"
#include "relay/stats.h"
#include "relay/udp.h"

#define UDP_NONE UINT32_MAX

/* Op numbers of the UDP relay's completions (udp_module). */
enum udp_op {
	UDP_OP_RECV_LST = 0, /* ptr = struct udp_listener */
	UDP_OP_RECV_A,       /* slot/gen = association */
	UDP_OP_RECV_B,
	UDP_OP_SEND,         /* slot = UDP buffer id */
	UDP_OP_CANCEL,       /* slot/gen = association */
	UDP_OP_XFER,         /* ptr: a 2022 packet handed over by another worker */
	UDP_OP_XFER_SRC,     /* ptr: our hand-over; freed here if it failed */
	UDP_OP_RECV_C,       /* slot/gen = association (local: direct, v4) */
	UDP_OP_RECV_D,       /* (local: direct, v6) */
	UDP_OP_COUNT
};

/*
 * What became of a datagram: kept (sent on, or held for a DNS answer; the
 * buffer is no longer the caller's), or dropped for a reason (counted as
 * WC_DROP_TRUNCATED + reason - 1).
 */
enum udp_verdict {
	UDP_KEPT = 0,
	UDP_DROP_TRUNCATED,
	UDP_DROP_AUTH,
	UDP_DROP_MALFORMED,
	UDP_DROP_REFUSED,
	UDP_DROP_OTHER,
	UDP_DROP_LIMIT      /* its user's rate or quota */
};

/* A received datagram in its provided buffer. */
struct dgram {
	uint16_t bid;
	const struct io_uring_recvmsg_out *o; /* its header (control messages) */
	const struct sockaddr *from;
	uint8_t *p;   /* payload; UDP_HEADROOM writable bytes before it */
	size_t n;
};

/* ---- associations (udp_assoc.c) */

static inline struct udp_assoc *udp_assoc_at(struct loop *l, uint32_t slot)
{
	return pool_at(&udp_of(l)->assocs, slot);
}

/* A hash of an address and port, seeded (e.g. with a listener id). */
uint32_t udp_hash_addr(uint32_t seed, const struct sockaddr *sa);
/* Server and tunnel associations a worker keeps (limits.udp_associations / workers). */
uint32_t udp_per_loop_limit(const struct loop *l);
/* The live association at slot with generation gen, or NULL. */
struct udp_assoc *udp_assoc_lookup(struct loop *l, uint32_t slot, uint32_t gen);
/*
 * A new association on snapshot cfg (held until it is freed), counted on
 * endpoint ep, owned by owner (NULL: one for the table, and when the table
 * is full the least recently used one goes).
 */
struct udp_assoc *udp_assoc_alloc(struct loop *l, enum role role, const struct config *cfg,
				  uint32_t ep, const struct udp_owner *owner);
/* A 2022 association's packet window: taken from the pool (once) and
 * started afresh. 0, or -ENOMEM. */
int udp_assoc_window(struct loop *l, struct udp_assoc *a);
/* Move a live association to the current snapshot and conf (a reload re-keyed it). */
void udp_assoc_rebind(struct loop *l, struct udp_assoc *a, const void *conf);
/*
 * A user is known for a (uid STATS_NONE: none): its counters and limits
 * from now on. false when the user's limits refuse it (the caller drops the
 * datagram); a user already set is not admitted again.
 */
bool udp_assoc_set_user(struct loop *l, struct udp_assoc *a, uint32_t uid,
			const struct config_srv_user *u, const struct sockaddr *peer);
/* a counts as user uid's (u: its limits on data), without an admission. */
void udp_assoc_bind_user(struct loop *l, struct udp_assoc *a, uint32_t uid,
			 const struct config_srv_user *u);
/* n payload bytes of a towards (up) or from the target may go; false: drop. */
bool udp_assoc_charge(struct loop *l, struct udp_assoc *a, bool up, size_t n);
/* Close the associations whose user was removed or re-keyed. */
void udp_sweep_revoked(struct loop *l);
/* n payload bytes (one datagram) relayed by a, up = towards the target. */
void udp_assoc_count(struct udp_assoc *a, bool up, size_t n);
/* Close: cancel what is in flight; freed when the last CQE is in. Idempotent. */
void udp_assoc_close(struct loop *l, struct udp_assoc *a, const char *why);
/* Free a closing association whose last CQE came back. */
void udp_assoc_maybe_free(struct loop *l, struct udp_assoc *a);
/* Traffic: most recently used now, idle deadline pushed. */
void udp_assoc_touch(struct loop *l, struct udp_assoc *a);
/* Server/tunnel: the association of listener L for a client address, or NULL. */
struct udp_assoc *udp_assoc_find_addr(struct loop *l, struct udp_listener *L,
				      const struct sockaddr *from);
/* The same, made if new (on the current snapshot and L's conf). */
struct udp_assoc *udp_assoc_by_addr(struct loop *l, struct udp_listener *L,
				    const struct sockaddr *from);
/* Server, 2022: the session of listener L with client session ID csid. */
struct udp_assoc *udp_assoc_find2022(struct loop *l, struct udp_listener *L, uint64_t csid);
/* The same, made if new (and registered as ours in the owner table). */
struct udp_assoc *udp_assoc_2022(struct loop *l, struct udp_listener *L, uint64_t csid);
/* Close every association of listener L (it leaves the configuration). */
void udp_assoc_close_listener(struct loop *l, struct udp_listener *L);
/* This worker's listener with endpoint id ep, or NULL. */
struct udp_listener *udp_listener_by_id(struct loop *l, uint32_t ep);
/* A random non-zero 64-bit session ID. */
uint64_t udp_random_sid(void);

/* ---- endpoints (udp.c) */

/* Arm the multishot recvmsg of an endpoint (no-op if armed, parked or closing). */
void udp_arm_ep(struct loop *l, struct udp_ep *ep);
/* A non-blocking UDP socket, bound to bind_to if not NULL. fd or -errno. */
int udp_open_socket(int family, const struct sockaddr *bind_to, bool reuseport);
/* An association's own socket (unbound) for ep, with the role's outbound
 * options, receiving: the fd, or -errno (ep->fd stays -1). */
int udp_open_ep(struct loop *l, struct udp_ep *ep, int family, const struct config_outbound *o);

/* ---- sending (udp_tx.c) */

/*
 * Send len bytes at p (inside UDP buffer bid) to dst; the buffer returns to
 * the ring when the send completes. a: the association owning fd, if any.
 * The send may be batched with others of this loop turn (udp_flush).
 */
void udp_send_from(struct loop *l, uint16_t bid, int fd, const void *p, size_t len,
		   const struct sockaddr *dst, struct udp_assoc *a);
/* The send slots of n_bufs UDP buffers. 0 or -ENOMEM. */
int udp_tx_init(struct udp_state *u, unsigned n_bufs);
void udp_tx_free(struct udp_state *u);
/* Submit the open batch (once per turn, after the CQEs and DNS callbacks). */
void udp_flush(struct loop *l);
/* Completion of UDP_OP_SEND for buffer bid. */
void udp_tx_done(struct loop *l, uint16_t bid, int res);

/* ---- server role (udp_server.c) */

int udp_server_from_client(struct loop *l, struct udp_listener *L, struct dgram *g);
int udp_server2022_from_client(struct loop *l, struct udp_listener *L, struct dgram *g);
/* A reply from a target to a server association's client. */
int udp_server_from_target(struct loop *l, struct udp_assoc *a, struct dgram *g);
/* The socket of a server association toward targets of this family. */
int udp_target_fd(struct loop *l, struct udp_assoc *a, int family);
/*
 * A payload of len bytes of server association a for dst: the server's
 * rules, the user's rate and quota (charged), counted; the socket to send
 * it from, or minus the verdict to drop it with.
 */
int udp_target_ok(struct loop *l, struct udp_assoc *a, size_t len, const struct sockaddr *dst);
/*
 * Look up name, a target of server association a (w: who waits if it is not
 * cached): DNS_HIT with *e, DNS_PENDING, or minus the verdict (a bad name,
 * one the ACL blocks, a failure) to drop the datagram with.
 */
int udp_lookup_target(struct loop *l, const struct udp_assoc *a, const char *name,
		      const struct dns_waiter *w, const struct dns_entry **e);
/* The first address of e the server of a may send to, with port: 0, or -EACCES. */
int udp_pick_target(const struct udp_assoc *a, const struct dns_entry *e, uint16_t port,
		    union dns_addr *dst);
/*
 * A 2022 packet of session a passed its window: record it, count the user's
 * bytes, remember where the client was (it may roam). false if the packet ID
 * was seen before or is too old.
 */
bool udp_accept2022(struct loop *l, struct udp_assoc *a, uint64_t pid, uint32_t uid,
		    const struct sockaddr *from, const uint8_t *psk);
/* The stable user id of user index user of server conf cs, or STATS_NONE. */
uint32_t udp_uid(const struct config_server *cs, int user);
/* Prepend hdr and seal g in place (AEAD-2017); the packet start and size. */
int udp_seal_in_place(const struct aead_method *m, const uint8_t *key, struct dgram *g,
		      const uint8_t *hdr, size_t hlen, uint8_t **start);

/* ---- tunnel and local roles (udp_client.c) */

int udp_tunnel_from_client(struct loop *l, struct udp_listener *L, struct dgram *g);
/* A packet from the ss server to a local or tunnel association. */
int udp_from_server(struct loop *l, struct udp_assoc *a, struct dgram *g);
/* A SOCKS5 UDP request from the local role's client. */
int udp_local_from_client(struct loop *l, struct udp_assoc *a, struct dgram *g);
/* A reply from a target the ACL sent a local's datagrams to directly. */
int udp_local_from_direct(struct loop *l, struct udp_assoc *a, struct dgram *g);

/* ---- redirs: UDP by TPROXY (udp_redir.c) */

/* A socket bound to an address replies must come from. */
struct udp_tp {
	int fd;              /* -1: a free entry */
	uint32_t hash;
	uint32_t inflight;   /* sends on it not completed: it stays open */
	uint64_t used_ms;
	struct sockaddr_in6 addr; /* or a struct sockaddr_in */
};

/* A redir's UDP port: transparent, reporting each datagram's original
 * destination; bound to hp with SO_REUSEPORT. fd or -errno. */
int udp_redir_socket(const struct hostport *hp);
/*
 * The original destination of a datagram a redir received (from its
 * control messages) as the address header to send on, in hdr; the address
 * itself in orig. 0: through the server; 1: straight to orig (the ACL
 * bypasses it); or minus the verdict to drop it with.
 */
int udp_redir_target(struct loop *l, struct udp_listener *L, struct dgram *g, uint8_t *hdr,
		     size_t *hlen, struct sockaddr_storage *orig);
/* Send a reply (len bytes at p in buffer bid) to a redir's client from src,
 * the address the client sent to. A verdict. */
int udp_redir_reply(struct loop *l, struct udp_assoc *a, uint16_t bid, const struct sockaddr *src,
		    const void *p, size_t len);
/* Close reply sockets unused for a while (every few seconds). */
void udp_redir_sweep(struct loop *l);
void udp_redir_free(struct udp_state *u);
/* Send a datagram on reply socket tp (see udp_send_from). */
void udp_send_tp(struct loop *l, uint16_t bid, uint32_t tp, const void *p, size_t len,
		 const struct sockaddr *dst);

/* ---- UDP over TCP (udp_uot.c) */

/* A reply from a target to a server's owned association: to its session. */
int udp_uot_from_target(struct loop *l, struct udp_assoc *a, struct dgram *g);
/*
 * A client's datagram for dst (NULL: a tunnel's, to its forward) at p/n
 * inside g, through the association's TCP session (opened on the first).
 */
int udp_uot_up(struct loop *l, struct udp_assoc *a, struct dgram *g, const struct ssaddr *dst,
	       uint8_t *p, size_t n);
/* The association closes: so does its TCP session, if it has one. */
void udp_uot_end(struct loop *l, struct udp_assoc *a);
/* A redir's reply (not in a ring buffer) from src, sent at once (udp_redir.c). A verdict. */
int udp_redir_reply_copy(struct loop *l, struct udp_assoc *a, const struct sockaddr *src,
			 const void *p, size_t len);

/* ---- hand-over between workers (udp_handover.c) */

/* Hand an opened packet of a session owned by worker w to it. */
bool udp_hand_over(struct loop *l, int w, struct udp_listener *L,
		   const struct ss2022_udp_packet *pk, const struct dgram *g);
/* Completion of UDP_OP_XFER / UDP_OP_XFER_SRC. */
void udp_handover_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe);

#endif
