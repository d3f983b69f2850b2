/* SPDX-License-Identifier: MIT */
/*
 * acl — libev ACL files (proto/acl.h). The only file that includes PCRE2.
 *
 * Names are compared as DNS compares them: without regard to case and to
 * one trailing dot ("BLOCKED.example." is "blocked.example"). Literal
 * names are stored in lower case, the name asked about is brought to lower
 * case without its trailing dot, and regular expressions are compiled
 * caseless — otherwise a client reaches a blocked name by spelling it
 * differently.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "proto/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LIBEV 255 /* libev's fgets(buf, 256): longer lines are dropped */
#define NAME_MAX_ACL 255   /* a longer name is no host name: the error rule decides */
/*
 * Bounds on one pcre2_match: a pattern that backtracks without end (a
 * "(a+)+$" line, by mistake or on purpose) gives up with an error instead
 * of holding a worker (about 1.5 ms with JIT at this limit, a tenth of
 * PCRE2's default). Names are at most 255 bytes: 3,000 unanchored patterns
 * against a 253-byte name stay far below it. JIT code honours the match
 * limit, not the depth limit (its stack is bounded by itself:
 * PCRE2_ERROR_JIT_STACKLIMIT, an error like the others).
 */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000

/* Addresses as 16 bytes (IPv4 as ::ffff:a.b.c.d, its prefix + 96). */
struct prefix_set {
	uint8_t (*net[129])[16]; /* per prefix length: sorted masked networks */
	size_t n[129], cap[129];
};

/* Strings, open addressing. */
struct name_set {
	char **slot;
	size_t mask, n;
};

struct list {
	struct prefix_set ip;
	struct name_set suffix, exact;
	/* every other pattern, as one alternation — or as a few, when one
	 * would be larger than PCRE2 compiles (64 KiB of code with Debian's
	 * LINK_SIZE 2: about a thousand patterns of thirty characters) */
	pcre2_code **combined;
	size_t n_combined;
	pcre2_code **single;       /* patterns with back-references, one by one */
	size_t n_single;
	char *alt;                 /* the alternation being built */
	size_t alt_len, n_alt;
	size_t *alt_off;           /* where each of its patterns starts */
	int *alt_line;             /* and the line it came from */
};

struct acl {
	enum acl_mode mode;
	struct list l[ACL_LISTS];
	struct acl_stats st;
	pcre2_match_context *mctx; /* the limits; read-only once made, shared by workers */
};

static uint64_t str_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h ^ (h >> 31);
}

static int set_add(struct name_set *s, const char *v, size_t n)
{
	size_t i;

	if (2 * (s->n + 1) > s->mask + 1 || !s->slot) {
		size_t cap = s->slot ? 2 * (s->mask + 1) : 64;
		char **ns = calloc(cap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t k = 0; s->slot && k <= s->mask; k++) {
			char *e = s->slot[k];

			if (!e)
				continue;
			i = str_hash(e, strlen(e)) & (cap - 1);
			while (ns[i])
				i = (i + 1) & (cap - 1);
			ns[i] = e;
		}
		free(s->slot);
		s->slot = ns;
		s->mask = cap - 1;
	}
	i = str_hash(v, n) & s->mask;
	while (s->slot[i]) {
		if (strlen(s->slot[i]) == n && !memcmp(s->slot[i], v, n))
			return 0;
		i = (i + 1) & s->mask;
	}
	s->slot[i] = strndup(v, n);
	if (!s->slot[i])
		return -ENOMEM;
	s->n++;
	return 0;
}

static bool set_has(const struct name_set *s, const char *v, size_t n)
{
	size_t i;

	if (!s->n)
		return false;
	for (i = str_hash(v, n) & s->mask; s->slot[i]; i = (i + 1) & s->mask)
		if (strlen(s->slot[i]) == n && !memcmp(s->slot[i], v, n))
			return true;
	return false;
}

