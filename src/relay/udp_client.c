/* SPDX-License-Identifier: MIT */
/*
 * udp_client — the client side of the UDP relay. Tunnel: each sender
 * address gets an association whose datagrams go to the ss server with the
 * configured forward address. Local (SOCKS5 UDP ASSOCIATE): the association
 * belongs to its TCP control session and has a client-facing socket of its
 * own on this worker. Replies from the server are opened and passed back
 * (SOCKS5: with the RSV/FRAG header and the source address).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/acl.h"
#include "proto/aead.h"
#include "proto/socks5.h"
#include "relay/upstream.h"
#include "udp_int.h"

/* The ss server's address is known: open the socket toward it. */
static int server_known(struct loop *l, struct udp_assoc *a, const struct sockaddr *sa,
			uint16_t port)
{
	int ret;

	memcpy(&a->server, sa, sockaddr_len(sa));
	a->server_len = sockaddr_len(sa);
	sockaddr_set_port((struct sockaddr *)&a->server, port);
	ret = udp_open_ep(l, &a->ep[0], a->server.sa.sa_family, relay_outbound_of(a->role, a->conf));
	return ret < 0 ? ret : 0;
}

/* The answer for an association that waited for its ss server's address. */
static void server_resolved(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
			    int err)
{
	struct udp_assoc *a = udp_assoc_lookup(l, w->slot, w->gen);

	if (!a || a->state != UDP_ST_LIVE)
		return;
	if (err || server_known(l, a, &e->addr[0].sa, (uint16_t)w->arg[0]) < 0)
		log_warn("udp association %u: cannot resolve the ss server: %s", a->slot,
			 err ? dns_strerror(err) : "no socket");
}

/*
 * Local/tunnel: point the association at the ss server. A host name is
 * looked up through the cache; until the answer comes, the client's
 * datagrams are dropped (counted). 0 or -errno.
 */
static int server_setup(struct loop *l, struct udp_assoc *a, const struct hostport *hp)
{
	struct dns_waiter w = { .done = server_resolved, .slot = a->slot, .gen = a->gen,
				.arg = { hp->port } };
	const struct dns_entry *e;
	int ret;

	if (hp->is_ip)
		return server_known(l, a, (const struct sockaddr *)&hp->addr, hp->port);
	if (!dns_name_ok(hp->host))
		return -EINVAL;
	ret = dns_lookup(l, hp->host, &w, &e);
	if (ret == DNS_PENDING)
		return 0;
	if (ret < 0)
		return ret;
	return server_known(l, a, &e->addr[0].sa, hp->port);
}

/* The server an association starts with (and its key in a->cipher): with
 * upstreams, one picked for the association's whole life. */
static const struct hostport *assoc_server(struct udp_assoc *a, const struct hostport *server,
					   const struct config_cipher *cipher,
					   const struct config_upstream *ups, size_t n,
					   const struct config_rt *rt)
{
	int i;

	a->cipher = cipher;
	if (!n)
		return server;
	i = upstream_pick(rt, n, 0, upstream_now_ms());
	a->cipher = &ups[i].cipher;
	return &ups[i].server;
}

static int client2022_init(struct loop *l, struct udp_assoc *a)
{
	if (!a->cipher->m2022)
		return 0;
	a->v2022 = 1;
	a->csid = udp_random_sid();
	return udp_assoc_window(l, a);
}

/* Client side, 2022: seal addr + payload (in place) as a client packet. */
static int seal2022_client(struct udp_assoc *a, struct dgram *g, const uint8_t *addr,
			   size_t alen, uint8_t *payload, size_t plen, uint8_t **start)
{
	const struct ss2022_method *m = a->cipher->m2022;
	const struct ss2022_keys *k = &a->cipher->keys2022;
	struct ss2022_udp_params pp = { .session_id = a->csid, .packet_id = a->pkt_id++,
					.now = (uint64_t)time(NULL), .padding_len = plen ? 0 : 1 };
	uint8_t hdr[SSADDR_MAX_BYTES];
	uint8_t *base = g->p - UDP_HEADROOM;

	memcpy(hdr, addr, alen); /* it may lie where the headers are written */
	*start = payload - (ss2022_udp_size(m, true, k->n_ipsk, alen, pp.padding_len, 0) -
			    AEAD_TAG_BYTES);
	if (*start < base)
		return -ENOSPC;
	return ss2022_udp_seal_client(m, k, &pp, hdr, alen, payload, plen, *start,
				      BUF_UDP_BYTES - (size_t)(*start - base));
}

