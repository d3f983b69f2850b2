/* SPDX-License-Identifier: MIT */
/*
 * plugin_int — how plugin.c (supervision) starts and signals a plugin
 * process (plugin_proc.c).
 */
#ifndef SSRING_PLUGIN_INT_H
#define SSRING_PLUGIN_INT_H

#include <stddef.h>
#include <sys/types.h>

/* What a plugin is started with: its command and the SIP003 variables. */
struct plugin_exec {
	const char *cmd;          /* a path, or a name looked up in PATH */
	const char *local_host, *local_port;
	const char *remote_host, *remote_port;
	const char *opts;         /* SS_PLUGIN_OPTIONS */
};

/* cmd as an executable path (through PATH when it names no '/'). 0 or -errno. */
int plugin_resolve(const char *cmd, char *path, size_t len);

/*
 * Start a plugin as a direct child of this thread: its own session and
 * process group (its pid), the parent-death signal SIGKILL, a controlling
 * terminal whose master end *tty is (-1: none could be made; close it once
 * the plugin is reaped), stdin /dev/null, no fd above 2, no blocked or
 * ignored signal, and only the environment documented in plugin_proc.c.
 * The pid, or -errno (nothing is left running then).
 */
pid_t plugin_spawn(const struct plugin_exec *x, int *tty);

#endif
