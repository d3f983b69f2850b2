/* SPDX-License-Identifier: MIT */
/*
 * logfmt — see proto/logfmt.h.
 */
#include "proto/logfmt.h"

#include <string.h>

static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The bytes of the valid UTF-8 sequence at s (n bytes), or 0 (Unicode, table 3-7). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong below */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates above */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF above */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

size_t logfmt_json_escape(char *dst, size_t cap, size_t *pos, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = u[i];
		const char *out = s + i;
		size_t n = 1, take = 1;
		char esc[6];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			out = esc;
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			const char *shortform = strchr("\bb\ff\nn\rr\tt", c ? c : 0x7f);

			esc[0] = '\\';
			out = esc;
			if (shortform && c) {
				esc[1] = shortform[1];
				n = 2;
			} else {
				memcpy(esc + 1, "u00", 3);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				n = 6;
			}
		} else if (c >= 0x80) {
			take = utf8_len(u + i, len - i);
			if (!take) {
				out = "\\ufffd";
				n = 6;
				take = 1;
			} else if (take == 3 && c == 0xe2 && u[i + 1] == 0x80 &&
				   (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
				out = u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
				n = 6;
			} else {
				n = take;
			}
		}
		if (*pos > cap || n > cap - *pos)
			break;
		memcpy(dst + *pos, out, n);
		*pos += n;
		i += take;
	}
	return i;
}

/*
 * One conversion spec at p (p[0] is '%') into c: its length, or 0 for one
 * the walk cannot take. "%%" is 2 with conv '%'.
 */
static size_t parse_spec(const char *p, struct logfmt_conv *c)
{
	enum { NONE, HH, H, L, LL, Z, BIGL } size = NONE;
	size_t i = 1;

	memset(c, 0, sizeof(*c));
	c->plain = true;
	if (p[1] == '%') {
		c->conv = '%';
		return 2;
	}
	for (; p[i] && strchr("-+ #0'", p[i]); i++)
		c->plain = false;
	if (p[i] == '*') {
		c->star_width = true;
		c->plain = false;
		i++;
	}
	for (; is_digit(p[i]); i++)
		c->plain = false;
	if (p[i] == '$')
		return 0; /* positional: the values are not taken in order */
	if (p[i] == '.') {
		c->plain = false;
		if (p[++i] == '*') {
			c->star_prec = true;
			i++;
		}
		while (is_digit(p[i]))
			i++;
	}
	if (p[i] == 'h')
		size = p[i + 1] == 'h' ? (i++, HH) : H;
	else if (p[i] == 'l')
		size = p[i + 1] == 'l' ? (i++, LL) : L;
	else if (p[i] == 'z')
		size = Z;
	else if (p[i] == 'L')
		size = BIGL;
	if (size != NONE)
		i++;
	c->conv = p[i];
	if (!p[i] || i + 1 >= LOGFMT_SPEC_MAX)
		return 0;
	if (strchr("diouxX", p[i])) {
		static const uint8_t arg[] = { [NONE] = LOGFMT_INT, [HH] = LOGFMT_INT,
					       [H] = LOGFMT_INT,    [L] = LOGFMT_LONG,
					       [LL] = LOGFMT_LLONG, [Z] = LOGFMT_SIZE };

		if (size == BIGL)
			return 0;
		c->arg = arg[size];
		c->is_signed = p[i] == 'd' || p[i] == 'i';
	} else if (strchr("aAeEfFgG", p[i])) {
		if (size != NONE && size != L && size != BIGL)
			return 0;
		c->arg = size == BIGL ? LOGFMT_LDOUBLE : LOGFMT_DOUBLE;
	} else if (p[i] == 'c' || p[i] == 's' || p[i] == 'p') {
		if (size != NONE)
			return 0; /* wide characters */
		c->arg = p[i] == 'c' ? LOGFMT_INT : p[i] == 's' ? LOGFMT_STR : LOGFMT_PTR;
		c->is_signed = p[i] == 'c';
	} else {
		return 0; /* %n, %m, unknown */
	}
	return i + 1;
}

