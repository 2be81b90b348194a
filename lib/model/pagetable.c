/* pagetable.c - the multi-level radix page table (model; no system calls).
 *
 * x86-64 shape by default: 4 levels of 9 bits over 4 KiB pages. Any shape
 * works: CSAPP's small system is one level of 8 bits. A walk reads one
 * entry per level, root first; the leaf level holds PTEs. */
#include <errno.h>
#include <string.h>

#include "model/model.h"

int pm_pt_geom_init(pm_pt_geom_t *g, unsigned vpn_bits, unsigned levels, const unsigned *bits)
{
	unsigned l, sum = 0, shift = 0;

	if (levels < 1 || levels > PAGEMU_MAX_LEVELS || vpn_bits < 1 || vpn_bits > 52)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->levels = levels;
	for (l = 0; l < levels; l++) {
		if (bits && bits[l])
			g->bits[l] = bits[l];
		else    /* evenly, the root takes what does not divide */
			g->bits[l] = vpn_bits / levels + (l == 0 ? vpn_bits % levels : 0);
		if (g->bits[l] < 1 || g->bits[l] > 20)
			return -EINVAL;
		sum += g->bits[l];
	}
	if (sum != vpn_bits)
		return -EINVAL;
	for (l = levels; l-- > 0;) {
		g->shift[l] = shift;
		shift += g->bits[l];
	}
	g->vpn_bits = vpn_bits;
	return 0;
}

size_t pm_pt_node_size(const pm_pt_geom_t *g)
{
	unsigned l, maxbits = 0;

	for (l = 0; l < g->levels; l++)
		if (g->bits[l] > maxbits)
			maxbits = g->bits[l];
	return sizeof(uint64_t) << maxbits;
}

int pm_pt_init(pm_pt_t *pt, const pm_pt_geom_t *g, pm_arena_t *arena)
{
	pt->geom = *g;
	pt->arena = arena;
	pt->root = pm_arena_alloc(arena);
	if (!pt->root)
		return -ENOMEM;
	pt->nodes = 1;
	return 0;
}

pm_pte_t *pm_pt_lookup(pm_pt_t *pt, uint64_t vpn, unsigned *levels)
{
	const pm_pt_geom_t *g = &pt->geom;
	uint64_t *node = pt->root;
	unsigned l;

	for (l = 0; l + 1 < g->levels; l++) {
		uint64_t next = node[pm_pt_index(g, vpn, l)];
		if (!next) {
			if (levels)
				*levels = l + 1;
			return NULL;
		}
		node = (uint64_t *)(uintptr_t)next;
	}
	if (levels)
		*levels = g->levels;
	return &node[pm_pt_index(g, vpn, g->levels - 1)];
}

pm_pte_t *pm_pt_ensure(pm_pt_t *pt, uint64_t vpn)
{
	const pm_pt_geom_t *g = &pt->geom;
	uint64_t *node = pt->root;
	unsigned l;

	for (l = 0; l + 1 < g->levels; l++) {
		uint64_t *slot = &node[pm_pt_index(g, vpn, l)];
		if (!*slot) {
			void *child = pm_arena_alloc(pt->arena);
			if (!child)
				return NULL;
			pt->nodes++;
			*slot = (uint64_t)(uintptr_t)child;
		}
		node = (uint64_t *)(uintptr_t)*slot;
	}
	return &node[pm_pt_index(g, vpn, g->levels - 1)];
}

static int node_empty(const uint64_t *node, unsigned bits)
{
	size_t i, n = (size_t)1 << bits;

	for (i = 0; i < n; i++)
		if (node[i])
			return 0;
	return 1;
}

/* Visit [first, last] below node (at level l, covering VPNs from base). */
static void walk_node(pm_pt_t *pt, uint64_t *node, unsigned l, uint64_t base,
		      uint64_t first, uint64_t last, pm_pt_visit_fn fn, void *ctx, int prune)
{
	const pm_pt_geom_t *g = &pt->geom;
	uint64_t span = 1ULL << g->shift[l];           /* VPNs per entry */
	uint64_t n = 1ULL << g->bits[l];
	uint64_t i = first > base ? (first - base) / span : 0;

	for (; i < n; i++) {
		uint64_t lo = base + i * span;
		if (lo > last)
			break;
		if (!node[i])
			continue;
		if (l + 1 == g->levels) {
			fn(ctx, lo, &node[i]);
			continue;
		}
		uint64_t *child = (uint64_t *)(uintptr_t)node[i];
		walk_node(pt, child, l + 1, lo, first, last, fn, ctx, prune);
		/* A child wholly inside the range may have become empty. */
		if (prune && node_empty(child, g->bits[l + 1])) {
			node[i] = 0;
			pm_arena_release(pt->arena, child);
			pt->nodes--;
		}
	}
}

void pm_pt_walk_range(pm_pt_t *pt, uint64_t first, uint64_t last, pm_pt_visit_fn fn, void *ctx, int prune)
{
	if (first > last)
		return;
	walk_node(pt, pt->root, 0, 0, first, last, fn, ctx, prune);
}

static uint64_t next_node(const pm_pt_geom_t *g, const uint64_t *node, unsigned l, uint64_t base, uint64_t first,
			  uint64_t last)
{
	uint64_t span = 1ULL << g->shift[l], n = 1ULL << g->bits[l];

	for (uint64_t i = first > base ? (first - base) / span : 0; i < n; i++) {
		uint64_t lo = base + i * span, v;
		if (lo > last)
			break;
		if (!node[i])
			continue;
		if (l + 1 == g->levels)
			return lo;
		v = next_node(g, (const uint64_t *)(uintptr_t)node[i], l + 1, lo, first, last);
		if (v != PM_NONE)
			return v;
	}
	return PM_NONE;
}

uint64_t pm_pt_next(const pm_pt_t *pt, uint64_t first, uint64_t last)
{
	if (first > last)
		return PM_NONE;
	return next_node(&pt->geom, pt->root, 0, 0, first, last);
}

static uint64_t count_nodes(const pm_pt_geom_t *g, const uint64_t *node, unsigned l)
{
	uint64_t i, n = 1ULL << g->bits[l], count = 1;

	if (l + 1 == g->levels)
		return 1;
	for (i = 0; i < n; i++)
		if (node[i])
			count += count_nodes(g, (const uint64_t *)(uintptr_t)node[i], l + 1);
	return count;
}

int pm_pt_check(pm_pt_t *pt)
{
	return count_nodes(&pt->geom, pt->root, 0) == pt->nodes ? 0 : -1;
}
