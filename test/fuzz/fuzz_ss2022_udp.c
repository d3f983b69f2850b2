/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the SS2022 UDP packet open (server side, and client side), with
 * fixed keys and a fixed clock.
 *
 * Input: byte 0 picks the method (bits 0-1), a user table with EIH (0x04,
 * AES only), the client-side open (0x08), a bit flip (0x40) and sealed mode
 * (0x80). The rest is
 * - raw mode: a received packet, opened in place from a buffer of exactly
 *   its size; or
 * - sealed mode: session ID | packet ID | main header and payload (any
 *   bytes), sealed with valid keys (separate header, EIH, body tag) so the
 *   main-header parser sees arbitrary plaintext. Oracles: an opened packet
 *   reports the IDs it was sealed with, a fresh timestamp, the right user,
 *   an address that re-encodes to the bytes before the payload, and a
 *   payload that ends the packet; a flipped bit never opens.
 * Every opened packet also goes through a packet-ID window.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ss2022.h"

#define NOW 1700000000ull
#define MAX_INPUT 4096

static const char *const names[3] = { "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
				       "2022-blake3-chacha20-poly1305" };
static struct ss2022_user users[2];
static struct ss2022_server_cfg cfgs[3][2]; /* [method][with users] */
static struct ss2022_window window;

static void setup(void)
{
	for (int i = 0; i < 3; i++) {
		const struct ss2022_method *m = ss2022_method_find(names[i]);

		if (!m)
			abort();
		for (int u = 0; u < 2; u++) {
			cfgs[i][u].m = m;
			memset(cfgs[i][u].psk, 0x60 + i, sizeof(cfgs[i][u].psk));
			cfgs[i][u].users = users;
			cfgs[i][u].n_users = u && m->is_aes ? 2 : 0;
		}
	}
	for (int u = 0; u < 2; u++)
		memset(users[u].psk, 0x90 + u, sizeof(users[u].psk));
	ss2022_window_init(&window);
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Invariants of any opened packet (pkt[0..len) holds the plaintext in place). */
static void check_opened(const struct ss2022_udp_packet *out, const uint8_t *pkt, size_t len)
{
	uint8_t enc[SSADDR_MAX_BYTES];
	size_t alen = ssaddr_encode(&out->addr, enc);

	if (out->payload < pkt + alen || out->payload + out->payload_len != pkt + len - 16)
		abort();
	if (memcmp(out->payload - alen, enc, alen) != 0)
		abort();
	if (out->ts + 30 < NOW || out->ts > NOW + 30)
		abort();
	if (ss2022_window_check(&window, out->packet_id)) {
		ss2022_window_update(&window, out->packet_id);
		if (ss2022_window_check(&window, out->packet_id))
			abort();
	}
}

static int open_pkt(const struct ss2022_server_cfg *cfg, bool client, uint64_t csid,
		    uint8_t *pkt, size_t len, struct ss2022_udp_packet *out)
{
	int ret;

	if (client)
		ret = ss2022_udp_open_client(cfg->m, cfg->psk, csid, NOW, pkt, len, out);
	else
		ret = ss2022_udp_open_server(cfg, NOW, pkt, len, out);
	if (ret > 0)
		abort();
	if (ret == 0)
		check_opened(out, pkt, len);
	return ret;
}

/* AES: AES(psk, sep) | [EIH] | GCM(subkey(key, sid), sep[4:16], body). */
static size_t seal_aes(const struct ss2022_server_cfg *cfg, int user, const uint8_t *sep,
		       const uint8_t *body, size_t len, uint8_t *pkt)
{
	const struct ss2022_method *m = cfg->m;
	const uint8_t *key = cfg->psk;
	size_t off = 16;
	uint8_t sub[32], h[16];
	struct aead_ctx c;

	if (aead_aes_block(cfg->psk, m->key_len, true, sep, pkt) < 0)
		abort();
	if (user >= 0) {
		ss2022_key_hash(m, users[user].psk, h);
		for (int i = 0; i < 16; i++)
			h[i] ^= sep[i];
		if (aead_aes_block(cfg->psk, m->key_len, true, h, pkt + 16) < 0)
			abort();
		key = users[user].psk;
		off += 16;
	}
	ss2022_session_subkey(m, key, sep, 8, sub);
	if (aead_ctx_init_subkey(&c, ss2022_chunk_method(m), sub) < 0)
		abort();
	memcpy(c.nonce, sep + 4, 12);
	if (aead_seal(&c, pkt + off, body, len) < 0)
		abort();
	aead_ctx_wipe(&c);
	return off + len + 16;
}

/* chacha: nonce | XChaCha(psk, nonce, sep | body). */
static size_t seal_chacha(const struct ss2022_server_cfg *cfg, const uint8_t *sep,
			  const uint8_t *body, size_t len, uint8_t *pkt)
{
	struct aead_ctx c;

	for (int i = 0; i < 24; i++)
		pkt[i] = (uint8_t)(sep[i % 16] ^ i);
	memcpy(pkt + 24, sep, 16);
	memcpy(pkt + 40, body, len);
	if (aead_ctx_init_subkey(&c, aead_method_find("xchacha20-ietf-poly1305"), cfg->psk) < 0)
		abort();
	memcpy(c.nonce, pkt, 24);
	if (aead_seal(&c, pkt + 24, pkt + 24, 16 + len) < 0)
		abort();
	aead_ctx_wipe(&c);
	return 24 + 16 + len + 16;
}

static void run_sealed(const struct ss2022_server_cfg *cfg, bool client, const uint8_t *in,
		       size_t len, bool flip)
{
	static uint8_t pkt[MAX_INPUT + 128];
	struct ss2022_udp_packet out;
	uint64_t csid = 0;
	size_t n;
	int ret, user;

	if (len < 16)
		return;
	user = cfg->n_users > 0 ? in[0] & 1 : -1;
	if (client && len >= 16 + 17)
		csid = get_be64(in + 16 + 9); /* main header: type | ts | client sid */
	if (client)
		user = -1; /* responses carry no EIH */
	n = cfg->m->is_aes ? seal_aes(cfg, user, in, in + 16, len - 16, pkt)
			   : seal_chacha(cfg, in, in + 16, len - 16, pkt);
	if (flip) {
		size_t bit = (get_be64(in) ^ len) % (8 * n);

		pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	ret = open_pkt(cfg, client, csid, pkt, n, &out);
	if (flip && ret == 0)
		abort();
	if (ret == 0 && (out.session_id != get_be64(in) || out.packet_id != get_be64(in + 8)))
		abort();
	if (ret == 0 && !client && out.user != user)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const struct ss2022_server_cfg *cfg;
	struct ss2022_udp_packet out;
	bool client;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	if (!ready) {
		setup();
		ready = true;
	}
	cfg = &cfgs[(data[0] & 3) % 3][(data[0] >> 2) & 1];
	for (int u = 0; u < 2; u++)
		ss2022_key_hash(cfg->m, users[u].psk, users[u].hash);
	client = data[0] & 0x08;
	if (data[0] & 0x80) {
		run_sealed(cfg, client, data + 1, size - 1, data[0] & 0x40);
	} else {
		uint8_t *pkt = malloc(size - 1 ? size - 1 : 1);

		if (!pkt)
			abort();
		memcpy(pkt, data + 1, size - 1);
		open_pkt(cfg, client, 0, pkt, size - 1, &out);
		free(pkt);
	}
	return 0;
}
