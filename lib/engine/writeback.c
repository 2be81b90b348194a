/* writeback.c - dirty frames written out: an anonymous page to a swap
 * slot, a file's page to its file; the batch the policy will evict next
 * written ahead of the hand (pre-cleaning: for CLOCK, unreferenced frames
 * ahead of the hand, already unmapped by it, in one batch of writev
 * runs); and each write's completion. A page written while its write is
 * in flight is simply dirty again.
 *
 * Everything here: signal context; called with vm->lock held. */
#include <errno.h>
#include <sys/mman.h>

#include "engine/engine.h"

/* Is the page in frame ppn dirty? An object page is when any PTE that
 * maps it says so, or a dirty mapping of it went (fdirty). The PTEs of
 * an object no region ever mapped writable cannot be dirty: no walk. */
static void dirty_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(vm);
	PM_UNUSED(vpn);
	*(int *)arg |= pte_dirty(*pte);
}

int pm_writeback_dirty(struct pagemu *vm, uint64_t ppn)
{
	const pm_frame_t *f = &vm->frames.f[ppn];
	int dirty = f->fdirty;

	if (!f->obj)
		return pte_dirty(*f->pte);
	if (!dirty && pm_object(vm, f->obj)->wmapped)
		pm_rmap_walk(vm, ppn, dirty_visit, &dirty);
	return dirty;
}


/* A run's write could not even be queued: each frame's write failed. */
static void run_failed(struct pagemu *vm, const uint64_t *run, unsigned nrun)
{
	for (unsigned j = 0; j < nrun; j++)
		pm_writeback_done(vm, run[j], -EIO);
}

/* Start writing the dirty frames ppns[0..n) to swap, in runs of
 * consecutive slots. A dirty page gives up its old slot (its copy there is
 * stale) and takes a slot from the allocator: the one after the run's
 * last when it is free, so that a batch tends to be one run and one
 * writev, else the lowest free slot, so that freed slots are written
 * again first and the file stays compact. With checksums on, each page's
 * crc32c is taken once it is write-protected, before its write is
 * submitted. Returns frames whose write started, or -EFBIG when every
 * slot is in use before the first. */
static int writeback_start(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	uint64_t run[PM_IO_MAX_RUN], run_slot = 0;
	unsigned nrun = 0, started = 0;
	int rc = 0;

	for (unsigned i = 0; i <= n; i++) {
		pm_frame_t *f = i < n ? &vm->frames.f[ppns[i]] : NULL;
		if (f) {
			if (f->slot != PM_NONE)
				pm_swapmap_free(&vm->swapmap, f->slot);
			f->slot = pm_swapmap_alloc(&vm->swapmap, nrun ? run_slot + nrun : PM_NONE);
			if (f->slot == PM_NONE) {
				rc = -EFBIG;
				f = NULL;
			}
		}
		/* Close the current run when this frame does not extend it. */
		if (nrun && (!f || f->slot != run_slot + nrun || nrun == PM_IO_MAX_RUN)) {
			if (pm_swapio_write(vm, run_slot, run, nrun) == 0)
				PM_COUNT(vm, swap_writes);
			else
				run_failed(vm, run, nrun);
			nrun = 0;
		}
		if (!f)
			continue;
		/* Write-protect first, so that a write during the I/O faults and
		 * marks the page dirty again: the swap copy is then not trusted
		 * (nor its checksum, taken now over the bytes being written). */
		if (pte_write(*f->pte))
			pm_protect_pte(vm, f->vpn, f->pte, PROT_READ);
		*f->pte = pte_mkclean(*f->pte);
		f->io = 1;
		f->wrerr = 0;
		if (vm->swapmap.sums)
			pm_swapmap_set_sum(&vm->swapmap, f->slot, pm_crc32c(0, pm_frame_addr(vm, ppns[i]), vm->page));
		if (!nrun)
			run_slot = f->slot;
		run[nrun++] = ppns[i];
		started++;
		PM_COUNT(vm, writebacks);
	}
	return started ? (int)started : rc;
}

/* An object page is written to its file, whatever maps it: write-protect
 * every mapping first (a write meanwhile marks it dirty again). */
static void clean_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(arg);
	if (pte_write(*pte))
		pm_protect_pte(vm, vpn, pte, PROT_READ);
	*pte = pte_mkclean(*pte);
}

/* Start writing the dirty object frames ppns[0..n) to their files, a run
 * of consecutive pages of one file in one writev, each file's last page
 * only up to its end (as the kernel writes it). A page past the end
 * (the file shrank) is not written: it is clean, and goes with the next
 * look at the file's size. Returns frames whose write started. */
static int file_writeback_start(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	uint64_t run[PM_IO_MAX_RUN], next = 0;
	uint32_t obj = 0;
	size_t last = 0;
	unsigned nrun = 0, started = 0;

	for (unsigned i = 0; i <= n; i++) {
		pm_frame_t *f = i < n ? &vm->frames.f[ppns[i]] : NULL;
		if (f && f->io)
			continue;                /* (listed twice: two mappings of the page) */
		if (f && f->obj != obj && pm_object_refresh(vm, f->obj) < 0)
			f = NULL;                /* (a file we cannot stat: left dirty) */
		if (nrun && (!f || f->obj != obj || f->index != next || last < vm->page || nrun == PM_IO_MAX_RUN)) {
			pm_object_t *o = pm_object(vm, obj);
			uint64_t first = vm->frames.f[run[0]].index;
			/* (O_DIRECT moves whole blocks: a short last page goes
			 * through the page cache) */
			if (pm_swapio_file_write(vm, last == vm->page ? o->dfd : o->fd, first << vm->page_shift, run, nrun,
						 last) == 0) {
				PM_COUNT(vm, file_writes);
				vm->stats.file_write_pages += nrun;
			} else {
				run_failed(vm, run, nrun);
			}
			nrun = 0;
		}
		if (!f)
			continue;
		pm_object_t *o = pm_object(vm, f->obj);
		uint64_t off = f->index << vm->page_shift;
		pm_rmap_walk(vm, ppns[i], clean_visit, NULL);
		f->fdirty = 0;
		if (off >= o->size)
			continue;
		last = o->size - off < vm->page ? (size_t)(o->size - off) : vm->page;
		f->io = 1;
		f->wrerr = 0;
		obj = f->obj;
		next = f->index + 1;
		run[nrun++] = ppns[i];
		started++;
	}
	return (int)started;
}

