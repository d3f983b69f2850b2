/* SPDX-License-Identifier: MIT */
/*
 * DNS messages: queries and answers with compression, EDNS0, every
 * truncation of a message, pointer loops and forward pointers, long names,
 * retired label types, a misplaced or second OPT, negative TTLs from the
 * SOA, ageing, truncation for UDP clients, error answers, cache keys and
 * presentation names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "check.h"
#include "proto/dnsmsg.h"

struct msg {
	uint8_t b[DNSMSG_MAX];
	size_t n;
};

static void put8(struct msg *m, unsigned v)
{
	m->b[m->n++] = (uint8_t)v;
}

static void put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

static void header(struct msg *m, unsigned id, unsigned flags, unsigned qd, unsigned an,
		   unsigned ns, unsigned ar)
{
	m->n = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* "www.Example.com" as labels, with the root label. */
static void name(struct msg *m, const char *dotted)
{
	while (*dotted) {
		const char *dot = strchr(dotted, '.');
		size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);

		put8(m, (unsigned)n);
		memcpy(m->b + m->n, dotted, n);
		m->n += n;
		dotted += n + (dot != NULL);
	}
	put8(m, 0);
}

static void ptr(struct msg *m, unsigned to)
{
	put16(m, 0xc000 | to);
}

/* A record's TYPE, CLASS IN, TTL and RDLENGTH (after its name). */
static void rr(struct msg *m, unsigned type, uint32_t ttl, unsigned rdlen)
{
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, rdlen);
}

static void opt(struct msg *m, unsigned size, bool dobit, size_t optlen)
{
	put8(m, 0);
	put16(m, DNSMSG_TYPE_OPT);
	put16(m, size);
	put32(m, dobit ? 0x8000 : 0);
	put16(m, (unsigned)optlen);
	for (size_t i = 0; i < optlen; i++)
		put8(m, 0xee);
}

/* A query for www.Example.com A IN with EDNS (1232, DO). */
static void query(struct msg *m)
{
	header(m, 0x1234, DNSMSG_RD, 1, 0, 0, 1);
	name(m, "www.Example.com");
	put16(m, DNSMSG_TYPE_A);
	put16(m, 1);
	opt(m, 1232, true, 0);
}

static void test_query(void)
{
	struct msg m;
	struct dnsmsg d;
	char text[DNSMSG_TEXT_MAX];

	query(&m);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(d.id, 0x1234);
	CHECK_EQ(d.qd, 1);
	CHECK_EQ(d.qtype, DNSMSG_TYPE_A);
	CHECK_EQ(d.qclass, 1);
	CHECK_EQ(d.qname_len, 17);
	CHECK_MEM(d.qname, "\3www\7example\3com", 17);
	CHECK(d.q_plain);
	CHECK_EQ(d.q_end, 12 + 17 + 4);
	CHECK(d.has_opt && d.do_bit);
	CHECK_EQ(d.udp_size, 1232);
	CHECK_EQ(d.opt_off, d.q_end);
	CHECK_EQ(d.opt_len, 11);
	CHECK_EQ(d.end, m.n);
	CHECK_EQ(dnsmsg_qname_text(&d, text), 15);
	CHECK(!strcmp(text, "www.example.com"));
	/* Every prefix is short of something the header promises. */
	for (size_t n = 0; n < m.n; n++)
		CHECK_EQ(dnsmsg_parse(m.b, n, &d), -EINVAL);
	/* Bytes after the last record are not the message's. */
	m.b[m.n++] = 0;
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(d.end, m.n - 1);
	CHECK_EQ(dnsmsg_get_id(m.b), 0x1234);
	dnsmsg_set_id(m.b, 0xbeef);
	CHECK_EQ(dnsmsg_get_id(m.b), 0xbeef);
}

static bool collect(void *arg, const struct sockaddr *sa)
{
	const void *ip = sa->sa_family == AF_INET
				 ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
				 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	char *out = arg, buf[64];

	inet_ntop(sa->sa_family, ip, buf, sizeof(buf));
	strcat(out, buf);
	strcat(out, " ");
	return false;
}

static bool find_v6(void *arg, const struct sockaddr *sa)
{
	(*(int *)arg)++;
	return sa->sa_family == AF_INET6;
}

