/* SPDX-License-Identifier: MIT */
/*
 * plugin — SIP003 plugins as child processes of the control loop.
 *
 * A server with `plugin`: the plugin listens on the server's `listen`
 * address (TCP) and forwards to ssring's TCP listener, which moves to a
 * loopback port picked here (SS_REMOTE_*); UDP stays on `listen`. A local
 * or tunnel with `plugin`: its TCP goes to the plugin's loopback port
 * (SS_LOCAL_*), which forwards to the server (SS_REMOTE_*); UDP goes to the
 * server directly. Plugins are direct children of the control loop, each
 * its own process group with a parent-death signal, started only once
 * privileges are dropped (plugin_launch), restarted with back-off when
 * they die, stopped (the group: SIGTERM, then SIGKILL) when a reload or an
 * API change drops them and after the workers have ended on shutdown.
 */
#ifndef SSRING_PLUGIN_H
#define SSRING_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/loop.h"

extern struct loop_module plugin_module;

/*
 * Start the first plugins of the control loop's snapshot and wait (up to
 * 10 s, on this thread) until each listens. The module's init starts none:
 * this is called after the privilege drop, before the workers serve, so
 * that no plugin ever runs with ssring's start-up privileges. 0, or -errno
 * when one cannot be started or ends at once (logged).
 */
int plugin_launch(struct loop *l);

struct plugin_info {
	char cmd[CONFIG_PLUGIN_MAX];
	char listen[64];       /* the entry's listen address */
	const char *role;      /* "server", "local", "tunnel" */
	char upstream[272];    /* the upstream (host:port) it serves, or "" */
	int pid;               /* 0: not running (waiting to restart) */
	uint64_t starts;       /* restarts are starts - 1 */
	uint64_t exits;        /* times it died while wanted */
};

/* The plugins of this moment, up to max; returns how many there are. */
size_t plugin_list(struct plugin_info *out, size_t max);

#endif
