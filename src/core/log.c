/* SPDX-License-Identifier: MIT */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "proto/logfmt.h"

static _Atomic int log_level = LOG_LEVEL_INFO;
static _Thread_local char thread_name[16] = "main";
/* stderr is systemd's journal: a <N> prefix (and in text, no timestamp: it has its own). */
static bool journal;
/* Set once at start, before any worker thread exists (log_format needs a restart). */
static enum log_format log_format = LOG_FORMAT_TEXT;
/* syslog priorities of enum log_level (sd-daemon(3): err, warning, info, debug). */
static const int level_prio[] = { 3, 4, 6, 7 };

#define LOG_MSG_BYTES 1024
/* A JSON line: the message escaped (at most 6 bytes for each of its bytes) and its fields. */
#define LOG_JSON_BYTES 8192
#define LOG_VALUE_BYTES 256

void log_detect_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* JOURNAL_STREAM=dev:ino names the stream systemd connected; it counts
	 * only if stderr is still that stream (not redirected since). */
	journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
		  fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
		  (unsigned long long)st.st_ino == ino;
}

static const char *const level_tag[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level l)
{
	atomic_store_explicit(&log_level, (int)l, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void log_set_format(enum log_format f)
{
	log_format = f;
}

void log_set_thread_name(const char *name)
{
	snprintf(thread_name, sizeof(thread_name), "%s", name);
}

static void write_line(const char *line, size_t n)
{
	/* One write per line; a failed log write has nowhere to be reported. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* "2024-05-01T12:00:00.123Z" */
static void format_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000);
}

/* A JSON line being put together; cap leaves room for its "}\n". */
struct jline {
	char b[LOG_JSON_BYTES];
	size_t cap, pos;
};

static bool j_raw(struct jline *j, const char *s, size_t n)
{
	if (n > j->cap - j->pos)
		return false;
	memcpy(j->b + j->pos, s, n);
	j->pos += n;
	return true;
}

/*
 * ,"key":"value" (or a bare number): whole or not at all, so that a line
 * that runs out of room still parses. cut: the value may be cut short
 * instead (the message; a character or an escape is never split).
 */
static void j_field(struct jline *j, const char *key, const char *v, size_t n, bool number,
		    bool cut)
{
	size_t start = j->pos, cap = j->cap;
	bool ok;

	ok = (j->b[j->pos - 1] == '{' || j_raw(j, ",", 1)) && j_raw(j, "\"", 1) &&
	     j_raw(j, key, strlen(key)) && j_raw(j, "\":", 2);
	if (ok && number) {
		ok = j_raw(j, v, n);
	} else if (ok && j_raw(j, "\"", 1)) {
		j->cap--; /* the closing quote always fits */
		ok = logfmt_json_escape(j->b, j->cap, &j->pos, v, n) == n || cut;
		j->cap = cap;
		ok = ok && j_raw(j, "\"", 1);
	} else {
		ok = false;
	}
	if (!ok)
		j->pos = start;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/*
 * The text of one value of the message: its own spec of fmt, applied to
 * the next arguments (the compiler checked them against fmt: log.h).
 */
static int format_value(char *buf, size_t len, const char *fmt, const struct logfmt_conv *c,
			va_list *ap)
{
	char spec[LOGFMT_SPEC_MAX];
	int w = 0, p = 0;

	memcpy(spec, fmt + c->start, (size_t)(c->end - c->start));
	spec[c->end - c->start] = '\0';
	if (c->star_width)
		w = va_arg(*ap, int);
	if (c->star_prec)
		p = va_arg(*ap, int);
#define PUT(type)                                                                          \
	do {                                                                               \
		type v_ = va_arg(*ap, type);                                               \
		return c->star_width && c->star_prec ? snprintf(buf, len, spec, w, p, v_) \
		       : c->star_width		     ? snprintf(buf, len, spec, w, v_)    \
		       : c->star_prec		     ? snprintf(buf, len, spec, p, v_)    \
						     : snprintf(buf, len, spec, v_);      \
	} while (0)
	switch (c->arg) {
	case LOGFMT_INT:
		if (c->is_signed)
			PUT(int);
		PUT(unsigned int);
	case LOGFMT_LONG:
		if (c->is_signed)
			PUT(long);
		PUT(unsigned long);
	case LOGFMT_LLONG:
		if (c->is_signed)
			PUT(long long);
		PUT(unsigned long long);
	case LOGFMT_SIZE:
		if (c->is_signed)
			PUT(ssize_t);
		PUT(size_t);
	case LOGFMT_DOUBLE:
		PUT(double);
	case LOGFMT_LDOUBLE:
		PUT(long double);
	case LOGFMT_STR:
		PUT(const char *);
	default:
		PUT(void *);
	}
#undef PUT
}
#pragma GCC diagnostic pop

/*
 * {"time":...,"level":...,"worker":...,"event":...,"msg":..., fields}:
 * the fields are the values fmt names (proto/logfmt.h), taken from ap
 * again, one conversion at a time.
 */
static void json_line(enum log_level l, const char *fmt, const char *msg, size_t msg_len,
		      va_list *ap)
{
	struct logfmt_conv c[LOGFMT_CONV_MAX];
	char when[64], event[LOGFMT_EVENT_MAX], v[LOG_VALUE_BYTES];
	struct jline j = { .cap = LOG_JSON_BYTES - 2 };
	int n = logfmt_parse(fmt, c, LOGFMT_CONV_MAX);

	if (journal)
		j.pos = (size_t)snprintf(j.b, sizeof(j.b), "<%d>", level_prio[l]);
	j_raw(&j, "{", 1);
	format_time(when, sizeof(when));
	logfmt_event(fmt, event);
	j_field(&j, "time", when, strlen(when), false, false);
	j_field(&j, "level", level_tag[l], strlen(level_tag[l]), false, false);
	j_field(&j, "worker", thread_name, strlen(thread_name), false, false);
	j_field(&j, "event", event, strlen(event), false, false);
	j_field(&j, "msg", msg, msg_len, false, true);
	for (int i = 0; i < n; i++) {
		const struct logfmt_conv *k = &c[i];
		int len = format_value(v, sizeof(v), fmt, k, ap);

		len = len < 0 ? 0 : len >= (int)sizeof(v) ? (int)sizeof(v) - 1 : len;
		if (k->joined) { /* "host:port": the port is the next value */
			char port[32];
			int pl = format_value(port, sizeof(port), fmt, &c[++i], ap);

			pl = pl < 0 ? 0 : pl >= (int)sizeof(port) ? (int)sizeof(port) - 1 : pl;
			if ((size_t)len + 1 + (size_t)pl < sizeof(v)) {
				v[len] = ':';
				memcpy(v + len + 1, port, (size_t)pl);
				len += 1 + pl;
			}
		}
		if (k->name)
			j_field(&j, k->name, v, (size_t)len,
				k->plain && !k->joined && strchr("diu", k->conv), false);
	}
	j.cap += 2;
	j_raw(&j, "}\n", 2);
	write_line(j.b, j.pos);
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	char line[LOG_MSG_BYTES], when[64];
	va_list ap, again;
	int n = 0, m;

	if ((int)l > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	if (log_format == LOG_FORMAT_TEXT && journal) {
		n = snprintf(line, sizeof(line), "<%d>%s [%s] ", level_prio[l], level_tag[l],
			     thread_name);
	} else if (log_format == LOG_FORMAT_TEXT) {
		format_time(when, sizeof(when));
		n = snprintf(line, sizeof(line), "%s %-5s [%s] ", when, level_tag[l], thread_name);
	}
	va_start(ap, fmt);
	va_copy(again, ap);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (log_format == LOG_FORMAT_JSON) {
		json_line(l, fmt, line, (size_t)n, &again);
	} else {
		line[n++] = '\n';
		write_line(line, (size_t)n);
	}
	va_end(again);
}
