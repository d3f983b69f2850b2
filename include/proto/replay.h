/* SPDX-License-Identifier: MIT */
/*
 * replay — the AEAD-2017 salt filter (protocol.md §8.1): a "ping-pong" pair
 * of Bloom filters shared by all workers. Inserts go to the current filter;
 * when it has taken capacity/2 salts the other one is cleared and becomes
 * current, so the last capacity/2 .. capacity salts are always remembered.
 * Lookups test both.
 *
 * Shared across workers because SO_REUSEPORT may send a replayed connection
 * to another worker than the original. Bits are set with atomic OR, so
 * workers never lock on the data path; only the rare rotation takes a mutex.
 * A salt inserted by one worker while another rotates can be lost: a replay
 * of it may then pass (a false negative, never a false positive beyond the
 * Bloom rate). Positions come from a hash keyed with a per-process secret,
 * so a client cannot aim salts at chosen bits.
 */
#ifndef SSRING_REPLAY_H
#define SSRING_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_DEFAULT_ENTRIES 1000000
#define REPLAY_DEFAULT_FP 1e-6

struct replay_filter;

/* entries: salts remembered (at least entries/2); fp: false-positive rate. */
struct replay_filter *replay_new(uint32_t entries, double fp);
void replay_free(struct replay_filter *f);
/* Bytes of memory the filter holds. */
size_t replay_bytes(const struct replay_filter *f);
/* True if salt was seen (a replay); otherwise remember it and return false. */
bool replay_check_insert(struct replay_filter *f, const uint8_t *salt, size_t len);

/*
 * The 2022 edition's exact salt memory (protocol.md §8.2): every request
 * salt of the last 60 s, no false positives, shared by all workers behind a
 * mutex (one lookup per connection). Full of unexpired salts = refuse.
 */
#define REPLAY2022_DEFAULT_CAPACITY 200000

struct replay2022;

struct replay2022 *replay2022_new(size_t capacity);
void replay2022_free(struct replay2022 *r);
size_t replay2022_bytes(const struct replay2022 *r);
/* 1 = replay, 0 = new (remembered), -ENOSPC = full. */
int replay2022_check_insert(struct replay2022 *r, const uint8_t *salt, size_t len, uint64_t now);

#endif
