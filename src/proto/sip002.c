/* SPDX-License-Identifier: MIT */
/*
 * sip002 — ss:// links (proto/sip002.h). Bytes in, bytes out: every
 * output is bounded by its buffer, every input by its length.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "proto/text.h"
#include "proto/hostport.h"
#include "proto/sip002.h"

struct span {
	const char *p;
	size_t n;
};

/*
 * Percent-decode s into out (cap bytes incl. the NUL); form = true also
 * turns '+' into a space (query values). -EINVAL on a bad escape or a NUL
 * byte, -ENOSPC when it does not fit.
 */
static int pct_decode(struct span s, bool form, char *out, size_t cap, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < s.n; i++) {
		int c = (unsigned char)s.p[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= s.n)
				return -EINVAL;
			hi = text_hex_value((unsigned char)s.p[i + 1]);
			lo = text_hex_value((unsigned char)s.p[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+' && form) {
			c = ' ';
		}
		if (c == 0)
			return -EINVAL;
		if (o + 1 >= cap)
			return -ENOSPC;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return 0;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/*
 * base64 of either alphabet, padding optional (but only at the end and
 * only as much as the length needs). -EINVAL, -ENOSPC, or 0.
 */
static int b64_decode(struct span s, char *out, size_t cap, size_t *outlen)
{
	size_t n = s.n, o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (n > 0 && s.p[n - 1] == '=') {
		n--;
		pad++;
	}
	if (pad > 2 || n % 4 == 1 || (pad && (n + pad) % 4))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(s.p[i]);

		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= cap)
				return -ENOSPC;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero: one encoding per byte string. */
	if (bits && (acc & ((1u << bits) - 1)))
		return -EINVAL;
	if (memchr(out, '\0', o))
		return -EINVAL;
	out[o] = '\0';
	*outlen = o;
	return 0;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

struct out {
	char *p;
	size_t n, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->n + n + 1 > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_pct(struct out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (is_unreserved(c))
			put(o, (const char *)&c, 1);
		else
			put(o, e, 3);
	}
}

static void put_b64url(struct out *o, const uint8_t *in, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		char q[4] = { tab[v >> 18], tab[v >> 12 & 63], tab[v >> 6 & 63], tab[v & 63] };

		put(o, q, 4);
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		char q[3] = { tab[v >> 18], tab[v >> 12 & 63], tab[v >> 6 & 63] };

		put(o, q, i + 1 < n ? 3 : 2);
	}
}

bool sip002_is_2022(const char *method)
{
	return strncmp(method, "2022-", 5) == 0;
}

int sip002_format(const struct sip002 *l, char *outbuf, size_t cap)
{
	struct out o = { .p = outbuf, .cap = cap };

	if (cap == 0)
		return -ENOSPC;
	outbuf[0] = '\0';
	puts_(&o, "ss://");
	if (sip002_is_2022(l->method)) {
		put_pct(&o, l->method);
		puts_(&o, ":");
		put_pct(&o, l->secret);
	} else {
		char ui[SIP002_METHOD_MAX + SIP002_SECRET_MAX + 1];
		size_t a = strnlen(l->method, SIP002_METHOD_MAX),
		       b = strnlen(l->secret, SIP002_SECRET_MAX);

		memcpy(ui, l->method, a);
		ui[a] = ':';
		memcpy(ui + a + 1, l->secret, b);
		put_b64url(&o, (const uint8_t *)ui, a + 1 + b);
	}
	puts_(&o, "@");
	if (strchr(l->host, ':')) {
		puts_(&o, "[");
		puts_(&o, l->host);
		puts_(&o, "]");
	} else {
		puts_(&o, l->host);
	}
	{
		char port[8];
		size_t k = sizeof(port);
		unsigned v = l->port;

		port[--k] = '\0';
		do
			port[--k] = (char)('0' + v % 10);
		while ((v /= 10) && k > 1);
		port[--k] = ':';
		puts_(&o, port + k);
	}
	if (l->plugin[0]) {
		char po[SIP002_PLUGIN_MAX + SIP002_OPTS_MAX + 1];
		size_t a = strnlen(l->plugin, SIP002_PLUGIN_MAX - 1);

		memcpy(po, l->plugin, a);
		po[a] = '\0';
		if (l->plugin_opts[0]) {
			size_t b = strnlen(l->plugin_opts, SIP002_OPTS_MAX - 1);

			po[a] = ';';
			memcpy(po + a + 1, l->plugin_opts, b);
			po[a + 1 + b] = '\0';
		}
		puts_(&o, "/?plugin=");
		put_pct(&o, po);
	}
	if (l->tag[0]) {
		puts_(&o, "#");
		put_pct(&o, l->tag);
	}
	if (o.full) {
		outbuf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.n;
}

static const char *find(struct span s, char c)
{
	return s.n ? memchr(s.p, c, s.n) : NULL;
}

static const char *find_last(struct span s, char c)
{
	for (size_t i = s.n; i > 0; i--)
		if (s.p[i - 1] == c)
			return s.p + i - 1;
	return NULL;
}

static int fail(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return -EINVAL;
}

/* host:port or [v6]:port, host percent-decoded and checked. */
static int parse_hostport(struct span s, struct sip002 *out, const char **why)
{
	struct hostport_span sp;
	int rc = hostport_split(s.p, s.n, 0, &sp);

	if (rc == HOSTPORT_E_BRACKET)
		return fail(why, "an IPv6 host has no closing ']'");
	if (rc == HOSTPORT_E_AFTER || rc == HOSTPORT_E_NO_PORT)
		return fail(why, "the port is missing (ss://...@host:port)");
	if (rc == HOSTPORT_E_COLONS)
		return fail(why, "an IPv6 host must be in brackets: [2001:db8::1]:8388");
	if (sp.host_len == 0)
		return fail(why, "the host is empty");
	if (rc != HOSTPORT_OK)
		return fail(why, "the port must be a number from 1 to 65535");
	out->port = sp.port;
	if (pct_decode((struct span){ sp.host, sp.host_len }, false, out->host, sizeof(out->host),
		       NULL))
		return fail(why, "the host is not a valid name or address");
	if (sp.bracketed) {
		/* Checked the way the config checks it: hostport's IPv6 literal rule. */
		char buf[SIP002_HOST_MAX + 16];
		struct hostport hp;

		memcpy(buf, "[", 1);
		memcpy(buf + 1, out->host, strlen(out->host));
		memcpy(buf + 1 + strlen(out->host), "]:1", 4);
		if (hostport_parse(buf, false, &hp) || !strchr(out->host, ':'))
			return fail(why, "the host in brackets is not an IPv6 address");
	} else if (!hostport_is_host_name(out->host, strlen(out->host))) {
		/* IPv4 literals pass the name rule too (their last label is all digits
		 * only for addresses, which hostport_parse accepts). */
		struct hostport hp;
		char buf[SIP002_HOST_MAX + 8];
		size_t hl = strlen(out->host);

		memcpy(buf, out->host, hl);
		memcpy(buf + hl, ":1", 3);
		if (hostport_parse(buf, false, &hp) || !hp.is_ip)
			return fail(why, "the host is not a valid name or address");
	}
	return 0;
}

/* method:password, split at the first ':' of the decoded text. */
static int split_account(const char *acct, size_t len, struct sip002 *out, const char **why)
{
	const char *colon = memchr(acct, ':', len);
	size_t ml;

	if (!colon)
		return fail(why, "the userinfo is not method:password");
	ml = (size_t)(colon - acct);
	if (ml == 0)
		return fail(why, "the method is empty");
	if (ml >= sizeof(out->method))
		return fail(why, "the method name is too long");
	if (len - ml - 1 == 0)
		return fail(why, "the password is empty");
	if (len - ml - 1 >= sizeof(out->secret))
		return fail(why, "the password is too long");
	memcpy(out->method, acct, ml);
	out->method[ml] = '\0';
	memcpy(out->secret, colon + 1, len - ml - 1);
	out->secret[len - ml - 1] = '\0';
	for (size_t i = 0; i < ml; i++) {
		char c = out->method[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return fail(why, "the method name has characters no method has");
	}
	return 0;
}

static int parse_userinfo(struct span ui, struct sip002 *out, const char **why)
{
	/* base64 text is 4/3 of the account it encodes */
	char buf[(SIP002_METHOD_MAX + SIP002_SECRET_MAX) * 4 / 3 + 16];
	char dec[SIP002_METHOD_MAX + SIP002_SECRET_MAX + 8];
	const char *colon = find(ui, ':');
	size_t n;

	if (ui.n == 0)
		return fail(why, "the userinfo (method and password) is empty");
	if (colon) {
		/* Plain: percent-encoded method ":" percent-encoded password. */
		struct span m = { ui.p, (size_t)(colon - ui.p) };
		struct span p = { colon + 1, ui.n - m.n - 1 };
		size_t ml, pl;

		if (pct_decode(m, false, out->method, sizeof(out->method), &ml) ||
		    pct_decode(p, false, out->secret, sizeof(out->secret), &pl))
			return fail(why, "the userinfo has a bad %-escape or is too long");
		if (ml + 1 + pl >= sizeof(buf))
			return fail(why, "the userinfo is too long");
		memcpy(buf, out->method, ml);
		buf[ml] = ':';
		memcpy(buf + ml + 1, out->secret, pl);
		return split_account(buf, ml + 1 + pl, out, why);
	}
	/* base64(url) of method:password, perhaps with %3D padding. */
	if (pct_decode(ui, false, buf, sizeof(buf), &n))
		return fail(why, "the userinfo has a bad %-escape or is too long");
	if (b64_decode((struct span){ buf, n }, dec, sizeof(dec), &n))
		return fail(why, "the userinfo is neither base64 nor method:password");
	return split_account(dec, n, out, why);
}

/* ?plugin=...&other=...: the plugin, split at its first ';'. */
static int parse_query(struct span q, struct sip002 *out, const char **why)
{
	while (q.n) {
		const char *amp = find(q, '&');
		struct span kv = { q.p, amp ? (size_t)(amp - q.p) : q.n };
		const char *eq = find(kv, '=');

		q.p += kv.n + (amp != NULL);
		q.n -= kv.n + (amp != NULL);
		if (eq && (size_t)(eq - kv.p) == 6 && !memcmp(kv.p, "plugin", 6)) {
			char v[SIP002_PLUGIN_MAX + SIP002_OPTS_MAX];
			struct span val = { eq + 1, kv.n - 7 };
			char *semi;
			size_t n;

			out->plugin_opts[0] = '\0'; /* the last plugin= counts */
			if (pct_decode(val, true, v, sizeof(v), &n))
				return fail(why, "the plugin parameter has a bad %-escape or is too long");
			semi = memchr(v, ';', n);
			if (semi) {
				*semi = '\0';
				if (strlen(semi + 1) >= sizeof(out->plugin_opts))
					return fail(why, "the plugin options are too long");
				memcpy(out->plugin_opts, semi + 1, strlen(semi + 1) + 1);
			}
			if (strlen(v) >= sizeof(out->plugin))
				return fail(why, "the plugin name is too long");
			memcpy(out->plugin, v, strlen(v) + 1);
			if (!out->plugin[0] && out->plugin_opts[0])
				return fail(why, "the plugin parameter has options but no plugin");
		}
	}
	return 0;
}

static int parse_link(const char *uri, size_t len, struct sip002 *out, const char **why)
{
	struct span s = { uri, len }, auth;
	const char *hash, *q, *at, *slash;

	if (len > SIP002_URI_MAX)
		return fail(why, "the link is too long");
	if (len < 5 || strncasecmp(uri, "ss://", 5))
		return fail(why, "a link starts with ss://");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)uri[i] <= 0x20 || (unsigned char)uri[i] >= 0x7f)
			return fail(why, "a link has no spaces, control or non-ASCII characters "
					 "(percent-encode them)");
	s.p += 5;
	s.n -= 5;
	hash = find(s, '#');
	if (hash) {
		struct span t = { hash + 1, s.n - (size_t)(hash - s.p) - 1 };

		if (pct_decode(t, false, out->tag, sizeof(out->tag), NULL))
			return fail(why, "the #name has a bad %-escape or is too long");
		s.n = (size_t)(hash - s.p);
	}
	q = find(s, '?');
	if (q) {
		int ret = parse_query((struct span){ q + 1, s.n - (size_t)(q - s.p) - 1 }, out, why);

		if (ret)
			return ret;
		s.n = (size_t)(q - s.p);
	}
	/* The standard base64 alphabet has '/': look for the path after the '@'. */
	at = find_last(s, '@');
	auth = s;
	slash = at ? find((struct span){ at, s.n - (size_t)(at - s.p) }, '/') : NULL;
	if (!at && s.n && s.p[s.n - 1] == '/')
		slash = s.p + s.n - 1;
	if (slash) {
		if ((size_t)(slash - s.p) != s.n - 1)
			return fail(why, "a link has no path (only an optional '/' before '?')");
		auth.n--;
	}
	if (!at) {
		/* The older form: ss://base64(method:password@host:port)#tag */
		char dec[SIP002_URI_MAX], inner[SIP002_URI_MAX + 8];
		size_t n;
		struct sip002 keep = *out;
		int ret;

		if (b64_decode(auth, dec, sizeof(dec), &n) || !memchr(dec, '@', n))
			return fail(why, "no '@' between the userinfo and the host");
		/* Its userinfo is plain text: method:password, not to be decoded again. */
		{
			const char *dat = NULL;

			for (size_t i = n; i > 0; i--)
				if (dec[i - 1] == '@') {
					dat = dec + i - 1;
					break;
				}
			ret = split_account(dec, (size_t)(dat - dec), out, why);
			if (ret)
				return ret;
			memcpy(inner, dat + 1, n - (size_t)(dat - dec) - 1);
			ret = parse_hostport((struct span){ inner, n - (size_t)(dat - dec) - 1 }, out,
					     why);
			if (ret)
				return ret;
		}
		memcpy(out->plugin, keep.plugin, sizeof(out->plugin));
		memcpy(out->plugin_opts, keep.plugin_opts, sizeof(out->plugin_opts));
		memcpy(out->tag, keep.tag, sizeof(out->tag));
		return 0;
	}
	{
		int ret = parse_userinfo((struct span){ auth.p, (size_t)(at - auth.p) }, out, why);

		if (ret)
			return ret;
	}
	return parse_hostport((struct span){ at + 1, auth.n - (size_t)(at - auth.p) - 1 }, out, why);
}

int sip002_parse(const char *uri, size_t len, struct sip002 *out, const char **why)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = parse_link(uri, len, out, why);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

size_t sip003_opt_len(const char *opts, size_t len, size_t *name_len)
{
	size_t i;

	*name_len = (size_t)-1;
	for (i = 0; i < len && opts[i] != ';'; i++) {
		if (opts[i] == '\\') {
			i++; /* skip the escaped character; a trailing backslash ends the option */
			continue;
		}
		if (opts[i] == '=' && *name_len == (size_t)-1)
			*name_len = i;
	}
	if (i > len)
		i = len;
	if (*name_len == (size_t)-1)
		*name_len = i;
	return i;
}
