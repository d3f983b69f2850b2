/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ss:// link codec. Besides "no crash" (the input
 * is copied to a buffer of exactly its size, so ASan sees any read past
 * it), a parsed link must format, and the formatted link must parse back
 * to the same fields (unless it grew past SIP002_URI_MAX); a failed parse
 * must give a reason and leave the result empty. The input also goes
 * through sip003_opt_len as plugin options: every option and name stays
 * within what is left, and the options with their ';' cover it exactly.
 */
#include "proto/sip002.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip002 a, b;
	static char out[4 * SIP002_URI_MAX];
	const char *why = NULL;
	char *s;
	int n;

	if (size > SIP002_URI_MAX + 16)
		return 0;
	s = malloc(size ? size : 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	for (size_t off = 0; off < size;) {
		size_t name, k = sip003_opt_len(s + off, size - off, &name);

		if (k > size - off || name > k || (off + k < size && s[off + k] != ';'))
			abort();
		off += k + (off + k < size);
	}
	if (sip002_parse(s, size, &a, &why) != 0) {
		if (!why || a.method[0] || a.host[0] || a.port)
			abort();
		free(s);
		return 0;
	}
	free(s);
	if (!a.method[0] || !a.secret[0] || !a.host[0] || !a.port)
		abort();
	n = sip002_format(&a, out, sizeof(out));
	if (n <= 0 || (size_t)n != strlen(out))
		abort();
	if ((size_t)n > SIP002_URI_MAX)
		return 0;
	if (sip002_parse(out, (size_t)n, &b, &why) != 0)
		abort();
	if (strcmp(a.method, b.method) || strcmp(a.secret, b.secret) || strcmp(a.host, b.host) ||
	    a.port != b.port || strcmp(a.plugin, b.plugin) || strcmp(a.plugin_opts, b.plugin_opts) ||
	    strcmp(a.tag, b.tag))
		abort();
	return 0;
}
