/* SPDX-License-Identifier: MIT */
/*
 * session — one relayed TCP connection: an inbound socket (accepted) and an
 * outbound socket (connected by us), and two directions of flow between them.
 * Roles differ only in which direction seals and which opens (design.md):
 *
 *   role    d[DIR_IN_OUT] (inbound -> outbound)   d[DIR_OUT_IN]
 *   server  open (decrypt)                        seal (encrypt)
 *   local   seal                                  open
 *
 * Lifetime: a session lives in its loop's pool. session_close() is the only
 * way out; it cancels what is in flight and the slot returns to the pool when
 * the last CQE has come back (inflight == 0).
 */
#ifndef SSRING_SESSION_H
#define SSRING_SESSION_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/loop.h"
#include "dns/dns.h"
#include "proto/aead.h"
#include "proto/http_proxy.h"
#include "proto/ss2022.h"
#include "proto/ssaddr.h"
#include "relay/relay.h"
#include "relay/sources.h"
#include "relay/stats.h"
#include "relay/tcp.h"

enum { SIDE_IN = 0, SIDE_OUT = 1 };
enum { DIR_IN_OUT = 0, DIR_OUT_IN = 1 };

enum sess_state {
	SESS_ST_HANDSHAKE = 0, /* reading the request (salt, address header) */
	SESS_ST_CONNECTING,    /* outbound connect in flight; data parked */
	SESS_ST_RELAY,         /* both directions flowing */
	SESS_ST_DRAIN,         /* request failed authentication: read and discard */
	SESS_ST_UDP_CTRL,      /* SOCKS5 UDP ASSOCIATE control connection: hold until EOF */
	SESS_ST_CLOSING        /* cancels issued; waiting for the last CQE */
};

enum dir_codec {
	CODEC_SEAL = 0,        /* plaintext in, ss stream out */
	CODEC_OPEN,            /* ss stream in, plaintext out */
	CODEC_PLAIN,           /* bytes as they are (a probe forwarded to a decoy) */
	CODEC_CLEAR            /* an ss stream of method none: payload as it is, counted
				* and charged like an opened one, and a request's first
				* bytes still go to the role (request_bytes) */
};

#define DIR_F_RECV (1u << 0)      /* a recv is in flight */
#define DIR_F_SEND (1u << 1)      /* a send is in flight */
#define DIR_F_EOF (1u << 2)       /* the source sent FIN */
#define DIR_F_SHUT (1u << 3)      /* we sent FIN to the destination */
#define DIR_F_WAITBUF (1u << 4)   /* parked on the bufring's ENOBUFS list */
#define DIR_F_PREFIX_SENT (1u << 5) /* salt (and header) already went out */
#define DIR_F_THROTTLED (1u << 6) /* over its user's rate: no receive until resumed */
/* A direction whose source is the role, not a socket (session_feed): it never
 * receives nor sees a FIN, and never holds the session open once the other
 * direction has finished. */
#define DIR_F_FED (1u << 7)
/* A direction whose plaintext goes to the role (its deliver hook), not to a
 * socket: it ends when its source's FIN comes. */
#define DIR_F_DELIVER (1u << 8)

/* Timeouts the throttle may have in flight at once (user_gate.c). */
#define THROTTLE_TIMEOUTS 16

/* Outputs queued per direction: one being sent, one being filled. */
#define DIR_TXQ 2
/* A carry half holds one record: up to 0xFFFF + tags in the 2022 edition. */
#define CARRY_HALF_BYTES (AEAD_LEN_BYTES + 0xFFFF + AEAD_TAG_BYTES + 64)

/* Bytes queued for sending: a slice of a send block (or of the session). */
struct txo {
	uint8_t *p;
	uint32_t len;
	uint32_t blk;           /* send block index, POOL_NONE if not one */
};

struct relay_dir {
	uint8_t codec;
	uint16_t flags;
	uint8_t bgid;           /* group its receives draw from */
	uint8_t nq;             /* queued outputs; q[0] is in flight if DIR_F_SEND */
	uint8_t di;             /* index in session.d[] */
	uint16_t bid;           /* held provided buffer, BID_NONE if none */
	uint16_t recv_cap;      /* if non-zero, receive at most this much */
	uint32_t buf_len;       /* bytes received into it */
	uint32_t buf_pos;       /* bytes processed so far */
	uint32_t carry;         /* carry block index or POOL_NONE */
	uint32_t carry_len;     /* bytes of an incomplete record (or handshake bytes) */
	uint32_t room;          /* bytes the destination can still take, as last
				 * asked (SO_MEMINFO) less what was queued since */
	struct txo q[DIR_TXQ];
	uint64_t bytes;         /* plaintext payload bytes (session_count) */
	struct list wait_node;  /* on bufring.waiters while DIR_F_WAITBUF */
};

/*
 * What a session needs only while it is being set up: the target, the
 * address being connected to, the request header, resolved addresses. It
 * lives in a pool of its own and goes back when the relay starts, so an
 * established connection holds only struct session (plain-HTTP proxy
 * sessions, UDP control connections and absorbed probes keep it to the end).
 */
