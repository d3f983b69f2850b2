/* SPDX-License-Identifier: MIT */
/*
 * SS2022 UDP: the ss2022_udp_aes, ss2022_udp_chacha and EIH-UDP vectors
 * sealed byte-exact with pinned session / packet IDs, nonce, padding and
 * clock and opened back on the other side; every bit flip rejected, ±30/31 s
 * timestamps, main-header framing, wrong EIH identity; the packet-ID window
 * (protocol.md §7.2 sequence and a model) and the TCP salt set (expiry,
 * capacity, churn against a model).
 */
#include "ss2022_test.h"

static void udp_params(struct ss2022_udp_params *p, uint64_t sid, uint64_t pid, uint64_t csid,
		       const uint8_t *nonce)
{
	memset(p, 0, sizeof(*p));
	p->session_id = sid;
	p->packet_id = pid;
	p->client_session_id = csid;
	p->now = TS;
	p->nonce = nonce;
}

/* Flip every bit of pkt (one at a time): the open must fail. */
static void udp_flips(const struct ss2022_server_cfg *cfg, const uint8_t *pkt, size_t len,
		      bool to_server)
{
	uint8_t bad[BUF_BYTES];
	struct ss2022_udp_packet out;

	for (size_t i = 0; i < len * 8; i++) {
		memcpy(bad, pkt, len);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (to_server)
			CHECK(ss2022_udp_open_server(cfg, TS, bad, len, &out) < 0);
		else
			CHECK(ss2022_udp_open_client(cfg->m, cfg->psk, 0x0102030405060708ull, TS,
						     bad, len, &out) < 0);
	}
}

/* Build c→s and s→c, compare with the vector, open both back and check the bodies. */
static void udp_round_trip(const char *name, const char *psk_b64, const char *cpkt_hex,
			   const char *cbody_hex, const char *spkt_hex, const char *sbody_hex,
			   const uint8_t *cnonce, const uint8_t *snonce)
{
	const struct ss2022_method *m = method(name);
	struct ss2022_server_cfg cfg = { .m = m };
	uint8_t pkt[BUF_BYTES], want[BUF_BYTES], body[BUF_BYTES];
	struct ss2022_udp_params p;
	struct ss2022_udp_packet out;
	struct ss2022_keys k;
	size_t pre = m->is_aes ? 16 : 24, wl, bl;
	int n;

	keys_from(m, psk_b64, &k);
	memcpy(cfg.psk, k.psk, m->key_len);
	udp_params(&p, 0x0102030405060708ull, 0, 0, cnonce);
	n = ss2022_udp_seal_client(m, &k, &p, addr_v4, sizeof(addr_v4), (const uint8_t *)"ping",
				   4, pkt, sizeof(pkt));
	wl = unhex(cpkt_hex, want, sizeof(want));
	CHECK_EQ(n, wl);
	CHECK_EQ(n, ss2022_udp_size(m, true, 0, sizeof(addr_v4), 0, 4));
	CHECK_MEM(pkt, want, wl);
	udp_flips(&cfg, pkt, wl, true);
	/* Decrypts (same key) but is a client packet: wrong type. */
	CHECK_EQ(ss2022_udp_open_client(m, k.psk, 0, TS, pkt, wl, &out), -EPROTO);
	memcpy(pkt, want, wl);
	CHECK_EQ(ss2022_udp_open_server(&cfg, TS, pkt, wl, &out), 0);
	bl = unhex(cbody_hex, body, sizeof(body));
	CHECK_MEM(pkt + pre, body, bl);
	CHECK(out.session_id == 0x0102030405060708ull && out.packet_id == 0 && out.ts == TS);
	CHECK(out.payload_len == 4 && memcmp(out.payload, "ping", 4) == 0);
	CHECK(out.addr.atyp == SSADDR_ATYP_IPV4 && out.addr.port == 53 && out.user == -1);

	udp_params(&p, 0x1112131415161718ull, 1, 0x0102030405060708ull, snonce);
	n = ss2022_udp_seal_server(m, out.psk, &p, addr_v4, sizeof(addr_v4),
				   (const uint8_t *)"pong", 4, pkt, sizeof(pkt));
	wl = unhex(spkt_hex, want, sizeof(want));
	CHECK_EQ(n, wl);
	CHECK_EQ(n, ss2022_udp_size(m, false, 0, sizeof(addr_v4), 0, 4));
	CHECK_MEM(pkt, want, wl);
	udp_flips(&cfg, pkt, wl, false);
	CHECK(ss2022_udp_open_server(&cfg, TS, pkt, wl, &out) < 0);
	memcpy(pkt, want, wl);
	CHECK_EQ(ss2022_udp_open_client(m, k.psk, 0x0102030405060709ull, TS, pkt, wl, &out),
		 -EBADMSG);
	memcpy(pkt, want, wl);
	CHECK_EQ(ss2022_udp_open_client(m, k.psk, 0x0102030405060708ull, TS, pkt, wl, &out), 0);
	bl = unhex(sbody_hex, body, sizeof(body));
	CHECK_MEM(pkt + pre, body, bl);
	CHECK(out.session_id == 0x1112131415161718ull && out.packet_id == 1);
	CHECK(out.payload_len == 4 && memcmp(out.payload, "pong", 4) == 0);
}

