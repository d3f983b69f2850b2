/* SPDX-License-Identifier: MIT */
/*
 * session — the direction-symmetric relay engine. One body runs both
 * directions; a direction seals (plaintext in, ss chunks out), opens (ss
 * chunks in, plaintext out) or passes bytes as they are, and everything
 * else is the same. Whatever is particular to a role (its handshake, its
 * connect, what it holds) it does through the hooks of relay/role.h.
 *
 * Per direction the cycle is: a receive (a provided buffer is picked only
 * when data arrives, so an idle connection holds no payload memory) ->
 * transformed into a send block (stream.c) -> the buffer goes back at once
 * -> the block is queued and sent, one send in flight. A direction keeps
 * at most DIR_TXQ outputs queued and receives again only with room in its
 * queue: that is the backpressure. Records split across receives are
 * completed in a "carry" block taken from the loop's pool only while such a
 * record exists.
 */
#include "relay/session.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "relay/role.h"
#include "relay/user_gate.h"

static struct relay_dir *dir_of(struct session *s, int di)
{
	return &s->d[di];
}

/* The socket a direction reads from / writes to. */
static int src_fd(const struct session *s, int di)
{
	return s->fd[di == DIR_IN_OUT ? SIDE_IN : SIDE_OUT];
}

static int dst_fd(const struct session *s, int di)
{
	return s->fd[di == DIR_IN_OUT ? SIDE_OUT : SIDE_IN];
}

void session_tag(struct io_uring_sqe *sqe, enum tcp_op op, struct session *s)
{
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&tcp_module, op), s->slot, s->gen));
	s->inflight++;
}

struct session *session_lookup(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct tcp_state *t = tcp_of(l);
	struct session *s;

	if (slot >= t->sessions.next_new)
		return NULL;
	s = pool_at(&t->sessions, slot);
	return s->gen == gen ? s : NULL;
}

/* A session of entry conf on snapshot cfg, counted on endpoint ep, with
 * inbound socket fd (-1: none); NULL (fd closed, counted) if the pool is full. */
/* Say once when this worker's session pool or the process's descriptor
 * table passes 90%, and again only after it fell under 80%. The kernel
 * hands out the lowest free descriptor, so an accepted fd numbered k means
 * at least k are open: no scan of the table. */
static void near_limits(struct tcp_state *t, int fd)
{
	uint32_t used = t->sessions.used, cap = t->sessions.cap;

	if (!t->near_pool && (uint64_t)used * 10 >= (uint64_t)cap * 9) {
		t->near_pool = true;
		log_warn("sessions: %u of this worker's %u (limits.tcp_sessions split across the "
			 "workers) are open; new connections are refused when it is full",
			 used, cap);
	} else if (t->near_pool && (uint64_t)used * 10 < (uint64_t)cap * 8) {
		t->near_pool = false;
	}
	if (fd < 0 || !t->fd_soft)
		return;
	if (!t->near_fds && (uint64_t)fd * 10 >= t->fd_soft * 9) {
		t->near_fds = true;
		log_warn("descriptors: at least %d of RLIMIT_NOFILE %llu are open (two per "
			 "session); accepts pause when none is left: raise LimitNOFILE",
			 fd, (unsigned long long)t->fd_soft);
	} else if (t->near_fds && (uint64_t)fd * 10 < t->fd_soft * 8) {
		t->near_fds = false;
	}
}

