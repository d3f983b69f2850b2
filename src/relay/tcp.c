/* SPDX-License-Identifier: MIT */
/*
 * tcp — the TCP relay's module: per worker, one listener per TCP role
 * (SO_REUSEPORT), the session and block pools, the stop and its deadline;
 * process-wide, the salt memories every worker shares.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/log.h"
#include "relay/stats.h"
#include "relay/role.h"
#include "relay/session.h"
#include "relay/user_gate.h"

/* Each group holds 8 MiB of receive buffers per worker. */
#define PLAIN_BUFS ((8u << 20) / BUF_PLAIN_BYTES)
#define CIPHER_BUFS ((8u << 20) / BUF_CIPHER_BYTES)

/*
 * limits.handshakes_per_source / sessions_per_source, for servers: false
 * (fd closed, counted, logged now and then) when fd's source is over one of
 * them. Connections through a server's plugin all come from loopback, their
 * real source unknown: they are not counted.
 */
static bool admit_source(struct loop *l, const struct tcp_listener *ls, int fd,
			 struct source_ticket *tk)
{
	const struct config *c = l->cfg;
	struct tcp_state *t = tcp_of(l);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	enum source_verdict v;
	char a[80];

	const struct config_server *cs = ls->conf;

	/* Servers face the world; locals and tunnels serve their own host or
	 * LAN. Behind a plugin every client is loopback: nothing to judge. */
	if (ls->role != ROLE_SERVER || cs->plugin.cmd[0] ||
	    (!cs->acl && !c->limits.handshakes_per_source && !c->limits.sessions_per_source))
		return true;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return true;
	if (relay_acl_refuses_client(cs, (struct sockaddr *)&ss)) {
		stats_worker_add(l->id, WC_REFUSED_ACL, 1);
		if (t->st.refused_acl++ % 1024 == 0)
			log_info("connection from %s refused by the ACL %s (%llu so far on this worker)",
				 hostport_format_addr((struct sockaddr *)&ss, a, sizeof(a)),
				 cs->acl->path, (unsigned long long)t->st.refused_acl);
		close(fd);
		return false;
	}
	if (!c->limits.handshakes_per_source && !c->limits.sessions_per_source)
		return true;
	v = sources_admit((struct sockaddr *)&ss, c->limits.handshakes_per_source,
			  c->limits.sessions_per_source, tk);
	if (v == SOURCE_OK)
		return true;
	stats_worker_add(l->id, v == SOURCE_TOO_MANY_HANDSHAKES ? WC_REFUSED_SRC_HS
								: WC_REFUSED_SRC_SESS, 1);
	/* The first refusal of a burst, then every 1024th. */
	if (t->st.refused_source++ % 1024 == 0)
		log_warn("connection from %s refused: its source is at limits.%s = %u "
			 "(%llu refused so far on this worker)",
			 hostport_format_addr((struct sockaddr *)&ss, a, sizeof(a)),
			 v == SOURCE_TOO_MANY_HANDSHAKES ? "handshakes_per_source"
							 : "sessions_per_source",
			 v == SOURCE_TOO_MANY_HANDSHAKES ? c->limits.handshakes_per_source
							 : c->limits.sessions_per_source,
			 (unsigned long long)t->st.refused_source);
	close(fd);
	return false;
}

static void on_accept(struct loop *l, struct loop_listener *ll, int fd)
{
	const struct tcp_listener *ls = (const struct tcp_listener *)ll;
	struct source_ticket tk = { 0 };
	struct session *s;

	if (!admit_source(l, ls, fd, &tk))
		return;
	s = session_new(l, ls, fd);
	if (!s) {
		sources_end(&tk);
		return;
	}
	s->src = tk;
	s->role = session_role_of(ls->role, ls->conf);
	s->role->start(l, s);
}

static void on_closed(struct loop *l, struct loop_listener *ll)
{
	struct tcp_listener *ls = (struct tcp_listener *)ll;

	list_del(&ls->node);
	free(ls);
	tcp_of(l)->n_open--;
}

static struct tcp_listener *find_listener(struct tcp_state *t, enum role role,
					  const struct hostport *hp)
{
	struct list *n;

	for (n = t->listeners.next; n != &t->listeners; n = n->next) {
		struct tcp_listener *ls = list_entry(n, struct tcp_listener, node);

		if (!ls->ll.closing && ls->role == role && config_same_listen(&ls->listen, hp))
			return ls;
	}
	return NULL;
}

struct adopt {
	struct loop *l;
	int err;
};

/*
 * One entry of the (new) current snapshot: a listener of the same role and
 * address goes on with its socket and the new settings; otherwise the
 * socket the main thread made for this worker starts accepting.
 */
