/* SPDX-License-Identifier: MIT */
/*
 * SS2022 keys and TCP: the ss2022_tcp, ss2022_tcp_padding_only and EIH-TCP
 * vectors of protocol-vectors.json (via vectors_ss2022.h) built byte-exact
 * with pinned salt / padding / clock and read back through the stream reader
 * fed whole, byte by byte and in random pieces; plus the protocol.md §7.2
 * "also test" list: bit flips after the salt, V5 replay within 60 s, ±30/31 s
 * timestamps, padding rules, wrong EIH identity. UDP is in test_ss2022_udp.c.
 */
#include "proto/blake3.h"
#include "ss2022_test.h"

/* ---- a receive side: reader + carry buffer, fed in pieces --------------------- */

struct sink {
	struct ss2022_reader r;
	struct ssaddr target;         /* where r puts the request's address */
	struct ss2022_saltset *salts; /* NULL: no replay check */
	uint64_t now;
	struct carry c;               /* test/util.h's model, over carry_buf */
	uint8_t carry_buf[SS2022_RECORD_MAX];
	uint8_t out[BUF_BYTES];
	size_t out_len;
	int fixed, varhdr, data;
	int err;                      /* first error, 0 if none */
	bool use_out;                 /* read with ss2022_reader_step_out into scratch */
	uint8_t scratch[SS2022_CHUNK_MAX];
};

static void deliver(struct sink *s, int res, const uint8_t *plain, size_t plain_len)
{
	if (res == SS2022_RD_GOT_FIXED) {
		s->fixed++;
		if (s->salts && ss2022_saltset_check_insert(s->salts, s->r.salt, s->r.m->key_len,
							    s->now) != 0)
			s->err = -EALREADY;
	}
	if (res == SS2022_RD_GOT_VARHDR)
		s->varhdr++;
	if (res == SS2022_RD_GOT_DATA)
		s->data++;
	if (res == SS2022_RD_GOT_VARHDR || res == SS2022_RD_GOT_DATA) {
		CHECK(s->out_len + plain_len <= sizeof(s->out));
		memcpy(s->out + s->out_len, plain, plain_len);
		s->out_len += plain_len;
	}
}

static size_t sink_need(void *arg)
{
	struct sink *s = arg;

	return ss2022_reader_need(&s->r);
}

/* One step of the reader over view; the first error (a replay too) ends the feed. */
static int sink_step(void *arg, uint8_t *view, size_t view_len, size_t *used)
{
	struct sink *s = arg;
	size_t need = ss2022_reader_need(&s->r), plain_len;
	uint8_t *plain;
	int res;

	if (s->use_out)
		res = ss2022_reader_step_out(&s->r, view, view_len, s->now, used, s->scratch,
					     &plain, &plain_len);
	else
		res = ss2022_reader_step(&s->r, view, view_len, s->now, used, &plain, &plain_len);
	/* step_out: payloads land in scratch, everything else in place. */
	if (s->use_out && res == SS2022_RD_GOT_DATA)
		CHECK(plain == s->scratch);
	if (res < 0) {
		s->err = res;
		return res;
	}
	if (res == SS2022_RD_NEED_MORE)
		return res;
	CHECK(*used == need);
	deliver(s, res, plain, plain_len);
	return s->err ? s->err : res;
}

/* Show the reader what a relay would: carried bytes first, then the segment. */
static void sink_feed(struct sink *s, uint8_t *seg, size_t len)
{
	/* The model's state is its len: a sink is zeroed once, then fed. */
	s->c.buf = s->carry_buf;
	s->c.cap = sizeof(s->carry_buf);
	s->c.need = sink_need;
	s->c.step = sink_step;
	s->c.arg = s;
	if (s->err == 0)
		carry_feed(&s->c, seg, len);
}

/* Feed wire in pieces: mode 0 whole, 1 byte by byte, 2 random sizes. */
static void sink_feed_split(struct sink *s, const uint8_t *wire, size_t len, int mode)
{
	uint8_t seg[BUF_BYTES];
	size_t off = 0;

	while (off < len) {
		size_t n = mode == 0 ? len : mode == 1 ? 1 : 1 + rnd() % 40;

		if (n > len - off)
			n = len - off;
		memcpy(seg, wire + off, n); /* writable copy: decryption is in place */
		sink_feed(s, seg, n);
		off += n;
	}
}

static void sink_server(struct sink *s, const struct ss2022_server_cfg *cfg, uint64_t now)
{
	memset(s, 0, sizeof(*s));
	CHECK_EQ(ss2022_reader_init_server(&s->r, cfg, &s->target), 0);
	s->now = now;
}

/* ---- methods and keys ------------------------------------------------------------ */