/* The association's socket toward targets the ACL sends to directly (locals,
 * redirs), for this family. */
static int direct_fd(struct loop *l, struct udp_assoc *a, int family)
{
	struct udp_ep *ep = &a->ep[family == AF_INET ? 2 : 3];

	if (ep->fd >= 0)
		return ep->fd;
	return udp_open_ep(l, ep, family, relay_outbound_of(a->role, a->conf));
}

/* The tunnel's forward address as an ss address header. */
static size_t forward_header(const struct config_tunnel *tc, uint8_t *hdr)
{
	struct ssaddr fwd;

	if (!tc->forward.is_ip ||
	    ssaddr_from_sockaddr((const struct sockaddr *)&tc->forward.addr, &fwd) < 0) {
		memset(&fwd, 0, sizeof(fwd));
		fwd.atyp = SSADDR_ATYP_DOMAIN;
		fwd.u.domain.len = (uint8_t)strlen(tc->forward.host);
		memcpy(fwd.u.domain.name, tc->forward.host, fwd.u.domain.len);
		fwd.port = tc->forward.port;
	}
	return ssaddr_encode(&fwd, hdr);
}

int udp_tunnel_from_client(struct loop *l, struct udp_listener *L, struct dgram *g)
{
	const struct config_tunnel *tc = L->conf;
	struct sockaddr_storage orig;
	struct udp_assoc *a;
	uint8_t *start, hdr[SSADDR_MAX_BYTES];
	size_t plen = g->n, hlen = 0;
	int n, direct = 0;

	/* A redir: this datagram's own destination (and whether it bypasses
	 * the server), before an association is made for it. */
	if (tc->redir && (direct = udp_redir_target(l, L, g, hdr, &hlen, &orig)) < 0)
		return -direct;
	a = udp_assoc_by_addr(l, L, g->from);
	if (!a)
		return UDP_DROP_OTHER;
	tc = a->conf; /* the snapshot it started on: its server, key and forward */
	if (direct) {
		int fd = direct_fd(l, a, orig.ss_family);

		if (fd < 0)
			return UDP_DROP_OTHER;
		udp_assoc_touch(l, a);
		udp_assoc_count(a, true, plen);
		udp_send_from(l, g->bid, fd, g->p, g->n, (struct sockaddr *)&orig, a);
		return UDP_KEPT;
	}
	if (tc->cl.udp_over_tcp) {
		/* A tunnel's datagrams go to its forward (connect mode); a
		 * redir's each name their original destination. */
		struct ssaddr dst;

		if (tc->redir && ssaddr_from_sockaddr((struct sockaddr *)&orig, &dst) < 0)
			return UDP_DROP_MALFORMED;
		return udp_uot_up(l, a, g, tc->redir ? &dst : NULL, g->p, g->n);
	}
	if (!a->cipher) {
		/* New association: key it and find the server. */
		if (!tc->cl.server.port) {
			udp_assoc_close(l, a, "no server yet: waiting for the servers_url document");
			return UDP_DROP_REFUSED;
		}
		const struct hostport *srv = assoc_server(a, &tc->cl.server, &tc->cl.cipher, tc->cl.ups,
							  tc->cl.n_ups, &tc->cl.rt);

		if (client2022_init(l, a) < 0 || server_setup(l, a, srv) < 0) {
			udp_assoc_close(l, a, "cannot reach the ss server");
			return UDP_DROP_REFUSED;
		}
	}
	if (a->ep[0].fd < 0)
		return UDP_DROP_OTHER; /* the server's name is still being looked up */
	udp_assoc_touch(l, a);
	if (!tc->redir)
		hlen = forward_header(tc, hdr);
	if (a->v2022)
		n = seal2022_client(a, g, hdr, hlen, g->p, g->n, &start);
	else
		n = udp_seal_in_place(a->cipher->method, a->cipher->key, g, hdr, hlen, &start);
	if (n < 0)
		return UDP_DROP_OTHER;
	udp_assoc_count(a, true, plen);
	udp_send_from(l, g->bid, a->ep[0].fd, start, (size_t)n, (struct sockaddr *)&a->server, a);
	return UDP_KEPT;
}

