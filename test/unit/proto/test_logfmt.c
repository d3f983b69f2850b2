/* SPDX-License-Identifier: MIT */
/*
 * logfmt: JSON escaping (quotes, backslashes, control characters, DEL,
 * U+2028/9, valid UTF-8 kept, each byte of invalid UTF-8 as \ufffd, never a
 * split escape or character when room runs out, random bytes always give
 * valid JSON string content), event names and fields of the tree's real
 * log formats, and the formats the walk refuses.
 */
#include "check.h"
#include "proto/logfmt.h"
#include "util.h"

static const char *esc(const char *s, size_t n, size_t cap, size_t *consumed)
{
	static char out[1024];
	size_t pos = 0;

	*consumed = logfmt_json_escape(out, cap, &pos, s, n);
	CHECK(pos <= cap && pos < sizeof(out));
	out[pos] = '\0';
	return out;
}

static void expect(const char *in, size_t n, const char *want)
{
	size_t used;
	const char *got = esc(in, n, 1000, &used);

	if (strcmp(got, want) || used != n) {
		fprintf(stderr, "escape of %zu bytes: got '%s' (%zu used), want '%s'\n", n, got,
			used, want);
		exit(1);
	}
	CHECK(util_json_string_ok(got, strlen(got)));
}

#define EXPECT(lit, want) expect(lit, sizeof(lit) - 1, want)

static void test_escape(void)
{
	EXPECT("plain text 127.0.0.1:80", "plain text 127.0.0.1:80");
	EXPECT("a\"b\\c/d", "a\\\"b\\\\c/d");
	EXPECT("\b\f\n\r\t", "\\b\\f\\n\\r\\t");
	EXPECT("\x01\x1f\x7f", "\\u0001\\u001f\\u007f");
	EXPECT("nul\0byte", "nul\\u0000byte");
	EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	EXPECT("\xe2\x80\xa8|\xe2\x80\xa9", "\\u2028|\\u2029");
	/* invalid UTF-8: each byte that starts no valid sequence */
	EXPECT("\x80", "\\ufffd");                        /* a stray continuation byte */
	EXPECT("\xff\xfe", "\\ufffd\\ufffd");              /* never in UTF-8 */
	EXPECT("\xc0\xaf", "\\ufffd\\ufffd");              /* overlong '/' */
	EXPECT("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");   /* overlong, 3 bytes */
	EXPECT("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");   /* a surrogate, U+D800 */
	EXPECT("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"); /* past U+10FFFF */
	EXPECT("a\xe2\x82", "a\\ufffd\\ufffd");            /* cut short at the end */
	EXPECT("\xe2\x82z", "\\ufffd\\ufffdz");            /* cut short by ASCII */
	EXPECT("\xed\x9f\xbf", "\xed\x9f\xbf");            /* U+D7FF, just below */
	EXPECT("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");    /* U+10FFFF, the last */
}

/* Out of room: it stops before an escape or a character that does not fit. */
static void test_room(void)
{
	size_t used;

	CHECK(!strcmp(esc("ab\"c", 4, 3, &used), "ab") && used == 2);
	CHECK(!strcmp(esc("ab\"c", 4, 4, &used), "ab\\\"") && used == 3);
	CHECK(!strcmp(esc("a\x01", 2, 6, &used), "a") && used == 1);
	CHECK(!strcmp(esc("a\xe2\x82\xac", 4, 3, &used), "a") && used == 1);
	CHECK(!strcmp(esc("a\xe2\x82\xac", 4, 4, &used), "a\xe2\x82\xac") && used == 4);
	CHECK(!strcmp(esc("a\xff", 2, 6, &used), "a") && used == 1);
	CHECK(!strcmp(esc("xyz", 3, 0, &used), "") && used == 0);
	{
		char out[8];
		size_t pos = 9; /* past cap: nothing is written */

		CHECK(logfmt_json_escape(out, 8, &pos, "a", 1) == 0 && pos == 9);
	}
}