static void test_methods_and_keys(void)
{
	static const char *const names[] = { "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
					      "2022-blake3-chacha20-poly1305" };
	const struct ss2022_method *m128 = method(names[0]), *mcc = method(names[2]);
	struct ss2022_keys k;
	char text[SS2022_KEYS_TEXT_MAX + 64], key[64];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const struct ss2022_method *m = method(names[i]);

		CHECK_EQ(m->key_len, i == 0 ? 16 : 32);
		CHECK_EQ(ss2022_chunk_method(m)->nonce_len, 12);
		CHECK_EQ(ss2022_genkey(m, key, sizeof(key)), i == 0 ? 24 : 44);
		keys_from(m, key, &k);
		CHECK_EQ(ss2022_genkey(m, key, i == 0 ? 24 : 44), -ENOSPC);
	}
	CHECK(ss2022_method_find("aes-128-gcm") == NULL);
	CHECK(ss2022_method_find("2022-blake3-chacha8-poly1305") == NULL);
	keys_from(m128, "5mOQSa20Kt6ay2LXruBoHQ", &k); /* padding optional */
	CHECK_EQ(k.psk[0], 0xe6);
	CHECK_EQ(k.n_ipsk, 0);
	CHECK_EQ(ss2022_parse_keys(m128, "5mOQSa20Kt6ay2LXruBoHQ=", &k), -EINVAL);
	CHECK_EQ(ss2022_parse_keys(m128, "5mOQSa20Kt6ay2LXruBoHR==", &k), -EINVAL); /* bits */
	CHECK_EQ(ss2022_parse_keys(m128, "5mOQSa20Kt6ay2LXruBo-Q==", &k), -EINVAL); /* url */
	CHECK_EQ(ss2022_parse_keys(m128, "t7XRzLCvgsH4r4r669cyqPnVNFG2c/HC5Tt+MjINJB0=", &k),
		 -EINVAL);
	CHECK_EQ(ss2022_parse_keys(m128, "", &k), -EINVAL);
	CHECK_EQ(ss2022_parse_keys(m128, ":5mOQSa20Kt6ay2LXruBoHQ==", &k), -EINVAL);
	CHECK_EQ(ss2022_parse_keys(m128, "5mOQSa20Kt6ay2LXruBoHQ==:", &k), -EINVAL);
	CHECK_EQ(ss2022_parse_keys(mcc, "t7XRzLCvgsH4r4r669cyqPnVNFG2c/HC5Tt+MjINJB0=:"
					"t7XRzLCvgsH4r4r669cyqPnVNFG2c/HC5Tt+MjINJB0=", &k),
		 -EINVAL); /* EIH is AES only */
	text[0] = '\0';
	for (int i = 0; i < SS2022_MAX_IDENTITY_KEYS; i++)
		strcat(text, "5mOQSa20Kt6ay2LXruBoHQ==:");
	strcat(text, "oKGio6SlpqeoqaqrrK2urw==");
	keys_from(m128, text, &k);
	CHECK_EQ(k.n_ipsk, SS2022_MAX_IDENTITY_KEYS);
	CHECK_EQ(k.psk[0], 0xa0);
	CHECK_EQ(k.ipsk[7][0], 0xe6);
	strcat(text, ":oKGio6SlpqeoqaqrrK2urw==");
	CHECK_EQ(ss2022_parse_keys(m128, text, &k), -EINVAL);
	CHECK_EQ(ss2022_pick_padding(1), 0);
	for (int i = 0; i < 1000; i++) {
		size_t p = ss2022_pick_padding(0);

		CHECK(p >= 1 && p <= SS2022_PADDING_MAX);
	}
}

/* ---- TCP ---------------------------------------------------------------------------- */

struct tcp_case {
	const struct ss2022_method *m;
	struct ss2022_keys k;
	uint8_t salt[32], resp_salt[32];
	uint8_t wire[BUF_BYTES]; /* request first write | next chunk */
	size_t first_len, wire_len;
	uint8_t resp[BUF_BYTES]; /* response first write | one more chunk */
	size_t resp_first_len, resp_len;
};

