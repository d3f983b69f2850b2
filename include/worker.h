/* SPDX-License-Identifier: MIT */
/*
 * worker — start N worker threads (each builds its own ring, see loop.h),
 * wait for SIGINT/SIGTERM on the main thread, and stop them gracefully.
 */
#ifndef SSRING_WORKER_H
#define SSRING_WORKER_H

#include "config.h"

/* Run every role in cfg until a stop signal. Returns a process exit code. */
int worker_run_all(const struct config *cfg);

#endif
