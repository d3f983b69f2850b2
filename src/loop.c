/* SPDX-License-Identifier: MIT */
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "session.h"
#include "dns.h"
#include "udp.h"

#define LOOP_SQ_ENTRIES 4096
#define LOOP_CQ_ENTRIES 16384
/* Receive buffers go back to the ring right after each transform, so a
 * worker needs only as many as receives complete in one turn. */
/* Each group holds 8 MiB of receive buffers per worker. */
#define PLAIN_BUFS ((8u << 20) / BUF_PLAIN_BYTES)
#define CIPHER_BUFS ((8u << 20) / BUF_CIPHER_BYTES)
#define ACCEPT_RETRY_MS 1000

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
		return -EOPNOTSUPP;
	}
	/* Saves an fd lookup on every io_uring_enter. */
	io_uring_register_ring_fd(&l->ring);
	return 0;
}

int loop_setup_bufring(struct loop *l, int bgid, unsigned entries, unsigned bytes, unsigned off,
		       unsigned len)
{
	struct bufring *b = &l->bufs[bgid];
	int err;

	b->entries = entries;
	b->buf_bytes = bytes;
	b->data_off = off;
	b->data_len = len;
	b->pending = b->out = 0;
	list_init(&b->waiters);
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
	for (int g = 0; g < BG_COUNT; g++) {
		struct bufring *b = &l->bufs[g];

		if (!b->br)
			continue;
		if (b->pending) {
			io_uring_buf_ring_advance(b->br, (int)b->pending);
			b->pending = 0;
		}
		if (g == BG_UDP) {
			if (!list_empty(&l->udp->waiters) && b->out < b->entries)
				udp_retry_waiters(l);
		} else if (!list_empty(&b->waiters) && b->out < b->entries) {
			session_retry_waiters(l, g);
		}
	}
}

static int open_listener(struct loop *l, struct listener *ls, const struct hostport *hp)
{
	int one = 1, fd;
	char buf[80];

	fd = socket(hp->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_REUSEPORT: every worker binds its own listener and the kernel spreads
	 * connections, so no accepted fd ever crosses rings. TCP_NODELAY is
	 * inherited by accepted sockets. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (hp->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&hp->addr, hp->addr_len) < 0 ||
	    listen(fd, 4096) < 0) {
		int err = -errno;

		log_error("cannot listen on %s: %s",
			  hostport_format_addr((const struct sockaddr *)&hp->addr, buf,
					       sizeof(buf)),
			  strerror(-err));
		close(fd);
		return err;
	}
	ls->fd = fd;
	ls->armed = ls->paused = false;
	timer_init(&ls->retry);
	(void)l;
	return 0;
}

static int open_listeners(struct loop *l)
{
	const struct config *c = l->cfg;
	unsigned n = 0;
	int ret;

	l->listeners = calloc(c->n_servers + c->n_locals + c->n_tunnels + 1, sizeof(*l->listeners));
	if (!l->listeners)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_servers; i++) {
		struct listener *ls = &l->listeners[n];

		ls->role = ROLE_SERVER;
		ls->conf = &c->servers[i];
		ret = open_listener(l, ls, &c->servers[i].listen);
		if (ret)
			return ret;
		n++;
		l->n_listeners = n;
	}
	for (size_t i = 0; i < c->n_locals; i++) {
		struct listener *ls = &l->listeners[n];

		ls->role = ROLE_LOCAL;
		ls->conf = &c->locals[i];
		ret = open_listener(l, ls, &c->locals[i].listen);
		if (ret)
			return ret;
		l->n_listeners = ++n;
	}
	for (size_t i = 0; i < c->n_tunnels; i++) {
		struct listener *ls = &l->listeners[n];

		if (!c->tunnels[i].tcp)
			continue;
		ls->role = ROLE_TUNNEL;
		ls->conf = &c->tunnels[i];
		ret = open_listener(l, ls, &c->tunnels[i].listen);
		if (ret)
			return ret;
		l->n_listeners = ++n;
	}
	return 0;
}

static void arm_accept(struct loop *l, unsigned idx)
{
	struct listener *ls = &l->listeners[idx];
	struct io_uring_sqe *sqe = loop_sqe(l);

	/* Multishot: one SQE keeps producing a CQE per connection. No address
	 * output: the single slot would be overwritten by later accepts. */
	io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data64(sqe, ud_pack(OP_ACCEPT, idx, 0));
	ls->armed = true;
}

