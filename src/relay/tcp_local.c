/* SPDX-License-Identifier: MIT */
/*
 * tcp_local — the client side: the local role speaks SOCKS5 (RFC 1928/1929)
 * and HTTP proxy on one port, told apart by the first byte; the tunnel role
 * forwards every connection to a fixed address. Both then open an ss stream
 * to the configured server: salt | sealed address header | sealed data.
 *
 * The handshake bytes gather in the session's carry block (d[DIR_IN_OUT]
 * half 0) until a message parses; replies go out on d[DIR_OUT_IN] and no
 * receive is armed while one is in flight, so a reply never races data.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/hostport.h"
#include "proto/acl.h"
#include "proto/http_proxy.h"
#include "proto/socks5.h"
#include "relay/session.h"
#include "relay/ssclient.h"
#include "relay/udp.h"
#include "relay/upstream.h"

enum local_phase {
	LP_FIRST = 0,     /* nothing parsed yet: SOCKS5 or HTTP? */
	LP_SOCKS_AUTH,    /* method 02 chosen: waiting for RFC 1929 credentials */
	LP_SOCKS_REQUEST, /* waiting for the SOCKS5 request */
	LP_HTTP_HEAD,     /* waiting for a complete HTTP request head */
	LP_CONNECTING,    /* request accepted: connecting to the ss server */
	LP_UDP,           /* UDP ASSOCIATE answered: the connection only holds it */
	LP_DONE           /* relaying */
};

static const struct config_local *local_conf(const struct session *s)
{
	return s->conf;
}

static void connect_server(struct loop *l, struct session *s);
static void route_target(struct loop *l, struct session *s);

/* linux/netfilter_ipv4.h SO_ORIGINAL_DST and ip6_tables.h IP6T_SO_ORIGINAL_DST:
 * both 80, at SOL_IP and SOL_IPV6. */
#define SSRING_SO_ORIGINAL_DST 80

/* The role's upstreams (upstreams = (...)); *n = 0 without. */
static const struct config_upstream *ups_of(const struct session *s, size_t *n,
					    const struct config_rt **rt, uint32_t *retry)
{
	if (s->role == ROLE_TUNNEL) {
		const struct config_tunnel *t = s->conf;

		*n = t->n_ups, *rt = &t->rt, *retry = t->upstream_retry;
		return t->ups;
	}
	*n = local_conf(s)->n_ups, *rt = &local_conf(s)->rt;
	*retry = local_conf(s)->upstream_retry;
	return local_conf(s)->ups;
}

/* Where TCP to the server goes: the server, or the port of its plugin. */
static const struct hostport *server_of(const struct session *s)
{
	size_t n;
	const struct config_rt *rt;
	uint32_t retry;
	const struct config_upstream *u = ups_of(s, &n, &rt, &retry);

	if (s->up)
		return &u[s->up - 1].tcp_server;
	if (s->role == ROLE_TUNNEL)
		return &((const struct config_tunnel *)s->conf)->tcp_server;
	return &local_conf(s)->tcp_server;
}

/* Speak to upstream i from now on (nothing has been sent to another yet). */
static void use_upstream(struct session *s, const struct config_upstream *u, int i)
{
	s->up = (uint8_t)(i + 1);
	s->hs->up_tried |= 1u << i;
	s->cipher = &u[i].cipher;
	aead_reader_init(&s->rd, s->cipher->method, s->cipher->key);
}

/*
 * The connect to upstream s->up failed (or its name did not resolve): it
 * is out for a while, and this connection tries another. True if it does.
 */
static bool upstream_failover(struct loop *l, struct session *s, int err)
{
	size_t n;
	const struct config_rt *rt;
	uint32_t retry;
	const struct config_upstream *u = ups_of(s, &n, &rt, &retry);
	int j;

	if (!s->up || s->direct)
		return false;
	upstream_failed(rt, s->up - 1, retry, upstream_now_ms());
	log_info("session %u: upstream %s:%u failed (%s); it is out for a while", s->slot,
		 u[s->up - 1].server.host, (unsigned)u[s->up - 1].server.port, strerror(-err));
	j = upstream_pick(rt, n, s->hs->up_tried, upstream_now_ms());
	if (j < 0)
		return false;
	if (s->fd[SIDE_OUT] >= 0) {
		close(s->fd[SIDE_OUT]);
		s->fd[SIDE_OUT] = -1;
	}
	use_upstream(s, u, j);
	connect_server(l, s);
	return true;
}