/* Random bytes, weighted towards the interesting ones, at random room. */
static void test_random(void)
{
	static const unsigned char pick[] = { '"', '\\', 0, 0x1f, 0x7f, 0x80, 0xbf, 0xc2,
					      0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xff, 'a' };
	unsigned char in[64];
	char out[512];

	for (int round = 0; round < 200000; round++) {
		size_t n = rnd() % sizeof(in), cap = rnd() % sizeof(out), pos = 0, used, again;

		for (size_t i = 0; i < n; i++)
			in[i] = rnd() & 1 ? pick[rnd() % sizeof(pick)] : (unsigned char)rnd();
		used = logfmt_json_escape(out, cap, &pos, (const char *)in, n);
		CHECK(used <= n && pos <= cap);
		CHECK(util_json_string_ok(out, pos));
		if (cap >= 6 * n)
			CHECK(used == n);
		/* the rest continues where it stopped, as if there had been room */
		if (used < n) {
			size_t pos2 = pos;

			again = logfmt_json_escape(out, sizeof(out), &pos2, (const char *)in + used,
						   n - used);
			CHECK(again == n - used && util_json_string_ok(out, pos2));
		}
	}
}

static void event_is(const char *fmt, const char *want)
{
	char ev[LOGFMT_EVENT_MAX];

	logfmt_event(fmt, ev);
	if (strcmp(ev, want)) {
		fprintf(stderr, "event of '%s': '%s', want '%s'\n", fmt, ev, want);
		exit(1);
	}
}

static void test_event(void)
{
	event_is("auth failure from %s: %s (%llu so far)", "auth_failure_from");
	event_is("session %u: closing (%s)%s", "session_closing");
	event_is("session %u: upstream %s:%u failed (%s); it is out for a while",
		 "session_upstream_failed");
	event_is("local (SOCKS5 + HTTP proxy) listening on %s -> server %s:%u",
		 "local_listening_on");
	event_is("SOCKS5 authentication failed for user '%.*s'", "socks5_authentication_failed");
	event_is("user %s: session refused: %s", "user_session_refused");
	event_is("target %s refused: in the ACL's outbound_block_list", "target_refused");
	event_is("reload: %s changed (%d -> %d): needs a restart; keeping %d", "reload_changed");
	event_is("reloaded %s: configuration generation %llu", "reloaded_configuration_generation");
	event_is("%s received: stopping (up to %us for open sessions)", "received_stopping");
	event_is("ready: %d worker%s", "ready_worker");
	event_is("servers_url %s: fetch failed: %s; keeping", "servers_url_fetch_failed");
	event_is("%s", "message");
	event_is("", "message");
	event_is("100%% done", "100_done");
	event_is("(all in parentheses)", "message");
	event_is("unclosed (paren %s", "unclosed");
	event_is("%*.*s %q %1$s %jd %", "message"); /* specs the walk cannot take too */
	event_is("cannot %s: %m", "cannot");
	{
		/* a long word is cut at the buffer's end; a '_' only with room after it */
		char fmt[LOGFMT_EVENT_MAX + 8], want[LOGFMT_EVENT_MAX];

		memset(fmt, 'a', LOGFMT_EVENT_MAX + 4);
		strcpy(fmt + LOGFMT_EVENT_MAX + 4, " bb");
		memset(want, 'a', LOGFMT_EVENT_MAX - 1);
		want[LOGFMT_EVENT_MAX - 1] = '\0';
		event_is(fmt, want);
		strcpy(fmt + LOGFMT_EVENT_MAX - 3, " bb");
		memcpy(want + LOGFMT_EVENT_MAX - 3, "_b", 3);
		event_is(fmt, want);
	}
}

/* The field names of fmt's conversions, "-" for none, joined by ' '. */
static void fields_are(const char *fmt, const char *want)
{
	struct logfmt_conv c[LOGFMT_CONV_MAX];
	char got[256] = "";
	int n = logfmt_parse(fmt, c, LOGFMT_CONV_MAX);

	CHECK(n >= 0);
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, c[i].name ? c[i].name : "-");
		if (c[i].joined)
			strcat(got, "+");
	}
	if (strcmp(got, want)) {
		fprintf(stderr, "fields of '%s': '%s', want '%s'\n", fmt, got, want);
		exit(1);
	}
}

