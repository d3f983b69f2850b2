/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/sip002: the examples of the SIP002 document
 * (shadowsocks-org, "SIP002 URI scheme") parsed and reproduced byte for
 * byte, the variants other implementations emit (padding, the standard
 * alphabet, %3D, plain userinfo, the older whole-link base64 form), IPv6,
 * plugins with options, and one check per error message; SIP003 plugin
 * options split at unescaped ';' and '=' only ("a\;b" is one option).
 */
#include "proto/sip002.h"

#include <errno.h>

#include "../check.h"

static struct sip002 l;
static const char *why;

static int parse(const char *s)
{
	why = NULL;
	return sip002_parse(s, strlen(s), &l, &why);
}

#define EXPECT_BAD(s, want)                                                                  \
	do {                                                                                 \
		CHECK_EQ(parse(s), -EINVAL);                                                 \
		if (!why || !strstr(why, (want))) {                                          \
			fprintf(stderr, "%s:%d: '%s': message '%s' lacks '%s'\n", __FILE__,   \
				__LINE__, (s), why ? why : "(none)", (want));                \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

/* parse(s) must give these fields, and formatting them must give s again. */
static void roundtrip(const char *s, const char *method, const char *secret, const char *host,
		      unsigned port, const char *plugin, const char *opts, const char *tag)
{
	char out[SIP002_URI_MAX];

	if (parse(s)) {
		fprintf(stderr, "'%s' did not parse: %s\n", s, why);
		exit(1);
	}
	CHECK(!strcmp(l.method, method));
	CHECK(!strcmp(l.secret, secret));
	CHECK(!strcmp(l.host, host));
	CHECK_EQ(l.port, port);
	CHECK(!strcmp(l.plugin, plugin));
	CHECK(!strcmp(l.plugin_opts, opts));
	CHECK(!strcmp(l.tag, tag));
	CHECK_EQ(sip002_format(&l, out, sizeof(out)), strlen(s));
	if (strcmp(out, s)) {
		fprintf(stderr, "formatted '%s'\n   expected '%s'\n", out, s);
		exit(1);
	}
}

static void test_spec_examples(void)
{
	/* SIP002: "With user info encoded with Base64URL" */
	roundtrip("ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888#Example1", "aes-128-gcm", "test",
		  "192.168.100.1", 8888, "", "", "Example1");
	roundtrip("ss://cmM0LW1kNTpwYXNzd2Q@192.168.100.1:8888/?plugin=obfs-local%3Bobfs%3Dhttp#Example2",
		  "rc4-md5", "passwd", "192.168.100.1", 8888, "obfs-local", "obfs=http", "Example2");
	/* "Plain user info" (2022: the key percent-encoded) */
	roundtrip("ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI%3D"
		  "@192.168.100.1:8888#Example3",
		  "2022-blake3-aes-256-gcm", "YctPZ6U7xPPcU+gp3u+0tx/tRizJN9K8y+uKlW2qjlI=",
		  "192.168.100.1", 8888, "", "", "Example3");
	roundtrip("ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI%3D"
		  "@192.168.100.1:8888/?plugin=v2ray-plugin%3Bserver#Example3",
		  "2022-blake3-aes-256-gcm", "YctPZ6U7xPPcU+gp3u+0tx/tRizJN9K8y+uKlW2qjlI=",
		  "192.168.100.1", 8888, "v2ray-plugin", "server", "Example3");
	/* The spec's general example: unknown query keys are ignored, '+' in a tag stays. */
	CHECK_EQ(parse("ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888/?plugin=url-encoded-plugin-"
		       "argument-value&unsupported-arguments=should-be-ignored#Dummy+profile+name"), 0);
	CHECK(!strcmp(l.plugin, "url-encoded-plugin-argument-value") && !l.plugin_opts[0]);
	CHECK(!strcmp(l.tag, "Dummy+profile+name"));
}

static void test_variants(void)
{
	/* padded base64url, the standard alphabet, %3D padding: one account */
	CHECK_EQ(parse("ss://YWVzLTI1Ni1nY206cGFzc3dvcmQ=@example.com:8388"), 0);
	CHECK(!strcmp(l.method, "aes-256-gcm") && !strcmp(l.secret, "password"));
	CHECK(!strcmp(l.host, "example.com") && l.port == 8388 && !l.tag[0]);
	CHECK_EQ(parse("ss://YWVzLTI1Ni1nY206cGFzc3dvcmQ%3D@example.com:8388"), 0);
	CHECK(!strcmp(l.secret, "password"));
	/* "aes-256-gcm:xx?>?>?x" has '/' and '+' in standard base64, '_' and '-' in url */
	CHECK_EQ(parse("ss://YWVzLTI1Ni1nY206eHg/Pj8+P3g=@h.example:1"), 0);
	CHECK(!strcmp(l.secret, "xx?>?>?x"));
	CHECK_EQ(parse("ss://YWVzLTI1Ni1nY206eHg_Pj8-P3g@h.example:1"), 0);
	CHECK(!strcmp(l.secret, "xx?>?>?x"));
	roundtrip("ss://YWVzLTI1Ni1nY206eHg_Pj8-P3g@h.example:1", "aes-256-gcm", "xx?>?>?x",
		  "h.example", 1, "", "", "");
	/* plain userinfo with escapes, for an AEAD-2017 method */
	CHECK_EQ(parse("ss://chacha20-ietf-poly1305:p%40ss%3Aw%2Fd@10.0.0.1:443/"), 0);
	CHECK(!strcmp(l.method, "chacha20-ietf-poly1305") && !strcmp(l.secret, "p@ss:w/d"));
	/* a password with ':' inside base64: split at the first ':' */
	roundtrip("ss://YWVzLTI1Ni1nY206YTpiOmM@h.example:2", "aes-256-gcm", "a:b:c", "h.example", 2,
		  "", "", "");
	/* the older whole-link form, with a tag outside */
	CHECK_EQ(parse("ss://YWVzLTI1Ni1nY206cGFzc0AxOTIuMTY4LjEwMC4xOjg4ODg#Old"), 0);
	CHECK(!strcmp(l.method, "aes-256-gcm") && !strcmp(l.secret, "pass"));
	CHECK(!strcmp(l.host, "192.168.100.1") && l.port == 8888 && !strcmp(l.tag, "Old"));
	/* scheme case-insensitive (RFC 3986) */
	CHECK_EQ(parse("SS://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888"), 0);
	/* IPv6 in brackets, both ways */
	roundtrip("ss://YWVzLTEyOC1nY206dGVzdA@[2001:db8::1]:8388", "aes-128-gcm", "test",
		  "2001:db8::1", 8388, "", "", "");
	/* 2022 EIH: iPSK:uPSK, the ':' between them percent-encoded */
	roundtrip("ss://2022-blake3-aes-128-gcm:MTIzNDU2Nzg5MDEyMzQ1Ng%3D%3D%3AYWJjZGVmZ2hpamtsbW5vcA%3D%3D"
		  "@[::1]:9000/?plugin=obfs-local%3Bobfs%3Dtls%3Bobfs-host%3Dwww.example.com#us%20east%201",
		  "2022-blake3-aes-128-gcm", "MTIzNDU2Nzg5MDEyMzQ1Ng==:YWJjZGVmZ2hpamtsbW5vcA==", "::1",
		  9000, "obfs-local", "obfs=tls;obfs-host=www.example.com", "us east 1");
	/* a plugin with options that carry escaped ';' and '=' (SIP003: backslash) */
	CHECK_EQ(parse("ss://YWVzLTEyOC1nY206dGVzdA@h.example:1/?plugin=p%3Ba%3Db%5C%3Bc"), 0);
	CHECK(!strcmp(l.plugin, "p") && !strcmp(l.plugin_opts, "a=b\\;c"));
	/* '+' in a query value is a space (form encoding) */
	CHECK_EQ(parse("ss://YWVzLTEyOC1nY206dGVzdA@h.example:1/?plugin=my+plugin"), 0);
	CHECK(!strcmp(l.plugin, "my plugin"));
	/* UTF-8 tag */
	CHECK_EQ(parse("ss://YWVzLTEyOC1nY206dGVzdA@h.example:1#%E6%9D%B1%E4%BA%AC"), 0);
	CHECK(!strcmp(l.tag, "\xe6\x9d\xb1\xe4\xba\xac"));
}

static void test_errors(void)
{
	EXPECT_BAD("http://YWVzLTEyOC1nY206dGVzdA@h:1", "starts with ss://");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example", "port is missing");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example:0", "port must be");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example:65536", "port must be");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example:8x", "port must be");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@:8388", "host is empty");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@2001:db8::1:8388", "must be in brackets");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@[2001:db8::1:8388", "no closing");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@[host.example]:8388", "not an IPv6");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@bad_host!:8388", "not a valid name");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example:1/path", "no path");
	EXPECT_BAD("ss://@h.example:1", "userinfo (method and password) is empty");
	EXPECT_BAD("ss://!!!!@h.example:1", "neither base64");
	EXPECT_BAD("ss://YWVzLTEyOC1nY20@h.example:1", "not method:password"); /* "aes-128-gcm" */
	EXPECT_BAD("ss://OnRlc3Q@h.example:1", "method is empty");              /* ":test" */
	EXPECT_BAD("ss://YWVzLTEyOC1nY206@h.example:1", "password is empty");   /* "aes-128-gcm:" */
	EXPECT_BAD("ss://aes-128-gcm:%zz@h.example:1", "bad %-escape");
	EXPECT_BAD("ss://aes-128-gcm:a%00b@h.example:1", "bad %-escape");
	EXPECT_BAD("ss://aes-128-gcm:abc%2@h.example:1", "bad %-escape");
	EXPECT_BAD("ss://a%20b:pw@h.example:1", "characters no method has");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example:1#%", "#name");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example:1/?plugin=%3Bopts", "no plugin");
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdA@h.example:1 ", "no spaces");
	EXPECT_BAD("ss://bm9hdA", "no '@'");
	/* base64 with non-zero leftover bits is not a canonical encoding */
	EXPECT_BAD("ss://YWVzLTEyOC1nY206dGVzdB@h.example:1", "neither base64");
	{
		char big[SIP002_URI_MAX + 16];

		memset(big, 'a', sizeof(big) - 1);
		memcpy(big, "ss://", 5);
		big[sizeof(big) - 1] = '\0';
		EXPECT_BAD(big, "too long");
	}
	/* a failed parse leaves nothing behind */
	CHECK(!l.method[0] && !l.secret[0] && !l.host[0]);
}

