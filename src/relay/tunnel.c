/* SPDX-License-Identifier: MIT */
/*
 * tunnel — the tunnel role: every connection goes to the entry's fixed
 * `forward` address, through its server (or, by its ACL, straight there).
 * Nothing to parse: the target is known at accept.
 */
#include "client_int.h"
#include "relay/ssclient.h"

static const struct config_tunnel *tunnel_conf(const struct session *s)
{
	return s->conf;
}

const struct config_client *tunnel_client(const struct session *s)
{
	return &tunnel_conf(s)->cl;
}

static void tunnel_start(struct loop *l, struct session *s)
{
	if (!client_start(l, s))
		return;
	ssclient_target(&s->hs->target, &tunnel_conf(s)->forward);
	client_route(l, s);
}

/* No handshake to answer: a connection that cannot be made is closed. */
void tunnel_fail(struct loop *l, struct session *s, int err)
{
	(void)err;
	session_close(l, s, false, s->direct ? "cannot reach the target"
					     : "cannot reach the ss server");
}

/* Connected: the relay starts, the client's early bytes already sent. */
void tunnel_ready(struct loop *l, struct session *s)
{
	session_hs_release(l, s);
	session_arm_recv(l, s, DIR_OUT_IN);
	session_kick(l, s, DIR_IN_OUT);
}

const struct client_role role_tunnel = {
	.base = {
		.name = "tunnel",
		.start = tunnel_start,
		.first_record = client_first_record,
		.connected = client_connected,
		.first_answer = client_first_answer,
		.outbound = client_outbound,
	},
	.conf = tunnel_client,
	.fail = tunnel_fail,
	.ready = tunnel_ready,
};