/* The first answer byte from the upstream: its latency. */
void local_first_answer(struct loop *l, struct session *s)
{
	size_t n;
	const struct config_rt *rt;
	uint32_t retry;

	ups_of(s, &n, &rt, &retry);
	s->up_wait = 0;
	upstream_answered(rt, s->up - 1, (uint64_t)(uint32_t)((uint32_t)l->now_ms - s->up_t0) * 1000);
}

/*
 * A redir's target: where the client meant to go. REDIRECT: the address
 * the NAT rule rewrote (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST); TPROXY: the
 * accepted socket's own address. A connection made to the listener itself
 * (no rule sent it) is refused: it would loop. 0, or -1 (closed, logged).
 */
static bool same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

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
		loop = same_sockaddr(&ss, &own); /* not rewritten: it came straight here */
	} else {
		/* Its own address: a connection to the listener's port was not
		 * diverted to it, whatever address it was made to. */
		loop = (ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port) ==
		       htons(tc->listen.port);
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

void local_session_start(struct loop *l, struct session *s)
{
	const struct config_cipher *c = s->role == ROLE_TUNNEL ?
		&((const struct config_tunnel *)s->conf)->cipher : &local_conf(s)->cipher;

	size_t n;
	const struct config_rt *rt;
	uint32_t retry;
	const struct config_upstream *u = ups_of(s, &n, &rt, &retry);

	if (!server_of(s)->port) {
		/* servers_url: the document has not been fetched yet (ctl/sip008.c). */
		session_close(l, s, true, "no server yet: waiting for the servers_url document");
		return;
	}
	s->cipher = c;
	s->d[DIR_IN_OUT].codec = CODEC_SEAL;
	s->d[DIR_IN_OUT].bgid = BG_PLAIN;
	s->d[DIR_OUT_IN].codec = CODEC_OPEN;
	s->d[DIR_OUT_IN].bgid = BG_CIPHER;
	aead_reader_init(&s->rd, c->method, c->key);
	if (n)
		use_upstream(s, u, upstream_pick(rt, n, 0, upstream_now_ms()));
	s->state = SESS_ST_HANDSHAKE;
	s->phase = LP_FIRST;
	timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.handshake * 1000);
	if (s->role == ROLE_TUNNEL) {
		const struct config_tunnel *tc = s->conf;

		if (tc->redir) {
			if (original_dst(l, s, tc) < 0)
				return;
		} else {
			ssclient_target(&s->hs->target, &tc->forward);
		}
		route_target(l, s);
		return;
	}
	session_arm_recv(l, s, DIR_IN_OUT);
}

/* Drop n parsed bytes from the front of the accumulator. */
static void consume(struct loop *l, struct session *s, size_t n)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);

	memmove(acc, acc + n, d->carry_len - n);
	d->carry_len -= (uint32_t)n;
}

static void socks_fail(struct loop *l, struct session *s, uint8_t rep)
{
	uint8_t r[SOCKS5_REPLY_MAX_BYTES];

	session_send_reply(l, s, r, socks5_build_reply(r, rep, NULL), true);
}

static void http_fail(struct loop *l, struct session *s, int code, const char *reason)
{
	uint8_t r[128];

	session_send_reply(l, s, r, http_build_status(r, sizeof(r), code, reason, true), true);
}

static void fail_connect(struct loop *l, struct session *s, int err)
{
	if (s->role == ROLE_TUNNEL)
		session_close(l, s, false, s->direct ? "cannot reach the target"
						     : "cannot reach the ss server");
	else if (s->hdr_len == 1) /* HTTP */
		http_fail(l, s, 502, "Bad Gateway");
	else
		socks_fail(l, s, (uint8_t)socks5_rep_from_errno(err));
}

