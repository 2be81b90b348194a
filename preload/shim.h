/* shim.h - libpagemu-preload.so (preload/): the whole process's malloc on
 * pagemu. What the shim's files share.
 *
 *   LD_PRELOAD=build/libpagemu-preload.so PAGEMU_FRAMES=256 prog args
 *   (or: build/pagemu run --frames 256 -- prog args)
 *
 * malloc, free, calloc, realloc, reallocarray, memalign, posix_memalign,
 * aligned_alloc, valloc, pvalloc and malloc_usable_size are replaced for
 * the whole process. The first allocation opens one pagemu instance,
 * configured by the PAGEMU_* variables; from then on every block comes
 * from that instance's heap (lib/heap) in emulated memory.
 *
 * Two allocators answer, told apart by address in free and realloc:
 *   - the pagemu heap, for the program;
 *   - the bootstrap allocator, a size-class allocator over one lazily
 *     backed mapping of real memory: for every allocation made while
 *     pagemu itself runs (pagemu_open callocs the instance, libsigsegv's
 *     sigsegv_register mallocs its dispatcher nodes, which the fault
 *     handler reads: they must never be emulated memory). A thread-local
 *     depth counter says "inside pagemu".
 * Once pagemu is ready, a pointer that is neither (a double free of a
 * large block, whose region is gone; a foreign pointer) aborts with a
 * message, as the heap's own errors do. A process that cannot start
 * pagemu ends with a message and exit status 125 (start.c).
 *
 * The kernel never faults on emulated memory: a system call handed an
 * unmapped emulated buffer fails with EFAULT. The syscall guard (guard/,
 * on by default, PAGEMU_SYSCALL_GUARD=0 turns it off) traps every system
 * call and pins what it refers to. Without it, two mitigations:
 *   - blocks that libc itself allocates (stdio buffers, DIR streams, strdup,
 *     getline...) are pinned (resident and mapped) until freed: libc calls
 *     read/write/getdents on them internally, where no wrapper can see it;
 *   - the common I/O entry points a program calls (read, write, pread,
 *     pwrite, readv, writev, recv, send, recvfrom, sendto, fread, fwrite,
 *     fputs, puts) pin the program's buffer around the real call (not when
 *     the guard is on: it pins the buffer of the system call itself).
 *
 * At exit (and before exit_group and execve, through the guard; before a
 * fatal signal, through the guard's stand-in handlers, guard/death.c; and
 * before a fault of the program's own ends it) the dirty pages of the
 * program's shared file mappings are written to their files (mmap.c,
 * pm_shim_mmap_exit): the kernel's page cache would outlive the process.
 * At exit the process that opened the instance prints a short report on
 * stderr, or appends one JSON line to $PAGEMU_REPORT (PAGEMU_REPORT=none:
 * no report; the file is made 0600, never through a symbolic link). The
 * instance is never closed: stdio flushes its buffers (emulated memory)
 * after the destructors run. So its trace (PAGEMU_TRACE, one file per
 * process: ".%p" is added to the path) is flushed at exit instead, and by
 * the guard before exit_group and execve.
 *
 * fork(): the engine gives the child a private copy of emulated memory
 * (lib/engine/fork.c), so the child goes on with the same heap; the guard
 * does the same for a fork made without fork(). The child prints no
 * report of its own (its counters start from the parent's); a child that
 * execs starts a new instance and reports as usual.
 *
 * The files, the program's entry points first; calls go down the list:
 *   malloc.c    the malloc family
 *   io.c        the I/O wrappers: a program's buffer pinned around the call
 *   signal.c    sigaction & co.: the program's SIGSEGV handler chained
 *               behind pagemu's; no mask blocks SIGSEGV or SIGBUS
 *   report.c    the report at exit
 *   start.c     start-up: the first allocation opens the instance
 *   guard/      the syscall guard (its insides in guard/guard.h)
 *   mmap.c      PAGEMU_MMAP=1: the program's mmap, munmap, msync, mremap,
 *               madvise through pagemu (files and anonymous mappings)
 *   protect.c   mprotect on emulated memory: kept by pagemu across eviction
 *   lookup.c    the real functions (dlsym) and code segments (ELF)
 *   boot.c      the bootstrap allocator and the "inside pagemu" depth
 * Below them: heap/heap.h, engine/engine_api.h and include/pagemu.h.
 */
#ifndef PAGEMU_PRELOAD_SHIM_H
#define PAGEMU_PRELOAD_SHIM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pagemu.h"

#define EXPORT    __attribute__((visibility("default")))
#define PM_HIDDEN __attribute__((visibility("hidden")))
#define IE        __attribute__((tls_model("initial-exec")))

/* ---- start.c - start-up -------------------------------------------------- */

