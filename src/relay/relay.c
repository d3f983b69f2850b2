/* SPDX-License-Identifier: MIT */
/*
 * relay — what the TCP and UDP relays share (relay/relay.h): the address
 * hash, the listeners of a snapshot and their sockets, the server's ACL
 * checks, outbound socket options, the roles' start-up log.
 */
#include "relay/relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <stdlib.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/sockaddr.h"
#include "proto/acl.h"
#include "proto/hostport.h"
#include "relay/stats.h"

struct relay_shared relay_shared;

uint64_t relay_ip_hash(uint64_t seed, const struct sockaddr *sa)
{
	const uint8_t *p;
	size_t n;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	if (sa->sa_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		n = 4;
	} else if (sa->sa_family == AF_INET6) {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		n = 16;
		/* An IPv4-mapped address is that IPv4 client. */
		if (!memcmp(p, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
			p += 12;
			n = 4;
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

bool relay_uses_2022(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_servers; i++)
		if (cfg->servers[i].cipher.m2022)
			return true;
	for (size_t i = 0; i < cfg->n_locals; i++) {
		if (cfg->locals[i].cl.cipher.m2022)
			return true;
		for (size_t j = 0; j < cfg->locals[i].cl.n_ups; j++)
			if (cfg->locals[i].cl.ups[j].cipher.m2022)
				return true;
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		if (cfg->tunnels[i].cl.cipher.m2022)
			return true;
		for (size_t j = 0; j < cfg->tunnels[i].cl.n_ups; j++)
			if (cfg->tunnels[i].cl.ups[j].cipher.m2022)
				return true;
	}
	return false;
}

static const char *method_name(const struct config_cipher *c)
{
	return c->none ? "none" : c->m2022 ? c->m2022->name : c->method->name;
}

/* Does a client entry speak method none to its server, or to one of them? */
static bool client_none(const struct config_client *cl)
{
	bool none = cl->cipher.none;

	for (size_t j = 0; j < cl->n_ups; j++)
		none |= cl->ups[j].cipher.none;
	return none;
}

/* Method none, once at start: it is easy to mistake for a working cipher. */
static void warn_plaintext(const struct config *cfg)
{
	char a[80];

	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct config_server *s = &cfg->servers[i];

		if (s->cipher.none)
			log_warn("server on %s: method none: no encryption and no authentication; "
				 "anyone who reaches the port may use it, the path reads it all",
				 hostport_format_addr((const struct sockaddr *)&s->listen.addr, a,
						      sizeof(a)));
	}
	for (size_t i = 0; i < cfg->n_locals + cfg->n_tunnels; i++) {
		const struct config_client *cl = i < cfg->n_locals ? &cfg->locals[i].cl
						 : &cfg->tunnels[i - cfg->n_locals].cl;

		if (client_none(cl))
			log_warn("%s on %s: method none: what it sends to its server is not "
				 "encrypted", i < cfg->n_locals ? "local" : "tunnel",
				 hostport_format_addr((const struct sockaddr *)&cl->listen.addr, a,
						      sizeof(a)));
	}
}

void relay_log_roles(const struct config *cfg)
{
	char a[80];

	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct config_server *s = &cfg->servers[i];

		char b[80];

		log_info("server listening on %s (tcp%s), method %s%s%s%s",
			 hostport_format_addr((const struct sockaddr *)&s->listen.addr, a,
					      sizeof(a)),
			 s->udp ? ", udp" : "", method_name(&s->cipher),
			 s->allow_private ? ", private targets allowed" : "",
			 s->plugin.cmd[0] ? ", TCP through the plugin to " : "",
			 s->plugin.cmd[0] ? hostport_format_addr(
						    (const struct sockaddr *)&s->tcp_listen.addr, b,
						    sizeof(b)) : "");
	}
	warn_plaintext(cfg);
	if (cfg->n_servers && !cfg->limits.handshakes_per_source)
		log_warn("limits.handshakes_per_source = 0: one source can hold a quarter of the "
			 "session pool with connections that never authenticate, and the oldest "
			 "are then closed early (a reaction a prober could provoke)");
	for (size_t i = 0; i < cfg->n_locals; i++)
		log_info("local (SOCKS5, SOCKS4, HTTP proxy) listening on %s -> server %s:%u, "
			 "method %s%s%s%s%s",
			 hostport_format_addr((const struct sockaddr *)&cfg->locals[i].cl.listen.addr,
					      a, sizeof(a)),
			 cfg->locals[i].cl.server.host, cfg->locals[i].cl.server.port,
			 cfg->locals[i].cl.cipher.method || cfg->locals[i].cl.cipher.none
				 ? method_name(&cfg->locals[i].cl.cipher) : "-",
			 cfg->locals[i].cl.plugin.cmd[0] ? ", TCP through the plugin " : "",
			 cfg->locals[i].cl.plugin.cmd,
			 cfg->locals[i].cl.sub.url[0] ? ", servers from " : "", cfg->locals[i].cl.sub.url);
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		const struct config_tunnel *t = &cfg->tunnels[i];

		if (!t->redir)
			continue;
		log_info("redir listening on %s (%s%s%s) -> each connection's original "
			 "destination, via server %s:%u%s",
			 hostport_format_addr((const struct sockaddr *)&t->cl.listen.addr, a, sizeof(a)),
			 !t->tcp ? "" : t->redir == REDIR_TPROXY ? "tcp by tproxy" : "tcp by redirect",
			 t->tcp && t->cl.udp ? ", " : "", t->cl.udp ? "udp by tproxy" : "",
			 t->cl.server.host, t->cl.server.port, t->cl.n_ups > 1 ? " and other upstreams" : "");
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		if (!cfg->tunnels[i].redir)
			log_info("tunnel listening on %s -> %s:%u via server %s:%u%s%s",
			 hostport_format_addr((const struct sockaddr *)&cfg->tunnels[i].cl.listen.addr,
					      a, sizeof(a)),
			 cfg->tunnels[i].forward.host, cfg->tunnels[i].forward.port,
			 cfg->tunnels[i].cl.server.host, cfg->tunnels[i].cl.server.port,
			 cfg->tunnels[i].cl.plugin.cmd[0] ? ", TCP through the plugin " : "",
			 cfg->tunnels[i].cl.plugin.cmd);
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		if (cfg->tunnels[i].cl.sub.url[0])
			log_info("tunnel on %s: servers from %s",
				 hostport_format_addr(
					 (const struct sockaddr *)&cfg->tunnels[i].cl.listen.addr, a,
					 sizeof(a)),
				 cfg->tunnels[i].cl.sub.url);
	if (cfg->n_locals) {
		hostport_format_addr((const struct sockaddr *)&cfg->locals[0].cl.listen.addr, a,
				     sizeof(a));
		log_info("try: curl --socks5 %s http://IP:PORT/  or  curl -x http://%s "
			 "http://IP:PORT/", a, a);
	}
}

void relay_log_user_bytes(const struct config *cfg, int worker)
{
	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct config_server *sv = &cfg->servers[i];

		for (size_t u = 0; sv->rt.uids && sv->users && u < sv->users->n; u++) {
			const counter_t *c = ctr_peek(relay_stats[worker].user, sv->rt.uids[u]);
			uint64_t n;

			if (!c)
				continue;
			n = ctr_get(&c[UC_TCP_UP]) + ctr_get(&c[UC_TCP_DOWN]) +
			    ctr_get(&c[UC_UDP_UP]) + ctr_get(&c[UC_UDP_DOWN]);
			log_info("user %s: %llu bytes", sv->users->u[u].name,
				 (unsigned long long)n);
		}
	}
}

