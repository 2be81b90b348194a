/* mapping.c - the regions' calls: pagemu_map (anonymous memory, shared
 * memory and files), pagemu_unmap, pagemu_protect, pagemu_advise and
 * pagemu_remap (Linux's mmap.c, mprotect.c, madvise.c and mremap.c).
 * Everything that changes the page table or the region table runs under
 * vm->lock, outside the fault handler. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/engine.h"

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

/* ---- regions -------------------------------------------------------------- */

/* pagemu_map's arguments: 0, or -errno with pagemu_last_error() naming
 * the one at fault. */
static int check_map(struct pagemu *vm, size_t len, int prot, int flags, int fd, off_t off)
{
	int kind = flags & (MAP_SHARED | MAP_PRIVATE);

	if (!len || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))) {
		pm_set_error("pagemu_map: %s", !len ? "len is 0" : "prot has bits other than PROT_READ | PROT_WRITE | PROT_EXEC");
		return -EINVAL;
	}
	if ((kind != MAP_SHARED && kind != MAP_PRIVATE) ||
	    (flags & ~(MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE))) {
		pm_set_error("pagemu_map: flags must be MAP_PRIVATE or MAP_SHARED, with MAP_ANONYMOUS or a file, [| MAP_NORESERVE]");
		return -EINVAL;
	}
	if ((flags & MAP_ANONYMOUS) && (fd != -1 || off != 0)) {
		pm_set_error("pagemu_map: MAP_ANONYMOUS takes fd -1 and offset 0 (fd %d, offset %lld)", fd, (long long)off);
		return -EINVAL;
	}
	if (!(flags & MAP_ANONYMOUS) && (off < 0 || (off & (off_t)(vm->page - 1)))) {
		pm_set_error("pagemu_map: offset %lld is not a multiple of the page size (%zu bytes)", (long long)off, vm->page);
		return -EINVAL;
	}
	if (len > (1ULL << 46) || (!(flags & MAP_ANONYMOUS) && (uint64_t)off > (1ULL << 62) - len)) {
		pm_set_error("pagemu_map: len %zu is too large", len);
		return len > (1ULL << 46) ? -ENOMEM : -EOVERFLOW;
	}
	return 0;
}

/* Address space for rlen bytes, aligned to the emulated page: 0 = none. */
static uintptr_t reserve(struct pagemu *vm, size_t rlen)
{
	size_t host = pm_prim_host_page();
	/* Large emulated pages must start on their own boundary. */
	size_t extra = vm->page > host ? vm->page - host : 0;
	uintptr_t base = (uintptr_t)pm_prim_reserve(rlen + extra), start;

	if (!base)
		return 0;
	start = align_up(base, vm->page);
	if (start > base)
		pm_prim_release((void *)base, start - base);
	if (base + rlen + extra > start + rlen)
		pm_prim_release((void *)(start + rlen), base + rlen + extra - (start + rlen));
	return start;
}

/* A new region of rlen bytes at start, in space, mapping obj (0:
 * anonymous private) from page pgoff. vm->lock held. NULL when the table
 * is full. */
static pm_region_t *region_add_in(struct pagemu *vm, unsigned space, uintptr_t start, size_t rlen, int prot,
				  uint32_t obj, int shared, uint64_t pgoff)
{
	pm_region_t *r = pm_region_new(vm, space, start, start + rlen, prot);

	if (!r)
		return NULL;
	r->obj = obj;
	r->shared = shared;
	r->pgoff = pgoff;
	if (obj && (prot & PROT_WRITE))
		pm_object(vm, obj)->wmapped = 1;
	if (space == vm->cur)
		pm_mmu_region_added(vm, pm_va_vpn(vm, start), pm_va_vpn(vm, start + rlen - 1));
	return r;
}

