/* SPDX-License-Identifier: MIT */
/*
 * worker — the data-plane threads: each runs one loop (see loop.h) with the
 * same set of modules. The main thread starts them, asks them to stop with
 * a message on their rings, and joins them; it never touches their state.
 */
#ifndef SSRING_WORKER_H
#define SSRING_WORKER_H

#include "conf/config.h"
#include "core/loop.h"

struct workers;

/*
 * Start cfg->workers threads, each running a loop with mods (registered
 * already), and wait until every one has finished its init. Signals must be
 * blocked by the caller first: the threads inherit the mask. Returns the
 * group (its status in workers_failed()), or NULL without memory.
 */
struct workers *workers_start(const struct config *cfg, struct loop_module *const *mods,
			      unsigned n_mods);
/* Did some worker fail its init? */
bool workers_failed(const struct workers *w);
int workers_count(const struct workers *w);
/* Ask every running worker to stop gracefully: a message posted from loop l. */
void workers_stop(struct workers *w, struct loop *l);
/* An eventfd whose counter grows by one as each worker's loop ends. */
int workers_exit_fd(const struct workers *w);
/* Join every thread and free the group. */
void workers_join(struct workers *w);

/* The ring fd of worker id, for messages between loops; -1 if it is not running. */
int worker_ring_fd(int id);

#endif
