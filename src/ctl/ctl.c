/* SPDX-License-Identifier: MIT */
/*
 * ctl — the control loop on the main thread and its own module: a signalfd
 * for SIGINT, SIGTERM and SIGHUP, and an eventfd the workers bump as their
 * loops end. A stop signal stops the control loop, whose stop hook posts a
 * stop message to every worker; the control loop ends once all of them
 * have ended.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"

enum ctl_op {
	CTL_OP_SIGNAL = 0, /* read on the signalfd */
	CTL_OP_EXITED,     /* read on the workers' exit eventfd */
	CTL_OP_COUNT
};

struct ctl_state {
	int sig_fd;
	struct signalfd_siginfo si;
	uint64_t exited_val;
	int exited;          /* workers whose loop has ended */
	struct workers *workers;
};

static struct ctl_state *ctl_of(const struct loop *l)
{
	return loop_state(l, &ctl_module);
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

	/* An eventfd read blocks until a worker writes: io_uring polls it. */
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
		log_warn("SIGHUP received: this version cannot reload its configuration; "
			 "restart to apply changes");
	} else if (!l->stopping) {
		log_info("%s received: stopping (up to %us for open sessions)",
			 sig == SIGINT ? "SIGINT" : "SIGTERM", l->cfg->timeouts.shutdown);
		loop_stop(l);
	}
	arm_signal(l);
}

static void ctl_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct ctl_state *c = ctl_of(l);

	if (op == CTL_OP_SIGNAL) {
		on_signal(l, cqe->res);
		return;
	}
	if (cqe->res == (int)sizeof(c->exited_val))
		c->exited += (int)c->exited_val;
	else if (cqe->res != -EINTR && cqe->res != -EAGAIN)
		log_warn("workers' exit eventfd: %s", strerror(-cqe->res));
	if (c->exited < workers_count(c->workers))
		arm_exited(l);
	/* Workers end only when told to: anything else is a failure. */
	if (!l->stopping) {
		log_error("a worker stopped unexpectedly; stopping the others");
		loop_stop(l);
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
	workers_stop(ctl_of(l)->workers, l);
}

static bool ctl_busy(const struct loop *l)
{
	const struct ctl_state *c = ctl_of(l);

	return c->exited < workers_count(c->workers);
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
};

static void raise_nofile(void)
{
	struct rlimit rl;

	/* Every session needs two fds; take what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* setup of mods[0 .. n), undone in reverse on failure. */
static int setup_all(const struct config *cfg, struct loop_module *const *mods, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int ret = mods[i]->setup ? mods[i]->setup(cfg) : 0;

		if (ret) {
			while (i-- > 0)
				if (mods[i]->teardown)
					mods[i]->teardown();
			return ret;
		}
	}
	return 0;
}

static void teardown_all(struct loop_module *const *mods, unsigned n)
{
	for (unsigned i = n; i-- > 0;)
		if (mods[i]->teardown)
			mods[i]->teardown();
}

static int run(struct loop *l, const struct config *cfg, struct loop_module *const *worker_mods,
	       unsigned n_worker, void (*on_ready)(const struct config *cfg))
{
	struct ctl_state *c = ctl_of(l);

	c->workers = workers_start(cfg, worker_mods, n_worker);
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
	if (on_ready)
		on_ready(cfg);
	log_info("ready: %d worker%s", cfg->workers, cfg->workers == 1 ? "" : "s");
	loop_run(l);
	workers_join(c->workers);
	c->workers = NULL;
	return 0;
}

int ctl_main(const struct config *cfg, struct loop_module *const *worker_mods, unsigned n_worker,
	     struct loop_module *const *ctl_mods, unsigned n_ctl,
	     void (*on_ready)(const struct config *cfg))
{
	struct loop_module *mods[LOOP_MAX_MODULES];
	sigset_t set = ctl_signals();
	unsigned n = 0;
	struct loop l;
	int ret;

	/* The ctl module first, then the control plane's own modules. */
	if (1 + n_ctl > LOOP_MAX_MODULES)
		return 1;
	mods[n++] = &ctl_module;
	for (unsigned i = 0; i < n_ctl; i++)
		mods[n++] = ctl_mods[i];
	if (loop_module_register(&core_module))
		return 1;
	for (unsigned i = 0; i < n; i++)
		if (loop_module_register(mods[i]))
			return 1;
	for (unsigned i = 0; i < n_worker; i++)
		if (loop_module_register(worker_mods[i]))
			return 1;
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (setup_all(cfg, worker_mods, n_worker))
		return 1;
	if (setup_all(cfg, mods, n)) {
		teardown_all(worker_mods, n_worker);
		return 1;
	}
	ret = loop_init(&l, LOOP_ID_CTL, cfg, mods, n);
	ret = ret ? 1 : run(&l, cfg, worker_mods, n_worker, on_ready);
	loop_destroy(&l);
	teardown_all(mods, n);
	teardown_all(worker_mods, n_worker);
	return ret;
}
