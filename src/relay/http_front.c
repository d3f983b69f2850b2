/* SPDX-License-Identifier: MIT */
/*
 * http_front — the HTTP front end of a local's port: a request that starts
 * like HTTP. CONNECT is answered "200 Connection established" once the ss
 * stream is up and then relayed like SOCKS5. Plain absolute-form requests
 * (`GET http://host/path HTTP/1.1`) are rewritten to origin-form with the
 * hop-by-hop headers removed (RFC 9110 §7.6.1, RFC 9112 §3.2) and sent
 * through the ss stream. The connection stays open for further requests to
 * the same host: each head is parsed and rewritten, each body is framed
 * (Content-Length or chunked) so the next head is found. A request for
 * another host ends the connection after what is already queued (the
 * client opens a new one), since the upstream stream is bound to one target.
 *
 * Buffers: client bytes gather in carry half 0 (the accumulator); the
 * plaintext to send is assembled in half 1 after AEAD_LEN_BYTES of room, and
 * sealed there in place as one chunk. The set-up block (s->hs) stays for
 * the whole of a plain HTTP connection: it holds the parser's state.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "proto/http_proxy.h"
#include "client_int.h"

static uint8_t *out_payload(struct loop *l, struct session *s)
{
	return session_acc(l, s, 1) + AEAD_LEN_BYTES;
}

/* Plain HTTP proxying (not CONNECT): requests are rewritten as they come. */
static bool plain(const struct session *s)
{
	return s->hs && s->hs->http_plain;
}

static int emit_head(struct loop *l, struct session *s, const uint8_t *head,
		     const struct http_request *r)
{
	size_t room = AEAD_CHUNK_MAX - s->hs->http_out_len;
	int n = http_rewrite_request(head, r, out_payload(l, s) + s->hs->http_out_len, room);

	if (n < 0)
		return n;
	s->hs->http_out_len = (uint16_t)(s->hs->http_out_len + n);
	http_body_init(&s->hs->http_body, r);
	s->hs->http_in_body = s->hs->http_body.state != HTTP_BODY_ST_DONE;
	return 0;
}

static int plain_begin(struct loop *l, struct session *s, const uint8_t *head, size_t n,
		       const struct http_request *r)
{
	uint8_t st[128];

	s->hs->http_plain = 1;
	s->hs->http_out_len = 0;
	if (emit_head(l, s, head, r) < 0) {
		session_send_reply(l, s, st,
				   http_build_status(st, sizeof(st), 431,
						     "Request Header Fields Too Large", true),
				   true);
		return -1;
	}
	client_consume(l, s, n);
	return 0;
}

/*
 * Move what the accumulator holds into the output: body bytes as they are,
 * heads rewritten. Returns 0 to go on, -1 if the session ended.
 */
static int filter(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);
	struct http_request r;
	size_t used;
	int n;

	while (d->carry_len && !(d->flags & DIR_F_EOF)) {
		if (s->hs->http_in_body) {
			size_t room = AEAD_CHUNK_MAX - s->hs->http_out_len;
			size_t len = d->carry_len < room ? d->carry_len : room;

			if (!len)
				return 0;
			n = http_body_feed(&s->hs->http_body, acc, len, &used);
			if (n < 0) {
				session_close(l, s, true, "malformed request body");
				return -1;
			}
			memcpy(out_payload(l, s) + s->hs->http_out_len, acc, used);
			s->hs->http_out_len = (uint16_t)(s->hs->http_out_len + used);
			client_consume(l, s, used);
			s->hs->http_in_body = n == 0;
			continue;
		}
		n = http_parse_request(acc, d->carry_len, &r);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			session_close(l, s, false, "malformed request on a kept-alive connection");
			return -1;
		}
		if (r.is_connect || r.target.atyp != s->hs->target.atyp ||
		    r.target.port != s->hs->target.port ||
		    memcmp(&r.target.u, &s->hs->target.u, sizeof(r.target.u)) != 0) {
			log_debug("session %u: request for another target; ending the connection",
				  s->slot);
			d->flags |= DIR_F_EOF; /* as if the client closed after what we have */
			return 0;
		}
		if (emit_head(l, s, acc, &r) < 0)
			return 0; /* no room: flush the output first */
		client_consume(l, s, (size_t)n);
	}
	return 0;
}

/*
 * Seal the assembled output into a send block, after the stream prefix
 * (salt and sealed address) when this is the first output.
 */
