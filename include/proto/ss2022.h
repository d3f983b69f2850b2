/* SPDX-License-Identifier: MIT */
/*
 * ss2022 — Shadowsocks 2022 (SIP022) with extensible identity headers (SIP023):
 * method table, PSK parsing, BLAKE3 subkeys, the TCP request/response
 * headers and stream reader, the UDP packet codec, the UDP sliding-window
 * replay filter and the exact TCP salt set (protocol.md §5, §8.2).
 *
 * Pure code over bytes: no sockets, no ring, no allocation, no clock. Every
 * random or time-dependent value (salt, padding, nonce, session/packet IDs,
 * now) is an argument, so tests pin them. Chunk AEAD is aead.h's aead_ctx:
 * 12-byte little-endian nonce counter, 16-byte tag, exactly as in SIP022.
 *
 * Errors (all -errno): -EBADMSG bad tag or request-salt echo, -EPROTO wrong
 * header type, -ETIME timestamp outside ±30 s, -EACCES unknown EIH user,
 * -EINVAL malformed header or bad argument, -ENOSPC output too small.
 * Every failure is to be handled alike (protocol.md §8.3).
 */
#ifndef SSRING_SS2022_H
#define SSRING_SS2022_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/aead.h"
#include "proto/ssaddr.h"

#define SS2022_MAX_KEY_BYTES 32
/* Identity keys a client may list before its user key ("iPSK1:...:uPSK"). */
#define SS2022_MAX_IDENTITY_KEYS 8
#define SS2022_EIH_BYTES 16
#define SS2022_USER_HASH_BYTES 16
/* Fixed request header: type u8 | timestamp u64be | length u16be. */
#define SS2022_FIXED_HDR_BYTES 11
/* Largest chunk payload; the 0x3FFF cap of AEAD-2017 does not apply. */
#define SS2022_CHUNK_MAX 0xFFFF
/* The same for the 2022 edition's larger chunks (see AEAD_CHUNK_PREF). */
#define SS2022_CHUNK_PREF 0xFF00
/* Largest record the stream reader asks for: a full chunk plus its tag. */
#define SS2022_RECORD_MAX (SS2022_CHUNK_MAX + AEAD_TAG_BYTES)
#define SS2022_PADDING_MAX 900
#define SS2022_TIME_WINDOW_S 30
#define SS2022_SALT_TTL_S 60
/* Longest base64 text of one key (44) and of a full identity chain. */
#define SS2022_KEY_B64_MAX 44
#define SS2022_KEYS_TEXT_MAX ((SS2022_MAX_IDENTITY_KEYS + 1) * (SS2022_KEY_B64_MAX + 1))

#define SS2022_TYPE_CLIENT 0
#define SS2022_TYPE_SERVER 1

enum ss2022_kind {
	SS2022_AES_128_GCM = 0,
	SS2022_AES_256_GCM,
	SS2022_CHACHA20_POLY1305,
	/* number of methods */
	SS2022_KIND_COUNT
};

struct ss2022_method {
	const char *name;        /* "2022-blake3-aes-128-gcm", ... */
	enum ss2022_kind kind;
	uint8_t key_len;         /* PSK = subkey = TCP salt length (16 or 32) */
	bool is_aes;             /* AES block UDP header and EIH; chacha uses XChaCha UDP */
	enum aead_kind chunk;    /* chunk AEAD (TCP, and the UDP body for AES) */
};

/* Look a method up by name. NULL if unknown or its ciphers are not in this wolfSSL. */
const struct ss2022_method *ss2022_method_find(const char *name);
/* The aead.h method for the chunk AEAD of m. */
const struct aead_method *ss2022_chunk_method(const struct ss2022_method *m);

/* ---- keys ------------------------------------------------------------------- */

/* Client keys: the user PSK plus the identity keys of the relays in path order. */
struct ss2022_keys {
	uint8_t psk[SS2022_MAX_KEY_BYTES];                               /* uPSK */
	uint8_t ipsk[SS2022_MAX_IDENTITY_KEYS][SS2022_MAX_KEY_BYTES];
	uint8_t n_ipsk;
};

