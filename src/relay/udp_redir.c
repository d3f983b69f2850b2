/* SPDX-License-Identifier: MIT */
/*
 * udp_redir — UDP for redirs, by TPROXY (as ss-redir's UDP relay): the
 * rule delivers a client's datagram for any destination to the redir's
 * transparent socket, which reports the destination it was meant for
 * (IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR). Each client address is one
 * tunnel association; every datagram carries its own destination to the
 * server. A reply must reach the client from the address it sent to, so it
 * leaves through a socket bound (IP_TRANSPARENT, SO_REUSEADDR) to that
 * address. Those sockets are kept per worker, shared by its associations,
 * and closed once unused for timeouts.udp_idle; one with sends in flight
 * is never closed. They are never read: unconnected, nftables' tproxy and
 * socket lookups pass them by and deliver to the redir's port.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/acl.h"
#include "udp_int.h"

/* Reply sockets per worker (each bound to one destination address). */
#define UDP_TP_MAX 256
#define UDP_TP_SWEEP_MS 5000

int udp_redir_socket(const struct hostport *hp)
{
	int family = hp->addr.ss_family, one = 1, fd, r;

	fd = udp_open_socket(family, NULL, true);
	if (fd < 0)
		return fd;
	if (family == AF_INET6)
		r = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) ||
		    setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof(one));
	else
		r = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) ||
		    setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one));
	if (r || bind(fd, (const struct sockaddr *)&hp->addr,
		      sockaddr_len((const struct sockaddr *)&hp->addr))) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* The original destination from the datagram's control messages. */
static bool orig_dst(struct loop *l, const struct dgram *g, struct sockaddr_storage *out)
{
	struct msghdr *mh = &udp_of(l)->rx_msg;
	struct io_uring_recvmsg_out *o = (struct io_uring_recvmsg_out *)g->o;

	for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, mh); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, mh, c)) {
		size_t n = c->cmsg_len - CMSG_LEN(0);

		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR &&
		    n >= sizeof(struct sockaddr_in)) {
			memset(out, 0, sizeof(*out));
			memcpy(out, CMSG_DATA(c), sizeof(struct sockaddr_in));
			return out->ss_family == AF_INET;
		}
		if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR &&
		    n >= sizeof(struct sockaddr_in6)) {
			memset(out, 0, sizeof(*out));
			memcpy(out, CMSG_DATA(c), sizeof(struct sockaddr_in6));
			return out->ss_family == AF_INET6;
		}
	}
	return false;
}

/* At most one line a second per worker for what a flood could repeat. */
static bool may_log(struct loop *l)
{
	struct udp_state *u = udp_of(l);

	if (l->now_ms - u->tp_logged_ms < 1000 && u->tp_logged_ms)
		return false;
	u->tp_logged_ms = l->now_ms;
	return true;
}

int udp_redir_target(struct loop *l, struct udp_listener *L, struct dgram *g, uint8_t *hdr,
		     size_t *hlen, struct sockaddr_storage *orig)
{
	const struct config_tunnel *tc = L->conf;
	struct ssaddr sa;
	char a[80];

	if (!orig_dst(l, g, orig)) {
		if (may_log(l))
			log_info("redir %s: a datagram without its original destination: dropped",
				 L->listen.host);
		return -UDP_DROP_REFUSED;
	}
	/* Sent to the redir's own port, not diverted by a rule: it would loop
	 * (the same test as for TCP, redir.c). */
	if (sockaddr_port((struct sockaddr *)orig) == tc->cl.listen.port ||
	    ssaddr_from_sockaddr((struct sockaddr *)orig, &sa) < 0) {
		if (may_log(l))
			log_info("redir: a datagram to %s was not redirected here by a rule: dropped",
				 hostport_format_addr((struct sockaddr *)orig, a, sizeof(a)));
		return -UDP_DROP_REFUSED;
	}
	*hlen = ssaddr_encode(&sa, hdr);
	if (tc->cl.acl && acl_route_addr(tc->cl.acl->acl, (struct sockaddr *)orig) == ACL_ROUTE_BYPASS)
		return 1;
	return 0;
}

