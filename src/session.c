/* SPDX-License-Identifier: MIT */
/*
 * session — the direction-symmetric relay. One body runs both directions; a
 * direction either seals (plaintext in, ss chunks out) or opens (ss chunks
 * in, plaintext out), and everything else is the same.
 *
 * Per direction the cycle is: recv (a provided buffer is picked only when data
 * arrives, so an idle connection holds no payload memory) -> transform in
 * place -> one sendmsg in flight -> give the buffer back -> recv again. A
 * direction does not receive while its previous bytes are unsent: that is the
 * backpressure. Records split across receives are completed in a "carry"
 * block taken from the loop's pool only while such a record exists.
 */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "replay.h"
#include "udp.h"

#include <stdio.h>

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

static void tag(struct io_uring_sqe *sqe, enum loop_op op, struct session *s)
{
	io_uring_sqe_set_data64(sqe, ud_pack(op, s->slot, s->gen));
	s->inflight++;
}

struct session *session_lookup(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct session *s;

	if (slot >= l->sessions.next_new)
		return NULL;
	s = pool_at(&l->sessions, slot);
	return s->gen == gen ? s : NULL;
}

struct session *session_new(struct loop *l, const struct listener *lst, int fd)
{
	uint32_t idx = pool_alloc(&l->sessions), hs = POOL_NONE, gen;
	struct session *s;

	if (idx != POOL_NONE) {
		/* As many set-up blocks as sessions: this only fails if the
		 * pools were sized differently. */
		hs = pool_alloc(&l->hs);
		if (hs == POOL_NONE) {
			pool_free(&l->sessions, idx);
			idx = POOL_NONE;
		}
	}
	if (idx == POOL_NONE) {
		/* Log the first refusal of a burst, count them all. */
		if (l->st.refused_full++ % 1024 == 0)
			log_warn("session pool full (%u per worker): refusing connection "
				 "(%llu refused so far)",
				 l->sessions.cap, (unsigned long long)l->st.refused_full);
		close(fd);
		return NULL;
	}
	s = pool_at(&l->sessions, idx);
	gen = s->gen + 1; /* odd = live */
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->slot = idx;
	s->role = lst->role;
	s->lst = lst;
	s->fd[SIDE_IN] = fd;
	s->fd[SIDE_OUT] = -1;
	s->user = -1;
	s->hs_idx = hs;
	s->hs = pool_at(&l->hs, hs);
	memset(s->hs, 0, sizeof(*s->hs));
	timer_init(&s->timer);
	for (int i = 0; i < 2; i++) {
		s->d[i].bid = BID_NONE;
		s->d[i].carry = POOL_NONE;
		s->d[i].di = (uint8_t)i;
		list_init(&s->d[i].wait_node);
	}
	l->st.accepted++;
	return s;
}

static void release_buf(struct loop *l, struct relay_dir *d)
{
	if (d->bid != BID_NONE) {
		loop_buf_return(l, d->bgid, d->bid);
		d->bid = BID_NONE;
	}
	d->buf_len = d->buf_pos = 0;
}

static void release_carry(struct loop *l, struct relay_dir *d)
{
	if (d->carry != POOL_NONE) {
		pool_free(&l->carries, d->carry);
		d->carry = POOL_NONE;
	}
	d->carry_len = 0;
}

static void tx_pop(struct loop *l, struct relay_dir *d)
{
	if (d->q[0].blk != POOL_NONE)
		pool_free(&l->txbufs, d->q[0].blk);
	d->nq--;
	memmove(d->q, d->q + 1, d->nq * sizeof(d->q[0]));
}

void session_hs_release(struct loop *l, struct session *s)
{
	if (s->hs) {
		pool_free(&l->hs, s->hs_idx);
		s->hs = NULL;
		if (s->v2022 && s->role == ROLE_SERVER)
			s->rd2.target = NULL; /* it pointed into the block */
	}
}

