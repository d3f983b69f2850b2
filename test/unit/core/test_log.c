/* SPDX-License-Identifier: MIT */
/*
 * log: with log_format = "json" every line is one JSON object (jansson
 * parses it; it refuses invalid UTF-8 and raw control characters) with
 * time, level, worker, event, msg and the message's fields, whatever bytes
 * a value holds (a client's user name), however long the message, whatever
 * conversions its format has; the journal's <N> prefix comes only with
 * JOURNAL_STREAM; the text format is as it was.
 */
#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"

static int out_fd;
static off_t seen;

/* What the log wrote since the last call (NUL-terminated, static). */
static const char *written(void)
{
	static char buf[16384];
	ssize_t n = pread(out_fd, buf, sizeof(buf) - 1, seen);

	CHECK(n >= 0);
	buf[n] = '\0';
	seen += n;
	return buf;
}

/* The one line just written, as JSON, after an optional "<N>" prefix. */
static json_t *one_object(const char *prefix)
{
	const char *s = written();
	size_t n = strlen(s), p = strlen(prefix);
	json_error_t e;
	json_t *o;

	CHECK(n > p + 2 && !strncmp(s, prefix, p) && s[p] == '{' && s[n - 1] == '\n');
	CHECK(memchr(s, '\n', n - 1) == NULL); /* one line */
	o = json_loadb(s + p, n - p - 1, JSON_REJECT_DUPLICATES, &e);
	if (!o) {
		fprintf(stderr, "not JSON (%s): %s\n", e.text, s);
		exit(1);
	}
	CHECK(json_is_object(o));
	return o;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	CHECK(json_is_string(v));
	return json_string_value(v);
}

static void check_head(json_t *o, const char *level, const char *worker, const char *event)
{
	regex_t re;

	CHECK(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
		      REG_EXTENDED | REG_NOSUB) == 0);
	CHECK(regexec(&re, str(o, "time"), 0, NULL, 0) == 0);
	regfree(&re);
	CHECK(!strcmp(str(o, "level"), level));
	CHECK(!strcmp(str(o, "worker"), worker));
	if (strcmp(str(o, "event"), event))
		fprintf(stderr, "event %s, want %s\n", str(o, "event"), event);
	CHECK(!strcmp(str(o, "event"), event));
}

static void test_fields(void)
{
	/* a SOCKS5 user name is the client's bytes: quotes, a newline, a control
	 * character, an invalid byte, U+2028, a NUL cut by the precision */
	static const char user[] = "a\"b\\c\n\x01\xff\xe2\x80\xa8z\0hidden";
	json_t *o;

	log_info("auth failure from %s: %s (%llu so far)", "127.0.0.1:40000", "bad tag", 3ULL);
	o = one_object("");
	check_head(o, "info", "main", "auth_failure_from");
	CHECK(!strcmp(str(o, "msg"), "auth failure from 127.0.0.1:40000: bad tag (3 so far)"));
	CHECK(!strcmp(str(o, "peer"), "127.0.0.1:40000"));
	CHECK(!strcmp(str(o, "reason"), "bad tag"));
	CHECK(json_object_size(o) == 7);
	json_decref(o);

	log_set_thread_name("w3");
	log_warn("SOCKS5 authentication failed for user '%.*s'", (int)sizeof(user) - 1, user);
	o = one_object("");
	check_head(o, "warn", "w3", "socks5_authentication_failed");
	CHECK(!strcmp(str(o, "user"), "a\"b\\c\n\x01\xef\xbf\xbd\xe2\x80\xa8z"));
	CHECK(!strcmp(str(o, "msg"), "SOCKS5 authentication failed for user "
				     "'a\"b\\c\n\x01\xef\xbf\xbd\xe2\x80\xa8z'"));
	json_decref(o);
	log_set_thread_name("main");

	log_debug("session %u: upstream %s:%u failed (%s); it is out for a while", 7u, "10.0.0.1",
		  8388u, "refused");
	o = one_object("");
	check_head(o, "debug", "main", "session_upstream_failed");
	CHECK(json_integer_value(json_object_get(o, "session")) == 7);
	CHECK(!strcmp(str(o, "upstream"), "10.0.0.1:8388"));
	CHECK(!strcmp(str(o, "reason"), "refused"));
	json_decref(o);

	/* every kind of argument the walk takes, in order, before a named one */
	log_info("%-*.*s|%5.2f|%Lg|%zd|%zu|%c|%hhu|%lx|%p|%lld| from %s", 6, 2, "abcdef", 1.5,
		 (long double)2.5, (ssize_t)-4, (size_t)5, 'x', (unsigned char)250, 255UL,
		 (void *)0, -9LL, "peer");
	o = one_object("");
	CHECK(!strcmp(str(o, "msg"), "ab    | 1.50|2.5|-4|5|x|250|ff|(nil)|-9| from peer"));
	CHECK(!strcmp(str(o, "peer"), "peer"));
	json_decref(o);

	/* a format the walk cannot take: the message alone */
	log_error("cannot %s: %m", "open");
	o = one_object("");
	check_head(o, "error", "main", "cannot");
	CHECK(json_object_size(o) == 5);
	json_decref(o);
}