static int tp_open(const struct sockaddr *src)
{
	int fd = socket(src->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, r;

	if (fd < 0)
		return -errno;
	if (src->sa_family == AF_INET6)
		r = setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ||
		    setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	else
		r = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
	/* Every worker binds the same address: SO_REUSEADDR lets them. */
	if (r || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, src, sockaddr_len(src))) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* The reply socket for src: found, or opened in a free entry (or in place
 * of the least recently used one without sends in flight). Its index, or
 * -errno. */
static int tp_get(struct loop *l, const struct sockaddr *src)
{
	struct udp_state *u = udp_of(l);
	uint32_t h = udp_hash_addr(0, src), free_i = UDP_NONE, lru = UDP_NONE;
	int fd;

	if (!u->tps) {
		u->tps = calloc(UDP_TP_MAX, sizeof(*u->tps));
		if (!u->tps)
			return -ENOMEM;
		for (int i = 0; i < UDP_TP_MAX; i++)
			u->tps[i].fd = -1;
	}
	for (uint32_t i = 0; i < u->n_tps; i++) {
		struct udp_tp *t = &u->tps[i];

		if (t->fd < 0) {
			if (free_i == UDP_NONE)
				free_i = i;
		} else if (t->hash == h && sockaddr_equal(src, (struct sockaddr *)&t->addr)) {
			t->used_ms = l->now_ms;
			return (int)i;
		} else if (!t->inflight && (lru == UDP_NONE || t->used_ms < u->tps[lru].used_ms)) {
			lru = i;
		}
	}
	if (free_i == UDP_NONE)
		free_i = u->n_tps < UDP_TP_MAX ? u->n_tps : lru;
	if (free_i == UDP_NONE)
		return -EBUSY;
	fd = tp_open(src);
	if (fd < 0)
		return fd;
	if (u->tps[free_i].fd >= 0)
		close(u->tps[free_i].fd); /* the least recently used, idle */
	if (free_i == u->n_tps)
		u->n_tps++;
	u->tps[free_i] = (struct udp_tp){ .fd = fd, .hash = h, .used_ms = l->now_ms };
	memcpy(&u->tps[free_i].addr, src, sockaddr_len(src));
	return (int)free_i;
}

/* The reply socket for a reply of len bytes to a's client from src (the
 * reply counted): its index, or minus the verdict to drop it with. */
static int reply_tp(struct loop *l, struct udp_assoc *a, const struct sockaddr *src, size_t len)
{
	int tp;
	char s[80];

	if (src->sa_family != a->peer.sa.sa_family)
		return -UDP_DROP_OTHER; /* a redir's client asked for its own family */
	tp = tp_get(l, src);
	if (tp < 0) {
		if (may_log(l))
			log_warn("redir: no socket to reply from %s: %s",
				 hostport_format_addr(src, s, sizeof(s)), strerror(-tp));
		return -UDP_DROP_OTHER;
	}
	udp_assoc_touch(l, a);
	udp_assoc_count(a, false, len);
	return tp;
}

int udp_redir_reply(struct loop *l, struct udp_assoc *a, uint16_t bid, const struct sockaddr *src,
		    const void *p, size_t len)
{
	int tp = reply_tp(l, a, src, len);

	if (tp < 0)
		return -tp;
	udp_send_tp(l, bid, (uint32_t)tp, p, len, (struct sockaddr *)&a->peer);
	return UDP_KEPT;
}

int udp_redir_reply_copy(struct loop *l, struct udp_assoc *a, const struct sockaddr *src,
			 const void *p, size_t len)
{
	int tp = reply_tp(l, a, src, len);

	if (tp < 0)
		return -tp;
	/* Not from a ring buffer: a non-blocking send now (dropped if the
	 * socket's queue is full, as the network may drop it). */
	if (sendto(udp_of(l)->tps[tp].fd, p, len, MSG_DONTWAIT, (struct sockaddr *)&a->peer,
		   a->peer_len) < 0)
		return UDP_DROP_OTHER;
	udp_of(l)->st.out++;
	return UDP_KEPT;
}

void udp_redir_sweep(struct loop *l)
{
	struct udp_state *u = udp_of(l);
	uint64_t idle;

	if (!u->tps || l->now_ms - u->tp_swept_ms < UDP_TP_SWEEP_MS)
		return;
	u->tp_swept_ms = l->now_ms;
	idle = (uint64_t)l->cfg->timeouts.udp_idle * 1000;
	for (uint32_t i = 0; i < u->n_tps; i++) {
		struct udp_tp *t = &u->tps[i];

		/* inflight counts a batch not yet submitted as well */
		if (t->fd >= 0 && !t->inflight && l->now_ms - t->used_ms >= idle) {
			close(t->fd);
			t->fd = -1;
		}
	}
	while (u->n_tps && u->tps[u->n_tps - 1].fd < 0)
		u->n_tps--;
}

void udp_redir_free(struct udp_state *u)
{
	for (uint32_t i = 0; u->tps && i < u->n_tps; i++)
		if (u->tps[i].fd >= 0)
			close(u->tps[i].fd);
	free(u->tps);
	u->tps = NULL;
	u->n_tps = 0;
}
