/* SPDX-License-Identifier: MIT */
/*
 * api — the Shadowsocks Server Management API v1 on the control loop, and
 * the state file that keeps what it changed (users added through it, and
 * every user's quota usage) across reloads and restarts.
 *
 * Every server with a name is managed under /<name>/ (docs/api.md). A
 * change makes a new configuration snapshot, exactly as a reload does: the
 * current one cloned (user sets shared), the server's users rebuilt, the
 * snapshot prepared and handed to the workers. Users added through the API
 * are the "overlay": kept here, written to the state file, and put into
 * the named servers of every snapshot the file makes (at start, on reload).
 * A user in the configuration file wins over an API user of the same name.
 *
 * Who may ask: with a token, its holder; over TCP a token is required (the
 * configuration refuses one without). Nothing a web page in a browser on
 * the host can send is acted on: its Host must be an IP literal, localhost
 * or an api.allowed_hosts name (DNS rebinding), an Origin must pass the
 * same rule, and a body must be application/json (no CORS preflight is
 * ever answered).
 */
#ifndef SSRING_API_H
#define SSRING_API_H

#include <stdint.h>

#include "core/loop.h"
#include "ctl/httpd.h"

struct api_stats {
	uint64_t requests;      /* answered */
	uint64_t unauthorized;  /* 401: no or a wrong token */
	uint64_t forbidden;     /* 403/415/421: Host, Origin or Content-Type refused */
	uint64_t changes;       /* users added, changed or deleted */
	uint64_t state_writes;
	uint64_t state_errors;  /* the state file could not be written */
};
extern struct api_stats api_stats;

extern struct loop_module api_module;

/*
 * What a change does once the new snapshot is built: prepare and publish
 * it (NULL: the control loop's own, as a reload does), and save the state
 * file; a test without workers gives its own. publish takes cfg's
 * reference (dropped on failure): 0 or -ENOMEM.
 */
struct api_ops {
	int (*prepare)(const struct config *old, struct config *cfg);
	int (*publish)(struct loop *l, struct config *cfg);
	int (*save)(const struct config *cfg);
};

/*
 * The API's request handler (an httpd_handler; arg: const struct api_ops *).
 * The module serves it; tests and fuzz_httpd call it through
 * httpd_consider() with requests made of bytes.
 */
void api_handle(struct loop *l, void *arg, const struct httpd_req *req, struct httpd_resp *resp);
/* Its listener's bounds: 32 connections, 8 per address, 8 KiB of head, 64 KiB of body, 10 s. */
extern const struct httpd_limits api_limits;

#endif
