/* SPDX-License-Identifier: MIT */
/*
 * config — the configuration model itself: defaults, names, release. No
 * libconfig here (parse*.c reads the file into this model).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include "conf/config.h"

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
	}
	for (i = 0; i < cfg->n_locals; i++) {
		struct config_local *lc = &cfg->locals[i];

		wipe_cipher(&lc->cipher);
		if (lc->users)
			explicit_bzero(lc->users, lc->n_users * sizeof(*lc->users));
		free(lc->users);
	}
	for (i = 0; i < cfg->n_tunnels; i++)
		wipe_cipher(&cfg->tunnels[i].cipher);
	free(cfg->servers);
	free(cfg->locals);
	free(cfg->tunnels);
	memset(cfg, 0, sizeof(*cfg));
}

const char *config_log_level_name(enum log_level l)
{
	if ((unsigned int)l < sizeof(config_log_level_names) / sizeof(config_log_level_names[0]) - 1)
		return config_log_level_names[l];
	return "unknown";
}
