/* SPDX-License-Identifier: MIT */
#include "relay/udp_owner.h"

#include <pthread.h>
#include <stdlib.h>

struct owner_node {
	uint64_t sid;
	int worker;
	struct owner_node *next;
};

struct udp_owners {
	pthread_mutex_t mu;
	struct owner_node **b;
	uint32_t mask;
};

static uint32_t bucket(const struct udp_owners *o, uint64_t sid)
{
	sid *= 0x9E3779B97F4A7C15ull;
	return (uint32_t)(sid >> 32) & o->mask;
}

struct udp_owners *udp_owners_new(uint32_t buckets)
{
	struct udp_owners *o = calloc(1, sizeof(*o));
	uint32_t n = 64;

	if (!o)
		return NULL;
	while (n < buckets)
		n <<= 1;
	o->b = calloc(n, sizeof(*o->b));
	if (!o->b) {
		free(o);
		return NULL;
	}
	o->mask = n - 1;
	pthread_mutex_init(&o->mu, NULL);
	return o;
}

void udp_owners_free(struct udp_owners *o)
{
	if (!o)
		return;
	for (uint32_t i = 0; i <= o->mask; i++) {
		while (o->b[i]) {
			struct owner_node *n = o->b[i];

			o->b[i] = n->next;
			free(n);
		}
	}
	free(o->b);
	free(o);
}

void udp_owners_set(struct udp_owners *o, uint64_t sid, int worker)
{
	struct owner_node **pp, *n;

	pthread_mutex_lock(&o->mu);
	for (pp = &o->b[bucket(o, sid)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->sid == sid) {
			(*pp)->worker = worker;
			pthread_mutex_unlock(&o->mu);
			return;
		}
	}
	n = malloc(sizeof(*n));
	if (n) {
		n->sid = sid;
		n->worker = worker;
		n->next = NULL;
		*pp = n;
	}
	pthread_mutex_unlock(&o->mu);
}

void udp_owners_del(struct udp_owners *o, uint64_t sid, int worker)
{
	struct owner_node **pp, *n;

	pthread_mutex_lock(&o->mu);
	for (pp = &o->b[bucket(o, sid)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->sid == sid) {
			n = *pp;
			if (n->worker == worker) {
				*pp = n->next;
				free(n);
			}
			break;
		}
	}
	pthread_mutex_unlock(&o->mu);
}

int udp_owners_get(struct udp_owners *o, uint64_t sid)
{
	struct owner_node *n;
	int w = -1;

	pthread_mutex_lock(&o->mu);
	for (n = o->b[bucket(o, sid)]; n; n = n->next) {
		if (n->sid == sid) {
			w = n->worker;
			break;
		}
	}
	pthread_mutex_unlock(&o->mu);
	return w;
}
