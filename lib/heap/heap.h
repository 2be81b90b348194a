/* heap.h - the heap layer (lib/heap/): the malloc family over emulated
 * memory (pagemu_malloc & co., CSAPP 9.9): arenas in heap.c, per-thread
 * caches in front of them in heapcache.c, large blocks in heaplarge.c,
 * statistics in heapstats.c, a heap per instance in heaptable.c; their
 * private definitions in heap_impl.h. The heap of an instance is made on
 * its first allocation.
 *
 * It is built on include/pagemu.h and engine/engine_api.h, and calls
 * nothing above it. This header is what the layers above (preload) and
 * the tests may call beyond the public API. */
#ifndef PAGEMU_HEAP_H
#define PAGEMU_HEAP_H

#include <stddef.h>
#include <stdio.h>

#include "pagemu.h"

/* Forget vm's heap: give back its regions and its control block; threads'
 * caches bound to it forget it. Registered with the engine as a close hook
 * (pm_engine_on_close) when the first heap is made, so pagemu_close runs it
 * before the instance's regions go. */
void pm_heap_close(pagemu_t *vm);
/* 1 when p lies in vm's break reservation or in any region of vm (large
 * blocks are regions). Takes no heap lock. */
int  pm_heap_owns(pagemu_t *vm, const void *p);
/* Pin block p (pagemu_pin over its whole payload) until it is freed,
 * unless the pages the heap's pinned blocks span would then exceed limit
 * bytes (a small block holds a whole frame).
 * 0, -ENOSPC (over the limit) or -errno. */
int  pm_heap_pin(pagemu_t *vm, void *p, size_t limit);
/* The heap's statistics as one JSON object, no newline (to embed it in a
 * larger one, as the shim's report does). 0 or -EIO. */
int  pm_heap_stats_json_object(const pagemu_heap_stats_t *s, FILE *f);
/* fork(): what the heap's atfork handlers do, for a fork made without
 * them (the shim's syscall guard, for a fork system call made directly):
 * prepare takes every heap lock; release gives them back (the parent);
 * child gives them back and frees the caches of the threads the fork left
 * behind. */
void pm_heap_fork_prepare(void);
void pm_heap_fork_release(void);
void pm_heap_fork_child(void);
/* Invariant checker for tests: tags, coalescing, free lists and counters
 * agree. 0, or -1. */
int  pm_heap_check(pagemu_t *vm);

#endif
