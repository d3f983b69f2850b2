/* SPDX-License-Identifier: MIT */
/* text — small character helpers the text codecs share. */
#ifndef SSRING_TEXT_H
#define SSRING_TEXT_H

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
