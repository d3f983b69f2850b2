/* SPDX-License-Identifier: MIT */
/* Tiny test harness: CHECK macros that print the failing expression and exit 1. */
#ifndef SSRING_TEST_CHECK_H
#define SSRING_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_EXIT_SKIP 77

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
				#cond);                                                    \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                                     \
	do {                                                                               \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);            \
		if (check_a_ != check_b_) {                                                \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_);           \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

#define CHECK_MEM(a, b, n)                                                                 \
	do {                                                                               \
		if (memcmp((a), (b), (n)) != 0) {                                          \
			fprintf(stderr, "%s:%d: CHECK_MEM failed: %s vs %s (%zu bytes)\n",  \
				__FILE__, __LINE__, #a, #b, (size_t)(n));                  \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

/* Directory of test data (vectors); set by ctest through SSRING_TEST_DATA. */
static inline const char *test_data_dir(void)
{
	const char *d = getenv("SSRING_TEST_DATA");
	return d ? d : "test/data";
}

#endif
