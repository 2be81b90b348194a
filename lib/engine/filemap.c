/* filemap.c - writing mapped files back: pagemu_sync (msync), the
 * write-back that unmap and close owe a shared mapping's file, and the
 * hand-over of shared mappings to the kernel at fork.
 *
 * A write through a shared mapping dirties the page in its frame (the
 * PTE's D bit, or the frame's fdirty once a dirty mapping went). The page
 * reaches its file when it is evicted, when pagemu_sync asks, when its
 * range is unmapped and when the instance closes. Until then the kernel's
 * own page cache holds the file's older bytes: read(2) of the file sees
 * a change made through pagemu's mapping only after one of those (as with
 * any write-back cache that is not the kernel's).
 *
 * Everything here runs outside the fault handler, under vm->lock. */
#include <errno.h>
#include <sys/mman.h>

#include "engine/engine.h"

#define BATCH PM_IO_MAX_RUN

struct sync_arg {
	struct pagemu *vm;
	uint64_t ppns[BATCH];                 /* dirty object frames, to write */
	unsigned n;
	int      invalidate;                  /* MS_INVALIDATE: collect every object frame */
	int      started;                     /* writes started */
};

static void flush(struct sync_arg *a)
{
	if (a->n) {
		int rc = pm_writeback_submit(a->vm, a->ppns, a->n);
		a->started += rc > 0 ? rc : 0;
	}
	a->n = 0;
}

static void dirty_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct sync_arg *a = ctx;
	pm_frame_t *f;

	PM_UNUSED(vpn);
	if (!pte_present(*pte))
		return;
	f = &a->vm->frames.f[pte_ppn(*pte)];
	if (!f->obj || f->io || !pm_writeback_dirty(a->vm, pte_ppn(*pte)))
		return;
	a->ppns[a->n++] = pte_ppn(*pte);
	if (a->n == BATCH)
		flush(a);
}

static void invalidate_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct sync_arg *a = ctx;

	PM_UNUSED(vpn);
	if (pte_present(*pte) && a->vm->frames.f[pte_ppn(*pte)].obj)
		pm_reclaim_invalidate(a->vm, pte_ppn(*pte));
}

struct err_arg {
	struct pagemu *vm;
	int err;
};

/* A page of the range whose write failed is dirty again, with wrerr. */
static void error_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct err_arg *a = ctx;
	const pm_frame_t *f;

	PM_UNUSED(vpn);
	if (!pte_present(*pte))
		return;
	f = &a->vm->frames.f[pte_ppn(*pte)];
	if (f->obj && f->wrerr && pm_writeback_dirty(a->vm, pte_ppn(*pte)) && !a->err)
		a->err = -(int)f->wrerr;
}

/* The part of r in [lo, hi), as pages. */
static int clip(struct pagemu *vm, const pm_region_t *r, uintptr_t lo, uintptr_t hi, uint64_t *first, uint64_t *last)
{
	uintptr_t a = r->start > lo ? r->start : lo, b = r->end < hi ? r->end : hi;

	if (!pm_region_here(vm, r) || a >= b)
		return 0;
	*first = pm_va_vpn(vm, a);
	*last = pm_va_vpn(vm, b - 1);
	return 1;
}

int pm_filemap_sync(struct pagemu *vm, uintptr_t lo, uintptr_t hi, int flags)
{
	struct sync_arg a = { .vm = vm, .n = 0, .invalidate = (flags & MS_INVALIDATE) != 0, .started = 0 };
	struct err_arg e = { vm, 0 };
	uint64_t first, last;
	int any = 0;

	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!clip(vm, r, lo, hi, &first, &last))
			continue;
		any = 1;
		if (r->obj && r->shared)
			pm_pt_walk_range(&vm->pt, first, last, dirty_visit, &a, 0);
	}
	if (!any)
		return -ENOMEM;                  /* like msync over unmapped memory */
	flush(&a);
	if (!(flags & MS_ASYNC) || a.invalidate)
		pm_swapio_drain(vm);
	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!r->obj || !clip(vm, r, lo, hi, &first, &last))
			continue;
		if (!(flags & MS_ASYNC))
			pm_pt_walk_range(&vm->pt, first, last, error_visit, &e, 0);
		if (a.invalidate)
			pm_pt_walk_range(&vm->pt, first, last, invalidate_visit, &a, 0);
		/* MS_SYNC: to the disk, as msync's does (fdatasync). */
		if ((flags & MS_SYNC) && r->shared && a.started)
			pm_prim_datasync(pm_object(vm, r->obj)->fd);
	}
	return e.err;
}

int pagemu_sync(pagemu_t *vm, void *addr, size_t len, int flags)
{
	uintptr_t a = (uintptr_t)addr;
	int rc;

	if (!vm || (a & (vm->page - 1)) || a + len < a) {
		if (vm)
			pm_set_error("pagemu_sync: addr %p is not a multiple of the page size (%zu bytes)", addr, vm->page);
		return -EINVAL;
	}
	if ((flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) || ((flags & MS_ASYNC) && (flags & MS_SYNC))) {
		pm_set_error("pagemu_sync: flags must be MS_ASYNC or MS_SYNC, [| MS_INVALIDATE]");
		return -EINVAL;
	}
	if (!len)
		return 0;
	pm_lock(vm);
	rc = pm_filemap_sync(vm, a, (a + len + vm->page - 1) & ~(uintptr_t)(vm->page - 1), flags);
	pm_unlock(vm);
	return rc;
}

