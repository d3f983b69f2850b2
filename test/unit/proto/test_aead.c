/* SPDX-License-Identifier: MIT */
/*
 * AEAD-2017 codec: project known-answer vectors (vectors_aead.h, generated from
 * test/data/protocol-vectors.json), published GCM and ChaCha20-Poly1305
 * vectors, the stream reader fed whole / byte by byte / in random pieces the
 * way a relay does, framing and tag errors, UDP packets, in-place operation
 * and base64 keys.
 */
#include <errno.h>
#include <stdint.h>

#include "proto/aead.h"
#include "check.h"
#include "util.h"
#include "vectors_aead.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIG_BYTES (3 * AEAD_CHUNK_WIRE_MAX)

static const char *const all_names[AEAD_KIND_COUNT] = {
	"aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
	"xchacha20-ietf-poly1305",
};

/* The method if this wolfSSL has it; otherwise print why the case is skipped. */
static const struct aead_method *method_or_skip(const char *name, const char *what)
{
	const struct aead_method *m = aead_method_find(name);
	char why[128];

	if (!m) {
		snprintf(why, sizeof(why), "%s is not in this wolfSSL build", name);
		test_skip(what, why);
	} else {
		test_ran();
	}
	return m;
}

static void fill_pattern(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* ---- a relay's receive side: reader + carry buffer for a partial record ---- */

struct relay {
	struct aead_reader r;
	struct carry c;         /* test/util.h's model, over carry_buf */
	uint8_t carry_buf[AEAD_CHUNK_WIRE_MAX];
	uint8_t out[BIG_BYTES];
	size_t out_len;
	size_t chunk_len[16];
	size_t nchunks;
	int salts;
};

static size_t relay_need(void *arg)
{
	struct relay *s = arg;

	return aead_reader_need(&s->r);
}

static int relay_step(void *arg, uint8_t *buf, size_t len, size_t *used)
{
	struct relay *s = arg;
	uint8_t *plain = (uint8_t *)1;
	size_t plain_len = 1;
	int res = aead_reader_step(&s->r, buf, len, used, &plain, &plain_len);

	if (res == AEAD_RD_GOT_SALT)
		s->salts++;
	if (res != AEAD_RD_GOT_DATA) {
		CHECK(plain == NULL && plain_len == 0);
		return res;
	}
	CHECK(plain == buf && plain_len > 0 && plain_len <= AEAD_CHUNK_MAX);
	CHECK_EQ(*used, plain_len + AEAD_TAG_BYTES);
	CHECK(s->out_len + plain_len <= sizeof(s->out));
	memcpy(s->out + s->out_len, plain, plain_len);
	s->out_len += plain_len;
	if (s->nchunks < ARRAY_SIZE(s->chunk_len))
		s->chunk_len[s->nchunks++] = plain_len;
	return res;
}

static void relay_init(struct relay *s, const struct aead_method *m, const uint8_t *master)
{
	memset(s, 0, sizeof(*s));
	aead_reader_init(&s->r, m, master);
	s->c = (struct carry){ .buf = s->carry_buf, .cap = sizeof(s->carry_buf),
			       .need = relay_need, .step = relay_step, .arg = s };
}

/* Feed a copy of wire in pieces of piece() bytes (0: everything at once). */
static int relay_feed_split(struct relay *s, const uint8_t *wire, size_t len, size_t piece)
{
	static uint8_t copy[BIG_BYTES];
	size_t off = 0;

	CHECK(len <= sizeof(copy));
	memcpy(copy, wire, len);
	while (off < len) {
		size_t n = piece ? piece : len - off;
		int res;

		if (piece == SIZE_MAX)
			n = 1 + rnd() % 300;
		if (n > len - off)
			n = len - off;
		res = carry_feed(&s->c, copy + off, n);
		if (res < 0)
			return res;
		off += n;
	}
	return 0;
}

/* ---- known answers ----------------------------------------------------------- */

static void test_methods(void)
{
	size_t avail = 0;

	for (int k = 0; k < AEAD_KIND_COUNT; k++) {
		const struct aead_method *m = aead_method_get(k);

		CHECK(m && m->kind == (enum aead_kind)k && strcmp(m->name, all_names[k]) == 0);
		CHECK(m->salt_len == m->key_len && m->key_len <= AEAD_MAX_KEY_BYTES);
		CHECK_EQ(m->nonce_len, k == AEAD_XCHACHA20_POLY1305 ? 24 : 12);
		if (aead_method_find(m->name)) {
			CHECK(aead_method_find(m->name) == m);
			CHECK(strstr(aead_method_names(), m->name));
			avail++;
		} else {
			printf("note: %s is not in this wolfSSL build\n", m->name);
		}
	}
	CHECK(aead_method_get(AEAD_KIND_COUNT) == NULL);
	if (avail == AEAD_KIND_COUNT)
		CHECK(strcmp(aead_method_names(),
			     "aes-128-gcm aes-192-gcm aes-256-gcm chacha20-ietf-poly1305 "
			     "xchacha20-ietf-poly1305") == 0);
	CHECK(aead_method_find("aes-128-gcm-x") == NULL && aead_method_find("") == NULL);
	CHECK(aead_method_find("AES-128-GCM") == NULL && aead_method_find("rc4-md5") == NULL);
	CHECK(aead_backend_version()[0] != '\0');
	printf("backend: wolfSSL %s, aesni=%d avx2=%d\n", aead_backend_version(),
	       aead_backend_has_aesni(), aead_backend_has_avx2());
}

static const struct aead_method *method_by_key_len(size_t key_len)
{
	return aead_method_get(key_len == 16 ? AEAD_AES_128_GCM :
			       key_len == 24 ? AEAD_AES_192_GCM :
					       AEAD_AES_256_GCM);
}

static void test_evp_bytes_to_key(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vec_evp); i++) {
		const struct vec_evp *v = &vec_evp[i];
		uint8_t want[AEAD_MAX_KEY_BYTES], key[AEAD_MAX_KEY_BYTES + 1];

		CHECK_EQ(unhex(v->key, want, sizeof(want)), v->key_len);
		key[v->key_len] = 0xA5;
		CHECK_EQ(aead_password_to_key(method_by_key_len(v->key_len), v->password,
					      strlen(v->password), key),
			 0);
		CHECK_MEM(key, want, v->key_len);
		CHECK_EQ(key[v->key_len], 0xA5);
	}
}