static void adopt_entry(void *arg, enum role role, const void *conf, const struct hostport *hp,
			struct config_rt *rt)
{
	struct adopt *a = arg;
	struct tcp_state *t = tcp_of(a->l);
	struct tcp_listener *ls = find_listener(t, role, hp);

	if (ls) {
		ls->conf = conf;
		ls->ep = rt->ep;
		ls->seen = true;
		return;
	}
	if (!rt->tcp_fds || rt->tcp_fds[a->l->id] < 0 || !(ls = calloc(1, sizeof(*ls)))) {
		a->err = -ENOMEM;
		log_error("worker %d: no listening socket for %s", a->l->id, hp->host);
		return;
	}
	ls->role = role;
	ls->conf = conf;
	ls->ep = rt->ep;
	ls->listen = *hp;
	ls->seen = true;
	ls->ll.fd = rt->tcp_fds[a->l->id];
	rt->tcp_fds[a->l->id] = -1; /* ours now */
	list_add_tail(&t->listeners, &ls->node);
	t->n_open++;
	if (t->running)
		listener_start(a->l, &ls->ll, ls->ll.fd, on_accept, on_closed);
}

/* Match the listeners to l->cfg: keep, open, and close what it no longer has. */
static int adopt_listeners(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);
	struct adopt a = { .l = l };
	struct list *n, *next;

	for (n = t->listeners.next; n != &t->listeners; n = n->next)
		list_entry(n, struct tcp_listener, node)->seen = false;
	relay_each_listener(l->cfg, false, adopt_entry, &a);
	for (n = t->listeners.next; n != &t->listeners; n = next) {
		struct tcp_listener *ls = list_entry(n, struct tcp_listener, node);

		next = n->next;
		if (!ls->seen && !ls->ll.closing)
			listener_close(l, &ls->ll);
	}
	return a.err;
}

static int tcp_init(struct loop *l)
{
	const struct config *cfg = l->cfg;
	struct tcp_state *t = calloc(1, sizeof(*t));
	uint32_t per_loop;
	int ret;

	if (!t)
		return -ENOMEM;
	loop_set_state(l, &tcp_module, t);
	{
		/* Raised to the hard limit by the control plane before any
		 * worker starts (ctl.c). */
		struct rlimit rl;

		t->fd_soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
				     rl.rlim_cur :
				     0;
	}
	list_init(&t->listeners);
	list_init(&t->unauth);
	per_loop = (cfg->limits.tcp_sessions + (uint32_t)cfg->workers - 1) / (uint32_t)cfg->workers;
	if (pool_init(&t->sessions, sizeof(struct session), per_loop) ||
	    pool_init(&t->hs, sizeof(struct session_hs), per_loop) ||
	    pool_init(&t->carries, 2 * CARRY_HALF_BYTES, per_loop) ||
	    pool_init(&t->txbufs, TX_BYTES, per_loop * 2 < 8192 ? per_loop * 2 : 8192) ||
	    pool_init(&t->txsmall, TX_SMALL_BYTES, per_loop * 2))
		return -ENOMEM;
	ret = loop_setup_bufring(l, BG_PLAIN, PLAIN_BUFS, BUF_PLAIN_BYTES, 0, BUF_PLAIN_BYTES,
				 session_retry_waiters);
	if (!ret)
		ret = loop_setup_bufring(l, BG_CIPHER, CIPHER_BUFS, BUF_CIPHER_BYTES, 0,
					 BUF_CIPHER_BYTES, session_retry_waiters);
	if (!ret)
		ret = adopt_listeners(l);
	return ret;
}

static void tcp_reconfig(struct loop *l, const struct config *old)
{
	(void)old;
	if (adopt_listeners(l))
		log_error("worker %d: some listeners of the new configuration are missing",
			  l->id);
	sessions_sweep_revoked(l);
}

static void tcp_start(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);
	struct list *n;

	t->running = true;
	t->trim_ms = l->now_ms;
	for (n = t->listeners.next; n != &t->listeners; n = n->next) {
		struct tcp_listener *ls = list_entry(n, struct tcp_listener, node);

		listener_start(l, &ls->ll, ls->ll.fd, on_accept, on_closed);
	}
}

static void tcp_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct session *s;

	if (op == TCP_OP_THROTTLE) {
		throttle_cqe(l, cqe);
		return;
	}
	s = session_lookup(l, ud_slot(cqe->user_data), ud_gen(cqe->user_data));

	if (s)
		session_handle_cqe(l, s, (enum tcp_op)op, cqe);
}

/* Past the shutdown deadline: reset whatever is left. */
static void stop_sessions(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	for (uint32_t i = 0; i < t->sessions.next_new; i++) {
		struct session *s = pool_at(&t->sessions, i);

		if (s->gen & 1)
			session_close(l, s, true, "shutdown deadline");
	}
}

