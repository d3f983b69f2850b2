/* SPDX-License-Identifier: MIT */
/*
 * fixed-files-bench — what io_uring's registered ("direct") descriptors
 * would save on ssring's hot path, measured on this machine: the CPU time
 * of send and receive operations on loopback TCP connections through one
 * ring, with ordinary descriptors and with the same sockets registered as
 * fixed files (IOSQE_FIXED_FILE: no per-operation file lookup and no
 * reference count on the file), while H other connections are held open
 * (so a table of H + pairs entries is registered).
 *
 *   build/tools/fixed-files-bench [pairs] [rounds] [held] [bytes]
 *
 * Each round sends `bytes` on every pair's one end and receives them on the
 * other, one SQE each, all pairs in one submission. Prints CPU microseconds
 * per operation (user + system of this process, which is where the ring's
 * work runs with DEFER_TASKRUN) for both modes, three alternating runs each,
 * and whether the kernel lets one ring register more slots than
 * RLIMIT_NOFILE.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* A connected loopback TCP pair (a, b). */
static int tcp_pair(int ls, const struct sockaddr_in *sa, int *a, int *b)
{
	int one = 1;

	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return -1;
	*b = accept(ls, NULL, NULL);
	if (*b < 0)
		return -1;
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int run(struct io_uring *ring, int *fds, int pairs, int rounds, size_t bytes, int fixed,
	       char *buf)
{
	for (int r = 0; r < rounds; r++) {
		for (int p = 0; p < pairs; p++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

			io_uring_prep_send(sqe, fixed ? 2 * p : fds[2 * p], buf, bytes, 0);
			if (fixed)
				sqe->flags |= IOSQE_FIXED_FILE;
			sqe = io_uring_get_sqe(ring);
			io_uring_prep_recv(sqe, fixed ? 2 * p + 1 : fds[2 * p + 1], buf, bytes,
					   MSG_WAITALL);
			if (fixed)
				sqe->flags |= IOSQE_FIXED_FILE;
		}
		if (io_uring_submit_and_wait(ring, 2 * pairs) < 0)
			return -1;
		for (int n = 0; n < 2 * pairs; n++) {
			struct io_uring_cqe *cqe;

			if (io_uring_wait_cqe(ring, &cqe) < 0)
				return -1;
			if (cqe->res < 0) {
				fprintf(stderr, "op failed: %s\n", strerror(-cqe->res));
				return -1;
			}
			io_uring_cqe_seen(ring, cqe);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int pairs = argc > 1 ? atoi(argv[1]) : 64, rounds = argc > 2 ? atoi(argv[2]) : 20000;
	int held = argc > 3 ? atoi(argv[3]) : 0;
	size_t bytes = argc > 4 ? (size_t)atol(argv[4]) : 512;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t sl = sizeof(sa);
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN };
	struct io_uring ring;
	int ls, n = 2 * (pairs + held), *fds = calloc((size_t)n, sizeof(int));
	char *buf = calloc(1, bytes);
	double t[2][3];

	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (!fds || !buf || ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(ls, 4096) || getsockname(ls, (struct sockaddr *)&sa, &sl)) {
		perror("setup");
		return 1;
	}
	for (int i = 0; i < pairs + held; i++)
		if (tcp_pair(ls, &sa, &fds[2 * i], &fds[2 * i + 1])) {
			perror("pair");
			return 1;
		}
	if (io_uring_queue_init_params(4096, &ring, &p) < 0 ||
	    io_uring_register_files(&ring, fds, (unsigned)n) < 0) {
		fprintf(stderr, "io_uring setup or file registration failed\n");
		return 1;
	}
	/* Warm up both paths, then alternate: normal, fixed, normal, ... */
	if (run(&ring, fds, pairs, rounds / 10, bytes, 0, buf) ||
	    run(&ring, fds, pairs, rounds / 10, bytes, 1, buf))
		return 1;
	for (int k = 0; k < 3; k++)
		for (int fixed = 0; fixed < 2; fixed++) {
			double c0 = cpu_s();

			if (run(&ring, fds, pairs, rounds, bytes, fixed, buf))
				return 1;
			t[fixed][k] = (cpu_s() - c0) * 1e6 / (2.0 * pairs * rounds);
		}
	{
		/* The cap on one ring's table: RLIMIT_NOFILE (and 1 << 20). */
		struct rlimit rl;
		struct io_uring r2;

		getrlimit(RLIMIT_NOFILE, &rl);
		if (io_uring_queue_init(8, &r2, 0) == 0) {
			int a = io_uring_register_files_sparse(&r2, (unsigned)rl.rlim_cur);

			if (a == 0)
				io_uring_unregister_files(&r2);
			int b = io_uring_register_files_sparse(&r2, (unsigned)rl.rlim_cur + 1);

			printf("RLIMIT_NOFILE %llu: a sparse table of that many: %s; one more: %s\n",
			       (unsigned long long)rl.rlim_cur, a ? strerror(-a) : "ok",
			       b ? strerror(-b) : "ok");
			io_uring_queue_exit(&r2);
		}
	}
	printf("pairs %d, held %d (registered table %d), %zu-byte messages, %d rounds\n", pairs,
	       held, n, bytes, rounds);
	for (int fixed = 0; fixed < 2; fixed++)
		printf("  %-18s CPU µs per op: %.3f %.3f %.3f\n",
		       fixed ? "fixed files" : "ordinary fds", t[fixed][0], t[fixed][1], t[fixed][2]);
	return 0;
}
