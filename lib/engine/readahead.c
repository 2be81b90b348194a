/* readahead.c - reading a mapped file's pages into the page cache: the
 * cluster a fault needs (read while the fault waits), and windows ahead
 * of a sequential reader (read while it runs on, as Linux's asynchronous
 * readahead does).
 *
 * A fault that misses the page cache reads a cluster from the touched
 * page on: up to the readahead window (adapted as for swap-ins), the end
 * of the file, or the first page cached already. The cluster's frames
 * are busy while it is read: a fault on one of them waits.
 *
 * A reader that goes on sequentially (its miss is the page after the last
 * cluster, or a window's marker page is touched) gets windows read ahead:
 * the pages after the ones it has, in requests of PM_IO_MAX_RUN pages, in
 * flight while it works through what it has. Each window's first page is
 * its marker: a touch of it starts the next window, twice as large (up
 * to RA_MAX_PAGES and an eighth of the pool), as the kernel grows its
 * readahead. Nobody waits for a window's read on purpose: the next fault
 * takes the completions that have come (pm_readahead_poll), and a fault
 * on a page still being read waits for that read alone
 * (pm_readahead_wait).
 *
 * Everything here: signal context; called with vm->lock held. */
#include <errno.h>

#include "engine/engine.h"

#define RA_MAX_PAGES 2048                /* the largest window: 8 MiB of 4 KiB pages */
#define RA_MARK      2                   /* frame ra: the first page of a window (1: read ahead, untouched) */

/* ---- the cluster a fault needs ----------------------------------------------- */

/* Frames for the object's pages from index on (the first unconditionally),
 * up to max, the end of the file and the first page cached already:
 * taken, and entered in the page cache busy. Returns how many; 0 with
 * *err set when no frame could be had. */
static unsigned take_frames(struct pagemu *vm, uint32_t obj, uint64_t index, unsigned max, uint64_t *ppns, int *err)
{
	uint64_t pages = pm_object_pages(vm, obj);
	unsigned n = 0;

	while (n < max && index + n < pages && (n == 0 || pm_pcache_lookup(vm, obj, index + n) == PM_NONE)) {
		uint64_t ppn = pm_reclaim_frame(vm, err);
		if (ppn == PM_NONE)
			break;
		pm_frame_t *fr = &vm->frames.f[ppn];
		fr->obj = obj;
		fr->index = index + n;
		fr->busy = 1;
		pm_pcache_insert(vm, ppn);
		ppns[n++] = ppn;
	}
	return n;
}

unsigned pm_readahead_cluster(struct pagemu *vm, uint32_t obj, uint64_t index, uint64_t *ppns, int *err)
{
	pm_object_t *o = pm_object(vm, obj);
	unsigned max;

	/* The window as for swap-ins (readahead_adapt's rule): it grows
	 * while misses follow each other, shrinks when they jump. */
	if (index == o->ra_next)
		vm->ra_window = vm->ra_window * 2 > vm->cfg.readahead ? vm->cfg.readahead : vm->ra_window * 2;
	else if (vm->ra_window > 1)
		vm->ra_window /= 2;
	max = vm->ra_window;
	return take_frames(vm, obj, index, max, ppns, err);
}

/* The pages just read into ppns[0..n) (got bytes from the page index,
 * or -errno): each zero-filled past the end of the file, as the kernel
 * fills a file's last page; the pages the read did not reach (the file
 * shrank meanwhile, or it failed) leave the cache. The first is the
 * touched one when touched = 1; the others (all, when 0) are read ahead.
 *
 * Their reference bits: a fault's cluster (touched = 1) loads the
 * touched page referenced and the rest not, so that a guess that missed
 * goes first. A window (touched = 0) is read ahead of a reader known to
 * be sequential, and its pages are loaded referenced, as CLOCK loads any
 * page (clock.c): a hand that has just cleared a whole lap of pages the
 * reader went through stops at the first clear bit, and that was the
 * window the reader was about to reach (15% of a sequential reader's
 * pages were read twice so). Returns the pages kept. */
static unsigned finish(struct pagemu *vm, const uint64_t *ppns, unsigned n, int got, int touched)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < n; i++) {
		pm_frame_t *fr = &vm->frames.f[ppns[i]];
		size_t at = (size_t)i << vm->page_shift, valid = got > 0 && (size_t)got > at ? (size_t)got - at : 0;
		fr->busy = 0;
		if (!valid) {
			pm_pcache_remove(vm, ppns[i]);
			pm_frames_push(&vm->frames, ppns[i]);
			continue;
		}
		if (valid < vm->page)
			__builtin_memset(pm_frame_addr(vm, ppns[i]) + valid, 0, vm->page - valid);
		if (fr->ra != RA_MARK)
			fr->ra = !(touched && i == 0);
		vm->policy->loaded(vm->policy_state, ppns[i], touched ? i == 0 : 1);
		vm->stats.resident++;
		kept++;
	}
	pm_busy_done(vm);
	if (got >= 0) {
		PM_COUNT(vm, file_reads);
		vm->stats.file_read_pages += kept;
		vm->stats.readahead_pages += kept - (touched && kept);
	}
	return kept;
}

/* ---- windows ahead ------------------------------------------------------------- */