static void tcp_tick(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	if (l->now_ms - t->trim_ms >= POOL_TRIM_MS) {
		/* After a burst, the blocks it used go back to the kernel;
		 * the most recently used stay for the next one. */
		t->trim_ms = l->now_ms;
		pool_trim(&t->txbufs, POOL_TRIM_KEEP);
		pool_trim(&t->txsmall, POOL_TRIM_KEEP);
		pool_trim(&t->carries, POOL_TRIM_KEEP);
	}
	if (l->stopping && l->now_ms >= l->stop_deadline_ms && t->sessions.used)
		stop_sessions(l);
}

static void tcp_stop(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	struct list *n, *next;

	log_info("stopping: %u sessions in flight, deadline %us", t->sessions.used,
		 l->cfg->timeouts.shutdown);
	for (n = t->listeners.next; n != &t->listeners; n = next) {
		next = n->next;
		listener_close(l, &list_entry(n, struct tcp_listener, node)->ll);
	}
	/* Probes being absorbed and idle SOCKS5 handshakes need not finish. */
	for (uint32_t i = 0; i < t->sessions.next_new; i++) {
		struct session *s = pool_at(&t->sessions, i);

		if ((s->gen & 1) && (s->state == SESS_ST_DRAIN || s->state == SESS_ST_HANDSHAKE))
			session_close(l, s, false, "shutdown");
	}
}

static bool tcp_busy(const struct loop *l)
{
	const struct tcp_state *t = tcp_of(l);

	return t->sessions.used || t->n_open;
}

static void log_exit_stats(const struct loop *l, const struct tcp_state *t)
{
	log_info("stopped: accepted %llu, auth failures %llu (replays %llu), pool full %llu, connect "
		 "failures %llu, bytes in->out %llu out->in %llu, cancels by fd %llu",
		 (unsigned long long)t->st.accepted, (unsigned long long)t->st.auth_fail,
		 (unsigned long long)t->st.replays, (unsigned long long)t->st.refused_full,
		 (unsigned long long)t->st.connect_fail, (unsigned long long)t->st.bytes_in_out,
		 (unsigned long long)t->st.bytes_out_in, (unsigned long long)t->st.cancel_fd);
	relay_log_user_bytes(l->cfg, l->id);
}

static void tcp_destroy(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	if (!t)
		return;
	if (t->running)
		log_exit_stats(l, t);
	/* Listeners of a loop that never ran: no CQE can follow. */
	while (!list_empty(&t->listeners)) {
		struct tcp_listener *ls = list_entry(t->listeners.next, struct tcp_listener, node);

		if (ls->ll.fd >= 0)
			close(ls->ll.fd);
		list_del(&ls->node);
		free(ls);
	}
	pool_destroy(&t->sessions);
	pool_destroy(&t->hs);
	pool_destroy(&t->carries);
	pool_destroy(&t->txbufs);
	pool_destroy(&t->txsmall);
	throttle_free(t);
	free(t);
	loop_set_state(l, &tcp_module, NULL);
}

static int tcp_socket(const struct hostport *hp, enum role role, const void *conf)
{
	const struct sockaddr *sa = (const struct sockaddr *)&hp->addr;
	const struct config_outbound *o = relay_outbound_of(role, conf);
	bool tproxy = role == ROLE_TUNNEL &&
		      relay_tunnel_of(role, conf)->redir == REDIR_TPROXY;
	int fd = -EPROTONOSUPPORT;

	if (o->mptcp) {
		fd = listener_socket_proto(sa, hp->addr_len, true, IPPROTO_MPTCP, tproxy);
		if (fd < 0)
			log_warn("mptcp = true, but this kernel refuses an MPTCP listener (%s; "
				 "net.mptcp.enabled?): TCP", strerror(-fd));
	}
	if (fd < 0)
		fd = listener_socket_proto(sa, hp->addr_len, true, 0, tproxy);
	if (fd >= 0 && o->fast_open) {
		int qlen = 256; /* connections waiting in SYN_RECV with data */

		if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)))
			log_warn("TCP Fast Open on a listener: %s", strerror(errno));
	}
	return fd;
}

/* A listening socket per worker for every TCP listener new in cfg. */
static int tcp_prepare(const struct config *old, struct config *cfg)
{
	return relay_prepare_sockets(old, cfg, false, tcp_socket);
}

struct loop_module tcp_module = {
	.name = "tcp",
	.n_ops = TCP_OP_COUNT,
	.prepare = tcp_prepare,
	.init = tcp_init,
	.reconfig = tcp_reconfig,
	.start = tcp_start,
	.cqe = tcp_cqe,
	.tick = tcp_tick,
	.stop = tcp_stop,
	.busy = tcp_busy,
	.destroy = tcp_destroy,
};