static pm_region_t *region_add(struct pagemu *vm, uintptr_t start, size_t rlen, int prot, uint32_t obj, int shared,
			       uint64_t pgoff)
{
	return region_add_in(vm, vm->cur, start, rlen, prot, obj, shared, pgoff);
}

/* Call fn for each run [a, b) of [start, end) that the instance's regions
 * hold (held = 1) or not (0): runs end at the regions' edges. */
static void for_runs(struct pagemu *vm, uintptr_t start, uintptr_t end, void (*fn)(void *, uintptr_t, uintptr_t, int),
		     void *arg)
{
	uintptr_t a = start;

	while (a < end) {
		uintptr_t b = end;
		int held = 0;
		for (size_t i = 0; i < vm->nregions_hw; i++) {
			const pm_region_t *r = &vm->regions[i];
			if (!r->live)
				continue;
			held |= r->start <= a && a < r->end;
			if (r->start > a && r->start < b)
				b = r->start;
			if (r->end > a && r->end < b)
				b = r->end;
		}
		fn(arg, a, b, held);
		a = b;
	}
}

/* arg: the region was the current space's (its frames may be mapped
 * there), else NULL. */
static void release_run(void *arg, uintptr_t a, uintptr_t b, int held)
{
	if (!held)
		pm_prim_release((void *)a, b - a);
	else if (arg)
		pm_prim_unmap_page((void *)a, b - a);
}

/* The address space [start, end) a region of space id had goes back to
 * the kernel, except the parts other regions (of other spaces) still
 * hold: there a region of the current space leaves a plain reservation
 * (its frames unmapped), and one of another space, which maps nothing,
 * leaves the VA as it is (the current space's pages may be mapped there).
 * The region is out of the table already. vm->lock held. */
static void release_va(struct pagemu *vm, unsigned id, uintptr_t start, uintptr_t end)
{
	if (vm->nspaces == 1) {
		pm_prim_release((void *)start, end - start);
		return;
	}
	for_runs(vm, start, end, release_run, id == vm->cur ? vm : NULL);
}

struct fixed_arg {
	uintptr_t reserved_to;            /* runs before this one were reserved here */
	int       failed;
};

static void reserve_run(void *arg, uintptr_t a, uintptr_t b, int held)
{
	struct fixed_arg *f = arg;

	if (f->failed)
		return;
	if (!held && pm_prim_reserve_at((void *)a, b - a) < 0) {
		f->failed = 1;
		return;
	}
	f->reserved_to = b;
}

/* A fixed address for space: [start, start + rlen) holds no region of
 * space, and the parts no region of the instance holds are free in the
 * process (reserved now). 0, or -EEXIST with nothing reserved. vm->lock
 * held. */
static int reserve_fixed(struct pagemu *vm, unsigned space, uintptr_t start, size_t rlen)
{
	struct fixed_arg f = { start, 0 };
	uintptr_t end = start + rlen;

	for (size_t i = 0; i < vm->nregions_hw; i++) {
		const pm_region_t *r = &vm->regions[i];
		if (r->live && r->space == space && r->start < end && r->end > start) {
			pm_set_error("pagemu_space_map: [%p, +%zu) overlaps a region of the space already",
				     (void *)start, rlen);
			return -EEXIST;
		}
	}
	for_runs(vm, start, end, reserve_run, &f);
	if (f.failed) {
		for_runs(vm, start, f.reserved_to, release_run, NULL);   /* (only the free parts go: nothing is mapped) */
		pm_set_error("pagemu_space_map: [%p, +%zu) is mapped by something that is not the instance's",
			     (void *)start, rlen);
		return -EEXIST;
	}
	return 0;
}