static void handle_accept(struct loop *l, unsigned idx, const struct io_uring_cqe *cqe)
{
	struct listener *ls = &l->listeners[idx];

	if (!(cqe->flags & IORING_CQE_F_MORE))
		ls->armed = false;
	if (cqe->res >= 0) {
		if (l->stopping) {
			close(cqe->res);
		} else {
			struct session *s = session_new(l, ls, cqe->res);

			if (s && ls->role == ROLE_SERVER)
				server_session_start(l, s);
			else if (s)
				local_session_start(l, s);
		}
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOBUFS ||
		   cqe->res == -ENOMEM) {
		/* Re-arming at once would spin: back off and retry from the wheel. */
		if (!ls->paused)
			log_warn("accept: %s; pausing accepts for %d ms", strerror(-cqe->res),
				 ACCEPT_RETRY_MS);
		ls->paused = true;
		timer_arm(&l->wheel, &ls->retry, l->now_ms + ACCEPT_RETRY_MS);
		return;
	} else if (cqe->res != -ECANCELED && cqe->res != -EINVAL && cqe->res != -EBADF) {
		log_warn("accept: %s", strerror(-cqe->res));
	}
	if (!ls->armed && !ls->paused && !l->stopping && ls->fd >= 0)
		arm_accept(l, idx);
}

static void arm_stop(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_read(sqe, l->stop_fd, &l->stop_val, sizeof(l->stop_val), 0);
	io_uring_sqe_set_data64(sqe, ud_pack(OP_STOP, 0, 0));
}

static void begin_stop(struct loop *l)
{
	if (l->stopping)
		return;
	l->stopping = true;
	l->stop_deadline_ms = l->now_ms + (uint64_t)l->cfg->timeouts.shutdown * 1000;
	log_info("stopping: %u sessions in flight, deadline %us", l->sessions.used,
		 l->cfg->timeouts.shutdown);
	for (unsigned i = 0; i < l->n_listeners; i++) {
		struct listener *ls = &l->listeners[i];

		/* shutdown() wakes the pending multishot accept with an error;
		 * the fd is closed once the loop has drained. */
		if (ls->fd >= 0)
			shutdown(ls->fd, SHUT_RDWR);
		timer_cancel(&ls->retry);
	}
	udp_stop(l);
	/* Probes being absorbed and idle SOCKS5 handshakes need not finish. */
	for (uint32_t i = 0; i < l->sessions.next_new; i++) {
		struct session *s = pool_at(&l->sessions, i);

		if ((s->gen & 1) && (s->state == SESS_ST_DRAIN || s->state == SESS_ST_HANDSHAKE))
			session_close(l, s, false, "shutdown");
	}
}

static void dispatch(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum loop_op op = ud_op(ud);
	struct session *s;

	switch (op) {
	case OP_ACCEPT:
		handle_accept(l, ud_slot(ud), cqe);
		return;
	case OP_STOP:
		if (cqe->res == (int)sizeof(uint64_t) || cqe->res < 0)
			begin_stop(l);
		return;
	case OP_UDP_RECV_LST:
	case OP_UDP_RECV_A:
	case OP_UDP_RECV_B:
	case OP_UDP_SEND:
	case OP_UDP_CANCEL:
	case OP_UDP_XFER:
	case OP_UDP_XFER_SRC:
		if (l->udp)
			udp_handle_cqe(l, op, cqe);
		return;
	case OP_DNS_POLL_R:
	case OP_DNS_POLL_W:
	case OP_DNS_CANCEL:
		dns_handle_cqe(l, op, cqe);
		return;
	case OP_NONE:
	case OP_COUNT:
		return;
	default:
		s = session_lookup(l, ud_slot(ud), ud_gen(ud));
		if (s)
			session_handle_cqe(l, s, op, cqe);
		return;
	}
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
		/* Listener retry timers live in the listener array. */
		if ((void *)t >= (void *)l->listeners &&
		    (void *)t < (void *)(l->listeners + l->n_listeners)) {
			struct listener *ls = list_entry(&t->node, struct listener, retry.node);

			ls->paused = false;
			if (!ls->armed && !l->stopping)
				arm_accept(l, (unsigned)(ls - l->listeners));
			continue;
		}
		struct udp_assoc *ua = udp_timer_owner(l, t);

		if (ua) {
			udp_timeout(l, ua);
			continue;
		}
		session_timeout(l, list_entry(&t->node, struct session, timer.node));
	}
}

static void stop_sessions(struct loop *l)
{
	/* Past the shutdown deadline: reset whatever is left. */
	for (uint32_t i = 0; i < l->sessions.next_new; i++) {
		struct session *s = pool_at(&l->sessions, i);

		if (s->gen & 1)
			session_close(l, s, true, "shutdown deadline");
	}
}