static void maybe_free(struct loop *l, struct session *s)
{
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
	for (int i = 0; i < 2; i++) {
		release_buf(l, &s->d[i]);
		release_carry(l, &s->d[i]);
		while (s->d[i].nq)
			tx_pop(l, &s->d[i]);
	}
	if (s->v2022)
		ss2022_reader_wipe(&s->rd2);
	else
		aead_ctx_wipe(&s->rd.ctx);
	aead_ctx_wipe(&s->wr);
	session_hs_release(l, s);
	if (s->user >= 0 && s->user < 64)
		l->user_bytes[s->user] += s->d[0].bytes + s->d[1].bytes;
	s->gen++; /* even = free; late CQEs for this slot no longer match */
	pool_free(&l->sessions, s->slot);
}

void session_close(struct loop *l, struct session *s, bool abort, const char *why)
{
	if (s->state == SESS_ST_CLOSING) {
		if (abort)
			s->closing_abort = 1;
		return;
	}
	log_debug("session %u: closing (%s)%s", s->slot, why, abort ? ", reset" : "");
	if (s->state == SESS_ST_DRAIN)
		l->draining--;
	s->state = SESS_ST_CLOSING;
	s->closing_abort = abort;
	if (s->udp_gen) {
		udp_local_close(l, s->udp_slot, s->udp_gen);
		s->udp_gen = 0;
	}
	timer_cancel(&s->timer);
	for (int i = 0; i < 2; i++) {
		if (s->d[i].flags & DIR_F_WAITBUF) {
			list_del(&s->d[i].wait_node);
			s->d[i].flags &= (uint8_t)~DIR_F_WAITBUF;
		}
	}
	if (s->inflight) {
		/* Closing an fd does not cancel its io_uring requests: cancel them
		 * and free only when every CQE is back. */
		for (int side = 0; side < 2; side++) {
			if (s->fd[side] < 0)
				continue;
			struct io_uring_sqe *sqe = loop_sqe(l);

			io_uring_prep_cancel_fd(sqe, s->fd[side], IORING_ASYNC_CANCEL_ALL);
			tag(sqe, OP_CANCEL, s);
		}
	}
	maybe_free(l, s);
}

void session_arm_recv(struct loop *l, struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);
	struct io_uring_sqe *sqe;

	if (d->flags & (DIR_F_RECV | DIR_F_EOF | DIR_F_WAITBUF) || d->nq >= DIR_TXQ ||
	    s->state == SESS_ST_CLOSING || s->state == SESS_ST_CONNECTING)
		return;
	sqe = loop_sqe(l);
	/* No buffer address: the kernel picks one from group bgid when data
	 * arrives, so a connection waiting for data holds no buffer. */
	io_uring_prep_recv(sqe, src_fd(s, di), NULL,
			   d->recv_cap ? d->recv_cap : l->bufs[d->bgid].data_len, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = d->bgid;
	tag(sqe, di == DIR_IN_OUT ? OP_RECV_IN : OP_RECV_OUT, s);
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
	tag(sqe, di == DIR_IN_OUT ? OP_SEND_OUT : OP_SEND_IN, s);
	d->flags |= DIR_F_SEND;
}

static void shutdown_dst(struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);

	if (d->flags & DIR_F_SHUT || dst_fd(s, di) < 0)
		return;
	d->flags |= DIR_F_SHUT;
	/* A direct call, not IORING_OP_SHUTDOWN: the kernel always punts that
	 * opcode to an io-wq thread (a wake-up and two context switches per
	 * connection), while shutdown(SHUT_WR) on a TCP socket never blocks.
	 * Nothing is queued behind it: it runs only when the direction's send
	 * queue is empty. ENOTCONN after a reset is harmless. */
	shutdown(dst_fd(s, di), SHUT_WR);
}