/* pagemu_map into space (addr 0: where the kernel chooses). */
static void *map_in(struct pagemu *vm, unsigned space, uintptr_t addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	int rc = check_map(vm, len, prot, flags, fd, off), obj = 0;
	int anon_shared = (flags & MAP_ANONYMOUS) && (flags & MAP_SHARED);
	uintptr_t start = addr;
	size_t rlen;
	pm_region_t *r;

	if (rc == 0 && (addr & (vm->page - 1))) {
		pm_set_error("pagemu_space_map: addr %p is not a multiple of the page size (%zu bytes)", (void *)addr,
			     vm->page);
		rc = -EINVAL;
	}
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	rlen = align_up(len, vm->page);
	if (!addr && !(start = reserve(vm, rlen))) {
		errno = ENOMEM;
		return NULL;
	}
	pm_lock(vm);
	if (addr && (rc = reserve_fixed(vm, space, start, rlen)) < 0) {
		pm_unlock(vm);
		errno = -rc;
		return NULL;
	}
	/* A file, or shared anonymous memory: its object. */
	if (!(flags & MAP_ANONYMOUS) || anon_shared)
		obj = pm_object_open(vm, fd, prot, (flags & MAP_SHARED) != 0, anon_shared, rlen);
	r = obj >= 0 ? region_add_in(vm, space, start, rlen, prot, (uint32_t)obj, (flags & MAP_SHARED) != 0,
				     (flags & MAP_ANONYMOUS) ? 0 : (uint64_t)off >> vm->page_shift)
		     : NULL;
	if (!r && obj > 0 && pm_object_unused(vm, (uint32_t)obj))
		pm_object_close(vm, (uint32_t)obj);
	if (!r)
		release_va(vm, space, start, start + rlen);
	pm_unlock(vm);
	if (!r) {
		errno = obj < 0 ? -obj : ENOMEM;
		return NULL;
	}
	return (void *)start;
}

void *pagemu_map(pagemu_t *vm, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!vm) {
		errno = EINVAL;
		return NULL;
	}
	return map_in(vm, vm->cur, 0, len, prot, flags, fd, off);
}

void *pagemu_space_map(pagemu_space_t *sp, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!sp || !sp->live) {
		pm_set_error("pagemu_space_map: %s", sp ? "the space was freed" : "sp is NULL");
		errno = EINVAL;
		return NULL;
	}
	return map_in(sp->vm, sp->id, (uintptr_t)addr, len, prot, flags, fd, off);
}

void pm_mapping_release_all(struct pagemu *vm)
{
	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!r->live)
			continue;
		pm_region_delete(vm, r);
		release_va(vm, vm->cur, r->start, r->end);   /* (every region goes: none is left to keep) */
	}
}

/* Apply fn to the part of every region of vm inside [lo, hi), splitting
 * regions at the edges. Called with vm->lock held. */
typedef int (*range_fn)(struct pagemu *vm, pm_region_t *r, void *arg);

static int for_range(struct pagemu *vm, uintptr_t lo, uintptr_t hi, range_fn fn, void *arg)
{
	int rc = 0, any = 0;

	for (size_t i = 0; i < vm->nregions_hw && rc == 0; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!pm_region_here(vm, r) || r->end <= lo || r->start >= hi)
			continue;
		any = 1;
		if (r->start < lo && !(r = pm_region_split(vm, r, lo)))
			return -ENOMEM;
		if (r->end > hi && !pm_region_split(vm, r, hi))
			return -ENOMEM;
		rc = fn(vm, r, arg);
	}
	return rc ? rc : any ? 0 : -ENOENT;
}

/* The region r goes, of whichever space: its pages, its address space
 * (where no other space's region holds it; arg non-NULL: the range stays
 * reserved, PROT_NONE, for the caller to map over, so that no other
 * mapping takes it meanwhile and no frame stays mapped there should the
 * caller's mapping fail), its object's pages when it was the last
 * mapping. */