static void set_free(struct name_set *s)
{
	for (size_t k = 0; s->slot && k <= s->mask; k++)
		free(s->slot[k]);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

static void mask_to(uint8_t a[16], unsigned plen)
{
	for (unsigned b = 0; b < 16; b++) {
		unsigned keep = plen >= 8 * (b + 1) ? 8 : plen > 8 * b ? plen - 8 * b : 0;

		a[b] &= (uint8_t)(keep ? 0xff << (8 - keep) : 0);
	}
}

static int cmp16(const void *x, const void *y)
{
	return memcmp(x, y, 16);
}

static int ip_add(struct prefix_set *p, const uint8_t a[16], unsigned plen)
{
	if (p->n[plen] == p->cap[plen]) {
		size_t cap = p->cap[plen] ? 2 * p->cap[plen] : 16;
		uint8_t(*nn)[16] = realloc(p->net[plen], cap * 16);

		if (!nn)
			return -ENOMEM;
		p->net[plen] = nn;
		p->cap[plen] = cap;
	}
	memcpy(p->net[plen][p->n[plen]], a, 16);
	mask_to(p->net[plen][p->n[plen]], plen);
	p->n[plen]++;
	return 0;
}

static void ip_sort(struct prefix_set *p)
{
	for (unsigned l = 0; l <= 128; l++)
		if (p->n[l] > 1)
			qsort(p->net[l], p->n[l], 16, cmp16);
}

static bool ip_has(const struct prefix_set *p, const uint8_t a[16])
{
	for (unsigned l = 0; l <= 128; l++) {
		uint8_t k[16];

		if (!p->n[l])
			continue;
		memcpy(k, a, 16);
		mask_to(k, l);
		if (bsearch(k, p->net[l], p->n[l], 16, cmp16))
			return true;
	}
	return false;
}

/* "1.2.3.0/24", "2001:db8::/32", "10.0.0.1": 16 bytes and a prefix length; false if not one. */
static bool parse_cidr(const char *s, uint8_t a[16], unsigned *plen)
{
	char host[64];
	const char *slash = strrchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr v4;
	long p = -1;

	if (hl == 0 || hl >= sizeof(host))
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (slash) {
		char *end;

		p = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || p < 0)
			return false;
	}
	if (inet_pton(AF_INET, host, &v4) == 1) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &v4, 4);
		if (p > 32)
			return false;
		*plen = 96 + (unsigned)(p < 0 ? 32 : p);
		return true;
	}
	if (inet_pton(AF_INET6, host, a) == 1) {
		if (p > 128)
			return false;
		*plen = (unsigned)(p < 0 ? 128 : p);
		return true;
	}
	return false;
}

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * An escaped literal domain ("example\.com") into out; false if p (n
 * bytes) is anything else.
 */
static bool literal_domain(const char *p, size_t n, char *out, size_t *out_len)
{
	size_t o = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n && p[i + 1] == '.') {
			if (o == 0 || out[o - 1] == '.')
				return false;
			out[o++] = '.';
			i++;
		} else if (label_char(p[i])) {
			out[o++] = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a') : p[i];
		} else {
			return false;
		}
	}
	if (out[o - 1] == '.')
		return false;
	*out_len = o;
	return true;
}

/* A pattern ssring answers without a regex engine: 1 suffix, 2 exact, 0 other. */
static int classify(const char *p, size_t n, char *dom, size_t *dl)
{
	static const char suf[] = "(^|\\.)";

	if (n > 7 && !memcmp(p, suf, 6) && p[n - 1] == '$' && literal_domain(p + 6, n - 7, dom, dl))
		return 1;
	if (n > 2 && p[0] == '^' && p[n - 1] == '$' && literal_domain(p + 1, n - 2, dom, dl))
		return 2;
	return 0;
}

/* Does the pattern refer to groups by number or name (back-references, subroutines)? */
static bool refers_to_groups(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] == '\\') {
			char c = p[i + 1];

			if ((c >= '1' && c <= '9') || c == 'g' || c == 'k')
				return true;
			i++;
		} else if (p[i] == '(' && p[i + 1] == '?' && i + 2 < n) {
			char c = p[i + 2];

			if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '&' || c == 'R' ||
			    (c == 'P' && i + 3 < n && (p[i + 3] == '=' || p[i + 3] == '>')))
				return true;
		}
	}
	return false;
}

