/* SPDX-License-Identifier: MIT */
/*
 * tsan — what ThreadSanitizer cannot see for itself. A message posted to
 * another ring (IORING_OP_MSG_RING) orders everything its sender wrote
 * before the receiver's handling of it, through the kernel; TSan sees two
 * threads touching the same memory with no synchronisation between them.
 * The sender releases, and the receiver acquires, a sync object per
 * destination ring. Nothing at all outside a -fsanitize=thread build.
 */
#ifndef SSRING_TSAN_H
#define SSRING_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define SSRING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SSRING_TSAN 1
#endif
#endif

#ifdef SSRING_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char tsan_ring_sync[1024];

/* Before handing what p points at to another thread by a path TSan cannot see. */
static inline void tsan_release(void *p)
{
	__tsan_release(p);
}

/* After taking it over on the other side. */
static inline void tsan_acquire(void *p)
{
	__tsan_acquire(p);
}

/* Before posting to the ring with this fd. */
static inline void tsan_ring_release(int ring_fd)
{
	__tsan_release(&tsan_ring_sync[ring_fd & 1023]);
}

/* Before handling a completion on the ring with this fd. */
static inline void tsan_ring_acquire(int ring_fd)
{
	__tsan_acquire(&tsan_ring_sync[ring_fd & 1023]);
}
#else
static inline void tsan_release(void *p)
{
	(void)p;
}

static inline void tsan_acquire(void *p)
{
	(void)p;
}

static inline void tsan_ring_release(int ring_fd)
{
	(void)ring_fd;
}

static inline void tsan_ring_acquire(int ring_fd)
{
	(void)ring_fd;
}
#endif

#endif