/* An answer: CNAME to a name that points back, two A and an AAAA record. */
static void answer(struct msg *m, uint32_t ttl_a)
{
	header(m, 0x4321, DNSMSG_QR | DNSMSG_RD | DNSMSG_RA, 1, 4, 0, 1);
	name(m, "WWW.example.com");
	put16(m, DNSMSG_TYPE_A);
	put16(m, 1);
	ptr(m, 12); /* www.example.com CNAME cdn.example.com */
	rr(m, 5, 300, 6);
	put8(m, 3);
	memcpy(m->b + m->n, "cdn", 3);
	m->n += 3;
	ptr(m, 16); /* "example.com" inside the question */
	for (int i = 0; i < 2; i++) {
		ptr(m, 12 + 17 + 4 + 12); /* the CNAME's target */
		rr(m, DNSMSG_TYPE_A, ttl_a + (uint32_t)i, 4);
		put32(m, 0xC0000201u + (uint32_t)i); /* 192.0.2.1, .2 */
	}
	ptr(m, 12 + 17 + 4 + 12);
	put16(m, DNSMSG_TYPE_AAAA);
	put16(m, 1);
	put32(m, 0x80000000u); /* top bit: counts as 0 (RFC 2181 §8) */
	put16(m, 16);
	put32(m, 0x20010db8);
	put32(m, 0);
	put32(m, 0);
	put32(m, 1);
	opt(m, 4096, false, 4);
}

static void test_answer(void)
{
	struct msg m, q;
	struct dnsmsg d, dq;
	char addrs[256] = "";
	int seen = 0;

	answer(&m, 60);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(d.an, 4);
	CHECK(d.flags & DNSMSG_QR);
	CHECK_EQ(d.min_ttl, 0); /* the AAAA's */
	CHECK(d.has_opt && !d.do_bit);
	CHECK_EQ(d.opt_len, 15);
	CHECK(!dnsmsg_any_addr(m.b, &d, collect, addrs));
	CHECK(!strcmp(addrs, "192.0.2.1 192.0.2.2 2001:db8::1 "));
	CHECK(dnsmsg_any_addr(m.b, &d, find_v6, &seen));
	CHECK_EQ(seen, 3);
	for (size_t n = 0; n < d.end; n++)
		CHECK_EQ(dnsmsg_parse(m.b, n, &dq), -EINVAL);

	/* Ageing: every TTL down by 100, not below 0, the OPT record untouched. */
	dnsmsg_age(m.b, &d, 100);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &dq), 0);
	CHECK_EQ(dq.min_ttl, 0);
	CHECK_EQ(m.b[12 + 17 + 4 + 6 + 3], 200); /* the CNAME's 300 */
	CHECK_EQ(dq.opt_len, d.opt_len);
	answer(&m, 5000);
	m.b[m.n - 15 - 16 - 2 - 4] = 0; /* the AAAA's TTL: 0x80000000 -> 0x00000000 */
	m.b[m.n - 15 - 16 - 2 - 3] = 1; /* 65536 */
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(d.min_ttl, 300); /* the CNAME's now */

	/* The question: the same, whatever the case; the query's case copied in. */
	query(&q);
	CHECK_EQ(dnsmsg_parse(q.b, q.n, &dq), 0);
	CHECK(dnsmsg_same_question(&d, &dq));
	dnsmsg_copy_qname_case(m.b, &d, q.b, &dq);
	CHECK_MEM(m.b + 12, "\3www\7Example\3com", 17);
	dq.qtype = DNSMSG_TYPE_AAAA;
	CHECK(!dnsmsg_same_question(&d, &dq));
}