static void test_hkdf_sha1(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vec_hkdf); i++) {
		const struct vec_hkdf *v = &vec_hkdf[i];
		uint8_t ikm[32], salt[32], want[32], got[32];
		size_t n = unhex(v->ikm, ikm, sizeof(ikm));

		CHECK(strcmp(v->info, "ss-subkey") == 0);
		CHECK_EQ(unhex(v->salt, salt, sizeof(salt)), n);
		CHECK_EQ(unhex(v->subkey, want, sizeof(want)), n);
		CHECK_EQ(aead_derive_subkey(method_by_key_len(n), ikm, salt, got), 0);
		CHECK_MEM(got, want, n);
	}
}

/* Build salt | chunks with aead_seal_chunks and with aead_seal_chunk_inplace. */
static void check_tcp_encode(const struct vec_tcp *v, const struct aead_method *m,
			     const uint8_t *master, const uint8_t *salt, const uint8_t *wire,
			     size_t wire_len)
{
	static uint8_t a[BIG_BYTES], b[BIG_BYTES], pt[BIG_BYTES];
	struct aead_ctx ca, cb;
	size_t na = m->salt_len, nb = m->salt_len;

	memcpy(a, salt, na);
	memcpy(b, salt, nb);
	CHECK_EQ(aead_ctx_init(&ca, m, master, salt), 0);
	CHECK_EQ(aead_ctx_init(&cb, m, master, salt), 0);
	for (size_t i = 0; i < v->nchunks; i++) {
		size_t n = unhex(v->chunks[i], pt, sizeof(pt));

		CHECK_EQ(aead_seal_chunks(&ca, a + na, pt, n), aead_sealed_size(n));
		na += aead_sealed_size(n);
		memcpy(b + nb + AEAD_LEN_BYTES, pt, n);
		CHECK_EQ(aead_seal_chunk_inplace(&cb, b + nb + AEAD_LEN_BYTES, n),
			 AEAD_LEN_BYTES + n + AEAD_TAG_BYTES);
		nb += AEAD_LEN_BYTES + n + AEAD_TAG_BYTES;
	}
	CHECK_EQ(na, wire_len);
	CHECK_EQ(nb, wire_len);
	CHECK_MEM(a, wire, wire_len);
	CHECK_MEM(b, wire, wire_len);
	aead_ctx_wipe(&ca);
	aead_ctx_wipe(&cb);
}

static void check_tcp_decode(const struct vec_tcp *v, const struct aead_method *m,
			     const uint8_t *master, const uint8_t *wire, size_t wire_len)
{
	static uint8_t want[BIG_BYTES];
	static struct relay s;
	const size_t pieces[] = { 0, 1, 2, 7, 17, 18, 19, SIZE_MAX, SIZE_MAX, SIZE_MAX };
	size_t want_len = 0, lens[VEC_TCP_MAX_CHUNKS];

	for (size_t i = 0; i < v->nchunks; i++) {
		lens[i] = unhex(v->chunks[i], want + want_len, sizeof(want) - want_len);
		want_len += lens[i];
	}
	for (size_t p = 0; p < ARRAY_SIZE(pieces); p++) {
		relay_init(&s, m, master);
		CHECK_EQ(relay_feed_split(&s, wire, wire_len, pieces[p]), 0);
		CHECK_EQ(s.salts, 1);
		CHECK_MEM(s.r.salt, wire, m->salt_len);
		CHECK_EQ(s.out_len, want_len);
		CHECK_MEM(s.out, want, want_len);
		CHECK_EQ(s.nchunks, v->nchunks);
		for (size_t i = 0; i < v->nchunks; i++)
			CHECK_EQ(s.chunk_len[i], lens[i]);
		CHECK(s.c.len == 0 && s.r.state == AEAD_RD_LEN);
		aead_ctx_wipe(&s.r.ctx);
	}
}

static void test_tcp_vectors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vec_tcp); i++) {
		const struct vec_tcp *v = &vec_tcp[i];
		const struct aead_method *m = method_or_skip(v->method, "its TCP vector");
		uint8_t master[32], salt[32], subkey[32], want[32];
		static uint8_t wire[BIG_BYTES];
		size_t wire_len;

		if (!m)
			continue;
		CHECK_EQ(aead_password_to_key(m, v->password, strlen(v->password), master), 0);
		CHECK_EQ(unhex(v->salt, salt, sizeof(salt)), m->salt_len);
		CHECK_EQ(unhex(v->subkey, want, sizeof(want)), m->key_len);
		CHECK_EQ(aead_derive_subkey(m, master, salt, subkey), 0);
		CHECK_MEM(subkey, want, m->key_len);
		wire_len = unhex(v->wire, wire, sizeof(wire));
		check_tcp_encode(v, m, master, salt, wire, wire_len);
		check_tcp_decode(v, m, master, wire, wire_len);
	}
}

