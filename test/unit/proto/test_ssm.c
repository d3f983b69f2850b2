/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/ssm: the management API's request bodies (every
 * field, every error class), its responses (the spec's field names), and
 * the state file (a round trip, and what a corrupt one says).
 */
#include "proto/ssm.h"

#include <errno.h>

#include "../check.h"

static char err[SSM_ERR_BYTES];

static int post(const char *body, struct ssm_user_req *r)
{
	return ssm_parse_user(body, strlen(body), true, r, err, sizeof(err));
}

static int patch(const char *body, struct ssm_user_req *r)
{
	return ssm_parse_user(body, strlen(body), false, r, err, sizeof(err));
}

#define EXPECT_BAD(call, want)                                                               \
	do {                                                                                 \
		CHECK_EQ((call), -EINVAL);                                                   \
		if (!strstr(err, (want))) {                                                  \
			fprintf(stderr, "%s:%d: message '%s' lacks '%s'\n", __FILE__, __LINE__, \
				err, (want));                                                \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

static void test_requests(void)
{
	struct ssm_user_req r;

	CHECK_EQ(post("{\"username\":\"alice\",\"uPSK\":\"oE/s2z9Q8EWORAB8B3UCxw==\"}", &r), 0);
	CHECK(r.has_username && !strcmp(r.username, "alice"));
	CHECK(r.has_upsk && !r.has_password && !strcmp(r.secret, "oE/s2z9Q8EWORAB8B3UCxw=="));
	CHECK(!r.has_limits);
	CHECK_EQ(post("{\"username\":\"bob\",\"password\":\"pw\",\"limits\":{\"rate\":\"10 MB/s\","
		      "\"quota\":5000,\"quota_period\":\"day\",\"max_sessions\":3,\"max_ips\":2}}",
		      &r), 0);
	CHECK(r.has_password && r.has_limits && !r.clear_limits);
	CHECK_EQ(r.limits.rate, 10000000);
	CHECK_EQ(r.limits.quota, 5000);
	CHECK_EQ(r.limits.period, 1);
	CHECK_EQ(r.limits.max_sessions, 3);
	CHECK_EQ(r.limits.max_ips, 2);
	CHECK_EQ(patch("{\"uPSK\":\"DL7Vrnv7sOdPPDghtxyxgg==\"}", &r), 0);
	CHECK(r.has_upsk && !r.has_username);
	CHECK_EQ(patch("{\"limits\":null}", &r), 0);
	CHECK(r.has_limits && r.clear_limits);

	EXPECT_BAD(post("", &r), "malformed JSON");
	EXPECT_BAD(post("{\"username\":", &r), "malformed JSON");
	EXPECT_BAD(post("[1,2]", &r), "must be a JSON object");
	EXPECT_BAD(post("{\"username\":\"a\",\"username\":\"b\",\"uPSK\":\"x\"}", &r), "malformed");
	EXPECT_BAD(post("{\"uPSK\":\"x\"}", &r), "\"username\" is missing");
	EXPECT_BAD(post("{\"username\":\"a\"}", &r), "\"uPSK\" (or \"password\") is missing");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"password\":\"y\"}", &r), "not both");
	EXPECT_BAD(post("{\"username\":7,\"uPSK\":\"x\"}", &r), "\"username\" must be a string");
	EXPECT_BAD(post("{\"username\":\"\",\"uPSK\":\"x\"}", &r), "must be 1 to");
	EXPECT_BAD(post("{\"username\":\"a\\u0000b\",\"uPSK\":\"x\"}", &r), "NUL");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"admin\":true}", &r),
		   "unknown key \"admin\"");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"limits\":5}", &r),
		   "\"limits\" must be an object");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"limits\":{\"rate\":-1}}", &r),
		   "\"rate\" must not be negative");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"limits\":{\"rate\":\"fast\"}}", &r),
		   "\"rate\" must be a number of bytes");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"limits\":{\"quota\":1.5}}", &r),
		   "\"quota\" must be a number of bytes");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"limits\":{\"max_ips\":65}}", &r),
		   "\"max_ips\" must be an integer from 0 to 64");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"limits\":{\"quota_period\":\"week\"}}",
			&r), "\"quota_period\" must be");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\",\"limits\":{\"speed\":1}}", &r),
		   "unknown key \"limits.speed\"");
	EXPECT_BAD(patch("{\"username\":\"a\"}", &r), "the username is the path");
	EXPECT_BAD(patch("{}", &r), "nothing to change");
	EXPECT_BAD(post("{\"username\":\"a\",\"uPSK\":\"x\"} trailing", &r), "malformed JSON");
}

