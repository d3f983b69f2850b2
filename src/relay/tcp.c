/* SPDX-License-Identifier: MIT */
/*
 * tcp — the TCP relay's module: per worker, one listener per TCP role
 * (SO_REUSEPORT), the session and block pools, the stop and its deadline;
 * process-wide, the salt memories every worker shares.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/replay.h"
#include "relay/session.h"

/* Each group holds 8 MiB of receive buffers per worker. */
#define PLAIN_BUFS ((8u << 20) / BUF_PLAIN_BYTES)
#define CIPHER_BUFS ((8u << 20) / BUF_CIPHER_BYTES)

static void on_accept(struct loop *l, struct loop_listener *ll, int fd)
{
	const struct tcp_listener *ls = (const struct tcp_listener *)ll;
	struct session *s = session_new(l, ls, fd);

	if (s && ls->role == ROLE_SERVER)
		server_session_start(l, s);
	else if (s)
		local_session_start(l, s);
}

static void on_closed(struct loop *l, struct loop_listener *ll)
{
	(void)ll;
	tcp_of(l)->n_open--;
}

static int add_listener(struct tcp_state *t, enum role role, const void *conf,
			const struct hostport *hp)
{
	struct tcp_listener *ls = &t->listeners[t->n_listeners];
	int fd = listener_socket((const struct sockaddr *)&hp->addr, hp->addr_len, true);

	if (fd < 0)
		return fd;
	ls->role = role;
	ls->conf = conf;
	ls->ll.fd = fd;
	t->n_listeners++;
	return 0;
}

static int open_listeners(struct tcp_state *t, const struct config *c)
{
	int ret = 0;

	t->listeners = calloc(c->n_servers + c->n_locals + c->n_tunnels + 1, sizeof(*t->listeners));
	if (!t->listeners)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < c->n_servers; i++)
		ret = add_listener(t, ROLE_SERVER, &c->servers[i], &c->servers[i].listen);
	for (size_t i = 0; !ret && i < c->n_locals; i++)
		ret = add_listener(t, ROLE_LOCAL, &c->locals[i], &c->locals[i].listen);
	for (size_t i = 0; !ret && i < c->n_tunnels; i++)
		if (c->tunnels[i].tcp)
			ret = add_listener(t, ROLE_TUNNEL, &c->tunnels[i], &c->tunnels[i].listen);
	return ret;
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
	per_loop = (cfg->limits.tcp_sessions + (uint32_t)cfg->workers - 1) / (uint32_t)cfg->workers;
	if (pool_init(&t->sessions, sizeof(struct session), per_loop) ||
	    pool_init(&t->hs, sizeof(struct session_hs), per_loop) ||
	    pool_init(&t->carries, 2 * CARRY_HALF_BYTES, per_loop) ||
	    pool_init(&t->txbufs, TX_BYTES, per_loop * 2 < 8192 ? per_loop * 2 : 8192))
		return -ENOMEM;
	ret = loop_setup_bufring(l, BG_PLAIN, PLAIN_BUFS, BUF_PLAIN_BYTES, 0, BUF_PLAIN_BYTES,
				 session_retry_waiters);
	if (!ret)
		ret = loop_setup_bufring(l, BG_CIPHER, CIPHER_BUFS, BUF_CIPHER_BYTES, 0,
					 BUF_CIPHER_BYTES, session_retry_waiters);
	if (!ret)
		ret = open_listeners(t, cfg);
	return ret;
}

static void tcp_start(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	t->running = true;
	t->trim_ms = l->now_ms;
	for (unsigned i = 0; i < t->n_listeners; i++) {
		struct tcp_listener *ls = &t->listeners[i];

		listener_start(l, &ls->ll, ls->ll.fd, on_accept, on_closed);
		t->n_open++;
	}
}

static void tcp_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct session *s = session_lookup(l, ud_slot(cqe->user_data), ud_gen(cqe->user_data));

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
		pool_trim(&t->carries, POOL_TRIM_KEEP);
	}
	if (l->stopping && l->now_ms >= l->stop_deadline_ms && t->sessions.used)
		stop_sessions(l);
}

static void tcp_stop(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	log_info("stopping: %u sessions in flight, deadline %us", t->sessions.used,
		 l->cfg->timeouts.shutdown);
	for (unsigned i = 0; i < t->n_listeners; i++)
		if (t->listeners[i].ll.fd >= 0)
			listener_close(l, &t->listeners[i].ll);
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
		 "failures %llu, bytes in->out %llu out->in %llu",
		 (unsigned long long)t->st.accepted, (unsigned long long)t->st.auth_fail,
		 (unsigned long long)t->st.replays, (unsigned long long)t->st.refused_full,
		 (unsigned long long)t->st.connect_fail, (unsigned long long)t->st.bytes_in_out,
		 (unsigned long long)t->st.bytes_out_in);
	relay_log_user_bytes(l->cfg, t->user_bytes, "");
}

static void tcp_destroy(struct loop *l)
{
	struct tcp_state *t = tcp_of(l);

	if (!t)
		return;
	if (t->running)
		log_exit_stats(l, t);
	/* Listeners still open (a loop that never ran): no CQE can follow. */
	for (unsigned i = 0; t->listeners && i < t->n_listeners; i++)
		if (t->listeners[i].ll.fd >= 0 && !t->listeners[i].ll.armed)
			close(t->listeners[i].ll.fd);
	pool_destroy(&t->sessions);
	pool_destroy(&t->hs);
	pool_destroy(&t->carries);
	pool_destroy(&t->txbufs);
	free(t->listeners);
	free(t);
	loop_set_state(l, &tcp_module, NULL);
}

/* The salt memories every worker shares (SO_REUSEPORT may send a replay to
 * any worker). */
static int tcp_setup(const struct config *cfg)
{
	if (cfg->n_servers) {
		relay_shared.replay = replay_new(REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_FP);
		if (!relay_shared.replay) {
			log_error("cannot allocate the salt replay filter");
			return -ENOMEM;
		}
		log_info("salt replay filter: %u salts, false-positive rate %g, %zu KiB",
			 REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_FP,
			 replay_bytes(relay_shared.replay) / 1024);
	}
	if (relay_uses_2022(cfg)) {
		relay_shared.replay2022 = replay2022_new(REPLAY2022_DEFAULT_CAPACITY);
		if (!relay_shared.replay2022) {
			log_error("cannot allocate the 2022 salt set");
			return -ENOMEM;
		}
		log_info("2022 salt memory: %u salts per 60 s, %zu KiB",
			 REPLAY2022_DEFAULT_CAPACITY,
			 replay2022_bytes(relay_shared.replay2022) / 1024);
	}
	return 0;
}

static void tcp_teardown(void)
{
	replay_free(relay_shared.replay);
	replay2022_free(relay_shared.replay2022);
	relay_shared.replay = NULL;
	relay_shared.replay2022 = NULL;
}

struct loop_module tcp_module = {
	.name = "tcp",
	.n_ops = TCP_OP_COUNT,
	.setup = tcp_setup,
	.teardown = tcp_teardown,
	.init = tcp_init,
	.start = tcp_start,
	.cqe = tcp_cqe,
	.tick = tcp_tick,
	.stop = tcp_stop,
	.busy = tcp_busy,
	.destroy = tcp_destroy,
};