static void test_bad_names(void)
{
	struct msg m;
	struct dnsmsg d;

	/* A pointer to itself, one forward, two that point at each other. */
	header(&m, 1, 0, 1, 0, 0, 0);
	ptr(&m, 12);
	put32(&m, 0x00010001);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	header(&m, 1, 0, 1, 0, 0, 0);
	ptr(&m, 14);
	name(&m, "a");
	put32(&m, 0x00010001);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	/* a question, then an answer whose name ends at a pointer back into a
	 * label run that reaches the same pointer again */
	header(&m, 1, 0, 1, 1, 0, 0);
	name(&m, "a");
	put32(&m, 0x00010001);
	put8(&m, 1);
	put8(&m, 'b');
	ptr(&m, 12 + 3 + 4); /* to its own first label */
	rr(&m, 1, 1, 0);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	/* A pointer back to a label that runs over the pointer itself: the name
	 * would depend on the bytes after it. */
	header(&m, 1, 0, 1, 2, 0, 0);
	name(&m, "a");
	put32(&m, 0x00010001);
	put8(&m, 0); /* at 19: root, A IN, TTL 1, one byte of RDATA: 05 */
	rr(&m, 1, 1, 1);
	put8(&m, 5);
	ptr(&m, 30); /* at 31 */
	rr(&m, 1, 1, 0);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	/* Compression into the question is fine. */
	header(&m, 1, DNSMSG_QR, 1, 1, 0, 0);
	name(&m, "a");
	put32(&m, 0x00010001);
	ptr(&m, 12);
	rr(&m, 1, 7, 4);
	put32(&m, 0x7f000001);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(d.min_ttl, 7);

	/* 255 bytes of name are fine, 256 are not. */
	for (int len = 255; len <= 256; len++) {
		int left = len - 1;

		header(&m, 1, 0, 1, 0, 0, 0);
		while (left > 0) {
			int l = left - 1 > 63 ? 63 : left - 1;

			put8(&m, (unsigned)l);
			for (int i = 0; i < l; i++)
				put8(&m, 'x');
			left -= l + 1;
		}
		put8(&m, 0);
		put32(&m, 0x00010001);
		CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), len == 255 ? 0 : -EINVAL);
	}
	/* Label types 01 and 10 (RFC 6891 retired the extended ones). */
	for (unsigned t = 0x40; t <= 0x80; t += 0x40) {
		header(&m, 1, 0, 1, 0, 0, 0);
		put8(&m, t | 1);
		put8(&m, 'a');
		put8(&m, 0);
		put32(&m, 0x00010001);
		CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	}
	/* Two questions. */
	header(&m, 1, 0, 2, 0, 0, 0);
	name(&m, "a");
	put32(&m, 0x00010001);
	name(&m, "b");
	put32(&m, 0x00010001);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
}

static void test_opt_rules(void)
{
	struct msg m;
	struct dnsmsg d;

	/* Two OPT records. */
	header(&m, 1, 0, 1, 0, 0, 2);
	name(&m, "a");
	put32(&m, 0x00010001);
	opt(&m, 512, false, 0);
	opt(&m, 512, false, 0);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	/* One in the answer section. */
	header(&m, 1, 0, 1, 1, 0, 0);
	name(&m, "a");
	put32(&m, 0x00010001);
	opt(&m, 512, false, 0);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	/* One owned by a name other than the root, or by the root through a
	 * pointer (it could not be moved alone). */
	for (int owner = 0; owner < 2; owner++) {
		header(&m, 1, 0, 1, 0, 0, 1);
		name(&m, "a");
		put32(&m, 0x00010001);
		if (owner)
			ptr(&m, 14); /* the question's root label */
		else
			name(&m, "a");
		put16(&m, DNSMSG_TYPE_OPT);
		put16(&m, 512);
		put32(&m, 0);
		put16(&m, 0);
		CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	}
	/* RDLENGTH past the end. */
	header(&m, 1, 0, 1, 0, 0, 1);
	name(&m, "a");
	put32(&m, 0x00010001);
	opt(&m, 512, false, 0);
	m.b[m.n - 1] = 1;
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
}

/* NXDOMAIN with an SOA: the negative TTL is min(TTL, MINIMUM). */
static void test_negative(void)
{
	struct msg m;
	struct dnsmsg d;

	for (int minimum_first = 0; minimum_first <= 1; minimum_first++) {
		header(&m, 9, DNSMSG_QR | DNSMSG_NXDOMAIN, 1, 0, 1, 0);
		name(&m, "nope.example.com");
		put32(&m, 0x00010001);
		ptr(&m, 12 + 5); /* example.com */
		rr(&m, DNSMSG_TYPE_SOA, minimum_first ? 900 : 30, 2 + 7 + 20);
		ptr(&m, 12 + 5);
		put8(&m, 4);
		memcpy(m.b + m.n, "host", 4);
		m.n += 4;
		ptr(&m, 12 + 5);
		put32(&m, 1);
		put32(&m, 2);
		put32(&m, 3);
		put32(&m, 4);
		put32(&m, minimum_first ? 60 : 3600);
		CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
		CHECK(d.has_soa);
		CHECK_EQ(d.neg_ttl, minimum_first ? 60 : 30);
		CHECK_EQ(DNSMSG_RCODE(d.flags), DNSMSG_NXDOMAIN);
		CHECK_EQ(d.min_ttl, 0);
		/* RDATA that does not end with the five numbers. */
		m.b[12 + 18 + 4 + 11]++;
		put8(&m, 0);
		CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), -EINVAL);
	}
}