/* Build the V5 request (and its next chunk) and check it byte for byte. */
static void build_v5(const struct vec22_tcp *v, struct tcp_case *t)
{
	uint8_t want[BUF_BYTES], var[256], more[64];
	struct aead_ctx ctx;
	size_t var_len = unhex(v->variable_header, var, sizeof(var)), addr_len = var_len - 2 - 5;
	size_t more_len = unhex(v->next_chunk_plaintext, more, sizeof(more));
	int n;

	t->m = method(v->method);
	keys_from(t->m, v->psk_b64, &t->k);
	unhex(v->request_salt, t->salt, sizeof(t->salt));
	unhex(v->response_salt, t->resp_salt, sizeof(t->resp_salt));
	n = ss2022_build_request(t->m, &t->k, t->salt, TS, var, addr_len, var + var_len - 5, 5, 0,
				 NULL, &ctx, t->wire, sizeof(t->wire));
	CHECK_EQ(n, unhex(v->request_first_write, want, sizeof(want)));
	CHECK_MEM(t->wire, want, (size_t)n);
	CHECK_EQ(ctx.nonce[0], 2);
	t->first_len = (size_t)n;
	memcpy(t->wire + n + AEAD_LEN_BYTES, more, more_len);
	t->wire_len = t->first_len + ss2022_seal_chunk_inplace(&ctx, t->wire + n + AEAD_LEN_BYTES,
								  more_len);
	CHECK_EQ(t->wire_len - t->first_len, unhex(v->next_chunk, want, sizeof(want)));
	CHECK_MEM(t->wire + t->first_len, want, t->wire_len - t->first_len);
	aead_ctx_wipe(&ctx);
}

/* The response to V5: header + "world", then one more chunk "!!". */
static void build_v5_response(const struct vec22_tcp *v, struct tcp_case *t, const uint8_t *psk)
{
	uint8_t want[BUF_BYTES];
	struct aead_ctx ctx;
	size_t hl = ss2022_response_header_size(t->m);

	CHECK_EQ(ss2022_build_response_header(t->m, psk, t->resp_salt, TS, t->salt, 5, &ctx,
					      t->resp),
		 (int)hl);
	memcpy(t->resp + hl, "world", 5);
	CHECK_EQ(aead_seal(&ctx, t->resp + hl, t->resp + hl, 5), 0);
	t->resp_first_len = hl + 5 + AEAD_TAG_BYTES;
	if (v) {
		CHECK_EQ(t->resp_first_len, unhex(v->response_first_write, want, sizeof(want)));
		CHECK_MEM(t->resp, want, t->resp_first_len);
	}
	memcpy(t->resp + t->resp_first_len + AEAD_LEN_BYTES, "!!", 2);
	t->resp_len = t->resp_first_len +
		      ss2022_seal_chunk_inplace(&ctx, t->resp + t->resp_first_len + AEAD_LEN_BYTES,
						2);
	aead_ctx_wipe(&ctx);
}

static void check_request_read(const struct tcp_case *t, const struct ss2022_server_cfg *cfg)
{
	for (int mode = 0; mode < 6; mode++) {
		struct sink s;

		sink_server(&s, cfg, TS);
		s.use_out = mode >= 3;
		sink_feed_split(&s, t->wire, t->wire_len, mode % 3);
		CHECK_EQ(s.err, 0);
		CHECK(s.fixed == 1 && s.varhdr == 1 && s.data == 1);
		CHECK_EQ(s.out_len, 14);
		CHECK_MEM(s.out, "hellomore data", 14);
		CHECK_EQ(s.target.atyp, SSADDR_ATYP_DOMAIN);
		CHECK(strcmp(s.target.u.domain.name, "example.com") == 0);
		CHECK_EQ(s.target.port, 443);
		CHECK_EQ(s.r.ts, TS);
		CHECK_MEM(s.r.salt, t->salt, t->m->key_len);
		ss2022_reader_wipe(&s.r);
	}
}

static void check_response_read(const struct tcp_case *t, const uint8_t *psk)
{
	for (int mode = 0; mode < 6; mode++) {
		struct sink s;

		memset(&s, 0, sizeof(s));
		ss2022_reader_init_client(&s.r, t->m, psk, t->salt);
		s.now = TS;
		s.use_out = mode >= 3;
		sink_feed_split(&s, t->resp, t->resp_len, mode % 3);
		CHECK_EQ(s.err, 0);
		CHECK(s.fixed == 1 && s.data == 2);
		CHECK_EQ(s.out_len, 7);
		CHECK_MEM(s.out, "world!!", 7);
		CHECK_MEM(s.r.salt, t->resp_salt, t->m->key_len);
	}
}

/* Every bit after the salt (protocol.md §7.2): the stream must fail. */
static void check_bit_flips(const struct tcp_case *t, const struct ss2022_server_cfg *cfg,
			    const uint8_t *wire, size_t len, bool response, bool every_bit)
{
	uint8_t bad[BUF_BYTES];

	for (size_t i = t->m->key_len; i < len; i++) {
		for (int b = 0; b < 8; b++) {
			struct sink s;

			if (!every_bit && b != (int)(i % 8))
				continue;
			memcpy(bad, wire, len);
			bad[i] ^= (uint8_t)(1u << b);
			if (response) {
				memset(&s, 0, sizeof(s));
				ss2022_reader_init_client(&s.r, t->m, t->k.psk, t->salt);
				s.now = TS;
			} else {
				sink_server(&s, cfg, TS);
			}
			sink_feed_split(&s, bad, len, 0);
			CHECK(s.err < 0);
		}
	}
}

