/* frame.c - the frame table and its free list (model; no system calls). */

#include "model/model.h"

size_t pm_frames_mem_size(uint64_t n)
{
	return n * sizeof(pm_frame_t) + 2 * n * sizeof(uint32_t);
}

void pm_frames_init(pm_frames_t *ft, uint64_t n, void *mem)
{
	ft->f = mem;
	ft->free = (uint32_t *)(ft->f + n);
	ft->pos = ft->free + n;
	ft->nframes = n;
	ft->nfree = n;
	ft->nstack = 0;
	ft->fresh = 0;
}

/* A frame handed out for the first time: its entry, as a free frame's. */
static void first_use(pm_frame_t *f)
{
	f->slot = PM_NONE;
	f->vpn = PM_NONE;
}

/* Frames fill in order 0, 1, 2, ... as the textbook's tables do: a freed
 * frame is reused first (last freed, first reused), then the fresh ones
 * in order. (As if every frame were on one stack from the start, the
 * lowest on top.) */
uint64_t pm_frames_pop(pm_frames_t *ft)
{
	uint64_t ppn;

	if (ft->nstack) {
		ppn = ft->free[--ft->nstack];
	} else if (ft->fresh < ft->nframes) {
		ppn = ft->fresh++;
		first_use(&ft->f[ppn]);
	} else {
		return PM_NONE;
	}
	ft->nfree--;
	PM_ASSERT(ft->f[ppn].state == PM_FRAME_FREE);
	ft->f[ppn].state = PM_FRAME_USED;
	return ppn;
}

void pm_frames_push(pm_frames_t *ft, uint64_t ppn)
{
	pm_frame_t *f = &ft->f[ppn];

	PM_ASSERT(ppn < ft->nframes && f->state == PM_FRAME_USED && !f->io);
	f->state = PM_FRAME_FREE;
	f->vpn = PM_NONE;
	f->slot = PM_NONE;
	f->pte = NULL;
	f->pins = 0;
	f->io = 0;
	f->wrerr = 0;
	f->obj = 0;
	f->index = 0;
	f->mapcount = 0;
	f->fdirty = 0;
	f->busy = 0;
	f->ra = 0;
	ft->pos[ppn] = (uint32_t)ft->nstack;
	ft->free[ft->nstack++] = (uint32_t)ppn;
	ft->nfree++;
}

/* Put the fresh frames on the stack under the freed ones, highest first,
 * where a table set up with every frame on its stack would hold them
 * (once: for a claim of a fresh frame out of turn). */
static void stack_fresh(pm_frames_t *ft)
{
	uint64_t k = ft->nframes - ft->fresh;

	if (!k)
		return;
	for (uint64_t i = ft->nstack; i-- > 0;) {
		ft->free[i + k] = ft->free[i];
		ft->pos[ft->free[i + k]] = (uint32_t)(i + k);
	}
	for (uint64_t i = 0; i < k; i++) {
		uint64_t ppn = ft->nframes - 1 - i;
		first_use(&ft->f[ppn]);
		ft->free[i] = (uint32_t)ppn;
		ft->pos[ppn] = (uint32_t)i;
	}
	ft->nstack += k;
	ft->fresh = ft->nframes;
}

int pm_frames_claim(pm_frames_t *ft, uint64_t ppn)
{
	uint32_t at, top;

	if (ppn >= ft->nframes || ft->f[ppn].state != PM_FRAME_FREE)
		return -1;
	if (ppn == pm_frames_next(ft))
		return pm_frames_pop(ft) == ppn ? 0 : -1;
	if (ppn >= ft->fresh)
		stack_fresh(ft);
	/* Move the top of the stack into ppn's place, then pop ppn. */
	at = ft->pos[ppn];
	top = ft->free[ft->nstack - 1];
	ft->free[at] = top;
	ft->pos[top] = at;
	ft->nstack--;
	ft->nfree--;
	ft->f[ppn].state = PM_FRAME_USED;
	return 0;
}

int pm_frames_check(const pm_frames_t *ft)
{
	uint64_t i, nfree = 0;

	for (i = 0; i < ft->nframes; i++)
		if (ft->f[i].state == PM_FRAME_FREE)
			nfree++;
	if (nfree != ft->nfree || ft->nfree != ft->nstack + (ft->nframes - ft->fresh))
		return -1;
	for (i = 0; i < ft->nstack; i++)
		if (ft->free[i] >= ft->fresh || ft->f[ft->free[i]].state != PM_FRAME_FREE || ft->pos[ft->free[i]] != i)
			return -1;
	return 0;
}