/* Start reading the object's pages [from, from + n) ahead, in requests of
 * PM_IO_MAX_RUN pages, as far as frames, read requests and async slots
 * allow; the first page becomes the window's marker. Returns where the
 * window ends. */
static uint64_t window_start(struct pagemu *vm, uint32_t obj, uint64_t from, uint64_t n)
{
	pm_object_t *o = pm_object(vm, obj);
	uint64_t at = from, end = from + n, pages = pm_object_pages(vm, obj);
	int first = 1;

	if (end > pages)
		end = pages;
	while (at < end) {
		struct pm_ra_async *a = NULL;
		for (unsigned i = 0; i < PM_RA_ASYNC && !a; i++)
			if (!vm->ra_async[i].n)
				a = &vm->ra_async[i];
		if (!a || pm_pcache_lookup(vm, obj, at) != PM_NONE)
			break;
		int err;
		unsigned k = take_frames(vm, obj, at, end - at < PM_IO_MAX_RUN ? (unsigned)(end - at) : PM_IO_MAX_RUN, a->ppns, &err);
		if (!k)
			break;
		int id = pm_swapio_file_read_start(vm, o->dfd, at << vm->page_shift, a->ppns, k);
		if (id < 0) {
			finish(vm, a->ppns, k, id, 0);          /* (frees them) */
			break;
		}
		if (first)
			vm->frames.f[a->ppns[0]].ra = RA_MARK;
		first = 0;
		a->id = id;
		a->n = k;
		a->obj = obj;
		at += k;
	}
	pm_swapio_read_kick(vm);
	o->ra_next = at;
	return at;
}

/* The async read a is done (or wait: wait for it without vm->lock): its
 * pages enter the cache. */
static void async_end(struct pagemu *vm, struct pm_ra_async *a, int wait)
{
	int id = a->id, got;

	if (wait) {
		pm_lock_drop(vm);
		pm_swapio_read_wait(vm, id);
		pm_lock_retake(vm);
		if (!a->n || a->id != id)
			return;                  /* another thread ended it meanwhile */
	}
	got = pm_swapio_read_end(vm, id);
	unsigned n = a->n;
	a->n = 0;
	finish(vm, a->ppns, n, got, 0);
}

void pm_readahead_poll(struct pagemu *vm)
{
	for (unsigned i = 0; i < PM_RA_ASYNC; i++)
		if (vm->ra_async[i].n && pm_swapio_read_done(vm, vm->ra_async[i].id))
			async_end(vm, &vm->ra_async[i], 0);
}

void pm_readahead_wait(struct pagemu *vm, uint64_t ppn)
{
	for (unsigned i = 0; i < PM_RA_ASYNC; i++) {
		struct pm_ra_async *a = &vm->ra_async[i];
		for (unsigned k = 0; k < a->n; k++)
			if (a->ppns[k] == ppn) {
				async_end(vm, a, 1);
				return;
			}
	}
}

void pm_readahead_drain(struct pagemu *vm)
{
	for (unsigned i = 0; i < PM_RA_ASYNC; i++)
		if (vm->ra_async[i].n)
			async_end(vm, &vm->ra_async[i], 1);
}

/* The reader goes on sequentially: the next window, twice the last. */
static void window_next(struct pagemu *vm, uint32_t obj)
{
	pm_object_t *o = pm_object(vm, obj);
	uint64_t cap = vm->nframes / 8 < RA_MAX_PAGES ? vm->nframes / 8 : RA_MAX_PAGES;

	o->ra_win = o->ra_win ? o->ra_win * 2 : 2 * PM_IO_MAX_RUN;
	if (o->ra_win > cap)
		o->ra_win = cap;
	if (o->ra_win >= PM_IO_MAX_RUN)
		window_start(vm, obj, o->ra_next, o->ra_win);
}

int pm_readahead_read(struct pagemu *vm, uint32_t obj, uint64_t index, const uint64_t *ppns, unsigned n, pm_pte_t *pte)
{
	pm_object_t *o = pm_object(vm, obj);
	int sequential = index == o->ra_next && index > 0;
	int id = pm_swapio_file_read_start(vm, o->dfd, index << vm->page_shift, ppns, n), got;

	o->ra_next = index + n;
	if (id >= 0) {
		/* Sequential, and the cluster is a whole window: read the next
		 * one meanwhile. A random reader never gets here. */
		if (sequential && n == vm->cfg.readahead && n > 1)
			window_next(vm, obj);
		else
			o->ra_win = 0;
		*pte = pte_mklocked(*pte);
		pm_lock_drop(vm);
		pm_swapio_read_wait(vm, id);
		pm_lock_retake(vm);
		got = pm_swapio_read_end(vm, id);
		*pte = pte_clear_locked(*pte);
	} else {
		got = id;
	}
	unsigned kept = finish(vm, ppns, n, got, 1);
	return got < 0 ? got : (int)kept;
}

int pm_readahead_marker(const struct pagemu *vm, uint64_t ppn)
{
	return vm->frames.f[ppn].ra == RA_MARK;
}

void pm_readahead_hit(struct pagemu *vm, uint64_t ppn)
{
	pm_frame_t *fr = &vm->frames.f[ppn];

	if (!fr->ra)
		return;
	PM_COUNT(vm, readahead_hits);
	if (fr->ra == RA_MARK)
		window_next(vm, fr->obj);
	fr->ra = 0;
}
