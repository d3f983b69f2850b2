/* SPDX-License-Identifier: MIT */
/* text — small character helpers the text codecs share. */
#ifndef SSRING_TEXT_H
#define SSRING_TEXT_H

#include <stddef.h>

/* Format a message into err (len bytes, if any) and return -EINVAL. */
int text_errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The value of one hex digit (either case), or -1. */
static inline int text_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