static int add_regex(struct list *l, const char *p, size_t n, int line, char *err,
		     size_t err_len)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)p, n, PCRE2_CASELESS, &ec, &off, NULL);
	size_t *offs;
	int *lines;
	char *alt;

	if (!c) {
		PCRE2_UCHAR msg[120];

		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, err_len, "line %d: '%.*s' is neither an address nor a regular "
			 "expression: %s (at offset %zu)", line, (int)(n > 80 ? 80 : n), p,
			 (const char *)msg, (size_t)off);
		return -EINVAL;
	}
	if (refers_to_groups(p, n)) {
		/* Group numbers would shift in the alternation: this one stays alone. */
		pcre2_code **ns = realloc(l->single, (l->n_single + 1) * sizeof(*ns));

		if (!ns) {
			pcre2_code_free(c);
			return -ENOMEM;
		}
		l->single = ns;
		pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
		l->single[l->n_single++] = c;
		return 0;
	}
	pcre2_code_free(c);
	/* (?:p) joins the alternation */
	alt = realloc(l->alt, l->alt_len + n + 6);
	if (!alt)
		return -ENOMEM;
	l->alt = alt;
	offs = realloc(l->alt_off, (l->n_alt + 1) * sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	l->alt_off = offs;
	lines = realloc(l->alt_line, (l->n_alt + 1) * sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	l->alt_line = lines;
	l->alt_line[l->n_alt] = line;
	if (l->n_alt)
		l->alt[l->alt_len++] = '|';
	l->alt_off[l->n_alt] = l->alt_len;
	memcpy(l->alt + l->alt_len, "(?:", 3);
	memcpy(l->alt + l->alt_len + 3, p, n);
	l->alt[l->alt_len + 3 + n] = ')';
	l->alt_len += n + 4;
	l->n_alt++;
	return 0;
}

/*
 * Compile patterns [from, to) of the alternation as one expression, or, if
 * PCRE2 refuses that (too large), each half on its own, and so on. A
 * pattern refused even alone compiled by itself (add_regex), but not as a
 * part of the alternation: start-of-pattern items such as (*UTF) or an
 * unterminated \Q cannot be wrapped in (?:...). That is the line's fault,
 * and the message names it.
 */
static int compile_alts(struct list *l, size_t from, size_t to, char *err, size_t err_len)
{
	size_t start = l->alt_off[from], end = to < l->n_alt ? l->alt_off[to] - 1 : l->alt_len;
	pcre2_code *c, **nc;
	PCRE2_SIZE eoff;
	int ec, r;

	c = pcre2_compile((PCRE2_SPTR)l->alt + start, end - start, PCRE2_CASELESS, &ec, &eoff,
			  NULL);
	if (!c) {
		if (to - from == 1) {
			PCRE2_UCHAR msg[120];
			int n = (int)(end - start - 4); /* without "(?:" and ")" */

			if (ec == PCRE2_ERROR_HEAP_FAILED)
				return -ENOMEM;
			pcre2_get_error_message(ec, msg, sizeof(msg));
			snprintf(err, err_len, "line %d: '%.*s' compiles alone but not combined "
				 "with the list's other patterns (start-of-pattern items such as "
				 "(*UTF) or an unterminated \\Q cannot be): %s", l->alt_line[from],
				 n > 80 ? 80 : n, l->alt + start + 3, (const char *)msg);
			return -EINVAL;
		}
		r = compile_alts(l, from, from + (to - from) / 2, err, err_len);
		return r ? r : compile_alts(l, from + (to - from) / 2, to, err, err_len);
	}
	nc = realloc(l->combined, (l->n_combined + 1) * sizeof(*nc));
	if (!nc) {
		pcre2_code_free(c);
		return -ENOMEM;
	}
	l->combined = nc;
	pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
	l->combined[l->n_combined++] = c;
	return 0;
}

/* Compile the alternation of a list's other patterns. */
static int finish_list(struct list *l, char *err, size_t err_len)
{
	return l->n_alt ? compile_alts(l, 0, l->n_alt, err, err_len) : 0;
}

int acl_parse(const char *text, size_t len, struct acl **out, char *err, size_t err_len)
{
	struct acl *a = calloc(1, sizeof(*a));
	enum acl_list cur = ACL_BYPASS;
	int line_no = 0, ret = 0;
	size_t i = 0;

	*out = NULL;
	if (err_len)
		err[0] = '\0';
	if (!a)
		return -ENOMEM;
	while (i < len && !ret) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - text - i) : len - i;
		const char *p = text + i, *hash;
		char dom[LINE_MAX_LIBEV + 1];
		uint8_t addr[16];
		unsigned plen;
		size_t dl;
		int kind;

		i += n + (nl != NULL);
		line_no++;
		if (n >= LINE_MAX_LIBEV) {
			a->st.discarded++;
			continue;
		}
		hash = memchr(p, '#', n);
		if (hash)
			n = (size_t)(hash - p);
		while (n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v')) {
			p++;
			n--;
		}
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
			     p[n - 1] == '\f' || p[n - 1] == '\v'))
			n--;
		if (!n)
			continue;
		if (memchr(p, '\0', n)) {
			a->st.discarded++;
			continue;
		}
		a->st.lines++;
