/* SPDX-License-Identifier: MIT */
#include "core/uring_compat.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

struct io_uring_buf_ring *compat_setup_buf_ring(struct io_uring *ring, unsigned entries,
						int bgid, int *err)
{
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br;
	size_t bytes = entries * sizeof(struct io_uring_buf);
	int ret;

	/* The kernel wants the descriptor ring page aligned: mmap gives that. */
	br = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED) {
		*err = -ENOMEM;
		return NULL;
	}
	io_uring_buf_ring_init(br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = entries;
	reg.bgid = (unsigned short)bgid;
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret) {
		munmap(br, bytes);
		*err = ret;
		return NULL;
	}
	*err = 0;
	return br;
}

void compat_free_buf_ring(struct io_uring *ring, struct io_uring_buf_ring *br,
			  unsigned entries, int bgid)
{
	io_uring_unregister_buf_ring(ring, bgid);
	munmap(br, entries * sizeof(struct io_uring_buf));
}