static void maybe_finish(struct loop *l, struct session *s)
{
	if ((s->d[0].flags & DIR_F_SHUT) && (s->d[1].flags & DIR_F_SHUT))
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

uint8_t *session_tx_block(struct loop *l, uint32_t *blk)
{
	*blk = pool_alloc(&l->txbufs);
	return *blk == POOL_NONE ? NULL : pool_at(&l->txbufs, *blk);
}

void session_tx_push(struct loop *l, struct session *s, int di, uint8_t *p, size_t len,
		     uint32_t blk)
{
	struct relay_dir *d = dir_of(s, di);

	if (!len) {
		if (blk != POOL_NONE)
			pool_free(&l->txbufs, blk);
		return;
	}
	d->q[d->nq].p = p;
	d->q[d->nq].len = (uint32_t)len;
	d->q[d->nq].blk = blk;
	d->nq++;
	if (s->state == SESS_ST_RELAY)
		submit_send(l, s, di);
}


/* Server request parsing takes the first plaintext bytes of the stream. */
static int deliver(struct loop *l, struct session *s, int di, uint8_t *p, size_t n,
		   size_t *skip)
{
	if (s->state == SESS_ST_HANDSHAKE && s->role == ROLE_SERVER && di == DIR_IN_OUT) {
		int used = server_on_request_bytes(l, s, p, n);

		if (used < 0)
			return used;
		/* Header bytes are always the first of the stream, so they sit
		 * at the front of this output block. */
		*skip += (size_t)used;
	}
	return 0;
}

static uint8_t *carry_ptr(struct loop *l, struct relay_dir *d)
{
	return (uint8_t *)pool_at(&l->carries, d->carry);
}

static int check_record(struct loop *l, struct session *s, int ret)
{
	if (ret == -EBADMSG) {
		if (s->state == SESS_ST_HANDSHAKE)
			session_auth_failed(l, s, "bad tag or length in request");
		else
			session_close(l, s, true, "bad tag in stream");
		return -1;
	}
	if (ret == AEAD_RD_GOT_LEN && s->role == ROLE_SERVER && !s->salt_checked) {
		/* After the first authenticated decryption, not before: otherwise
		 * anyone could fill the filter with junk salts. */
		s->salt_checked = 1;
		if (l->replay && replay_check_insert(l->replay, s->rd.salt, s->cipher->method->salt_len)) {
			l->st.replays++;
			session_auth_failed(l, s, "replayed salt");
			return -1;
		}
	}
	return 0;
}

/* Keep the tail of a record that continues in the next receive. */
static int stash_tail(struct loop *l, struct relay_dir *d, const uint8_t *p, size_t n)
{
	if (d->carry == POOL_NONE) {
		d->carry = pool_alloc(&l->carries);
		if (d->carry == POOL_NONE)
			return -ENOMEM;
	}
	memcpy(carry_ptr(l, d), p, n);
	d->carry_len = (uint32_t)n;
	return 0;
}

size_t session_seal_chunks(struct session *s, uint8_t *out, const uint8_t *in, size_t len)
{
	/* The 2022 edition uses the same chunks with payloads up to 0xFFFF. */
	return aead_seal_chunks_max(&s->wr, out, in, len,
				    s->v2022 ? SS2022_CHUNK_MAX : AEAD_CHUNK_MAX);
}

/* Server, 2022: salt' | sealed response header | first payload, in one write. */
static int seal2022_first(struct session *s, const uint8_t **in, size_t *len, uint8_t *out,
			  size_t *n)
{
	size_t first = *len < 0xFFFF ? *len : 0xFFFF;
	int h = ss2022_build_response_header(s->cipher->m2022, s->rd2.psk, s->wr_salt,
					     (uint64_t)time(NULL), s->rd2.salt, first, &s->wr, out);

	if (h < 0)
		return h;
	if (aead_seal(&s->wr, out + h, *in, first) < 0)
		return -EIO;
	*n = (size_t)h + first + AEAD_TAG_BYTES;
	*in += first;
	*len -= first;
	return 0;
}

static const char *why2022(int err)
{
	switch (err) {
	case -ETIME: return "timestamp outside the 30 s window";
	case -EACCES: return "unknown identity header (user)";
	case -EINVAL: return "bad request header";
	default: return "bad tag or length in request";
	}
}

/* Handle one 2022 record result; plaintext (if any) appended to out. */
static int record2022(struct loop *l, struct session *s, int ret, const uint8_t *plain,
		      size_t plen, uint8_t *out, size_t *n)
{
	if (ret < 0) {
		if (s->state == SESS_ST_HANDSHAKE)
			session_auth_failed(l, s, why2022(ret));
		else
			session_close(l, s, true, "bad tag in stream");
		return -1;
	}
	if (ret == SS2022_RD_GOT_FIXED && l->replay2022) {
		/* Every incoming salt is remembered for 60 s, on both sides
		 * (SIP022): the server's request salts, a client's response salts. */
		int seen = replay2022_check_insert(l->replay2022, s->rd2.salt,
						   s->cipher->m2022->key_len, (uint64_t)time(NULL));

		if (seen && s->role != ROLE_SERVER) {
			l->st.replays += seen == 1;
			session_close(l, s, true, "replayed response salt");
			return -1;
		}
		if (seen) {
			l->st.replays += seen == 1;
			session_auth_failed(l, s, seen == 1 ? "replayed salt" : "salt memory full");
			return -1;
		}
	}
	if (ret == SS2022_RD_GOT_VARHDR || ret == SS2022_RD_GOT_DATA) {
		if (plain != out + *n) /* payload records are already there */
			memcpy(out + *n, plain, plen);
		*n += plen;
	}
	if (ret == SS2022_RD_GOT_VARHDR) {
		s->user = (int8_t)s->rd2.user;
		return server_connect_target(l, s);
	}
	return 0;
}

/* Where the records of one receive go. */
struct opening {
	uint8_t *out;           /* the send block */
	size_t n;               /* plaintext bytes written */
	size_t skip;            /* of which request parsing consumed the first */
	uint64_t now;           /* 2022: the clock for header checks, read once */
};

static size_t reader_need(const struct session *s)
{
	return s->v2022 ? ss2022_reader_need(&s->rd2) : aead_reader_need(&s->rd);
}

/*
 * Decode one record of buf with this session's reader, payloads straight
 * into the send block (only a 2022 request's first record is copied there).
 * 0: buf is shorter than the record, nothing consumed; 1: consumed; -1: the
 * session failed.
 */
static int open_record(struct loop *l, struct session *s, int di, uint8_t *buf, size_t len,
		       size_t *consumed, struct opening *o)
{
	size_t plen = 0;
	uint8_t *plain;
	int ret;

	if (s->v2022) {
		ret = ss2022_reader_step_out(&s->rd2, buf, len, o->now, consumed, o->out + o->n,
					     &plain, &plen);
		if (ret == SS2022_RD_NEED_MORE)
			return 0;
		return record2022(l, s, ret, plain, plen, o->out, &o->n) < 0 ? -1 : 1;
	}
	ret = aead_reader_step_out(&s->rd, buf, len, consumed, o->out + o->n, &plen);
	if (ret == AEAD_RD_NEED_MORE)
		return 0;
	if (check_record(l, s, ret) < 0)
		return -1;
	if (ret == AEAD_RD_GOT_DATA) {
		if (deliver(l, s, di, o->out + o->n, plen, &o->skip) < 0)
			return -1;
		o->n += plen;
	}
	return 1;
}

/*
 * Decrypt every record the receive completes into the send block; a record
 * cut by the end of the receive waits in the carry block. 0, or -1 when the
 * session failed (closed or absorbing a probe).
 */
static int open_into(struct loop *l, struct session *s, int di, uint8_t *in, size_t len,
		     struct opening *o)
{
	struct relay_dir *d = dir_of(s, di);
	size_t pos = 0, consumed;
	int r;

	/* SIP022: salt, identity header and fixed header come in one read. */
	if (s->v2022 && s->role == ROLE_SERVER && s->rd2.state == SS2022_RD_HEADER &&
	    !d->carry_len && len < reader_need(s)) {
		session_auth_failed(l, s, "short first read");
		return -1;
	}
	while (pos < len) {
		if (d->carry_len) {
			size_t need = reader_need(s), take = need - d->carry_len;

			if (take > len - pos)
				take = len - pos;
			memcpy(carry_ptr(l, d) + d->carry_len, in + pos, take);
			d->carry_len += (uint32_t)take;
			pos += take;
			if (d->carry_len < need)
				break;
			r = open_record(l, s, di, carry_ptr(l, d), need, &consumed, o);
			d->carry_len = 0;
		} else {
			r = open_record(l, s, di, in + pos, len - pos, &consumed, o);
			if (r == 0) {
				if (stash_tail(l, d, in + pos, len - pos)) {
					session_close(l, s, true, "carry pool exhausted");
					return -1;
				}
				break;
			}
			pos += consumed;
		}
		if (r < 0)
			return -1;
	}
	if (!d->carry_len)
		release_carry(l, d);
	return 0;
}

static void seal_into(struct session *s, struct relay_dir *d, const uint8_t *in, size_t len,
		      uint8_t *out, size_t *n)
{
	if (!(d->flags & DIR_F_PREFIX_SENT) && s->v2022) {
		d->flags |= DIR_F_PREFIX_SENT;
		if (seal2022_first(s, &in, &len, out, n) < 0)
			return;
	}
	if (!(d->flags & DIR_F_PREFIX_SENT)) {
		/* The first output of a stream starts with its salt. */
		memcpy(out, s->wr_salt, s->cipher->method->salt_len);
		*n = s->cipher->method->salt_len;
		d->flags |= DIR_F_PREFIX_SENT;
	}
	*n += session_seal_chunks(s, out + *n, in, len);
}

/*
 * A receive completed with the held buffer: transform it into a send block,
 * give the buffer back at once, queue the block. With room in the queue the
 * next receive is armed while this block is being sent.
 */
static void pump(struct loop *l, struct session *s, int di)
{
	struct relay_dir *d = dir_of(s, di);
	const uint8_t *in = loop_buf_data(l, d->bgid, d->bid);
	size_t n = 0, skip = 0;
	uint32_t blk;
	uint8_t *out;
	int ret = 0;

	if (s->state == SESS_ST_HANDSHAKE && s->role != ROLE_SERVER && di == DIR_IN_OUT) {
		local_on_client_data(l, s);
		return;
	}
	if (s->http_plain && di == DIR_IN_OUT) {
		http_local_pump(l, s);
		return;
	}
	out = session_tx_block(l, &blk);
	if (!out) {
		session_close(l, s, true, "send buffer pool exhausted");
		return;
	}
	d->bytes += d->buf_len;
	if (d->codec == CODEC_PLAIN) {
		memcpy(out, in, d->buf_len);
		n = d->buf_len;
	} else if (d->codec == CODEC_SEAL) {
		seal_into(s, d, in, d->buf_len, out, &n);
	} else {
		struct opening o = { .out = out, .now = s->v2022 ? (uint64_t)time(NULL) : 0 };

		/* The receive buffer is ours until it goes back: 2022 opens in place. */
		ret = open_into(l, s, di, (uint8_t *)in, d->buf_len, &o);
		n = o.n;
		skip = o.skip;
	}
	if (ret < 0) {
		pool_free(&l->txbufs, blk);
		return; /* the session is closing or absorbing a probe */
	}
	release_buf(l, d);
	session_tx_push(l, s, di, out + skip, n - skip, blk);
	dir_next(l, s, di);
}

void session_kick(struct loop *l, struct session *s, int di)
{
	submit_send(l, s, di);
	dir_next(l, s, di);
}

static void touch(struct loop *l, struct session *s)
{
	if (s->state == SESS_ST_RELAY)
		timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)l->cfg->timeouts.tcp_idle * 1000);
}

