/* heapcheck.c - a pointer handed back to the heap (free, realloc, pin,
 * malloc_usable_size): where it lives, and whether its boundary tags and
 * its neighbours' are intact; a user error is a message and an abort, as
 * glibc's are. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/heap_impl.h"

/* ---- user errors: a message, then abort --------------------------------------- */

void pm_heap_die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "pagemu: ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	pm_prim_say(msg);         /* no stdio: the shim's malloc may be broken here */
	abort();
}

/* ---- checking a pointer handed back ---------------------------------------------- */

/* The header of bp, checked; aborts on a user error. who = "free", ...
 * Called with the lock of bp's arena held; bp is below its break. */
tag_t pm_heap_check_block(struct arena *a, char *bp, const char *who)
{
	tag_t t;
	size_t size;

	if ((uintptr_t)bp % ALIGN)
		pm_heap_die("%s(%p): not a pointer pagemu_malloc returned (misaligned, inside the heap)", who, (void *)bp);
	t = *hdrp(bp);
	if (tag_magic(t) == TAG_FREE && !tag_alloc(t))
		pm_heap_die("%s(%p): double free (the block is already free)", who, (void *)bp);
	if (tag_valid(t) && (t & TAG_CACHED))
		pm_heap_die("%s(%p): double free (the block is already free, in a thread's cache)", who, (void *)bp);
	if (!tag_valid(t))
		pm_heap_die("%s(%p): not a block pagemu_malloc returned, or its header was overwritten (heap underflow?)",
			    who, (void *)bp);
	size = tag_size(t);
	if (size < MIN_BLOCK || bp + size - WSIZE > a->brk - WSIZE)
		pm_heap_die("%s(%p): heap corruption: the block header holds an impossible size %zu", who, (void *)bp,
			    size);
	if (*ftrp(bp, size) != (t & TAG_FTR_MASK))
		pm_heap_die("%s(%p): heap corruption: the boundary tag after the block (%zu bytes) is overwritten "
			    "(heap overflow: a write past the end of the block)", who, (void *)bp,
			    size - OVERHEAD - tag_slack(t));
	if (!block_intact(bp, t))
		pm_heap_die("%s(%p): heap corruption: a neighbour's boundary tag next to the block (%zu bytes) is "
			    "overwritten (heap overflow or underflow)", who, (void *)bp, size - OVERHEAD - tag_slack(t));
	return t;
}

/* Where a pointer handed back lives, found with the lock that guards it
 * taken: a block below an arena's break (a locked, t its checked header),
 * or a large block (h->lock held, e its entry, NULL when p is no block of
 * this heap). Aborts on a user error (who = "free", ...). */


void pm_heap_locate(struct pm_heap *h, char *p, const char *who, struct pm_where *w)
{
	w->e = NULL;
	if ((w->a = arena_of(h, p))) {
		pthread_mutex_lock(&w->a->lock);
		if (in_break(w->a, p)) {
			w->t = pm_heap_check_block(w->a, p, who);
			return;
		}
		pthread_mutex_unlock(&w->a->lock);
		w->a = NULL;
	}
	pthread_mutex_lock(&h->lock);
	w->e = pm_large_find(h, (uintptr_t)p);
}

void pm_heap_unlocate(struct pm_heap *h, struct pm_where *w)
{
	pthread_mutex_unlock(w->a ? &w->a->lock : &h->lock);
}