struct session_hs {
	struct ssaddr target;
	struct sockaddr_storage peer;
	/* server: the request's address header while it is incomplete */
	uint8_t hdr[SSADDR_MAX_BYTES];
	uint8_t http_plain;     /* HTTP front end: plain proxying (requests rewritten) */
	uint8_t http_in_body;   /* local: inside a request body */
	uint16_t http_out_len;  /* local: plaintext waiting in carry half 1 */
	struct http_body http_body;
	union dns_addr addrs[4]; /* resolved addresses still to try, in order */
	uint8_t n_addrs;
	uint8_t addr_i;
	uint8_t bypass_name;    /* local: the ACL lists the target's name to bypass */
	uint32_t up_tried;      /* local/tunnel: upstreams tried by this connection */
	uint16_t dns_port;      /* port for the resolved addresses */
	uint8_t special_ok;     /* may they be private or special ones? */
	/* server, until it authenticates (probe.c) */
	struct list unauth_node; /* on tcp_state.unauth, oldest first */
	struct session *owner;
	uint8_t *kept;          /* probe = "forward": every byte received so far */
	uint32_t kept_blk, kept_len, kept_cap;
};

struct session_role;

struct session {
	uint32_t gen;
	uint32_t slot;
	const struct session_role *role; /* its hooks (relay/role.h) */
	enum sess_state state;
	int fd[2];
	uint32_t inflight;      /* SQEs whose CQE has not come back yet */
	uint8_t closing_abort;  /* reset both sides on close */
	uint8_t salt_checked;   /* server: request salt went through the replay filter */
	uint8_t probe_fwd;      /* server: a failed request relayed to the decoy */
	uint8_t unauth;         /* server: not authenticated yet (on tcp_state.unauth) */
	uint8_t quota_end;      /* its user's quota ran out: what is queued goes, then FIN */
	uint8_t direct;         /* local/tunnel: the ACL bypasses the server */
	uint8_t connecting;     /* a connect SQE is in flight */
	const void *conf;       /* its role entry (config_server/_local/_tunnel) in cfg */
	const struct config *cfg; /* the snapshot it started on (held until freed) */
	counter_t *ctr;         /* its endpoint's counters (this worker's block) */
	counter_t *uctr;        /* its user's counters, NULL while unknown or none */
	const struct config_cipher *cipher;
	struct timer timer;
	struct relay_dir d[2];
	union { /* the opening direction: one edition per session */
		struct aead_reader rd;    /* AEAD-2017 */
		struct ss2022_reader rd2; /* 2022 edition (v2022 = 1) */
	};
	uint8_t v2022;          /* this session speaks the 2022 edition */
	uint8_t limited;        /* its user has a rate or a quota: charge what it relays */
	uint8_t admitted;       /* counted in its user's open sessions */
	uint8_t up;             /* local/tunnel with upstreams: index + 1 of its server */
	int32_t user;           /* servers with users: index in conf's users, -1 if none */
	struct aead_ctx wr;     /* the sealing direction */
	uint8_t wr_salt[AEAD_MAX_SALT_BYTES];
	uint16_t hdr_len;       /* server: header bytes gathered */
	uint8_t phase;          /* local: enum local_phase */
	uint8_t close_after_send; /* close once the reply to the client is out */
	uint8_t up_wait;        /* the upstream's first answer byte is still to come */
	uint32_t up_t0;         /* when the upstream connect began (loop ms, wrapping) */
	uint32_t hs_idx;        /* index of hs in loop.hs */
	struct session_hs *hs;  /* set-up state; NULL once the relay runs */
	uint32_t udp_slot;      /* the UDP association a SOCKS5 control connection or a
				 * UDP-over-TCP session is tied to */
	uint32_t udp_gen;       /* 0 = none */
	struct source_ticket src; /* counted against its client source's limits */
};

/* Op numbers of the TCP relay's completions (tcp_module). */
enum tcp_op {
	TCP_OP_RECV_IN = 0, /* recv on a session's inbound socket */
	TCP_OP_RECV_OUT,    /* recv on a session's outbound socket */
	TCP_OP_SEND_IN,     /* send on the inbound socket (direction out->in) */
	TCP_OP_SEND_OUT,    /* send on the outbound socket (direction in->out) */
	TCP_OP_CONNECT,
	TCP_OP_CANCEL,
	TCP_OP_THROTTLE,    /* the throttle's timeout (slot = its timespec) */
	TCP_OP_COUNT
};

/* An SQE of session s for op: its user_data, and one more in flight. */
void session_tag(struct io_uring_sqe *sqe, enum tcp_op op, struct session *s);
/* Find the live session a CQE belongs to, NULL if the slot was reused. */
struct session *session_lookup(struct loop *l, uint32_t slot, uint32_t gen);
/* New session for an accepted fd; NULL (and fd closed, counted) if the pool is full. */
struct session *session_new(struct loop *l, const struct tcp_listener *lst, int fd);
/*
 * A session with no inbound socket, for role entry conf of snapshot cfg
 * (held), counted on endpoint ep: its role sets it up and connects it; its
 * inbound side is the role (DIR_F_FED, DIR_F_DELIVER). NULL if the pool is full.
 */