void relay_each_listener(const struct config *c, bool udp, relay_entry_fn fn, void *arg)
{
	for (size_t i = 0; i < c->n_servers; i++)
		if (!udp || c->servers[i].udp)
			fn(arg, ROLE_SERVER, &c->servers[i],
			   udp ? &c->servers[i].listen : &c->servers[i].tcp_listen,
			   (struct config_rt *)&c->servers[i].rt);
	for (size_t i = 0; !udp && i < c->n_locals; i++)
		fn(arg, ROLE_LOCAL, &c->locals[i], &c->locals[i].cl.listen,
		   (struct config_rt *)&c->locals[i].cl.rt);
	for (size_t i = 0; i < c->n_tunnels; i++)
		if (udp ? c->tunnels[i].cl.udp : c->tunnels[i].tcp)
			fn(arg, ROLE_TUNNEL, &c->tunnels[i], &c->tunnels[i].cl.listen,
			   (struct config_rt *)&c->tunnels[i].cl.rt);
}

struct prep {
	const struct config *old;
	int workers;
	bool udp;
	int (*open_fd)(const struct hostport *hp, enum role role, const void *conf);
	bool found;
	enum role role;
	const struct hostport *hp;
	int err;
};

/* In old: a listener of the same kind, role and address? */
static void find_old(void *arg, enum role role, const void *conf, const struct hostport *hp,
		     struct config_rt *rt)
{
	struct prep *p = arg;

	(void)conf;
	(void)rt;
	p->found |= role == p->role && config_same_listen(hp, p->hp);
}

static void prepare_entry(void *arg, enum role role, const void *conf, const struct hostport *hp,
			  struct config_rt *rt)
{
	struct prep *p = arg;
	int **fds = p->udp ? &rt->udp_fds : &rt->tcp_fds;