static int unmap_region(struct pagemu *vm, pm_region_t *r, void *arg)
{
	uintptr_t start = r->start, end = r->end;
	uint64_t first = pm_va_vpn(vm, start), last = pm_va_vpn(vm, end - 1);
	unsigned id = r->space;
	uint32_t obj = r->obj;

	if (id == vm->cur)
		pm_mmu_range_released(vm, first, last);
	pm_reclaim_release_range(vm, id, first, last);
	pm_region_delete(vm, r);
	if (!arg)
		release_va(vm, id, start, end);
	else
		pm_prim_unmap_page((void *)start, end - start);
	pm_filemap_release(vm, obj);     /* its last mapping: the file's pages go */
	return 0;
}

/* Unmap every region of space id (any space; its PTEs released, its
 * address space released where no other space holds it); shared_too = 0:
 * its private regions only (execve). vm->lock held, no read in flight. */
void pm_mapping_drop_space(struct pagemu *vm, unsigned id, int shared_too)
{
	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!r->live || r->space != id || (!shared_too && r->shared))
			continue;
		if (id == vm->cur && r->obj && r->shared)
			pm_filemap_sync(vm, r->start, r->end, 0);   /* (the others' dirty bits stay with the frames) */
		unmap_region(vm, r, NULL);
	}
}

static void locked_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	PM_UNUSED(vpn);
	*(int *)ctx |= pte_locked(*pte);
}

/* Is a page of [lo, hi) being read in (its PTE locked)? */
static int range_locked(struct pagemu *vm, uintptr_t lo, uintptr_t hi)
{
	int locked = 0;

	if (!pm_inflight(vm))
		return 0;
	pm_pt_walk_range(&vm->pt, pm_va_vpn(vm, lo), pm_va_vpn(vm, hi - 1), locked_visit, &locked, 0);
	return locked;
}

static int check_range(struct pagemu *vm, const void *addr, size_t len, uintptr_t *lo, uintptr_t *hi)
{
	uintptr_t a = (uintptr_t)addr;

	if (!vm || (a & (vm->page - 1)) || !len || a + len < a)
		return -EINVAL;
	*lo = a;
	*hi = align_up(a + len, vm->page);
	return 0;
}

static int unmap_range(pagemu_t *vm, void *addr, size_t len, int keep_va)
{
	static char keep;
	uintptr_t lo, hi;
	int rc = check_range(vm, addr, len, &lo, &hi);

	if (rc < 0)
		return rc;
	pm_lock(vm);
	while (range_locked(vm, lo, hi))
		pm_wait_busy(vm);        /* a page being read in is its reader's until it is in */
	pm_filemap_sync(vm, lo, hi, 0);  /* a shared mapping's writes reach its file */
	pm_swapio_drain(vm);        /* no write may land in a slot freed here */
	rc = for_range(vm, lo, hi, unmap_region, keep_va ? &keep : NULL);
	pm_writeback_trim_swap(vm, 0);     /* the freed slots' disk blocks, once enough wait */
	pm_unlock(vm);
	return rc == -ENOENT ? 0 : rc;       /* like munmap: nothing there is fine */
}

int pagemu_unmap(pagemu_t *vm, void *addr, size_t len)
{
	return unmap_range(vm, addr, len, 0);
}

int pm_mapping_yield(pagemu_t *vm, void *addr, size_t len)
{
	return unmap_range(vm, addr, len, 1);
}

struct protect_arg {
	int prot;
};

static void protect_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct pagemu *vm = ctx;

	if (!pte_mapped(*pte))
		return;
	if (vm->frames.f[pte_ppn(*pte)].pins) {
		/* Pinned pages stay mapped: change their protection in place. */
		pm_region_t *r = pm_region_find(vm, pm_vpn_va(vm, vpn));
		int prot = r ? r->prot : PROT_NONE;
		if (!pte_dirty(*pte))
			prot &= ~PROT_WRITE;
		pm_protect_pte(vm, vpn, pte, prot);
		return;
	}
	pm_shootdown(vm, vpn, pte);   /* the next touch maps it with the new protection */
}