/*
 * Parse "PSK" or "iPSK1:...:iPSKn:uPSK" (standard base64, padding optional,
 * each exactly key_len bytes). Identity keys only for AES methods, at most
 * SS2022_MAX_IDENTITY_KEYS. 0 or -EINVAL (k is wiped on error).
 */
int ss2022_parse_keys(const struct ss2022_method *m, const char *text, struct ss2022_keys *k);
/* Decode one base64 key of exactly m->key_len bytes (len chars of text). 0 or -EINVAL. */
int ss2022_decode_key(const struct ss2022_method *m, const char *text, size_t len, uint8_t *key);
/* Write a fresh random PSK as padded base64 + NUL. Returns its length, -ENOSPC or -EIO. */
int ss2022_genkey(const struct ss2022_method *m, char *out, size_t cap);

/* derive_key("shadowsocks 2022 session subkey", psk | salt)[0:key_len]. */
void ss2022_session_subkey(const struct ss2022_method *m, const uint8_t *psk, const uint8_t *salt,
			   size_t salt_len, uint8_t *out);
/* derive_key("shadowsocks 2022 identity subkey", ipsk | salt)[0:key_len]. */
void ss2022_identity_subkey(const struct ss2022_method *m, const uint8_t *ipsk,
			    const uint8_t *salt, uint8_t *out);
/* BLAKE3(psk)[0:16]: how an EIH names the next key. */
void ss2022_key_hash(const struct ss2022_method *m, const uint8_t *psk,
		     uint8_t out[SS2022_USER_HASH_BYTES]);

/* ---- server configuration ------------------------------------------------- */

struct ss2022_user {
	const char *name;                       /* for logs; not owned */
	uint8_t psk[SS2022_MAX_KEY_BYTES];      /* uPSK */
	uint8_t hash[SS2022_USER_HASH_BYTES];   /* BLAKE3(uPSK)[0:16] */
};

/*
 * Without users the server PSK is the session key. With users (AES only) it
 * is the identity key, every request carries exactly one EIH, and the user's
 * uPSK keys the session in both directions. Lookup is linear in n_users.
 * Must outlive every reader that uses it.
 */
struct ss2022_server_cfg {
	const struct ss2022_method *m;
	uint8_t psk[SS2022_MAX_KEY_BYTES];
	const struct ss2022_user *users;
	size_t n_users;
	/* Optional index by identity hash: open addressing from
	 * ss2022_hash_slot(hash) & index_mask, slots hold user index + 1. */
	const uint32_t *index;
	uint32_t index_mask;
};

/* Where an identity hash starts its probe in an index (the hash is uniform). */
static inline uint32_t ss2022_hash_slot(const uint8_t *hash)
{
	return (uint32_t)hash[0] | (uint32_t)hash[1] << 8 | (uint32_t)hash[2] << 16 |
	       (uint32_t)hash[3] << 24;
}

/* Fill u from a base64 uPSK (and compute its hash). 0 or -EINVAL. */
int ss2022_user_init(struct ss2022_user *u, const struct ss2022_method *m, const char *name,
		     const char *psk_b64);
/* Index of the user whose hash matches, or -1 (the index if there is one). */
int ss2022_user_find(const struct ss2022_server_cfg *cfg, const uint8_t *hash);

/* ---- TCP: client request -------------------------------------------------- */

/* Uniform 1..900 when there is no payload (padding must then be non-zero), else 0. */
size_t ss2022_pick_padding(size_t payload_len);
/* Bytes ss2022_build_request() writes for these sizes. */
size_t ss2022_request_size(const struct ss2022_method *m, size_t n_eih, size_t addr_len,
			   size_t padding_len, size_t payload_len);
