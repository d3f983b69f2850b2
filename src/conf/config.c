/* SPDX-License-Identifier: MIT */
/*
 * config — the configuration model itself: defaults, names, release. No
 * libconfig here (parse*.c reads the file into this model).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include "conf/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const config_log_level_names[] = { "error", "warn", "info", "debug", NULL };

void config_defaults(struct config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = cpus < 1 ? 1 : cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (int)cpus;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->limits.tcp_sessions = 65536;
	cfg->limits.udp_associations = 16384;
	cfg->timeouts.connect = 10;
	cfg->timeouts.handshake = 10;
	cfg->timeouts.tcp_idle = 300;
	cfg->timeouts.udp_idle = 300;
	cfg->timeouts.shutdown = 5;
	cfg->dns.cache_entries = 4096;
	cfg->dns.prefer = DNS_PREFER_IPV4;
}

static void free_rt(struct config_rt *rt, int workers)
{
	for (int w = 0; w < workers; w++) {
		if (rt->tcp_fds && rt->tcp_fds[w] >= 0)
			close(rt->tcp_fds[w]);
		if (rt->udp_fds && rt->udp_fds[w] >= 0)
			close(rt->udp_fds[w]);
	}
	free(rt->tcp_fds);
	free(rt->udp_fds);
	free(rt->uids);
	memset(rt, 0, sizeof(*rt));
}

static void wipe_cipher(struct config_cipher *c)
{
	explicit_bzero(c->key, sizeof(c->key));
	explicit_bzero(&c->keys2022, sizeof(c->keys2022));
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_servers; i++) {
		struct config_server *sv = &cfg->servers[i];

		wipe_cipher(&sv->cipher);
		for (size_t u = 0; u < sv->n_users2022; u++)
			free((char *)sv->users2022[u].name);
		if (sv->users2022)
			explicit_bzero(sv->users2022, sv->n_users2022 * sizeof(*sv->users2022));
		free(sv->users2022);
		explicit_bzero(&sv->srv2022, sizeof(sv->srv2022));
		free_rt(&sv->rt, cfg->workers);
	}
	for (i = 0; i < cfg->n_locals; i++) {
		struct config_local *lc = &cfg->locals[i];

		wipe_cipher(&lc->cipher);
		if (lc->users)
			explicit_bzero(lc->users, lc->n_users * sizeof(*lc->users));
		free(lc->users);
		free_rt(&lc->rt, cfg->workers);
	}
	for (i = 0; i < cfg->n_tunnels; i++) {
		wipe_cipher(&cfg->tunnels[i].cipher);
		free_rt(&cfg->tunnels[i].rt, cfg->workers);
	}
	free(cfg->servers);
	free(cfg->locals);
	free(cfg->tunnels);
	memset(cfg, 0, sizeof(*cfg));
}

struct config *config_new_file(const char *path, char *err, size_t err_len, int *ret)
{
	struct config *cfg = malloc(sizeof(*cfg));
	int r;

	if (!cfg) {
		snprintf(err, err_len, "%s: out of memory", path);
		r = -ENOMEM;
	} else {
		r = config_load_file(path, cfg, err, err_len);
	}
	if (ret)
		*ret = r;
	if (r) {
		free(cfg);
		return NULL;
	}
	cfg->generation = 1;
	atomic_init(&cfg->refs, 1);
	return cfg;
}

void config_ref(const struct config *cfg)
{
	struct config *c = (struct config *)cfg;

	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void config_unref(const struct config *cfg)
{
	struct config *c = (struct config *)cfg;

	if (!c)
		return;
	/* acq_rel: whoever frees it sees every other holder's last use. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
		config_free(c);
		free(c);
	}
}

bool config_same_listen(const struct hostport *a, const struct hostport *b)
{
	return a->addr_len == b->addr_len && !memcmp(&a->addr, &b->addr, a->addr_len);
}

const char *config_log_level_name(enum log_level l)
{
	if ((unsigned int)l < sizeof(config_log_level_names) / sizeof(config_log_level_names[0]) - 1)
		return config_log_level_names[l];
	return "unknown";
}