/* Write back the dirty frames ppns[0..n): anonymous pages to swap,
 * object pages to their files. Returns frames whose write started, or
 * -EFBIG (swap full before the first). */
static int writeback(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	uint64_t anon[512], file[512];
	unsigned na = 0, nf = 0;
	int a = 0, b;

	PM_ASSERT(n <= PM_ARRAY_LEN(anon));
	for (unsigned i = 0; i < n; i++) {
		if (vm->frames.f[ppns[i]].obj)
			file[nf++] = ppns[i];
		else
			anon[na++] = ppns[i];
	}
	if (na)
		a = writeback_start(vm, anon, na);
	b = nf ? file_writeback_start(vm, file, nf) : 0;
	return a < 0 && !b ? a : (a > 0 ? a : 0) + b;
}

int pm_writeback_submit(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	int rc = writeback(vm, ppns, n);

	pm_swapio_submit(vm);
	return rc;
}

int pm_writeback_start(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	return writeback(vm, ppns, n);
}

static int write_error_said;             /* the errno last said, once per cause */

static void say_write_error(struct pagemu *vm, int err)
{
	char msg[400], *p = msg, *end = msg + sizeof(msg);

	if (write_error_said == -err)
		return;
	write_error_said = -err;
	p = pm_fmt_str(p, end, "pagemu: swap write failed (errno ");
	p = pm_fmt_u64(p, end, (uint64_t)-err);
	p = pm_fmt_str(p, end, "): ");
	p = pm_fmt_str(p, end, pm_reclaim_cause(err));
	p = pm_fmt_str(p, end, " = \"");
	p = pm_fmt_str(p, end, err == -EREMOTEIO ? vm->cfg.swap : vm->cfg.swap_dir);
	p = pm_fmt_str(p, end, "\"; the pages stay in memory\n");
	pm_prim_say(msg);
}

void pm_writeback_done(struct pagemu *vm, uint64_t ppn, int res)
{
	pm_frame_t *f = &vm->frames.f[ppn];

	PM_ASSERT(f->io && f->state == PM_FRAME_USED);
	f->io = 0;
	if (res < 0) {
		/* The swap (or file) copy is not good: the page stays dirty in
		 * memory. */
		if (f->obj)
			f->fdirty = 1;
		else
			*f->pte = pte_mkdirty(*f->pte);
		f->wrerr = (uint8_t)(-res < 256 ? -res : EIO);
		say_write_error(vm, res);
	}
}

void pm_writeback_preclean(struct pagemu *vm)
{
	uint64_t cand[512], n, i, ready, want, scan = 4 * PM_ARRAY_LEN(cand);
	unsigned batch = vm->cfg.reclaim_batch, k;

	/* Keep a lead of at least one batch of clean (or in-flight) pages
	 * ahead of the hand; when it runs short, write a whole batch. Without
	 * this, the window ahead slides one frame per eviction and every call
	 * would write the one page that just entered it. This runs at every
	 * eviction: the candidates are asked for a few at first (the lead is
	 * usually decided within two batches), and all of them only when
	 * those did not decide; the outcome is the same. */
	if (!vm->policy->upcoming)
		return;
	want = 2 * (uint64_t)batch < PM_ARRAY_LEN(cand) ? 2 * (uint64_t)batch : PM_ARRAY_LEN(cand);
	for (;;) {
		n = vm->policy->upcoming(vm->policy_state, cand, want, scan);
		for (i = 0, k = 0, ready = 0; i < n && k < batch; i++) {
			pm_frame_t *f = &vm->frames.f[cand[i]];
			if (f->state != PM_FRAME_USED || f->pins)
				continue;
			if (f->busy)
				continue;
			if (f->io || !pm_writeback_dirty(vm, cand[i])) {
				if (++ready >= batch && !k)
					return;        /* lead long enough: nothing to do */
			} else {
				cand[k++] = cand[i];   /* k <= i: overwrites only what was read */
			}
		}
		if (k == batch || n < want || want == PM_ARRAY_LEN(cand))
			break;
		want = PM_ARRAY_LEN(cand);          /* undecided: every candidate */
	}
	if (k && writeback(vm, cand, k) > 0) {
		pm_swapio_submit(vm);
		pm_writeback_trim_swap(vm, 0);  /* while the device works on the batch */
	}
}

/* ---- swap space ----------------------------------------------------------- */

#define TRIM_BATCH 64                   /* freed slots worth a release: one fallocate a run */

uint64_t pm_writeback_trim_swap(struct pagemu *vm, int force)
{
	uint64_t start, len, released = 0;

	/* Freed slots are reused lowest first, so they rarely wait long:
	 * they pile up when what is in swap shrinks (an unmap). No I/O of a
	 * free slot is in flight, so its blocks can go at any time. */
	if (vm->swapmap.nfreed < (force ? 1 : TRIM_BATCH))
		return 0;
	while (pm_swapmap_take_freed(&vm->swapmap, UINT64_MAX, &start, &len))
		if (pm_swapio_punch(vm, start, len) == 0)
			released += len;
	vm->stats.swap_released += released;
	return released;
}
