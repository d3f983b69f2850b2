/* SPDX-License-Identifier: MIT */
/*
 * blake3 — portable BLAKE3 (hash, keyed_hash, derive_key, XOF), written from
 * the algorithm summary in protocol.md §6. SS2022 needs derive_key for its
 * session/identity subkeys and hash for EIH user hashes; the full chunk tree
 * and the output counter are here so every official vector can be checked.
 *
 * Pure code: no allocation, no global state. A hasher belongs to one thread.
 */
#ifndef SSRING_BLAKE3_H
#define SSRING_BLAKE3_H

#include <stddef.h>
#include <stdint.h>

#define BLAKE3_OUT_BYTES 32
#define BLAKE3_KEY_BYTES 32
#define BLAKE3_BLOCK_BYTES 64
#define BLAKE3_CHUNK_BYTES 1024
/* 2^54 chunks of 1 KiB exceed 2^64 bytes, so the CV stack never needs more. */
#define BLAKE3_MAX_DEPTH 54

/* The chunk being filled: its chaining value and the block not yet compressed. */
struct blake3_chunk {
	uint32_t cv[8];
	uint64_t counter;      /* chunk index in the input */
	uint8_t block[BLAKE3_BLOCK_BYTES];
	uint8_t block_len;     /* bytes in block (0..64) */
	uint8_t blocks_done;   /* blocks of this chunk already compressed */
	uint8_t flags;         /* the mode flag of the hasher */
};

struct blake3_hasher {
	uint32_t key[8];       /* IV, the keyed-hash key or the derived context key */
	struct blake3_chunk chunk;
	uint32_t cv_stack[BLAKE3_MAX_DEPTH][8]; /* roots of completed full subtrees */
	uint8_t cv_stack_len;
	uint8_t flags;         /* mode: 0, KEYED_HASH or DERIVE_KEY_MATERIAL */
};

/* Plain hash mode. */
void blake3_init(struct blake3_hasher *h);
/* Keyed-hash mode with a 32-byte key. */
void blake3_init_keyed(struct blake3_hasher *h, const uint8_t key[BLAKE3_KEY_BYTES]);
/*
 * derive_key mode: hashes the NUL-terminated context string first; the key
 * material then goes through blake3_update().
 */
void blake3_init_derive_key(struct blake3_hasher *h, const char *context);
/* Absorb len bytes; may be called any number of times with any sizes. */
void blake3_update(struct blake3_hasher *h, const void *in, size_t len);
/*
 * Write len bytes of output (any length; the first 32 are the default hash).
 * Does not modify h: more input may follow and finalize may be called again.
 */
void blake3_finalize_xof(const struct blake3_hasher *h, uint8_t *out, size_t len);
/* Clear a hasher that held key material. */
void blake3_wipe(struct blake3_hasher *h);

/* One-shot hash of in[0..len) into out_len bytes. */
void blake3_hash(const void *in, size_t len, uint8_t *out, size_t out_len);
/* One-shot derive_key(context, material) into out_len bytes; wipes its state. */
void blake3_derive_key(const char *context, const uint8_t *material, size_t len, uint8_t *out,
		       size_t out_len);

#endif
