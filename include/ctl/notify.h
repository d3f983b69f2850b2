/* SPDX-License-Identifier: MIT */
/*
 * notify — systemd's readiness protocol (sd_notify(3)): one datagram of
 * "KEY=value" lines to the unix socket named by $NOTIFY_SOCKET. Written
 * here rather than linking libsystemd: the protocol is one sendto, and the
 * package then needs no libsystemd at all. Without NOTIFY_SOCKET every call
 * does nothing.
 */
#ifndef SSRING_NOTIFY_H
#define SSRING_NOTIFY_H

#include <stdbool.h>

/* Send msg ("READY=1\nSTATUS=..."); false if it could not be sent. */
bool notify_send(const char *msg);
/* READY=1 and a one-line STATUS. */
void notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC=now, as Type=notify-reload expects. */
void notify_reloading(void);
void notify_stopping(void);

#endif
