/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for relay/sources: the per-source limits count to their
 * bound and refuse past it, a finished handshake frees its place, the end
 * frees both; IPv6 sources are their /64, an IPv4-mapped address is its
 * IPv4 client; other sources are not held back by a heavy one (with 2,000
 * distinct sources beside it, none collides in both slots). The slots are
 * keyed: two keys (or two processes, each seeding itself at random) place
 * the same sources in different slots, and the counting works under any
 * key.
 */
#include "relay/sources.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;

	a->sin_family = AF_INET;
	CHECK(inet_pton(AF_INET, ip, &a->sin_addr) == 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

	a->sin6_family = AF_INET6;
	CHECK(inet_pton(AF_INET6, ip, &a->sin6_addr) == 1);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static struct source_ticket tk[300];

static void test_limits(void)
{
	struct sockaddr_storage a = v4("203.0.113.7"), b = v4("198.51.100.9");
	struct source_ticket other;
	uint32_t hs, sess;

	for (int i = 0; i < 128; i++)
		CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[i]), SOURCE_OK);
	CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[200]), SOURCE_TOO_MANY_HANDSHAKES);
	CHECK(!tk[200].hs && !tk[200].sess);
	/* another source is not affected */
	CHECK_EQ(sources_admit(SA(b), 128, 0, &other), SOURCE_OK);
	sources_end(&other);
	/* one handshake done: one more may come */
	sources_handshake_done(&tk[0]);
	sources_handshake_done(&tk[0]); /* twice is once */
	CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[128]), SOURCE_OK);
	CHECK_EQ(sources_admit(SA(a), 128, 0, &tk[200]), SOURCE_TOO_MANY_HANDSHAKES);
	sources_peek(SA(a), &hs, &sess);
	CHECK_EQ(hs, 128);
	CHECK_EQ(sess, 129);
	/* sessions_per_source counts established ones too */
	CHECK_EQ(sources_admit(SA(a), 0, 129, &tk[200]), SOURCE_TOO_MANY_SESSIONS);
	CHECK_EQ(sources_admit(SA(a), 0, 130, &tk[129]), SOURCE_OK);
	for (int i = 0; i < 130; i++)
		sources_end(&tk[i]);
	sources_peek(SA(a), &hs, &sess);
	CHECK_EQ(hs, 0);
	CHECK_EQ(sess, 0);
	/* no limits: nothing is counted */
	CHECK_EQ(sources_admit(SA(a), 0, 0, &tk[0]), SOURCE_OK);
	CHECK(!tk[0].hs && !tk[0].sess);
	sources_peek(SA(a), &hs, &sess);
	CHECK_EQ(sess, 0);
}

static void test_families(void)
{
	struct sockaddr_storage p1 = v6("2001:db8:1:2::1"), p2 = v6("2001:db8:1:2:ffff::9");
	struct sockaddr_storage q = v6("2001:db8:1:3::1");
	struct sockaddr_storage m = v6("::ffff:192.0.2.5"), m4 = v4("192.0.2.5");
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	uint32_t hs, sess;

	CHECK_EQ(sources_admit(SA(p1), 2, 0, &tk[0]), SOURCE_OK);
	CHECK_EQ(sources_admit(SA(p2), 2, 0, &tk[1]), SOURCE_OK);
	/* the same /64: the third is over */
	CHECK_EQ(sources_admit(SA(p2), 2, 0, &tk[2]), SOURCE_TOO_MANY_HANDSHAKES);
	CHECK_EQ(sources_admit(SA(q), 2, 0, &tk[2]), SOURCE_OK);
	sources_end(&tk[0]);
	sources_end(&tk[1]);
	sources_end(&tk[2]);
	CHECK_EQ(sources_admit(SA(m), 5, 0, &tk[0]), SOURCE_OK);
	sources_peek(SA(m4), &hs, &sess);
	CHECK_EQ(hs, 1);
	sources_end(&tk[0]);
	CHECK_EQ(sources_admit(SA(un), 1, 1, &tk[0]), SOURCE_OK);
	CHECK(!tk[0].hs);
}

