/* SPDX-License-Identifier: MIT */
/*
 * aead — Shadowsocks AEAD-2017 crypto (SIP004/SIP007): cipher table, password
 * KDF (EVP_BytesToKey-MD5), per-session subkey (HKDF-SHA1 "ss-subkey"),
 * nonce-counter seal/open, the chunked stream reader and the UDP packet codec.
 *
 * Pure code over bytes: no sockets, no ring. Only aead.c includes wolfSSL.
 * All functions may be called from any thread; a ctx belongs to one thread.
 */
#ifndef SSRING_AEAD_H
#define SSRING_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/hkdf_sha1.h"

#define AEAD_TAG_BYTES 16
#define AEAD_MAX_KEY_BYTES 32
#define AEAD_MAX_SALT_BYTES 32
#define AEAD_MAX_NONCE_BYTES 24
/* Largest payload of one TCP chunk (the top two bits of the length are reserved). */
#define AEAD_CHUNK_MAX 0x3FFF
/*
 * The payload size a relay seals a long stream in: the largest multiple of
 * 256 under AEAD_CHUNK_MAX. wolfSSL's AVX2 ChaCha20 takes 256 bytes a step
 * and its AES-GCM 128; a 0x3FFF chunk leaves a 255-byte tail for the slow
 * single-block paths in every chunk (perf: ~9% of a ChaCha20 relay's time).
 */
#define AEAD_CHUNK_PREF 0x3F00
/* Bytes of one sealed length field: u16be + tag. */
#define AEAD_LEN_BYTES (2 + AEAD_TAG_BYTES)
/* Largest wire size of one chunk: length + payload + two tags. */
#define AEAD_CHUNK_WIRE_MAX (AEAD_LEN_BYTES + AEAD_CHUNK_MAX + AEAD_TAG_BYTES)

enum aead_kind {
	AEAD_AES_128_GCM = 0,
	AEAD_AES_192_GCM,
	AEAD_AES_256_GCM,
	AEAD_CHACHA20_POLY1305,
	AEAD_XCHACHA20_POLY1305,
	/* number of methods */
	AEAD_KIND_COUNT
};

struct aead_method {
	const char *name;
	enum aead_kind kind;
	uint8_t key_len;
	uint8_t salt_len; /* always == key_len for AEAD-2017 */
	uint8_t nonce_len;
};

/* Look a method up by its config name ("aes-256-gcm", ...). NULL if unknown. */
const struct aead_method *aead_method_find(const char *name);
/* Method by kind; never NULL for kind < AEAD_KIND_COUNT. */
const struct aead_method *aead_method_get(enum aead_kind kind);
/* Space-separated list of all method names, for help and error messages. */
const char *aead_method_names(void);

/* EVP_BytesToKey with MD5, no salt, one iteration: key_len bytes into key. */
int aead_password_to_key(const struct aead_method *m, const char *pw, size_t pw_len,
			 uint8_t *key);
/*
 * Decode a base64 master key (standard or URL-safe alphabet, padding optional).
 * The decoded length must equal m->key_len. Returns 0 or -EINVAL.
 */
int aead_key_from_base64(const struct aead_method *m, const char *b64, uint8_t *key);
/* subkey = HKDF-SHA1(ikm = master, salt, info = "ss-subkey", L = key_len). */
int aead_derive_subkey(const struct aead_method *m, const uint8_t *master, const uint8_t *salt,
		       uint8_t *subkey);
/* Fill buf with len cryptographically random bytes. Returns 0 or -EIO. */
int aead_random(uint8_t *buf, size_t len);

/*
 * One direction of one session: subkey + little-endian nonce counter. Key
 * schedules live in a small per-thread cache in aead.c, not here, so an
 * idle connection costs only these bytes. Embedded in sessions; init before
 * use, wipe when done; use a ctx on one thread only.
 */
struct aead_ctx {
	uint8_t key[AEAD_MAX_KEY_BYTES];
	uint8_t nonce[AEAD_MAX_NONCE_BYTES];
	const struct aead_method *m;
};

/* Derive the subkey from master+salt and reset the nonce to zero. 0 or -errno. */
int aead_ctx_init(struct aead_ctx *c, const struct aead_method *m, const uint8_t *master,
		  const uint8_t *salt);