static int protect_region(struct pagemu *vm, pm_region_t *r, void *arg)
{
	r->prot = ((struct protect_arg *)arg)->prot;
	if (r->obj && (r->prot & PROT_WRITE))
		pm_object(vm, r->obj)->wmapped = 1;
	pm_pt_walk_range(&vm->pt, pm_va_vpn(vm, r->start), pm_va_vpn(vm, r->end - 1), protect_visit, vm, 0);
	return 0;
}

int pagemu_protect(pagemu_t *vm, void *addr, size_t len, int prot)
{
	struct protect_arg a = { prot };
	uintptr_t lo, hi;
	int rc = check_range(vm, addr, len, &lo, &hi);

	if (rc < 0)
		return rc;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -EINVAL;
	pm_lock(vm);
	/* A shared mapping may be made writable only when its file is open
	 * for writing (mprotect's EACCES). */
	for (size_t i = 0; i < vm->nregions_hw && (prot & PROT_WRITE); i++) {
		pm_region_t *r = &vm->regions[i];
		if (pm_region_here(vm, r) && r->end > lo && r->start < hi && r->obj && r->shared && !pm_object(vm, r->obj)->writable) {
			pm_set_error("pagemu_protect: PROT_WRITE on a shared mapping of a file open read-only");
			pm_unlock(vm);
			return -EACCES;
		}
	}
	rc = for_range(vm, lo, hi, protect_region, &a);
	pm_unlock(vm);
	return rc == -ENOENT ? -ENOMEM : rc;  /* like mprotect on unmapped memory */
}


/* ---- advice ------------------------------------------------------------------ */

/* MADV_DONTNEED: the page goes from this mapping (anonymous memory: its
 * contents too; the next touch is demand-zero, or reads the object). */
static void discard_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct pagemu *vm = ctx;

	if (pte_stale(*pte))
		pm_mmu_flush_stale(vm);          /* (the region stays: its stale mappings go now) */
	if (pte_window(*pte)) {
		pm_mmu_window_void(vm, vpn, pte);
		return;
	}
	pm_shootdown(vm, vpn, pte);              /* mapped or parked: unmapped */
	pm_page_release(vm, vpn, pte);
}

int pagemu_advise(pagemu_t *vm, void *addr, size_t len, int advice)
{
	uintptr_t lo, hi;
	int rc = check_range(vm, addr, len, &lo, &hi), any = 0;

	if (rc < 0)
		return rc;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
	case MADV_DONTFORK: case MADV_DOFORK: case MADV_HUGEPAGE: case MADV_NOHUGEPAGE:
	case MADV_DONTDUMP: case MADV_DODUMP: case MADV_MERGEABLE: case MADV_UNMERGEABLE:
		break;                           /* accepted; pagemu's paging does not change */
	case MADV_DONTNEED: case MADV_FREE:
		break;
	default:
		pm_set_error("pagemu_advise: advice %d is not one pagemu knows", advice);
		return -EINVAL;
	}
	pm_lock(vm);
	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		any |= pm_region_here(vm, r) && r->end > lo && r->start < hi;
	}
	if (any && (advice == MADV_DONTNEED || advice == MADV_FREE)) {
		while (range_locked(vm, lo, hi))
			pm_wait_busy(vm);
		pm_swapio_drain(vm);             /* no write may land in a slot freed here */
		for (size_t i = 0; i < vm->nregions_hw; i++) {
			pm_region_t *r = &vm->regions[i];
			uintptr_t a = r->start > lo ? r->start : lo, b = r->end < hi ? r->end : hi;
			if (pm_region_here(vm, r) && a < b)
				pm_pt_walk_range(&vm->pt, pm_va_vpn(vm, a), pm_va_vpn(vm, b - 1), discard_visit, vm, 0);
		}
	}
	pm_unlock(vm);
	return any ? 0 : -ENOMEM;
}

/* ---- remapping ------------------------------------------------------------------ */

