/* SPDX-License-Identifier: MIT */
/*
 * log — leveled one-line-per-event logging to stderr. Each line is built in a
 * stack buffer and written with one write(2), so lines from several workers
 * never interleave. No per-packet logs above debug. Under systemd (stderr is
 * the journal) lines carry a <priority> prefix instead of a timestamp.
 * log_format = "json" makes each line one JSON object (time, level, worker,
 * event, msg and the fields the message's format names: proto/logfmt.h),
 * after the same prefix under systemd.
 */
#ifndef SSRING_LOG_H
#define SSRING_LOG_H

#include "conf/config.h"

void log_set_level(enum log_level l);
/* Journal mode when stderr is the stream $JOURNAL_STREAM names. Call once at start. */
void log_detect_journal(void);
enum log_level log_get_level(void);
/* Text or JSON lines. Call once at start, before any other thread logs. */
void log_set_format(enum log_format f);
/* Name the calling thread in its lines ("main", "w0", "w1", ...). */
void log_set_thread_name(const char *name);
void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                     \
	do {                                                                               \
		if (log_get_level() >= LOG_LEVEL_DEBUG)                                    \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                             \
	} while (0)

#endif