static void test_udp_vectors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vec_udp); i++) {
		const struct vec_udp *v = &vec_udp[i];
		const struct aead_method *m = method_or_skip(v->method, "its UDP vector");
		uint8_t master[32], salt[32], pt[64], pkt[128], got[128];
		size_t pt_len, pkt_len;

		if (!m)
			continue;
		CHECK_EQ(aead_password_to_key(m, v->password, strlen(v->password), master), 0);
		CHECK_EQ(unhex(v->salt, salt, sizeof(salt)), m->salt_len);
		pt_len = unhex(v->plaintext, pt, sizeof(pt));
		pkt_len = unhex(v->packet, pkt, sizeof(pkt));
		CHECK_EQ(aead_udp_seal_salt(m, master, salt, got, pt, pt_len), pkt_len);
		CHECK_MEM(got, pkt, pkt_len);
		memset(got, 0, sizeof(got));
		CHECK_EQ(aead_udp_open(m, master, got, pkt, pkt_len), pt_len);
		CHECK_MEM(got, pt, pt_len);
		/* in place, as a relay does it: plaintext lands right after the salt */
		CHECK_EQ(aead_udp_open(m, master, pkt + m->salt_len, pkt, pkt_len), pt_len);
		CHECK_MEM(pkt + m->salt_len, pt, pt_len);
	}
}

/* ---- published vectors (empty AAD only: Shadowsocks never uses AAD) ---------- */

struct pub_vec {
	enum aead_kind kind;
	const char *name, *key, *iv, *pt, *ct, *tag;
};

#define GCM_P64                                                             \
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define GCM_K128 "feffe9928665731c6d6a8f9467308308"
#define GCM_IV "cafebabefacedbaddecaf888"
#define Z12 "000000000000000000000000"
#define Z16 "00000000000000000000000000000000"

static const struct pub_vec pub_vecs[] = {
	/* McGrew & Viega, "The Galois/Counter Mode of Operation", test cases */
	{ AEAD_AES_128_GCM, "GCM TC1", Z16, Z12, "", "", "58e2fccefa7e3061367f1d57a4e7455a" },
	{ AEAD_AES_128_GCM, "GCM TC2", Z16, Z12, Z16, "0388dace60b6a392f328c2b971b2fe78",
	  "ab6e47d42cec13bdf53a67b21257bddf" },
	{ AEAD_AES_128_GCM, "GCM TC3", GCM_K128, GCM_IV, GCM_P64,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	  "4d5c2af327cd64a62cf35abd2ba6fab4" },
	{ AEAD_AES_192_GCM, "GCM TC7", Z16 "0000000000000000", Z12, "", "",
	  "cd33b28ac773f74ba00ed1f312572435" },
	{ AEAD_AES_192_GCM, "GCM TC8", Z16 "0000000000000000", Z12, Z16,
	  "98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb" },
	{ AEAD_AES_192_GCM, "GCM TC9", GCM_K128 "feffe9928665731c", GCM_IV, GCM_P64,
	  "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
	  "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256",
	  "9924a7c8587336bfb118024db8674a14" },
	{ AEAD_AES_256_GCM, "GCM TC13", Z16 Z16, Z12, "", "", "530f8afbc74536b9a963b4f1c4cb738b" },
	{ AEAD_AES_256_GCM, "GCM TC14", Z16 Z16, Z12, Z16, "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ AEAD_AES_256_GCM, "GCM TC15", GCM_K128 GCM_K128, GCM_IV, GCM_P64,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	/*
	 * RFC 8439 2.8.2 needs AAD, which this API cannot express; these are the
	 * empty-AAD cases of Wycheproof chacha20_poly1305_test.json.
	 */
	{ AEAD_CHACHA20_POLY1305, "Wycheproof tcId 2",
	  "80ba3192c803ce965ea371d5ff073cf0f43b6a2ab576b208426e11409c09b9b0",
	  "4da5bf8dfd5852c1ea12379d", "", "", "76acb342cf3166a5b63c0c0ea1383c8d" },
	{ AEAD_CHACHA20_POLY1305, "Wycheproof tcId 34",
	  "59d4eafb4de0cfc7d3db99a8f54b15d7b39f0acc8da69763b019c1699f87674a",
	  "2fcb1b38a99e71b84740ad9b", "549b365af913f3b081131ccb6b825588",
	  "e9110e9f56ab3ca483500ceabab67a13", "836ccabf15a6a22a51c1071cfa68fa0c" },
	{ AEAD_CHACHA20_POLY1305, "Wycheproof tcId 72",
	  "5b1d1035c0b17ee0b0444767f80a25b8c1b741f4b50a4d3052226baa1c6fb701",
	  "d61040a313ed492823cc065b",
	  "d096803181beef9e008ff85d5ddc38ddacf0f09ee5f7e07f1e4079cb64d0dc8f"
	  "5e6711cd4921a7887de76e2678fdc67618f1185586bfea9d4c685d50e4bb9a82",
	  "9a4ef22b181677b5755c08f747c0f8d8e8d4c18a9cc2405c12bb51bb1872c8e8"
	  "b877678bec442cfcbb0ff464a64b74332cf072898c7e0eddf6232ea6e27efe50",
	  "9ff3427a0f32fa566d9ca0a78aefc013" },
};

static void test_published_vectors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(pub_vecs); i++) {
		const struct pub_vec *v = &pub_vecs[i];
		const struct aead_method *m = aead_method_get(v->kind);
		uint8_t key[32], iv[12], pt[64], want[80], buf[80];
		size_t n;
		struct aead_ctx c;

		if (!method_or_skip(m->name, v->name))
			continue;
		CHECK_EQ(unhex(v->key, key, sizeof(key)), m->key_len);
		CHECK_EQ(unhex(v->iv, iv, sizeof(iv)), 12);
		n = unhex(v->pt, pt, sizeof(pt));
		CHECK_EQ(unhex(v->ct, want, sizeof(want)), n);
		CHECK_EQ(unhex(v->tag, want + n, AEAD_TAG_BYTES), AEAD_TAG_BYTES);
		CHECK_EQ(aead_ctx_init_subkey(&c, m, key), 0);
		memcpy(c.nonce, iv, 12);
		memcpy(buf, pt, n);
		CHECK_EQ(aead_seal(&c, buf, buf, n), 0);
		CHECK_MEM(buf, want, n + AEAD_TAG_BYTES);
		memcpy(c.nonce, iv, 12);
		CHECK_EQ(aead_open(&c, buf, buf, n + AEAD_TAG_BYTES), n);
		CHECK_MEM(buf, pt, n);
		aead_ctx_wipe(&c);
	}
}

