/* SPDX-License-Identifier: MIT */
#include "core/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/listener.h"
#include "core/log.h"
#include "core/tsan.h"

#define LOOP_SQ_ENTRIES 4096
#define LOOP_CQ_ENTRIES 16384

static void core_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe);

struct loop_module core_module = {
	.name = "core",
	.n_ops = CORE_OP_COUNT,
	.cqe = core_cqe,
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct io_uring_sqe *loop_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	while (!sqe) {
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

void loop_reserve(struct loop *l, unsigned n)
{
	/* A link cannot span two submissions: make room for the whole chain. */
	if (io_uring_sq_space_left(&l->ring) < n)
		io_uring_submit(&l->ring);
}

#ifdef SSRING_TSAN
char tsan_ring_sync[1024];
#endif

void loop_post(struct loop *l, int ring_fd, uint64_t ud, int32_t res, uint64_t self_ud)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	tsan_ring_release(ring_fd);
	io_uring_prep_msg_ring(sqe, ring_fd, (unsigned)res, ud, 0);
	io_uring_sqe_set_data64(sqe, self_ud);
}

/*
 * Ring setup: SINGLE_ISSUER + DEFER_TASKRUN lets completion work run only
 * when this thread waits, in batches; COOP_TASKRUN is the fallback for
 * kernels before 6.1. SUBMIT_ALL keeps a batch going past one failed SQE.
 */
static int setup_ring(struct loop *l)
{
	static const struct {
		unsigned flags;
		const char *name;
	} modes[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		  "single_issuer+defer_taskrun" },
		{ IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "coop_taskrun" },
		{ 0, "plain" },
	};
	struct io_uring_params p;
	int ret = -EINVAL;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = modes[i].flags | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE |
			  IORING_SETUP_CLAMP;
		p.cq_entries = LOOP_CQ_ENTRIES;
		ret = io_uring_queue_init_params(LOOP_SQ_ENTRIES, &l->ring, &p);
		if (ret == 0) {
			l->setup_mode = modes[i].name;
			break;
		}
		if (ret == -EPERM || ret == -ENOSYS)
			break;
	}
	if (ret)
		l->ring.ring_fd = -1; /* liburing may have cleared the struct */
	if (ret == -EPERM) {
		log_error("io_uring is not allowed here (sysctl kernel.io_uring_disabled, or a "
			  "seccomp filter such as a container's): %s",
			  strerror(-ret));
		return ret;
	}
	if (ret == -ENOSYS) {
		log_error("io_uring is not available: the kernel lacks it or a seccomp filter "
			  "blocks it");
		return ret;
	}
	if (ret) {
		log_error("io_uring setup failed: %s", strerror(-ret));
		return ret;
	}
	if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
		log_error("kernel too old: io_uring lacks EXT_ARG/NODROP (need Linux >= 5.19, "
			  "6.1+ recommended)");
		io_uring_queue_exit(&l->ring);
		l->ring.ring_fd = -1;
		return -EOPNOTSUPP;
	}
	/* Saves an fd lookup on every io_uring_enter. */
	io_uring_register_ring_fd(&l->ring);
	return 0;
}

int loop_setup_bufring(struct loop *l, int bgid, unsigned entries, unsigned bytes, unsigned off,
		       unsigned len, void (*starved)(struct loop *l, int bgid))
{
	struct bufring *b = &l->bufs[bgid];
	int err;

	bufring_describe(b, entries, bytes, off, len, starved);
	b->mem = mmap(NULL, (size_t)entries * bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->mem == MAP_FAILED) {
		b->mem = NULL;
		return -ENOMEM;
	}
	b->br = compat_setup_buf_ring(&l->ring, entries, bgid, &err);
	if (!b->br) {
		log_error("provided buffer ring setup failed: %s (kernel >= 5.19 needed)",
			  strerror(-err));
		return err;
	}
	for (unsigned i = 0; i < entries; i++)
		io_uring_buf_ring_add(b->br, b->mem + (size_t)i * bytes + off, len,
				      (unsigned short)i, io_uring_buf_ring_mask(entries), (int)i);
	io_uring_buf_ring_advance(b->br, (int)entries);
	return 0;
}