static void connect_server(struct loop *l, struct session *s)
{
	const struct hostport *hp = server_of(s);
	int ret;

	s->phase = LP_CONNECTING;
	s->up_t0 = (uint32_t)l->now_ms;
	if (!hp->is_ip) {
		/* Resolved on the ring (dns.c); getaddrinfo would block it. */
		ret = session_connect_name(l, s, hp->host, hp->port, true);
		if (ret < 0)
			fail_connect(l, s, -EHOSTUNREACH);
		return;
	}
	ret = session_connect(l, s, (const struct sockaddr *)&hp->addr, hp->addr_len);
	if (ret < 0)
		fail_connect(l, s, ret);
}

/* ---- routing: the ACL's bypass and proxy lists (libev's local.c) */

static const struct acl *route_acl(const struct session *s)
{
	const struct config_acl *ca = s->role == ROLE_TUNNEL ?
		((const struct config_tunnel *)s->conf)->acl : local_conf(s)->acl;

	return ca ? ca->acl : NULL;
}

/* Straight to the target, without the server: bytes go as they are. */
static void connect_direct(struct loop *l, struct session *s, const struct sockaddr *sa,
			   socklen_t sl)
{
	char t[300];
	int ret;

	s->direct = 1;
	s->phase = LP_CONNECTING;
	s->d[DIR_IN_OUT].codec = CODEC_PLAIN;
	s->d[DIR_OUT_IN].codec = CODEC_PLAIN;
	s->d[DIR_OUT_IN].bgid = BG_PLAIN;
	log_debug("session %u: %s bypasses the server (ACL)", s->slot,
		  ssaddr_format(&s->hs->target, t, sizeof(t)));
	if (sa)
		ret = session_connect(l, s, sa, sl);
	else /* a name: its addresses are in the cache by now */
		ret = session_connect_name(l, s, s->hs->target.u.domain.name, s->hs->target.port,
					   true);
	if (ret < 0)
		fail_connect(l, s, ret);
}

/*
 * A name resolved: listed to bypass, or not listed and its first address
 * says so, it goes direct; a name that does not resolve is proxied (libev:
 * also one listed to bypass).
 */
static void route_resolved(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
			   int err)
{
	struct session *s = session_lookup(l, w->slot, w->gen);

	if (!s || s->state != SESS_ST_CONNECTING || s->fd[SIDE_OUT] >= 0 || s->direct)
		return;
	if (!err && e && e->n &&
	    (s->hs->bypass_name ||
	     acl_route_addr(route_acl(s), &e->addr[0].sa) == ACL_ROUTE_BYPASS))
		connect_direct(l, s, NULL, 0);
	else
		connect_server(l, s);
}

/*
 * Through the server, or direct: by the target's name if a rule lists it,
 * else by its address (a name is resolved for that, on the ring). Plain
 * HTTP proxying, whose requests may name other hosts as they come, always
 * goes through the server.
 */
static void route_target(struct loop *l, struct session *s)
{
	const struct acl *a = route_acl(s);
	const struct ssaddr *t = &s->hs->target;
	struct dns_waiter w = { .done = route_resolved, .slot = s->slot, .gen = s->gen };
	const struct dns_entry *e;
	struct sockaddr_storage ss;
	socklen_t sl;
	enum acl_route r;
	int ret;

	if (!a || http_local_active(s)) {
		connect_server(l, s);
		return;
	}
	if (ssaddr_to_sockaddr(t, &ss, &sl) == 0) {
		if (acl_route_addr(a, (struct sockaddr *)&ss) == ACL_ROUTE_BYPASS)
			connect_direct(l, s, (struct sockaddr *)&ss, sl);
		else
			connect_server(l, s);
		return;
	}
	r = acl_route_name(a, t->u.domain.name, t->u.domain.len);
	if (r == ACL_ROUTE_PROXY) {
		connect_server(l, s);
		return;
	}
	s->hs->bypass_name = r == ACL_ROUTE_BYPASS;
	s->state = SESS_ST_CONNECTING;
	s->phase = LP_CONNECTING;
	ret = dns_name_ok(t->u.domain.name) ? dns_lookup(l, t->u.domain.name, &w, &e) : -EINVAL;
	if (ret == DNS_PENDING)
		return;
	route_resolved(l, &w, ret < 0 ? NULL : e, ret < 0 ? ret : 0);
}

