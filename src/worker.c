/* SPDX-License-Identifier: MIT */
#include "worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "replay.h"
#include "udp_owner.h"

struct worker {
	pthread_t thread;
	int id;
	int stop_fd;
	int init_ret;
	const struct config *cfg;
	struct replay_filter *replay;
	struct replay2022 *replay2022;
	struct udp_owners *owners;
	_Atomic int *ring_fds;
	struct loop loop;
};

static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
static int ready_count;

static void report_ready(struct worker *w, int ret)
{
	pthread_mutex_lock(&ready_mu);
	w->init_ret = ret;
	ready_count++;
	pthread_cond_broadcast(&ready_cv);
	pthread_mutex_unlock(&ready_mu);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "w%d", w->id);
	log_set_thread_name(name);
	/* The ring is created here: SINGLE_ISSUER binds it to this thread. */
	ret = loop_init(&w->loop, w->id, w->cfg, w->stop_fd, w->replay, w->replay2022);
	if (ret == 0) {
		/* Shared hand-over state: set before this ring receives anything. */
		w->loop.owners = w->owners;
		w->loop.ring_fds = w->ring_fds;
		atomic_store(&w->ring_fds[w->id], w->loop.ring.ring_fd);
	}
	report_ready(w, ret);
	if (ret == 0) {
		if (w->id == 0)
			log_info("io_uring mode: %s", w->loop.setup_mode);
		loop_run(&w->loop);
	}
	loop_destroy(&w->loop);
	return NULL;
}

/* Does any role speak the 2022 edition (and so need its salt memory)? */
static bool uses_2022(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_servers; i++)
		if (cfg->servers[i].cipher.m2022)
			return true;
	for (size_t i = 0; i < cfg->n_locals; i++)
		if (cfg->locals[i].cipher.m2022)
			return true;
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		if (cfg->tunnels[i].cipher.m2022)
			return true;
	return false;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	/* Every session needs two fds; take what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void stop_all(struct worker *ws, int n)
{
	uint64_t one = 1;

	for (int i = 0; i < n; i++)
		if (write(ws[i].stop_fd, &one, sizeof(one)) < 0)
			log_warn("cannot signal worker %d: %s", i, strerror(errno));
}

static void log_roles(const struct config *cfg)
{
	char a[80];

	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct config_server *s = &cfg->servers[i];

		log_info("server listening on %s (tcp), method %s%s",
			 hostport_format_addr((const struct sockaddr *)&s->listen.addr, a,
					      sizeof(a)),
			 s->cipher.m2022 ? s->cipher.m2022->name : s->cipher.method->name,
			 s->allow_private ? ", private targets allowed" : "");
	}
	for (size_t i = 0; i < cfg->n_locals; i++)
		log_info("local (SOCKS5 + HTTP proxy) listening on %s -> server %s:%u, method %s",
			 hostport_format_addr((const struct sockaddr *)&cfg->locals[i].listen.addr,
					      a, sizeof(a)),
			 cfg->locals[i].server.host, cfg->locals[i].server.port,
			 cfg->locals[i].cipher.m2022 ? cfg->locals[i].cipher.m2022->name
						     : cfg->locals[i].cipher.method->name);
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		log_info("tunnel listening on %s -> %s:%u via server %s:%u",
			 hostport_format_addr((const struct sockaddr *)&cfg->tunnels[i].listen.addr,
					      a, sizeof(a)),
			 cfg->tunnels[i].forward.host, cfg->tunnels[i].forward.port,
			 cfg->tunnels[i].server.host, cfg->tunnels[i].server.port);
}

int worker_run_all(const struct config *cfg)
{
	int n = cfg->workers, sig, failed = 0;
	char a[80];
	struct worker *ws = calloc((size_t)n, sizeof(*ws));
	sigset_t set;

	struct replay_filter *replay = NULL;
	struct replay2022 *replay2022 = NULL;
	struct udp_owners *owners = udp_owners_new(4096);
	_Atomic int *ring_fds = calloc((size_t)n, sizeof(*ring_fds));

	if (!ws || !owners || !ring_fds)
		return 1;
	for (int i = 0; i < n; i++)
		atomic_store(&ring_fds[i], -1);
	if (cfg->n_servers) {
		replay = replay_new(REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_FP);
		if (!replay) {
			log_error("cannot allocate the salt replay filter");
			free(ws);
			return 1;
		}
		log_info("salt replay filter: %u salts, false-positive rate %g, %zu KiB",
			 REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_FP, replay_bytes(replay) / 1024);
	}
	if (uses_2022(cfg)) {
		replay2022 = replay2022_new(REPLAY2022_DEFAULT_CAPACITY);
		if (!replay2022) {
			log_error("cannot allocate the 2022 salt set");
			free(ws);
			return 1;
		}
		log_info("2022 salt memory: %u salts per 60 s, %zu KiB",
			 REPLAY2022_DEFAULT_CAPACITY, replay2022_bytes(replay2022) / 1024);
	}
	raise_nofile();
	/* Signals go to this thread only (sigwait below); workers never see them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < n; i++) {
		ws[i].id = i;
		ws[i].cfg = cfg;
		ws[i].replay = replay;
		ws[i].replay2022 = replay2022;
		ws[i].owners = owners;
		ws[i].ring_fds = ring_fds;
		ws[i].stop_fd = eventfd(0, EFD_CLOEXEC);
		if (ws[i].stop_fd < 0 || pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) {
			log_error("cannot start worker %d: %s", i, strerror(errno));
			return 1;
		}
	}
	pthread_mutex_lock(&ready_mu);
	while (ready_count < n)
		pthread_cond_wait(&ready_cv, &ready_mu);
	pthread_mutex_unlock(&ready_mu);
	for (int i = 0; i < n; i++)
		failed |= ws[i].init_ret != 0;
	if (!failed) {
		log_roles(cfg);
		log_info("ready: %d worker%s", n, n == 1 ? "" : "s");
		if (cfg->n_locals) {
			hostport_format_addr((const struct sockaddr *)&cfg->locals[0].listen.addr, a,
					     sizeof(a));
			log_info("try: curl --socks5 %s http://IP:PORT/  or  curl -x http://%s "
				 "http://IP:PORT/", a, a);
		}
		sigwait(&set, &sig);
		log_info("%s received: stopping (up to %us for open sessions)",
			 sig == SIGINT ? "SIGINT" : "SIGTERM", cfg->timeouts.shutdown);
	}
	stop_all(ws, n);
	for (int i = 0; i < n; i++) {
		pthread_join(ws[i].thread, NULL);
		close(ws[i].stop_fd);
	}
	free(ws);
	replay_free(replay);
	replay2022_free(replay2022);
	udp_owners_free(owners);
	free((void *)ring_fds);
	return failed ? 1 : 0;
}
