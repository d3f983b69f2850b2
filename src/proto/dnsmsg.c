/* SPDX-License-Identifier: MIT */
/* dnsmsg — see include/proto/dnsmsg.h. */
#include "proto/dnsmsg.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define CLASS_IN 1

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* RFC 2181 §8: a TTL with the top bit set is taken as 0. */
static uint32_t ttl_of(const uint8_t *p)
{
	uint32_t t = rd32(p);

	return t & 0x80000000u ? 0 : t;
}

/*
 * The name at off of m (len bytes): its wire form, lower-cased, into out
 * (NULL: not kept) and its length into *n; where the name ends where it
 * stands (after its first pointer, or its root label) into *next; whether
 * it has no pointer into *plain. A pointer must point before the run of
 * labels it ends, past the header, and what it points at must end before
 * the pointer (an earlier name): every jump goes further back, a walk ends,
 * and a name depends on no byte after it. At most DNSMSG_NAME_MAX bytes.
 * 0 or -EINVAL.
 */
static int read_name(const uint8_t *m, size_t len, size_t off, uint8_t *out, size_t *n,
		     size_t *next, bool *plain)
{
	size_t pos = off, run = off, lim = len, wl = 0;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (pos >= lim)
			return -EINVAL;
		c = m[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= lim)
				return -EINVAL;
			to = (size_t)(c & 0x3f) << 8 | m[pos + 1];
			if (to >= run || to < DNSMSG_HEADER) /* never into the header we rewrite */
				return -EINVAL;
			if (!jumped)
				*next = pos + 2;
			jumped = true;
			lim = pos;
			pos = run = to;
			continue;
		}
		if (c & 0xc0 || wl + 1 + c > DNSMSG_NAME_MAX || pos + 1 + c > lim)
			return -EINVAL; /* a label type RFC 6891 retired, or too long */
		if (out) {
			out[wl] = c;
			for (size_t i = 1; i <= c; i++)
				out[wl + i] = m[pos + i] >= 'A' && m[pos + i] <= 'Z'
						      ? (uint8_t)(m[pos + i] | 0x20) : m[pos + i];
		}
		wl += 1 + (size_t)c;
		if (!c)
			break;
		pos += 1 + (size_t)c;
	}
	if (!jumped)
		*next = pos + 1;
	*n = wl;
	*plain = !jumped;
	return 0;
}

/* One resource record where it stands. */
struct rr {
	size_t off, rdata, end;    /* its start, its RDATA, its end */
	size_t name_len;
	uint16_t type, klass, rdlen;
};

static int read_rr(const uint8_t *m, size_t len, size_t off, struct rr *r)
{
	size_t next;
	bool plain;

	if (read_name(m, len, off, NULL, &r->name_len, &next, &plain) || next + 10 > len)
		return -EINVAL;
	r->off = off;
	r->type = rd16(m + next);
	r->klass = rd16(m + next + 2);
	r->rdlen = rd16(m + next + 8);
	r->rdata = next + 10;
	r->end = r->rdata + r->rdlen;
	return r->end > len ? -EINVAL : 0;
}

/* Where a record's TTL stands: the four bytes before RDLENGTH. */
static size_t ttl_off(const struct rr *r)
{
	return r->rdata - 6;
}

/*
 * Each record after the question, section by section (0 answer, 1
 * authority, 2 additional), to fn; -EINVAL at the first record out of
 * bounds or that fn refuses (it returns < 0), 1 when fn returns 1 (the walk
 * stops), else 0 with *end where the last record ends.
 */
static int walk(const uint8_t *m, size_t len, size_t pos, const uint16_t count[3],
		int (*fn)(void *arg, const uint8_t *m, int sec, const struct rr *r), void *arg,
		size_t *end)
{
	for (int sec = 0; sec < 3; sec++)
		for (unsigned i = 0; i < count[sec]; i++) {
			struct rr r;
			int ret;

			if (read_rr(m, len, pos, &r))
				return -EINVAL;
			ret = fn(arg, m, sec, &r);
			if (ret)
				return ret < 0 ? -EINVAL : 1;
			pos = r.end;
		}
	if (end)
		*end = pos;
	return 0;
}

/* min(SOA TTL, SOA MINIMUM) of an authority record (RFC 2308 §5). */
static int soa_ttl(const uint8_t *m, const struct rr *r, uint32_t *out)
{
	size_t n, next, next2;
	bool plain;

	/* MNAME and RNAME may point back into the message, never past RDATA. */
	if (read_name(m, r->end, r->rdata, NULL, &n, &next, &plain) ||
	    read_name(m, r->end, next, NULL, &n, &next2, &plain) || next2 + 20 != r->end)
		return -EINVAL;
	*out = ttl_of(m + ttl_off(r));
	if (ttl_of(m + next2 + 16) < *out)
		*out = ttl_of(m + next2 + 16);
	return 0;
}

