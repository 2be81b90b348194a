/* heaplarge.c - blocks of LARGE_MIN bytes and more: each in a pagemu region
 * of its own, given back with pagemu_unmap at free (as glibc does with
 * mmap). An open-addressing table in real memory, under the heap lock,
 * maps a payload to its region. */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#include "heap/heap_impl.h"

static size_t large_hash(uintptr_t p, size_t cap)
{
	return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);
}

large_ent_t *pm_large_find(struct pm_heap *h, uintptr_t p)
{
	if (!h->large)
		return NULL;
	for (size_t i = large_hash(p, h->large_cap);; i = (i + 1) & (h->large_cap - 1)) {
		if (h->large[i].p == p)
			return &h->large[i];
		if (h->large[i].p == 0)
			return NULL;
	}
}

static int large_insert(struct pm_heap *h, const large_ent_t *e)
{
	if ((h->large_used + 1) * 2 > h->large_cap) {
		size_t ncap = h->large_cap ? h->large_cap * 2 : 256;
		large_ent_t *old = h->large, *nt = pm_prim_alloc_tables(ncap * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		h->large = nt;
		h->large_used = 0;
		size_t ocap = h->large_cap;
		h->large_cap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].p > LARGE_DELETED)
				large_insert(h, &old[i]);
		if (old)
			pm_prim_release(old, ocap * sizeof(*old));
	}
	size_t i = large_hash(e->p, h->large_cap);
	while (h->large[i].p > LARGE_DELETED)
		i = (i + 1) & (h->large_cap - 1);
	if (h->large[i].p == 0)
		h->large_used++;
	h->large[i] = *e;
	return 0;
}

void *pm_large_alloc(struct pm_heap *h, struct tcache *c, size_t n, size_t align)
{
	size_t len = n + (align > ALIGN ? align : 0);
	large_ent_t e = { 0 };
	char *base;

	/* A block that could never be resident nor swapped out whole fails
	 * now, not at a later touch with SIGBUS. */
	if (len < n || len > pagemu_capacity(h->vm)) {
		errno = ENOMEM;
		return NULL;
	}
	base = pagemu_map(h->vm, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!base) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&h->lock);
	e.base = (uintptr_t)base;
	e.maplen = (len + pagemu_page_size(h->vm) - 1) & ~(pagemu_page_size(h->vm) - 1);
	e.p = (e.base + align - 1) & ~(uintptr_t)(align - 1);
	e.req = n;
	if (large_insert(h, &e) < 0) {
		pthread_mutex_unlock(&h->lock);
		pagemu_unmap(h->vm, base, len);
		errno = ENOMEM;
		return NULL;
	}
	h->large_blocks++;
	h->large_bytes += e.maplen;
	if (h->break_bytes + h->large_bytes > h->heap_peak)
		h->heap_peak = h->break_bytes + h->large_bytes;
	pthread_mutex_unlock(&h->lock);
	pm_heap_count(h, c, (int64_t)n, 1, 0);
	return (void *)e.p;
}

size_t pm_large_free(struct pm_heap *h, large_ent_t *e)
{
	if (e->pinned) {
		pagemu_unpin(h->vm, (void *)e->p, e->base + e->maplen - e->p);
		h->pinned -= pm_heap_pin_charge(h->vm, (void *)e->p, e->base + e->maplen - e->p);
	}
	pagemu_unmap(h->vm, (void *)e->base, e->maplen);
	h->large_blocks--;
	h->large_bytes -= e->maplen;
	e->p = LARGE_DELETED;
	return e->req;
}

void pm_large_release_all(struct pm_heap *h)
{
	for (size_t i = 0; i < h->large_cap; i++)
		if (h->large[i].p > LARGE_DELETED)
			pm_large_free(h, &h->large[i]);
	if (h->large)
		pm_prim_release(h->large, h->large_cap * sizeof(*h->large));
	h->large = NULL;
}