static void test_format_bounds(void)
{
	struct sip002 x = { .method = "aes-256-gcm", .secret = "pw", .host = "h.example", .port = 1 };
	char out[64];
	int n = sip002_format(&x, out, sizeof(out));

	CHECK(n > 0 && !strcmp(out, "ss://YWVzLTI1Ni1nY206cHc@h.example:1"));
	CHECK_EQ(sip002_format(&x, out, (size_t)n), -ENOSPC);
	CHECK(out[0] == '\0');
	CHECK_EQ(sip002_format(&x, out, (size_t)n + 1), n);
	CHECK(sip002_is_2022("2022-blake3-aes-256-gcm") && !sip002_is_2022("aes-256-gcm"));
}

/* Split opts as sip003_opt_len does: "name|option" per option, joined by ' '. */
static void split(const char *opts, char *out, size_t cap)
{
	size_t left = strlen(opts), o = 0;

	out[0] = '\0';
	while (left) {
		size_t name, n = sip003_opt_len(opts, left, &name);

		CHECK(name <= n && n <= left);
		o += (size_t)snprintf(out + o, cap - o, "%s%.*s|%.*s", o ? " " : "", (int)name,
				      opts, (int)n, opts);
		n += n < left;
		opts += n;
		left -= n;
	}
}