static struct session *session_alloc(struct loop *l, const struct config *cfg, const void *conf,
				     uint32_t ep, int fd)
{
	struct tcp_state *t = tcp_of(l);
	uint32_t idx = pool_alloc(&t->sessions), hs = POOL_NONE, gen;
	struct session *s;

	if (idx != POOL_NONE) {
		/* As many set-up blocks as sessions: this only fails if the
		 * pools were sized differently. */
		hs = pool_alloc(&t->hs);
		if (hs == POOL_NONE) {
			pool_free(&t->sessions, idx);
			idx = POOL_NONE;
		}
	}
	if (idx == POOL_NONE) {
		/* Log the first refusal of a burst, count them all. */
		stats_worker_add(l->id, WC_REFUSED_POOL, 1);
		if (t->st.refused_full++ % 1024 == 0)
			log_warn("session pool full (%u per worker): refusing connection "
				 "(%llu refused so far)",
				 t->sessions.cap, (unsigned long long)t->st.refused_full);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	near_limits(t, fd);
	s = pool_at(&t->sessions, idx);
	gen = s->gen + 1; /* odd = live */
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->slot = idx;
	s->conf = conf; /* the caller picks its role (roles.c) */
	s->cfg = loop_cfg_hold(l, cfg);
	s->ctr = stats_ep(l->id, ep);
	ctr_add(&s->ctr[EPC_TCP_OPEN], 1);
	ctr_add(&s->ctr[EPC_TCP_TOTAL], 1);
	s->fd[SIDE_IN] = fd;
	s->fd[SIDE_OUT] = -1;
	s->user = -1;
	s->hs_idx = hs;
	s->hs = pool_at(&t->hs, hs);
	memset(s->hs, 0, sizeof(*s->hs));
	timer_init_fn(&s->timer, session_timeout);
	for (int i = 0; i < 2; i++) {
		s->d[i].bid = BID_NONE;
		s->d[i].carry = POOL_NONE;
		s->d[i].di = (uint8_t)i;
		list_init(&s->d[i].wait_node);
	}
	return s;
}

struct session *session_new(struct loop *l, const struct tcp_listener *lst, int fd)
{
	struct session *s = session_alloc(l, l->cfg, lst->conf, lst->ep, fd);

	if (s)
		tcp_of(l)->st.accepted++;
	return s;
}

struct session *session_new_outbound(struct loop *l, const struct config *cfg, const void *conf,
				     uint32_t ep)
{
	struct session *s = session_alloc(l, cfg, conf, ep, -1);

	/* Its inbound side is the role: fed by it one way, delivered to it
	 * the other. */
	if (s) {
		s->d[DIR_IN_OUT].flags = DIR_F_FED;
		s->d[DIR_OUT_IN].flags = DIR_F_DELIVER;
	}
	return s;
}

void dir_release_buf(struct loop *l, struct relay_dir *d)
{
	if (d->bid != BID_NONE) {
		loop_buf_return(l, d->bgid, d->bid);
		d->bid = BID_NONE;
	}
	d->buf_len = d->buf_pos = 0;
}

void dir_release_carry(struct loop *l, struct relay_dir *d)
{
	if (d->carry != POOL_NONE) {
		pool_free(&tcp_of(l)->carries, d->carry);
		d->carry = POOL_NONE;
	}
	d->carry_len = 0;
}

void dir_tx_pop(struct loop *l, struct relay_dir *d)
{
	session_tx_free(l, d->q[0].blk);
	d->nq--;
	memmove(d->q, d->q + 1, d->nq * sizeof(d->q[0]));
}

void dir_release_all(struct loop *l, struct relay_dir *d)
{
	dir_release_buf(l, d);
	dir_release_carry(l, d);
	while (d->nq)
		dir_tx_pop(l, d);
}

void session_hs_release(struct loop *l, struct session *s)
{
	if (s->hs) {
		pool_free(&tcp_of(l)->hs, s->hs_idx);
		s->hs = NULL;
		if (s->v2022)
			s->rd2.target = NULL; /* a request's target pointed into the block */
	}
}

static void maybe_free(struct loop *l, struct session *s)
{
	struct tcp_state *t = tcp_of(l);

	if (!(s->gen & 1) || s->state != SESS_ST_CLOSING || s->inflight)
		return;
	for (int side = 0; side < 2; side++) {
		if (s->fd[side] < 0)
			continue;
		if (s->closing_abort) {
			/* SO_LINGER {1, 0}: close sends RST, propagating a reset. */
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(s->fd[side], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(s->fd[side]);
		s->fd[side] = -1;
	}
	for (int i = 0; i < 2; i++)
		dir_release_all(l, &s->d[i]);
	if (s->v2022)
		ss2022_reader_wipe(&s->rd2);
	else
		aead_ctx_wipe(&s->rd.ctx);
	aead_ctx_wipe(&s->wr);
	session_hs_release(l, s);
	ctr_sub(&s->ctr[EPC_TCP_OPEN], 1);
	if (s->uctr)
		ctr_sub(&s->uctr[UC_TCP_OPEN], 1);
	session_user_end(s);
	sources_end(&s->src);
	loop_cfg_drop(l, s->cfg);
	s->gen++; /* even = free; late CQEs for this slot no longer match */
	pool_free(&t->sessions, s->slot);
}

void session_udp_gone(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct session *s = session_lookup(l, slot, gen);

	if (s) {
		s->udp_gen = 0; /* it is gone: nothing to close */
		session_close(l, s, false, "its UDP association ended");
	}
}

/* Cancel one of the session's requests by its user_data: the kernel finds
 * it by hash. A cancel by fd walks every armed request of the ring, so
 * closing each of N idle sessions that way costs O(N) and reaping them all
 * O(N^2) (tools/scale-bench: 9,000 idle sessions took 30 s to reap with a
 * 10 s timeout). */
static void cancel_op(struct loop *l, struct session *s, enum tcp_op op)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_cancel64(sqe, ud_pack(loop_tag(&tcp_module, op), s->slot, s->gen), 0);
	session_tag(sqe, TCP_OP_CANCEL, s);
}

/* Closing an fd does not cancel its io_uring requests: cancel them and free
 * only when every CQE is back. A session has at most one receive and one
 * send per direction and one connect in flight, each with its own
 * user_data. Anything in flight the flags do not account for (a cancel
 * still out) falls back to cancelling by fd. */
static void cancel_inflight(struct loop *l, struct session *s)
{
	uint32_t known = 0, pending = s->inflight;

	for (int di = 0; di < 2; di++) {
		if (s->d[di].flags & DIR_F_RECV) {
			cancel_op(l, s, di == DIR_IN_OUT ? TCP_OP_RECV_IN : TCP_OP_RECV_OUT);
			known++;
		}
		if (s->d[di].flags & DIR_F_SEND) {
			cancel_op(l, s, di == DIR_IN_OUT ? TCP_OP_SEND_OUT : TCP_OP_SEND_IN);
			known++;
		}
	}
	if (s->connecting) {
		cancel_op(l, s, TCP_OP_CONNECT);
		known++;
	}
	if (known == pending)
		return;
	tcp_of(l)->st.cancel_fd++;
	for (int side = 0; side < 2; side++) {
		if (s->fd[side] < 0)
			continue;
		struct io_uring_sqe *sqe = loop_sqe(l);

		io_uring_prep_cancel_fd(sqe, s->fd[side], IORING_ASYNC_CANCEL_ALL);
		session_tag(sqe, TCP_OP_CANCEL, s);
	}
}

void session_close(struct loop *l, struct session *s, bool abort, const char *why)
{
	if (s->state == SESS_ST_CLOSING) {
		if (abort)
			s->closing_abort = 1;
		return;
	}
	log_debug("session %u: closing (%s)%s", s->slot, why, abort ? ", reset" : "");
	/* Before the request was in (a probe's deadline, the peer's FIN, a
	 * handshake timeout): the FIN goes out now. Bytes that arrive between
	 * the last receive and the close below would turn that close into a
	 * reset; after a FIN the peer has seen the FIN first. */
	if (!abort && (s->state == SESS_ST_HANDSHAKE || s->state == SESS_ST_DRAIN) &&
	    s->fd[SIDE_IN] >= 0)
		shutdown(s->fd[SIDE_IN], SHUT_WR);
	if (s->role->closing)
		s->role->closing(l, s);
	s->state = SESS_ST_CLOSING;
	s->closing_abort = abort;
	timer_cancel(&s->timer);
	for (int i = 0; i < 2; i++) {
		if (s->d[i].flags & DIR_F_WAITBUF) {
			list_del(&s->d[i].wait_node);
			s->d[i].flags &= (uint16_t)~DIR_F_WAITBUF;
		}
	}
	if (s->inflight)
		cancel_inflight(l, s);
	maybe_free(l, s);
}

/*
 * What the destination's socket can still take, in payload bytes: its send
 * buffer less what it holds, both in the kernel's accounting, which counts
 * each packet's overhead too (about as much again as the payload when the
 * peer's window is small, a few per cent in bulk). The ratio is taken from
 * what the socket holds now (SIOCOUTQ: payload not yet acknowledged); with
 * too little queued to tell, half. UINT32_MAX if the kernel cannot be asked.
 */
static uint32_t dst_room(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS], free;
	socklen_t ml = sizeof(mi);
	int outq;

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &ml) < 0 ||
	    ml < sizeof(mi))
		return UINT32_MAX;
	if (mi[SK_MEMINFO_WMEM_QUEUED] >= mi[SK_MEMINFO_SNDBUF])
		return 0;
	free = mi[SK_MEMINFO_SNDBUF] - mi[SK_MEMINFO_WMEM_QUEUED];
	if (mi[SK_MEMINFO_WMEM_QUEUED] >= 16384 && ioctl(fd, SIOCOUTQ, &outq) == 0 && outq > 0 &&
	    (uint32_t)outq <= mi[SK_MEMINFO_WMEM_QUEUED])
		return (uint32_t)((uint64_t)free * (uint32_t)outq / mi[SK_MEMINFO_WMEM_QUEUED]);
	return free / 2;
}

