/* SPDX-License-Identifier: MIT */
/*
 * SS2022 UDP packets (protocol.md §5.5, EIH §5.6), the packet-ID window and
 * the TCP salt set (§8.2).
 */
#include "proto/ss2022.h"

#include <errno.h>
#include <string.h>

#include "ss2022_int.h"

#define SEP_HDR_BYTES 16        /* session ID | packet ID */
#define XNONCE_BYTES 24
/* type | timestamp | padding length, plus the client session ID server → client. */
#define MAIN_HDR_BYTES(to_server) ((to_server) ? 11u : 19u)

/* Where the pieces of one packet go. */
struct udp_layout {
	size_t body;    /* start of the AEAD-sealed part */
	size_t main;    /* start of the main header (type ...) */
	size_t payload; /* start of the payload */
	size_t total;   /* whole packet */
};

static size_t prefix_len(const struct ss2022_method *m, size_t n_eih)
{
	return m->is_aes ? SEP_HDR_BYTES + n_eih * SS2022_EIH_BYTES : XNONCE_BYTES;
}

static void plan(const struct ss2022_method *m, bool to_server, size_t n_eih, size_t addr_len,
		 size_t padding_len, size_t payload_len, struct udp_layout *l)
{
	l->body = prefix_len(m, n_eih);
	/* chacha seals the session and packet IDs with the body. */
	l->main = l->body + (m->is_aes ? 0 : SEP_HDR_BYTES);
	l->payload = l->main + MAIN_HDR_BYTES(to_server) + padding_len + addr_len;
	l->total = l->payload + payload_len + AEAD_TAG_BYTES;
}

size_t ss2022_udp_size(const struct ss2022_method *m, bool to_server, size_t n_eih,
		       size_t addr_len, size_t padding_len, size_t payload_len)
{
	struct udp_layout l;

	plan(m, to_server, n_eih, addr_len, padding_len, payload_len, &l);
	return l.total;
}

/* The AEAD for the body: AES: GCM(session subkey, sep[4:16]); chacha: XChaCha(PSK, nonce). */
static int body_ctx_init(struct aead_ctx *c, const struct ss2022_method *m, const uint8_t *psk,
			 const uint8_t *sep_or_nonce)
{
	int ret;

	if (m->is_aes) {
		ret = ss2022_ctx_init(c, m, psk, sep_or_nonce, 8);
		if (ret == 0)
			memcpy(c->nonce, sep_or_nonce + 4, 12);
		return ret;
	}
	ret = aead_ctx_init_subkey(c, aead_method_get(AEAD_XCHACHA20_POLY1305), psk);
	if (ret == 0)
		memcpy(c->nonce, sep_or_nonce, XNONCE_BYTES);
	return ret;
}

static int seal_body(const struct ss2022_method *m, const uint8_t *psk, const uint8_t *sep_or_nonce,
		     uint8_t *body, size_t len)
{
	struct aead_ctx c;
	int ret = body_ctx_init(&c, m, psk, sep_or_nonce);

	if (ret == 0)
		ret = aead_seal(&c, body, body, len);
	aead_ctx_wipe(&c);
	return ret;
}

/* Write type | ts | [client sid] | padding length | padding | address at p. */
static int write_main(uint8_t *p, bool to_server, const struct ss2022_udp_params *prm,
		      const uint8_t *addr_hdr, size_t addr_len)
{
	int ret = 0;

	p[0] = to_server ? SS2022_TYPE_CLIENT : SS2022_TYPE_SERVER;
	ss2022_put_be64(p + 1, prm->now);
	p += 9;
	if (!to_server) {
		ss2022_put_be64(p, prm->client_session_id);
		p += 8;
	}
	ss2022_put_be16(p, prm->padding_len);
	p += 2;
	if (prm->padding && prm->padding_len > 0)
		memcpy(p, prm->padding, prm->padding_len);
	else if (prm->padding_len > 0)
		ret = aead_random(p, prm->padding_len);
	memcpy(p + prm->padding_len, addr_hdr, addr_len);
	return ret;
}

/*
 * Everything except the AES separate header and EIHs. On return sep holds
 * the plaintext separate header (AES) and the body is sealed.
 */
