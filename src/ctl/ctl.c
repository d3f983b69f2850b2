/* SPDX-License-Identifier: MIT */
/*
 * ctl — the control loop on the main thread and its own module: a signalfd
 * for SIGINT, SIGTERM and SIGHUP, and an eventfd the workers bump as their
 * loops end. A stop signal stops the control loop, whose stop hook posts a
 * stop message to every worker; the control loop ends once all of them
 * have ended. SIGHUP reloads the configuration (reload.c).
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "ctl/httpd.h"
#include "ctl/notify.h"
#include "ctl/plugin.h"
#include "ctl/privs.h"
#include "ctl_int.h"

struct ctl_stats ctl_stats;

/* Every registered module, in registration order (ctl_main fills it). */
static struct loop_module *all_mods[2 * LOOP_MAX_MODULES];
static unsigned n_all_mods;

struct ctl_state *ctl_of(const struct loop *l)
{
	return loop_state(l, &ctl_module);
}

unsigned ctl_all_modules(struct loop_module **out, unsigned max)
{
	unsigned n = n_all_mods < max ? n_all_mods : max;

	memcpy(out, all_mods, n * sizeof(*out));
	return n;
}

int ctl_prepare(const struct config *old, struct config *cfg)
{
	/* Every pre_prepare first: what they write into cfg (a SIP008
	 * document's server, the plugins' loopback ports) is what the
	 * prepare hooks bind and connect to. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < n_all_mods; i++) {
			int (*hook)(const struct config *, struct config *) =
				pass ? all_mods[i]->prepare : all_mods[i]->pre_prepare;
			int ret = hook ? hook(old, cfg) : 0;

			if (ret)
				return ret;
		}
	}
	return 0;
}

void ctl_status(const struct loop *l, char *buf, size_t len)
{
	const struct config *c = l->cfg;

	snprintf(buf, len, "%zu server(s), %zu local(s), %zu tunnel(s) on %d worker(s); "
		 "configuration generation %llu",
		 c->n_servers, c->n_locals, c->n_tunnels, c->workers,
		 (unsigned long long)c->generation);
}

static sigset_t ctl_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return set;
}

static void arm_signal(struct loop *l)
{
	struct ctl_state *c = ctl_of(l);
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_read(sqe, c->sig_fd, &c->si, sizeof(c->si), 0);
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&ctl_module, CTL_OP_SIGNAL), 0, 0));
}

static void arm_exited(struct loop *l)
{
	struct ctl_state *c = ctl_of(l);
	struct io_uring_sqe *sqe = loop_sqe(l);

	/* An eventfd read waits until a worker writes: io_uring polls it. */
	io_uring_prep_read(sqe, workers_exit_fd(c->workers), &c->exited_val,
			   sizeof(c->exited_val), 0);
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&ctl_module, CTL_OP_EXITED), 0, 0));
}

static void on_signal(struct loop *l, int res)
{
	struct ctl_state *c = ctl_of(l);
	int sig = (int)c->si.ssi_signo;

	if (res != (int)sizeof(c->si)) {
		log_warn("signalfd read: %s", res < 0 ? strerror(-res) : "short read");
		if (res != -EINTR && res != -EAGAIN && res != -ECANCELED)
			return;
	} else if (sig == SIGHUP) {
		if (!l->stopping)
			ctl_reload(l);
	} else if (!l->stopping) {
		log_info("%s received: stopping (up to %us for open sessions)",
			 sig == SIGINT ? "SIGINT" : "SIGTERM", l->cfg->timeouts.shutdown);
		loop_stop(l);
	}
	arm_signal(l);
}

static void on_exited(struct loop *l, int res)
{
	struct ctl_state *c = ctl_of(l);

	if (res == (int)sizeof(c->exited_val))
		c->exited += (int)c->exited_val;
	else if (res != -EINTR && res != -EAGAIN)
		log_warn("workers' exit eventfd: %s", strerror(-res));
	if (c->exited < workers_count(c->workers))
		arm_exited(l);
	/* Workers end only when told to: anything else is a failure. */
	if (!l->stopping) {
		log_error("a worker stopped unexpectedly; stopping the others");
		loop_stop(l);
	}
}

static void ctl_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	switch (op) {
	case CTL_OP_SIGNAL:
		on_signal(l, cqe->res);
		break;
	case CTL_OP_EXITED:
		on_exited(l, cqe->res);
		break;
	default:
		ctl_reload_ack(l, op, cqe);
		break;
	}
}