static void test_udp_vectors(void)
{
	uint8_t cn[24], sn[24];

	for (size_t i = 0; i < ARRAY_SIZE(vec22_udp_aes); i++) {
		const struct vec22_udp_aes *v = &vec22_udp_aes[i];
		const struct ss2022_method *m = method(v->method);
		struct ss2022_keys k;
		uint8_t sub[32], want[32], sep[16];

		keys_from(m, v->psk_b64, &k);
		unhex(v->client_separate_header, sep, sizeof(sep));
		ss2022_session_subkey(m, k.psk, sep, 8, sub);
		CHECK_MEM(sub, want, unhex(v->client_subkey, want, sizeof(want)));
		unhex(v->server_separate_header, sep, sizeof(sep));
		ss2022_session_subkey(m, k.psk, sep, 8, sub);
		CHECK_MEM(sub, want, unhex(v->server_subkey, want, sizeof(want)));
		udp_round_trip(v->method, v->psk_b64, v->client_packet, v->client_body,
			       v->server_packet, v->server_body, NULL, NULL);
	}
	unhex(vec22_udp_chacha[0].client_nonce, cn, sizeof(cn));
	unhex(vec22_udp_chacha[0].server_nonce, sn, sizeof(sn));
	udp_round_trip(vec22_udp_chacha[0].method, vec22_udp_chacha[0].psk_b64,
		       vec22_udp_chacha[0].client_packet, vec22_udp_chacha[0].client_body,
		       vec22_udp_chacha[0].server_packet, vec22_udp_chacha[0].server_body, cn, sn);
}

