/* clock.c - CLOCK (second chance), exactly as the textbook runs it.
 *
 * Frames form a ring with one reference bit each. A loaded page gets its
 * bit set; a hit sets it. To find a victim the hand clears set bits as it
 * passes and stops at the first frame whose bit is clear; the new page is
 * loaded there and the hand moves one past it. Frames that are empty or
 * that the caller says cannot be evicted (pinned, under I/O) are skipped
 * without touching their bit. */
#include <stdint.h>

#include "model/model.h"

typedef struct clock_state {
	uint64_t n;       /* frames in the ring */
	uint64_t hand;    /* next frame the hand looks at */
	uint8_t  bits[];  /* per frame: bit 0 referenced, bit 1 holds a page */
} clock_state_t;

#define CLK_REF  1u
#define CLK_USED 2u

static size_t clock_state_size(uint64_t n)
{
	return sizeof(clock_state_t) + n;
}

static void clock_init(void *st, uint64_t n, uint64_t seed)
{
	clock_state_t *c = st;

	PM_UNUSED(seed);
	c->n = n;
	c->hand = 0;                     /* (the bits: zeroed memory, untouched until used) */
}

static void clock_loaded(void *st, uint64_t ppn, int referenced)
{
	clock_state_t *c = st;

	c->bits[ppn] = CLK_USED | (referenced ? CLK_REF : 0);
}

static void clock_referenced(void *st, uint64_t ppn)
{
	clock_state_t *c = st;

	c->bits[ppn] |= CLK_REF;
}

static void clock_freed(void *st, uint64_t ppn)
{
	clock_state_t *c = st;

	c->bits[ppn] = 0;
}

static uint64_t clock_victim(void *st, const pm_policy_env_t *env)
{
	clock_state_t *c = st;
	/* Two full turns clear every bit; a third finds nothing only when no
	 * frame may be evicted. */
	for (uint64_t step = 0; step < 2 * c->n + 1; step++) {
		uint64_t f = c->hand;
		c->hand = f + 1 == c->n ? 0 : f + 1;
		if (!(c->bits[f] & CLK_USED) || (env->evictable && !env->evictable(env->ctx, f)))
			continue;
		if (c->bits[f] & CLK_REF) {
			c->bits[f] &= (uint8_t)~CLK_REF;
			if (env->ref_cleared)
				env->ref_cleared(env->ctx, f);
			continue;
		}
		return f;
	}
	return PM_NONE;
}

static uint64_t clock_upcoming(const void *st, uint64_t *out, uint64_t max, uint64_t scan)
{
	const clock_state_t *c = st;
	uint64_t got = 0, f = c->hand;

	/* Frames ahead of the hand whose bit is clear: unless referenced
	 * before the hand arrives, these are the next victims. */
	for (uint64_t i = 0; i < scan && i < c->n && got < max; i++) {
		if ((c->bits[f] & (CLK_USED | CLK_REF)) == CLK_USED)
			out[got++] = f;
		f = f + 1 == c->n ? 0 : f + 1;
	}
	return got;
}

static int clock_is_referenced(const void *st, uint64_t ppn)
{
	const clock_state_t *c = st;

	return (c->bits[ppn] & CLK_REF) != 0;
}

const pm_policy_ops_t pm_policy_clock = {
	.id = PAGEMU_POLICY_CLOCK,
	.name = "clock",
	.state_size = clock_state_size,
	.init = clock_init,
	.loaded = clock_loaded,
	.referenced = clock_referenced,
	.freed = clock_freed,
	.victim = clock_victim,
	.upcoming = clock_upcoming,
	.is_referenced = clock_is_referenced,
};