	p->found = false;
	p->role = role;
	p->hp = hp;
	if (p->old)
		relay_each_listener(p->old, p->udp, find_old, p);
	if (p->err || p->found)
		return; /* the workers keep the sockets they have */
	*fds = malloc((size_t)p->workers * sizeof(int));
	if (!*fds) {
		p->err = -ENOMEM;
		return;
	}
	for (int w = 0; w < p->workers; w++)
		(*fds)[w] = -1;
	for (int w = 0; w < p->workers && !p->err; w++) {
		int fd = p->open_fd(hp, role, conf);

		if (fd < 0)
			p->err = fd;
		else
			(*fds)[w] = fd;
	}
}

int relay_prepare_sockets(const struct config *old, struct config *cfg, bool udp,
			  int (*open_fd)(const struct hostport *hp, enum role role,
					 const void *conf))
{
	struct prep p = { .old = old, .workers = cfg->workers, .udp = udp, .open_fd = open_fd };

	relay_each_listener(cfg, udp, prepare_entry, &p);
	return p.err;
}

bool relay_acl_refuses_client(const struct config_server *cs, const struct sockaddr *peer)
{
	int m;

	if (!cs->acl || (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
		return false;
	/* libev's server.c: [accept_all] refuses the black list; [reject_all]
	 * refuses everyone not on the white list (or on both). */
	m = acl_match_addr(cs->acl->acl, peer);
	return acl_get_mode(cs->acl->acl) == ACL_MODE_PROXY_ALL ? m == 1 : m >= 0;
}

bool relay_acl_blocks_addr(const struct config_server *cs, const struct sockaddr *sa)
{
	return cs->acl && acl_has_addr(cs->acl->acl, ACL_BLOCK, sa);
}

bool relay_acl_blocks_name(const struct config_server *cs, const char *name)
{
	return cs->acl && acl_has_name(cs->acl->acl, ACL_BLOCK, name, strlen(name));
}

/* Said once per process: this kernel (or its settings) has no MPTCP. */
static void mptcp_unavailable(int err)
{
	static atomic_flag said = ATOMIC_FLAG_INIT;

	if (!atomic_flag_test_and_set(&said))
		log_warn("mptcp = true, but this kernel refuses MPTCP sockets (%s; "
			 "net.mptcp.enabled?): using TCP", strerror(err));
}

int relay_outbound_setup(int fd, int family, const struct config_outbound *o)
{
	const char *what = NULL;

	if (o->bind.ss_family == family &&
	    bind(fd, (const struct sockaddr *)&o->bind, sockaddr_len((const struct sockaddr *)&o->bind)))
		what = "outbound_bind_address";
	else if (o->iface[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->iface,
					   (socklen_t)strlen(o->iface) + 1))
		what = "outbound_interface";
	else if (o->fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &o->fwmark, sizeof(o->fwmark)))
		what = "outbound_fwmark";
	if (!what)
		return 0;
	{
		int err = errno;
		/* Once per kind of failure and process would be enough; it is rare. */
		log_warn("cannot apply %s to an outbound socket: %s%s", what, strerror(err),
			 err == EPERM ? " (SO_MARK needs CAP_NET_ADMIN)" : "");
		return -err;
	}
}

/* The only places a role entry's type is taken from its role. */
const struct config_tunnel *relay_tunnel_of(enum role role, const void *conf)
{
	return role == ROLE_TUNNEL ? (const struct config_tunnel *)conf : NULL;
}

const struct config_client *relay_client_of(enum role role, const void *conf)
{
	if (role == ROLE_SERVER)
		return NULL;
	return role == ROLE_TUNNEL ? &relay_tunnel_of(role, conf)->cl
				   : &((const struct config_local *)conf)->cl;
}

const struct config_outbound *relay_outbound_of(enum role role, const void *conf)
{
	const struct config_server *cs = conf;

	return role == ROLE_SERVER ? &cs->outbound : &relay_client_of(role, conf)->outbound;
}

int relay_stream_socket(int family, const struct config_outbound *o)
{
	int fd = -1;

	if (o->mptcp) {
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MPTCP);
		if (fd < 0)
			mptcp_unavailable(errno);
	}
	if (fd < 0)
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (o->fast_open) {
		int one = 1;

		/* connect() then returns at once; the first send carries the
		 * SYN with the data (with a cookie from an earlier connection). */
		if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof(one)))
			log_warn("TCP Fast Open on an outbound socket: %s", strerror(errno));
	}
	return fd;
}

int relay_client_socket(int family, const struct config_outbound *o)
{
	int one = 1, ret, fd = relay_stream_socket(family, o);

	if (fd < 0)
		return fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ret = relay_outbound_setup(fd, family, o);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}