/* Timestamps, padding and short packets for all three methods. */
static void test_udp_rules(void)
{
	static const char *const names[] = { "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
					      "2022-blake3-chacha20-poly1305" };
	const int64_t skew[] = { -31, -30, 0, 30, 31 };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const struct ss2022_method *m = method(names[i]);
		struct ss2022_server_cfg cfg = { .m = m };
		uint8_t pkt[BUF_BYTES];
		struct ss2022_udp_params p;
		struct ss2022_udp_packet out;
		struct ss2022_keys k = { 0 };
		int n;

		memset(k.psk, 0x33, sizeof(k.psk));
		memset(cfg.psk, 0x33, sizeof(cfg.psk));
		for (size_t j = 0; j < ARRAY_SIZE(skew); j++) {
			udp_params(&p, 7, 9, 0, NULL);
			p.now = TS + (uint64_t)skew[j];
			n = ss2022_udp_seal_client(m, &k, &p, addr_v4, 7, NULL, 0, pkt,
						   sizeof(pkt));
			CHECK(n > 0);
			CHECK_EQ(ss2022_udp_open_server(&cfg, TS, pkt, (size_t)n, &out),
				 skew[j] == -31 || skew[j] == 31 ? -ETIME : 0);
		}
		udp_params(&p, 7, 9, 5, NULL);
		p.padding_len = 900; /* random padding */
		n = ss2022_udp_seal_server(m, k.psk, &p, addr_v4, 7, (const uint8_t *)"abc", 3, pkt,
					   sizeof(pkt));
		CHECK_EQ(n, (int)ss2022_udp_size(m, false, 0, 7, 900, 3));
		CHECK_EQ(ss2022_udp_open_client(m, k.psk, 5, TS, pkt, (size_t)n, &out), 0);
		CHECK(out.payload_len == 3 && memcmp(out.payload, "abc", 3) == 0);
		p.padding_len = 901;
		n = ss2022_udp_seal_server(m, k.psk, &p, addr_v4, 7, NULL, 0, pkt, sizeof(pkt));
		CHECK_EQ(n, -EINVAL);
		p.padding_len = 0;
		n = ss2022_udp_seal_server(m, k.psk, &p, addr_v4, 7, NULL, 0, pkt, 10);
		CHECK_EQ(n, -ENOSPC);
		for (size_t len = 0; len < ss2022_udp_size(m, true, 0, 0, 0, 0); len++)
			CHECK_EQ(ss2022_udp_open_server(&cfg, TS, pkt, len, &out), -EINVAL);
	}
}

/* Seal a hand-made AES client packet around body (main header onward). */
static size_t forge_udp(const struct ss2022_method *m, const uint8_t *psk, const uint8_t *body,
			size_t body_len, uint8_t *out)
{
	uint8_t sep[16] = { 0, 0, 0, 0, 0, 0, 0, 7 }, sub[32];
	struct aead_ctx ctx;

	ss2022_session_subkey(m, psk, sep, 8, sub);
	CHECK_EQ(aead_ctx_init_subkey(&ctx, ss2022_chunk_method(m), sub), 0);
	memcpy(ctx.nonce, sep + 4, 12);
	CHECK_EQ(aead_seal(&ctx, out + 16, body, body_len), 0);
	CHECK_EQ(aead_aes_block(psk, m->key_len, true, sep, out), 0);
	aead_ctx_wipe(&ctx);
	return 16 + body_len + 16;
}

/* type | timestamp TS + ts_lo (TS ends in 0x00) */
#define MAIN(type, ts_lo) type, 0, 0, 0, 0, 0x65, 0x53, 0xf1, ts_lo

/* Main header framing (§5.5): padding and address must fit the packet. */
static void test_udp_framing(void)
{
	const struct ss2022_method *m = method("2022-blake3-aes-128-gcm");
	struct ss2022_server_cfg cfg = { .m = m };
	static const struct {
		uint8_t body[32];
		size_t len;
		int want;
	} cases[] = {
		{ { MAIN(0, 0), 0, 1, 0xaa, 1, 8, 8, 8, 8, 0, 53, 'p' }, 20, 0 },
		{ { MAIN(0, 0), 0, 0, 1, 8, 8, 8, 8, 0, 53 }, 18, 0 },
		{ { MAIN(0, 0), 0, 9, 0xaa, 1, 8, 8, 8, 8, 0, 53 }, 19, -EINVAL },
		{ { MAIN(0, 0), 0, 100, 1, 8, 8, 8, 8, 0, 53 }, 18, -EINVAL },
		{ { MAIN(0, 0), 0, 0, 1, 8, 8, 8, 8, 0 }, 17, -EINVAL },
		{ { MAIN(0, 0), 0, 0, 9, 8, 8, 8, 8, 0, 53 }, 18, -EINVAL },
		{ { MAIN(0, 0), 0, 0 }, 11, -EINVAL },
		{ { MAIN(0, 0), 0 }, 10, -EINVAL },
		{ { MAIN(1, 0), 0, 0, 1, 8, 8, 8, 8, 0, 53 }, 18, -EPROTO },
		{ { MAIN(0, 0x1f), 0, 0, 1, 8, 8, 8, 8, 0, 53 }, 18, -ETIME },
	};
	uint8_t pkt[BUF_BYTES];
	struct ss2022_udp_packet out;

	memset(cfg.psk, 0x77, 16);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = forge_udp(m, cfg.psk, cases[i].body, cases[i].len, pkt);

		/* A valid address where a padding overrun of 100 would land. */
		memcpy(pkt + 16 + 11 + 100, addr_v4, sizeof(addr_v4));
		CHECK_EQ(ss2022_udp_open_server(&cfg, TS, pkt, n, &out), cases[i].want);
	}
}

