/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the DNS message codec (proto/dnsmsg.h). Besides "no
 * crash", it checks what a parse promises: the question, the OPT record
 * and the last record inside the message, a name of at most 255 bytes that
 * prints and keys; and that the forwarder's edits keep a message that
 * parses: a new ID, TTLs aged (none larger, the same records), a cut for a
 * UDP client (TC, within the limit, the same question and OPT), an error
 * answer to it (the same question), the answer's addresses walked.
 */
#include "proto/dnsmsg.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(c)              \
	do {                       \
		if (!(c))          \
			abort();   \
	} while (0)

static bool count_addr(void *arg, const struct sockaddr *sa)
{
	FUZZ_CHECK(sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
	(*(unsigned *)arg)++;
	return false;
}

static void check_edits(const uint8_t *data, size_t size, const struct dnsmsg *d)
{
	uint8_t *m = malloc(size), err[DNSMSG_HEADER + DNSMSG_NAME_MAX + 4 + 11];
	struct dnsmsg e;
	unsigned addrs = 0;
	size_t n, limit;

	FUZZ_CHECK(m);
	memcpy(m, data, size);
	FUZZ_CHECK(!dnsmsg_any_addr(m, d, count_addr, &addrs));
	FUZZ_CHECK(addrs <= d->an);
	dnsmsg_set_id(m, (uint16_t)~d->id);
	FUZZ_CHECK(dnsmsg_get_id(m) == (uint16_t)~d->id);
	dnsmsg_copy_qname_case(m, d, data, d);
	FUZZ_CHECK(!memcmp(m + 2, data + 2, size - 2));
	/* Aged: the same records, no TTL larger. (A name may point into a TTL
	 * of a crafted message and change with it: then only no crash.) */
	dnsmsg_age(m, d, size > 4 ? data[size - 1] : 1000);
	if (dnsmsg_parse(m, size, &e) == 0 && e.an == d->an)
		FUZZ_CHECK(e.ns == d->ns && e.ar == d->ar && e.min_ttl <= d->min_ttl &&
			   dnsmsg_same_question(&e, d));
	/* A cut for a UDP client: within the limit, and still this message. */
	memcpy(m, data, size);
	limit = DNSMSG_UDP_MIN + (size > 2 ? data[0] : 0) * 4;
	n = dnsmsg_truncate(m, d->end, d, limit);
	FUZZ_CHECK(n <= d->end && (d->end <= limit ? n == d->end : n <= limit));
	FUZZ_CHECK(dnsmsg_parse(m, n, &e) == 0);
	FUZZ_CHECK(dnsmsg_same_question(&e, d) && e.has_opt == d->has_opt);
	if (n < d->end)
		FUZZ_CHECK(e.flags & DNSMSG_TC && !e.an && !e.ns && e.ar == e.has_opt);
	/* Options dropped (from an OPT record that is the last record): the same
	 * records, the OPT record shorter or as it was. */
	memcpy(m, data, size);
	n = dnsmsg_drop_option(m, size, d, size > 3 ? (uint16_t)(data[1] % 16) : 10);
	FUZZ_CHECK(n <= size && dnsmsg_parse(m, n, &e) == 0);
	FUZZ_CHECK(e.an == d->an && e.ns == d->ns && e.ar == d->ar && e.has_opt == d->has_opt &&
		   e.end == d->end - (size - n) && (!d->has_opt || e.opt_len == d->opt_len -
								   (size - n)));
	FUZZ_CHECK(dnsmsg_same_question(&e, d));
	/* An error answer to it. */
	n = dnsmsg_error(err, sizeof(err), data, d, DNSMSG_SERVFAIL, 1232);
	FUZZ_CHECK(n >= DNSMSG_HEADER && dnsmsg_parse(err, n, &e) == 0);
	FUZZ_CHECK(dnsmsg_same_question(&e, d) && e.id == d->id && e.has_opt == d->has_opt);
	n = dnsmsg_error(err, sizeof(err), data, NULL, DNSMSG_FORMERR, 512);
	FUZZ_CHECK(n == DNSMSG_HEADER && dnsmsg_parse(err, n, &e) == 0 && !e.qd);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[DNSMSG_KEY_MAX];
	char text[DNSMSG_TEXT_MAX];
	struct dnsmsg d;
	uint8_t *copy;

	/* A copy of exactly the input's size: ASan sees any read past it. */
	copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy);
	if (size)
		memcpy(copy, data, size);
	if (dnsmsg_parse(copy, size, &d) == 0) {
		FUZZ_CHECK(size >= DNSMSG_HEADER && d.q_end <= d.end && d.end <= size);
		FUZZ_CHECK(d.qd <= 1 && d.qname_len <= DNSMSG_NAME_MAX);
		FUZZ_CHECK(d.qd ? d.qname_len >= 1 && d.qname[d.qname_len - 1] == 0
				: d.q_end == DNSMSG_HEADER);
		FUZZ_CHECK(!d.has_opt || (d.opt_off >= d.q_end && d.opt_off + d.opt_len <= d.end));
		FUZZ_CHECK(dnsmsg_qname_text(&d, text) < DNSMSG_TEXT_MAX &&
			   strlen(text) < DNSMSG_TEXT_MAX);
		FUZZ_CHECK(dnsmsg_cache_key(&d, key) == (size_t)d.qname_len + 5);
		check_edits(copy, size, &d);
	}
	free(copy);
	return 0;
}
