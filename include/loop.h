/* SPDX-License-Identifier: MIT */
/*
 * loop — one worker thread's io_uring event loop. Each worker owns one ring,
 * its listeners (SO_REUSEPORT), its session pool, its provided-buffer rings
 * and its timer wheel; nothing here is shared between workers.
 *
 * Every SQE's user_data packs (op, slot, generation): one CQE goes to exactly
 * one handler, and a CQE for a slot that was freed and reused is recognised
 * by its stale generation.
 */
#ifndef SSRING_LOOP_H
#define SSRING_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "list.h"
#include "pool.h"
#include "timer.h"
#include "uring_compat.h"

enum loop_op {
	OP_NONE = 0,
	OP_ACCEPT,      /* slot = listener index */
	OP_STOP,        /* eventfd read: the main thread asks us to stop */
	OP_RECV_IN,     /* recv on a session's inbound socket */
	OP_RECV_OUT,    /* recv on a session's outbound socket */
	OP_SEND_IN,     /* send on the inbound socket (direction out->in) */
	OP_SEND_OUT,    /* send on the outbound socket (direction in->out) */
	OP_CONNECT,
	OP_LINK_TIMEOUT,
	OP_SHUTDOWN,
	OP_CANCEL,
	OP_UDP_RECV_LST, /* slot = UDP listener index */
	OP_UDP_RECV_A,   /* slot/gen = association */
	OP_UDP_RECV_B,
	OP_UDP_SEND,     /* slot = UDP buffer id */
	OP_UDP_CANCEL,   /* slot/gen = association */
	OP_UDP_XFER,     /* low 56 bits: a 2022 packet handed over by another worker */
	OP_UDP_XFER_SRC, /* low 56 bits: our hand-over; freed here if it failed */
	OP_DNS_POLL_R,   /* slot/gen = c-ares socket */
	OP_DNS_POLL_W,
	OP_DNS_CANCEL,
	/* number of ops */
	OP_COUNT
};

static inline uint64_t ud_pack(enum loop_op op, uint32_t slot, uint32_t gen)
{
	return (uint64_t)op << 56 | (uint64_t)(slot & 0xffffff) << 32 | gen;
}

static inline enum loop_op ud_op(uint64_t ud)
{
	return (enum loop_op)(ud >> 56);
}

static inline uint32_t ud_slot(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & 0xffffff;
}

static inline uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)ud;
}

/* Provided-buffer groups. */
enum {
	BG_PLAIN = 0,  /* plaintext receives: headroom + one chunk payload + tailroom */
	BG_CIPHER = 1, /* ciphertext receives: several chunks */
	BG_UDP = 2,    /* recvmsg: header, name and headroom, then one datagram */
	BG_COUNT
};

/* Receive buffers: both groups take BUF_RECV_BYTES per receive. */
#ifndef BUF_RECV_BYTES
#define BUF_RECV_BYTES (256 * 1024)
#endif
#define BUF_PLAIN_BYTES BUF_RECV_BYTES
#define BUF_CIPHER_BYTES BUF_RECV_BYTES
/*
 * A send block takes everything one receive turns into: a receive sealed
 * (salt + chunk overheads), or a receive opened plus the record completed
 * from the carry (2022: up to a 0xFFFF record).
 */
#define TX_BYTES (BUF_RECV_BYTES + 64 * 1024 + 2048)
/* Free send/carry blocks beyond the POOL_TRIM_KEEP most recent go back to
 * the kernel every POOL_TRIM_MS. */
#define POOL_TRIM_MS 1000
#define POOL_TRIM_KEEP 16
/*
 * UDP buffers: io_uring_recvmsg_out (16) + the name area (128) + a reserved
 * control area that the kernel leaves empty (no cmsg is asked for) = bytes
 * before the payload. That room takes salt + address header in front of a
 * datagram, so it is sealed where it lies.
 */
#define UDP_NAME_BYTES 128
#define UDP_CTRL_BYTES 160
#define UDP_HEADROOM (16 + UDP_NAME_BYTES + UDP_CTRL_BYTES)
#define BUF_UDP_BYTES (UDP_HEADROOM + 65536 + 64)
#define BID_NONE 0xffff

