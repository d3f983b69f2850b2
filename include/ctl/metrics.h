/* SPDX-License-Identifier: MIT */
/*
 * metrics — the Prometheus endpoint (metrics = { listen = "..."; }):
 * GET /metrics answers the text exposition format, summed over the
 * workers' counters at scrape time; anything else is 404. With
 * metrics.token, only requests that carry it (401 otherwise): the figures
 * name users and upstream addresses. It runs on the
 * control loop; the workers only count (relay/stats.h, dns/dns.h).
 */
#ifndef SSRING_METRICS_H
#define SSRING_METRICS_H

#include <stddef.h>

#include "core/loop.h"
#include "ctl/httpd.h"

extern struct loop_module metrics_module;

/* The endpoint's request handler (an httpd_handler), for tests without sockets. */
void metrics_handle(struct loop *l, void *arg, const struct httpd_req *req,
		    struct httpd_resp *resp);
/* Its listener's bounds: 16 connections, 4 per address, 8 KiB of head, no body, 10 s. */
extern const struct httpd_limits metrics_limits;

/* The exposition text of this moment (malloc'ed, NUL-terminated), or NULL. */
char *metrics_render(const struct loop *l, size_t *len);

#endif