static void test_fields(void)
{
	struct logfmt_conv c[LOGFMT_CONV_MAX];

	fields_are("auth failure from %s: %s (%llu so far)", "peer reason -");
	fields_are("session %u: upstream %s:%u failed (%s); it is out for a while",
		   "session upstream+ - reason");
	fields_are("SOCKS5 authentication failed for user '%.*s'", "user");
	fields_are("user %s: session refused: %s", "user reason");
	fields_are("api: server %s: user %s added", "server user");
	fields_are("api: %s request refused (%d): %s", "- - reason");
	fields_are("server listening on %s (tcp%s), method %s%s%s%s", "listen - - - - -");
	fields_are("tunnel listening on %s -> %s:%u via server %s:%u%s%s",
		   "listen -+ - server+ - - -");
	fields_are("session %u: connecting to %s", "session target");
	fields_are("%s received: stopping (up to %us for open sessions)", "- -");
	fields_are("reload failed, keeping configuration generation %llu: %s", "generation reason");
	fields_are("plugin %s (pid %d) for the %s on %s:%u: SS_LOCAL %s:%s",
		   "plugin pid - listen+ - - -");
	fields_are("servers_url %s: fetch failed: %s; keeping the servers", "url reason");
	fields_are("connection from %s refused: its source is at limits.%s = %u", "peer - -");
	fields_are("dns: %s: %s", "- reason");
	fields_are("session %u: closing (%s)%s", "session reason -");
	fields_are("session %u: %s bypasses the server (ACL)", "session -");
	fields_are("from %s, from %s", "peer -"); /* a name once */
	fields_are("from %5s and session %05u", "peer session");
	CHECK(logfmt_parse("from %s", c, 1) == 1 && c[0].plain && c[0].arg == LOGFMT_STR);
	CHECK(logfmt_parse("session %05u", c, 1) == 1 && !c[0].plain && !c[0].is_signed);
	CHECK(logfmt_parse("%-*.*s %zd %Lg %p %c %hhu %lx", c, 8) == 7);
	CHECK(c[0].star_width && c[0].star_prec && c[0].arg == LOGFMT_STR);
	CHECK(c[1].arg == LOGFMT_SIZE && c[1].is_signed && c[2].arg == LOGFMT_LDOUBLE);
	CHECK(c[3].arg == LOGFMT_PTR && c[4].arg == LOGFMT_INT && c[5].arg == LOGFMT_INT);
	CHECK(c[6].arg == LOGFMT_LONG && !c[6].is_signed);
	CHECK(c[0].start == 0 && c[0].end == 6 && c[6].start == 26 && c[6].end == 29);
	/* what the walk refuses: the log then writes the message without fields */
	CHECK(logfmt_parse("%n", c, 4) == -1);
	CHECK(logfmt_parse("%m", c, 4) == -1);
	CHECK(logfmt_parse("%ls", c, 4) == -1);
	CHECK(logfmt_parse("%lc", c, 4) == -1);
	CHECK(logfmt_parse("%jd", c, 4) == -1);
	CHECK(logfmt_parse("%1$s", c, 4) == -1);
	CHECK(logfmt_parse("%Ld", c, 4) == -1);
	CHECK(logfmt_parse("%hf", c, 4) == -1);
	CHECK(logfmt_parse("cut %", c, 4) == -1);
	CHECK(logfmt_parse("%-+ #0123456789.5s", c, 4) == -1); /* longer than a spec may be */
	CHECK(logfmt_parse("%s %s %s", c, 2) == -1);
	CHECK(logfmt_parse("100%% %s", c, 4) == 1 && c[0].start == 6);
	CHECK(logfmt_parse("", c, 4) == 0);
}

int main(void)
{
	test_escape();
	test_room();
	test_random();
	test_event();
	test_fields();
	printf("test_logfmt: ok\n");
	return 0;
}
