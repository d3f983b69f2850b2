/* SPDX-License-Identifier: MIT */
/* text — small helpers the text codecs share (proto/text.h). */
#include "proto/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int text_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}
