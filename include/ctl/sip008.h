/* SPDX-License-Identifier: MIT */
/*
 * sip008 (control plane) — keeps the servers_url of locals and tunnels
 * current: fetched at start and every `refresh` seconds (https through
 * ctl/fetch.h, or a file read), validated, applied like a reload (a new
 * snapshot; open sessions stay on theirs), the last good copy written to
 * servers_cache. A failed fetch keeps what is in use and is logged.
 */
#ifndef SSRING_CTL_SIP008_H
#define SSRING_CTL_SIP008_H

#include <stdint.h>

#include "conf/config.h"
#include "core/loop.h"

extern struct loop_module sip008_module;

/*
 * Put the newest good document's first usable server into every entry of
 * cfg that names its URL (before the plugins' ports are picked). Entries
 * whose URL has no document yet keep what the loader gave them.
 */
void sip008_fill(struct config *cfg);

struct sip008_stats {
	uint64_t fetch_ok, fetch_failed, changes;
};
/* Sums over every servers_url. */
void sip008_get_stats(struct sip008_stats *out);

#endif
