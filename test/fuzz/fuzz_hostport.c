/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for hostport_parse, hostport_split and the sockaddr
 * helpers. Besides "no crash", it checks what a success promises: a short
 * NUL-terminated host, a port in range, and for IP literals an address that
 * formats and parses back to itself, with the helpers' length and port. For
 * the split (the input as bytes, no NUL): a host span inside the input that
 * the brackets or the first colon end, a port only as the flags allow it, a
 * result that only more flags can turn into a success and that splits the
 * same again, and agreement with hostport_parse.
 */
#include "proto/hostport.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sockaddr.h"

static void check_result(const struct hostport *hp, bool allow_zero)
{
	const struct sockaddr *sa = (const struct sockaddr *)&hp->addr;
	struct sockaddr_storage ss;
	struct hostport again;
	char buf[128];

	if (strlen(hp->host) == 0 || strlen(hp->host) > HOSTPORT_HOST_MAX)
		abort();
	if (hp->port == 0 && !allow_zero)
		abort();
	if (!hp->is_ip) {
		if (hp->addr_len != 0)
			abort();
		return;
	}
	if (hp->addr_len != (hp->addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							   : sizeof(struct sockaddr_in6)))
		abort();
	if (sockaddr_len(sa) != hp->addr_len || sockaddr_port(sa) != hp->port ||
	    !sockaddr_equal(sa, sa))
		abort();
	hostport_format_addr(sa, buf, sizeof(buf));
	if (hostport_parse(buf, allow_zero, &again) != 0)
		abort();
	if (again.port != hp->port || again.addr_len != hp->addr_len ||
	    memcmp(&again.addr, &hp->addr, hp->addr_len))
		abort();
	/* Another port: the same address, not the same endpoint, and back. */
	memcpy(&ss, &hp->addr, sizeof(ss));
	sockaddr_set_port((struct sockaddr *)&ss, (uint16_t)(hp->port + 1));
	if (sockaddr_port((const struct sockaddr *)&ss) != (uint16_t)(hp->port + 1) ||
	    !sockaddr_same_ip(sa, (const struct sockaddr *)&ss) ||
	    sockaddr_equal(sa, (const struct sockaddr *)&ss))
		abort();
	sockaddr_set_port((struct sockaddr *)&ss, hp->port);
	if (memcmp(&ss, &hp->addr, sizeof(ss)))
		abort();
}

/* What one split promises, whatever it returned. */
static void check_span(const char *s, size_t n, unsigned int flags, int rc,
		       const struct hostport_span *sp)
{
	const char *he = sp->host + sp->host_len;

	if (rc < HOSTPORT_OK || rc > HOSTPORT_E_PORT || sp->host < s || he > s + n)
		abort();
	if (rc != HOSTPORT_OK && (sp->has_port || sp->port))
		abort();
	if (rc == HOSTPORT_E_BRACKET) {
		if (!n || s[0] != '[' || memchr(s, ']', n) || sp->host_len || sp->bracketed)
			abort();
		return;
	}
	if (sp->bracketed) {
		/* The text inside the first brackets. */
		if (s[0] != '[' || sp->host != s + 1 || he >= s + n || *he != ']' ||
		    memchr(sp->host, ']', sp->host_len))
			abort();
		he++;
	} else if ((n && s[0] == '[') || sp->host != s || memchr(s, ':', sp->host_len) ||
		   (he < s + n && *he != ':')) {
		abort(); /* everything before the first colon */
	}
	if (rc != HOSTPORT_OK)
		return;
	if (sp->has_port != (he < s + n) || (!sp->has_port && !(flags & HOSTPORT_PORT_OPTIONAL)))
		abort();
	if (sp->has_port && sp->port == 0 && !(flags & HOSTPORT_PORT_ZERO))
		abort();
	if (sp->has_port && n - (size_t)(he + 1 - s) > 5 && !(flags & HOSTPORT_PORT_LONG))
		abort();
}

/* A success splits the same again written out plainly ("%u", no leading zeros). */
static void check_again(unsigned int flags, const struct hostport_span *sp)
{
	char buf[HOSTPORT_HOST_MAX + 16];
	struct hostport_span again;
	size_t n = 0;

	if (sp->host_len > HOSTPORT_HOST_MAX)
		return;
	/* memcpy, not "%s": the host may hold a NUL. */
	if (sp->bracketed)
		buf[n++] = '[';
	memcpy(buf + n, sp->host, sp->host_len);
	n += sp->host_len;
	if (sp->bracketed)
		buf[n++] = ']';
	if (sp->has_port)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ":%u", sp->port);
	if (hostport_split(buf, n, flags, &again) != HOSTPORT_OK ||
	    again.host_len != sp->host_len || memcmp(again.host, sp->host, sp->host_len) ||
	    again.bracketed != sp->bracketed || again.has_port != sp->has_port ||
	    again.port != sp->port)
		abort();
}

static void split(const uint8_t *data, size_t size)
{
	/* A copy of exactly the input's size: ASan sees any read past it. */
	char *s = malloc(size ? size : 1);
	struct hostport_span sp[8];
	int rc[8];

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	for (unsigned int f = 0; f < 8; f++) {
		rc[f] = hostport_split(s, size, f, &sp[f]);
		check_span(s, size, f, rc[f], &sp[f]);
		if (rc[f] == HOSTPORT_OK)
			check_again(f, &sp[f]);
	}
	/* More flags accept more, never something else. */
	for (unsigned int f = 0; f < 8; f++)
		for (unsigned int g = 0; g < 8; g++)
			if ((f & g) == f && rc[f] == HOSTPORT_OK &&
			    (rc[g] != HOSTPORT_OK || memcmp(&sp[f], &sp[g], sizeof(sp[f]))))
				abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hostport_span sp;
	struct hostport hp;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (int zero = 0; zero <= 1; zero++) {
		unsigned int flags = HOSTPORT_PORT_LONG | (zero ? HOSTPORT_PORT_ZERO : 0);

		if (hostport_parse(s, zero, &hp) != 0)
			continue;
		check_result(&hp, zero);
		/* The config's parser is the split with its flags, and a host check. */
		if (hostport_split(s, strlen(s), flags, &sp) != HOSTPORT_OK ||
		    sp.host_len != strlen(hp.host) || memcmp(sp.host, hp.host, sp.host_len) ||
		    sp.port != hp.port || sp.bracketed != (hp.is_ip && hp.addr.ss_family == AF_INET6))
			abort();
	}
	free(s);
	split(data, size);
	return 0;
}
