/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for hostport_parse. Besides "no crash", it checks what a
 * success promises: a short NUL-terminated host, a port in range, and for IP
 * literals an address that formats and parses back to itself.
 */
#include "proto/hostport.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static void check_result(const struct hostport *hp, bool allow_zero)
{
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
	hostport_format_addr((const struct sockaddr *)&hp->addr, buf, sizeof(buf));
	if (hostport_parse(buf, allow_zero, &again) != 0)
		abort();
	if (again.port != hp->port || again.addr_len != hp->addr_len ||
	    memcmp(&again.addr, &hp->addr, hp->addr_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hostport hp;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (int zero = 0; zero <= 1; zero++)
		if (hostport_parse(s, zero, &hp) == 0)
			check_result(&hp, zero);
	free(s);
	return 0;
}