static void test_plugin_opts(void)
{
	char out[256];

	split("obfs=http;obfs-host=www.example.com", out, sizeof(out));
	CHECK(!strcmp(out, "obfs|obfs=http obfs-host|obfs-host=www.example.com"));
	/* an escaped ';' stays inside its option, escapes kept */
	split("path=/a\\;b;host=x", out, sizeof(out));
	CHECK(!strcmp(out, "path|path=/a\\;b host|host=x"));
	/* an escaped '=' is part of the name; a value may hold '=' */
	split("a\\=b=c=d;tls", out, sizeof(out));
	CHECK(!strcmp(out, "a\\=b|a\\=b=c=d tls|tls"));
	/* an escaped backslash does not escape the ';' after it */
	split("k=v\\\\;next", out, sizeof(out));
	CHECK(!strcmp(out, "k|k=v\\\\ next|next"));
	/* a trailing backslash ends the option; empty options are empty */
	split("k=v\\", out, sizeof(out));
	CHECK(!strcmp(out, "k|k=v\\"));
	{
		size_t name;

		CHECK_EQ(sip003_opt_len(";x", 2, &name), 0);
		CHECK_EQ(name, 0);
		CHECK_EQ(sip003_opt_len("ab\\;", 3, &name), 3); /* never past len */
	}
}

int main(void)
{
	test_plugin_opts();
	test_spec_examples();
	test_variants();
	test_errors();
	test_format_bounds();
	printf("test_sip002: ok\n");
	return 0;
}