/* ---- seal/open primitives ------------------------------------------------------ */

static void check_inplace_size(const struct aead_method *m, const uint8_t *key, size_t n)
{
	static uint8_t pt[AEAD_CHUNK_MAX], ct[AEAD_CHUNK_MAX + 16], buf[AEAD_CHUNK_MAX + 16];
	struct aead_ctx seal_oop, seal_ip, open_oop, open_ip;

	CHECK_EQ(aead_ctx_init_subkey(&seal_oop, m, key), 0);
	seal_ip = seal_oop;
	open_oop = seal_oop;
	open_ip = seal_oop;
	for (int round = 0; round < 3; round++) { /* nonces 0, 1, 2 */
		fill_pattern(pt, n);
		CHECK_EQ(aead_seal(&seal_oop, ct, pt, n), 0);
		memcpy(buf, pt, n);
		CHECK_EQ(aead_seal(&seal_ip, buf, buf, n), 0);
		CHECK_MEM(buf, ct, n + AEAD_TAG_BYTES);
		CHECK_EQ(aead_open(&open_ip, buf, buf, n + AEAD_TAG_BYTES), n);
		CHECK_MEM(buf, pt, n);
		memset(buf, 0, n);
		CHECK_EQ(aead_open(&open_oop, buf, ct, n + AEAD_TAG_BYTES), n);
		CHECK_MEM(buf, pt, n);
	}
	CHECK_EQ(seal_ip.nonce[0], 3);
	CHECK_EQ(open_ip.nonce[0], 3);
	aead_ctx_wipe(&seal_oop);
	aead_ctx_wipe(&seal_ip);
	aead_ctx_wipe(&open_oop);
	aead_ctx_wipe(&open_ip);
}

/* A bad tag: -EBADMSG, the nonce stays, and no unauthenticated plaintext is left. */
static void check_bad_tag(const struct aead_method *m, const uint8_t *key)
{
	uint8_t pt[40], ct[56], out[40];
	struct aead_ctx s, o;

	CHECK_EQ(aead_ctx_init_subkey(&s, m, key), 0);
	o = s;
	fill_pattern(pt, sizeof(pt));
	CHECK_EQ(aead_seal(&s, ct, pt, sizeof(pt)), 0);
	for (size_t bit = 0; bit < 8 * sizeof(ct); bit += 7) {
		ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 0xEE, sizeof(out));
		CHECK_EQ(aead_open(&o, out, ct, sizeof(ct)), -EBADMSG);
		for (size_t i = 0; i < sizeof(out); i++)
			CHECK_EQ(out[i], 0);
		CHECK_EQ(o.nonce[0], 0);
		ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK_EQ(aead_open(&o, out, ct, sizeof(ct)), sizeof(pt));
	CHECK_EQ(aead_open(&o, out, ct, 15), -EINVAL);
	CHECK_EQ(aead_open(&o, out, ct, 0), -EINVAL);
	aead_ctx_wipe(&s);
	aead_ctx_wipe(&o);
}

/* The nonce is a little-endian counter over all nonce_len bytes. */
static void check_nonce_counter(const struct aead_method *m, const uint8_t *key)
{
	uint8_t a[32], b[32], pt[16] = "sixteen bytes..";
	struct aead_ctx ca, cb;

	CHECK_EQ(aead_ctx_init_subkey(&ca, m, key), 0);
	cb = ca;
	for (int i = 0; i < 256; i++)
		CHECK_EQ(aead_seal(&ca, a, NULL, 0), 0);
	CHECK(ca.nonce[0] == 0 && ca.nonce[1] == 1);
	cb.nonce[1] = 1;
	CHECK_EQ(aead_seal(&ca, a, pt, sizeof(pt)), 0);
	CHECK_EQ(aead_seal(&cb, b, pt, sizeof(pt)), 0);
	CHECK_MEM(a, b, sizeof(pt) + AEAD_TAG_BYTES);
	memset(ca.nonce, 0xff, m->nonce_len);
	CHECK_EQ(aead_seal(&ca, a, pt, sizeof(pt)), 0);
	for (size_t i = 0; i < sizeof(ca.nonce); i++)
		CHECK_EQ(ca.nonce[i], 0);
	aead_ctx_wipe(&ca);
	CHECK(ca.m == NULL && ca.key[0] == 0 && ca.key[31] == 0);
	aead_ctx_wipe(&cb);
}

