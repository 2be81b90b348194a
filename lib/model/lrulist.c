/* lrulist.c - FIFO and LRU: one ordered list of frames, oldest first.
 * FIFO appends a frame when a page is loaded; LRU also moves it to the end
 * on every observed reference. The victim is the first evictable frame
 * from the head. In the engine's fast mode references are observed only
 * through faults (see README: LRU is then approximate); in exact-TLB mode
 * and in the simulator every reference is seen and LRU is exact. */
#include <stdint.h>

#include "model/model.h"

#define NIL UINT32_MAX

/* A frame's two links side by side: a move to the tail touches one host
 * cache line per frame instead of two (the simulator's hot path). */
typedef struct link {
	uint32_t prev, next;
} link_t;

typedef struct list_state {
	uint64_t n;
	uint32_t head, tail;   /* oldest, newest; NIL when empty */
	link_t   *ln;          /* per frame links */
	uint8_t  *in;          /* per frame: on the list */
	uint64_t mem[];
} list_state_t;

static size_t list_state_size(uint64_t n)
{
	return sizeof(list_state_t) + n * (sizeof(link_t) + 1) + 8;
}

static void list_init(void *st, uint64_t n, uint64_t seed)
{
	list_state_t *l = st;

	PM_UNUSED(seed);
	l->n = n;
	l->head = l->tail = NIL;
	l->ln = (link_t *)l->mem;
	l->in = (uint8_t *)(l->ln + n);  /* (zeroed memory: no frame is on the list) */
}

static void unlink_frame(list_state_t *l, uint32_t f)
{
	if (!l->in[f])
		return;
	link_t x = l->ln[f];

	if (x.prev != NIL) l->ln[x.prev].next = x.next; else l->head = x.next;
	if (x.next != NIL) l->ln[x.next].prev = x.prev; else l->tail = x.prev;
	l->in[f] = 0;
}

static void append(list_state_t *l, uint32_t f)
{
	l->ln[f].prev = l->tail;
	l->ln[f].next = NIL;
	if (l->tail != NIL) l->ln[l->tail].next = f; else l->head = f;
	l->tail = f;
	l->in[f] = 1;
}

static void list_loaded(void *st, uint64_t ppn, int referenced)
{
	list_state_t *l = st;

	PM_UNUSED(referenced);
	unlink_frame(l, (uint32_t)ppn);
	append(l, (uint32_t)ppn);
}

static void lru_referenced(void *st, uint64_t ppn)
{
	list_state_t *l = st;

	if (!l->in[ppn] || l->tail == ppn)
		return;
	unlink_frame(l, (uint32_t)ppn);
	append(l, (uint32_t)ppn);
}

static void fifo_referenced(void *st, uint64_t ppn)
{
	PM_UNUSED(st);
	PM_UNUSED(ppn);
}

static void list_freed(void *st, uint64_t ppn)
{
	unlink_frame(st, (uint32_t)ppn);
}

static uint64_t list_victim(void *st, const pm_policy_env_t *env)
{
	list_state_t *l = st;

	for (uint32_t f = l->head; f != NIL; f = l->ln[f].next)
		if (!env->evictable || env->evictable(env->ctx, f))
			return f;
	return PM_NONE;
}

static uint64_t list_upcoming(const void *st, uint64_t *out, uint64_t max, uint64_t scan)
{
	const list_state_t *l = st;
	uint64_t got = 0, i = 0;

	for (uint32_t f = l->head; f != NIL && got < max && i < scan; f = l->ln[f].next, i++)
		out[got++] = f;
	return got;
}

static int list_is_referenced(const void *st, uint64_t ppn)
{
	const list_state_t *l = st;

	return l->in[ppn];
}

const pm_policy_ops_t pm_policy_fifo = {
	.id = PAGEMU_POLICY_FIFO, .name = "fifo",
	.state_size = list_state_size, .init = list_init, .loaded = list_loaded,
	.referenced = fifo_referenced, .freed = list_freed, .victim = list_victim, .upcoming = list_upcoming,
	.is_referenced = list_is_referenced,
};

const pm_policy_ops_t pm_policy_lru = {
	.id = PAGEMU_POLICY_LRU, .name = "lru",
	.state_size = list_state_size, .init = list_init, .loaded = list_loaded,
	.referenced = lru_referenced, .freed = list_freed, .victim = list_victim, .upcoming = list_upcoming,
	.is_referenced = list_is_referenced,
};
