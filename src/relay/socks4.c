/* SPDX-License-Identifier: MIT */
/*
 * socks4 — the SOCKS4 and SOCKS4a front end of a local's port: a client
 * whose first byte is 04 (local.c decides, then this role takes the
 * session over, as the HTTP front end does). CONNECT is routed like a
 * SOCKS5 request; 4a's name goes to the server in the address header
 * unresolved, as SOCKS5's do. BIND and anything else: 91.
 *
 * The USERID is a name with no password. A local without `users` ignores
 * it (any, empty included); a local with users refuses SOCKS4 with 93:
 * taking the name alone would let anyone past the password its SOCKS5
 * clients must give.
 */
#include <errno.h>

#include "core/log.h"
#include "proto/socks4.h"
#include "client_int.h"

static void reply(struct loop *l, struct session *s, uint8_t code, bool close_after)
{
	uint8_t r[SOCKS4_REPLY_BYTES];

	session_send_reply(l, s, r, socks4_build_reply(r, code), close_after);
}

int socks4_front_step(struct loop *l, struct session *s, uint8_t *acc, size_t len)
{
	const struct config_local *lc = s->conf;
	struct socks4_request r;
	int n = socks4_parse_request(acc, len, &r);

	if (n == -EAGAIN)
		return 0;
	if (n < 0) {
		/* VN was 4: a SOCKS4 client, which understands a refusal. */
		log_debug("session %u: bad SOCKS4 request (%s)", s->slot,
			  n == -E2BIG ? "user id or host too long" : "empty host");
		reply(l, s, SOCKS4_REP_REJECTED, true);
		return -1;
	}
	client_consume(l, s, (size_t)n);
	if (lc->n_users) {
		log_info("SOCKS4 request refused: this local requires SOCKS5 username/password "
			 "authentication");
		reply(l, s, SOCKS4_REP_USERID_MISMATCH, true);
		return -1;
	}
	if (r.cmd != SOCKS4_CMD_CONNECT) {
		reply(l, s, SOCKS4_REP_REJECTED, true);
		return -1;
	}
	s->hs->target = r.dst;
	client_route(l, s);
	return -1;
}

static void socks4_fail(struct loop *l, struct session *s, int err)
{
	(void)err; /* SOCKS4 has one code for every failure */
	reply(l, s, SOCKS4_REP_REJECTED, true);
}

/* Connected: 90, then the relay. */
static void socks4_ready(struct loop *l, struct session *s)
{
	session_hs_release(l, s);
	reply(l, s, SOCKS4_REP_GRANTED, false);
	session_kick(l, s, DIR_IN_OUT);
}

const struct client_role role_socks4 = {
	.base = {
		.name = "socks4",
		.handshake_data = local_handshake_data,
		.first_record = client_first_record,
		.connected = client_connected,
		.reply_sent = local_reply_sent,
		.first_answer = client_first_answer,
		.outbound = client_outbound,
	},
	.conf = local_client,
	.fail = socks4_fail,
	.ready = socks4_ready,
};