static uint32_t paced_len(struct session *s, int di, uint32_t len)
{
	struct relay_dir *d = dir_of(s, di);

	if (d->room < len) {
		uint32_t room = dst_room(dst_fd(s, di)), queued = 0;

		for (int i = 0; i < d->nq; i++)
			queued += d->q[i].len;
		d->room = room > queued ? room - queued : 0;
	}
	if (d->room >= len)
		return len;
	return d->room > RECV_PACED_MIN ? d->room : (len < RECV_PACED_MIN ? len : RECV_PACED_MIN);
}

void session_arm_recv(struct loop *l, struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);
	struct io_uring_sqe *sqe;
	uint32_t len;

	if (d->flags & (DIR_F_RECV | DIR_F_EOF | DIR_F_WAITBUF | DIR_F_THROTTLED | DIR_F_FED) ||
	    d->nq >= DIR_TXQ ||
	    s->state == SESS_ST_CLOSING || s->state == SESS_ST_CONNECTING)
		return;
	len = l->bufs[d->bgid].data_len;
	if (d->recv_cap && d->recv_cap < len)
		len = d->recv_cap;
	if (s->state == SESS_ST_RELAY)
		len = paced_len(s, di, len);
	sqe = loop_sqe(l);
	/* No buffer address: the kernel picks one from group bgid when data
	 * arrives, so a connection waiting for data holds no buffer. */
	io_uring_prep_recv(sqe, src_fd(s, di), NULL, len, 0);
	/* The first answer from the outbound side cannot be there yet (the
	 * request has only just gone out): wait for readiness instead of a
	 * receive that would find nothing. */
	if (di == DIR_OUT_IN && !d->bytes)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = d->bgid;
	session_tag(sqe, di == DIR_IN_OUT ? TCP_OP_RECV_IN : TCP_OP_RECV_OUT, s);
	d->flags |= DIR_F_RECV;
}

