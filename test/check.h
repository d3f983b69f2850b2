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

/*
 * Skips. A case that cannot run here (a cipher missing from the wolfSSL
 * build) is noted with test_skip(); test_done() then exits 77 (ctest: skipped)
 * if nothing at all ran, and fails the test when skips are not allowed: under
 * CI=true or SSRING_REQUIRE_URING=1 (.ci/run), where the bootstrap build must
 * have everything, a skip means something is missing.
 */
static int test_skips, test_runs;

static inline int test_strict(void)
{
	const char *ci = getenv("CI"), *req = getenv("SSRING_REQUIRE_URING");

	return (ci && !strcmp(ci, "true")) || (req && !strcmp(req, "1"));
}

static inline void test_skip(const char *what, const char *why)
{
	test_skips++;
	printf("SKIP: %s: %s\n", what, why);
	if (test_strict()) {
		fprintf(stderr, "FAIL: skips are failures here (CI=true or "
				"SSRING_REQUIRE_URING=1): %s: %s\n", what, why);
		exit(1);
	}
}

/* A case that did run (what test_done() counts against the skips). */
static inline void test_ran(void)
{
	test_runs++;
}

/* The exit status of a test that noted its cases. */
static inline int test_done(const char *name)
{
	if (test_runs == 0) {
		printf("%s: nothing ran (%d skipped)\n", name, test_skips);
		return TEST_EXIT_SKIP;
	}
	if (test_skips)
		printf("%s: ok, %d cases ran, %d skipped\n", name, test_runs, test_skips);
	else
		printf("%s: ok\n", name);
	return 0;
}

/* Directory of test data (vectors); set by ctest through SSRING_TEST_DATA. */
static inline const char *test_data_dir(void)
{
	const char *d = getenv("SSRING_TEST_DATA");
	return d ? d : "test/data";
}

#endif
