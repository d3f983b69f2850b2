/* SPDX-License-Identifier: MIT */
/*
 * loop — one io_uring event loop and the modules that run on it. Each worker
 * thread runs one (the data plane); the main thread runs another, the
 * control loop (signals, configuration, low-rate listeners). The loop knows
 * no role, relay or resolver: modules register with it and it calls them.
 *
 * A module (struct loop_module) names the completion tags it uses and its
 * lifecycle hooks. Every SQE's user_data packs (tag, slot, generation) or
 * (tag, pointer); the tag says which module gets the CQE, and the module
 * finds its object and checks the generation itself, so a CQE for a slot
 * that was freed and reused is recognised.
 *
 * Lifecycle of a loop: loop_init() creates the ring and calls each module's
 * init in registration order; loop_run() calls start, then dispatches CQEs
 * and calls tick once per turn until a stop was requested and no module is
 * busy; loop_destroy() calls destroy in registration order as well, so a
 * service registered first (the resolver) is torn down while the modules
 * that use it still exist and can take its cancellations.
 *
 * Configuration: l->cfg is the loop's current snapshot (conf/config.h). A
 * new one arrives as a message (loop_adopt_config); each module's reconfig
 * hook then moves what it owns over (listeners, resolver servers). Whatever
 * was started on an older snapshot holds it (loop_cfg_hold/drop) and finishes
 * on it; the loop lets go of a snapshot when nothing of its own uses it.
 */
#ifndef SSRING_LOOP_H
#define SSRING_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/list.h"
#include "core/timer.h"
#include "core/uring_compat.h"

#define LOOP_MAX_MODULES 16
/* user_data keeps the tag in its top byte. */
#define LOOP_MAX_TAGS 256
#define LOOP_MAX_BUFGROUPS 8
/* The id of the control loop (workers are 0 .. workers - 1). */
#define LOOP_ID_CTL (-1)

struct loop;

struct loop_module {
	const char *name;
	unsigned n_ops;         /* completion tags it uses: module ops 0 .. n_ops-1 */
	/* Set by loop_module_register(), read-only afterwards. */
	unsigned tag_base;      /* its op k travels as tag tag_base + k */
	unsigned id;            /* index of its state in struct loop */
	/*
	 * Process-wide hooks, on the main thread: setup before any loop of the
	 * process exists (shared tables, library init), teardown after the
	 * last one is gone. setup returns 0 or -errno.
	 */
	int (*setup)(const struct config *cfg);
	void (*teardown)(void);
	/*
	 * On the main thread, before a snapshot is handed to any loop (old =
	 * NULL at start, the current one on a reload): make what the new one
	 * needs that only the main thread may make (listening sockets into
	 * cfg's struct config_rt, shared tables). 0 or -errno (logged); the
	 * reload then fails and cfg is dropped, its fds with it.
	 */
	int (*prepare)(const struct config *old, struct config *cfg);
	/*
	 * As prepare, but every module's pre_prepare runs (in registration
	 * order) before any module's prepare: for what the others' prepare
	 * reads from cfg, so that a module need not know who fills it (on
	 * the control loop, the server a SIP008 document names and the
	 * plugins' loopback ports, which the relays bind and connect to).
	 */
	int (*pre_prepare)(const struct config *old, struct config *cfg);
	/*
	 * Per-loop hooks, on the loop's own thread; each may be NULL.
	 * init: allocate the module's state (loop_set_state) and open what it
	 *       needs; 0 or -errno (the loop then fails to start).
	 * start: arm the first SQEs.
	 * cqe: a completion of one of its tags; op is the module's own number.
	 * tick: once per loop turn, after the turn's completions.
	 * stop: a graceful stop begins (l->stopping is set).
	 * busy: true while it still has work the stop must wait for.
	 * destroy: release everything; also called after a failed init.
	 * reconfig: l->cfg was replaced (old is still valid during the call).
	 */
	int (*init)(struct loop *l);
	void (*start)(struct loop *l);
	void (*cqe)(struct loop *l, unsigned op, const struct io_uring_cqe *cqe);
	void (*tick)(struct loop *l);
	void (*stop)(struct loop *l);
	bool (*busy)(const struct loop *l);
	void (*destroy)(struct loop *l);
	void (*reconfig)(struct loop *l, const struct config *old);
};