static void handle_recv(struct loop *l, struct session *s, int di, const struct io_uring_cqe *cqe)
{
	struct relay_dir *d = dir_of(s, di);
	int res = cqe->res;

	d->flags &= (uint8_t)~DIR_F_RECV;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		d->bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		l->bufs[d->bgid].out++;
	}
	if (s->state == SESS_ST_CLOSING) {
		release_buf(l, d);
		return;
	}
	if (res > 0 && (s->state == SESS_ST_DRAIN || s->state == SESS_ST_UDP_CTRL)) {
		release_buf(l, d);
		session_arm_recv(l, s, di);
		return;
	}
	if (res > 0) {
		d->buf_len = (uint32_t)res;
		d->buf_pos = 0;
		touch(l, s);
		pump(l, s, di);
		return;
	}
	release_buf(l, d);
	if (res == 0) {
		d->flags |= DIR_F_EOF;
		if (s->state == SESS_ST_HANDSHAKE || s->state == SESS_ST_DRAIN ||
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
		l->st.enobufs++;
		d->flags |= DIR_F_WAITBUF;
		list_add_tail(&l->bufs[d->bgid].waiters, &d->wait_node);
		return;
	}
	session_close(l, s, s->state != SESS_ST_DRAIN, strerror(-res));
}

static void handle_send(struct loop *l, struct session *s, int di, const struct io_uring_cqe *cqe)
{
	struct relay_dir *d = dir_of(s, di);

	d->flags &= (uint8_t)~DIR_F_SEND;
	if (s->state == SESS_ST_CLOSING)
		return;
	if (cqe->res <= 0) {
		session_close(l, s, true, cqe->res ? strerror(-cqe->res) : "send returned 0");
		return;
	}
	if (di == DIR_IN_OUT)
		l->st.bytes_in_out += (uint64_t)cqe->res;
	else
		l->st.bytes_out_in += (uint64_t)cqe->res;
	if ((uint32_t)cqe->res < d->q[0].len) {
		/* A short send: the rest goes out next, in order. */
		d->q[0].p += cqe->res;
		d->q[0].len -= (uint32_t)cqe->res;
		submit_send(l, s, di);
		return;
	}
	tx_pop(l, d);
	if (s->close_after_send && di == DIR_OUT_IN) {
		session_close(l, s, false, "reply sent");
		return;
	}
	if (s->state == SESS_ST_HANDSHAKE && di == DIR_OUT_IN) {
		local_on_reply_sent(l, s);
		return;
	}
	touch(l, s);
	if (s->state != SESS_ST_RELAY)
		return;
	submit_send(l, s, di);
	if (s->http_plain && di == DIR_IN_OUT && d->carry_len && !(d->flags & DIR_F_RECV)) {
		http_local_pump(l, s); /* requests still queued in the accumulator */
		return;
	}
	dir_next(l, s, di);
}