static int ctl_init(struct loop *l)
{
	struct ctl_state *c = calloc(1, sizeof(*c));
	sigset_t set = ctl_signals();

	if (!c)
		return -ENOMEM;
	loop_set_state(l, &ctl_module, c);
	/* Blocked before any worker exists (they inherit the mask): the
	 * signals reach this loop through the signalfd and nothing else. */
	c->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (c->sig_fd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void ctl_start(struct loop *l)
{
	arm_signal(l);
	arm_exited(l);
}

static void ctl_stop(struct loop *l)
{
	notify_stopping();
	workers_stop(ctl_of(l)->workers, l);
}

static bool ctl_busy(const struct loop *l)
{
	const struct ctl_state *c = ctl_of(l);

	return c->exited < workers_count(c->workers) || c->reloading;
}

static void ctl_reconfig(struct loop *l, const struct config *old)
{
	(void)old;
	if (!ctl_of(l)->opts->log_level_fixed)
		log_set_level(l->cfg->log_level);
}

static void ctl_destroy(struct loop *l)
{
	struct ctl_state *c = ctl_of(l);

	if (!c)
		return;
	if (c->sig_fd >= 0)
		close(c->sig_fd);
	free(c);
	loop_set_state(l, &ctl_module, NULL);
}

struct loop_module ctl_module = {
	.name = "ctl",
	.n_ops = CTL_OP_COUNT,
	.init = ctl_init,
	.start = ctl_start,
	.cqe = ctl_cqe,
	.stop = ctl_stop,
	.busy = ctl_busy,
	.destroy = ctl_destroy,
	.reconfig = ctl_reconfig,
};

/* Every session needs two fds; take what the hard limit allows, say both
 * figures, and warn when the configured limits need more than that. */
static void raise_nofile(const struct config *cfg)
{
	struct rlimit rl;
	unsigned long long was, need;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = was;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	log_info("open files: soft limit %llu (was %llu), hard limit %llu",
		 (unsigned long long)rl.rlim_cur, was, (unsigned long long)rl.rlim_max);
	need = 2ULL * cfg->limits.tcp_sessions + cfg->limits.udp_associations;
	if (need > rl.rlim_cur)
		log_warn("limits.tcp_sessions = %u and limits.udp_associations = %u need up to %llu "
			 "descriptors, RLIMIT_NOFILE is %llu: the descriptor table fills first "
			 "(at about %llu TCP sessions); raise LimitNOFILE or lower the limits",
			 cfg->limits.tcp_sessions, cfg->limits.udp_associations, need,
			 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_cur / 2);
}

/* setup of every module, undone in reverse on failure. */
static int setup_all(const struct config *cfg)
{
	for (unsigned i = 0; i < n_all_mods; i++) {
		int ret = all_mods[i]->setup ? all_mods[i]->setup(cfg) : 0;

		if (ret) {
			while (i-- > 0)
				if (all_mods[i]->teardown)
					all_mods[i]->teardown();
			return ret;
		}
	}
	return 0;
}

static void teardown_all(void)
{
	for (unsigned i = n_all_mods; i-- > 0;)
		if (all_mods[i]->teardown)
			all_mods[i]->teardown();
}

static int add_module(struct loop_module *m)
{
	if (loop_module_register(m) || n_all_mods >= sizeof(all_mods) / sizeof(all_mods[0]))
		return -ENOSPC;
	all_mods[n_all_mods++] = m;
	return 0;
}

/* Start the workers and serve until they have all stopped. */
static int run(struct loop *l, const struct config *cfg)
{
	struct ctl_state *c = ctl_of(l);
	char status[256];

	/* One reference per worker: each loop lets go of its own. */
	c->workers = workers_start(cfg, c->opts->worker_mods, c->opts->n_worker);
	if (!c->workers) {
		log_error("cannot start the workers: out of memory");
		return 1;
	}
	if (workers_failed(c->workers)) {
		workers_stop(c->workers, l);
		workers_join(c->workers);
		c->workers = NULL;
		return 1;
	}
	if (c->opts->on_ready)
		c->opts->on_ready(cfg);
	log_info("ready: %d worker%s", cfg->workers, cfg->workers == 1 ? "" : "s");
	ctl_status(l, status, sizeof(status));
	notify_ready(status);
	loop_run(l);
	workers_join(c->workers);
	c->workers = NULL;
	return 0;
}

int ctl_main(struct config *cfg, const struct ctl_opts *opts)
{
	struct loop_module *ctl_mods[LOOP_MAX_MODULES];
	sigset_t set = ctl_signals();
	unsigned n = 0;
	struct loop l;
	int ret = 1;

	ctl_stats.start_time = time(NULL);
	/* The ctl module first, the HTTP server the others use, then the
	 * control plane's own modules. */
	if (2 + opts->n_ctl > LOOP_MAX_MODULES)
		goto out;
	ctl_mods[n++] = &ctl_module;
	ctl_mods[n++] = &httpd_module;
	for (unsigned i = 0; i < opts->n_ctl; i++)
		ctl_mods[n++] = opts->ctl_mods[i];
	if (loop_module_register(&core_module))
		goto out;
	for (unsigned i = 0; i < opts->n_worker; i++)
		if (add_module(opts->worker_mods[i]))
			goto out;
	for (unsigned i = 0; i < n; i++)
		if (add_module(ctl_mods[i]))
			goto out;
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(cfg);
	if (setup_all(cfg))
		goto out;
	/* Users added through the API (the state file) join their servers. */
	{
		char err[CONFIG_ERR_BYTES];

		if (ctl_overlay(NULL, cfg, err, sizeof(err))) {
			log_error("%s", err);
			teardown_all();
			goto out;
		}
	}
	/* The listening sockets are made here, before privileges go. */
	if (ctl_prepare(NULL, cfg)) {
		teardown_all();
		goto out;
	}
	ret = loop_init(&l, LOOP_ID_CTL, cfg, ctl_mods, n);
	cfg = NULL; /* the loop holds it now */
	if (ret == 0) {
		ctl_of(&l)->opts = opts;
		/* Listeners are bound (above); nothing is spawned before the drop,
		 * so no plugin runs with the privileges ssring started with. */
		ret = privs_drop(l.cfg) || plugin_launch(&l) ? 1 : run(&l, l.cfg);
	} else {
		ret = 1;
	}
	loop_destroy(&l);
	teardown_all();
out:
	config_unref(cfg);
	return ret;
}