static void test_udp_eih(void)
{
	const struct vec22_eih *v = &vec22_eih[0];
	const struct ss2022_method *m = method(v->method);
	struct ss2022_user users[2];
	struct ss2022_server_cfg cfg = { .m = m, .users = users, .n_users = 2 };
	uint8_t pkt[BUF_BYTES], want[BUF_BYTES], sub[16], sep[16];
	struct ss2022_udp_params p;
	struct ss2022_udp_packet out;
	struct ss2022_keys k;
	size_t wl;
	int n;

	keys_from(m, v->password_string, &k);
	unhex(v->udp_separate_header, sep, sizeof(sep));
	ss2022_session_subkey(m, k.psk, sep, 8, sub);
	CHECK_MEM(sub, want, unhex(v->udp_subkey, want, sizeof(want)));
	udp_params(&p, 0x0102030405060708ull, 0, 0, NULL);
	n = ss2022_udp_seal_client(m, &k, &p, addr_v4, sizeof(addr_v4), (const uint8_t *)"ping",
				   4, pkt, sizeof(pkt));
	wl = unhex(v->udp_packet, want, sizeof(want));
	CHECK_EQ(n, wl);
	CHECK_MEM(pkt, want, wl);
	CHECK_MEM(pkt + 16, want, unhex(v->udp_eih, want, sizeof(want)));
	memcpy(cfg.psk, k.ipsk[0], 16);
	CHECK_EQ(ss2022_user_init(&users[0], m, "other", "5mOQSa20Kt6ay2LXruBoHQ=="), 0);
	CHECK_EQ(ss2022_user_init(&users[1], m, "me", v->upsk_b64), 0);
	unhex(v->udp_packet, pkt, sizeof(pkt));
	udp_flips(&cfg, pkt, wl, true);
	CHECK_EQ(ss2022_udp_open_server(&cfg, TS, pkt, wl, &out), 0);
	CHECK_MEM(pkt + 32, want, unhex(v->udp_body, want, sizeof(want)));
	CHECK(out.user == 1 && out.psk == users[1].psk && out.payload_len == 4);
	/* The reply is keyed by the uPSK and carries no EIH. */
	udp_params(&p, 99, 1, 0x0102030405060708ull, NULL);
	n = ss2022_udp_seal_server(m, out.psk, &p, addr_v4, 7, (const uint8_t *)"pong", 4, pkt,
				   sizeof(pkt));
	CHECK_EQ(ss2022_udp_open_client(m, k.psk, 0x0102030405060708ull, TS, pkt, (size_t)n,
					&out),
		 0);
	/* Wrong identity. */
	cfg.n_users = 1;
	unhex(v->udp_packet, pkt, sizeof(pkt));
	CHECK_EQ(ss2022_udp_open_server(&cfg, TS, pkt, wl, &out), -EACCES);
}