void session_timeout(struct loop *l, struct session *s)
{
	l->st.timeouts++;
	switch (s->state) {
	case SESS_ST_HANDSHAKE:
		session_close(l, s, false, "handshake timeout");
		break;
	case SESS_ST_CONNECTING:
		session_close(l, s, false, "connect timeout");
		break;
	case SESS_ST_DRAIN:
		session_close(l, s, false, "drain period over");
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
		d->flags &= (uint8_t)~DIR_F_WAITBUF;
		session_arm_recv(l, s, di);
	}
}

void session_handle_cqe(struct loop *l, struct session *s, enum loop_op op,
			const struct io_uring_cqe *cqe)
{
	s->inflight--;
	switch (op) {
	case OP_RECV_IN:
		handle_recv(l, s, DIR_IN_OUT, cqe);
		break;
	case OP_RECV_OUT:
		handle_recv(l, s, DIR_OUT_IN, cqe);
		break;
	case OP_SEND_OUT:
		handle_send(l, s, DIR_IN_OUT, cqe);
		break;
	case OP_SEND_IN:
		handle_send(l, s, DIR_OUT_IN, cqe);
		break;
	case OP_CONNECT:
		if (s->role == ROLE_SERVER)
			server_on_connect(l, s, cqe->res);
		else
			local_on_connect(l, s, cqe->res);
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
	uint8_t *out = session_tx_block(l, &blk);

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

uint8_t *session_acc(struct loop *l, struct session *s, int half)
{
	struct relay_dir *d = dir_of(s, DIR_IN_OUT);

	if (d->carry == POOL_NONE) {
		d->carry = pool_alloc(&l->carries);
		if (d->carry == POOL_NONE)
			return NULL;
		d->carry_len = 0;
	}
	return (uint8_t *)pool_at(&l->carries, d->carry) + (size_t)half * CARRY_HALF_BYTES;
}

void session_submit_send(struct loop *l, struct session *s, int di)
{
	submit_send(l, s, di);
}

void session_dir_next(struct loop *l, struct session *s, int di)
{
	dir_next(l, s, di);
}

void session_release_carry(struct loop *l, struct session *s, int di)
{
	release_carry(l, dir_of(s, di));
}

void session_release_buf(struct loop *l, struct session *s, int di)
{
	release_buf(l, dir_of(s, di));
}

int session_connect(struct loop *l, struct session *s, const struct sockaddr *sa, socklen_t len)
{
	static _Thread_local struct __kernel_timespec ts;
	struct io_uring_sqe *sqe;
	int fd, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd[SIDE_OUT] = fd;
	memcpy(&s->hs->peer, sa, len);
	s->state = SESS_ST_CONNECTING;
	/* connect is the one op with a precise deadline: a linked timeout. The
	 * kernel reads ts when the SQE is submitted, which is before this
	 * thread can change it again. */
	ts.tv_sec = l->cfg->timeouts.connect;
	ts.tv_nsec = 0;
	loop_reserve(l, 2);
	sqe = loop_sqe(l);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&s->hs->peer, len);
	sqe->flags |= IOSQE_IO_LINK;
	tag(sqe, OP_CONNECT, s);
	sqe = loop_sqe(l);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	tag(sqe, OP_LINK_TIMEOUT, s);
	return 0;
}

static int keep_addrs(struct session *s, const struct dns_entry *e, bool special_ok)
{
	s->hs->n_addrs = s->hs->addr_i = 0;
	for (int i = 0; i < e->n && s->hs->n_addrs < 4; i++) {
		if (!special_ok && ssaddr_is_special(&e->addr[i].sa))
			continue;
		s->hs->addrs[s->hs->n_addrs++] = e->addr[i];
	}
	return s->hs->n_addrs ? 0 : -EACCES;
}

int session_connect_next(struct loop *l, struct session *s)
{
	union dns_addr *a;

	if (s->hs->addr_i >= s->hs->n_addrs)
		return -ENOENT;
	a = &s->hs->addrs[s->hs->addr_i++];
	if (a->sa.sa_family == AF_INET)
		a->v4.sin_port = htons(s->hs->dns_port);
	else
		a->v6.sin6_port = htons(s->hs->dns_port);
	if (s->fd[SIDE_OUT] >= 0) {
		close(s->fd[SIDE_OUT]);
		s->fd[SIDE_OUT] = -1;
	}
	return session_connect(l, s, &a->sa,
			       a->sa.sa_family == AF_INET ? sizeof(a->v4) : sizeof(a->v6));
}

int session_connect_name(struct loop *l, struct session *s, const char *name, uint16_t port,
			 bool special_ok)
{
	struct dns_waiter w = { .kind = DNS_W_SESSION, .slot = s->slot, .gen = s->gen };
	const struct dns_entry *e;
	int ret;

	if (!dns_name_ok(name))
		return -EINVAL;
	s->hs->dns_port = port;
	s->state = SESS_ST_CONNECTING; /* parked until an address is known */
	ret = dns_lookup(l, name, &w, &e);
	if (ret == DNS_PENDING)
		return 0;
	if (ret < 0)
		return ret;
	ret = keep_addrs(s, e, special_ok);
	return ret ? ret : session_connect_next(l, s);
}

void session_dns_done(struct loop *l, uint32_t slot, uint32_t gen, const struct dns_entry *e,
		      int err)
{
	struct session *s = session_lookup(l, slot, gen);
	bool special_ok = true;

	if (!s || s->state != SESS_ST_CONNECTING || s->fd[SIDE_OUT] >= 0)
		return;
	if (s->role == ROLE_SERVER)
		special_ok = ((const struct config_server *)s->lst->conf)->allow_private;
	if (!err)
		err = keep_addrs(s, e, special_ok);
	if (!err)
		err = session_connect_next(l, s);
	if (err) {
		log_info("session %u: cannot resolve/connect: %s", s->slot,
			 err == -EACCES   ? "only private/special addresses (allow_private = false)"
			 : err == -ENOENT ? "name not found"
					  : strerror(-err));
		if (s->role == ROLE_SERVER)
			session_close(l, s, false, "name resolution failed");
		else
			local_on_connect(l, s, err);
	}
}

static void peer_name(const struct session *s, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(s->fd[SIDE_IN], (struct sockaddr *)&ss, &sl) == 0)
		hostport_format_addr((struct sockaddr *)&ss, buf, len);
	else
		snprintf(buf, len, "?");
}

