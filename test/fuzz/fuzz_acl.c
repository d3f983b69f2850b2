/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ACL codec: any text parses or fails with a
 * message (no crash, no leak; the text is copied to a buffer of exactly its
 * size); a parsed ACL answers name and address queries drawn from the
 * input, and the answers agree with the per-list queries; a name in upper
 * case with a trailing dot gets the answers of the name itself, from every
 * list.
 */
#include "proto/acl.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acl *a = NULL;
	char err[256];
	char *t;

	if (size > 20000)
		return 0;
	t = malloc(size ? size : 1);
	if (!t)
		abort();
	memcpy(t, data, size);
	if (acl_parse(t, size, &a, err, sizeof(err)) != 0) {
		if (a || !err[0])
			abort();
		free(t);
		return 0;
	}
	/* every line of the input as a name, and its first bytes as addresses */
	for (size_t i = 0, s = 0; i <= size; i++) {
		if (i < size && t[i] != '\n')
			continue;
		if (i > s && i - s < 256) {
			int m = acl_match_name(a, t + s, i - s);
			bool b = acl_has_name(a, ACL_BYPASS, t + s, i - s);
			bool p = acl_has_name(a, ACL_PROXY, t + s, i - s);

			if (m != (b ? 1 : p ? -1 : 0))
				abort();
			if (t[i - 1] != '.') {
				char up[257];
				size_t n = i - s;

				for (size_t k = 0; k < n; k++) {
					char c = t[s + k];

					up[k] = c >= 'a' && c <= 'z' ? c - 32 : c;
				}
				up[n] = '.';
				for (int l = 0; l < ACL_LISTS; l++)
					if (acl_has_name(a, l, up, n + 1) !=
					    acl_has_name(a, l, t + s, n))
						abort();
			}
		}
		s = i + 1;
	}
	if (size >= 16) {
		struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
		struct sockaddr_in v4 = { .sin_family = AF_INET };

		memcpy(&v6.sin6_addr, data, 16);
		memcpy(&v4.sin_addr, data, 4);
		(void)acl_match_addr(a, (struct sockaddr *)&v6);
		(void)acl_match_addr(a, (struct sockaddr *)&v4);
	}
	acl_free(a);
	free(t);
	return 0;
}
