/* frame.c - the frame table and its free list (model; no system calls). */
#include <string.h>

#include "model/model.h"

size_t pm_frames_mem_size(uint64_t n)
{
	return n * sizeof(pm_frame_t) + 2 * n * sizeof(uint32_t);
}

void pm_frames_init(pm_frames_t *ft, uint64_t n, void *mem)
{
	uint64_t i;

	ft->f = mem;
	ft->free = (uint32_t *)(ft->f + n);
	ft->pos = ft->free + n;
	ft->nframes = n;
	memset(ft->f, 0, n * sizeof(pm_frame_t));
	/* The stack pops from the end: push high frames first so that frames
	 * fill in order 0, 1, 2, ... as the textbook's tables do. */
	for (i = 0; i < n; i++) {
		ft->f[i].slot = PM_NONE;
		ft->f[i].vpn = PM_NONE;
		ft->free[i] = (uint32_t)(n - 1 - i);
		ft->pos[n - 1 - i] = (uint32_t)i;
	}
	ft->nfree = n;
}

uint64_t pm_frames_pop(pm_frames_t *ft)
{
	uint64_t ppn;

	if (ft->nfree == 0)
		return PM_NONE;
	ppn = ft->free[--ft->nfree];
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
	ft->pos[ppn] = (uint32_t)ft->nfree;
	ft->free[ft->nfree++] = (uint32_t)ppn;
}

int pm_frames_claim(pm_frames_t *ft, uint64_t ppn)
{
	uint32_t at, top;

	if (ppn >= ft->nframes || ft->f[ppn].state != PM_FRAME_FREE)
		return -1;
	/* Move the top of the stack into ppn's place, then pop ppn. */
	at = ft->pos[ppn];
	top = ft->free[ft->nfree - 1];
	ft->free[at] = top;
	ft->pos[top] = at;
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
	if (nfree != ft->nfree)
		return -1;
	for (i = 0; i < ft->nfree; i++)
		if (ft->free[i] >= ft->nframes || ft->f[ft->free[i]].state != PM_FRAME_FREE || ft->pos[ft->free[i]] != i)
			return -1;
	return 0;
}
