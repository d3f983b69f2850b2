/* SPDX-License-Identifier: MIT */
/*
 * units — see proto/units.h.
 */
#include "proto/units.h"

#include <errno.h>
#include <stdio.h>

#define UNITS_MAX ((uint64_t)1 << 63)

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

int units_parse_bytes(const char *s, size_t len, bool rate, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, mult = 1, base;
	size_t i = 0, digits = 0;
	int power = 0;

	while (i < len && is_space(s[i]))
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (whole > (UNITS_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(s[i] - '0');
	}
	if (i < len && s[i] == '.') {
		size_t fd = 0;

		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, fd++) {
			/* Digits past the 18th cannot change a whole byte count here. */
			if (fd < 18) {
				frac = frac * 10 + (uint64_t)(s[i] - '0');
				frac_div *= 10;
			}
		}
		if (fd == 0)
			return -EINVAL;
		digits += fd;
	}
	if (digits == 0)
		return -EINVAL;
	while (i < len && is_space(s[i]))
		i++;
	if (i < len) {
		switch (s[i]) {
		case 'k': case 'K': power = 1; break;
		case 'M': power = 2; break;
		case 'G': power = 3; break;
		case 'T': power = 4; break;
		case 'P': power = 5; break;
		default: power = 0; break;
		}
		if (power)
			i++;
	}
	base = 1000;
	if (power && i < len && s[i] == 'i') {
		base = 1024;
		i++;
	}
	if (i < len && s[i] == 'B')
		i++;
	if (rate && i < len && s[i] == '/') {
		if (i + 1 >= len || s[i + 1] != 's')
			return -EINVAL;
		i += 2;
	}
	while (i < len && is_space(s[i]))
		i++;
	if (i != len)
		return -EINVAL;
	for (int p = 0; p < power; p++)
		mult *= base;
	if (whole > UNITS_MAX / mult)
		return -ERANGE;
	whole *= mult;
	/* frac / frac_div * mult, without overflow: frac < frac_div <= 1e18. */
	if (frac) {
		unsigned __int128 f = (unsigned __int128)frac * mult / frac_div;

		if (f > UNITS_MAX - whole)
			return -ERANGE;
		whole += (uint64_t)f;
	}
	if (whole >= UNITS_MAX)
		return -ERANGE;
	*out = whole;
	return 0;
}

void units_format_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const pfx[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	int p = 0;

	while (v >= 1024 && p < 6) {
		v /= 1024;
		p++;
	}
	if (p == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, pfx[p]);
}