int loop_init(struct loop *l, int id, const struct config *cfg, int stop_fd,
	      struct replay_filter *replay, struct replay2022 *replay2022)
{
	uint32_t per_loop;
	int ret;

	memset(l, 0, sizeof(*l));
	l->replay = replay;
	l->replay2022 = replay2022;
	l->id = id;
	l->cfg = cfg;
	l->stop_fd = stop_fd;
	l->now_ms = mono_ms();
	ret = setup_ring(l);
	if (ret)
		return ret;
	per_loop = (cfg->limits.tcp_sessions + (uint32_t)cfg->workers - 1) / (uint32_t)cfg->workers;
	if (pool_init(&l->sessions, sizeof(struct session), per_loop) ||
	    pool_init(&l->hs, sizeof(struct session_hs), per_loop) ||
	    pool_init(&l->carries, 2 * CARRY_HALF_BYTES, per_loop) ||
	    pool_init(&l->txbufs, TX_BYTES, per_loop * 2 < 8192 ? per_loop * 2 : 8192))
		return -ENOMEM;
	ret = loop_setup_bufring(l, BG_PLAIN, PLAIN_BUFS, BUF_PLAIN_BYTES, 0, BUF_PLAIN_BYTES);
	if (ret)
		return ret;
	ret = loop_setup_bufring(l, BG_CIPHER, CIPHER_BUFS, BUF_CIPHER_BYTES, 0, BUF_CIPHER_BYTES);
	if (ret)
		return ret;
	timer_wheel_init(&l->wheel, l->now_ms);
	ret = open_listeners(l);
	if (!ret)
		ret = dns_init(l);
	return ret ? ret : udp_init(l);
}

static bool loop_done(struct loop *l)
{
	return l->stopping && l->sessions.used == 0 && !udp_busy(l);
}

int loop_run(struct loop *l)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = TIMER_TICK_MS * 1000000L };

	for (unsigned i = 0; i < l->n_listeners; i++)
		arm_accept(l, i);
	udp_start(l);
	arm_stop(l);
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
		dns_tick(l);
		udp_flush(l); /* the datagrams of this turn, batched per destination */
		flush_buffers(l);
		expire_timers(l);
		if (l->now_ms - l->trim_ms >= POOL_TRIM_MS) {
			/* After a burst, the blocks it used go back to the kernel;
			 * the most recently used stay for the next one. */
			l->trim_ms = l->now_ms;
			pool_trim(&l->txbufs, POOL_TRIM_KEEP);
			pool_trim(&l->carries, POOL_TRIM_KEEP);
		}
		if (l->stopping && l->now_ms >= l->stop_deadline_ms)
			stop_sessions(l);
	}
	/* Listener ops may still be in flight: close the fds and reap briefly. */
	for (unsigned i = 0; i < l->n_listeners; i++) {
		if (l->listeners[i].fd >= 0)
			close(l->listeners[i].fd);
		l->listeners[i].fd = -1;
	}
	log_info("stopped: accepted %llu, auth failures %llu (replays %llu), pool full %llu, connect "
		 "failures %llu, bytes in->out %llu out->in %llu",
		 (unsigned long long)l->st.accepted, (unsigned long long)l->st.auth_fail,
		 (unsigned long long)l->st.replays,
		 (unsigned long long)l->st.refused_full, (unsigned long long)l->st.connect_fail,
		 (unsigned long long)l->st.bytes_in_out, (unsigned long long)l->st.bytes_out_in);
	for (size_t i = 0; i < l->cfg->n_servers; i++) {
		const struct config_server *sv = &l->cfg->servers[i];

		for (size_t u = 0; u < sv->n_users2022 && u < 64; u++)
			if (l->user_bytes[u])
				log_info("user %s: %llu bytes", sv->users2022[u].name,
					 (unsigned long long)l->user_bytes[u]);
	}
	return 0;
}

void loop_destroy(struct loop *l)
{
	dns_destroy(l); /* first: cancelled lookups hand buffers back to UDP */
	udp_destroy(l);
	for (int g = 0; g < BG_COUNT; g++) {
		struct bufring *b = &l->bufs[g];

		if (b->br)
			compat_free_buf_ring(&l->ring, b->br, b->entries, g);
		if (b->mem)
			munmap(b->mem, (size_t)b->entries * b->buf_bytes);
	}
	pool_destroy(&l->sessions);
	pool_destroy(&l->hs);
	pool_destroy(&l->carries);
	pool_destroy(&l->txbufs);
	free(l->listeners);
	io_uring_queue_exit(&l->ring);
}