#define IS(s) (n == sizeof(s) - 1 && !memcmp(p, s, n))
		if (IS("[outbound_block_list]")) {
			cur = ACL_BLOCK;
			continue;
		}
		if (IS("[black_list]") || IS("[bypass_list]")) {
			cur = ACL_BYPASS;
			continue;
		}
		if (IS("[white_list]") || IS("[proxy_list]")) {
			cur = ACL_PROXY;
			continue;
		}
		if (IS("[reject_all]") || IS("[bypass_all]")) {
			a->mode = ACL_MODE_BYPASS_ALL;
			continue;
		}
		if (IS("[accept_all]") || IS("[proxy_all]")) {
			a->mode = ACL_MODE_PROXY_ALL;
			continue;
		}
#undef IS
		memcpy(dom, p, n);
		dom[n] = '\0';
		if (parse_cidr(dom, addr, &plen)) {
			ret = ip_add(&a->l[cur].ip, addr, plen);
			a->st.cidrs++;
			continue;
		}
		kind = classify(p, n, dom, &dl);
		if (kind == 1) {
			ret = set_add(&a->l[cur].suffix, dom, dl);
			a->st.suffixes++;
		} else if (kind == 2) {
			ret = set_add(&a->l[cur].exact, dom, dl);
			a->st.exact++;
		} else {
			ret = add_regex(&a->l[cur], p, n, line_no, err, err_len);
			a->st.regexes++;
		}
	}
	for (int l = 0; l < ACL_LISTS && !ret; l++) {
		ip_sort(&a->l[l].ip);
		ret = finish_list(&a->l[l], err, err_len);
	}
	if (!ret && !(a->mctx = pcre2_match_context_create(NULL)))
		ret = -ENOMEM;
	if (!ret) {
		pcre2_set_match_limit(a->mctx, MATCH_LIMIT);
		pcre2_set_depth_limit(a->mctx, DEPTH_LIMIT);
	}
	if (ret) {
		if (ret == -ENOMEM && err_len)
			snprintf(err, err_len, "out of memory");
		acl_free(a);
		return ret;
	}
	*out = a;
	return 0;
}

void acl_free(struct acl *a)
{
	if (!a)
		return;
	for (int l = 0; l < ACL_LISTS; l++) {
		struct list *li = &a->l[l];

		for (unsigned k = 0; k <= 128; k++)
			free(li->ip.net[k]);
		set_free(&li->suffix);
		set_free(&li->exact);
		for (size_t k = 0; k < li->n_combined; k++)
			pcre2_code_free(li->combined[k]);
		free(li->combined);
		free(li->alt_off);
		free(li->alt_line);
		for (size_t k = 0; k < li->n_single; k++)
			pcre2_code_free(li->single[k]);
		free(li->single);
		free(li->alt);
	}
	pcre2_match_context_free(a->mctx);
	free(a);
}

enum acl_mode acl_get_mode(const struct acl *a)
{
	return a->mode;
}

void acl_get_stats(const struct acl *a, struct acl_stats *out)
{
	*out = a->st;
}

