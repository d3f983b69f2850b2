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
 */
#ifndef SSRING_API_H
#define SSRING_API_H

#include <stdint.h>

#include "core/loop.h"

struct api_stats {
	uint64_t requests;      /* answered */
	uint64_t unauthorized;  /* 401: no or a wrong token */
	uint64_t changes;       /* users added, changed or deleted */
	uint64_t state_writes;
	uint64_t state_errors;  /* the state file could not be written */
};
extern struct api_stats api_stats;

extern struct loop_module api_module;

#endif
