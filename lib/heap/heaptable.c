/* heaptable.c - one heap per instance: the table that finds it, its
 * creation on first use and its close, and fork(), which must find every
 * heap lock free. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "heap/heap_impl.h"

struct heap_table pm_heaps = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct pm_heap *pm_heap_find(struct pagemu *vm)
{
	for (unsigned i = 0; i < HEAP_TABLE_MAX; i++)
		if (atomic_load_explicit(&pm_heaps.vm[i], memory_order_acquire) == vm)
			return pm_heaps.heap[i];
	return NULL;
}

static struct pm_heap *heap_create(struct pagemu *vm)
{
	struct pm_heap *h;
	unsigned slot = HEAP_TABLE_MAX;

	pthread_mutex_lock(&pm_heaps.lock);
	if ((h = pm_heap_find(vm)))
		goto out;
	for (unsigned i = 0; i < HEAP_TABLE_MAX && slot == HEAP_TABLE_MAX; i++)
		if (!atomic_load(&pm_heaps.vm[i]))
			slot = i;
	if (slot == HEAP_TABLE_MAX)
		goto out;
	h = pm_prim_alloc_tables(sizeof(*h));
	if (!h)
		goto out;
	/* Address space only. Under a limit on it (ulimit -v), half of what
	 * is left at most (the program maps too), down to HEAP_RESERVE_MIN. */
	h->reserve = HEAP_RESERVE;
	h->arena_shift = 37;                     /* log2(HEAP_RESERVE / NARENAS) */
	uint64_t room = pm_prim_as_room() / 2;
	while (h->reserve > HEAP_RESERVE_MIN && h->reserve > room) {
		h->reserve /= 2;
		h->arena_shift--;
	}
	for (;;) {
		h->base = pagemu_map(vm, h->reserve, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (h->base || h->reserve <= HEAP_RESERVE_MIN)
			break;
		h->reserve /= 2;
		h->arena_shift--;
	}
	if (!h->base) {
		static int said;                 /* (the next allocation tries again: say it once) */
		char msg[256];
		uint64_t left = pm_prim_as_room();
		if (left != UINT64_MAX)
			snprintf(msg, sizeof(msg), "pagemu: heap: no room for its %llu MiB of address space under RLIMIT_AS "
				 "(ulimit -v; %llu MiB left): allocations fail; raise the limit or lower PAGEMU_MEMORY\n",
				 (unsigned long long)(HEAP_RESERVE_MIN >> 20), (unsigned long long)(left >> 20));
		else
			snprintf(msg, sizeof(msg), "pagemu: heap: cannot reserve its address space (%s): allocations fail\n",
				 strerror(errno));
		if (!said++)
			pm_prim_say(msg);
		pm_prim_release(h, sizeof(*h));
		h = NULL;
		goto out;
	}
	h->vm = vm;
	pthread_mutex_init(&h->lock, NULL);
	for (unsigned i = 0; i < NARENAS; i++) {
		pthread_mutex_init(&h->arena[i].lock, NULL);
		h->arena[i].base = h->base + ((size_t)i << h->arena_shift);
		h->arena[i].end = h->arena[i].base + ((size_t)1 << h->arena_shift);
	}
	/* The engine closes this heap with its instance (a hook, so that the
	 * engine never calls up into the heap). */
	if (pm_engine_on_close(pm_heap_close) < 0)
		pm_prim_say("pagemu: heap: no room for the close hook; close heaps with their instance by hand\n");
	pm_heaps.heap[slot] = h;
	atomic_store_explicit(&pm_heaps.vm[slot], vm, memory_order_release);
out:
	pthread_mutex_unlock(&pm_heaps.lock);
	return h;
}

struct pm_heap *pm_heap_get(struct pagemu *vm)
{
	struct pm_heap *h = pm_heap_find(vm);

	if (!h && !(h = heap_create(vm)))
		errno = ENOMEM;
	return h;
}

void pm_heap_close(struct pagemu *vm)
{
	struct pm_heap *h;

	pthread_mutex_lock(&pm_heaps.lock);
	for (unsigned i = 0; i < HEAP_TABLE_MAX; i++) {
		if (atomic_load(&pm_heaps.vm[i]) != vm)
			continue;
		h = pm_heaps.heap[i];
		atomic_store(&pm_heaps.vm[i], NULL);
		pm_heaps.heap[i] = NULL;
		pm_tcache_unbind_all(h);
		pm_large_release_all(h);
		pagemu_unmap(vm, h->base, h->reserve);
		for (unsigned k = 0; k < NARENAS; k++)
			pthread_mutex_destroy(&h->arena[k].lock);
		pthread_mutex_destroy(&h->lock);
		pm_prim_release(h, sizeof(*h));
	}
	pthread_mutex_unlock(&pm_heaps.lock);
}

/* fork(): the child must find every lock free and consistent. Taken in
 * the order above (arenas, then each heap lock), before the engine's
 * prepare handler takes vm->lock (handlers registered later run first). */
void pm_heap_fork_prepare(void)
{
	pthread_mutex_lock(&pm_heaps.lock);
	for (unsigned i = 0; i < HEAP_TABLE_MAX; i++) {
		struct pm_heap *h = pm_heaps.heap[i];
		if (!h)
			continue;
		for (unsigned k = 0; k < NARENAS; k++)
			pthread_mutex_lock(&h->arena[k].lock);
		pthread_mutex_lock(&h->lock);
	}
}

void pm_heap_fork_release(void)
{
	for (unsigned i = 0; i < HEAP_TABLE_MAX; i++) {
		struct pm_heap *h = pm_heaps.heap[i];
		if (!h)
			continue;
		pthread_mutex_unlock(&h->lock);
		for (unsigned k = 0; k < NARENAS; k++)
			pthread_mutex_unlock(&h->arena[k].lock);
	}
	pthread_mutex_unlock(&pm_heaps.lock);
}