struct session *session_new_outbound(struct loop *l, const struct config *cfg, const void *conf,
				     uint32_t ep);
/* Tear down. abort = send RST on both sockets. Idempotent. */
void session_close(struct loop *l, struct session *s, bool abort, const char *why);
/* The UDP association session slot/gen is tied to (udp_slot) ended on its
 * own: the session ends too, if it is still there. */
void session_udp_gone(struct loop *l, uint32_t slot, uint32_t gen);

/* The set-up state goes back to its pool (the relay runs without it). */
void session_hs_release(struct loop *l, struct session *s);
/* Called for every CQE of a session op. */
void session_handle_cqe(struct loop *l, struct session *s, enum tcp_op op,
			const struct io_uring_cqe *cqe);
/* Arm a receive on the source of direction di. */
void session_arm_recv(struct loop *l, struct session *s, int di);
/* A session whose timer fired (its timer's function). */
void session_timeout(struct loop *l, struct timer *t);
/*
 * Open the outbound socket and connect it to sa (within timeouts.connect,
 * on the session's timer); the session moves to SESS_ST_CONNECTING and the role's
 * connect hook runs on completion. 0 or -errno.
 */
int session_connect(struct loop *l, struct session *s, const struct sockaddr *sa, socklen_t len);
/*
 * Resolve name and connect to the first usable address (port in host order);
 * further addresses are tried when a connect fails. special_ok = false skips
 * private/special addresses (server role without allow_private). Returns 0
 * (connecting or resolving: state CONNECTING) or -errno.
 */
int session_connect_name(struct loop *l, struct session *s, const char *name, uint16_t port,
			 bool special_ok);
/* After a failed connect: try the next resolved address. 0 if one is tried. */
int session_connect_next(struct loop *l, struct session *s);
/* Start a direction that was parked while the outbound connect ran. */
void session_kick(struct loop *l, struct session *s, int di);
/* Retry receives parked on ENOBUFS for group bgid (the groups' starved hook). */
void session_retry_waiters(struct loop *l, int bgid);
/* The resolver's answer for a session waiting in session_connect_name(). */
void session_dns_done(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
		      int err);
/* A receive completed into the direction's buffer: transform and queue it (stream.c). */
void session_pump(struct loop *l, struct session *s, int di);
/* Give the direction's receive buffer / carry block / head of queue back;
 * dir_release_all: all three, the whole queue. */
void dir_release_buf(struct loop *l, struct relay_dir *d);
void dir_release_carry(struct loop *l, struct relay_dir *d);
void dir_tx_pop(struct loop *l, struct relay_dir *d);
void dir_release_all(struct loop *l, struct relay_dir *d);

/* Queue len bytes to the client on d[DIR_OUT_IN] (handshake replies). */
void session_send_reply(struct loop *l, struct session *s, const void *p, size_t len,
			bool close_after);
/* Carry block of a direction as a handshake accumulator (NULL if exhausted). */
uint8_t *session_acc(struct loop *l, struct session *s, int half);
/* The carry block of direction di, taken from the pool if it has none (NULL
 * if exhausted): 2 * CARRY_HALF_BYTES, for a role whose direction does not
 * open records (d->carry_len is then the role's). */
uint8_t *session_carry(struct loop *l, struct session *s, int di);
/*
 * The role's bytes p/n into direction di (DIR_F_FED) while relaying: sealed
 * as the direction seals (copied for method none) behind what it queued,
 * and sent. They are not counted or charged: the role does that (a datagram
 * relayed over TCP counts as UDP). 0; -ENOTCONN before the relay runs;
 * -ENOBUFS when the direction's queue is full (the caller drops them).
 */
int session_feed(struct loop *l, struct session *s, int di, const uint8_t *p, size_t n);
/* Receive more if the queue has room, or pass a FIN on once it is empty. */
void session_dir_next(struct loop *l, struct session *s, int di);
/* Seal len bytes as chunks of this session's edition into out (stream.c). */
size_t session_seal_chunks(struct session *s, uint8_t *out, const uint8_t *in, size_t len);
/*
 * A send block for up to need bytes from the loop's pools (a small block
 * when need fits one, else TX_BYTES), NULL if exhausted. blk names it for
 * session_tx_push / session_tx_free.
 */
uint8_t *session_tx_block(struct loop *l, size_t need, uint32_t *blk);
void session_tx_free(struct loop *l, uint32_t blk);
/* The bytes a send block holds, and where it starts. */
size_t session_tx_block_size(uint32_t blk);
uint8_t *session_tx_block_at(struct loop *l, uint32_t blk);
/* The outbound options of the session's role entry. */
const struct config_outbound *session_outbound(const struct session *s);
/* Queue p/len (inside send block blk, or POOL_NONE) for sending on di. */
void session_tx_push(struct loop *l, struct session *s, int di, uint8_t *p, size_t len,
		     uint32_t blk);
/* n plaintext payload bytes went through direction di (counted for stats). */
void session_count(struct session *s, int di, size_t n);

#endif
