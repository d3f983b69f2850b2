/* SPDX-License-Identifier: MIT */
/*
 * ctl_int — the control loop's state, shared by ctl.c (signals, workers,
 * startup) and reload.c (SIGHUP).
 */
#ifndef SSRING_CTL_INT_H
#define SSRING_CTL_INT_H

#include <signal.h>
#include <sys/signalfd.h>

#include "core/worker.h"
#include "ctl/ctl.h"

enum ctl_op {
	CTL_OP_SIGNAL = 0, /* read on the signalfd */
	CTL_OP_EXITED,     /* read on the workers' exit eventfd */
	CTL_OP_ACK,        /* a worker took a new snapshot (ptr = its publication) */
	CTL_OP_POSTED,     /* our message to a worker (ptr = publication): failed if res < 0 */
	CTL_OP_COUNT
};

struct ctl_state {
	const struct ctl_opts *opts;
	int sig_fd;
	struct signalfd_siginfo si;
	uint64_t exited_val;
	int exited;          /* workers whose loop has ended */
	struct workers *workers;
	/* reload (reload.c) */
	bool reloading;      /* a snapshot is out; acknowledgements pending */
	bool reload_again;   /* SIGHUP while reloading: once more afterwards */
};

struct ctl_state *ctl_of(const struct loop *l);
/* Every module of the process in registration order, for prepare hooks. */
unsigned ctl_all_modules(struct loop_module **out, unsigned max);
/* Run every module's pre_prepare, then every prepare, for cfg (old = the
 * current one, or NULL at start). */
int ctl_prepare(const struct config *old, struct config *cfg);
/* "N listeners, generation G": the STATUS line for systemd. */
void ctl_status(const struct loop *l, char *buf, size_t len);

/* reload.c */
void ctl_reload(struct loop *l);
void ctl_reload_ack(struct loop *l, unsigned op, const struct io_uring_cqe *cqe);
/*
 * Hand cfg (prepared; its generation set; the caller's reference) to every
 * worker and make it the control loop's current snapshot. reload: a SIGHUP
 * reload (reloading until the acknowledgements are in; READY and the
 * reload count follow them). 0, or -ENOMEM (cfg dropped, nothing changed).
 */
int ctl_publish(struct loop *l, struct config *cfg, bool reload);

/* What a change adds to ctl_commit's steps; every member may be 0/NULL. */
struct ctl_change {
	/* After the generation is set, before any module prepares cfg: the
	 * change itself. 0, or -errno with err set (nothing is published). */
	int (*edit)(struct config *cfg, void *arg, char *err, size_t err_len);
	/* cfg is prepared and no worker has it yet: what a worker adopting it
	 * must already see (the API's revocations name its generation). */
	void (*ready)(const struct config *cfg, void *arg);
	void *arg;
	bool reload;            /* a SIGHUP reload (ctl_publish) */
	/* The control loop's ctl_prepare and ctl_publish when NULL; a test
	 * without workers or control loop gives its own (struct api_ops). */
	int (*prepare)(const struct config *old, struct config *cfg);
	int (*publish)(struct loop *l, struct config *cfg);
};

/*
 * The one way to the next configuration generation, for a reload, an API
 * change and a SIP008 document: cfg (the caller's reference; NULL: a clone
 * of the current snapshot, config_clone) gets the current generation + 1,
 * ch's edit, every module's pre_prepare and prepare, ch's ready, and is
 * published. ch may be NULL. 0; or -errno with err set, cfg dropped (with
 * whatever prepare made) and nothing changed: -ENOMEM, the edit's error,
 * or -EIO when a module could not prepare it (logged).
 */
int ctl_commit(struct loop *l, struct config *cfg, const struct ctl_change *ch, char *err,
	       size_t err_len);

/*
 * safefile.c: replace path with data atomically: a fresh PATH.tmp (an old
 * one, or a link planted there, is removed first; created O_EXCL |
 * O_NOFOLLOW, mode 0600 whatever the umask), fsync, keep the old file as
 * PATH.prev if asked, rename, fsync the folder. 0 or -errno.
 */
int ctl_replace_file(const char *path, const void *data, size_t len, bool keep_prev);

/* api.c: put the API's users into cfg's named servers (at start and on reload). */
int ctl_overlay(struct loop *l, struct config *cfg, char *err, size_t err_len);

#endif