static void submit_send(struct loop *l, struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);
	struct io_uring_sqe *sqe;

	if (d->flags & DIR_F_SEND || !d->nq)
		return;
	sqe = loop_sqe(l);
	/* One send in flight per direction keeps the stream in order. WAITALL
	 * makes the kernel finish a partial stream send itself; short sends can
	 * still happen (reset, signals) and are resubmitted. */
	io_uring_prep_send(sqe, dst_fd(s, di), d->q[0].p, d->q[0].len, MSG_NOSIGNAL | MSG_WAITALL);
	session_tag(sqe, di == DIR_IN_OUT ? TCP_OP_SEND_OUT : TCP_OP_SEND_IN, s);
	d->flags |= DIR_F_SEND;
}

static void shutdown_dst(struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);

	if (d->flags & DIR_F_DELIVER)
		d->flags |= DIR_F_SHUT; /* no socket to end: the role had it all */
	if (d->flags & DIR_F_SHUT || dst_fd(s, di) < 0)
		return;
	d->flags |= DIR_F_SHUT;
	/* The last direction to finish: the session closes now, and close()
	 * sends this FIN (the socket has read everything, so no RST): one
	 * syscall less per connection. */
	if (s->d[di ^ 1].flags & DIR_F_SHUT)
		return;
	/* A direct call, not IORING_OP_SHUTDOWN: the kernel always punts that
	 * opcode to an io-wq thread (a wake-up and two context switches per
	 * connection), while shutdown(SHUT_WR) on a TCP socket never blocks.
	 * Nothing is queued behind it: it runs only when the direction's send
	 * queue is empty. ENOTCONN after a reset is harmless. */
	shutdown(dst_fd(s, di), SHUT_WR);
}

