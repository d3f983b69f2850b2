/* SPDX-License-Identifier: MIT */
/*
 * privs — run as the configured user once the listeners are bound. The
 * process keeps CAP_NET_BIND_SERVICE (effective, permitted, inheritable and
 * ambient), so a reload can still bind a port below 1024 and a plugin it
 * starts inherits the same right; it keeps nothing else.
 */
#ifndef SSRING_PRIVS_H
#define SSRING_PRIVS_H

#include "conf/config.h"

/*
 * Drop to cfg->user/group (nothing to do without user; then a warning if
 * root serves a non-loopback address). Call on the main thread before any
 * other thread exists. 0 or -errno (logged).
 */
int privs_drop(const struct config *cfg);

#endif