static void test_seal_open(void)
{
	const size_t sizes[] = { 0, 1, 2, 15, 16, 17, 63, 64, 65, 1000, 16384 - 2, AEAD_CHUNK_MAX };

	for (int k = 0; k < AEAD_KIND_COUNT; k++) {
		const struct aead_method *m = method_or_skip(all_names[k], "seal/open");
		uint8_t key[32];

		if (!m)
			continue;
		fill_pattern(key, sizeof(key));
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
			check_inplace_size(m, key, sizes[i]);
		check_bad_tag(m, key);
		check_nonce_counter(m, key);
	}
}

/* ---- stream framing ---------------------------------------------------------------- */

static void stream_start(const struct aead_method *m, uint8_t *master, struct aead_ctx *w,
			 uint8_t *wire)
{
	fill_pattern(master, m->key_len);
	fill_pattern(wire, m->salt_len);
	CHECK_EQ(aead_ctx_init(w, m, master, wire), 0);
}

/* Chunks of 1 and 0x3FFF bytes, and 0x4000 bytes split into 0x3FFF + 1. */
static void check_chunk_sizes(const struct aead_method *m)
{
	static uint8_t wire[BIG_BYTES], pt[0x4000], buf[AEAD_CHUNK_WIRE_MAX];
	static struct relay s;
	uint8_t master[32];
	struct aead_ctx w;
	size_t n = m->salt_len;

	stream_start(m, master, &w, wire);
	fill_pattern(pt, sizeof(pt));
	CHECK_EQ(aead_sealed_size(0), 0);
	CHECK_EQ(aead_sealed_size(1), 35);
	CHECK_EQ(aead_sealed_size(AEAD_CHUNK_MAX), AEAD_CHUNK_WIRE_MAX);
	CHECK_EQ(aead_sealed_size(0x4000), 0x4000 + 2 * 34);
	CHECK_EQ(aead_seal_chunks(&w, wire + n, pt, 0), 0);
	CHECK_EQ(aead_seal_chunk_inplace(&w, buf + AEAD_LEN_BYTES, 0), 0);
	CHECK_EQ(aead_seal_chunk_inplace(&w, buf + AEAD_LEN_BYTES, AEAD_CHUNK_MAX + 1), 0);
	CHECK_EQ(w.nonce[0], 0);
	memcpy(buf + AEAD_LEN_BYTES, pt, 1);
	CHECK_EQ(aead_seal_chunk_inplace(&w, buf + AEAD_LEN_BYTES, 1), 35);
	memcpy(wire + n, buf, 35);
	n += 35;
	memcpy(buf + AEAD_LEN_BYTES, pt, AEAD_CHUNK_MAX);
	CHECK_EQ(aead_seal_chunk_inplace(&w, buf + AEAD_LEN_BYTES, AEAD_CHUNK_MAX),
		 AEAD_CHUNK_WIRE_MAX);
	memcpy(wire + n, buf, AEAD_CHUNK_WIRE_MAX);
	n += AEAD_CHUNK_WIRE_MAX;
	CHECK_EQ(aead_seal_chunks(&w, wire + n, pt, 0x4000), aead_sealed_size(0x4000));
	n += aead_sealed_size(0x4000);
	CHECK(n <= sizeof(wire));

	relay_init(&s, m, master);
	CHECK_EQ(relay_feed_split(&s, wire, n, SIZE_MAX), 0);
	CHECK_EQ(s.nchunks, 4);
	CHECK(s.chunk_len[0] == 1 && s.chunk_len[1] == AEAD_CHUNK_MAX);
	CHECK(s.chunk_len[2] == AEAD_CHUNK_MAX && s.chunk_len[3] == 1);
	CHECK_MEM(s.out, pt, 1);
	CHECK_MEM(s.out + 1, pt, AEAD_CHUNK_MAX);
	CHECK_MEM(s.out + 1 + AEAD_CHUNK_MAX, pt, 0x4000);
	aead_ctx_wipe(&s.r.ctx);
	aead_ctx_wipe(&w);
}

/* A correctly sealed length field announcing plen: only 1..0x3FFF are accepted. */
static void check_announced_len(const struct aead_method *m, unsigned plen, bool ok)
{
	uint8_t master[32], wire[AEAD_MAX_SALT_BYTES + AEAD_LEN_BYTES], be[2];
	uint8_t *plain;
	size_t used, plain_len, sl = m->salt_len;
	struct aead_reader r;
	struct aead_ctx w;

	stream_start(m, master, &w, wire);
	be[0] = (uint8_t)(plen >> 8);
	be[1] = (uint8_t)plen;
	CHECK_EQ(aead_seal(&w, wire + sl, be, 2), 0);
	aead_reader_init(&r, m, master);
	CHECK_EQ(aead_reader_need(&r), sl);
	CHECK_EQ(aead_reader_step(&r, wire, sl + AEAD_LEN_BYTES, &used, &plain, &plain_len),
		 AEAD_RD_GOT_SALT);
	CHECK_EQ(used, sl);
	CHECK_EQ(aead_reader_need(&r), AEAD_LEN_BYTES);
	if (ok) {
		CHECK_EQ(aead_reader_step(&r, wire + sl, AEAD_LEN_BYTES, &used, &plain, &plain_len),
			 AEAD_RD_GOT_LEN);
		CHECK(used == AEAD_LEN_BYTES && r.plen == plen && r.state == AEAD_RD_DATA);
		CHECK_EQ(aead_reader_need(&r), plen + AEAD_TAG_BYTES);
	} else {
		CHECK_EQ(aead_reader_step(&r, wire + sl, AEAD_LEN_BYTES, &used, &plain, &plain_len),
			 -EBADMSG);
		CHECK(used == 0 && r.state == AEAD_RD_FAILED && aead_reader_need(&r) == 0);
		CHECK_EQ(aead_reader_step(&r, wire, sizeof(wire), &used, &plain, &plain_len),
			 -EBADMSG);
		CHECK_EQ(used, 0);
	}
	aead_ctx_wipe(&r.ctx);
	aead_ctx_wipe(&w);
}