void logfmt_event(const char *fmt, char *out)
{
	struct logfmt_conv c;
	size_t n = 0, len;
	int words = 0, depth = 0;
	const char *p = fmt;

	while (*p && words < 3) {
		if (*p == '%') {
			len = parse_spec(p, &c);
			if (!len) {
				/* one the walk cannot take ("%m", "%1$s"): through its letter */
				len = 1;
				while (p[len] && strchr("-+ #0'", p[len]))
					len++;
				while (p[len] && strchr("0123456789.*$", p[len]))
					len++;
				while (p[len] && strchr("hlLqjzt", p[len]))
					len++;
				if (p[len])
					len++;
			}
			p += len;
		} else if (*p == '(' || *p == ')') {
			depth += *p == '(' ? 1 : depth > 0 ? -1 : 0;
			p++;
		} else if (depth || !word_char(*p)) {
			/* a clause ends ("%s:%u" is an address, not a clause) */
			if (!depth && words >= 2 &&
			    (((*p == ':' || *p == ',') && (p[1] == ' ' || !p[1])) || *p == ';' ||
			     (p[0] == '-' && p[1] == '>')))
				break;
			p++;
		} else {
			/* a '_' only where a letter of the next word still fits */
			if (words && n + 2 < LOGFMT_EVENT_MAX)
				out[n++] = '_';
			for (; word_char(*p); p++)
				if (n + 1 < LOGFMT_EVENT_MAX)
					out[n++] = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a')
									  : *p;
			words++;
		}
	}
	if (!words) {
		strcpy(out, "message");
		return;
	}
	out[n] = '\0';
}

/*
 * The field a word before a value names (logfmt.h): a string, or for the
 * last three a number ("up to %us" is no target).
 */
static const char *word_field(const char *w, size_t n, char conv)
{
	static const char *const map[][2] = {
		{ "from", "peer" },
		{ "user", "user" },
		{ "target", "target" },
		{ "to", "target" },
		{ "upstream", "upstream" },
		{ "server", "server" },
		{ "on", "listen" },
		{ "plugin", "plugin" },
		{ "servers_url", "url" },
		{ "session", "session" }, /* the numbers */
		{ "pid", "pid" },
		{ "generation", "generation" },
	};
	const size_t strings = 9;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strlen(map[i][0]) != n || memcmp(map[i][0], w, n))
			continue;
		if (i < strings ? conv == 's' : strchr("diu", conv) != NULL)
			return map[i][1];
		return NULL;
	}
	return NULL;
}

/* Name value j of n; its fixed text runs from lit to c[j].start. */
static const char *field_of(const char *fmt, const struct logfmt_conv *c, int j, int n)
{
	const struct logfmt_conv *k = &c[j];
	size_t lit = j ? c[j - 1].end : 0, e = k->start, b;
	const char *after = fmt + k->end;

	if (j && c[j - 1].joined)
		return NULL; /* the port of a "%s:%u" pair */
	if (!k->joined && j + 1 < n && c[j + 1].start == k->end)
		return NULL; /* "%s%s": where one ends the text does not say */
	if (e > lit && fmt[e - 1] == '\'')
		e--;
	if (e > lit && fmt[e - 1] == ' ')
		e--;
	for (b = e; b > lit && word_char(fmt[b - 1]); b--)
		;
	if (b < e && word_field(fmt + b, e - b, k->conv))
		return word_field(fmt + b, e - b, k->conv);
	if (k->conv != 's' || k->joined)
		return NULL;
	if (k->start > lit && fmt[k->start - 1] == '(' && (*after == ')' || *after == ';'))
		return "reason";
	if (k->start >= lit + 2 && fmt[k->start - 2] == ':' && fmt[k->start - 1] == ' ' &&
	    (!*after || *after == ';' || (after[0] == ' ' && after[1] == '(')))
		return "reason";
	return NULL;
}

int logfmt_parse(const char *fmt, struct logfmt_conv *c, int max)
{
	struct logfmt_conv k;
	size_t i = 0, len;
	int n = 0;

	while (fmt[i]) {
		if (fmt[i] != '%') {
			i++;
			continue;
		}
		len = parse_spec(fmt + i, &k);
		if (!len)
			return -1;
		if (k.conv != '%') {
			if (n == max || i + len > UINT16_MAX)
				return -1;
			k.start = (uint16_t)i;
			k.end = (uint16_t)(i + len);
			c[n++] = k;
		}
		i += len;
	}
	for (int j = 0; j + 1 < n; j++)
		c[j].joined = c[j].conv == 's' && fmt[c[j].end] == ':' &&
			      c[j + 1].start == c[j].end + 1 && strchr("diu", c[j + 1].conv);
	for (int j = 0; j < n; j++) {
		c[j].name = field_of(fmt, c, j, n);
		for (int m = 0; m < j && c[j].name; m++)
			if (c[m].name == c[j].name)
				c[j].name = NULL;
	}
	return n;
}