/* A snapshot this loop holds a reference to, and how much of it is in use. */
struct cfg_use {
	const struct config *cfg;
	uint32_t users;           /* sessions, associations... started on it */
};

/*
 * CORE_OP_CONFIG's message: the new snapshot (one reference for every loop
 * it is posted to) and where to acknowledge it (a message with user_data
 * reply_ud and res = the loop's id). Shared by the loops it is sent to;
 * the sender frees it after the last acknowledgement.
 */
struct loop_cfg_msg {
	const struct config *cfg;
	int reply_fd;
	uint64_t reply_ud;
};

/*
 * Provided-buffer group: receives pick a buffer only when data arrives. A
 * receive that found the group empty (ENOBUFS) parks its owner on waiters;
 * when buffers come back the loop calls starved() of the group once per turn.
 */
struct bufring {
	struct io_uring_buf_ring *br;
	unsigned char *mem;
	unsigned entries;
	unsigned buf_bytes;   /* stride between buffers */
	unsigned data_off;    /* where the kernel writes inside a buffer */
	unsigned data_len;    /* how much it may write */
	unsigned pending;     /* returned but not yet published */
	unsigned out;         /* buffers currently held by user space */
	struct list waiters;  /* owner-defined nodes of receives that starved */
	void (*starved)(struct loop *l, int bgid);
};

struct loop {
	struct io_uring ring;
	int id;                   /* worker index, or LOOP_ID_CTL */
	const struct config *cfg; /* the current snapshot: uses[0] */
	struct cfg_use *uses;     /* snapshots held: [0] current, then older ones in use */
	unsigned n_uses, cap_uses;
	uint64_t now_ms;          /* monotonic, refreshed once per turn */
	struct bufring bufs[LOOP_MAX_BUFGROUPS];
	struct timer_wheel wheel;
	bool stopping;            /* a graceful stop was requested */
	uint64_t stop_deadline_ms; /* then: when what is left gets cut */
	uint64_t enobufs;         /* receives that found their group empty */
	const char *setup_mode;   /* which ring flags were accepted */
	/* The modules this loop runs and their state, indexed by loop_module.id
	 * (so in registration order). */
	const struct loop_module *mods[LOOP_MAX_MODULES];
	void *state[LOOP_MAX_MODULES];
};

/* Core tags: op numbers of the core's own module. */
enum core_op {
	CORE_OP_ACCEPT = 0, /* ptr = struct loop_listener */
	CORE_OP_STOP,       /* a message: stop gracefully */
	CORE_OP_POSTED,     /* our side of a message that needs no completion */
	CORE_OP_CONFIG,     /* a message: ptr = struct loop_cfg_msg */
	CORE_OP_CANCEL,     /* a cancel whose outcome needs nothing (a listener's accept) */
	CORE_OP_COUNT
};

/*
 * Register a module: assign its tags and state index. Main thread only,
 * before any loop starts; registering the same module twice is a no-op.
 * 0, or -ENOSPC when the tag or module space is used up.
 */
int loop_module_register(struct loop_module *m);
/* The module a tag belongs to, NULL if none (core/module.c). */
struct loop_module *loop_tag_owner(unsigned tag);
/* The core's own module (tags CORE_OP_*); registered by loop_init. */
extern struct loop_module core_module;

static inline uint64_t ud_pack(unsigned tag, uint32_t slot, uint32_t gen)
{
	return (uint64_t)tag << 56 | (uint64_t)(slot & 0xffffff) << 32 | gen;
}

/* A pointer instead of slot and generation (user-space pointers fit 56 bits). */
static inline uint64_t ud_pack_ptr(unsigned tag, const void *p)
{
	return (uint64_t)tag << 56 | (uintptr_t)p;
}

static inline unsigned ud_tag(uint64_t ud)
{
	return (unsigned)(ud >> 56);
}

static inline uint32_t ud_slot(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & 0xffffff;
}

static inline uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)ud;
}