static void test_tcp_vectors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vec22_tcp); i++) {
		const struct vec22_tcp *v = &vec22_tcp[i];
		static struct tcp_case t;
		struct ss2022_server_cfg cfg = { 0 };
		uint8_t sub[32], want[32];

		build_v5(v, &t);
		ss2022_session_subkey(t.m, t.k.psk, t.salt, t.m->key_len, sub);
		CHECK_MEM(sub, want, unhex(v->request_subkey, want, sizeof(want)));
		ss2022_session_subkey(t.m, t.k.psk, t.resp_salt, t.m->key_len, sub);
		CHECK_MEM(sub, want, unhex(v->response_subkey, want, sizeof(want)));
		cfg.m = t.m;
		memcpy(cfg.psk, t.k.psk, t.m->key_len);
		check_request_read(&t, &cfg);
		build_v5_response(v, &t, t.k.psk);
		check_response_read(&t, t.k.psk);
		check_bit_flips(&t, &cfg, t.wire, t.wire_len, false, i == 0);
		check_bit_flips(&t, &cfg, t.resp, t.resp_len, true, i == 0);
	}
}

/* V5b: no payload, 16 bytes of padding; the reader yields an empty initial payload. */
static void test_tcp_padding_only(void)
{
	const struct vec22_tcp_padding_only *v = &vec22_tcp_padding_only[0];
	const struct ss2022_method *m = method(v->method);
	static const uint8_t zeros[16];
	struct ss2022_server_cfg cfg = { .m = m };
	uint8_t salt[16], var[64], want[BUF_BYTES], out[BUF_BYTES];
	size_t var_len = unhex(v->variable_header, var, sizeof(var));
	struct ss2022_keys k;
	struct aead_ctx ctx;
	struct sink s;
	int n;

	keys_from(m, v->psk_b64, &k);
	unhex(v->request_salt, salt, sizeof(salt));
	n = ss2022_build_request(m, &k, salt, TS, var, var_len - 18, NULL, 0, 16, zeros, &ctx,
				 out, sizeof(out));
	CHECK_EQ(n, unhex(v->request_first_write, want, sizeof(want)));
	CHECK_MEM(out, want, (size_t)n);
	memcpy(cfg.psk, k.psk, 16);
	sink_server(&s, &cfg, TS);
	sink_feed_split(&s, out, (size_t)n, 0);
	CHECK(s.err == 0 && s.varhdr == 1 && s.out_len == 0);
	CHECK_EQ(s.target.atyp, SSADDR_ATYP_IPV6);
	/* Random padding (NULL) still parses; padding 0 without payload is refused. */
	n = ss2022_build_request(m, &k, NULL, TS, var, 19, NULL, 0, 900, NULL, &ctx, out,
				 sizeof(out));
	CHECK_EQ(n, (int)ss2022_request_size(m, 0, 19, 900, 0));
	sink_server(&s, &cfg, TS);
	sink_feed_split(&s, out, (size_t)n, 2);
	CHECK(s.err == 0 && s.varhdr == 1 && s.out_len == 0);
	CHECK_EQ(ss2022_build_request(m, &k, salt, TS, var, 19, NULL, 0, 0, NULL, &ctx, out,
				      sizeof(out)),
		 -EINVAL);
	CHECK_EQ(ss2022_build_request(m, &k, salt, TS, var, 19, NULL, 0, 901, NULL, &ctx, out,
				      sizeof(out)),
		 -EINVAL);
	CHECK_EQ(ss2022_build_request(m, &k, salt, TS, var, 19, NULL, 0, 16, zeros, &ctx, out,
				      (size_t)n - 1 - 900 + 16),
		 -ENOSPC);
	aead_ctx_wipe(&ctx);
}