/*
 * Build the client's first write: salt | EIH × k->n_ipsk | seal(fixed header) |
 * seal(addr | u16be padding_len | padding | payload), nonces 0 and 1.
 * salt: key_len bytes, NULL = random (it is at out[0..key_len) afterwards;
 * remember it for the response reader). padding NULL = random bytes.
 * padding_len <= 900; payload_len == 0 needs padding_len >= 1; the variable
 * header must fit one chunk (<= 0xFFFF). payload may already sit at its final
 * place in out (it is moved first); nothing else may overlap out.
 * On success out_ctx is the request-direction context at nonce 2, ready for
 * the following length/data chunks; returns the bytes written.
 */
int ss2022_build_request(const struct ss2022_method *m, const struct ss2022_keys *k,
			 const uint8_t *salt, uint64_t now, const uint8_t *addr_hdr,
			 size_t addr_len, const uint8_t *payload, size_t payload_len,
			 size_t padding_len, const uint8_t *padding, struct aead_ctx *out_ctx,
			 uint8_t *out, size_t out_cap);

/*
 * Seal one chunk in place (len 1..0xFFFF): as aead_seal_chunk_inplace() with
 * the SS2022 length cap. AEAD_LEN_BYTES writable bytes before payload and
 * AEAD_TAG_BYTES after it. Returns the wire size, 0 on error.
 */
size_t ss2022_seal_chunk_inplace(struct aead_ctx *c, uint8_t *payload, size_t len);

/* ---- TCP: server response ------------------------------------------------- */

/* salt' | seal(type 1 | ts | request salt | u16be len): 2 * key_len + 11 + 16 bytes. */
size_t ss2022_response_header_size(const struct ss2022_method *m);
/*
 * Write the response header into out (ss2022_response_header_size() bytes)
 * keyed by psk (the user's uPSK in multi-user mode, see
 * ss2022_reader.psk) and salt' (NULL = random). first_payload_len (0..0xFFFF)
 * announces the first data chunk, which has no length chunk of its own.
 * Layout of the first write: header | payload | tag: put the payload right
 * after the header and aead_seal(ctx, p, p, len) in place; ctx is left at
 * nonce 1 for exactly that, then continue with ss2022_seal_chunk_inplace().
 * Returns the header size or -errno.
 */
int ss2022_build_response_header(const struct ss2022_method *m, const uint8_t *psk,
				 const uint8_t *salt, uint64_t now, const uint8_t *req_salt,
				 size_t first_payload_len, struct aead_ctx *ctx, uint8_t *out);

/* ---- TCP: stream reader (server: request; client: response) -------------- */

/*
 * Works like aead_reader: the caller shows a contiguous writable view that
 * starts at a record boundary; ss2022_reader_need() says how many bytes the
 * current record takes (the first one must come from exactly one read,
 * protocol.md §5.3). Records: HEADER, FIRST (server: variable header;
 * client: first data), then LEN / DATA pairs. Plaintext is decrypted in
 * place. Any error is sticky.
 */
enum ss2022_rd_state {
	SS2022_RD_HEADER = 0, /* waiting for salt [| EIH] | sealed fixed header */
	SS2022_RD_FIRST,      /* waiting for the variable header / first data (plen + 16) */
	SS2022_RD_LEN,        /* waiting for a sealed length (18) */
	SS2022_RD_DATA,       /* waiting for a sealed payload (plen + 16) */
	SS2022_RD_FAILED      /* authentication or framing failed */
};

enum ss2022_rd_result {
	SS2022_RD_NEED_MORE = 0, /* view shorter than need(): consumed nothing */
	/*
	 * Header authenticated, type and timestamp valid. Replay hook: check and
	 * insert r->salt in the salt set now (ss2022_saltset_check_insert); if it
	 * was seen, treat the connection as failed and stop calling the reader.
	 */
	SS2022_RD_GOT_FIXED,
	SS2022_RD_GOT_VARHDR, /* server: r->target set; plain = initial payload (may be empty) */
	SS2022_RD_GOT_LEN,    /* consumed a length chunk */
	SS2022_RD_GOT_DATA    /* plain/plain_len = data (the client's first data too) */
};