static bool to16(const struct sockaddr *sa, uint8_t a[16])
{
	if (sa->sa_family == AF_INET) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

bool acl_has_addr(const struct acl *a, enum acl_list l, const struct sockaddr *sa)
{
	uint8_t k[16];

	return to16(sa, k) && ip_has(&a->l[l].ip, k);
}

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static bool md_key_ok;

static void md_free(void *md)
{
	pcre2_match_data_free(md);
}

static void md_key_make(void)
{
	md_key_ok = pthread_key_create(&md_key, md_free) == 0;
}

/*
 * One match data per thread: workers match at the same time. The key frees
 * it when its thread ends (a __thread pointer alone would leak it). NULL
 * without memory: the lookup is then undecided.
 */
static pcre2_match_data *match_data(void)
{
	static __thread pcre2_match_data *md;

	if (md)
		return md;
	pthread_once(&md_once, md_key_make);
	if (!md_key_ok)
		return NULL;
	md = pcre2_match_data_create(1, NULL);
	if (md && pthread_setspecific(md_key, md)) {
		pcre2_match_data_free(md);
		md = NULL;
	}
	return md;
}

/*
 * What a name lookup that cannot be decided (the match limit hit, no
 * memory for match data, a name too long to be one) counts as: a match for
 * the block list (refused: fail closed) and for the proxy list, none for
 * the bypass list — so an undecided name is never let out by a server and
 * never sent around the server by a local.
 */
static bool undecided(enum acl_list l)
{
	return l != ACL_BYPASS;
}

/* The name as the lists hold names: lower case, one trailing dot dropped. */
static bool normalise(const char *name, size_t len, char out[NAME_MAX_ACL + 1], size_t *out_len)
{
	if (len && name[len - 1] == '.')
		len--;
	if (len > NAME_MAX_ACL)
		return false;
	for (size_t i = 0; i < len; i++)
		out[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
	out[len] = '\0';
	*out_len = len;
	return true;
}

/* pcre2_match: 1 a match, 0 none, -1 an error (a limit). */
static int re_match(const pcre2_code *re, const char *name, size_t len, pcre2_match_data *md,
		    pcre2_match_context *mctx)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)name, len, 0, 0, md, mctx);

	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

bool acl_has_name(const struct acl *a, enum acl_list l, const char *name, size_t len)
{
	const struct list *li = &a->l[l];
	char n[NAME_MAX_ACL + 1];
	pcre2_match_data *md;
	bool failed = false;

	if (!normalise(name, len, n, &len))
		return undecided(l);
	if (set_has(&li->exact, n, len) || set_has(&li->suffix, n, len))
		return true;
	for (size_t i = 1; li->suffix.n && i < len; i++)
		if (n[i - 1] == '.' && set_has(&li->suffix, n + i, len - i))
			return true;
	if (!li->n_combined && !li->n_single)
		return false;
	md = match_data();
	if (!md)
		return undecided(l);
	/* An error does not end the search: a later expression may still match. */
	for (size_t k = 0; k < li->n_combined; k++) {
		int r = re_match(li->combined[k], n, len, md, a->mctx);

		if (r > 0)
			return true;
		failed |= r < 0;
	}
	for (size_t k = 0; k < li->n_single; k++) {
		int r = re_match(li->single[k], n, len, md, a->mctx);

		if (r > 0)
			return true;
		failed |= r < 0;
	}
	return failed && undecided(l);
}

int acl_match_addr(const struct acl *a, const struct sockaddr *sa)
{
	if (acl_has_addr(a, ACL_BYPASS, sa))
		return 1;
	return acl_has_addr(a, ACL_PROXY, sa) ? -1 : 0;
}

int acl_match_name(const struct acl *a, const char *name, size_t len)
{
	if (acl_has_name(a, ACL_BYPASS, name, len))
		return 1;
	return acl_has_name(a, ACL_PROXY, name, len) ? -1 : 0;
}

enum acl_route acl_route_name(const struct acl *a, const char *name, size_t len)
{
	int m = acl_match_name(a, name, len);

	return m > 0 ? ACL_ROUTE_BYPASS : m < 0 ? ACL_ROUTE_PROXY : ACL_ROUTE_RESOLVE;
}

enum acl_route acl_route_addr(const struct acl *a, const struct sockaddr *sa)
{
	int m = acl_match_addr(a, sa);

	if (acl_get_mode(a) == ACL_MODE_PROXY_ALL)
		return m > 0 ? ACL_ROUTE_BYPASS : ACL_ROUTE_PROXY;
	return m < 0 ? ACL_ROUTE_PROXY : ACL_ROUTE_BYPASS;
}