/* A redir's reply from the server: to the client, from where it came. */
static int redir_reply(struct loop *l, struct udp_assoc *a, struct dgram *g,
		       const struct ssaddr *src, const uint8_t *p, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (ssaddr_to_sockaddr(src, &ss, &sl) < 0)
		return UDP_DROP_MALFORMED; /* a name: the client sent to an address */
	return udp_redir_reply(l, a, g->bid, (struct sockaddr *)&ss, p, n);
}

static int from_server2022(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	struct ss2022_udp_packet pk;
	uint8_t hdr[SSADDR_MAX_BYTES];
	size_t alen;

	if (ss2022_udp_open_client(a->cipher->m2022, a->cipher->keys2022.psk, a->csid,
				   (uint64_t)time(NULL), g->p, g->n, &pk) < 0) {
		udp_of(l)->st.bad++;
		return UDP_DROP_AUTH;
	}
	if (pk.session_id != a->ssid) {
		/* A new server session (e.g. the server restarted): new window. */
		a->ssid = pk.session_id;
		ss2022_window_init(a->win);
	}
	if (!ss2022_window_check(a->win, pk.packet_id)) {
		udp_of(l)->st.bad++;
		return UDP_DROP_AUTH;
	}
	ss2022_window_update(a->win, pk.packet_id);
	if (relay_tunnel_of(a->role, a->conf) && relay_tunnel_of(a->role, a->conf)->redir)
		return redir_reply(l, a, g, &pk.addr, pk.payload, pk.payload_len);
	udp_assoc_touch(l, a);
	if (a->role == ROLE_TUNNEL) {
		udp_assoc_count(a, false, pk.payload_len);
		udp_send_from(l, g->bid, a->L->ep.fd, pk.payload, pk.payload_len,
			      (struct sockaddr *)&a->peer, NULL);
		return UDP_KEPT;
	}
	if (!a->peer_len)
		return UDP_DROP_OTHER;
	/* SOCKS5: RSV RSV FRAG | source address | data, in front of the payload. */
	alen = ssaddr_encode(&pk.addr, hdr);
	memcpy(pk.payload - alen, hdr, alen);
	memset(pk.payload - alen - 3, 0, 3);
	udp_assoc_count(a, false, pk.payload_len);
	udp_send_from(l, g->bid, a->ep[1].fd, pk.payload - alen - 3, pk.payload_len + alen + 3,
		      (struct sockaddr *)&a->peer, a);
	return UDP_KEPT;
}

/* A packet from the ss server to a local or tunnel association. */
int udp_from_server(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	const struct aead_method *m = a->cipher->method;
	uint8_t *pt = g->p;
	struct ssaddr src;
	int r = (int)g->n, k;

	if (!sockaddr_equal(g->from, (struct sockaddr *)&a->server))
		return UDP_DROP_MALFORMED;
	if (a->v2022)
		return from_server2022(l, a, g);
	if (!a->cipher->none) {
		pt = g->p + m->salt_len;
		r = aead_udp_open(m, a->cipher->key, pt, g->p, g->n);
	}
	if (r < 0) {
		udp_of(l)->st.bad++;
		return UDP_DROP_AUTH;
	}
	k = ssaddr_parse(pt, (size_t)r, &src);
	if (k <= 0)
		return UDP_DROP_MALFORMED;
	if (relay_tunnel_of(a->role, a->conf) && relay_tunnel_of(a->role, a->conf)->redir)
		return redir_reply(l, a, g, &src, pt + k, (size_t)(r - k));
	udp_assoc_touch(l, a);
	udp_assoc_count(a, false, (size_t)(r - k));
	if (a->role == ROLE_TUNNEL) {
		udp_send_from(l, g->bid, a->L->ep.fd, pt + k, (size_t)(r - k),
			      (struct sockaddr *)&a->peer, NULL);
		return UDP_KEPT;
	}
	if (!a->peer_len)
		return UDP_DROP_OTHER; /* the client has not sent anything yet */
	/* SOCKS5: RSV RSV FRAG in front of the source address and data. */
	memset(pt - 3, 0, 3);
	udp_send_from(l, g->bid, a->ep[1].fd, pt - 3, (size_t)r + 3, (struct sockaddr *)&a->peer, a);
	return UDP_KEPT;
}

