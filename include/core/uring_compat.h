/* SPDX-License-Identifier: MIT */
/*
 * uring_compat — the only place for gaps between Debian 12's liburing 2.3 and
 * the kernel features ssring uses. Every define is guarded so a newer
 * liburing wins.
 */
#ifndef SSRING_URING_COMPAT_H
#define SSRING_URING_COMPAT_H

#include <liburing.h>

#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif

/*
 * liburing 2.4 added io_uring_setup_buf_ring(); 2.3 only has the pieces.
 * Map a page-aligned ring of `entries` buffer descriptors and register it as
 * group bgid. Returns the ring or NULL with *err = -errno.
 */
struct io_uring_buf_ring *compat_setup_buf_ring(struct io_uring *ring, unsigned entries,
						int bgid, int *err);
void compat_free_buf_ring(struct io_uring *ring, struct io_uring_buf_ring *br,
			  unsigned entries, int bgid);

#endif