/* An answer with a big TXT record, cut for UDP clients. */
static void big_txt(struct msg *m, size_t txt, size_t optlen)
{
	header(m, 7, DNSMSG_QR | DNSMSG_RD | DNSMSG_RA, 1, 1, 0, 1);
	name(m, "big.test");
	put16(m, DNSMSG_TYPE_TXT);
	put16(m, 1);
	ptr(m, 12);
	rr(m, DNSMSG_TYPE_TXT, 60, (unsigned)(txt + (txt + 254) / 255));
	for (size_t left = txt; left;) {
		size_t k = left > 255 ? 255 : left;

		put8(m, (unsigned)k);
		memset(m->b + m->n, 't', k);
		m->n += k;
		left -= k;
	}
	opt(m, 1232, true, optlen);
}

static void test_truncate(void)
{
	struct msg m;
	struct dnsmsg d, t;
	size_t n;

	big_txt(&m, 2000, 8);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(dnsmsg_truncate(m.b, m.n, &d, m.n), m.n); /* it fits */
	n = dnsmsg_truncate(m.b, m.n, &d, 512);
	CHECK_EQ(n, d.q_end + 11 + 8);
	CHECK_EQ(dnsmsg_parse(m.b, n, &t), 0);
	CHECK(t.flags & DNSMSG_TC);
	CHECK_EQ(t.an + t.ns, 0);
	CHECK_EQ(t.ar, 1);
	CHECK(t.has_opt && t.do_bit);
	CHECK_EQ(t.opt_len, 19);
	CHECK_EQ(t.udp_size, 1232);
	CHECK(dnsmsg_same_question(&d, &t));
	/* Options that do not fit go; the record stays. */
	big_txt(&m, 2000, 600);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	n = dnsmsg_truncate(m.b, m.n, &d, 512);
	CHECK_EQ(n, d.q_end + 11);
	CHECK_EQ(dnsmsg_parse(m.b, n, &t), 0);
	CHECK(t.has_opt && t.opt_len == 11);
	/* Without EDNS: header and question. */
	big_txt(&m, 1000, 0);
	m.b[11] = 0; /* ARCOUNT 0: the OPT record is trailing bytes now */
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK(!d.has_opt);
	n = dnsmsg_truncate(m.b, d.end, &d, 512);
	CHECK_EQ(n, d.q_end);
	CHECK_EQ(dnsmsg_parse(m.b, n, &t), 0);
	CHECK_EQ(t.ar, 0);
}

/* EDNS options dropped by code, with what follows the OPT record moved up. */
static void test_drop_option(void)
{
	static const uint8_t opts[] = {
		0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,   /* COOKIE, a client cookie */
		0, 12, 0, 2, 0, 0,                     /* padding */
		0, 10, 0, 0,                           /* COOKIE again, empty */
	};
	struct msg m;
	struct dnsmsg d, e;
	size_t n;

	header(&m, 1, 0, 1, 0, 0, 2);
	name(&m, "a");
	put32(&m, 0x00010001);
	put8(&m, 0);
	put16(&m, DNSMSG_TYPE_OPT);
	put16(&m, 1232);
	put32(&m, 0x8000);
	put16(&m, sizeof(opts));
	memcpy(m.b + m.n, opts, sizeof(opts));
	m.n += sizeof(opts);
	m.b[11] = 1;
	m.b[m.n++] = 0x55; /* a byte after the records: moved up too */
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(dnsmsg_drop_option(m.b, m.n, &d, 99), m.n);
	n = dnsmsg_drop_option(m.b, m.n, &d, DNSMSG_OPT_COOKIE);
	CHECK_EQ(n, m.n - 16);
	CHECK_EQ(dnsmsg_parse(m.b, n, &e), 0);
	CHECK_EQ(e.ar, 1);
	CHECK(e.has_opt && e.do_bit && e.udp_size == 1232);
	CHECK_EQ(e.opt_len, 11 + 6);
	CHECK_MEM(m.b + e.opt_off + 11, "\0\14\0\2\0\0", 6);
	CHECK_EQ(e.end, n - 1);
	CHECK_EQ(m.b[n - 1], 0x55);
	/* A record after the OPT one (TSIG would sign it all): left as it is. */
	m.n = n - 1;
	m.b[11] = 2;
	ptr(&m, 12);
	rr(&m, 1, 9, 4);
	put32(&m, 0x7f000001);
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(dnsmsg_drop_option(m.b, m.n, &d, 12), m.n);
	/* Without an OPT record: nothing to do. */
	query(&m);
	m.b[11] = 0;
	CHECK_EQ(dnsmsg_parse(m.b, m.n, &d), 0);
	CHECK_EQ(dnsmsg_drop_option(m.b, m.n, &d, DNSMSG_OPT_COOKIE), m.n);
}

