/* SPDX-License-Identifier: MIT */
/*
 * logfmt — the pieces of a JSON log line (log_format = "json", core/log.c):
 * text made safe inside a JSON string, and what a message's printf format
 * says about it: its event name and which of its values become fields of
 * their own. Bytes in, bytes out; the line itself is put together by the
 * log, which alone holds the message's arguments.
 */
#ifndef SSRING_LOGFMT_H
#define SSRING_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGFMT_EVENT_MAX 48 /* an event name's bytes, with its NUL */
#define LOGFMT_CONV_MAX 24  /* conversions of a format that can be walked */
#define LOGFMT_SPEC_MAX 16  /* bytes of one conversion spec, '%' included */

/*
 * Append s (len bytes) to dst (cap bytes, *pos of them used) as the inside
 * of a JSON string: '"' and '\' escaped; control characters and DEL as \b
 * \f \n \r \t or \u00XX; U+2028 and U+2029 as \u2028 and \u2029 (line ends
 * to JavaScript); valid UTF-8 as it is; and each byte that is no part of a
 * valid UTF-8 sequence (a stray continuation byte, an overlong form, a
 * surrogate, past U+10FFFF, a sequence cut short) as \ufffd. Never writes
 * part of an escape or of a character: it stops before the first one that
 * does not fit. Returns how many bytes of s it consumed (len if all).
 */
size_t logfmt_json_escape(char *dst, size_t cap, size_t *pos, const char *s, size_t len);

/*
 * The event name of a message, from its format: the first three words of
 * its fixed text, in lower case, joined by '_'. Words are runs of letters,
 * digits and '_'; values (conversions, "%m" too) and text in parentheses
 * are skipped; ": ", ';', ", " or "->" ends the name early once it has two
 * words. "auth failure from %s: %s (%llu so far)" is "auth_failure_from",
 * "session %u: closing (%s)%s" is "session_closing". A format without a
 * word ("%s") is "message". out holds LOGFMT_EVENT_MAX bytes.
 */
void logfmt_event(const char *fmt, char *out);

/* What va_arg takes for a conversion. */
enum logfmt_arg {
	LOGFMT_INT,     /* int, or unsigned for o u x X; also c and the hh/h sizes */
	LOGFMT_LONG,    /* l */
	LOGFMT_LLONG,   /* ll */
	LOGFMT_SIZE,    /* z: size_t (ssize_t for d i) */
	LOGFMT_DOUBLE,  /* a A e E f F g G */
	LOGFMT_LDOUBLE, /* L with those */
	LOGFMT_STR,     /* s */
	LOGFMT_PTR      /* p */
};

struct logfmt_conv {
	uint16_t start, end;   /* the spec in fmt: its '%' .. past its conversion character */
	char conv;             /* d i o u x X c s p a A e E f F g G */
	uint8_t arg;           /* enum logfmt_arg */
	bool is_signed;        /* d i: read the signed type */
	bool star_width;       /* an int argument for the width comes first */
	bool star_prec;        /* then one for the precision */
	bool plain;            /* no flag, width or precision: "%d", "%llu" */
	bool joined;           /* "%s:%u": the next value is this one's port */
	const char *name;      /* the field the value becomes, or NULL */
};

/*
 * Walk a printf format: its conversions in order ("%%" is none), with what
 * each takes from the arguments, and the fields of the JSON line. A value
 * becomes a field after one of these words of the fixed text right before
 * it (followed by a space or '\'', or by nothing): for a string (%s), from
 * -> peer, user -> user, target and to -> target, upstream -> upstream,
 * server -> server, on -> listen, plugin -> plugin, servers_url -> url; for
 * an integer (%d %i %u), session -> session, pid -> pid, generation ->
 * generation. A string value is the reason in
 * "(%s)" or "(%s;", and in ": %s" at the end of the format or followed by
 * " (" or ';'. A value followed at once by another (a
 * "%s%s" run) is no field, except a "%s:%u" pair: one "host:port" field.
 * A name the format gave already is not given again.
 * Returns the number of conversions, or -1 for a format it cannot walk
 * (%n, %m, %lc, %ls, %j, %t, positional arguments, a spec longer than
 * LOGFMT_SPEC_MAX, more than max conversions, a spec cut short).
 */
int logfmt_parse(const char *fmt, struct logfmt_conv *c, int max);

#endif