struct ss2022_reader {
	struct aead_ctx ctx;
	const struct ss2022_method *m;
	const struct ss2022_server_cfg *cfg; /* server role; NULL for the client role */
	enum ss2022_rd_state state;
	uint16_t plen;             /* length announced for the next FIRST/DATA record */
	int user;                  /* server: index in cfg->users, -1 without users */
	uint64_t ts;               /* peer's header timestamp */
	uint8_t psk[SS2022_MAX_KEY_BYTES];      /* session PSK (server: for the response) */
	uint8_t salt[SS2022_MAX_KEY_BYTES];     /* peer's salt (for the salt set) */
	uint8_t req_salt[SS2022_MAX_KEY_BYTES]; /* client role: our request salt */
	struct ssaddr *target;     /* server role: the request's address goes here */
};

/* Server role: reads a request stream; the address in its header is stored in
 * *target (valid after GOT_VARHDR). -EINVAL if cfg has users but m is not AES. */
int ss2022_reader_init_server(struct ss2022_reader *r, const struct ss2022_server_cfg *cfg,
			      struct ssaddr *target);
/* Client role: reads the response to the request made with psk and req_salt. */
void ss2022_reader_init_client(struct ss2022_reader *r, const struct ss2022_method *m,
			       const uint8_t *psk, const uint8_t *req_salt);
void ss2022_reader_wipe(struct ss2022_reader *r);
/* Contiguous bytes the current record needs (0 once failed). */
size_t ss2022_reader_need(const struct ss2022_reader *r);
/*
 * Decode at most one record of buf[0..len) (now: Unix seconds, used for the
 * header). Sets *consumed (0 unless a record was decoded) and *plain /
 * *plain_len (pointing into buf). Returns an enum ss2022_rd_result or -errno.
 */
int ss2022_reader_step(struct ss2022_reader *r, uint8_t *buf, size_t len, uint64_t now,
		       size_t *consumed, uint8_t **plain, size_t *plain_len);
/*
 * The same, but a payload record (GOT_DATA) is decrypted straight into out
 * (room for SS2022_CHUNK_MAX bytes) and *plain points there; headers,
 * lengths and a request's first record are still decoded in place in buf.
 */
int ss2022_reader_step_out(struct ss2022_reader *r, uint8_t *buf, size_t len, uint64_t now,
			   size_t *consumed, uint8_t *out, uint8_t **plain, size_t *plain_len);

/* ---- UDP ------------------------------------------------------------------ */

/* Explicit per-packet values (test hooks; real callers draw random ones). */
struct ss2022_udp_params {
	uint64_t session_id;        /* the sender's session ID */
	uint64_t packet_id;
	uint64_t client_session_id; /* server → client only: the client's session ID */
	uint64_t now;               /* timestamp to send */
	size_t padding_len;         /* <= 900 */
	const uint8_t *padding;     /* NULL: random bytes */
	const uint8_t *nonce;       /* chacha: 24-byte nonce; NULL: random */
};

/* An opened packet; payload points into the packet buffer. */
struct ss2022_udp_packet {
	uint64_t session_id;        /* sender's session ID */
	uint64_t packet_id;         /* check and update the session's window with it */
	uint64_t client_session_id; /* server → client only */
	uint64_t ts;
	int user;                   /* open_server: user index, -1 without users */
	const uint8_t *psk;         /* open_server: key for the replies (uPSK or cfg->psk) */
	struct ssaddr addr;         /* target (c→s) or source (s→c) */
	uint8_t *payload;
	size_t payload_len;
};

/* Packet size for these sizes (n_eih: EIHs, client → server AES only). */
size_t ss2022_udp_size(const struct ss2022_method *m, bool to_server, size_t n_eih,
		       size_t addr_len, size_t padding_len, size_t payload_len);
/*
 * Client → server: AES: AES(iPSK1 or PSK, sid | pid) | EIH × n | GCM body;
 * chacha: nonce | XChaCha(PSK, sid | pid | body). payload may already sit at
 * its final place in out. Returns the packet size or -errno.
 */
