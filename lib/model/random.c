/* random.c - uniform random replacement, seeded (reproducible runs). */
#include <stdint.h>

#include "model/model.h"

typedef struct random_state {
	uint64_t n;
	uint64_t s;       /* xorshift64* state, never 0 */
	uint8_t  used[];  /* per frame: holds a page */
} random_state_t;

static size_t random_state_size(uint64_t n) { return sizeof(random_state_t) + n; }

static void random_init(void *st, uint64_t n, uint64_t seed)
{
	random_state_t *r = st;

	r->n = n;
	r->s = seed ? seed : 0x9e3779b97f4a7c15ULL;   /* (used[]: zeroed memory) */
}

static void random_loaded(void *st, uint64_t ppn, int referenced)
{
	PM_UNUSED(referenced);
	((random_state_t *)st)->used[ppn] = 1;
}

static void random_referenced(void *st, uint64_t ppn) { PM_UNUSED(st); PM_UNUSED(ppn); }
static void random_freed(void *st, uint64_t ppn) { ((random_state_t *)st)->used[ppn] = 0; }

static uint64_t random_victim(void *st, const pm_policy_env_t *env)
{
	random_state_t *r = st;
	uint64_t start = pm_xorshift64s(&r->s) % r->n;

	/* Probe from a random frame; walk on when it cannot be evicted. */
	for (uint64_t i = 0; i < r->n; i++) {
		uint64_t f = (start + i) % r->n;
		if (r->used[f] && (!env->evictable || env->evictable(env->ctx, f)))
			return f;
	}
	return PM_NONE;
}

static uint64_t random_upcoming(const void *st, uint64_t *out, uint64_t max, uint64_t scan)
{
	/* The next victims are not known in advance: nothing to pre-clean. */
	PM_UNUSED(st); PM_UNUSED(out); PM_UNUSED(max); PM_UNUSED(scan);
	return 0;
}

static int random_is_referenced(const void *st, uint64_t ppn)
{
	return ((const random_state_t *)st)->used[ppn];
}

const pm_policy_ops_t pm_policy_random = {
	.id = PAGEMU_POLICY_RANDOM, .name = "random",
	.state_size = random_state_size, .init = random_init, .loaded = random_loaded,
	.referenced = random_referenced, .freed = random_freed, .victim = random_victim, .upcoming = random_upcoming,
	.is_referenced = random_is_referenced,
};