/* Chunks up to 0xFFFF (not 0x3FFF): a maximal variable header and data chunk. */
static void test_tcp_big_chunks(void)
{
	const struct ss2022_method *m = method("2022-blake3-aes-128-gcm");
	struct ss2022_server_cfg cfg = { .m = m };
	static uint8_t wire[2 * SS2022_RECORD_MAX + 256], payload[SS2022_CHUNK_MAX];
	size_t max_pl = SS2022_CHUNK_MAX - sizeof(addr_v4) - 2, off = 0, used, plen;
	struct ss2022_reader r;
	struct ssaddr tgt;
	struct ss2022_keys k;
	struct aead_ctx ctx;
	uint8_t *plain;
	int n;

	keys_from(m, vec22_tcp[0].psk_b64, &k);
	memcpy(cfg.psk, k.psk, 16);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)rnd();
	CHECK_EQ(ss2022_build_request(m, &k, NULL, TS, addr_v4, sizeof(addr_v4), payload,
				      max_pl + 1, 0, NULL, &ctx, wire, sizeof(wire)),
		 -EINVAL);
	n = ss2022_build_request(m, &k, NULL, TS, addr_v4, sizeof(addr_v4), payload, max_pl, 0,
				 NULL, &ctx, wire, sizeof(wire));
	CHECK_EQ(n, (int)ss2022_request_size(m, 0, sizeof(addr_v4), 0, max_pl));
	CHECK_EQ(ss2022_seal_chunk_inplace(&ctx, wire + n + AEAD_LEN_BYTES, SS2022_CHUNK_MAX + 1),
		 0);
	memcpy(wire + n + AEAD_LEN_BYTES, payload, SS2022_CHUNK_MAX);
	CHECK_EQ(ss2022_seal_chunk_inplace(&ctx, wire + n + AEAD_LEN_BYTES, SS2022_CHUNK_MAX),
		 AEAD_LEN_BYTES + SS2022_RECORD_MAX);
	aead_ctx_wipe(&ctx);
	CHECK_EQ(ss2022_reader_init_server(&r, &cfg, &tgt), 0);
	CHECK_EQ(ss2022_reader_step(&r, wire, 30, TS, &used, &plain, &plen), SS2022_RD_NEED_MORE);
	CHECK_EQ(used, 0);
	CHECK_EQ(ss2022_reader_step(&r, wire, 43, TS, &used, &plain, &plen), SS2022_RD_GOT_FIXED);
	off += used;
	CHECK_EQ(ss2022_reader_need(&r), SS2022_RECORD_MAX);
	CHECK_EQ(ss2022_reader_step(&r, wire + off, sizeof(wire) - off, TS, &used, &plain, &plen),
		 SS2022_RD_GOT_VARHDR);
	CHECK(plen == max_pl && memcmp(plain, payload, max_pl) == 0);
	off += used;
	CHECK_EQ(ss2022_reader_step(&r, wire + off, 18, TS, &used, &plain, &plen),
		 SS2022_RD_GOT_LEN);
	off += used;
	CHECK_EQ(ss2022_reader_need(&r), SS2022_RECORD_MAX);
	CHECK_EQ(ss2022_reader_step(&r, wire + off, SS2022_RECORD_MAX, TS, &used, &plain, &plen),
		 SS2022_RD_GOT_DATA);
	CHECK(plen == SS2022_CHUNK_MAX && memcmp(plain, payload, plen) == 0);
	ss2022_reader_wipe(&r);
}

/* Seal a hand-made request: fixed header fields and variable header as given. */
static size_t forge_request(const struct ss2022_method *m, const uint8_t *psk, uint8_t type,
			    uint64_t ts, const uint8_t *var, size_t var_len, uint8_t *out)
{
	uint8_t *fixed = out + m->key_len, *p = fixed + 27, sub[32];
	struct aead_ctx ctx;

	for (size_t i = 0; i < m->key_len; i++)
		out[i] = (uint8_t)(0x40 + i);
	fixed[0] = type;
	for (int i = 0; i < 8; i++)
		fixed[1 + i] = (uint8_t)(ts >> (56 - 8 * i));
	fixed[9] = (uint8_t)(var_len >> 8);
	fixed[10] = (uint8_t)var_len;
	memcpy(p, var, var_len);
	ss2022_session_subkey(m, psk, out, m->key_len, sub);
	CHECK_EQ(aead_ctx_init_subkey(&ctx, ss2022_chunk_method(m), sub), 0);
	CHECK_EQ(aead_seal(&ctx, fixed, fixed, 11), 0);
	CHECK_EQ(aead_seal(&ctx, p, p, var_len), 0);
	/* a zero-length data chunk (accepted, protocol.md §5.7) */
	p[var_len + 16] = 0;
	p[var_len + 17] = 0;
	CHECK_EQ(aead_seal(&ctx, p + var_len + 16, p + var_len + 16, 2), 0);
	CHECK_EQ(aead_seal(&ctx, p + var_len + 34, NULL, 0), 0);
	aead_ctx_wipe(&ctx);
	return m->key_len + 27 + var_len + 16 + 18 + 16;
}