static void maybe_finish(struct loop *l, struct session *s)
{
	/* A fed direction has no FIN of its own to wait for. */
	if ((s->d[0].flags & (DIR_F_SHUT | DIR_F_FED)) && (s->d[1].flags & (DIR_F_SHUT | DIR_F_FED)))
		session_close(l, s, false, "both directions finished");
}

/* Read more if there is room in the queue, or pass the FIN on once drained. */
static void dir_next(struct loop *l, struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);

	if (!(d->flags & DIR_F_EOF)) {
		session_arm_recv(l, s, di);
	} else if (!d->nq) {
		shutdown_dst(s, di);
		maybe_finish(l, s);
	}
}

/* A small block's index carries this bit. */
#define TXB_SMALL (1u << 31)

uint8_t *session_tx_block(struct loop *l, size_t need, uint32_t *blk)
{
	struct tcp_state *t = tcp_of(l);
	uint32_t i;

	if (need <= TX_SMALL_BYTES) {
		i = pool_alloc(&t->txsmall);
		if (i != POOL_NONE) {
			*blk = i | TXB_SMALL;
			return pool_at(&t->txsmall, i);
		}
	}
	*blk = pool_alloc(&t->txbufs);
	return *blk == POOL_NONE ? NULL : pool_at(&t->txbufs, *blk);
}

size_t session_tx_block_size(uint32_t blk)
{
	return blk & TXB_SMALL ? TX_SMALL_BYTES : TX_BYTES;
}

uint8_t *session_tx_block_at(struct loop *l, uint32_t blk)
{
	return blk & TXB_SMALL ? pool_at(&tcp_of(l)->txsmall, blk & ~TXB_SMALL)
			       : pool_at(&tcp_of(l)->txbufs, blk);
}

void session_tx_free(struct loop *l, uint32_t blk)
{
	if (blk == POOL_NONE)
		return;
	if (blk & TXB_SMALL)
		pool_free(&tcp_of(l)->txsmall, blk & ~TXB_SMALL);
	else
		pool_free(&tcp_of(l)->txbufs, blk);
}

void session_tx_push(struct loop *l, struct session *s, int di, uint8_t *p, size_t len,
		     uint32_t blk)
{
	struct relay_dir *d = dir_of(s, di);

	if (!len) {
		session_tx_free(l, blk);
		return;
	}
	d->room = d->room > len ? d->room - (uint32_t)len : 0;
	d->q[d->nq].p = p;
	d->q[d->nq].len = (uint32_t)len;
	d->q[d->nq].blk = blk;
	d->nq++;
	if (s->state == SESS_ST_RELAY)
		submit_send(l, s, di);
}