struct bufring {
	struct io_uring_buf_ring *br;
	unsigned char *mem;
	unsigned entries;
	unsigned buf_bytes;   /* stride between buffers */
	unsigned data_off;    /* where the kernel writes inside a buffer */
	unsigned data_len;    /* how much it may write */
	unsigned pending;     /* returned but not yet published */
	unsigned out;         /* buffers currently held by user space */
	struct list waiters;  /* directions whose recv failed with ENOBUFS */
};

enum role {
	ROLE_SERVER = 0,
	ROLE_LOCAL,
	ROLE_TUNNEL
};

struct listener {
	int fd;
	enum role role;
	const void *conf;     /* struct config_server / _local / _tunnel */
	bool armed;           /* a multishot accept is in flight */
	bool paused;          /* accept backs off after EMFILE/ENFILE */
	struct timer retry;
};

struct loop_stats {
	uint64_t accepted;
	uint64_t refused_full;    /* session pool full */
	uint64_t auth_fail;
	uint64_t replays;         /* salts seen before (counted in auth_fail too) */
	uint64_t enobufs;
	uint64_t connect_fail;
	uint64_t domain_refused;  /* domain targets while no resolver exists */
	uint64_t private_refused;
	uint64_t bytes_in_out;    /* relayed inbound -> outbound (plaintext) */
	uint64_t bytes_out_in;
	uint64_t timeouts;
};

struct udp_state;
struct dns_state;
struct replay_filter;
struct replay2022;

struct loop {
	struct io_uring ring;
	int id;
	const struct config *cfg;
	uint64_t now_ms;          /* monotonic, refreshed once per turn */
	uint64_t trim_ms;         /* last pool_trim of the block pools */
	struct pool sessions;
	struct pool hs;           /* struct session_hs: set-up state of sessions */
	struct pool carries;      /* reassembly blocks for records split across receives */
	struct pool txbufs;       /* send blocks, held only while bytes are queued */
	struct bufring bufs[BG_COUNT];
	struct timer_wheel wheel;
	struct listener *listeners;
	unsigned n_listeners;
	int stop_fd;              /* eventfd written by the main thread */
	uint64_t stop_val;
	bool stopping;
	uint64_t stop_deadline_ms;
	uint32_t draining;        /* sessions absorbing a failed handshake */
	struct loop_stats st;
	struct udp_state *udp;    /* NULL when no role relays UDP */
	struct dns_state *dns;
	struct replay_filter *replay; /* shared by all workers; NULL = off */
	struct replay2022 *replay2022; /* 2022 request salts of the last 60 s */
	struct udp_owners *owners; /* 2022 UDP session -> worker, shared */
	_Atomic int *ring_fds;    /* every worker's ring fd (-1 until it runs) */
	uint64_t user_bytes[64];  /* 2022 multi-user: bytes relayed per user index */
	const char *setup_mode;   /* which ring flags were accepted */
};

/* Get an SQE, submitting the queue first if it is full. Never NULL. */
struct io_uring_sqe *loop_sqe(struct loop *l);
/* Make sure n SQEs can be taken without a submit in between (links). */
void loop_reserve(struct loop *l, unsigned n);
/* Give a provided buffer back to its ring (published at the end of the turn). */
void loop_buf_return(struct loop *l, int bgid, uint16_t bid);
static inline unsigned char *loop_buf_data(struct loop *l, int bgid, uint16_t bid)
{
	struct bufring *b = &l->bufs[bgid];

	return b->mem + (size_t)bid * b->buf_bytes + b->data_off;
}

/* Register provided-buffer group bgid: entries buffers of bytes each; the
 * kernel writes len bytes at offset off of each. 0 or -errno. */
int loop_setup_bufring(struct loop *l, int bgid, unsigned entries, unsigned bytes, unsigned off,
		       unsigned len);
/*
 * Create the ring, pools and listeners for worker `id`. Runs on the worker
 * thread itself (SINGLE_ISSUER binds the ring to its creator).
 */
int loop_init(struct loop *l, int id, const struct config *cfg, int stop_fd,
	      struct replay_filter *replay, struct replay2022 *replay2022);
/* Run until stopped and every session is gone. Returns 0. */
int loop_run(struct loop *l);
void loop_destroy(struct loop *l);

#endif