static int forged_result(const struct ss2022_server_cfg *cfg, uint8_t type, uint64_t ts,
			 const uint8_t *var, size_t var_len, struct sink *s)
{
	uint8_t wire[BUF_BYTES];
	size_t n = forge_request(cfg->m, cfg->psk, type, ts, var, var_len, wire);

	sink_server(s, cfg, TS);
	sink_feed_split(s, wire, n, 0);
	return s->err;
}

/* Header checks of protocol.md §5.3: type, ±30 s, padding rules, framing. */
static void test_tcp_header_rules(void)
{
	const struct ss2022_method *m = method("2022-blake3-aes-256-gcm");
	struct ss2022_server_cfg cfg = { .m = m };
	uint8_t ok[] = { 0x01, 1, 2, 3, 4, 0, 80, 0x00, 0x00, 'x' };
	uint8_t nopad[] = { 0x01, 1, 2, 3, 4, 0, 80, 0x00, 0x00 };
	uint8_t padonly[] = { 0x01, 1, 2, 3, 4, 0, 80, 0x00, 0x01, 0xee };
	uint8_t padlong[] = { 0x01, 1, 2, 3, 4, 0, 80, 0x00, 0x02, 0xee };
	uint8_t shortaddr[] = { 0x03, 0x0b, 'e', 'x' };
	uint8_t badatyp[] = { 0x05, 1, 2, 3, 4, 0, 80, 0x00, 0x00, 'x' };
	uint8_t nopadlen[] = { 0x01, 1, 2, 3, 4, 0, 80, 0x00 };
	struct sink s;

	memset(cfg.psk, 0x5a, 32);
	CHECK_EQ(forged_result(&cfg, 0, TS, ok, sizeof(ok), &s), 0);
	CHECK(s.varhdr == 1 && s.data == 1 && s.out_len == 1); /* L = 0 chunk accepted */
	CHECK_EQ(forged_result(&cfg, 0, TS - 30, ok, sizeof(ok), &s), 0);
	CHECK_EQ(forged_result(&cfg, 0, TS + 30, ok, sizeof(ok), &s), 0);
	CHECK_EQ(forged_result(&cfg, 0, TS - 31, ok, sizeof(ok), &s), -ETIME);
	CHECK_EQ(forged_result(&cfg, 0, TS + 31, ok, sizeof(ok), &s), -ETIME);
	CHECK_EQ(s.fixed, 0);
	CHECK_EQ(forged_result(&cfg, 1, TS, ok, sizeof(ok), &s), -EPROTO);
	CHECK_EQ(forged_result(&cfg, 0, TS, nopad, sizeof(nopad), &s), -EINVAL);
	CHECK_EQ(s.fixed, 1);
	CHECK_EQ(forged_result(&cfg, 0, TS, padonly, sizeof(padonly), &s), 0);
	CHECK_EQ(forged_result(&cfg, 0, TS, padlong, sizeof(padlong), &s), -EINVAL);
	CHECK_EQ(forged_result(&cfg, 0, TS, shortaddr, sizeof(shortaddr), &s), -EINVAL);
	CHECK_EQ(forged_result(&cfg, 0, TS, badatyp, sizeof(badatyp), &s), -EINVAL);
	CHECK_EQ(forged_result(&cfg, 0, TS, nopadlen, sizeof(nopadlen), &s), -EINVAL);
	CHECK_EQ(forged_result(&cfg, 0, TS, ok, 0, &s), -EINVAL);
	/* sticky: a failed reader stays failed */
	CHECK_EQ(s.r.state, SS2022_RD_FAILED);
	CHECK_EQ(ss2022_reader_need(&s.r), 0);
}

/* Client-side response checks: type, ±30 s, the request-salt echo. */
static void test_tcp_response_rules(void)
{
	static struct tcp_case t;
	struct sink s;
	const int64_t skew[] = { -31, -30, 30, 31 };

	build_v5(&vec22_tcp[0], &t);
	build_v5_response(&vec22_tcp[0], &t, t.k.psk);
	for (size_t i = 0; i < ARRAY_SIZE(skew); i++) {
		memset(&s, 0, sizeof(s));
		ss2022_reader_init_client(&s.r, t.m, t.k.psk, t.salt);
		s.now = TS + (uint64_t)skew[i];
		sink_feed_split(&s, t.resp, t.resp_len, 0);
		CHECK_EQ(s.err, skew[i] == -31 || skew[i] == 31 ? -ETIME : 0);
	}
	/* A response to somebody else's request. */
	memset(&s, 0, sizeof(s));
	ss2022_reader_init_client(&s.r, t.m, t.k.psk, t.resp_salt);
	s.now = TS;
	sink_feed_split(&s, t.resp, t.resp_len, 0);
	CHECK_EQ(s.err, -EBADMSG);
	/* A request reflected at its client is not a response. */
	memset(&s, 0, sizeof(s));
	ss2022_reader_init_client(&s.r, t.m, t.k.psk, t.salt);
	s.now = TS;
	sink_feed_split(&s, t.wire, t.wire_len, 0);
	CHECK(s.err < 0 && s.data == 0);
}

