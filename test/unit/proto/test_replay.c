/* SPDX-License-Identifier: MIT */
/* Salt replay filter: replays found, rotation keeps the recent half, false
 * positives near the configured rate. */
#include "check.h"
#include "proto/replay.h"

static void salt_of(uint32_t i, uint8_t *s)
{
	memset(s, 0, 32);
	memcpy(s, &i, 4);
	s[31] = (uint8_t)(i * 7);
}

int main(void)
{
	struct replay_filter *f = replay_new(20000, 1e-6);
	uint8_t s[32];
	unsigned fp = 0;

	CHECK(f);
	CHECK(replay_bytes(f) > 20000 * 28 / 8);
	for (uint32_t i = 0; i < 10000; i++) {
		salt_of(i, s);
		CHECK(!replay_check_insert(f, s, 32));
	}
	for (uint32_t i = 0; i < 10000; i++) {
		salt_of(i, s);
		CHECK(replay_check_insert(f, s, 32)); /* every replay is caught */
	}
	/* Far more new salts than capacity: the oldest are forgotten... */
	for (uint32_t i = 10000; i < 60000; i++) {
		salt_of(i, s);
		if (replay_check_insert(f, s, 32))
			fp++;
	}
	CHECK(fp < 5); /* ~1e-6 per lookup, with margin */
	salt_of(3, s);
	CHECK(!replay_check_insert(f, s, 32));
	/* ...and the most recent half is always remembered. */
	for (uint32_t i = 55000; i < 60000; i++) {
		salt_of(i, s);
		CHECK(replay_check_insert(f, s, 32));
	}
	/* 16-byte salts (aes-128-gcm) hash on their own length. */
	memset(s, 0xab, 16);
	CHECK(!replay_check_insert(f, s, 16));
	CHECK(replay_check_insert(f, s, 16));
	replay_free(f);
	printf("test_replay: ok (%u false positives in 50000)\n", fp);
	return 0;
}
