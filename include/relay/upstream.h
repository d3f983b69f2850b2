/* SPDX-License-Identifier: MIT */
/*
 * upstream — choosing among a local's or tunnel's several servers
 * (upstreams = (...)). Health is what connections see: a connect that fails
 * (refused, unreachable, timed out, a name that does not resolve) takes the
 * server out for upstream_retry seconds, doubling while it keeps failing (at
 * most 64 times); once that time is over the next connection tries it again,
 * and one that gets through brings it back. Latency is the time from the
 * connect to the first byte of the answer, smoothed (1/8 per sample). A new
 * connection picks among the servers that are in, at random with weights
 * 1/latency (a server not measured yet counts as fast, so each is tried);
 * when all are out, the one due back first. A connection whose connect
 * fails moves on to another server before it gives up; UDP associations
 * keep the server they started with. Health is shared by the workers
 * (atomics, no lock), per configuration snapshot; a new snapshot (a reload,
 * a servers_url document) starts with what the previous one knew of the
 * servers the same entry (same role and listen address) still has, by
 * host and port.
 */
#ifndef SSRING_UPSTREAM_H
#define SSRING_UPSTREAM_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/loop.h"

struct upstream_health {
	_Atomic uint64_t down_until_ms; /* out until then (CLOCK_MONOTONIC ms); 0 = in */
	_Atomic uint32_t streak;        /* failures in a row */
	_Atomic uint32_t latency_us;    /* smoothed time to the first answer byte; 0 = none yet */
	_Atomic uint64_t failures;      /* counted (metrics) */
	_Atomic uint64_t picks;
	_Atomic uint64_t checks_ok;     /* upstream_check results (upcheck.c) */
	_Atomic uint64_t checks_failed;
};

/* The health array of every local and tunnel with upstreams in cfg (main
 * thread, when a snapshot is prepared after old, which may be NULL; the
 * endpoint ids of cfg are assigned). 0 or -ENOMEM. */
int upstream_prepare(const struct config *old, struct config *cfg);
/*
 * An upstream for a new connection: its index, never one in tried (a bit
 * per index). -1 when every one was tried. n >= 1.
 */
int upstream_pick(const struct config_rt *rt, size_t n, uint32_t tried, uint64_t now_ms);
void upstream_failed(const struct config_rt *rt, int i, uint32_t retry_s, uint64_t now_ms);
/* A connect to upstream i got through: it is in. */
void upstream_connected(const struct config_rt *rt, int i);
/* The first answer byte came latency_us after the connect began. */
void upstream_answered(const struct config_rt *rt, int i, uint64_t latency_us);
/* Is upstream i in (not taken out) now? */
bool upstream_up(const struct config_rt *rt, int i, uint64_t now_ms);
uint64_t upstream_now_ms(void);
/*
 * The active check (upstream_check, relay/upcheck.c): a module on worker
 * 0's loop that asks each upstream of its current snapshot, every interval
 * seconds ±50 % (each upstream on its own draw), for a real relayed
 * request. A failed check is a failed connect (upstream_failed), a good
 * one a connect and an answer (upstream_connected, upstream_answered).
 * With a check, connections no longer call upstream_connected: a black
 * hole accepts connects too, so only a check brings a server back early.
 */
extern struct loop_module upcheck_module;
/* The wait before a check: interval_s ±50 % (r: a random draw), in ms. */
uint64_t upstream_check_delay_ms(uint32_t interval_s, uint64_t r);

#endif
