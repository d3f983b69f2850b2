/* SPDX-License-Identifier: MIT */
/*
 * redir — the redir role (transparent proxy, like ss-redir): a tunnel whose
 * target is where each connection was going. REDIRECT: the address the NAT
 * rule rewrote (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST); TPROXY: the accepted
 * socket's own address. A connection made to the listener itself (no rule
 * sent it) is refused: it would loop.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "core/log.h"
#include "proto/hostport.h"
#include "proto/sockaddr.h"
#include "client_int.h"

/* linux/netfilter_ipv4.h SO_ORIGINAL_DST and ip6_tables.h IP6T_SO_ORIGINAL_DST:
 * both 80, at SOL_IP and SOL_IPV6. */
#define SSRING_SO_ORIGINAL_DST 80

/* The target: where the client meant to go. 0, or -1 (closed, logged). */
static int original_dst(struct loop *l, struct session *s, const struct config_tunnel *tc)
{
	struct sockaddr_storage own, ss;
	socklen_t sl = sizeof(own);
	int fd = s->fd[SIDE_IN], r;
	bool loop;
	char a[80];

	if (getsockname(fd, (struct sockaddr *)&own, &sl) < 0) {
		session_close(l, s, true, "redir: getsockname failed");
		return -1;
	}
	ss = own;
	if (tc->redir == REDIR_REDIRECT) {
		sl = sizeof(ss);
		r = own.ss_family == AF_INET6
			    ? getsockopt(fd, SOL_IPV6, SSRING_SO_ORIGINAL_DST, &ss, &sl)
			    : getsockopt(fd, SOL_IP, SSRING_SO_ORIGINAL_DST, &ss, &sl);
		if (r < 0) {
			log_info("session %u: redir: no original destination (%s): is the NAT "
				 "REDIRECT rule in place?", s->slot, strerror(errno));
			session_close(l, s, true, "redir: no original destination");
			return -1;
		}
		/* not rewritten: it came straight here */
		loop = sockaddr_equal((struct sockaddr *)&ss, (struct sockaddr *)&own);
	} else {
		/* Its own address: a connection to the listener's port was not
		 * diverted to it, whatever address it was made to. */
		loop = sockaddr_port((struct sockaddr *)&ss) == tc->cl.listen.port;
	}
	if (loop || ssaddr_from_sockaddr((struct sockaddr *)&ss, &s->hs->target) < 0) {
		log_info("session %u: redir: the connection to %s was not redirected here by a "
			 "rule: refused", s->slot,
			 hostport_format_addr((struct sockaddr *)&ss, a, sizeof(a)));
		session_close(l, s, true, "redir: not a redirected connection");
		return -1;
	}
	return 0;
}

static void redir_start(struct loop *l, struct session *s)
{
	if (!client_start(l, s) || original_dst(l, s, s->conf) < 0)
		return;
	client_route(l, s);
}

const struct client_role role_redir = {
	.base = {
		.name = "redir",
		.start = redir_start,
		.first_record = client_first_record,
		.connected = client_connected,
		.first_answer = client_first_answer,
		.outbound = client_outbound,
	},
	.conf = tunnel_client,
	.fail = tunnel_fail,
	.ready = tunnel_ready,
};
