/* SPDX-License-Identifier: MIT */
/*
 * module — the registry of loop modules: which module owns each completion
 * tag. Apart from the ring code (loop.c), so that a harness driving the
 * modules without a ring (test/fuzz/fuzz_session.c) registers them the same
 * way.
 */
#include <errno.h>

#include "core/log.h"
#include "core/loop.h"

/* Filled on the main thread by loop_module_register() before any loop
 * runs, read-only afterwards. */
static struct loop_module *tag_owner[LOOP_MAX_TAGS];
static unsigned next_tag = 1; /* tag 0: never used, a zeroed user_data */
static unsigned next_module;

int loop_module_register(struct loop_module *m)
{
	if (m->tag_base)
		return 0; /* already registered */
	if (next_tag + m->n_ops > LOOP_MAX_TAGS || next_module >= LOOP_MAX_MODULES) {
		log_error("loop: no room to register module %s", m->name);
		return -ENOSPC;
	}
	m->tag_base = next_tag;
	m->id = next_module++;
	for (unsigned i = 0; i < m->n_ops; i++)
		tag_owner[next_tag++] = m;
	if (!m->n_ops)
		next_tag++; /* keeps tag_base non-zero: the "registered" mark */
	return 0;
}

struct loop_module *loop_tag_owner(unsigned tag)
{
	return tag < LOOP_MAX_TAGS ? tag_owner[tag] : NULL;
}