void loop_buf_return(struct loop *l, int bgid, uint16_t bid)
{
	struct bufring *b = &l->bufs[bgid];

	io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * b->buf_bytes + b->data_off,
			      b->data_len, bid, io_uring_buf_ring_mask(b->entries),
			      (int)b->pending);
	b->pending++;
	b->out--;
}

/* Publish returned buffers once per turn, then wake receives that starved. */
static void flush_buffers(struct loop *l)
{
	for (int g = 0; g < LOOP_MAX_BUFGROUPS; g++) {
		struct bufring *b = &l->bufs[g];

		if (!b->br)
			continue;
		if (b->pending) {
			io_uring_buf_ring_advance(b->br, (int)b->pending);
			b->pending = 0;
		}
		if (!list_empty(&b->waiters) && b->out < b->entries && b->starved)
			b->starved(l, g);
	}
}

static void core_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	switch (op) {
	case CORE_OP_ACCEPT:
		listener_handle_cqe(l, cqe);
		break;
	case CORE_OP_STOP:
		loop_stop(l);
		break;
	case CORE_OP_CONFIG: {
		const struct loop_cfg_msg *m = ud_ptr(cqe->user_data);

		loop_adopt_config(l, m->cfg);
		loop_post(l, m->reply_fd, m->reply_ud, l->id,
			  ud_pack(loop_tag(&core_module, CORE_OP_POSTED), 0, 0));
		break;
	}
	case CORE_OP_CANCEL:
		break; /* the cancelled operation's own CQE says what happened */
	default: /* CORE_OP_POSTED */
		if (cqe->res < 0)
			log_warn("message to another loop failed: %s", strerror(-cqe->res));
		break;
	}
}

static bool attached(const struct loop *l, const struct loop_module *m)
{
	return m->id < LOOP_MAX_MODULES && l->mods[m->id] == m;
}

static void dispatch(struct loop *l, const struct io_uring_cqe *cqe)
{
	unsigned tag = ud_tag(cqe->user_data);
	struct loop_module *m = loop_tag_owner(tag);

	/* A tag of a module this loop does not run cannot have been submitted
	 * here; a message for one (a bug elsewhere) is dropped. */
	tsan_ring_acquire(l->ring.ring_fd); /* a message from another ring, maybe */
	if (m && m->cqe && attached(l, m))
		m->cqe(l, tag - m->tag_base, cqe);
}

static void expire_timers(struct loop *l)
{
	struct list expired;

	list_init(&expired);
	timer_wheel_advance(&l->wheel, l->now_ms, &expired);
	while (!list_empty(&expired)) {
		struct timer *t = list_entry(expired.next, struct timer, node);

		list_del(&t->node);
		t->deadline_ms = 0;
		if (t->fn)
			t->fn(l, t);
	}
}

static struct cfg_use *find_use(struct loop *l, const struct config *cfg)
{
	for (unsigned i = 0; i < l->n_uses; i++)
		if (l->uses[i].cfg == cfg)
			return &l->uses[i];
	return NULL;
}

/* Let go of an old snapshot nothing of ours uses any more. */
static void release_use(struct loop *l, struct cfg_use *u)
{
	const struct config *cfg = u->cfg;

	*u = l->uses[--l->n_uses];
	config_unref(cfg);
}

const struct config *loop_cfg_hold(struct loop *l, const struct config *cfg)
{
	struct cfg_use *u = l->uses[0].cfg == cfg ? &l->uses[0] : find_use(l, cfg);

	/* Only snapshots the loop holds can be handed out. */
	if (u)
		u->users++;
	return cfg;
}

void loop_cfg_drop(struct loop *l, const struct config *cfg)
{
	struct cfg_use *u = l->uses[0].cfg == cfg ? &l->uses[0] : find_use(l, cfg);

	if (!u || !u->users)
		return;
	if (--u->users == 0 && u != &l->uses[0])
		release_use(l, u);
}