static int seal_common(const struct ss2022_method *m, bool to_server, size_t n_eih,
		       const uint8_t *psk, const struct ss2022_udp_params *p,
		       const uint8_t *addr_hdr, size_t addr_len, const uint8_t *payload,
		       size_t payload_len, uint8_t *out, size_t out_cap, uint8_t *sep)
{
	struct udp_layout l;
	int ret;

	if (addr_len == 0 || p->padding_len > SS2022_PADDING_MAX)
		return -EINVAL;
	plan(m, to_server, n_eih, addr_len, p->padding_len, payload_len, &l);
	if (l.total > out_cap || l.total > (size_t)INT32_MAX)
		return -ENOSPC;
	/* The payload first: it may already sit at its final place. */
	if (payload_len > 0)
		memmove(out + l.payload, payload, payload_len);
	ss2022_put_be64(sep, p->session_id);
	ss2022_put_be64(sep + 8, p->packet_id);
	if (!m->is_aes) {
		memcpy(out + l.body, sep, SEP_HDR_BYTES);
		if (p->nonce)
			memmove(out, p->nonce, XNONCE_BYTES);
		else if ((ret = aead_random(out, XNONCE_BYTES)) < 0)
			return ret;
	}
	ret = write_main(out + l.main, to_server, p, addr_hdr, addr_len);
	if (ret == 0)
		ret = seal_body(m, psk, m->is_aes ? sep : out, out + l.body,
				l.total - l.body - AEAD_TAG_BYTES);
	return ret < 0 ? ret : (int)l.total;
}

/* EIH_i = AES(iPSK_i, BLAKE3(next key)[0:16] XOR sep) (§5.6, UDP form). */
static int build_eih_udp(const struct ss2022_method *m, const struct ss2022_keys *k,
			 const uint8_t *sep, uint8_t *out)
{
	uint8_t h[SS2022_USER_HASH_BYTES];
	int ret = 0;

	for (size_t i = 0; i < k->n_ipsk && ret == 0; i++) {
		ss2022_key_hash(m, i + 1 < k->n_ipsk ? k->ipsk[i + 1] : k->psk, h);
		for (int j = 0; j < SS2022_EIH_BYTES; j++)
			h[j] ^= sep[j];
		ret = aead_aes_block(k->ipsk[i], m->key_len, true, h, out + i * SS2022_EIH_BYTES);
	}
	return ret;
}

int ss2022_udp_seal_client(const struct ss2022_method *m, const struct ss2022_keys *k,
			   const struct ss2022_udp_params *p, const uint8_t *addr_hdr,
			   size_t addr_len, const uint8_t *payload, size_t payload_len,
			   uint8_t *out, size_t out_cap)
{
	uint8_t sep[SEP_HDR_BYTES];
	int len, ret;

	if (k->n_ipsk > SS2022_MAX_IDENTITY_KEYS || (k->n_ipsk > 0 && !m->is_aes))
		return -EINVAL;
	len = seal_common(m, true, k->n_ipsk, k->psk, p, addr_hdr, addr_len, payload,
			  payload_len, out, out_cap, sep);
	if (len < 0 || !m->is_aes)
		return len;
	ret = build_eih_udp(m, k, sep, out + SEP_HDR_BYTES);
	/* The first relay (or the server) decrypts the separate header with its own key. */
	if (ret == 0)
		ret = aead_aes_block(k->n_ipsk ? k->ipsk[0] : k->psk, m->key_len, true, sep, out);
	return ret < 0 ? ret : len;
}

int ss2022_udp_seal_server(const struct ss2022_method *m, const uint8_t *psk,
			   const struct ss2022_udp_params *p, const uint8_t *addr_hdr,
			   size_t addr_len, const uint8_t *payload, size_t payload_len,
			   uint8_t *out, size_t out_cap)
{
	uint8_t sep[SEP_HDR_BYTES];
	int len, ret;

	len = seal_common(m, false, 0, psk, p, addr_hdr, addr_len, payload, payload_len, out,
			  out_cap, sep);
	if (len < 0 || !m->is_aes)
		return len;
	ret = aead_aes_block(psk, m->key_len, true, sep, out);
	return ret < 0 ? ret : len;
}

/* ---- open ------------------------------------------------------------------------ */

/* Parse the opened main header at p[0..len) (§5.5 step 3). */
static int parse_main(uint8_t *p, size_t len, bool from_client, uint64_t now,
		      struct ss2022_udp_packet *out)
{
	size_t off = MAIN_HDR_BYTES(from_client), pad;
	int ret;

	if (len < off)
		return -EINVAL;
	if (p[0] != (from_client ? SS2022_TYPE_CLIENT : SS2022_TYPE_SERVER))
		return -EPROTO;
	out->ts = ss2022_get_be64(p + 1);
	if (!ss2022_is_fresh(out->ts, now))
		return -ETIME;
	if (!from_client)
		out->client_session_id = ss2022_get_be64(p + 9);
	pad = ss2022_get_be16(p + off - 2);
	if (pad > len - off)
		return -EINVAL;
	off += pad;
	ret = ssaddr_parse(p + off, len - off, &out->addr);
	if (ret < 0)
		return -EINVAL;
	off += (size_t)ret;
	out->payload = p + off;
	out->payload_len = len - off;
	return 0;
}

