/* malloc.c - the malloc family of the process: blocks from the pagemu heap
 * for the program, from the bootstrap allocator inside pagemu (and before
 * it starts). free, realloc and malloc_usable_size tell the two apart by
 * address; once pagemu is ready, a pointer of neither is an error.
 *
 * Blocks that libc itself allocates (the caller's return address lies in
 * libc's code) are pinned until freed: libc makes system calls on them
 * where no wrapper sees it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_api.h"
#include "heap/heap.h"
#include "shim.h"

extern void  __libc_free(void *p);
extern void *__libc_realloc(void *p, size_t n);

/* 1 when this allocation should come from pagemu. */
static inline int use_pagemu(void)
{
	if (pm_shim_depth)
		return 0;
	int s = atomic_load_explicit(&pm_shim.state, memory_order_acquire);
	if (s == SHIM_READY)
		return 1;
	if (s == SHIM_NONE) {
		pm_shim_start();
		return atomic_load(&pm_shim.state) == SHIM_READY;
	}
	return 0;
}

/* Where a block comes from when pagemu is not used: inside pagemu, and
 * before it starts. */
static void *other_alloc(size_t align, size_t n, int zero)
{
	void *p = pm_boot_alloc(align, n);

	if (p && zero)
		memset(p, 0, n);     /* recycled bootstrap blocks are not zero */
	return p;
}

static inline int from_libc(const void *ret)
{
	return (uintptr_t)ret >= pm_shim.libc_lo && (uintptr_t)ret < pm_shim.libc_hi;
}

/* Called inside pagemu (pm_shim_depth > 0). Over the limit the block stays
 * unpinned: a system call on it may then fail with EFAULT. */
static void pin_block(void *p)
{
	if (p)
		pm_heap_pin(pm_shim.vm, p, pm_shim.pin_limit);
}

/* 1 once blocks come from pagemu (before, a pointer of neither
 * allocator can only be glibc's). */
static inline int ready(void)
{
	return atomic_load_explicit(&pm_shim.state, memory_order_relaxed) == SHIM_READY;
}

/* Is p a block of the pagemu heap? */
static inline int is_pagemu(const void *p)
{
	return ready() && pm_heap_owns(pm_shim.vm, p);
}

/* p is neither pagemu's nor the bootstrap arena's, and pagemu is ready:
 * every block comes from one of them, so p was never malloc's, or its
 * region is gone (a large block freed twice). glibc's free would crash on
 * it without a word. */
static void foreign(const char *who, void *p) __attribute__((noreturn));
static void foreign(const char *who, void *p)
{
	char msg[200];

	snprintf(msg, sizeof(msg), "pagemu: %s(%p): not a pointer malloc returned "
		 "(double free of a large block, or a foreign pointer)\n", who, p);
	pm_prim_say(msg);
	abort();
}

/* A block of n bytes for the caller whose return address is ret. */
static void *shim_alloc(size_t align, size_t n, int zero, const void *ret)
{
	void *p;

	if (!use_pagemu())
		return other_alloc(align, n, zero);
	pm_shim_depth++;
	if (zero)
		p = pagemu_calloc(pm_shim.vm, 1, n);
	else if (align > 16)
		p = pagemu_memalign(pm_shim.vm, align, n);
	else
		p = pagemu_malloc(pm_shim.vm, n);
	/* libc's own blocks (stdio buffers, DIR streams, vasprintf's) are
	 * pinned for the system calls libc makes on them internally; the
	 * syscall guard pins what each call uses instead. Pinned with the
	 * guard on, every string a program builds with libc's help (GLib's
	 * g_strdup_printf) would hold a frame until freed: a pool full of
	 * pinned frames, then SIGBUS. */
	if (from_libc(ret) && !pm_guard_active())
		pin_block(p);
	pm_shim_depth--;
	return p;
}

EXPORT void *malloc(size_t n)
{
	return shim_alloc(0, n, 0, __builtin_return_address(0));
}

EXPORT void free(void *p)
{
	if (!p)
		return;
	if (pm_boot_owns(p)) {
		pm_boot_free(p);
	} else if (is_pagemu(p)) {
		pm_shim_depth++;
		pagemu_free(pm_shim.vm, p);
		pm_shim_depth--;
	} else if (ready()) {
		foreign("free", p);
	} else {
		__libc_free(p);
	}
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return shim_alloc(0, n, 1, __builtin_return_address(0));
}

static size_t usable(void *p)
{
	size_t n;

	if (pm_boot_owns(p))
		return pm_boot_usable(p);
	if (is_pagemu(p)) {
		pm_shim_depth++;
		n = pagemu_malloc_usable_size(pm_shim.vm, p);
		pm_shim_depth--;
		return n;
	}
	return 0;                        /* not called for glibc's blocks */
}

EXPORT void *realloc(void *p, size_t n)
{
	const void *ret = __builtin_return_address(0);
	void *np;

	if (!p)
		return shim_alloc(0, n, 0, ret);
	if (n == 0) {
		free(p);
		return NULL;
	}
	if (is_pagemu(p)) {
		pm_shim_depth++;
		np = pagemu_realloc(pm_shim.vm, p, n);
		if (from_libc(ret))
			pin_block(np);
		pm_shim_depth--;
		return np;
	}
	if (!pm_boot_owns(p)) {
		if (ready())
			foreign("realloc", p);
		return __libc_realloc(p, n);
	}
	/* A bootstrap block: move it to where new blocks come from now. */
	size_t old = usable(p);
	if (!(np = shim_alloc(0, n, 0, ret)))
		return NULL;
	memcpy(np, p, old < n ? old : n);
	free(p);
	return np;
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (align & (align - 1)) {
		/* As glibc: round up to a power of two. */
		if (align > SIZE_MAX / 2) {
			errno = EINVAL;
			return NULL;
		}
		align = 1ULL << (64 - __builtin_clzll(align));
	}
	return shim_alloc(align, n, 0, __builtin_return_address(0));
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return shim_alloc(align, n, 0, __builtin_return_address(0));
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int saved = errno;
	void *p;

	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	p = shim_alloc(align, n, 0, __builtin_return_address(0));
	if (!p) {
		int e = errno ? errno : ENOMEM;
		errno = saved;
		return e;
	}
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t n)
{
	return shim_alloc((size_t)sysconf(_SC_PAGESIZE), n, 0, __builtin_return_address(0));
}

EXPORT void *pvalloc(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	if (n > SIZE_MAX - pg) {
		errno = ENOMEM;
		return NULL;
	}
	return shim_alloc(pg, (n + pg - 1) & ~(pg - 1), 0, __builtin_return_address(0));
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (pm_boot_owns(p) || is_pagemu(p))
		return usable(p);
	REAL(size_t, malloc_usable_size, void *)
	return real_malloc_usable_size ? real_malloc_usable_size(p) : 0;
}