/*
 * UDP ASSOCIATE: a UDP socket of its own on this worker, bound to the IP the
 * client reached us on. Its port is the BND in the reply; datagrams go there
 * and nowhere a shared port would hash them to another worker (design.md).
 */
static void udp_associate(struct loop *l, struct session *s, const struct socks5_request *r)
{
	struct sockaddr_storage local, peer, bnd;
	socklen_t ll = sizeof(local), pl = sizeof(peer);
	uint8_t rep[SOCKS5_REPLY_MAX_BYTES];
	uint16_t port = r->dst.atyp == SSADDR_ATYP_DOMAIN ? 0 : r->dst.port;
	int slot;

	if (getsockname(s->fd[SIDE_IN], (struct sockaddr *)&local, &ll) < 0 ||
	    getpeername(s->fd[SIDE_IN], (struct sockaddr *)&peer, &pl) < 0) {
		socks_fail(l, s, SOCKS5_REP_GENERAL_FAILURE);
		return;
	}
	/* A non-zero DST.PORT names the one port the client will send from. */
	if (peer.ss_family == AF_INET)
		((struct sockaddr_in *)&peer)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&peer)->sin6_port = htons(port);
	slot = udp_local_assoc(l, s, (struct sockaddr *)&local, (struct sockaddr *)&peer, &bnd);
	if (slot < 0) {
		log_warn("UDP ASSOCIATE refused: %s", strerror(-slot));
		socks_fail(l, s, SOCKS5_REP_GENERAL_FAILURE);
		return;
	}
	s->udp_slot = (uint32_t)slot;
	s->udp_gen = udp_assoc_gen(l, (uint32_t)slot);
	s->phase = LP_UDP;
	session_send_reply(l, s, rep,
			   socks5_build_reply(rep, SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&bnd),
			   false);
}

/* Returns the SOCKS5 phase result: 1 = go on parsing, 0 = wait, -1 = done. */
static int socks_step(struct loop *l, struct session *s, uint8_t *acc, size_t len)
{
	const struct config_local *lc = local_conf(s);
	struct socks5_greeting g;
	struct socks5_auth a;
	struct socks5_request r;
	uint8_t rep[2];
	bool ok = false;
	int n;

	switch (s->phase) {
	case LP_FIRST:
		n = socks5_parse_greeting(acc, len, &g);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			session_close(l, s, false, "bad SOCKS5 greeting");
			return -1;
		}
		consume(l, s, (size_t)n);
		rep[0] = SOCKS5_VER;
		rep[1] = socks5_choose_method(&g, lc->n_users > 0);
		s->phase = rep[1] == SOCKS5_METHOD_USERPASS ? LP_SOCKS_AUTH : LP_SOCKS_REQUEST;
		session_send_reply(l, s, rep, 2, rep[1] == SOCKS5_METHOD_NONE);
		return -1;
	case LP_SOCKS_AUTH:
		n = socks5_parse_auth(acc, len, &a);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			session_close(l, s, false, "bad SOCKS5 auth message");
			return -1;
		}
		consume(l, s, (size_t)n);
		for (size_t i = 0; i < lc->n_users; i++)
			ok |= socks5_auth_check(&a, lc->users[i].name, lc->users[i].password);
		if (!ok)
			log_info("SOCKS5 authentication failed for user '%.*s'", a.user_len, a.user);
		rep[0] = SOCKS5_AUTH_VER;
		rep[1] = ok ? SOCKS5_AUTH_STATUS_OK : SOCKS5_AUTH_STATUS_FAIL;
		s->phase = LP_SOCKS_REQUEST;
		session_send_reply(l, s, rep, 2, !ok);
		return -1;
	default:
		n = socks5_parse_request(acc, len, &r);
		if (n == -EAGAIN)
			return 0;
		if (n == -EAFNOSUPPORT) {
			socks_fail(l, s, SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED);
			return -1;
		}
		if (n < 0) {
			session_close(l, s, false, "bad SOCKS5 request");
			return -1;
		}
		consume(l, s, (size_t)n);
		if (r.cmd == SOCKS5_CMD_UDP_ASSOCIATE && lc->udp) {
			udp_associate(l, s, &r);
			return -1;
		}
		if (r.cmd != SOCKS5_CMD_CONNECT) {
			/* BIND, UDP ASSOCIATE (until the UDP relay exists), unknown. */
			socks_fail(l, s, SOCKS5_REP_COMMAND_NOT_SUPPORTED);
			return -1;
		}
		s->hs->target = r.dst;
		route_target(l, s);
		return -1;
	}
}