int pm_filemap_release(struct pagemu *vm, uint32_t obj)
{
	int rc = 0;

	if (!obj || !pm_object_unused(vm, obj))
		return 0;
	pm_readahead_drain(vm);          /* (windows in flight hold its frames) */
	rc = pm_reclaim_drop_object(vm, obj);
	pm_object_close(vm, obj);
	return rc;
}

int pm_filemap_exit(pagemu_t *vm)
{
	int rc;

	pm_lock(vm);
	rc = pm_filemap_sync(vm, 0, UINTPTR_MAX & ~(uintptr_t)(vm->page - 1), 0);
	pm_unlock(vm);
	return rc == -ENOMEM ? 0 : rc;           /* -ENOMEM: no region at all */
}

void pm_filemap_close(struct pagemu *vm)
{
	int any = 0;

	pm_filemap_sync(vm, 0, UINTPTR_MAX & ~(uintptr_t)(vm->page - 1), 0);
	pm_readahead_drain(vm);
	for (uint32_t obj = 1; obj <= PM_OBJECTS_MAX && !any; obj++)
		any = pm_object(vm, obj)->live;
	/* Every region goes next: its real mappings go now, one call a
	 * region, not one a page as each object page is dropped. */
	if (any)
		pm_mmu_drop_all(vm, 0);
	for (uint32_t obj = 1; obj <= PM_OBJECTS_MAX; obj++) {
		if (!pm_object(vm, obj)->live)
			continue;
		pm_reclaim_drop_object(vm, obj);
		pm_object_close(vm, obj);
	}
}

/* ---- fork: shared mappings go to the kernel ------------------------------------- */

/* After a fork, parent and child must see each other's writes to a shared
 * mapping, and each side's pool is its own. So before the fork, every
 * shared mapping (of a file, or shared anonymous memory) becomes the
 * kernel's: its dirty pages go to the file, then the file is mapped at
 * the region's addresses, shared, and the region is pagemu's no more. In
 * both processes the kernel pages it from then on (and counts it no
 * more). Returns the regions handed over. */
int pm_filemap_fork(struct pagemu *vm)
{
	int n = 0;

	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!pm_region_here(vm, r) || !r->obj || !r->shared)
			continue;
		uintptr_t start = r->start, end = r->end;
		uint32_t obj = r->obj;
		uint64_t first = pm_va_vpn(vm, start), last = pm_va_vpn(vm, end - 1);
		pm_filemap_sync(vm, start, end, 0);
		pm_mmu_range_released(vm, first, last);
		pm_reclaim_release_range(vm, vm->cur, first, last);
		if (pm_prim_map_file((void *)start, end - start, r->prot, pm_object(vm, obj)->fd,
				     r->pgoff << vm->page_shift) < 0) {
			/* (cannot happen short of ENOMEM: the pages stay
			 * inaccessible, and the child's copy is its own) */
			pm_prim_say("pagemu: fork: a shared mapping could not be handed to the kernel; it is lost to both processes\n");
		}
		pm_region_delete(vm, r);
		pm_filemap_release(vm, obj);
		n++;
	}
	return n;
}

/* ---- coherence with the file's own reads and writes ----------------------------- */

/* The file fd refers to, when it is a regular file: 1 and its identity
 * (asked before vm->lock is taken: most I/O is of other files, pipes and
 * sockets, and needs no lock). */
static int regular_file(struct pagemu *vm, int fd, uint64_t *dev, uint64_t *ino)
{
	uint64_t size;
	int acc;

	return *(volatile uint64_t *)&vm->nobjects &&
	       pm_prim_file_info(fd, dev, ino, &size, &acc) == 0;
}

int pm_filemap_file_written(struct pagemu *vm, int fd, uint64_t off, uint64_t len)
{
	uint64_t dev, ino;
	uint32_t obj;

	if (!regular_file(vm, fd, &dev, &ino))
		return 0;
	pm_lock(vm);
	obj = pm_object_find(vm, dev, ino);
	if (obj)
		pm_reclaim_file_resized(vm, obj);
	for (uint64_t at = off; obj && at < off + len;) {
		uint64_t index = at >> vm->page_shift, ppn = pm_pcache_lookup(vm, obj, index);
		uint64_t pg = index << vm->page_shift, end = pg + vm->page < off + len ? pg + vm->page : off + len;
		if (ppn != PM_NONE && !vm->frames.f[ppn].busy && pm_reclaim_invalidate(vm, ppn) < 0) {
			/* Dirty, pinned or being written: the file's new bytes go
			 * into the frame, as into the kernel's one page cache. */
			pm_prim_pread(pm_object(vm, obj)->fd, pm_frame_addr(vm, ppn) + (at - pg), end - at, at);
		}
		at = end;
	}
	pm_unlock(vm);
	return 0;
}

int pm_filemap_file_reading(struct pagemu *vm, int fd, uint64_t off, uint64_t len)
{
	uint64_t batch[BATCH], dev, ino;
	unsigned n = 0;
	uint32_t obj;

	if (!regular_file(vm, fd, &dev, &ino))
		return 0;
	pm_lock(vm);
	obj = pm_object_find(vm, dev, ino);
	for (uint64_t index = off >> vm->page_shift; obj && (index << vm->page_shift) < off + len; index++) {
		uint64_t ppn = pm_pcache_lookup(vm, obj, index);
		if (ppn != PM_NONE && !vm->frames.f[ppn].busy && !vm->frames.f[ppn].io && pm_writeback_dirty(vm, ppn))
			batch[n++] = ppn;
		if (n == BATCH) {
			pm_writeback_submit(vm, batch, n);
			n = 0;
		}
	}
	if (n)
		pm_writeback_submit(vm, batch, n);
	if (obj)
		pm_swapio_drain(vm);
	pm_unlock(vm);
	return 0;
}
