/* SPDX-License-Identifier: MIT */
#include "core/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

struct worker {
	pthread_t thread;
	bool started;
	int id;
	int init_ret;
	struct workers *group;
	struct loop loop;
};

struct workers {
	const struct config *cfg;
	struct loop_module *const *mods;
	unsigned n_mods;
	int n;
	int exit_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ready;
	struct worker *w;
};

/* Every worker's ring fd, for messages between loops (one group per process). */
static _Atomic int *ring_fds;
static int n_ring_fds;

int worker_ring_fd(int id)
{
	if (id < 0 || id >= n_ring_fds)
		return -1;
	return atomic_load_explicit(&ring_fds[id], memory_order_acquire);
}

static void report_ready(struct worker *w, int ret)
{
	struct workers *g = w->group;

	pthread_mutex_lock(&g->mu);
	w->init_ret = ret;
	g->ready++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct workers *g = w->group;
	uint64_t one = 1;
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "w%d", w->id);
	log_set_thread_name(name);
	/* The ring is created here: SINGLE_ISSUER binds it to this thread. */
	ret = loop_init(&w->loop, w->id, g->cfg, g->mods, g->n_mods);
	if (ret == 0)
		atomic_store_explicit(&ring_fds[w->id], w->loop.ring.ring_fd,
				      memory_order_release);
	report_ready(w, ret);
	if (ret == 0) {
		if (w->id == 0)
			log_info("io_uring mode: %s", w->loop.setup_mode);
		loop_run(&w->loop);
	}
	atomic_store_explicit(&ring_fds[w->id], -1, memory_order_release);
	loop_destroy(&w->loop);
	if (write(g->exit_fd, &one, sizeof(one)) < 0)
		log_warn("cannot report the end of worker %d: %s", w->id, strerror(errno));
	return NULL;
}

struct workers *workers_start(const struct config *cfg, struct loop_module *const *mods,
			      unsigned n_mods)
{
	struct workers *g = calloc(1, sizeof(*g));
	int n = cfg->workers;

	if (!g)
		return NULL;
	g->w = calloc((size_t)n, sizeof(*g->w));
	ring_fds = calloc((size_t)n, sizeof(*ring_fds));
	g->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!g->w || !ring_fds || g->exit_fd < 0) {
		if (g->exit_fd >= 0)
			close(g->exit_fd);
		free(g->w);
		free((void *)ring_fds);
		ring_fds = NULL;
		free(g);
		return NULL;
	}
	n_ring_fds = n;
	for (int i = 0; i < n; i++)
		atomic_store(&ring_fds[i], -1);
	g->cfg = cfg;
	g->mods = mods;
	g->n_mods = n_mods;
	g->n = n;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	for (int i = 0; i < n; i++) {
		struct worker *w = &g->w[i];

		w->id = i;
		w->group = g;
		config_ref(cfg); /* the worker's loop takes it over */
		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			config_unref(cfg);
			log_error("cannot start worker %d: %s", i, strerror(errno));
			/* Counts as a worker that failed and has ended. */
			w->init_ret = -EAGAIN;
			pthread_mutex_lock(&g->mu);
			g->ready++;
			pthread_mutex_unlock(&g->mu);
			uint64_t one = 1;

			if (write(g->exit_fd, &one, sizeof(one)) < 0)
				log_warn("eventfd: %s", strerror(errno));
			continue;
		}
		w->started = true;
	}
	pthread_mutex_lock(&g->mu);
	while (g->ready < n)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return g;
}

bool workers_failed(const struct workers *g)
{
	for (int i = 0; i < g->n; i++)
		if (g->w[i].init_ret)
			return true;
	return false;
}

int workers_count(const struct workers *g)
{
	return g->n;
}

int workers_exit_fd(const struct workers *g)
{
	return g->exit_fd;
}

void workers_stop(struct workers *g, struct loop *l)
{
	uint64_t stop = ud_pack(loop_tag(&core_module, CORE_OP_STOP), 0, 0);
	uint64_t self = ud_pack(loop_tag(&core_module, CORE_OP_POSTED), 0, 0);

	for (int i = 0; i < g->n; i++) {
		int fd = worker_ring_fd(i);

		if (fd >= 0)
			loop_post(l, fd, stop, 0, self);
	}
	io_uring_submit(&l->ring);
}

void workers_join(struct workers *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n; i++)
		if (g->w[i].started)
			pthread_join(g->w[i].thread, NULL);
	close(g->exit_fd);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	n_ring_fds = 0;
	free((void *)ring_fds);
	ring_fds = NULL;
	free(g->w);
	free(g);
}