/*
 * probe = "forward": from now on this is a plain TCP proxy to the decoy, and
 * what the prober sent in this receive goes there first. The decoy answers
 * as whatever service it is; nothing tells the prober a Shadowsocks server
 * looked at its bytes. Bytes of earlier receives are not replayed.
 */
static int start_decoy(struct loop *l, struct session *s)
{
	const struct hostport *hp = &((const struct config_server *)s->lst->conf)->probe_forward;
	struct relay_dir *d = dir_of(s, DIR_IN_OUT);
	uint32_t blk, n;
	uint8_t *out = session_tx_block(l, &blk);

	if (!out)
		return -ENOMEM;
	/* Copy and return the receive while d->bgid still names its group. */
	n = d->bid != BID_NONE ? d->buf_len : 0;
	if (n)
		memcpy(out, loop_buf_data(l, d->bgid, d->bid), n);
	release_buf(l, d);
	for (int i = 0; i < 2; i++) {
		release_carry(l, &s->d[i]);
		while (s->d[i].nq)
			tx_pop(l, &s->d[i]);
		s->d[i].codec = CODEC_PLAIN;
		s->d[i].bgid = BG_PLAIN;
	}
	session_tx_push(l, s, DIR_IN_OUT, out, n, blk);
	s->probe_fwd = 1;
	return session_connect(l, s, (const struct sockaddr *)&hp->addr, hp->addr_len);
}

