/* SPDX-License-Identifier: MIT */
/*
 * ctl — the control plane: the main thread runs a loop of its own (the
 * same loop code as the workers, see core/loop.h) for everything that is
 * not relaying: signals, configuration reload, starting and stopping the
 * workers, the metrics and API listeners, SIP003 plugin processes, SIP008
 * fetches and the state file. Modules register there exactly as on a worker; nothing on the
 * control loop is ever run by a worker, and the control loop never touches
 * a worker's sessions: it talks to workers by message.
 */
#ifndef SSRING_CTL_H
#define SSRING_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "conf/config.h"
#include "core/loop.h"

struct ctl_opts {
	const char *config_path;  /* re-read on SIGHUP */
	bool log_level_fixed;     /* -v or -q: the file's log_level is not applied */
	struct loop_module *const *worker_mods;
	unsigned n_worker;
	struct loop_module *const *ctl_mods; /* besides the control loop's own */
	unsigned n_ctl;
	void (*on_ready)(const struct config *cfg);
};

/*
 * Run the process until SIGINT/SIGTERM: register every module, run their
 * process-wide setup and prepare, bind what needs binding, drop privileges,
 * start cfg->workers workers, call on_ready once all are up, then run the
 * control loop (reloading on SIGHUP) until every worker has stopped. cfg
 * (a heap snapshot, config_new_file) is handed over. Returns the exit code:
 * 0 after a clean stop, 1 when something could not start.
 */
int ctl_main(struct config *cfg, const struct ctl_opts *opts);

/* What the control plane counts (main thread only). */
struct ctl_stats {
	uint64_t reloads_ok;
	uint64_t reloads_error;
	time_t start_time;
};
extern struct ctl_stats ctl_stats;

/* The control loop's own module: signals, reloads and the workers' lifecycle. */
extern struct loop_module ctl_module;

#endif