static int parse_rr(void *arg, const uint8_t *m, int sec, const struct rr *r)
{
	struct dnsmsg *d = arg;
	uint32_t t;

	if (r->type == DNSMSG_TYPE_OPT) {
		/* One, in the additional section, owned by the root (RFC 6891 §6.1.1),
		 * written as the root label (it is moved alone: no pointer). */
		if (sec != 2 || d->has_opt || m[r->off] != 0)
			return -1;
		d->has_opt = true;
		d->udp_size = r->klass;
		d->do_bit = (rd32(m + ttl_off(r)) & 0x8000) != 0;
		d->opt_off = r->off;
		d->opt_len = r->end - r->off;
	} else if (sec == 0) {
		t = ttl_of(m + ttl_off(r));
		d->min_ttl = t < d->min_ttl ? t : d->min_ttl;
	} else if (sec == 1 && r->type == DNSMSG_TYPE_SOA && r->klass == CLASS_IN) {
		if (soa_ttl(m, r, &t))
			return -1;
		d->neg_ttl = d->has_soa && d->neg_ttl < t ? d->neg_ttl : t;
		d->has_soa = true;
	}
	return 0;
}

int dnsmsg_parse(const uint8_t *m, size_t len, struct dnsmsg *d)
{
	uint16_t count[3];
	size_t n, next;

	memset(d, 0, sizeof(*d));
	if (len < DNSMSG_HEADER || len > DNSMSG_MAX)
		return -EINVAL;
	d->id = rd16(m);
	d->flags = rd16(m + 2);
	d->qd = rd16(m + 4);
	d->an = count[0] = rd16(m + 6);
	d->ns = count[1] = rd16(m + 8);
	d->ar = count[2] = rd16(m + 10);
	d->q_end = DNSMSG_HEADER;
	if (d->qd > 1)
		return -EINVAL; /* nobody sends more than one (RFC 9619) */
	if (d->qd) {
		if (read_name(m, len, DNSMSG_HEADER, d->qname, &n, &next, &d->q_plain) ||
		    next + 4 > len)
			return -EINVAL;
		d->qname_len = (uint16_t)n;
		d->qtype = rd16(m + next);
		d->qclass = rd16(m + next + 2);
		d->q_end = next + 4;
	}
	d->min_ttl = UINT32_MAX;
	if (walk(m, len, d->q_end, count, parse_rr, d, &d->end))
		return -EINVAL;
	if (!d->an)
		d->min_ttl = 0;
	return 0;
}

uint16_t dnsmsg_get_id(const uint8_t *m)
{
	return rd16(m);
}

void dnsmsg_set_id(uint8_t *m, uint16_t id)
{
	wr16(m, id);
}

bool dnsmsg_same_question(const struct dnsmsg *a, const struct dnsmsg *b)
{
	return a->qd == b->qd && a->qname_len == b->qname_len && a->qtype == b->qtype &&
	       a->qclass == b->qclass && !memcmp(a->qname, b->qname, a->qname_len);
}

void dnsmsg_copy_qname_case(uint8_t *am, const struct dnsmsg *a, const uint8_t *qm,
			    const struct dnsmsg *q)
{
	if (a->q_plain && q->q_plain && a->qname_len == q->qname_len &&
	    !memcmp(a->qname, q->qname, a->qname_len))
		memcpy(am + DNSMSG_HEADER, qm + DNSMSG_HEADER, a->qname_len);
}

size_t dnsmsg_qname_text(const struct dnsmsg *d, char out[DNSMSG_TEXT_MAX])
{
	size_t o = 0;

	for (size_t i = 0; i < d->qname_len && d->qname[i];) {
		uint8_t n = d->qname[i++];

		if (o)
			out[o++] = '.';
		for (; n; n--, i++) {
			uint8_t c = d->qname[i];

			if (c == '.' || c == '\\') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c < '!' || c > '~') {
				out[o++] = '\\';
				out[o++] = (char)('0' + c / 100);
				out[o++] = (char)('0' + c / 10 % 10);
				out[o++] = (char)('0' + c % 10);
			} else {
				out[o++] = (char)c;
			}
		}
	}
	out[o] = '\0';
	return o;
}

size_t dnsmsg_cache_key(const struct dnsmsg *q, uint8_t key[DNSMSG_KEY_MAX])
{
	size_t n = q->qname_len;

	memcpy(key, q->qname, n);
	wr16(key + n, q->qtype);
	wr16(key + n + 2, q->qclass);
	/* An answer to a query with EDNS has an OPT record; DO brings signatures;
	 * CD answers may hold what validation would have refused. */
	key[n + 4] = (uint8_t)(q->has_opt | q->do_bit << 1 | ((q->flags & DNSMSG_CD) != 0) << 2);
	return n + 5;
}

struct addr_walk {
	bool (*fn)(void *arg, const struct sockaddr *sa);
	void *arg;
};