/* Open the body at pkt + body (in place) and parse it. */
static int open_body(const struct ss2022_method *m, const uint8_t *psk, const uint8_t *sep,
		     uint8_t *pkt, size_t len, size_t body, bool from_client, uint64_t now,
		     struct ss2022_udp_packet *out)
{
	struct aead_ctx c;
	uint8_t *p = pkt + body;
	int ret = body_ctx_init(&c, m, psk, m->is_aes ? sep : pkt);

	if (ret == 0)
		ret = aead_open(&c, p, p, len - body);
	aead_ctx_wipe(&c);
	if (ret < 0)
		return ret;
	if (!m->is_aes) {
		sep = p;
		p += SEP_HDR_BYTES;
		ret -= SEP_HDR_BYTES;
	}
	out->session_id = ss2022_get_be64(sep);
	out->packet_id = ss2022_get_be64(sep + 8);
	return parse_main(p, (size_t)ret, from_client, now, out);
}

static size_t min_len(const struct ss2022_method *m, size_t n_eih, bool from_client)
{
	struct udp_layout l;

	plan(m, from_client, n_eih, 0, 0, 0, &l);
	return l.total;
}

/* Separate header with the server PSK, then the EIH names the user (§5.6). */
static int resolve_udp_user(const struct ss2022_server_cfg *cfg, const uint8_t *pkt,
			    const uint8_t *sep, struct ss2022_udp_packet *out)
{
	uint8_t h[SS2022_USER_HASH_BYTES];
	int ret = aead_aes_block(cfg->psk, cfg->m->key_len, false, pkt + SEP_HDR_BYTES, h);

	if (ret < 0)
		return ret;
	for (int j = 0; j < SS2022_EIH_BYTES; j++)
		h[j] ^= sep[j];
	out->user = ss2022_user_find(cfg, h);
	if (out->user < 0)
		return -EACCES;
	out->psk = cfg->users[out->user].psk;
	return 0;
}

int ss2022_udp_open_server(const struct ss2022_server_cfg *cfg, uint64_t now, uint8_t *pkt,
			   size_t len, struct ss2022_udp_packet *out)
{
	const struct ss2022_method *m = cfg->m;
	size_t n_eih = cfg->n_users > 0 ? 1 : 0;
	uint8_t sep[SEP_HDR_BYTES];
	int ret;

	memset(out, 0, sizeof(*out));
	out->user = -1;
	out->psk = cfg->psk;
	if (n_eih > 0 && !m->is_aes)
		return -EINVAL;
	if (len < min_len(m, n_eih, true))
		return -EINVAL;
	if (m->is_aes) {
		ret = aead_aes_block(cfg->psk, m->key_len, false, pkt, sep);
		if (ret == 0 && n_eih > 0)
			ret = resolve_udp_user(cfg, pkt, sep, out);
		if (ret < 0)
			return ret;
	}
	return open_body(m, out->psk, sep, pkt, len, prefix_len(m, n_eih), true, now, out);
}

int ss2022_udp_open_client(const struct ss2022_method *m, const uint8_t *psk,
			   uint64_t client_session_id, uint64_t now, uint8_t *pkt, size_t len,
			   struct ss2022_udp_packet *out)
{
	uint8_t sep[SEP_HDR_BYTES];
	int ret;

	memset(out, 0, sizeof(*out));
	out->user = -1;
	out->psk = psk;
	if (len < min_len(m, 0, false))
		return -EINVAL;
	if (m->is_aes && (ret = aead_aes_block(psk, m->key_len, false, pkt, sep)) < 0)
		return ret;
	ret = open_body(m, psk, sep, pkt, len, prefix_len(m, 0), false, now, out);
	if (ret == 0 && out->client_session_id != client_session_id)
		ret = -EBADMSG;
	return ret;
}

/* ---- packet-ID window (wireguard-go replay.go, split into check and update) ----- */

#define WINDOW_LIMIT (UINT64_MAX - (1ull << 13))

void ss2022_window_init(struct ss2022_window *w)
{
	memset(w, 0, sizeof(*w));
}

bool ss2022_window_check(const struct ss2022_window *w, uint64_t id)
{
	uint64_t block = (id >> 6) & (SS2022_WINDOW_BLOCKS - 1);

	if (id >= WINDOW_LIMIT)
		return false;
	/* Ahead of the newest: its bit was cleared or will be by update. */
	if (id > w->last)
		return true;
	if (w->last - id > SS2022_WINDOW_SIZE)
		return false;
	return !(w->ring[block] >> (id & 63) & 1);
}