static int add_use(struct loop *l, const struct config *cfg)
{
	if (l->n_uses == l->cap_uses) {
		unsigned cap = l->cap_uses ? 2 * l->cap_uses : 4;
		struct cfg_use *n = realloc(l->uses, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->uses = n;
		l->cap_uses = cap;
	}
	l->uses[l->n_uses++] = (struct cfg_use){ .cfg = cfg };
	return 0;
}

void loop_adopt_config(struct loop *l, const struct config *cfg)
{
	const struct config *old = l->cfg;
	const struct loop_module *m;
	struct cfg_use cur = l->uses[0];

	if (add_use(l, cfg)) {
		log_error("loop: out of memory: keeping configuration generation %llu",
			  (unsigned long long)old->generation);
		config_unref(cfg);
		return;
	}
	/* The new one becomes uses[0]; the old one stays while it has users. */
	l->uses[0] = l->uses[l->n_uses - 1];
	l->uses[l->n_uses - 1] = cur;
	l->cfg = cfg;
	for (unsigned i = 0; i < LOOP_MAX_MODULES; i++)
		if ((m = l->mods[i]) && m->reconfig)
			m->reconfig(l, old);
	if (!l->uses[l->n_uses - 1].users)
		release_use(l, &l->uses[l->n_uses - 1]);
	log_debug("snapshot %llu in use", (unsigned long long)cfg->generation);
}

int loop_init(struct loop *l, int id, const struct config *cfg,
	      struct loop_module *const *mods, unsigned n_mods)
{
	int ret;

	memset(l, 0, sizeof(*l));
	l->ring.ring_fd = -1;
	l->id = id;
	l->cfg = cfg;
	if (add_use(l, cfg)) {
		config_unref(cfg);
		l->cfg = NULL;
		return -ENOMEM;
	}
	l->now_ms = mono_ms();
	timer_wheel_init(&l->wheel, l->now_ms);
	ret = loop_module_register(&core_module);
	if (ret)
		return ret;
	l->mods[core_module.id] = &core_module;
	for (unsigned i = 0; i < n_mods; i++) {
		if (!mods[i]->tag_base || mods[i]->id >= LOOP_MAX_MODULES) {
			log_error("loop: module %s was not registered", mods[i]->name);
			return -EINVAL;
		}
		l->mods[mods[i]->id] = mods[i];
	}
	ret = setup_ring(l);
	if (ret)
		return ret;
	for (unsigned i = 0; i < n_mods; i++) {
		if (mods[i]->init && (ret = mods[i]->init(l)) != 0)
			return ret;
	}
	return 0;
}

/* The modules of this loop in registration order (core first). */
#define for_each_module(l, m)                                                             \
	for (unsigned mi_ = 0; mi_ < LOOP_MAX_MODULES; mi_++)                             \
		if (((m) = (l)->mods[mi_]) != NULL)

void loop_stop(struct loop *l)
{
	const struct loop_module *m;

	if (l->stopping)
		return;
	l->stopping = true;
	l->stop_deadline_ms = l->now_ms + (uint64_t)l->cfg->timeouts.shutdown * 1000;
	for_each_module(l, m)
		if (m->stop)
			m->stop(l);
}

static bool loop_done(const struct loop *l)
{
	const struct loop_module *m;

	if (!l->stopping)
		return false;
	for_each_module(l, m)
		if (m->busy && m->busy(l))
			return false;
	return true;
}

int loop_run(struct loop *l)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = TIMER_TICK_MS * 1000000L };
	const struct loop_module *m;

	for_each_module(l, m)
		if (m->start)
			m->start(l);
	while (!loop_done(l)) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ret;

		ret = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY)
			log_warn("io_uring wait: %s", strerror(-ret));
		l->now_ms = mono_ms();
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			dispatch(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
		for_each_module(l, m)
			if (m->tick)
				m->tick(l);
		flush_buffers(l);
		expire_timers(l);
	}
	/* What the modules closed last may still be queued. */
	io_uring_submit(&l->ring);
	return 0;
}

void loop_destroy(struct loop *l)
{
	const struct loop_module *m;

	for_each_module(l, m)
		if (m->destroy)
			m->destroy(l);
	while (l->n_uses)
		release_use(l, &l->uses[l->n_uses - 1]);
	free(l->uses);
	l->uses = NULL;
	if (l->ring.ring_fd < 0)
		return;
	for (int g = 0; g < LOOP_MAX_BUFGROUPS; g++) {
		struct bufring *b = &l->bufs[g];

		if (b->br)
			compat_free_buf_ring(&l->ring, b->br, b->entries, g);
		if (b->mem)
			munmap(b->mem, (size_t)b->entries * b->buf_bytes);
	}
	io_uring_queue_exit(&l->ring);
}