/* ---- the ACL's bypass for SOCKS5 UDP (as shadowsocks-rust's local does:
 * shadowsocks-libev's UDP relay ignores the ACL) */

static void name_answered(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
			  int err)
{
	/* Nothing to do: the cache holds the answer for the next datagram. */
	(void)l, (void)w, (void)e, (void)err;
}

/*
 * Where a datagram for dst goes, by the local's ACL (client.c decides
 * the same way for TCP): 1 direct (to filled in), 0 through the server, -1
 * dropped while its name is being looked up (UDP may lose it; sending it
 * through the server meanwhile could send what the ACL keeps direct).
 */
static int udp_route(struct loop *l, struct udp_assoc *a, const struct ssaddr *dst,
		     struct sockaddr_storage *to)
{
	const struct config_local *lc = a->conf;
	const struct acl *acl = lc->cl.acl ? lc->cl.acl->acl : NULL;
	struct dns_waiter w = { .done = name_answered, .slot = a->slot, .gen = a->gen };
	const struct dns_entry *e;
	socklen_t sl;
	enum acl_route r;
	int ret;

	if (!acl)
		return 0;
	if (ssaddr_to_sockaddr(dst, to, &sl) == 0)
		return acl_route_addr(acl, (struct sockaddr *)to) == ACL_ROUTE_BYPASS;
	r = acl_route_name(acl, dst->u.domain.name, dst->u.domain.len);
	if (r == ACL_ROUTE_PROXY || !dns_name_ok(dst->u.domain.name))
		return 0;
	ret = dns_lookup(l, dst->u.domain.name, &w, &e);
	if (ret == DNS_PENDING || ret == -ENOMEM)
		return -1;
	if (ret < 0 || !e->n)
		return 0; /* does not resolve here: the server resolves it */
	if (r != ACL_ROUTE_BYPASS && acl_route_addr(acl, &e->addr[0].sa) != ACL_ROUTE_BYPASS)
		return 0;
	memset(to, 0, sizeof(*to));
	memcpy(to, &e->addr[0], sockaddr_len(&e->addr[0].sa));
	sockaddr_set_port((struct sockaddr *)to, dst->port);
	return 1;
}

int udp_local_from_direct(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	uint8_t hdr[SSADDR_MAX_BYTES], *start;
	struct ssaddr src;
	size_t alen;

	if (!a->peer_len || ssaddr_from_sockaddr(g->from, &src) < 0)
		return UDP_DROP_OTHER;
	/* SOCKS5: RSV RSV FRAG | the source | data, in the buffer's headroom. */
	alen = ssaddr_encode(&src, hdr);
	start = g->p - alen - 3;
	memcpy(start + 3, hdr, alen);
	memset(start, 0, 3);
	udp_assoc_touch(l, a);
	udp_assoc_count(a, false, g->n);
	udp_send_from(l, g->bid, a->ep[1].fd, start, g->n + alen + 3, (struct sockaddr *)&a->peer,
		      a);
	return UDP_KEPT;
}