/* Copy the pages of [from, from + len) that exist (resident or in swap)
 * to the same offsets from to: a page never touched, or dropped, reads
 * as zeros in an anonymous region and as its file's bytes in a private
 * file mapping, and so does the same page of the new region. So a
 * sparse region (a large reservation with a few pages used) costs its
 * pages, not its length. Each page is copied without vm->lock, through
 * faults, as any program's memcpy. */
static void copy_pages(struct pagemu *vm, uintptr_t from, uintptr_t to, size_t len)
{
	uint64_t v = pm_va_vpn(vm, from), last = pm_va_vpn(vm, from + len - 1);

	for (;;) {
		pm_pte_t *p;
		pm_lock(vm);
		do {
			v = pm_pt_next(&vm->pt, v, last);
			p = v != PM_NONE ? pm_pt_lookup(&vm->pt, v, NULL) : NULL;
		} while (p && pte_window(*p) && !pte_locked(*p) && ++v <= last);  /* (a reservation: never touched) */
		pm_unlock(vm);
		if (v == PM_NONE || v > last)
			return;
		memcpy((void *)(to + (pm_vpn_va(vm, v) - from)), (const void *)pm_vpn_va(vm, v), vm->page);
		if (v++ == last)
			return;
	}
}

void *pagemu_remap(pagemu_t *vm, void *old, size_t old_len, size_t new_len, int flags)
{
	uintptr_t a = (uintptr_t)old, start;
	size_t olen, nlen;
	pm_region_t *r;

	if (!vm || (a & (vm->page - 1)) || !new_len || (flags & ~MREMAP_MAYMOVE)) {
		if (vm)
			pm_set_error("pagemu_remap: %s", (flags & ~MREMAP_MAYMOVE) ? "only MREMAP_MAYMOVE is supported"
							 : "old must be page aligned and new_len not 0");
		errno = EINVAL;
		return NULL;
	}
	olen = align_up(old_len, vm->page);
	nlen = align_up(new_len, vm->page);
	if (nlen <= olen) {                      /* shrinking: the tail goes */
		if (nlen < olen && pagemu_unmap(vm, (char *)old + nlen, olen - nlen) < 0) {
			errno = EFAULT;
			return NULL;
		}
		return old;
	}
	if (!(flags & MREMAP_MAYMOVE)) {
		errno = ENOMEM;                  /* (pagemu never grows a region in place) */
		return NULL;
	}
	pm_lock(vm);
	r = pm_region_find(vm, a);
	if (!r || r->start != a || r->end - r->start != olen) {
		pm_unlock(vm);
		pm_set_error("pagemu_remap: [%p, +%zu) is not one whole region of the instance", old, old_len);
		errno = EFAULT;
		return NULL;
	}
	int prot = r->prot, shared = r->shared;
	uint32_t obj = r->obj;
	uint64_t pgoff = r->pgoff;
	pm_unlock(vm);
	if (!(start = reserve(vm, nlen))) {
		errno = ENOMEM;
		return NULL;
	}
	pm_lock(vm);
	int copy = !obj || !shared;
	r = region_add(vm, start, nlen, copy ? PROT_READ | PROT_WRITE : prot, obj, shared, pgoff);
	pm_unlock(vm);
	if (!r) {
		pm_prim_release((void *)start, nlen);
		errno = ENOMEM;
		return NULL;
	}
	/* An object's pages are the object's: the new region finds them in
	 * the page cache (a private mapping's copies are copied). Anonymous
	 * memory is copied, page by page, through faults. */
	if (copy) {
		if (!(prot & PROT_READ))
			pagemu_protect(vm, old, olen, prot | PROT_READ);
		copy_pages(vm, a, start, olen);
		if (prot != (PROT_READ | PROT_WRITE))
			pagemu_protect(vm, (void *)start, nlen, prot);
	}
	pagemu_unmap(vm, old, olen);
	return (void *)start;
}