/* V5 replayed within 60 s is caught by the salt set at GOT_FIXED. */
static void test_tcp_replay(void)
{
	static struct tcp_case t;
	static uint64_t mem[4096];
	struct ss2022_server_cfg cfg = { 0 };
	struct ss2022_saltset set;
	struct sink s;

	CHECK(ss2022_saltset_mem_size(64) <= sizeof(mem));
	CHECK_EQ(ss2022_saltset_init(&set, 64, mem, sizeof(mem)), 0);
	build_v5(&vec22_tcp[1], &t);
	cfg.m = t.m;
	memcpy(cfg.psk, t.k.psk, 32);
	for (int round = 0; round < 2; round++) {
		sink_server(&s, &cfg, TS + (uint64_t)round * 25);
		s.salts = &set;
		sink_feed_split(&s, t.wire, t.wire_len, 0);
		CHECK_EQ(s.err, round == 0 ? 0 : -EALREADY);
		CHECK_EQ(s.varhdr, round == 0 ? 1 : 0);
	}
}

/* ---- EIH (V8) ------------------------------------------------------------------------- */

static void test_eih_tcp(void)
{
	const struct vec22_eih *v = &vec22_eih[0];
	const struct ss2022_method *m = method(v->method);
	struct ss2022_user users[3];
	struct ss2022_server_cfg cfg = { .m = m, .users = users, .n_users = 3 };
	static struct tcp_case t;
	uint8_t want[BUF_BYTES], var[64], sub[32], mat[32];
	size_t var_len = unhex(v->tcp_variable_header, var, sizeof(var));
	struct aead_ctx ctx;
	struct sink s;
	int n;

	t.m = m;
	keys_from(m, v->password_string, &t.k);
	CHECK_EQ(t.k.n_ipsk, 1);
	unhex(v->tcp_salt, t.salt, sizeof(t.salt));
	memcpy(mat, t.k.ipsk[0], 16);
	memcpy(mat + 16, t.salt, 16);
	blake3_derive_key("shadowsocks 2022 identity subkey", mat, 32, sub, 32);
	CHECK_MEM(sub, want, unhex(v->tcp_identity_subkey32, want, sizeof(want)));
	ss2022_session_subkey(m, t.k.psk, t.salt, 16, sub);
	CHECK_MEM(sub, want, unhex(v->tcp_session_subkey, want, sizeof(want)));
	n = ss2022_build_request(m, &t.k, t.salt, TS, var, var_len - 7, var + var_len - 5, 5, 0,
				 NULL, &ctx, t.wire, sizeof(t.wire));
	CHECK_EQ(n, unhex(v->tcp_request_first_write, want, sizeof(want)));
	CHECK_MEM(t.wire, want, (size_t)n);
	CHECK_MEM(t.wire + 16, want, unhex(v->tcp_eih, want, sizeof(want)));
	memcpy(t.wire + n + AEAD_LEN_BYTES, "more data", 9);
	t.wire_len = (size_t)n + ss2022_seal_chunk_inplace(&ctx, t.wire + n + AEAD_LEN_BYTES, 9);
	aead_ctx_wipe(&ctx);

	/* Server: its PSK is the identity key; the user is the third table entry. */
	memcpy(cfg.psk, t.k.ipsk[0], 16);
	CHECK_EQ(ss2022_user_init(&users[0], m, "a", "AAAAAAAAAAAAAAAAAAAAAA=="), 0);
	CHECK_EQ(ss2022_user_init(&users[1], m, "b", "5mOQSa20Kt6ay2LXruBoHQ=="), 0);
	CHECK_EQ(ss2022_user_init(&users[2], m, "c", v->upsk_b64), 0);
	CHECK_MEM(users[2].hash, want, unhex(v->user_hash16, want, sizeof(want)));
	check_request_read(&t, &cfg);
	sink_server(&s, &cfg, TS);
	sink_feed_split(&s, t.wire, t.wire_len, 0);
	CHECK_EQ(s.r.user, 2);
	CHECK_MEM(s.r.psk, t.k.psk, 16);
	/* The response is keyed by the user's PSK; the client reads it with its uPSK. */
	unhex(vec22_tcp[0].response_salt, t.resp_salt, sizeof(t.resp_salt));
	build_v5_response(NULL, &t, s.r.psk);
	check_response_read(&t, t.k.psk);
	check_bit_flips(&t, &cfg, t.wire, t.wire_len, false, true);

	/* The same through an index by identity hash, among 1000 users. */
	{
		static struct ss2022_user many[1000];
		static uint32_t index[2048];
		struct ss2022_server_cfg big = cfg;
		char b64[32];

		for (int i = 0; i < 1000; i++) {
			uint8_t raw[16] = { (uint8_t)i, (uint8_t)(i >> 8), 0x5a };

			/* base64 of 16 bytes: 22 characters and "==" */
			static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						 "0123456789+/";
			size_t o = 0;

			for (size_t k = 0; k < 16; k += 3) {
				uint32_t w = (uint32_t)raw[k] << 16 |
					     (k + 1 < 16 ? (uint32_t)raw[k + 1] << 8 : 0) |
					     (k + 2 < 16 ? raw[k + 2] : 0);

				b64[o++] = al[w >> 18 & 63];
				b64[o++] = al[w >> 12 & 63];
				b64[o++] = k + 1 < 16 ? al[w >> 6 & 63] : '=';
				b64[o++] = k + 2 < 16 ? al[w & 63] : '=';
			}
			b64[o] = '\0';
			if (i == 700)
				CHECK_EQ(ss2022_user_init(&many[i], m, "c", v->upsk_b64), 0);
			else
				CHECK_EQ(ss2022_user_init(&many[i], m, "x", b64), 0);
			for (uint32_t k = ss2022_hash_slot(many[i].hash) & 2047; ; k = (k + 1) & 2047) {
				if (!index[k]) {
					index[k] = (uint32_t)i + 1;
					break;
				}
			}
		}
		big.users = many;
		big.n_users = 1000;
		big.index = index;
		big.index_mask = 2047;
		CHECK_EQ(ss2022_user_find(&big, users[2].hash), 700);
		CHECK_EQ(ss2022_user_find(&big, users[1].hash), -1);
		sink_server(&s, &big, TS);
		sink_feed_split(&s, t.wire, t.wire_len, 0);
		CHECK_EQ(s.r.user, 700);
	}

	/* Wrong identity: the user is not in the table. */
	cfg.n_users = 2;
	sink_server(&s, &cfg, TS);
	sink_feed_split(&s, t.wire, t.wire_len, 0);
	CHECK_EQ(s.err, -EACCES);
	/* Without a user table the server expects no EIH and fails authentication. */
	cfg.n_users = 0;
	sink_server(&s, &cfg, TS);
	sink_feed_split(&s, t.wire, t.wire_len, 0);
	CHECK_EQ(s.err, -EBADMSG);
	/* EIH needs AES. */
	cfg.m = method("2022-blake3-chacha20-poly1305");
	cfg.n_users = 1;
	CHECK_EQ(ss2022_reader_init_server(&s.r, &cfg, &s.target), -EINVAL);
}

