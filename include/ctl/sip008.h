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

#include "core/loop.h"

/*
 * Its pre_prepare hook puts the newest good document's first usable server
 * into every snapshot's entries that name its URL; register it before
 * plugin_module, whose pre_prepare picks the ports of the plugins those
 * servers may bring.
 */
extern struct loop_module sip008_module;

struct sip008_stats {
	uint64_t fetch_ok, fetch_failed, changes;
};
/* Sums over every servers_url. */
void sip008_get_stats(struct sip008_stats *out);

#endif