static int addr_rr(void *arg, const uint8_t *m, int sec, const struct rr *r)
{
	struct addr_walk *w = arg;
	struct sockaddr_storage ss;

	if (sec != 0 || r->klass != CLASS_IN)
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (r->type == DNSMSG_TYPE_A && r->rdlen == 4) {
		ss.ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)&ss)->sin_addr, m + r->rdata, 4);
	} else if (r->type == DNSMSG_TYPE_AAAA && r->rdlen == 16) {
		ss.ss_family = AF_INET6;
		memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, m + r->rdata, 16);
	} else {
		return 0;
	}
	return w->fn(w->arg, (const struct sockaddr *)&ss);
}

static void counts(const struct dnsmsg *d, uint16_t count[3])
{
	count[0] = d->an;
	count[1] = d->ns;
	count[2] = d->ar;
}

bool dnsmsg_any_addr(const uint8_t *m, const struct dnsmsg *d,
		     bool (*fn)(void *arg, const struct sockaddr *sa), void *arg)
{
	struct addr_walk w = { fn, arg };
	uint16_t count[3];

	counts(d, count);
	count[1] = count[2] = 0;
	return walk(m, d->end, d->q_end, count, addr_rr, &w, NULL) == 1;
}

static int age_rr(void *arg, const uint8_t *m, int sec, const struct rr *r)
{
	uint32_t secs = *(const uint32_t *)arg, t = ttl_of(m + ttl_off(r));

	(void)sec;
	if (r->type != DNSMSG_TYPE_OPT) /* dnsmsg_age's own, writable message */
		wr32((uint8_t *)m + ttl_off(r), t > secs ? t - secs : 0);
	return 0;
}

void dnsmsg_age(uint8_t *m, const struct dnsmsg *d, uint32_t secs)
{
	uint16_t count[3];

	counts(d, count);
	walk(m, d->end, d->q_end, count, age_rr, &secs, NULL);
}

size_t dnsmsg_drop_option(uint8_t *m, size_t len, const struct dnsmsg *d, uint16_t code)
{
	size_t p, end, cut = 0;

	if (!d->has_opt || d->opt_off + d->opt_len != d->end)
		return len;
	/* The options follow root, TYPE, CLASS, TTL and RDLENGTH: 11 bytes. */
	p = d->opt_off + 11;
	end = d->opt_off + d->opt_len;
	while (p + 4 <= end) {
		size_t n = 4 + (size_t)rd16(m + p + 2);

		if (p + n > end)
			break; /* a list that does not add up: left as it is */
		if (rd16(m + p) != code) {
			p += n;
			continue;
		}
		memmove(m + p, m + p + n, len - (p + n));
		len -= n;
		end -= n;
		cut += n;
	}
	if (cut)
		wr16(m + d->opt_off + 9, (uint16_t)(rd16(m + d->opt_off + 9) - cut));
	return len;
}

size_t dnsmsg_truncate(uint8_t *m, size_t len, const struct dnsmsg *d, size_t limit)
{
	size_t n = d->q_end, opt = d->has_opt ? d->opt_len : 0;

	if (len <= limit)
		return len;
	if (opt && n + opt > limit)
		opt = 11; /* the record without its options: name, type, class, TTL, RDLENGTH */
	if (opt) {
		memmove(m + n, m + d->opt_off, opt);
		if (opt == 11)
			wr16(m + n + 9, 0);
	}
	wr16(m + 2, (uint16_t)(rd16(m + 2) | DNSMSG_TC));
	wr16(m + 6, 0);
	wr16(m + 8, 0);
	wr16(m + 10, opt ? 1 : 0);
	return n + opt;
}

size_t dnsmsg_error(uint8_t *out, size_t cap, const uint8_t *qm, const struct dnsmsg *q,
		    unsigned rcode, uint16_t udp_size)
{
	uint16_t f = rd16(qm + 2);
	size_t n = DNSMSG_HEADER;
	bool quest = q && q->qd, opt = q && q->has_opt;

	if (cap < DNSMSG_HEADER + DNSMSG_NAME_MAX + 4 + 11)
		return 0;
	memcpy(out, qm, 2);
	wr16(out + 2, (uint16_t)(DNSMSG_QR | (f & (0x7800 | DNSMSG_RD | DNSMSG_CD)) | DNSMSG_RA |
				 (rcode & 0xf)));
	wr16(out + 4, quest);
	wr16(out + 6, 0);
	wr16(out + 8, 0);
	wr16(out + 10, opt);
	if (quest) {
		/* The query's own bytes (its letter case), unless its name had a pointer. */
		memcpy(out + n, q->q_plain ? qm + DNSMSG_HEADER : q->qname, q->qname_len);
		n += q->qname_len;
		wr16(out + n, q->qtype);
		wr16(out + n + 2, q->qclass);
		n += 4;
	}
	if (opt) {
		out[n] = 0;
		wr16(out + n + 1, DNSMSG_TYPE_OPT);
		wr16(out + n + 3, udp_size);
		wr32(out + n + 5, 0);
		wr16(out + n + 9, 0);
		n += 11;
	}
	return n;
}
