/* SPDX-License-Identifier: MIT */
/*
 * ctl — the control plane: the main thread runs a loop of its own (the
 * same loop code as the workers, see core/loop.h) for everything that is
 * not relaying: signals, starting and stopping the workers, and the
 * low-rate listeners, child processes and file writes to come. Modules
 * register there exactly as on a worker; nothing on the control loop is
 * ever run by a worker, and the control loop never touches a worker's
 * sessions: it talks to workers by message.
 */
#ifndef SSRING_CTL_H
#define SSRING_CTL_H

#include "conf/config.h"
#include "core/loop.h"

/*
 * Run the process until SIGINT/SIGTERM: register every module, run their
 * process-wide setup, start cfg->workers workers with worker_mods, call
 * on_ready once all are up, then run the control loop (with ctl_mods
 * besides its own) until every worker has stopped. Returns the exit code:
 * 0 after a clean stop, 1 when something could not start.
 */
int ctl_main(const struct config *cfg, struct loop_module *const *worker_mods, unsigned n_worker,
	     struct loop_module *const *ctl_mods, unsigned n_ctl,
	     void (*on_ready)(const struct config *cfg));

/* The control loop's own module: signals and the workers' lifecycle. */
extern struct loop_module ctl_module;

#endif