static int http_step(struct loop *l, struct session *s, uint8_t *acc, size_t len)
{
	struct http_request r;
	int n = http_parse_request(acc, len, &r);

	if (n == -EAGAIN)
		return 0;
	if (n < 0) {
		http_fail(l, s, n == -E2BIG ? 431 : 400,
			  n == -E2BIG ? "Request Header Fields Too Large" : "Bad Request");
		return -1;
	}
	s->hs->target = r.target;
	s->hdr_len = 1; /* marks the HTTP front end for failure replies */
	if (r.is_connect) {
		consume(l, s, (size_t)n);
		route_target(l, s);
		return -1;
	}
	/* Plain absolute-form requests are rewritten and sent as the first data;
	 * http_local.c follows the rest of the connection. */
	if (http_local_begin(l, s, acc, (size_t)n, &r) < 0)
		return -1;
	connect_server(l, s);
	return -1;
}

static void advance(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);
	int ret;

	if (!acc) {
		session_close(l, s, true, "carry pool exhausted");
		return;
	}
	if (s->phase == LP_UDP) {
		/* The reply is out: from now on the connection only keeps the
		 * association alive; anything the client sends is discarded. */
		s->state = SESS_ST_UDP_CTRL;
		sources_handshake_done(&s->src);
		session_release_carry(l, s, DIR_IN_OUT);
		timer_arm(&l->wheel, &s->timer,
			  l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
		session_arm_recv(l, s, DIR_IN_OUT);
		return;
	}
	for (;;) {
		if (d->carry_len == 0) {
			session_arm_recv(l, s, DIR_IN_OUT);
			return;
		}
		if (s->phase == LP_FIRST && acc[0] != SOCKS5_VER) {
			if (!isalpha(acc[0])) {
				session_close(l, s, false, "neither SOCKS5 nor HTTP");
				return;
			}
			s->phase = LP_HTTP_HEAD;
		}
		ret = s->phase == LP_HTTP_HEAD ? http_step(l, s, acc, d->carry_len) :
						 socks_step(l, s, acc, d->carry_len);
		if (ret < 0)
			return;
		if (ret == 0) {
			session_arm_recv(l, s, DIR_IN_OUT);
			return;
		}
	}
}

void local_on_client_data(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);
	size_t n = d->buf_len;

	if (!acc) {
		session_close(l, s, true, "carry pool exhausted");
		return;
	}
	if (n > HTTP_HEAD_MAX + 1 - d->carry_len) {
		if (s->phase == LP_HTTP_HEAD)
			http_fail(l, s, 431, "Request Header Fields Too Large");
		else
			session_close(l, s, false, "handshake too long");
		session_release_buf(l, s, DIR_IN_OUT);
		return;
	}
	memcpy(acc + d->carry_len, loop_buf_data(l, d->bgid, d->bid), n);
	d->carry_len += (uint32_t)n;
	session_release_buf(l, s, DIR_IN_OUT);
	advance(l, s);
}

void local_on_reply_sent(struct loop *l, struct session *s)
{
	advance(l, s);
}

int local_request_prefix(struct loop *l, struct session *s, const uint8_t *early,
			 size_t early_len, uint8_t *out, size_t *n)
{
	int r = ssclient_request(s->cipher, &s->hs->target, early, early_len, &s->wr, &s->rd2,
				 out, TX_BYTES, n);

	(void)l;
	if (r < 0)
		return r;
	s->v2022 = (uint8_t)r;
	return 0;
}

