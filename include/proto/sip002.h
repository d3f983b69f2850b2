/* SPDX-License-Identifier: MIT */
/*
 * sip002 — ss:// links (shadowsocks-org SIP002), a pure codec:
 *
 *   ss://USERINFO@HOST:PORT[/][?plugin=PLUGIN[;OPTS]][#TAG]
 *
 * USERINFO is base64url("method:password") without padding for AEAD-2017
 * methods, and "method:" + percent-encoded password for the 2022 edition
 * (whose password is a base64 key, or iPSK:uPSK). The parser also takes
 * padded base64, the standard alphabet, percent-encoded padding ("%3D"),
 * plain percent-encoded userinfo for any method, and the older whole-link
 * form ss://base64(method:password@host:port)[#TAG]. Query keys other than
 * plugin are ignored, as the spec asks.
 */
#ifndef SSRING_SIP002_H
#define SSRING_SIP002_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIP002_URI_MAX 4096
#define SIP002_METHOD_MAX 64
#define SIP002_SECRET_MAX 1024
#define SIP002_HOST_MAX 256
#define SIP002_PLUGIN_MAX 256
#define SIP002_OPTS_MAX 1024
#define SIP002_TAG_MAX 256

struct sip002 {
	char method[SIP002_METHOD_MAX];   /* as given, e.g. "aes-256-gcm" */
	char secret[SIP002_SECRET_MAX];   /* password, or 2022 key(s) */
	char host[SIP002_HOST_MAX];       /* name or IP literal, no brackets */
	uint16_t port;
	char plugin[SIP002_PLUGIN_MAX];   /* "" = none */
	char plugin_opts[SIP002_OPTS_MAX]; /* after the first ';', "" = none */
	char tag[SIP002_TAG_MAX];         /* the #fragment, decoded; "" = none */
};

/*
 * Parse len bytes of uri into out. 0, or -EINVAL with *why set to a
 * static message ("the port is missing", ...). Never reads past len.
 */
int sip002_parse(const char *uri, size_t len, struct sip002 *out, const char **why);

/*
 * Format l as a link into out (cap bytes, NUL-terminated): userinfo as
 * base64url for AEAD-2017 methods, percent-encoded for names that start
 * with "2022-"; IPv6 hosts in brackets; plugin and tag percent-encoded.
 * Returns the length, or -ENOSPC (out then holds "").
 */
int sip002_format(const struct sip002 *l, char *out, size_t cap);

/* Does the method name belong to the 2022 edition (percent-encoded userinfo)? */
bool sip002_is_2022(const char *method);

/*
 * SIP003 plugin options are "name=value" pairs separated by ';', in which a
 * backslash escapes the next character ("\;", "\=", "\\"). Of the option
 * that starts at opts (len bytes): its length, up to the first unescaped
 * ';' (or len), and in *name_len that of its name, up to the first
 * unescaped '=' (or the whole option). Escapes are kept as they are.
 */
size_t sip003_opt_len(const char *opts, size_t len, size_t *name_len);

#endif