void session_auth_failed(struct loop *l, struct session *s, const char *why)
{
	const struct config_server *cs = s->lst->conf;
	char peer[80];
	uint8_t r[2];
	uint64_t jitter_ms;

	l->st.auth_fail++;
	peer_name(s, peer, sizeof(peer));
	log_info("auth failure from %s: %s (%llu so far)", peer, why,
		 (unsigned long long)l->st.auth_fail);
	if (cs->probe == PROBE_CLOSE) {
		session_close(l, s, true, "probe policy: close");
		return;
	}
	if (cs->probe == PROBE_FORWARD) {
		if (start_decoy(l, s) == 0)
			return;
		session_close(l, s, true, "cannot reach the decoy");
		return;
	}
	/* Absorbing a probe costs a session slot: past a quarter of the pool,
	 * reset instead of holding more. */
	if (l->draining >= l->sessions.cap / 4 + 1) {
		session_close(l, s, true, "too many absorbed connections");
		return;
	}
	for (int i = 0; i < 2; i++) {
		release_buf(l, &s->d[i]);
		release_carry(l, &s->d[i]);
		while (s->d[i].nq)
			tx_pop(l, &s->d[i]);
	}
	s->state = SESS_ST_DRAIN;
	l->draining++;
	/* Say nothing, keep reading, and close at a time that does not tell
	 * the prober which byte failed. */
	if (aead_random(r, sizeof(r)))
		r[0] = r[1] = 0;
	jitter_ms = 30000 + (uint64_t)(r[0] << 8 | r[1]) * 60000 / 65536;
	timer_arm(&l->wheel, &s->timer,
		  l->now_ms + (uint64_t)l->cfg->timeouts.handshake * 1000 + jitter_ms);
	session_arm_recv(l, s, DIR_IN_OUT);
}