/* Same with an already derived key (tests, UDP). */
int aead_ctx_init_subkey(struct aead_ctx *c, const struct aead_method *m, const uint8_t *subkey);
void aead_ctx_wipe(struct aead_ctx *c);
/*
 * Seal len bytes of in into out (len bytes ciphertext then a 16-byte tag) with
 * the current nonce, then increment the nonce. in == out is allowed (in place).
 * Returns 0 or -EIO.
 */
int aead_seal(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len);
/*
 * Open ct_len bytes (ciphertext then tag, ct_len >= 16) into out (ct_len - 16
 * bytes). in == out allowed. On success increment the nonce and return the
 * plaintext length; on a bad tag return -EBADMSG and leave the nonce as is.
 */
int aead_open(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t ct_len);

/*
 * Seal one TCP chunk in place. payload points at len (1..AEAD_CHUNK_MAX) bytes;
 * the caller guarantees AEAD_LEN_BYTES writable bytes before payload and
 * AEAD_TAG_BYTES after it. Writes the sealed length at payload - AEAD_LEN_BYTES,
 * encrypts the payload in place and appends its tag. Returns the wire size
 * (AEAD_LEN_BYTES + len + AEAD_TAG_BYTES); the wire bytes start at
 * payload - AEAD_LEN_BYTES.
 */
size_t aead_seal_chunk_inplace(struct aead_ctx *c, uint8_t *payload, size_t len);
/*
 * Seal in[0..len) as as many chunks as needed into out (out must hold
 * aead_sealed_size(len) bytes). in and out must not overlap. Returns bytes written.
 */
size_t aead_seal_chunks(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len);
/* Same with payloads of at most max bytes (0xFFFF in the 2022 edition). */
size_t aead_seal_chunks_max(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len,
			    size_t max);
/* Wire size of len payload bytes split into chunks of at most AEAD_CHUNK_MAX. */
size_t aead_sealed_size(size_t len);

/*
 * Stream reader: decodes one direction of a TCP stream (salt, then length
 * chunk, data chunk, length chunk, ...). It works on "records": the salt, a
 * sealed length (18 bytes), or a sealed payload (L + 16 bytes). The caller
 * shows it a contiguous view that starts at the current record boundary;
 * aead_reader_need() says how many contiguous bytes the current record needs.
 * The caller keeps incomplete records itself (copy to a carry buffer).
 */
enum aead_rd_state {
	AEAD_RD_SALT = 0, /* waiting for salt_len bytes */
	AEAD_RD_LEN,      /* waiting for a sealed length */
	AEAD_RD_DATA,     /* waiting for a sealed payload of plen bytes */
	AEAD_RD_FAILED,   /* authentication or framing failed; sticky */
	AEAD_RD_TRIAL,    /* no key yet: waiting for salt + first length together */
	AEAD_RD_KEYED     /* a key opened the first length; salt + length to consume */
};

enum aead_rd_result {
	AEAD_RD_NEED_MORE = 0, /* view shorter than aead_reader_need(): consumed nothing */
	AEAD_RD_GOT_SALT,      /* consumed the salt; the subkey is ready */
	AEAD_RD_GOT_LEN,       /* consumed a length chunk */
	AEAD_RD_GOT_DATA,      /* consumed a payload chunk: plain and plain_len set */
	AEAD_RD_NEED_KEY       /* trial reader: salt and first length are in the view,
				* consumed nothing; find the key (aead_reader_try) */
};

struct aead_reader {
	struct aead_ctx ctx;
	const struct aead_method *m;
	const uint8_t *master; /* not owned; must outlive the reader */
	enum aead_rd_state state;
	uint16_t plen;         /* payload length announced by the last length chunk */
	uint8_t salt[AEAD_MAX_SALT_BYTES]; /* copy of the stream salt (replay filter) */
};

void aead_reader_init(struct aead_reader *r, const struct aead_method *m, const uint8_t *master);
/*
 * A reader for a server with several users, which learns the key from the
 * request: it waits for the salt and the first sealed length in one view,
 * then answers AEAD_RD_NEED_KEY until a call to aead_reader_try() with that
 * view succeeds; the next step consumes both (AEAD_RD_GOT_LEN).
 */
void aead_reader_init_trial(struct aead_reader *r, const struct aead_method *m);
/*
 * Try master (not owned; must outlive the reader) on the salt and first
 * length at buf (aead_reader_need() bytes). t is aead_trial_init'ed with
 * that salt (see below). 0: the reader is keyed; -EBADMSG: not this key.
 */
