/* SPDX-License-Identifier: MIT */
/*
 * stream — the codec side of a TCP session: a completed receive is sealed
 * (plaintext in, ss chunks out) or opened (ss chunks in, plaintext out)
 * straight into a send block, or copied as it is (a decoy's bytes, and
 * streams of method none). Records cut by the end of a receive wait in the
 * direction's carry block. A stream being opened (or a clear one) while its
 * request is read hands its first plaintext, the salt checks and its
 * failures to the session's role (relay/role.h). A direction may also end at
 * the role (DIR_F_DELIVER: its plaintext goes to the deliver hook) or begin
 * there (DIR_F_FED: session_feed seals what the role gives it).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "relay/role.h"
#include "relay/session.h"
#include "relay/user_gate.h"

/* The request's first plaintext bytes are its header: the role's. */
static int request_first(struct loop *l, struct session *s, int di, uint8_t *p, size_t n,
			 size_t *skip)
{
	if (s->state == SESS_ST_HANDSHAKE && di == DIR_IN_OUT && s->role->request_bytes) {
		int used = s->role->request_bytes(l, s, p, n);

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
	return (uint8_t *)pool_at(&tcp_of(l)->carries, d->carry);
}

/* A record of the stream could not be opened: a request that does not
 * authenticate is the role's to answer; a broken stream is reset. */
static int stream_failed(struct loop *l, struct session *s, enum ep_ctr reason, const char *why)
{
	if (s->state == SESS_ST_HANDSHAKE && s->role->auth_failed)
		s->role->auth_failed(l, s, reason, why);
	else
		session_close(l, s, true, "bad tag in stream");
	return -1;
}

static int check_record(struct loop *l, struct session *s, int ret)
{
	if (ret == -EBADMSG)
		return stream_failed(l, s, EPC_AUTH_BAD, "bad tag or length in request");
	if (ret == AEAD_RD_GOT_LEN && !s->salt_checked) {
		/* After the first authenticated decryption, not before: otherwise
		 * anyone could fill a salt filter with junk. */
		s->salt_checked = 1;
		if (s->role->first_record && s->role->first_record(l, s) < 0)
			return -1;
	}
	return 0;
}

/* Keep the tail of a record that continues in the next receive. */
static int stash_tail(struct loop *l, struct relay_dir *d, const uint8_t *p, size_t n)
{
	if (d->carry == POOL_NONE) {
		d->carry = pool_alloc(&tcp_of(l)->carries);
		if (d->carry == POOL_NONE)
			return -ENOMEM;
	}
	memcpy(carry_ptr(l, d), p, n);
	d->carry_len = (uint32_t)n;
	return 0;
}

size_t session_seal_chunks(struct session *s, uint8_t *out, const uint8_t *in, size_t len)
{
	if (s->cipher->none) { /* no chunks: the stream is the bytes themselves */
		memcpy(out, in, len);
		return len;
	}
	/* The 2022 edition uses the same chunks with payloads up to 0xFFFF. */
	return aead_seal_chunks_max(&s->wr, out, in, len,
				    s->v2022 ? SS2022_CHUNK_PREF : AEAD_CHUNK_PREF);
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

static enum ep_ctr reason2022(int err)
{
	switch (err) {
	case -ETIME: return EPC_AUTH_STALE;
	case -EACCES: return EPC_AUTH_USER;
	default: return EPC_AUTH_BAD;
	}
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
	if (ret < 0)
		return stream_failed(l, s, reason2022(ret), why2022(ret));
	if (ret == SS2022_RD_GOT_FIXED && s->role->first_record && s->role->first_record(l, s) < 0)
		return -1;
	if (ret == SS2022_RD_GOT_VARHDR || ret == SS2022_RD_GOT_DATA) {
		if (plain != out + *n) /* payload records are already there */
			memcpy(out + *n, plain, plen);
		*n += plen;
	}
	if (ret == SS2022_RD_GOT_VARHDR && s->role->request_header)
		return s->role->request_header(l, s);
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
	if (ret == AEAD_RD_NEED_KEY) {
		/* A server with users (only its role makes a trial reader):
		 * whose key opens it? Then consume it. */
		if (s->role->identify(l, s, buf) < 0)
			return -1;
		ret = aead_reader_step_out(&s->rd, buf, len, consumed, o->out + o->n, &plen);
	}
	if (check_record(l, s, ret) < 0)
		return -1;
	if (ret == AEAD_RD_GOT_DATA) {
		if (request_first(l, s, di, o->out + o->n, plen, &o->skip) < 0)
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
	struct relay_dir *d = &s->d[di];
	size_t pos = 0, consumed;
	int r;

	/* SIP022: a request's salt, identity header and fixed header come in
	 * one read (a request reader is the one with a server's cfg). */
	if (s->v2022 && s->rd2.cfg && s->rd2.state == SS2022_RD_HEADER && !d->carry_len &&
	    len < reader_need(s))
		return stream_failed(l, s, EPC_AUTH_SHORT, "short first read");
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
		dir_release_carry(l, d);
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
void session_pump(struct loop *l, struct session *s, int di)
{
	struct relay_dir *d = &s->d[di];
	const uint8_t *in = loop_buf_data(l, d->bgid, d->bid);
	size_t n = 0, skip = 0, counted = 0;
	uint32_t blk;
	uint8_t *out;
	int ret = 0;

	if (s->state == SESS_ST_HANDSHAKE && di == DIR_IN_OUT && s->role->handshake_data &&
	    s->role->handshake_data(l, s, in, d->buf_len))
		return;
	if (s->role->pump && s->role->pump(l, s, di))
		return;
	if (s->quota_end) {
		/* Past the quota: nothing more is relayed; the direction ends
		 * (DIR_F_EOF is set) once its queue is sent. */
		dir_release_buf(l, d);
		session_dir_next(l, s, di);
		return;
	}
	/* Output: the receive plus a carried record, salt, headers, tags. */
	out = session_tx_block(l, (size_t)d->buf_len + d->carry_len + TX_OVERHEAD, &blk);
	if (!out) {
		session_close(l, s, true, "send buffer pool exhausted");
		return;
	}
	if (d->codec == CODEC_PLAIN) {
		memcpy(out, in, d->buf_len);
		n = d->buf_len;
	} else if (d->codec == CODEC_SEAL) {
		counted = d->buf_len;
		/* Charged before it is sealed: past the quota only what it
		 * still covers is sealed and sent. */
		if (s->limited)
			session_charge(l, s, di, &counted);
		session_count(s, di, counted);
		seal_into(s, d, in, counted, out, &n);
	} else if (d->codec == CODEC_CLEAR) {
		/* Method none: nothing to open, but a request is still read. */
		memcpy(out, in, d->buf_len);
		n = d->buf_len;
		ret = request_first(l, s, di, out, n, &skip);
	} else {
		struct opening o = { .out = out, .now = s->v2022 ? (uint64_t)time(NULL) : 0 };

		/* The receive buffer is ours until it goes back: 2022 opens in place. */
		ret = open_into(l, s, di, (uint8_t *)in, d->buf_len, &o);
		n = o.n;
		skip = o.skip;
	}
	if (ret < 0) {
		session_tx_free(l, blk);
		return; /* the session is closing or absorbing a probe */
	}
	if (d->flags & DIR_F_DELIVER) {
		/* The role takes the plaintext, counts and charges it (the
		 * flag may have been set by the request just read). */
		dir_release_buf(l, d);
		d->bytes += n - skip;
		ret = n > skip ? s->role->deliver(l, s, di, out + skip, n - skip) : 0;
		session_tx_free(l, blk);
		if (ret == 0 && s->state != SESS_ST_CLOSING)
			session_dir_next(l, s, di);
		return;
	}
	if (d->codec == CODEC_OPEN || d->codec == CODEC_CLEAR) {
		counted = n - skip;
		if (s->limited && session_charge(l, s, di, &counted))
			n = skip + counted; /* the rest is past the quota */
		session_count(s, di, counted);
	}
	dir_release_buf(l, d);
	session_tx_push(l, s, di, out + skip, n - skip, blk);
	session_dir_next(l, s, di);
}

/*
 * Append sealed bytes to the direction's last output when it is not being
 * sent and its block has room: datagrams that come in one burst share
 * blocks instead of each taking a place in the queue.
 */
static uint8_t *feed_tail(struct loop *l, struct relay_dir *d, size_t need)
{
	struct txo *q;
	uint8_t *end;

	if (!d->nq || (d->nq == 1 && (d->flags & DIR_F_SEND)))
		return NULL;
	q = &d->q[d->nq - 1];
	if (q->blk == POOL_NONE)
		return NULL;
	end = q->p + q->len;
	if ((size_t)(end - session_tx_block_at(l, q->blk)) + need > session_tx_block_size(q->blk))
		return NULL;
	return end;
}

int session_feed(struct loop *l, struct session *s, int di, const uint8_t *p, size_t n)
{
	struct relay_dir *d = &s->d[di];
	size_t need = n + TX_OVERHEAD, len = 0;
	uint8_t *out;
	uint32_t blk;

	if (s->state != SESS_ST_RELAY)
		return -ENOTCONN;
	out = feed_tail(l, d, need);
	if (!out && d->nq >= DIR_TXQ)
		return -ENOBUFS;
	/* A full-size block, whatever this datagram's size: the ones that
	 * follow in the same burst join it (only the pages written count). */
	if (out) {
		blk = POOL_NONE;
	} else if (!(out = session_tx_block(l, TX_BYTES, &blk))) {
		return -ENOBUFS;
	}
	if (d->codec == CODEC_SEAL) {
		seal_into(s, d, p, n, out, &len);
	} else {
		memcpy(out, p, n);
		len = n;
	}
	d->bytes += n;
	if (blk == POOL_NONE) {
		d->q[d->nq - 1].len += (uint32_t)len;
		d->room = d->room > len ? d->room - (uint32_t)len : 0;
	} else {
		session_tx_push(l, s, di, out, len, blk);
	}
	return 0;
}