static inline void *ud_ptr(uint64_t ud)
{
	return (void *)(uintptr_t)(ud & ((1ull << 56) - 1));
}

/* The tag of module m's op. */
static inline unsigned loop_tag(const struct loop_module *m, unsigned op)
{
	return m->tag_base + op;
}

static inline void *loop_state(const struct loop *l, const struct loop_module *m)
{
	return l->state[m->id];
}

static inline void loop_set_state(struct loop *l, const struct loop_module *m, void *p)
{
	l->state[m->id] = p;
}

/* Get an SQE, submitting the queue first if it is full. Never NULL. */
struct io_uring_sqe *loop_sqe(struct loop *l);
/* Make sure n SQEs can be taken without a submit in between (links). */
void loop_reserve(struct loop *l, unsigned n);

/*
 * Register provided-buffer group bgid: entries buffers of bytes each; the
 * kernel writes len bytes at offset off of each. starved: see struct
 * bufring (may be NULL). 0 or -errno.
 */
int loop_setup_bufring(struct loop *l, int bgid, unsigned entries, unsigned bytes, unsigned off,
		       unsigned len, void (*starved)(struct loop *l, int bgid));
/* Give a provided buffer back to its ring (published at the end of the turn). */
void loop_buf_return(struct loop *l, int bgid, uint16_t bid);
/* A buffer taken by a completion (counted until it is returned). */
static inline void loop_buf_taken(struct loop *l, int bgid)
{
	l->bufs[bgid].out++;
}
/* The bookkeeping of a new group (loop_setup_bufring, and the session fuzz
 * target's stand-in for it). */
static inline void bufring_describe(struct bufring *b, unsigned entries, unsigned bytes,
				    unsigned off, unsigned len,
				    void (*starved)(struct loop *l, int bgid))
{
	b->entries = entries;
	b->buf_bytes = bytes;
	b->data_off = off;
	b->data_len = len;
	b->pending = b->out = 0;
	b->starved = starved;
	list_init(&b->waiters);
}
static inline unsigned char *loop_buf_data(struct loop *l, int bgid, uint16_t bid)
{
	struct bufring *b = &l->bufs[bgid];

	return b->mem + (size_t)bid * b->buf_bytes + b->data_off;
}
/* Start of buffer bid (before the data offset). */
static inline unsigned char *loop_buf_base(struct loop *l, int bgid, uint16_t bid)
{
	struct bufring *b = &l->bufs[bgid];

	return b->mem + (size_t)bid * b->buf_bytes;
}

/*
 * Post a message to another loop's ring (IORING_OP_MSG_RING): a CQE with
 * user_data ud and result res appears there. self_ud is the tag of our own
 * completion (CORE_OP_POSTED when nothing needs to happen on failure).
 */
void loop_post(struct loop *l, int ring_fd, uint64_t ud, int32_t res, uint64_t self_ud);

/*
 * Something starts on snapshot cfg (normally l->cfg) and holds it until
 * loop_cfg_drop(). Returns cfg. Only on the loop's thread.
 */
const struct config *loop_cfg_hold(struct loop *l, const struct config *cfg);
void loop_cfg_drop(struct loop *l, const struct config *cfg);
/*
 * Make cfg (whose reference the caller hands over) the current snapshot:
 * the modules' reconfig hooks run, and the old one is let go as soon as
 * nothing uses it.
 */
void loop_adopt_config(struct loop *l, const struct config *cfg);

/*
 * Create the ring for loop id and run the modules' init hooks, in order.
 * cfg: the first snapshot, whose reference the loop takes over. Runs on
 * the loop's own thread (SINGLE_ISSUER binds the ring to its creator). On
 * failure the caller still calls loop_destroy().
 */
int loop_init(struct loop *l, int id, const struct config *cfg,
	      struct loop_module *const *mods, unsigned n_mods);
/* Run until a stop was requested and no module is busy. Returns 0. */
int loop_run(struct loop *l);
/* Begin a graceful stop now (on the loop's thread); the deadline is
 * timeouts.shutdown from now. Idempotent. */
void loop_stop(struct loop *l);
void loop_destroy(struct loop *l);

#endif
