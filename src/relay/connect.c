/* SPDX-License-Identifier: MIT */
/*
 * connect — a session's outbound side: connect to an address (with a
 * deadline on the session timer), resolve a name on the ring and try its
 * addresses in turn; the role hears how it went (relay/role.h: connected).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/hostport.h"
#include "proto/sockaddr.h"
#include "relay/role.h"
#include "relay/session.h"

const struct config_outbound *session_outbound(const struct session *s)
{
	return s->role->outbound(s);
}

int session_connect(struct loop *l, struct session *s, const struct sockaddr *sa, socklen_t len)
{
	struct io_uring_sqe *sqe;
	int fd, one = 1;

	fd = relay_stream_socket(sa->sa_family, session_outbound(s));
	if (fd < 0) {
		log_warn("socket: %s", strerror(-fd));
		return fd;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd[SIDE_OUT] = fd;
	{
		int ret = relay_outbound_setup(fd, sa->sa_family, session_outbound(s));

		if (ret < 0)
			return ret; /* the fd is the session's: closed with it */
	}
	memcpy(&s->hs->peer, sa, len);
	s->state = SESS_ST_CONNECTING;
	sources_handshake_done(&s->src); /* the request is in: past the handshake */
	/*
	 * The deadline is the session's timer on the wheel rather than a linked
	 * timeout SQE: one SQE, one CQE and a kernel hrtimer less per
	 * connection. When it expires first, session_timeout cancels the
	 * connect, which then completes with -ECANCELED like a timed-out one.
	 */
	timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.connect * 1000);
	sqe = loop_sqe(l);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&s->hs->peer, len);
	session_tag(sqe, TCP_OP_CONNECT, s);
	s->connecting = 1;
	return 0;
}

static int keep_addrs(struct session *s, const struct dns_entry *e)
{
	s->hs->n_addrs = s->hs->addr_i = 0;
	for (int i = 0; i < e->n && s->hs->n_addrs < 4; i++) {
		if (!s->hs->special_ok && ssaddr_is_special(&e->addr[i].sa))
			continue;
		/* the role's rules for the resolved addresses (a server's ACL) */
		if (s->role->allows_addr && !s->role->allows_addr(s, &e->addr[i].sa))
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
	sockaddr_set_port(&a->sa, s->hs->dns_port);
	if (s->fd[SIDE_OUT] >= 0) {
		close(s->fd[SIDE_OUT]);
		s->fd[SIDE_OUT] = -1;
	}
	return session_connect(l, s, &a->sa, sockaddr_len(&a->sa));
}

int session_connect_name(struct loop *l, struct session *s, const char *name, uint16_t port,
			 bool special_ok)
{
	struct dns_waiter w = { .done = session_dns_done, .slot = s->slot, .gen = s->gen };
	const struct dns_entry *e;
	int ret;

	if (!dns_name_ok(name))
		return -EINVAL;
	s->hs->dns_port = port;
	s->hs->special_ok = special_ok;
	s->state = SESS_ST_CONNECTING; /* parked until an address is known */
	sources_handshake_done(&s->src);
	ret = dns_lookup(l, name, &w, &e);
	if (ret == DNS_PENDING)
		return 0;
	if (ret < 0)
		return ret;
	ret = keep_addrs(s, e);
	return ret ? ret : session_connect_next(l, s);
}

void session_dns_done(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
		      int err)
{
	struct session *s = session_lookup(l, w->slot, w->gen);

	if (!s || s->state != SESS_ST_CONNECTING || s->fd[SIDE_OUT] >= 0)
		return;
	if (!err)
		err = keep_addrs(s, e);
	if (!err)
		err = session_connect_next(l, s);
	if (err) {
		log_info("session %u: cannot %s: %s", s->slot,
			 e ? "connect to the name's addresses" : "resolve the name",
			 err == -EACCES ? "no address it may reach (private/special ones with "
					  "allow_private = false, or the ACL's outbound_block_list)"
			 : e		? strerror(-err)
					: dns_strerror(err));
		/* No outbound socket: the role tells it from a failed connect. */
		s->role->connected(l, s, err);
	}
}
