/* SPDX-License-Identifier: MIT */
/*
 * metrics — the Prometheus endpoint (metrics = { listen = "..."; }):
 * GET /metrics answers the text exposition format, summed over the
 * workers' counters at scrape time; anything else is 404. It runs on the
 * control loop; the workers only count (relay/stats.h, dns/dns.h).
 */
#ifndef SSRING_METRICS_H
#define SSRING_METRICS_H

#include <stddef.h>

#include "core/loop.h"

extern struct loop_module metrics_module;

/* The exposition text of this moment (malloc'ed, NUL-terminated), or NULL. */
char *metrics_render(const struct loop *l, size_t *len);

#endif