/* Two relays: each EIH decrypts, under its layer's key, to the next key's hash. */
static void test_eih_chain(void)
{
	const struct ss2022_method *m = method("2022-blake3-aes-256-gcm");
	struct ss2022_keys k;
	uint8_t wire[BUF_BYTES], isub[32], h[16], want[16];
	struct aead_ctx ctx;
	char text[256];
	int n;

	snprintf(text, sizeof(text), "%s:%s:%s", vec22_tcp[1].psk_b64,
		 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		 "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=");
	keys_from(m, text, &k);
	CHECK_EQ(k.n_ipsk, 2);
	n = ss2022_build_request(m, &k, NULL, TS, addr_v4, sizeof(addr_v4), (const uint8_t *)"x",
				 1, 0, NULL, &ctx, wire, sizeof(wire));
	CHECK_EQ(n, (int)ss2022_request_size(m, 2, sizeof(addr_v4), 0, 1));
	for (int i = 0; i < 2; i++) {
		ss2022_identity_subkey(m, k.ipsk[i], wire, isub);
		CHECK_EQ(aead_aes_block(isub, 32, false, wire + 32 + 16 * i, h), 0);
		ss2022_key_hash(m, i == 0 ? k.ipsk[1] : k.psk, want);
		CHECK_MEM(h, want, 16);
	}
	aead_ctx_wipe(&ctx);
}


int main(void)
{
	check_vectors_current();
	test_methods_and_keys();
	test_tcp_vectors();
	test_tcp_padding_only();
	test_tcp_header_rules();
	test_tcp_big_chunks();
	test_tcp_response_rules();
	test_tcp_replay();
	test_eih_tcp();
	test_eih_chain();
	printf("test_ss2022: ok\n");
	return 0;
}