static void test_error(void)
{
	struct msg q;
	struct dnsmsg d, e;
	uint8_t out[600];
	size_t n;

	query(&q);
	q.b[3] |= DNSMSG_CD;
	CHECK_EQ(dnsmsg_parse(q.b, q.n, &d), 0);
	n = dnsmsg_error(out, sizeof(out), q.b, &d, DNSMSG_SERVFAIL, 1232);
	CHECK_EQ(n, d.q_end + 11);
	CHECK_EQ(dnsmsg_parse(out, n, &e), 0);
	CHECK_EQ(e.id, 0x1234);
	CHECK_EQ(DNSMSG_RCODE(e.flags), DNSMSG_SERVFAIL);
	CHECK(e.flags & DNSMSG_QR && e.flags & DNSMSG_RA && e.flags & DNSMSG_RD &&
	      e.flags & DNSMSG_CD);
	CHECK(dnsmsg_same_question(&d, &e));
	CHECK_MEM(out + 12, "\3www\7Example", 12); /* the query's case */
	CHECK(e.has_opt && e.udp_size == 1232 && !e.do_bit);
	/* A query that did not parse: the header alone. */
	n = dnsmsg_error(out, sizeof(out), q.b, NULL, DNSMSG_FORMERR, 1232);
	CHECK_EQ(n, 12);
	CHECK_EQ(dnsmsg_parse(out, n, &e), 0);
	CHECK_EQ(e.qd + e.ar, 0);
	CHECK_EQ(DNSMSG_RCODE(e.flags), DNSMSG_FORMERR);
	CHECK_EQ(dnsmsg_error(out, 100, q.b, &d, DNSMSG_SERVFAIL, 512), 0);
}

static void test_key_and_text(void)
{
	struct msg a, b;
	struct dnsmsg da, db;
	uint8_t ka[DNSMSG_KEY_MAX], kb[DNSMSG_KEY_MAX];
	char text[DNSMSG_TEXT_MAX];
	size_t na, nb;

	query(&a);
	query(&b);
	b.b[12 + 5] = 'E'; /* another case, the same name */
	CHECK_EQ(dnsmsg_parse(a.b, a.n, &da), 0);
	CHECK_EQ(dnsmsg_parse(b.b, b.n, &db), 0);
	na = dnsmsg_cache_key(&da, ka);
	nb = dnsmsg_cache_key(&db, kb);
	CHECK_EQ(na, 17 + 5);
	CHECK(na == nb && !memcmp(ka, kb, na));
	b.b[b.n - 4] = 0; /* DO off */
	CHECK_EQ(dnsmsg_parse(b.b, b.n, &db), 0);
	nb = dnsmsg_cache_key(&db, kb);
	CHECK(na == nb && memcmp(ka, kb, na));

	/* Escapes: a dot and a backslash inside labels, a control byte. */
	header(&a, 1, 0, 1, 0, 0, 0);
	put8(&a, 3);
	memcpy(a.b + a.n, "a.\\", 3);
	a.n += 3;
	put8(&a, 2);
	put8(&a, 1);
	put8(&a, 'Z');
	put8(&a, 0);
	put32(&a, 0x00010001);
	CHECK_EQ(dnsmsg_parse(a.b, a.n, &da), 0);
	dnsmsg_qname_text(&da, text);
	CHECK(!strcmp(text, "a\\.\\\\.\\001z"));
	/* The root. */
	header(&a, 1, 0, 1, 0, 0, 0);
	put8(&a, 0);
	put32(&a, 0x00020001);
	CHECK_EQ(dnsmsg_parse(a.b, a.n, &da), 0);
	CHECK_EQ(dnsmsg_qname_text(&da, text), 0);
	CHECK_EQ(da.qname_len, 1);
}

int main(void)
{
	test_query();
	test_answer();
	test_bad_names();
	test_opt_rules();
	test_negative();
	test_truncate();
	test_drop_option();
	test_error();
	test_key_and_text();
	printf("test_dnsmsg: OK\n");
	return 0;
}