int udp_local_from_client(struct loop *l, struct udp_assoc *a, struct dgram *g)
{
	const struct aead_method *m = a->cipher->method;
	const struct sockaddr *allow = (const struct sockaddr *)&a->allow;
	bool uot = ((const struct config_local *)a->conf)->cl.udp_over_tcp;
	struct socks5_udp su;
	uint8_t *start;
	int n, h;

	if (a->ep[0].fd < 0 && !uot)
		return UDP_DROP_OTHER; /* the server's name is still being looked up */
	/* Only the client that opened the association (RFC 1928 §7), from the
	 * port it named if it named one. */
	if (!(sockaddr_port(allow) ? sockaddr_equal(g->from, allow)
				   : sockaddr_same_ip(g->from, allow)))
		return UDP_DROP_MALFORMED;
	h = socks5_parse_udp(g->p, g->n, &su);
	if (h < 0 || su.frag != 0)
		return UDP_DROP_MALFORMED; /* no reassembly: FRAG != 0 is dropped (RFC 1928) */
	memcpy(&a->peer, g->from, sockaddr_len(g->from));
	a->peer_len = sockaddr_len(g->from);
	{
		struct sockaddr_storage to;
		int r = udp_route(l, a, &su.dst, &to), fd;

		if (r < 0)
			return UDP_DROP_OTHER;
		if (r > 0) {
			fd = direct_fd(l, a, to.ss_family);
			if (fd < 0)
				return UDP_DROP_OTHER;
			udp_assoc_touch(l, a);
			udp_assoc_count(a, true, g->n - (size_t)h);
			udp_send_from(l, g->bid, fd, g->p + h, g->n - (size_t)h,
				      (struct sockaddr *)&to, a);
			return UDP_KEPT;
		}
	}
	if (uot)
		return udp_uot_up(l, a, g, &su.dst, g->p + h, g->n - (size_t)h);
	if (a->v2022) {
		n = seal2022_client(a, g, g->p + 3, (size_t)h - 3, g->p + h, g->n - (size_t)h,
				    &start);
	} else if (a->cipher->none) {
		start = g->p + 3; /* the address header and the data as they are */
		n = (int)g->n - 3;
	} else {
		start = g->p + 3 - m->salt_len;
		n = aead_udp_seal(m, a->cipher->key, start, g->p + 3, g->n - 3);
	}
	if (n < 0)
		return UDP_DROP_OTHER;
	udp_assoc_touch(l, a);
	udp_assoc_count(a, true, g->n - (size_t)h);
	udp_send_from(l, g->bid, a->ep[0].fd, start, (size_t)n, (struct sockaddr *)&a->server, a);
	return UDP_KEPT;
}

int udp_local_assoc(struct loop *l, const struct udp_owner *owner, const struct config_local *lc,
		    const struct config *cfg, const struct sockaddr *local_ip,
		    const struct sockaddr *client, struct sockaddr_storage *bnd)
{
	const struct hostport *srv;
	struct sockaddr_storage b;
	struct udp_assoc *a;
	socklen_t bl = sizeof(*bnd);

	if (!udp_of(l))
		return -EOPNOTSUPP;
	/* It lives and dies with its control session: on the session's snapshot. */
	a = udp_assoc_alloc(l, ROLE_LOCAL, cfg, lc->cl.rt.ep, owner);
	if (!a)
		return -EAGAIN;
	a->conf = lc;
	srv = assoc_server(a, &lc->cl.server, &lc->cl.cipher, lc->cl.ups, lc->cl.n_ups, &lc->cl.rt);
	if (client2022_init(l, a) < 0) {
		udp_assoc_close(l, a, "no memory for its packet window");
		return -ENOMEM;
	}
	memcpy(&a->allow, client, sockaddr_len(client));
	/* The client-facing socket: the control connection's local IP, any port. */
	memcpy(&b, local_ip, sockaddr_len(local_ip));
	sockaddr_set_port((struct sockaddr *)&b, 0);
	a->ep[1].fd = udp_open_socket(b.ss_family, (struct sockaddr *)&b, false);
	/* With udp_over_tcp the first datagram opens a TCP session instead. */
	if (a->ep[1].fd < 0 || getsockname(a->ep[1].fd, (struct sockaddr *)bnd, &bl) < 0 ||
	    (!lc->cl.udp_over_tcp && server_setup(l, a, srv) < 0)) {
		a->owner.gone = NULL; /* the owner hears it from the result */
		udp_assoc_close(l, a, "setup failed");
		return -EMFILE;
	}
	udp_arm_ep(l, &a->ep[1]);
	return (int)a->slot;
}

void udp_owned_close(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct udp_assoc *a;

	if (!gen || !udp_of(l))
		return;
	a = udp_assoc_lookup(l, slot, gen);
	if (a) {
		a->owner.gone = NULL; /* the owner is what closes it */
		udp_assoc_close(l, a, "its owner closed");
	}
}