static void test_responses(void)
{
	struct ssm_user_view v = { .username = "database64128", .upsk = "oE/s2z9Q8EWORAB8B3UCxw==",
				   .with_traffic = true,
				   .t = { 64, 4096, 32, 2048, 16, 8 } };
	const char *names[] = { "a", "b" };
	size_t len = 0;
	char *s;

	s = ssm_json_user(&v, &len);
	CHECK(s && len == strlen(s));
	CHECK(strstr(s, "\"username\":\"database64128\",\"uPSK\":\"oE/s2z9Q8EWORAB8B3UCxw==\","
			"\"downlinkPackets\":64,\"downlinkBytes\":4096,\"uplinkPackets\":32,"
			"\"uplinkBytes\":2048,\"tcpSessions\":16,\"udpSessions\":8"));
	free(s);
	s = ssm_json_stats(&v.t, &v, 1, &len);
	CHECK(s && !strncmp(s, "{\"downlinkPackets\":64,\"downlinkBytes\":4096,", 42));
	CHECK(strstr(s, "\"users\":[{\"username\":\"database64128\",\"downlinkPackets\":64"));
	CHECK(!strstr(s, "uPSK")); /* stats carry no secrets */
	free(s);
	s = ssm_json_users(&v, 1, &len);
	CHECK(s && !strncmp(s, "{\"users\":[{\"username\":\"database64128\",\"uPSK\":", 44));
	free(s);
	s = ssm_json_info("ssring 0.1.0", NULL, 0, &len);
	CHECK(s && !strcmp(s, "{\"server\":\"ssring 0.1.0\",\"apiVersion\":\"v1\"}"));
	free(s);
	s = ssm_json_info("ssring 0.1.0", names, 2, &len);
	CHECK(s && strstr(s, "\"servers\":[\"a\",\"b\"]"));
	free(s);
	s = ssm_json_error("user \"x\" not found", &len);
	CHECK(s && !strcmp(s, "{\"error\":\"user \\\"x\\\" not found\"}"));
	free(s);
}

static int state_parse(const char *s, struct ssm_state *st)
{
	return ssm_state_parse(s, strlen(s), st, err, sizeof(err));
}

static void test_state(void)
{
	struct ssm_state_user u[2] = {
		{ .username = "alice", .secret = "pw", .is_password = true, .has_limits = true,
		  .limits = { .rate = 1000, .quota = 5000, .period = 2, .max_ips = 3 } },
		{ .username = "bob", .secret = "oE/s2z9Q8EWORAB8B3UCxw==" },
	};
	struct ssm_state_usage q[1] = { { .username = "alice", .period = 1796000000, .used = 77 } };
	struct ssm_state_server sv = { .name = "edge", .users = u, .n_users = 2, .usage = q,
				       .n_usage = 1 };
	struct ssm_state st = { .servers = &sv, .n = 1 }, back;
	size_t len = 0;
	char *s = ssm_state_build(&st, &len);

	CHECK(s);
	CHECK_EQ(ssm_state_parse(s, len, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.n, 1);
	CHECK(!strcmp(back.servers[0].name, "edge"));
	CHECK_EQ(back.servers[0].n_users, 2);
	CHECK(!strcmp(back.servers[0].users[0].username, "alice"));
	CHECK(back.servers[0].users[0].is_password && back.servers[0].users[0].has_limits);
	CHECK_EQ(back.servers[0].users[0].limits.rate, 1000);
	CHECK_EQ(back.servers[0].users[0].limits.period, 2);
	CHECK_EQ(back.servers[0].users[0].limits.max_ips, 3);
	CHECK(!strcmp(back.servers[0].users[1].secret, "oE/s2z9Q8EWORAB8B3UCxw=="));
	CHECK(!back.servers[0].users[1].is_password && !back.servers[0].users[1].has_limits);
	CHECK_EQ(back.servers[0].n_usage, 1);
	CHECK_EQ(back.servers[0].usage[0].period, 1796000000);
	CHECK_EQ(back.servers[0].usage[0].used, 77);
	ssm_state_free(&back);
	free(s);

	EXPECT_BAD(state_parse("{\"version\":1,\"servers\":{\"e\":{\"users\":[{\"username\":"
				   "\"a\"}]}}}", &back), "users[0]");
	CHECK(back.n == 0 && !back.servers);
	EXPECT_BAD(state_parse("{\"version\":2,\"servers\":{}}", &back),
		   "not an ssring state file");
	EXPECT_BAD(state_parse("{\"version\":1,\"servers\":{\"e\":{\"usage\":{\"a\":{\"period\":"
				   "1}}}}}", &back), "usage.a");
	EXPECT_BAD(state_parse("{\"vers", &back), "line 1");
}

int main(void)
{
	test_requests();
	test_responses();
	test_state();
	printf("test_ssm: ok\n");
	return 0;
}