/* Neighbouring addresses (the usual attacker and victim) do not share slots. */
static void test_neighbours(void)
{
	for (int i = 1; i < 255; i++) {
		char a[32], b[32];
		struct sockaddr_storage x, y;
		struct source_ticket tx, ty;

		snprintf(a, sizeof(a), "127.0.0.%d", i);
		snprintf(b, sizeof(b), "127.0.0.%d", i + 1);
		x = v4(a);
		y = v4(b);
		CHECK_EQ(sources_admit(SA(x), 1, 0, &tx), SOURCE_OK);
		CHECK_EQ(sources_admit(SA(y), 1, 0, &ty), SOURCE_OK);
		CHECK(tx.idx[0] != ty.idx[0] || tx.idx[1] != ty.idx[1]);
		sources_end(&tx);
		sources_end(&ty);
	}
}

static void test_no_collateral(void)
{
	static struct source_ticket heavy[64];
	struct sockaddr_storage a = v4("203.0.113.7");
	int refused = 0;

	for (int i = 0; i < 64; i++)
		CHECK_EQ(sources_admit(SA(a), 64, 0, &heavy[i]), SOURCE_OK);
	for (int i = 0; i < 2000; i++) {
		char ip[32];
		struct sockaddr_storage o;
		struct source_ticket t;

		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
		o = v4(ip);
		if (sources_admit(SA(o), 64, 0, &t) != SOURCE_OK)
			refused++;
		sources_end(&t);
	}
	CHECK_EQ(refused, 0);
	for (int i = 0; i < 64; i++)
		sources_end(&heavy[i]);
}

#define N_ADDR 8
static const char *const addrs[N_ADDR] = { "203.0.113.7", "198.51.100.9", "10.0.0.1", "127.0.0.1",
					  "2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:ffff:1::",
					  "::ffff:192.0.2.5" };

/* Where each of addrs lands under the current key. */
static void places(uint16_t idx[N_ADDR][2])
{
	for (int i = 0; i < N_ADDR; i++) {
		struct sockaddr_storage a = strchr(addrs[i], ':') ? v6(addrs[i]) : v4(addrs[i]);
		struct source_ticket t;

		CHECK_EQ(sources_admit(SA(a), 1000, 0, &t), SOURCE_OK);
		idx[i][0] = t.idx[0];
		idx[i][1] = t.idx[1];
		sources_end(&t);
	}
}

/* No address in the same pair of slots under both (odds 8 in 2^32 by chance). */
static void all_moved(uint16_t a[N_ADDR][2], uint16_t b[N_ADDR][2])
{
	for (int i = 0; i < N_ADDR; i++)
		if (a[i][0] == b[i][0] && a[i][1] == b[i][1]) {
			fprintf(stderr, "FAIL: %s in slots %u/%u under both keys\n", addrs[i],
				a[i][0], a[i][1]);
			exit(1);
		}
}

static void test_keys(void)
{
	static const uint8_t k1[16] = "0123456789abcdef", k2[16] = "0123456789abcdeg";
	uint16_t p1[N_ADDR][2], p2[N_ADDR][2], again[N_ADDR][2];

	sources_set_key(k1);
	places(p1);
	sources_set_key(k2);
	places(p2);
	all_moved(p1, p2);
	sources_set_key(k1);
	places(again);
	CHECK_MEM(again, p1, sizeof(p1)); /* a key places a source the same every time */
}

/* Two processes that seed themselves (as ssring does at start) disagree. */
static void test_processes(void)
{
	uint16_t p[2][N_ADDR][2];

	for (int k = 0; k < 2; k++) {
		int fd[2];
		pid_t pid;
		int st;

		CHECK(pipe(fd) == 0);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			uint16_t mine[N_ADDR][2];

			close(fd[0]);
			if (sources_seed() || sources_seed()) /* the second does nothing */
				_exit(2);
			places(mine);
			_exit(write(fd[1], mine, sizeof(mine)) == (ssize_t)sizeof(mine) ? 0 : 3);
		}
		close(fd[1]);
		CHECK(read(fd[0], p[k], sizeof(p[k])) == (ssize_t)sizeof(p[k]));
		close(fd[0]);
		CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	all_moved(p[0], p[1]);
}

int main(void)
{
	test_keys();
	test_processes();
	/* the counting works under a random key, like a started ssring's */
	CHECK_EQ(sources_seed(), 0);
	test_limits();
	test_families();
	test_neighbours();
	test_no_collateral();
	printf("test_sources: ok\n");
	return 0;
}