void session_count(struct session *s, int di, size_t n)
{
	bool up = di == DIR_IN_OUT; /* towards the target, in every role */

	s->d[di].bytes += n;
	ctr_add(&s->ctr[up ? EPC_TCP_UP : EPC_TCP_DOWN], n);
	if (s->uctr)
		ctr_add(&s->uctr[up ? UC_TCP_UP : UC_TCP_DOWN], n);
}

void session_kick(struct loop *l, struct session *s, int di)
{
	submit_send(l, s, di);
	dir_next(l, s, di);
}

static void touch(struct loop *l, struct session *s)
{
	if (s->state == SESS_ST_RELAY)
		timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
}

static void handle_recv(struct loop *l, struct session *s, int di, const struct io_uring_cqe *cqe)
{
	struct relay_dir *d = dir_of(s, di);
	int res = cqe->res;

	d->flags &= (uint16_t)~DIR_F_RECV;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		d->bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		loop_buf_taken(l, d->bgid);
	}
	if (s->state == SESS_ST_CLOSING) {
		dir_release_buf(l, d);
		return;
	}
	if (res > 0 && (s->state == SESS_ST_DRAIN || s->state == SESS_ST_UDP_CTRL)) {
		dir_release_buf(l, d);
		session_arm_recv(l, s, di);
		return;
	}
	if (res > 0) {
		d->buf_len = (uint32_t)res;
		d->buf_pos = 0;
		touch(l, s);
		if (s->up_wait && di == DIR_OUT_IN && s->role->first_answer)
			s->role->first_answer(l, s);
		session_pump(l, s, di);
		return;
	}
	dir_release_buf(l, d);
	if (res == 0) {
		d->flags |= DIR_F_EOF;
		if (s->state == SESS_ST_HANDSHAKE && s->role->peer_closed &&
		    s->role->peer_closed(l, s)) {
			/* the role took it on (it has the FIN: DIR_F_EOF) */
		} else if (s->state == SESS_ST_HANDSHAKE || s->state == SESS_ST_DRAIN ||
			   s->state == SESS_ST_UDP_CTRL) {
			session_close(l, s, false, "peer closed");
		} else if (d->codec == CODEC_OPEN &&
			   (d->carry_len || (!s->v2022 && s->rd.state == AEAD_RD_DATA) ||
			    (s->v2022 && (s->rd2.state == SS2022_RD_FIRST ||
					     s->rd2.state == SS2022_RD_DATA)))) {
			session_close(l, s, true, "stream truncated inside a chunk");
		} else if (s->state == SESS_ST_RELAY) {
			dir_next(l, s, di);
		}
		return;
	}
	if (res == -ENOBUFS) {
		/* Not a connection error: wait for buffers to come back. */
		l->enobufs++;
		d->flags |= DIR_F_WAITBUF;
		list_add_tail(&l->bufs[d->bgid].waiters, &d->wait_node);
		return;
	}
	session_close(l, s, s->state != SESS_ST_DRAIN, strerror(-res));
}

static void handle_send(struct loop *l, struct session *s, int di, const struct io_uring_cqe *cqe)
{
	struct relay_dir *d = dir_of(s, di);

	d->flags &= (uint16_t)~DIR_F_SEND;
	if (s->state == SESS_ST_CLOSING)
		return;
	if (cqe->res <= 0) {
		session_close(l, s, true, cqe->res ? strerror(-cqe->res) : "send returned 0");
		return;
	}
	if (di == DIR_IN_OUT)
		tcp_of(l)->st.bytes_in_out += (uint64_t)cqe->res;
	else
		tcp_of(l)->st.bytes_out_in += (uint64_t)cqe->res;
	if ((uint32_t)cqe->res < d->q[0].len) {
		/* A short send: the rest goes out next, in order. */
		d->q[0].p += cqe->res;
		d->q[0].len -= (uint32_t)cqe->res;
		submit_send(l, s, di);
		return;
	}
	dir_tx_pop(l, d);
	if (s->close_after_send && di == DIR_OUT_IN) {
		session_close(l, s, false, "reply sent");
		return;
	}
	if (s->state == SESS_ST_HANDSHAKE && di == DIR_OUT_IN) {
		if (s->role->reply_sent)
			s->role->reply_sent(l, s);
		return;
	}
	touch(l, s);
	if (s->state != SESS_ST_RELAY)
		return;
	submit_send(l, s, di);
	if (s->role->sent && s->role->sent(l, s, di))
		return;
	dir_next(l, s, di);
}