/* The request prefix and any early data, in one send block. */
static int build_prefix(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint32_t blk;
	size_t n = 0;
	uint8_t *out = session_tx_block(l, TX_BYTES, &blk);
	int ret;

	if (!out)
		return -ENOMEM;
	/* Bytes the client sent before our reply go right behind the header. */
	ret = local_request_prefix(l, s, d->carry_len ? session_acc(l, s, 0) : NULL, d->carry_len,
				   out, &n);
	if (ret < 0) {
		session_tx_push(l, s, DIR_IN_OUT, out, 0, blk); /* frees it */
		return ret;
	}
	session_count(s, DIR_IN_OUT, d->carry_len);
	d->carry_len = 0;
	session_release_carry(l, s, DIR_IN_OUT);
	d->flags |= DIR_F_PREFIX_SENT;
	session_tx_push(l, s, DIR_IN_OUT, out, n, blk);
	return 0;
}

/* Direct: the bytes the client sent before our reply, as they are. */
static int direct_prefix(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint32_t blk, n = d->carry_len;
	uint8_t *out;

	if (n) {
		out = session_tx_block(l, n, &blk);
		if (!out)
			return -ENOMEM;
		memcpy(out, session_acc(l, s, 0), n);
		session_count(s, DIR_IN_OUT, n);
		d->carry_len = 0;
		session_tx_push(l, s, DIR_IN_OUT, out, n, blk);
	}
	session_release_carry(l, s, DIR_IN_OUT);
	d->flags |= DIR_F_PREFIX_SENT;
	return 0;
}

void local_on_connect(struct loop *l, struct session *s, int res)
{
	struct sockaddr_storage bnd;
	socklen_t bl = sizeof(bnd);
	uint8_t r[SOCKS5_REPLY_MAX_BYTES];
	bool http = s->hdr_len == 1;

	if (s->state != SESS_ST_CONNECTING)
		return;
	if (res < 0 && res != -EHOSTUNREACH && session_connect_next(l, s) == 0)
		return; /* the server's name had another address */
	if (res < 0 && upstream_failover(l, s, res == -ECANCELED ? -ETIMEDOUT : res))
		return; /* trying another upstream */
	if (res < 0) {
		tcp_of(l)->st.connect_fail++;
		ctr_add(&s->ctr[EPC_CONNECT_FAIL], 1);
		log_info("cannot reach %s: %s", s->direct ? "the target (direct, by the ACL)" : "ss server",
			 res == -ECANCELED ? "timed out" : strerror(-res));
		fail_connect(l, s, res == -ECANCELED ? -ETIMEDOUT : res);
		return;
	}
	if (s->direct ? direct_prefix(l, s)
		      : http_local_active(s) ? http_local_prefix(l, s) : build_prefix(l, s)) {
		session_close(l, s, true, "cannot set up the request cipher");
		return;
	}
	if (s->up && !s->direct) {
		size_t n;
		const struct config_rt *rt;
		uint32_t retry;
		const struct config_upcheck *chk = s->role == ROLE_TUNNEL
			? &((const struct config_tunnel *)s->conf)->check : &local_conf(s)->check;

		const struct config_upstream *u = ups_of(s, &n, &rt, &retry);

		log_debug("session %u: connected to upstream %s:%u", s->slot,
			  u[s->up - 1].server.host, (unsigned)u[s->up - 1].server.port);
		/* With upstream_check only a passed check brings a server back
		 * early: a black hole accepts connections too. */
		if (!chk->interval)
			upstream_connected(rt, s->up - 1);
		s->up_wait = 1;
	}
	s->state = SESS_ST_RELAY;
	s->phase = LP_DONE;
	if (!http_local_active(s))
		session_hs_release(l, s); /* plain HTTP keeps parsing requests */
	timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
	if (s->role == ROLE_TUNNEL || http_local_active(s)) {
		session_arm_recv(l, s, DIR_OUT_IN);
	} else if (http) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

		session_send_reply(l, s, ok, sizeof(ok) - 1, false);
	} else {
		/* BND: our socket toward the ss server (protocol.md §1.5). */
		getsockname(s->fd[SIDE_OUT], (struct sockaddr *)&bnd, &bl);
		session_send_reply(l, s, r,
				   socks5_build_reply(r, SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&bnd),
				   false);
	}
	session_kick(l, s, DIR_IN_OUT);
}