enum shim_state {
	SHIM_NONE = 0,                    /* no allocation yet */
	SHIM_STARTING,                    /* pagemu_open is running */
	SHIM_READY,                       /* blocks come from pagemu */
};

#define PM_SHIM_EXIT_FAILED 125           /* pagemu cannot start: as pagemu run's own failures */

/* Written once by pm_shim_start, before state becomes SHIM_READY. */
struct pm_shim {
	atomic_int state;                 /* enum shim_state */
	pagemu_t  *vm;                    /* the instance (SHIM_READY) */
	pid_t      owner_pid;             /* the process that opened vm */
	uintptr_t  libc_lo, libc_hi;      /* libc's executable segment */
	size_t     pin_limit;             /* bytes: libc's pinned blocks at most, and an I/O wrapper's pin */
	int        report_fd;             /* stderr as it was at start (programs may close fd 2 at exit); -1 */
	int        mmap;                  /* PAGEMU_MMAP=1: the program's mmap & co. go through pagemu (mmap.c) */
};
PM_HIDDEN extern struct pm_shim pm_shim;

/* Open the instance, once per process (the first caller does it; others
 * return at once). Afterwards state is SHIM_READY, or the process has
 * ended (exit status PM_SHIM_EXIT_FAILED) saying why pagemu cannot start. */
PM_HIDDEN void pm_shim_start(void);

/* ---- guard/ - the syscall guard (what the shim calls) -------------------- */

/* Turn the guard on for this process and thread (vm's memory is pinned
 * for a call, at most limit bytes a call); the shim does not call it when
 * PAGEMU_SYSCALL_GUARD=0. 0 when on, -1 (said on stderr) when it cannot be. */
PM_HIDDEN int  pm_guard_init(pagemu_t *vm, size_t limit);
/* 1 when the guard is on in this process. */
PM_HIDDEN int  pm_guard_active(void);
/* Register the calling thread (a new thread, a fork child). */
PM_HIDDEN void pm_guard_thread(void);
/* Between enter and leave, the calling thread's system calls are
 * pagemu's own (the engine's fork handlers, run by fork() in the
 * program's context): never trapped nor emulated. Pairs may nest. */
PM_HIDDEN void pm_guard_own_enter(void);
PM_HIDDEN void pm_guard_own_leave(void);

/* ---- protect.c - mprotect on emulated memory ----------------------------- */

/* 1 when [addr, addr+len) is emulated memory of the shim's instance and
 * its protection was changed by pagemu (*ret = 0 or -errno), 0 when it is
 * not pagemu's (make the real call). Signal-safe. */
PM_HIDDEN int pm_shim_protect(void *addr, size_t len, int prot, long *ret);

/* ---- mmap.c - the program's own mappings (PAGEMU_MMAP) --------------------- */

/* The process ends or execs: every dirty page of the program's shared file
 * mappings reaches its file (the kernel's page cache would outlive the
 * process; pagemu's pool does not). Any process, any thread; from the
 * program's context or the guard's handler, never inside pagemu. */
PM_HIDDEN void pm_shim_mmap_exit(void);

/* ---- lookup.c - the real functions and code segments --------------------- */

/* dlsym(RTLD_NEXT, name), its allocations from the bootstrap arena. */
PM_HIDDEN void *pm_shim_dlsym(const char *name);

/* The executable segment [*lo, *hi) of the loaded object that holds addr
 * (its last PT_LOAD with PF_X); *lo and *hi stay as they are when it has
 * none. 0, or -1 when no object holds addr. */
PM_HIDDEN int pm_shim_code_segment(const void *addr, uintptr_t *lo, uintptr_t *hi);

/* The real function `name`, looked up once: declares real_<name>. */
#define REAL(ret, name, ...)                                                    \
	static ret (*real_##name)(__VA_ARGS__);                                 \
	if (!real_##name)                                                       \
		real_##name = (ret (*)(__VA_ARGS__))pm_shim_dlsym(#name);

/* ---- boot.c - the bootstrap allocator ------------------------------------ */

/* > 0: this thread is inside pagemu; its allocations come from the
 * bootstrap allocator and pagemu's own calls are not intercepted. */
PM_HIDDEN extern __thread int pm_shim_depth IE;

/* A block of real (never emulated) memory aligned to align (0: 16); NULL
 * and errno = ENOMEM when the arena is spent. Not zeroed. */
PM_HIDDEN void  *pm_boot_alloc(size_t align, size_t n);
PM_HIDDEN void   pm_boot_free(void *p);
/* Bytes usable at p, a bootstrap block. */
PM_HIDDEN size_t pm_boot_usable(void *p);
/* 1 when p lies in the bootstrap arena. */
PM_HIDDEN int    pm_boot_owns(const void *p);

#endif