static int queue_output(struct loop *l, struct session *s, bool prefix)
{
	uint8_t *out;
	size_t n = 0;
	uint32_t blk;

	if (!prefix && !s->hs->http_out_len)
		return 0;
	out = session_tx_block(l, TX_BYTES, &blk);
	if (!out) {
		session_close(l, s, true, "send buffer pool exhausted");
		return -1;
	}
	if (prefix) {
		/* The first head rides in the request header as early data. */
		if (client_request_prefix(s, out_payload(l, s), s->hs->http_out_len, out, &n) < 0) {
			session_tx_push(l, s, DIR_IN_OUT, out, 0, blk);
			return -1;
		}
		s->d[DIR_IN_OUT].flags |= DIR_F_PREFIX_SENT;
	} else {
		n = session_seal_chunks(s, out, out_payload(l, s), s->hs->http_out_len);
	}
	session_count(s, DIR_IN_OUT, s->hs->http_out_len);
	s->hs->http_out_len = 0;
	session_tx_push(l, s, DIR_IN_OUT, out, n, blk);
	return 0;
}

static int http_prefix(struct loop *l, struct session *s)
{
	if (!plain(s))
		return client_prefix(l, s);
	/* Receives must fit the accumulator next to a partial head. */
	s->d[DIR_IN_OUT].recv_cap = AEAD_CHUNK_MAX;
	return queue_output(l, s, true) < 0 ? -EIO : 0;
}

static void plain_pump(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);
	size_t room;

	if (!acc) {
		session_close(l, s, true, "carry pool exhausted");
		return;
	}
	if (d->bid != BID_NONE) {
		room = CARRY_HALF_BYTES - d->carry_len;
		if (d->buf_len - d->buf_pos > room) {
			session_close(l, s, false, "request head too large");
			return;
		}
		memcpy(acc + d->carry_len, loop_buf_data(l, d->bgid, d->bid) + d->buf_pos,
		       d->buf_len - d->buf_pos);
		d->carry_len += d->buf_len - d->buf_pos;
		dir_release_buf(l, d);
	}
	if (filter(l, s) < 0 || queue_output(l, s, false) < 0)
		return;
	if (d->carry_len >= CARRY_HALF_BYTES - 1) {
		session_close(l, s, false, "request head too large");
		return;
	}
	/* Room for one more receive next to what is parked. */
	room = CARRY_HALF_BYTES - d->carry_len;
	d->recv_cap = (uint16_t)(room < AEAD_CHUNK_MAX ? room : AEAD_CHUNK_MAX);
	session_dir_next(l, s, DIR_IN_OUT);
}

void http_front_fail(struct loop *l, struct session *s, int code, const char *reason)
{
	uint8_t r[128];

	session_send_reply(l, s, r, http_build_status(r, sizeof(r), code, reason, true), true);
}

static void http_fail(struct loop *l, struct session *s, int err)
{
	(void)err;
	http_front_fail(l, s, 502, "Bad Gateway");
}

int http_front_step(struct loop *l, struct session *s, uint8_t *acc, size_t len)
{
	struct http_request r;
	int n = http_parse_request(acc, len, &r);

	if (n == -EAGAIN)
		return 0;
	if (n < 0) {
		http_front_fail(l, s, n == -E2BIG ? 431 : 400,
				n == -E2BIG ? "Request Header Fields Too Large" : "Bad Request");
		return -1;
	}
	s->hs->target = r.target;
	if (r.is_connect) {
		client_consume(l, s, (size_t)n);
		client_route(l, s);
		return -1;
	}
	/* Plain absolute-form requests are rewritten and sent as the first
	 * data, always through the server: later requests on the connection
	 * may name other hosts. */
	if (plain_begin(l, s, acc, (size_t)n, &r) < 0)
		return -1;
	client_connect_server(l, s);
	return -1;
}

static void http_ready(struct loop *l, struct session *s)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	if (plain(s)) {
		session_arm_recv(l, s, DIR_OUT_IN); /* the set-up block stays: the parser */
	} else {
		session_hs_release(l, s);
		session_send_reply(l, s, ok, sizeof(ok) - 1, false);
	}
	session_kick(l, s, DIR_IN_OUT);
}

static bool http_pump(struct loop *l, struct session *s, int di)
{
	if (di != DIR_IN_OUT || !plain(s))
		return false;
	plain_pump(l, s);
	return true;
}

/* A send went out: requests still parked in the accumulator go next. */
static bool http_sent(struct loop *l, struct session *s, int di)
{
	const struct relay_dir *d = &s->d[DIR_IN_OUT];

	if (di != DIR_IN_OUT || !plain(s) || !d->carry_len || (d->flags & DIR_F_RECV))
		return false;
	plain_pump(l, s);
	return true;
}

const struct client_role role_http = {
	.base = {
		.name = "http",
		.handshake_data = local_handshake_data,
		.first_record = client_first_record,
		.connected = client_connected,
		.reply_sent = local_reply_sent,
		.first_answer = client_first_answer,
		.pump = http_pump,
		.sent = http_sent,
		.outbound = client_outbound,
	},
	.conf = local_client,
	.fail = http_fail,
	.prefix = http_prefix,
	.ready = http_ready,
};