void ss2022_window_update(struct ss2022_window *w, uint64_t id)
{
	if (id > w->last) {
		uint64_t cur = w->last >> 6, diff = (id >> 6) - cur;

		/* Clear the blocks the window slides over; a jump this far clears all. */
		if (diff > SS2022_WINDOW_BLOCKS)
			diff = SS2022_WINDOW_BLOCKS;
		for (uint64_t i = cur + 1; i <= cur + diff; i++)
			w->ring[i & (SS2022_WINDOW_BLOCKS - 1)] = 0;
		w->last = id;
	} else if (w->last - id > SS2022_WINDOW_SIZE) {
		return;
	}
	w->ring[(id >> 6) & (SS2022_WINDOW_BLOCKS - 1)] |= 1ull << (id & 63);
}

/* ---- salt set --------------------------------------------------------------------- */

static size_t slot_count(size_t capacity)
{
	size_t n = 2;

	while (n < 2 * capacity)
		n <<= 1;
	return n;
}

size_t ss2022_saltset_mem_size(size_t capacity)
{
	return capacity * sizeof(struct ss2022_salt_entry) +
	       slot_count(capacity) * sizeof(uint32_t);
}

int ss2022_saltset_init(struct ss2022_saltset *s, size_t capacity, void *mem, size_t mem_len)
{
	memset(s, 0, sizeof(*s));
	if (capacity == 0 || capacity > (1u << 30) || !mem ||
	    mem_len < ss2022_saltset_mem_size(capacity) || ((uintptr_t)mem & 7))
		return -EINVAL;
	memset(mem, 0, ss2022_saltset_mem_size(capacity));
	s->ring = mem;
	s->slots = (uint32_t *)(void *)(s->ring + capacity);
	s->capacity = capacity;
	s->mask = slot_count(capacity) - 1;
	/* A per-set key: salts come from clients, keep them from aiming at one slot run. */
	return aead_random((uint8_t *)s->seed, sizeof(s->seed));
}

static uint32_t salt_hash(const struct ss2022_saltset *s, const uint8_t *salt, size_t len)
{
	uint8_t buf[SS2022_MAX_KEY_BYTES] = { 0 };
	uint64_t h = s->seed[0] ^ len;

	memcpy(buf, salt, len);
	for (size_t i = 0; i < sizeof(buf); i += 8) {
		uint64_t w;

		memcpy(&w, buf + i, 8);
		h = (h ^ w ^ s->seed[1]) * 0x9E3779B97F4A7C15ull;
		h ^= h >> 29;
	}
	return (uint32_t)(h ^ h >> 32);
}

/* Slot holding ring index idx (which must be in the table). */
static size_t slot_of(const struct ss2022_saltset *s, size_t idx)
{
	size_t i = s->ring[idx].hash & s->mask;

	while (s->slots[i] != idx + 1)
		i = (i + 1) & s->mask;
	return i;
}

/* Linear-probing delete without tombstones: pull later run members back. */
static void slot_delete(struct ss2022_saltset *s, size_t i)
{
	for (size_t j = i;;) {
		size_t home;

		j = (j + 1) & s->mask;
		if (s->slots[j] == 0)
			break;
		home = s->ring[s->slots[j] - 1].hash & s->mask;
		/* Stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		s->slots[i] = s->slots[j];
		i = j;
	}
	s->slots[i] = 0;
}

static void expire(struct ss2022_saltset *s, uint64_t now)
{
	while (s->count > 0) {
		const struct ss2022_salt_entry *e = &s->ring[s->head];

		if (now <= e->time || now - e->time <= SS2022_SALT_TTL_S)
			break;
		slot_delete(s, slot_of(s, s->head));
		s->head = (s->head + 1) % s->capacity;
		s->count--;
	}
}

int ss2022_saltset_check_insert(struct ss2022_saltset *s, const uint8_t *salt, size_t len,
				uint64_t now)
{
	uint32_t h;
	size_t i, idx;

	if (len == 0 || len > SS2022_MAX_KEY_BYTES)
		return -EINVAL;
	expire(s, now);
	h = salt_hash(s, salt, len);
	for (i = h & s->mask; s->slots[i] != 0; i = (i + 1) & s->mask) {
		const struct ss2022_salt_entry *e = &s->ring[s->slots[i] - 1];

		if (e->hash == h && e->len == len && memcmp(e->salt, salt, len) == 0)
			return 1;
	}
	if (s->count == s->capacity)
		return -ENOSPC;
	idx = (s->head + s->count) % s->capacity;
	s->ring[idx].time = now;
	s->ring[idx].hash = h;
	s->ring[idx].len = (uint8_t)len;
	memcpy(s->ring[idx].salt, salt, len);
	s->slots[i] = (uint32_t)idx + 1;
	s->count++;
	return 0;
}
