/* SPDX-License-Identifier: MIT */
/*
 * The test harness's skip rules (check.h), each in a child process: a test
 * in which every case was skipped exits 77 (ctest: skipped, never passed);
 * one in which some ran exits 0 and says how many were skipped; and with
 * CI=true or SSRING_REQUIRE_URING=1 a skip is a failure (exit 1).
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Runs a child with the given strictness, `ran` cases run and `skips` skipped. */
static int child(const char *ci, const char *req, int ran, int skips)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (ci)
			setenv("CI", ci, 1);
		else
			unsetenv("CI");
		if (req)
			setenv("SSRING_REQUIRE_URING", req, 1);
		else
			unsetenv("SSRING_REQUIRE_URING");
		for (int i = 0; i < ran; i++)
			test_ran();
		for (int i = 0; i < skips; i++)
			test_skip("a case", "not available here");
		fflush(stdout);
		_exit(test_done("child"));
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

int main(void)
{
	CHECK_EQ(child(NULL, NULL, 3, 0), 0);
	CHECK_EQ(child(NULL, NULL, 3, 2), 0);           /* some ran: passes, says so */
	CHECK_EQ(child(NULL, NULL, 0, 2), TEST_EXIT_SKIP); /* nothing ran: skipped */
	CHECK_EQ(child(NULL, NULL, 0, 0), TEST_EXIT_SKIP);
	CHECK_EQ(child("true", NULL, 3, 1), 1);          /* CI: a skip fails */
	CHECK_EQ(child(NULL, "1", 0, 1), 1);
	CHECK_EQ(child("false", "0", 0, 1), TEST_EXIT_SKIP);
	CHECK_EQ(child("true", NULL, 3, 0), 0);
	printf("test_check: ok\n");
	return 0;
}