struct aead_trial;
int aead_reader_try(struct aead_reader *r, const struct aead_trial *t, const uint8_t *buf,
		    const uint8_t *master);
/* Contiguous bytes the current record needs (0 once failed). */
size_t aead_reader_need(const struct aead_reader *r);
/*
 * Decode at most one record from buf[0..len). buf is writable: payloads are
 * decrypted in place, so *plain points into buf. Sets *consumed (0 when the
 * view is too short). Returns an enum aead_rd_result, or -EBADMSG (bad tag,
 * zero or reserved-bit length) after which the reader is failed.
 */
int aead_reader_step(struct aead_reader *r, uint8_t *buf, size_t len, size_t *consumed,
		     uint8_t **plain, size_t *plain_len);

/*
 * Same, but a payload is decrypted into out (room for AEAD_CHUNK_MAX bytes;
 * must not overlap buf) and buf is only read: a relay decrypts straight from
 * the receive buffer into its send buffer.
 */
int aead_reader_step_out(struct aead_reader *r, const uint8_t *buf, size_t len, size_t *consumed,
			 uint8_t *out, size_t *plain_len);

/*
 * UDP packet: salt | seal(subkey(salt), nonce 0, plaintext). A fresh random
 * salt per packet. out must hold salt_len + len + 16 bytes.
 * Returns the packet size or -errno.
 */
int aead_udp_seal(const struct aead_method *m, const uint8_t *master, uint8_t *out,
		  const uint8_t *plain, size_t len);
/* Same with a caller-chosen salt (tests). */
int aead_udp_seal_salt(const struct aead_method *m, const uint8_t *master, const uint8_t *salt,
		       uint8_t *out, const uint8_t *plain, size_t len);
/*
 * Open a UDP packet; plaintext (len - salt_len - 16 bytes) into out (may equal
 * pkt + salt_len). Returns the plaintext length, -EINVAL if too short, -EBADMSG
 * on a bad tag.
 */
int aead_udp_open(const struct aead_method *m, const uint8_t *master, uint8_t *out,
		  const uint8_t *pkt, size_t len);

/*
 * Trial decryption: which of many master keys opens a request? One salt is
 * tried under many keys, so what depends on the salt alone is done once
 * (aead_trial_init), and each try derives the subkey and opens only what
 * it must: the 18-byte first length of a TCP stream, or a UDP packet. The
 * tries use key schedules of their own, never the per-thread cache of the
 * sessions' keys.
 */
struct aead_trial {
	const struct aead_method *m;
	uint8_t salt[AEAD_MAX_SALT_BYTES];
	struct hkdf_sha1_salt hs; /* the salt's HMAC pads, compressed once */
};

void aead_trial_init(struct aead_trial *t, const struct aead_method *m, const uint8_t *salt);
void aead_trial_wipe(struct aead_trial *t);
/*
 * Open the first sealed length (AEAD_LEN_BYTES at chunk) with master's
 * subkey. 0: *ctx holds the subkey with the nonce past the length and
 * *plen the payload length (1..AEAD_CHUNK_MAX); -EBADMSG otherwise.
 */
int aead_trial_len(const struct aead_trial *t, const uint8_t *master, const uint8_t *chunk,
		   struct aead_ctx *ctx, uint16_t *plen);
/*
 * Open a UDP packet's ciphertext + tag (ct_len >= 16 bytes after the salt)
 * with master's subkey into out (ct_len - 16 bytes; may equal ct). Returns
 * the plaintext length or -EBADMSG; out is unspecified on failure.
 */
int aead_trial_udp(const struct aead_trial *t, const uint8_t *master, uint8_t *out,
		   const uint8_t *ct, size_t ct_len);

/* wolfSSL version string and whether AES-NI / AVX2 code paths are compiled in. */
const char *aead_backend_version(void);
bool aead_backend_has_aesni(void);
bool aead_backend_has_avx2(void);

/*
 * One raw AES block (ECB, no chaining, no padding) under a 16/24/32-byte key:
 * the SS2022 UDP separate header and the SIP023 identity headers (ss2022.c).
 * encrypt selects the direction. in == out allowed. 0, -EINVAL (key length),
 * -ENOTSUP (no AES direct in this wolfSSL) or -EIO.
 */
int aead_aes_block(const uint8_t *key, size_t key_len, bool encrypt, const uint8_t in[16],
		   uint8_t out[16]);

#endif
