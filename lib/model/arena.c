/* arena.c - fixed-size node allocator over caller-provided memory.
 * Model: no system calls. The engine hands it a large lazily-committed
 * mapping at open time, so page-table growth in the fault handler never
 * calls malloc. */
#include <string.h>

#include "model/model.h"

void pm_arena_init(pm_arena_t *a, void *mem, size_t size, size_t node_size)
{
	a->base = mem;
	a->size = size;
	a->node_size = node_size;
	a->used = 0;
	a->free = NULL;
	a->live = 0;
}

void *pm_arena_alloc(pm_arena_t *a)
{
	void *n;

	if (a->free) {
		n = a->free;
		a->free = *(void **)n;
		memset(n, 0, a->node_size);
	} else {
		if (a->size - a->used < a->node_size)
			return NULL;
		/* Fresh memory from the bump pointer is already zero. */
		n = a->base + a->used;
		a->used += a->node_size;
	}
	a->live++;
	return n;
}

void pm_arena_release(pm_arena_t *a, void *node)
{
	*(void **)node = a->free;
	a->free = node;
	a->live--;
}
