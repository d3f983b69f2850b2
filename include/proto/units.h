/* SPDX-License-Identifier: MIT */
/*
 * units — byte counts and rates as people write them in a configuration
 * file or an API request: "1500", "64 KiB", "10M", "1.5 GB", "20 MB/s".
 * Pure functions over bytes.
 */
#ifndef SSRING_UNITS_H
#define SSRING_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parse s[0..len) as a number of bytes: digits with at most one decimal
 * point, optional spaces, an optional prefix (k K M G T P: powers of 1000;
 * Ki Mi Gi Ti Pi: powers of 1024), an optional "B", and with rate also an
 * optional "/s". The result is rounded down to whole bytes. 0, or -EINVAL
 * (not such a text) or -ERANGE (2^63 or more).
 */
int units_parse_bytes(const char *s, size_t len, bool rate, uint64_t *out);

/* "1.5 GiB"-style text of n bytes (binary prefixes, up to 3 digits). */
void units_format_bytes(uint64_t n, char *buf, size_t len);

#endif