void session_timeout(struct loop *l, struct timer *t)
{
	struct session *s = list_entry(&t->node, struct session, timer.node);

	tcp_of(l)->st.timeouts++;
	switch (s->state) {
	case SESS_ST_HANDSHAKE:
		if (s->role->deadline && s->role->deadline(l, s))
			break; /* the role took it on */
		session_close(l, s, false, "handshake timeout");
		break;
	case SESS_ST_CONNECTING:
		if (s->connecting) {
			/* A connect in flight: its CQE reports the timeout. */
			cancel_op(l, s, TCP_OP_CONNECT);
			break;
		}
		session_close(l, s, false, "connect timeout"); /* still resolving */
		break;
	case SESS_ST_DRAIN:
		session_close(l, s, false, "probe deadline");
		break;
	default:
		session_close(l, s, false, "idle timeout");
		break;
	}
}

void session_retry_waiters(struct loop *l, int bgid)
{
	struct bufring *b = &l->bufs[bgid];
	unsigned avail = b->entries - b->out;

	while (avail-- && !list_empty(&b->waiters)) {
		struct relay_dir *d = list_entry(b->waiters.next, struct relay_dir, wait_node);
		int di = d->di;
		struct session *s = (struct session *)((char *)(d - di) - offsetof(struct session, d));

		list_del(&d->wait_node);
		d->flags &= (uint16_t)~DIR_F_WAITBUF;
		session_arm_recv(l, s, di);
	}
}

void session_handle_cqe(struct loop *l, struct session *s, enum tcp_op op,
			const struct io_uring_cqe *cqe)
{
	s->inflight--;
	switch (op) {
	case TCP_OP_RECV_IN:
		handle_recv(l, s, DIR_IN_OUT, cqe);
		break;
	case TCP_OP_RECV_OUT:
		handle_recv(l, s, DIR_OUT_IN, cqe);
		break;
	case TCP_OP_SEND_OUT:
		handle_send(l, s, DIR_IN_OUT, cqe);
		break;
	case TCP_OP_SEND_IN:
		handle_send(l, s, DIR_OUT_IN, cqe);
		break;
	case TCP_OP_CONNECT:
		s->connecting = 0;
		s->role->connected(l, s, cqe->res);
		break;
	default: /* link timeout, shutdown, cancel: nothing to do but count */
		break;
	}
	maybe_free(l, s);
}

void session_send_reply(struct loop *l, struct session *s, const void *p, size_t len,
			bool close_after)
{
	struct relay_dir *d = dir_of(s, DIR_OUT_IN);
	uint32_t blk;
	uint8_t *out = session_tx_block(l, len, &blk);

	if (!out) {
		session_close(l, s, true, "send buffer pool exhausted");
		return;
	}
	memcpy(out, p, len);
	d->q[d->nq].p = out;
	d->q[d->nq].len = (uint32_t)len;
	d->q[d->nq].blk = blk;
	d->nq++;
	s->close_after_send = close_after;
	submit_send(l, s, DIR_OUT_IN);
}

uint8_t *session_carry(struct loop *l, struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);

	if (d->carry == POOL_NONE) {
		d->carry = pool_alloc(&tcp_of(l)->carries);
		if (d->carry == POOL_NONE)
			return NULL;
		d->carry_len = 0;
	}
	return pool_at(&tcp_of(l)->carries, d->carry);
}

uint8_t *session_acc(struct loop *l, struct session *s, int half)
{
	uint8_t *c = session_carry(l, s, DIR_IN_OUT);

	return c ? c + (size_t)half * CARRY_HALF_BYTES : NULL;
}

void session_dir_next(struct loop *l, struct session *s, int di)
{
	dir_next(l, s, di);
}
