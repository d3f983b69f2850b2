/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for logfmt, which writes what clients send (a SOCKS5
 * user name, a target name) into JSON log lines. Besides "no crash", it
 * checks what the escaping promises: whatever the bytes and the room, the
 * output is valid JSON string content (util_json_string_ok), no byte past
 * the room is written, and with room for every escape all of the input is
 * taken; valid UTF-8 decodes back to itself; output cut short for room is
 * a prefix of the whole. The same bytes as a format: an event name of
 * [a-z0-9_] only, and conversions in order inside the format.
 */
#include "proto/logfmt.h"

#include <stdlib.h>
#include <string.h>

#include "../util.h"

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	o[0] = (uint8_t)(0xe0 | cp >> 12);
	o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	o[2] = (uint8_t)(0x80 | (cp & 0x3f));
	return 3;
}

/* JSON string content (checked already) back to bytes; returns the length. */
static size_t decode(const char *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		if (s[i] != '\\') {
			out[o++] = (uint8_t)s[i++];
			continue;
		}
		switch (s[i + 1]) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			char hex[5];

			memcpy(hex, s + i + 2, 4);
			hex[4] = '\0';
			o += put_utf8(out + o, (uint32_t)strtoul(hex, NULL, 16));
			i += 6;
			continue;
		}
		default: out[o++] = (uint8_t)s[i + 1]; break;
		}
		i += 2;
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[6 * 512 + 16], whole[6 * 512 + 16];
	static uint8_t back[6 * 512];
	struct logfmt_conv c[LOGFMT_CONV_MAX];
	char ev[LOGFMT_EVENT_MAX], *fmt;
	size_t cap, pos = 0, all = 0, used;
	const char *s;
	int n;

	if (size < 2 || size > 513)
		return 0;
	s = (const char *)data + 1;
	size--;
	cap = (size_t)data[0] * 13 % (6 * size + 8);
	memset(out, 0x55, sizeof(out));
	used = logfmt_json_escape(out, cap, &pos, s, size);
	UTIL_CHECK(used <= size && pos <= cap && (size_t)out[cap] == 0x55);
	UTIL_CHECK(util_json_string_ok(out, pos));
	UTIL_CHECK(logfmt_json_escape(whole, sizeof(whole), &all, s, size) == size);
	UTIL_CHECK(util_json_string_ok(whole, all));
	UTIL_CHECK(pos <= all && !memcmp(out, whole, pos));
	if (cap >= 6 * size)
		UTIL_CHECK(used == size && pos == all);
	if (!memmem(whole, all, "\\ufffd", 6)) {
		/* no byte was replaced: the input decodes back to itself */
		size_t m = decode(whole, all, back);

		UTIL_CHECK(m == size && !memcmp(back, s, size));
	}

	fmt = malloc(size + 1);
	if (!fmt)
		abort();
	memcpy(fmt, s, size);
	fmt[size] = '\0';
	logfmt_event(fmt, ev);
	UTIL_CHECK(ev[0] && strlen(ev) < LOGFMT_EVENT_MAX &&
		   strspn(ev, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(ev));
	n = logfmt_parse(fmt, c, LOGFMT_CONV_MAX);
	UTIL_CHECK(n >= -1 && n <= LOGFMT_CONV_MAX);
	for (int i = 0; i < n; i++) {
		UTIL_CHECK(fmt[c[i].start] == '%' && c[i].end > c[i].start + 1);
		UTIL_CHECK(c[i].end - c[i].start < LOGFMT_SPEC_MAX && c[i].end <= strlen(fmt));
		UTIL_CHECK(!i || c[i].start >= c[i - 1].end);
		UTIL_CHECK(c[i].conv == fmt[c[i].end - 1]);
		UTIL_CHECK(!c[i].joined || (i + 1 < n && c[i].conv == 's'));
	}
	free(fmt);
	return 0;
}