static void test_long(void)
{
	char big[3000];
	json_t *o;

	/* Each byte is a 6-byte escape: the message (cut at 1022 bytes, as in
	 * text) fits; of the fields, those that no longer fit whole are left
	 * out, and the line still parses. */
	memset(big, 1, sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("from %s, user %s, server %s, to %s: %s", big, big, big, big, big);
	o = one_object("");
	CHECK(strlen(str(o, "msg")) == 1022 && !strncmp(str(o, "msg"), "from \x01\x01", 7));
	CHECK(strlen(str(o, "peer")) == 255); /* a value is cut at 255 bytes */
	CHECK(json_object_size(o) == 6);
	json_decref(o);
}

static void test_journal(void)
{
	struct stat st;
	char js[64];
	json_t *o;

	CHECK(fstat(out_fd, &st) == 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_detect_journal();
	log_error("reload failed, keeping configuration generation %llu: %s", 4ULL, "line 3");
	o = one_object("<3>");
	check_head(o, "error", "main", "reload_failed");
	CHECK(json_integer_value(json_object_get(o, "generation")) == 4);
	CHECK(!strcmp(str(o, "reason"), "line 3"));
	json_decref(o);
	/* a JOURNAL_STREAM for another stream is not the journal */
	setenv("JOURNAL_STREAM", "1:1", 1);
	log_detect_journal();
	log_info("ready: %d worker%s", 2, "s");
	o = one_object("");
	check_head(o, "info", "main", "ready_worker");
	json_decref(o);
	unsetenv("JOURNAL_STREAM");
	log_detect_journal();
}

static void test_text(void)
{
	regex_t re;

	log_set_format(LOG_FORMAT_TEXT);
	log_info("auth failure from %s: %s (%llu so far)", "127.0.0.1:1", "x\"y", 1ULL);
	CHECK(regcomp(&re, "^[0-9-]{10}T[0-9:.]{12}Z info  \\[main\\] auth failure from "
			   "127\\.0\\.0\\.1:1: x\"y \\(1 so far\\)\n$",
		      REG_EXTENDED | REG_NOSUB) == 0);
	CHECK(regexec(&re, written(), 0, NULL, 0) == 0);
	regfree(&re);
}

int main(void)
{
	char path[] = "/tmp/ssring-test-log-XXXXXX";

	int saved = dup(STDERR_FILENO);
	FILE *err;

	out_fd = mkstemp(path);
	CHECK(out_fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	CHECK(dup2(out_fd, STDERR_FILENO) == STDERR_FILENO);
	/* the log writes to fd 2, now the file; CHECK's messages still reach the terminal */
	err = fdopen(saved, "w");
	if (!err)
		return 1;
	setvbuf(err, NULL, _IONBF, 0);
	stderr = err;
	unsetenv("JOURNAL_STREAM");
	log_detect_journal();
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_format(LOG_FORMAT_JSON);
	test_fields();
	test_long();
	test_journal();
	test_text();
	printf("test_log: ok\n");
	return 0;
}
