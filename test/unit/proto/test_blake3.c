/* SPDX-License-Identifier: MIT */
/*
 * BLAKE3: the 35 official cases (test/data/blake3-test-vectors.json, parsed
 * at run time) in all three modes, full 131-byte XOF and the 32-byte default,
 * with the input fed whole and in pieces of sizes around the block (64) and
 * chunk (1024) boundaries, plus the one-shot helpers and the non-destructive
 * finalize.
 */
#include <stdint.h>

#include "proto/blake3.h"
#include "check.h"
#include "util.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define XOF_BYTES 131
#define MAX_INPUT 102400
#define MAX_CASES 64

struct vcase {
	size_t input_len;
	uint8_t out[3][XOF_BYTES]; /* hash, keyed_hash, derive_key */
};

enum mode { MODE_HASH = 0, MODE_KEYED, MODE_DERIVE };

static const char *const mode_keys[3] = { "\"hash\"", "\"keyed_hash\"", "\"derive_key\"" };
static const size_t piece_sizes[] = { 1, 63, 64, 65, 1023, 1024, 1025 };

static char key_str[64], context_str[128];
static struct vcase cases[MAX_CASES];
static size_t ncases;
static uint8_t input[MAX_INPUT];

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	CHECK(f != NULL);
	CHECK(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	CHECK(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	CHECK(buf != NULL);
	CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Copy the string value after "key": starting at p into out; returns the end of the value. */
static const char *json_string(const char *p, const char *key, char *out, size_t cap)
{
	const char *v = strstr(p, key), *end;

	CHECK(v != NULL);
	v = strchr(v + strlen(key), '"');
	CHECK(v != NULL);
	v++;
	end = strchr(v, '"');
	CHECK(end != NULL && (size_t)(end - v) < cap);
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
	return end + 1;
}

static void load_vectors(void)
{
	char path[512], hex[2 * XOF_BYTES + 1];
	char *text;
	const char *p;

	snprintf(path, sizeof(path), "%s/blake3-test-vectors.json", test_data_dir());
	text = read_file(path);
	json_string(text, "\"key\"", key_str, sizeof(key_str));
	json_string(text, "\"context_string\"", context_str, sizeof(context_str));
	CHECK_EQ(strlen(key_str), BLAKE3_KEY_BYTES);
	p = strstr(text, "\"cases\"");
	CHECK(p != NULL);
	while ((p = strstr(p, "\"input_len\"")) != NULL) {
		struct vcase *c = &cases[ncases++];

		CHECK(ncases <= MAX_CASES);
		CHECK(sscanf(p + strlen("\"input_len\""), " : %zu", &c->input_len) == 1);
		CHECK(c->input_len <= MAX_INPUT);
		for (int m = 0; m < 3; m++) {
			p = json_string(p, mode_keys[m], hex, sizeof(hex));
			CHECK_EQ(unhex(hex, c->out[m], XOF_BYTES), XOF_BYTES);
		}
	}
	free(text);
	CHECK_EQ(ncases, 35);
}

static void init_mode(struct blake3_hasher *h, enum mode m)
{
	if (m == MODE_HASH)
		blake3_init(h);
	else if (m == MODE_KEYED)
		blake3_init_keyed(h, (const uint8_t *)key_str);
	else
		blake3_init_derive_key(h, context_str);
}

/* Feed input[0..len) in pieces of size piece (0 = all at once); check 131 and 32 bytes. */
static void check_feed(const struct vcase *c, enum mode m, size_t piece)
{
	struct blake3_hasher h;
	uint8_t out[XOF_BYTES];
	size_t off = 0;

	init_mode(&h, m);
	if (piece == 0)
		blake3_update(&h, input, c->input_len);
	while (piece > 0 && off < c->input_len) {
		size_t n = c->input_len - off < piece ? c->input_len - off : piece;

		blake3_update(&h, input + off, n);
		off += n;
	}
	blake3_finalize_xof(&h, out, sizeof(out));
	if (memcmp(out, c->out[m], sizeof(out)) != 0) {
		fprintf(stderr, "mismatch: len %zu mode %d piece %zu\n", c->input_len, (int)m,
			piece);
		exit(1);
	}
	memset(out, 0, sizeof(out));
	blake3_finalize_xof(&h, out, BLAKE3_OUT_BYTES);
	CHECK_MEM(out, c->out[m], BLAKE3_OUT_BYTES);
	blake3_wipe(&h);
}

static void check_one_shot(const struct vcase *c)
{
	uint8_t out[XOF_BYTES];

	blake3_hash(input, c->input_len, out, sizeof(out));
	CHECK_MEM(out, c->out[MODE_HASH], sizeof(out));
	blake3_hash(input, c->input_len, out, BLAKE3_OUT_BYTES);
	CHECK_MEM(out, c->out[MODE_HASH], BLAKE3_OUT_BYTES);
	blake3_derive_key(context_str, input, c->input_len, out, sizeof(out));
	CHECK_MEM(out, c->out[MODE_DERIVE], sizeof(out));
	blake3_derive_key(context_str, input, c->input_len, out, 16);
	CHECK_MEM(out, c->out[MODE_DERIVE], 16);
}

/* Every output length is a prefix of the full XOF (exercises partial root blocks). */
static void check_prefixes(const struct vcase *c)
{
	struct blake3_hasher h;
	uint8_t out[XOF_BYTES];

	blake3_init(&h);
	blake3_update(&h, input, c->input_len);
	for (size_t n = 0; n <= XOF_BYTES; n++) {
		memset(out, 0xa5, sizeof(out));
		blake3_finalize_xof(&h, out, n);
		CHECK_MEM(out, c->out[MODE_HASH], n);
		for (size_t i = n; i < sizeof(out); i++)
			CHECK_EQ(out[i], 0xa5);
	}
}

/* finalize leaves the hasher usable: input may continue afterwards. */
static void check_finalize_then_update(void)
{
	const struct vcase *c = NULL;
	struct blake3_hasher h;
	uint8_t out[XOF_BYTES];

	for (size_t i = 0; i < ncases; i++)
		if (cases[i].input_len == 2049)
			c = &cases[i];
	CHECK(c != NULL);
	blake3_init(&h);
	blake3_update(&h, input, 1000);
	blake3_finalize_xof(&h, out, sizeof(out));
	blake3_update(&h, input + 1000, c->input_len - 1000);
	blake3_finalize_xof(&h, out, sizeof(out));
	CHECK_MEM(out, c->out[MODE_HASH], sizeof(out));
}

/* The ss2022 contexts and a key-length material, as protocol.md §6 / §7.2 V5 uses them. */
static void check_ss2022_derivation(void)
{
	static const uint8_t psk[16] = { 0xe6, 0x63, 0x90, 0x49, 0xad, 0xb4, 0x2a, 0xde,
					 0x9a, 0xcb, 0x62, 0xd7, 0xae, 0xe0, 0x68, 0x1d };
	static const uint8_t want[16] = { 0x4e, 0xc9, 0x31, 0x93, 0xb3, 0x16, 0x23, 0xe2,
					  0x9d, 0x1c, 0xea, 0xbe, 0x5f, 0x7a, 0x8e, 0xd7 };
	uint8_t material[32], out[16];

	memcpy(material, psk, 16);
	for (int i = 0; i < 16; i++)
		material[16 + i] = (uint8_t)i;
	blake3_derive_key("shadowsocks 2022 session subkey", material, sizeof(material), out,
			  sizeof(out));
	CHECK_MEM(out, want, sizeof(want));
}

int main(void)
{
	load_vectors();
	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (uint8_t)(i % 251);
	for (size_t i = 0; i < ncases; i++) {
		for (int m = 0; m < 3; m++) {
			check_feed(&cases[i], (enum mode)m, 0);
			for (size_t p = 0; p < ARRAY_SIZE(piece_sizes); p++)
				check_feed(&cases[i], (enum mode)m, piece_sizes[p]);
		}
		check_one_shot(&cases[i]);
		check_prefixes(&cases[i]);
	}
	check_finalize_then_update();
	check_ss2022_derivation();
	printf("test_blake3: %zu cases x 3 modes x %zu feeds ok\n", ncases,
	       ARRAY_SIZE(piece_sizes) + 1);
	return 0;
}