/* Flipping any bit (salt, length, payload, either tag) fails the stream. */
static void check_bit_flips(const struct vec_tcp *v, const struct aead_method *m)
{
	static uint8_t wire[BIG_BYTES], first[BIG_BYTES];
	static struct relay s;
	uint8_t master[32];
	size_t wire_len = unhex(v->wire, wire, sizeof(wire));
	size_t first_len = unhex(v->chunks[0], first, sizeof(first));
	size_t chunk1_end = m->salt_len + aead_sealed_size(first_len);

	CHECK_EQ(aead_password_to_key(m, v->password, strlen(v->password), master), 0);
	for (size_t bit = 0; bit < 8 * wire_len; bit++) {
		wire[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		relay_init(&s, m, master);
		CHECK_EQ(relay_feed_split(&s, wire, wire_len, bit % 3 ? SIZE_MAX : 0), -EBADMSG);
		CHECK_EQ(s.r.state, AEAD_RD_FAILED);
		/* only chunks wholly before the flipped bit may have been delivered */
		CHECK_EQ(s.out_len, bit / 8 < chunk1_end ? 0 : first_len);
		CHECK_MEM(s.out, first, s.out_len);
		wire[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		aead_ctx_wipe(&s.r.ctx);
	}
}

/* Every proper prefix decodes without error, delivers only whole chunks, consumes nothing more. */
static void check_truncation(const struct vec_tcp *v, const struct aead_method *m)
{
	static uint8_t wire[BIG_BYTES], want[BIG_BYTES], copy[BIG_BYTES];
	static struct relay s;
	uint8_t master[32], *plain;
	size_t wire_len = unhex(v->wire, wire, sizeof(wire)), want_len = 0, used, plain_len;

	for (size_t i = 0; i < v->nchunks; i++)
		want_len += unhex(v->chunks[i], want + want_len, sizeof(want) - want_len);
	CHECK_EQ(aead_password_to_key(m, v->password, strlen(v->password), master), 0);
	for (size_t n = 0; n < wire_len; n++) {
		relay_init(&s, m, master);
		CHECK_EQ(relay_feed_split(&s, wire, n, 0), 0);
		CHECK(s.out_len <= want_len);
		CHECK_MEM(s.out, want, s.out_len);
		/* the same carried bytes shown again directly: still too short */
		memcpy(copy, s.c.buf, s.c.len);
		CHECK_EQ(aead_reader_step(&s.r, copy, s.c.len, &used, &plain, &plain_len),
			 AEAD_RD_NEED_MORE);
		CHECK(used == 0 && plain == NULL && plain_len == 0);
		aead_ctx_wipe(&s.r.ctx);
	}
}

static void test_stream_framing(void)
{
	for (int k = 0; k < AEAD_KIND_COUNT; k++) {
		const struct aead_method *m = method_or_skip(all_names[k], "stream framing");

		if (!m)
			continue;
		check_chunk_sizes(m);
		check_announced_len(m, 1, true);
		check_announced_len(m, AEAD_CHUNK_MAX, true);
		check_announced_len(m, 0, false);
		check_announced_len(m, 0x4000, false);
		check_announced_len(m, 0x8000, false);
		check_announced_len(m, 0xFFFF, false);
	}
	for (size_t i = 0; i < ARRAY_SIZE(vec_tcp); i++) {
		const struct aead_method *m = aead_method_find(vec_tcp[i].method);

		if (!m)
			continue;
		check_bit_flips(&vec_tcp[i], m);
		check_truncation(&vec_tcp[i], m);
	}
}

/* ---- UDP ---------------------------------------------------------------------------- */

static void check_udp_method(const struct aead_method *m)
{
	uint8_t master[32], other[32], pt[100], a[200], b[200], out[200];
	size_t sl = m->salt_len;

	fill_pattern(master, sizeof(master));
	memcpy(other, master, sizeof(other));
	other[m->key_len - 1] ^= 1;
	fill_pattern(pt, sizeof(pt));
	CHECK_EQ(aead_udp_seal(m, master, a, pt, sizeof(pt)), sl + sizeof(pt) + AEAD_TAG_BYTES);
	CHECK_EQ(aead_udp_seal(m, master, b, pt, sizeof(pt)), sl + sizeof(pt) + AEAD_TAG_BYTES);
	CHECK(memcmp(a, b, sl) != 0); /* a fresh salt per packet */
	CHECK_EQ(aead_udp_open(m, master, out, a, sl + sizeof(pt) + 16), sizeof(pt));
	CHECK_MEM(out, pt, sizeof(pt));
	CHECK_EQ(aead_udp_open(m, master, out, b, sl + sizeof(pt) + 16), sizeof(pt));
	CHECK_EQ(aead_udp_open(m, other, out, a, sl + sizeof(pt) + 16), -EBADMSG);
	CHECK_EQ(aead_udp_open(m, master, out, a, sl + sizeof(pt) + 15), -EBADMSG);
	for (size_t n = 0; n < sl + AEAD_TAG_BYTES; n++)
		CHECK_EQ(aead_udp_open(m, master, out, a, n), -EINVAL);
	/* empty payload: salt + tag only */
	CHECK_EQ(aead_udp_seal(m, master, a, NULL, 0), sl + AEAD_TAG_BYTES);
	CHECK_EQ(aead_udp_open(m, master, NULL, a, sl + AEAD_TAG_BYTES), 0);
	/* sealing in place: plaintext already where the ciphertext goes */
	memcpy(a + sl, pt, sizeof(pt));
	memset(b, 0x11, sl);
	CHECK_EQ(aead_udp_seal_salt(m, master, b, a, a + sl, sizeof(pt)),
		 sl + sizeof(pt) + AEAD_TAG_BYTES);
	CHECK_EQ(aead_udp_open(m, master, out, a, sl + sizeof(pt) + 16), sizeof(pt));
	CHECK_MEM(out, pt, sizeof(pt));
}

static void test_udp(void)
{
	for (int k = 0; k < AEAD_KIND_COUNT; k++) {
		const struct aead_method *m = method_or_skip(all_names[k], "UDP");

		if (m)
			check_udp_method(m);
	}
}

/* ---- base64 keys and randomness --------------------------------------------------- */

static void check_b64(enum aead_kind kind, const char *b64, const char *hex)
{
	const struct aead_method *m = aead_method_get(kind);
	uint8_t key[AEAD_MAX_KEY_BYTES], want[AEAD_MAX_KEY_BYTES];

	memset(key, 0xAA, sizeof(key));
	if (!method_or_skip(m->name, "base64 key"))
		return;
	if (!hex) {
		CHECK_EQ(aead_key_from_base64(m, b64, key), -EINVAL);
		for (size_t i = 0; i < sizeof(key); i++)
			CHECK_EQ(key[i], 0xAA); /* untouched on failure */
		return;
	}
	CHECK_EQ(unhex(hex, want, sizeof(want)), m->key_len);
	CHECK_EQ(aead_key_from_base64(m, b64, key), 0);
	CHECK_MEM(key, want, m->key_len);
}

#define PSK128_HEX "e6639049adb42ade9acb62d7aee0681d"
#define PSK256_HEX "b7b5d1ccb0af82c1f8af8afaebd732a8f9d53451b673f1c2e53b7e32320d241d"

static void test_base64(void)
{
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBoHQ==", PSK128_HEX);
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBoHQ", PSK128_HEX);
	check_b64(AEAD_AES_256_GCM, "t7XRzLCvgsH4r4r669cyqPnVNFG2c/HC5Tt+MjINJB0=", PSK256_HEX);
	check_b64(AEAD_CHACHA20_POLY1305, "t7XRzLCvgsH4r4r669cyqPnVNFG2c_HC5Tt-MjINJB0=",
		  PSK256_HEX);
	check_b64(AEAD_XCHACHA20_POLY1305, "t7XRzLCvgsH4r4r669cyqPnVNFG2c_HC5Tt-MjINJB0",
		  PSK256_HEX);
	check_b64(AEAD_AES_192_GCM, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
		  "000102030405060708090a0b0c0d0e0f1011121314151617");
	/* wrong decoded length */
	check_b64(AEAD_AES_256_GCM, "5mOQSa20Kt6ay2LXruBoHQ==", NULL);
	check_b64(AEAD_AES_128_GCM, "t7XRzLCvgsH4r4r669cyqPnVNFG2c/HC5Tt+MjINJB0=", NULL);
	check_b64(AEAD_AES_128_GCM, "AAECAwQFBgcICQoLDA0ODxA=", NULL); /* 17 bytes */
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBo", NULL);     /* 15 bytes */
	check_b64(AEAD_AES_128_GCM, "", NULL);
	/* malformed */
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBo!Q==", NULL);
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXr BoHQ==", NULL);
	check_b64(AEAD_AES_128_GCM, "5mOQ=a20Kt6ay2LXruBoHQ==", NULL);
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBoHQ=", NULL);
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBoHQ===", NULL);
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBoHQ==\n", NULL);
	check_b64(AEAD_AES_128_GCM, "5mOQSa20Kt6ay2LXruBoHQA", NULL); /* 17 bytes */
	/* 33 digits: 24 whole bytes plus a lone 6-bit digit */
	check_b64(AEAD_AES_192_GCM, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXA", NULL);
	check_b64(AEAD_AES_256_GCM, "t7XRzLCvgsH4r4r669cyqPnVNFG2c/HC5Tt+MjINJB\xc3=", NULL);
}

static void test_random(void)
{
	uint8_t a[1000], b[1000];
	size_t zeros = 0;

	CHECK_EQ(aead_random(a, 0), 0);
	CHECK_EQ(aead_random(a, sizeof(a)), 0);
	CHECK_EQ(aead_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	for (size_t i = 0; i < sizeof(a); i++)
		zeros += a[i] == 0;
	CHECK(zeros < 30);
}

/* ---- the generated header still matches the JSON it came from ---------------------- */

static void check_in_json(const char *json, const char *s)
{
	char quoted[1024];

	CHECK(strlen(s) + 3 <= sizeof(quoted));
	snprintf(quoted, sizeof(quoted), "\"%s\"", s);
	if (!strstr(json, quoted)) {
		fprintf(stderr, "vector %.40s... is not in protocol-vectors.json: "
				"run test/unit/proto/gen_vectors_aead.py\n", s);
		exit(1);
	}
}

static void test_vectors_match_json(void)
{
	static char json[1 << 20];
	char path[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/protocol-vectors.json", test_data_dir());
	f = fopen(path, "rb");
	if (!f) {
		/* The vectors are part of the tree: missing is a failure, not a skip. */
		fprintf(stderr, "FAIL: %s: %s (the header/JSON drift check needs it; "
				"SSRING_TEST_DATA names the folder)\n", path, strerror(errno));
		exit(1);
	}
	n = fread(json, 1, sizeof(json) - 1, f);
	fclose(f);
	json[n] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(vec_evp); i++)
		check_in_json(json, vec_evp[i].key);
	for (size_t i = 0; i < ARRAY_SIZE(vec_hkdf); i++)
		check_in_json(json, vec_hkdf[i].subkey);
	for (size_t i = 0; i < ARRAY_SIZE(vec_tcp); i++) {
		check_in_json(json, vec_tcp[i].wire);
		for (size_t c = 0; c < vec_tcp[i].nchunks; c++)
			check_in_json(json, vec_tcp[i].chunks[c]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(vec_udp); i++) {
		check_in_json(json, vec_udp[i].packet);
		check_in_json(json, vec_udp[i].plaintext);
	}
}

/* ---- trial decryption (servers with users) ------------------------------------ */

/*
 * The published vectors read by a trial reader that is shown three wrong
 * keys first: each is refused and leaves it waiting, the right one keys it,
 * and the stream then decodes as with the key known up front. A UDP vector
 * opens only under its own key, through the same trial.
 */
static void test_trial(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vec_tcp); i++) {
		const struct vec_tcp *v = &vec_tcp[i];
		const struct aead_method *m = method_or_skip(v->method, "its TCP vector");
		static uint8_t wire[BIG_BYTES], want[BIG_BYTES], out[AEAD_CHUNK_MAX];
		uint8_t master[32], wrong[3][32], *plain;
		size_t wire_len, want_len = 0, pos, used, plen, got = 0;
		struct aead_reader r;
		struct aead_trial t;
		int res;

		if (!m)
			continue;
		CHECK_EQ(aead_password_to_key(m, v->password, strlen(v->password), master), 0);
		for (int k = 0; k < 3; k++) {
			memcpy(wrong[k], master, sizeof(master));
			wrong[k][k * 5] ^= 0x20;
		}
		wire_len = unhex(v->wire, wire, sizeof(wire));
		for (size_t c = 0; c < v->nchunks; c++)
			want_len += unhex(v->chunks[c], want + want_len, sizeof(want) - want_len);
		aead_reader_init_trial(&r, m);
		CHECK_EQ(aead_reader_need(&r), m->salt_len + AEAD_LEN_BYTES);
		/* Short of the first length: nothing to try yet. */
		CHECK_EQ(aead_reader_step(&r, wire, m->salt_len + 17, &used, &plain, &plen),
			 AEAD_RD_NEED_MORE);
		CHECK_EQ(aead_reader_step(&r, wire, wire_len, &used, &plain, &plen),
			 AEAD_RD_NEED_KEY);
		CHECK_EQ(used, 0);
		aead_trial_init(&t, m, wire);
		for (int k = 0; k < 3; k++) {
			CHECK_EQ(aead_reader_try(&r, &t, wire, wrong[k]), -EBADMSG);
			CHECK_EQ(r.state, AEAD_RD_TRIAL);
		}
		/* The trial is for this salt only. */
		wire[0] ^= 1;
		CHECK_EQ(aead_reader_try(&r, &t, wire, master), -EINVAL);
		wire[0] ^= 1;
		CHECK_EQ(aead_reader_try(&r, &t, wire, master), 0);
		CHECK(r.master == master);
		CHECK_MEM(r.salt, wire, m->salt_len);
		aead_trial_wipe(&t);
		CHECK_EQ(aead_reader_step(&r, wire, wire_len, &used, &plain, &plen), AEAD_RD_GOT_LEN);
		CHECK_EQ(used, m->salt_len + AEAD_LEN_BYTES);
		for (pos = used; pos < wire_len; pos += used) {
			res = aead_reader_step_out(&r, wire + pos, wire_len - pos, &used, out, &plen);
			CHECK(res == AEAD_RD_GOT_LEN || res == AEAD_RD_GOT_DATA);
			if (res == AEAD_RD_GOT_DATA) {
				CHECK_MEM(out, want + got, plen);
				got += plen;
			}
		}
		CHECK_EQ(got, want_len);
		aead_ctx_wipe(&r.ctx);
	}
	for (size_t i = 0; i < ARRAY_SIZE(vec_udp); i++) {
		const struct vec_udp *v = &vec_udp[i];
		const struct aead_method *m = method_or_skip(v->method, "its UDP vector");
		uint8_t master[32], wrong[32], pt[64], pkt[128], got[128];
		struct aead_trial t;
		size_t pt_len, pkt_len;

		if (!m)
			continue;
		CHECK_EQ(aead_password_to_key(m, v->password, strlen(v->password), master), 0);
		memcpy(wrong, master, sizeof(wrong));
		wrong[7] ^= 0x80;
		pt_len = unhex(v->plaintext, pt, sizeof(pt));
		pkt_len = unhex(v->packet, pkt, sizeof(pkt));
		aead_trial_init(&t, m, pkt);
		CHECK_EQ(aead_trial_udp(&t, wrong, got, pkt + m->salt_len, pkt_len - m->salt_len),
			 -EBADMSG);
		CHECK_EQ(aead_trial_udp(&t, master, got, pkt + m->salt_len, pkt_len - m->salt_len),
			 pt_len);
		CHECK_MEM(got, pt, pt_len);
		CHECK_EQ(aead_trial_udp(&t, master, got, pkt + m->salt_len, 15), -EBADMSG);
		aead_trial_wipe(&t);
	}
}

int main(void)
{
	test_methods();
	test_vectors_match_json();
	test_evp_bytes_to_key();
	test_hkdf_sha1();
	test_tcp_vectors();
	test_udp_vectors();
	test_published_vectors();
	test_seal_open();
	test_stream_framing();
	test_udp();
	test_base64();
	test_random();
	test_trial();
	return test_done("test_aead");
}