int ss2022_udp_seal_client(const struct ss2022_method *m, const struct ss2022_keys *k,
			   const struct ss2022_udp_params *p, const uint8_t *addr_hdr,
			   size_t addr_len, const uint8_t *payload, size_t payload_len,
			   uint8_t *out, size_t out_cap);
/* Server → client, keyed by psk (the user's uPSK, see ss2022_udp_packet.psk). */
int ss2022_udp_seal_server(const struct ss2022_method *m, const uint8_t *psk,
			   const struct ss2022_udp_params *p, const uint8_t *addr_hdr,
			   size_t addr_len, const uint8_t *payload, size_t payload_len,
			   uint8_t *out, size_t out_cap);
/*
 * Open a client packet in place: length, tag, EIH user, type 0, timestamp.
 * The packet-ID window is the caller's (per session): check it with
 * ss2022_window_check() and update it only after this returned 0.
 */
int ss2022_udp_open_server(const struct ss2022_server_cfg *cfg, uint64_t now, uint8_t *pkt,
			   size_t len, struct ss2022_udp_packet *out);
/* Open a server packet in place; also -EBADMSG unless it echoes client_session_id. */
int ss2022_udp_open_client(const struct ss2022_method *m, const uint8_t *psk,
			   uint64_t client_session_id, uint64_t now, uint8_t *pkt, size_t len,
			   struct ss2022_udp_packet *out);

/*
 * Sliding-window packet-ID filter (WireGuard's, as RUST packet_window.rs):
 * 128 × 64-bit ring, IDs more than 8128 behind the newest are refused.
 */
#define SS2022_WINDOW_BLOCKS 128
#define SS2022_WINDOW_SIZE ((SS2022_WINDOW_BLOCKS - 1) * 64)

struct ss2022_window {
	uint64_t last;
	uint64_t ring[SS2022_WINDOW_BLOCKS];
};

void ss2022_window_init(struct ss2022_window *w);
/* True if id is new and inside the window. Does not modify w. */
bool ss2022_window_check(const struct ss2022_window *w, uint64_t id);
/* Record id (call only after the packet validated and window_check passed). */
void ss2022_window_update(struct ss2022_window *w, uint64_t id);

/* ---- salt set (TCP replay, protocol.md §8.2) ------------------------------ */

/*
 * Exact set of salts seen in the last 60 s: a linear-probing hash table of
 * indices into a FIFO ring of (salt, time). No false positives. Entries
 * leave when older than 60 s. Memory comes from the caller
 * (ss2022_saltset_mem_size(capacity) bytes, 8-byte aligned). Not
 * thread-safe: one per worker or a lock around check_insert.
 */
struct ss2022_salt_entry {
	uint64_t time;
	uint32_t hash;  /* table hash, kept for deletion */
	uint8_t len;
	uint8_t salt[SS2022_MAX_KEY_BYTES];
};

struct ss2022_saltset {
	struct ss2022_salt_entry *ring; /* FIFO, oldest at head */
	uint32_t *slots;                /* 0 = empty, else ring index + 1 */
	size_t capacity, head, count;
	size_t mask;                    /* slots - 1 (a power of two >= 2 × capacity) */
	uint64_t seed[2];               /* hash key, random per set */
};

size_t ss2022_saltset_mem_size(size_t capacity);
/* capacity 1..2^30. 0, -EINVAL (bad capacity or mem too small) or -EIO (no seed). */
int ss2022_saltset_init(struct ss2022_saltset *s, size_t capacity, void *mem, size_t mem_len);
/*
 * Expire old entries, then: 1 = salt seen in the last 60 s (a replay),
 * 0 = new (now remembered), -ENOSPC = full of unexpired salts (fail closed:
 * reject the connection; size capacity for peak new connections per 60 s),
 * -EINVAL = bad length.
 */
int ss2022_saltset_check_insert(struct ss2022_saltset *s, const uint8_t *salt, size_t len,
				uint64_t now);

#endif
