/* SPDX-License-Identifier: MIT */
/*
 * dnsmsg — DNS messages (RFC 1035 §4, EDNS0 from RFC 6891) as the DNS
 * forwarder (relay/dnsproxy.c) needs them: the header and the one question,
 * every record walked and bounded (names with compression pointers that
 * must point backwards, at most 255 bytes, no label types but 00),
 * the OPT record, the answer's least TTL and a negative answer's SOA TTL,
 * the answer's addresses; and the edits a forwarder makes: the ID, TTLs
 * aged by the time an answer was cached, TC with the message cut to what a
 * UDP client takes, an error answer to a query. Bytes in, bytes out: no
 * resolver, no I/O.
 */
#ifndef SSRING_DNSMSG_H
#define SSRING_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNSMSG_HEADER 12
#define DNSMSG_NAME_MAX 255   /* a name's wire form, the root label included */
#define DNSMSG_UDP_MIN 512    /* what every client takes over UDP (RFC 1035 §4.2.1) */
#define DNSMSG_MAX 65535      /* over TCP: a 2-byte length (RFC 1035 §4.2.2) */
/* Cache key: the lower-cased name, type, class and the query's EDNS flags. */
#define DNSMSG_KEY_MAX (DNSMSG_NAME_MAX + 5)
/* A name in presentation form, every byte escaped at worst ("\DDD"). */
#define DNSMSG_TEXT_MAX (4 * DNSMSG_NAME_MAX + 1)

/* Header flags: the message's second 16-bit word. */
#define DNSMSG_QR 0x8000
#define DNSMSG_AA 0x0400
#define DNSMSG_TC 0x0200
#define DNSMSG_RD 0x0100
#define DNSMSG_RA 0x0080
#define DNSMSG_AD 0x0020
#define DNSMSG_CD 0x0010
#define DNSMSG_OPCODE(f) (((f) >> 11) & 0xf)
#define DNSMSG_RCODE(f) ((f) & 0xf)

enum dnsmsg_rcode {
	DNSMSG_NOERROR = 0,
	DNSMSG_FORMERR = 1,
	DNSMSG_SERVFAIL = 2,
	DNSMSG_NXDOMAIN = 3,
	DNSMSG_NOTIMP = 4,
	DNSMSG_REFUSED = 5
};

enum dnsmsg_type {
	DNSMSG_TYPE_A = 1,
	DNSMSG_TYPE_SOA = 6,
	DNSMSG_TYPE_TXT = 16,
	DNSMSG_TYPE_AAAA = 28,
	DNSMSG_TYPE_OPT = 41,
	DNSMSG_TYPE_IXFR = 251,
	DNSMSG_TYPE_AXFR = 252
};

/* EDNS options (RFC 6891 §6.1.2). */
#define DNSMSG_OPT_COOKIE 10  /* RFC 7873: between a client and the server it talks to */

struct dnsmsg {
	uint16_t id, flags;
	uint16_t qd, an, ns, ar;          /* records per section */
	/* The question (qd is 0 or 1; with 0, qname_len is 0). */
	uint8_t qname[DNSMSG_NAME_MAX];   /* wire form, lower-cased, uncompressed */
	uint16_t qname_len;
	uint16_t qtype, qclass;
	bool q_plain;                     /* the name stands uncompressed at offset 12 */
	size_t q_end;                     /* where the question ends */
	/* EDNS0: the OPT record, if the additional section has one. */
	bool has_opt;
	bool do_bit;                      /* DNSSEC OK */
	uint16_t udp_size;                /* the payload size its sender takes */
	size_t opt_off, opt_len;          /* where the whole record stands */
	/* TTLs, for a cache. */
	uint32_t min_ttl;                 /* the least of the answer section (an > 0) */
	bool has_soa;                     /* the authority section has an SOA: */
	uint32_t neg_ttl;                 /*   min(its TTL, its MINIMUM) (RFC 2308 §5) */
	size_t end;                       /* where the last record ends (bytes after: ignored) */
};

/*
 * Parse and check a whole message of len bytes: every record's name and
 * length within it, at most one question and one OPT record (in the
 * additional section, with the root name). 0, or -EINVAL.
 */
int dnsmsg_parse(const uint8_t *m, size_t len, struct dnsmsg *out);
uint16_t dnsmsg_get_id(const uint8_t *m);
void dnsmsg_set_id(uint8_t *m, uint16_t id);
/* Do the questions of two parsed messages ask the same (names without case)? */
bool dnsmsg_same_question(const struct dnsmsg *a, const struct dnsmsg *b);
/*
 * The question name of query q (message qm) written into answer a (message
 * am) with the query's letter case, where both stand uncompressed and are
 * the same name: a client that varies the case (0x20 bits) sees its own.
 */
void dnsmsg_copy_qname_case(uint8_t *am, const struct dnsmsg *a, const uint8_t *qm,
			    const struct dnsmsg *q);
/*
 * The question's name in presentation form for the ACL: lower case, no
 * trailing dot ("" for the root), '.' and '\' inside labels and bytes
 * outside '!'..'~' escaped as RFC 1035 §5.1 does. Its length.
 */
size_t dnsmsg_qname_text(const struct dnsmsg *d, char out[DNSMSG_TEXT_MAX]);
/* The cache key of a query: its name, type, class, and whether it has EDNS, DO and CD. */
size_t dnsmsg_cache_key(const struct dnsmsg *q, uint8_t key[DNSMSG_KEY_MAX]);
/*
 * Each A and AAAA record of the answer section (class IN) of m (parsed as
 * d) as a socket address (port 0), to fn; the walk stops at the first fn
 * that returns true, and so does this (false: none did).
 */
bool dnsmsg_any_addr(const uint8_t *m, const struct dnsmsg *d,
		     bool (*fn)(void *arg, const struct sockaddr *sa), void *arg);
/* Every TTL of m (parsed as d) but the OPT record's less secs, down to 0 (served from a cache). */
void dnsmsg_age(uint8_t *m, const struct dnsmsg *d, uint32_t secs);
/*
 * Remove every EDNS option of this code from the OPT record of m (len
 * bytes, parsed as d; d is stale then), when that record is the last one
 * (a TSIG or SIG(0) after it signs the message as it is). The new length:
 * len when nothing was removed.
 */
size_t dnsmsg_drop_option(uint8_t *m, size_t len, const struct dnsmsg *d, uint16_t code);
/*
 * Fit a parsed message into limit bytes (limit >= DNSMSG_UDP_MIN): as it
 * is if it fits, else TC set and only the header, the question and the
 * OPT record kept (without its options if they do not fit), as RFC 6891
 * §7 asks. The new length.
 */
size_t dnsmsg_truncate(uint8_t *m, size_t len, const struct dnsmsg *d, size_t limit);
/*
 * The answer with rcode to query qm (parsed as q; NULL if it did not parse:
 * the header alone, no question) into out (cap >= DNSMSG_HEADER +
 * DNSMSG_NAME_MAX + 4 + 11): ID, opcode, RD and CD of the query, QR and
 * RA set, the question, and an OPT record (udp_size, no options) if the
 * query had one. Its length.
 */
size_t dnsmsg_error(uint8_t *out, size_t cap, const uint8_t *qm, const struct dnsmsg *q,
		    unsigned rcode, uint16_t udp_size);

#endif