static void test_window(void)
{
	static const uint64_t ids[] = { 0, 1, 1, 9, 8, 7, 7 };
	static const bool want[] = { true, true, false, true, true, true, false };
	struct ss2022_window w;

	ss2022_window_init(&w);
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		bool ok = ss2022_window_check(&w, ids[i]);

		CHECK_EQ(ok, want[i]);
		if (ok)
			ss2022_window_update(&w, ids[i]);
	}
	/* Checking alone never records. */
	CHECK(ss2022_window_check(&w, 100) && ss2022_window_check(&w, 100));
	ss2022_window_update(&w, 100 + SS2022_WINDOW_SIZE);
	CHECK(ss2022_window_check(&w, 100));
	CHECK(!ss2022_window_check(&w, 99));
	CHECK(!ss2022_window_check(&w, 100 + SS2022_WINDOW_SIZE));
	ss2022_window_update(&w, 1000000);
	CHECK(!ss2022_window_check(&w, 100 + SS2022_WINDOW_SIZE));
	CHECK(ss2022_window_check(&w, 1000000 - 1));
	CHECK(!ss2022_window_check(&w, 1000000));
	CHECK(!ss2022_window_check(&w, UINT64_MAX));
	/* Against a model: every ID accepted exactly once, in any order within the window. */
	ss2022_window_init(&w);
	for (uint64_t base = 0; base < 200000; base += 64) {
		for (int j = 0; j < 64; j++) {
			uint64_t id = base + (uint64_t)((j * 37) % 64);

			CHECK(ss2022_window_check(&w, id));
			ss2022_window_update(&w, id);
			CHECK(!ss2022_window_check(&w, id));
		}
	}
	/* A long jump clears the whole ring: every ID in the new window is fresh. */
	ss2022_window_update(&w, 1000000000);
	for (uint64_t id = 1000000000 - SS2022_WINDOW_SIZE; id < 1000000000; id++)
		CHECK(ss2022_window_check(&w, id));
}

static void test_saltset(void)
{
	static uint64_t mem[8192];
	static uint8_t live[512][32];
	static uint64_t born[512];
	struct ss2022_saltset s;
	uint8_t salt[32] = { 1 };
	size_t cap = 256;

	CHECK(ss2022_saltset_mem_size(1024) <= sizeof(mem));

	CHECK_EQ(ss2022_saltset_init(&s, 0, mem, sizeof(mem)), -EINVAL);
	CHECK_EQ(ss2022_saltset_init(&s, cap, mem, 10), -EINVAL);
	CHECK_EQ(ss2022_saltset_init(&s, cap, mem, sizeof(mem)), 0);
	CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 32, 1000), 0);
	CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 32, 1060), 1);
	CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 16, 1060), 0); /* length is part of it */
	CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 32, 1061), 0); /* expired, new again */
	CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 33, 1061), -EINVAL);
	/* Fill, refuse while nothing expired, accept again once old entries left. */
	CHECK_EQ(ss2022_saltset_init(&s, cap, mem, sizeof(mem)), 0);
	for (size_t i = 0; i < cap; i++) {
		memset(salt, 0, sizeof(salt));
		memcpy(salt, &i, sizeof(i));
		CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 32, 5000 + i / 64), 0);
	}
	salt[31] = 1;
	CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 32, 5060), -ENOSPC);
	CHECK_EQ(ss2022_saltset_check_insert(&s, salt, 32, 5061), 0);
	/*
	 * Churn against a model: 4 new salts per second plus re-inserted probes
	 * (at most 8/s, so < 490 live); every live salt is seen, gone after 60 s.
	 */
	cap = 1024;
	CHECK_EQ(ss2022_saltset_init(&s, cap, mem, sizeof(mem)), 0);
	for (uint64_t step = 0; step < 50000; step++) {
		uint64_t now = 10000 + step / 4;
		size_t slot = step % 512, probe = rnd() % 512;

		for (int j = 0; j < 32; j++)
			live[slot][j] = (uint8_t)rnd();
		born[slot] = now;
		CHECK_EQ(ss2022_saltset_check_insert(&s, live[slot], 32, now), 0);
		if (step >= 512 && probe != slot)
			CHECK_EQ(ss2022_saltset_check_insert(&s, live[probe], 32, now),
				 now - born[probe] <= 60 ? 1 : 0);
		if (step >= 512 && probe != slot && now - born[probe] > 60)
			born[probe] = now; /* it was just re-inserted */
		CHECK(s.count <= cap);
	}
}

int main(void)
{
	check_vectors_current();
	test_udp_vectors();
	test_udp_rules();
	test_udp_framing();
	test_udp_eih();
	test_window();
	test_saltset();
	printf("test_ss2022_udp: ok\n");
	return 0;
}
