/* SPDX-License-Identifier: MIT */
/* Helpers shared by test_ss2022.c and test_ss2022_udp.c. */
#ifndef SSRING_TEST_SS2022_TEST_H
#define SSRING_TEST_SS2022_TEST_H

#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "proto/ss2022.h"
#include "vectors_ss2022.h"
/* rnd(): the sequence these tests were written with. */
#define UTIL_RND_SEED 0x2022u
#include "util.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TS VEC22_TIMESTAMP
#define BUF_BYTES 4096

/* 8.8.8.8:53 */
__attribute__((unused)) static const uint8_t addr_v4[] = { 0x01, 8, 8, 8, 8, 0x00, 0x35 };

static inline const struct ss2022_method *method(const char *name)
{
	const struct ss2022_method *m = ss2022_method_find(name);

	CHECK(m != NULL);
	return m;
}

static inline void keys_from(const struct ss2022_method *m, const char *text, struct ss2022_keys *k)
{
	CHECK_EQ(ss2022_parse_keys(m, text, k), 0);
}

/* The generated header still matches the JSON (a changed vector file is noticed). */
static inline void check_vectors_current(void)
{
	char path[512];
	FILE *f;
	static char json[1 << 17];
	size_t n;

	snprintf(path, sizeof(path), "%s/protocol-vectors.json", test_data_dir());
	f = fopen(path, "rb");
	CHECK(f != NULL);
	n = fread(json, 1, sizeof(json) - 1, f);
	fclose(f);
	CHECK(n > 0 && n < sizeof(json) - 1);
	json[n] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(vec22_all_strings); i++)
		CHECK(strstr(json, vec22_all_strings[i]) != NULL);
	CHECK(strstr(json, "\"timestamp\": 1700000000") != NULL);
}


#endif
