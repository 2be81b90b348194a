/* mmap.c - with PAGEMU_MMAP=1 (pagemu run --mmap), the program's own
 * mmap, munmap, msync, mremap and madvise go through pagemu: its mapped
 * files (a database's pages) and its anonymous mappings are emulated
 * memory, paged by pagemu like its heap (mprotect is protect.c's).
 *
 * What stays the kernel's, and why:
 *   - mappings made inside libc and the loader (thread stacks, shared
 *     libraries, locale archives): they call the system call, not the
 *     exported mmap, and the kernel writes to a thread's stack outside
 *     system calls (signal frames), where nothing could page it in;
 *   - mappings at a fixed address (MAP_FIXED, MAP_FIXED_NOREPLACE: pagemu
 *     chooses its regions' addresses; one made over emulated memory takes
 *     that range from pagemu), stacks (MAP_STACK, MAP_GROWSDOWN),
 *     huge pages (MAP_HUGETLB), MAP_32BIT, and mappings of anything but
 *     a regular file (devices, /dev/zero);
 *   - shared mappings of a file in memory (tmpfs, ramfs, hugetlbfs:
 *     /dev/shm, shm_open, memfd_create): such a file exists to share
 *     memory with other processes, and pagemu's copy of its pages is this
 *     process's (and its fork children's) alone, where another process
 *     mapping it would never see a write;
 *   - a mapping made while pagemu cannot start, or once every object
 *     slot is taken (ENFILE).
 * munmap, msync, mremap and madvise of such a mapping go to the kernel.
 * A file's own reads and writes stay coherent with pagemu's copy of its
 * pages through the syscall guard (guard/sigsys.c: written bytes reach the
 * cached pages, dirty pages reach the file before a read). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include "engine/engine_api.h"
#include "shim.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define NATIVE_FLAGS (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_32BIT)
#define IGNORED_FLAGS (MAP_POPULATE | MAP_LOCKED | MAP_NONBLOCK | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_FILE)

/* 1 when the program's mappings go through pagemu now; its first mapping
 * may start pagemu, as its first allocation does. (pagemu's own mappings
 * and the bootstrap allocator's are system calls, never this function:
 * the allocator holds its lock while it maps, and a start from here would
 * allocate and wait for that lock forever.) */
static int enabled(void)
{
	if (pm_shim_depth)
		return 0;
	if (atomic_load_explicit(&pm_shim.state, memory_order_acquire) == SHIM_NONE)
		pm_shim_start();
	return atomic_load_explicit(&pm_shim.state, memory_order_acquire) == SHIM_READY && pm_shim.mmap;
}

static int owned(const void *addr)
{
	return enabled() && pagemu_owner(addr) == pm_shim.vm;
}

#define TMPFS_MAGIC_     0x01021994
#define RAMFS_MAGIC_     0x858458f6
#define HUGETLBFS_MAGIC_ 0x958458f6

/* A shared mapping of a file that lives in memory: shared memory between
 * processes (POSIX shm, memfd, a file in /dev/shm), left to the kernel,
 * whose single copy every process sees. */
static int shared_memory(int flags, int fd)
{
	struct statfs st;

	if ((flags & MAP_TYPE) != MAP_SHARED || fd < 0 || fstatfs(fd, &st) < 0)
		return 0;
	return st.f_type == TMPFS_MAGIC_ || st.f_type == RAMFS_MAGIC_ || st.f_type == HUGETLBFS_MAGIC_;
}

static void *map(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	REAL(void *, mmap, void *, size_t, int, int, int, off_t)
	int on = enabled();
	void *p;

	if (!on || (flags & NATIVE_FLAGS) || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))) {
		/* A fixed mapping over emulated memory (a reservation the program
		 * commits piece by piece, a ring buffer mapped twice): that
		 * range is the kernel's from now on, and pagemu's no more. */
		if (on && (flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE)) {
			pm_shim_depth++;
			pm_mapping_yield(pm_shim.vm, addr, len);
			pm_shim_depth--;
		}
		return real_mmap(addr, len, prot, flags, fd, off);
	}
	if ((flags & MAP_TYPE) == MAP_SHARED_VALIDATE)
		flags = (flags & ~MAP_TYPE) | MAP_SHARED;
	if (shared_memory(flags, fd))
		return real_mmap(addr, len, prot, flags, fd, off);
	pm_shim_depth++;
	p = pagemu_map(pm_shim.vm, len, prot, flags & ~IGNORED_FLAGS, fd, off);
	pm_shim_depth--;
	if (p || (errno != ENODEV && errno != ENFILE))
		return p ? p : MAP_FAILED;
	return real_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return map(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return map(addr, len, prot, flags, fd, off);
}

static int result(int rc)
{
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

EXPORT int munmap(void *addr, size_t len)
{
	REAL(int, munmap, void *, size_t)
	int rc;

	if (!owned(addr))
		return real_munmap(addr, len);
	pm_shim_depth++;
	rc = pagemu_unmap(pm_shim.vm, addr, len);
	pm_shim_depth--;
	return result(rc);
}

EXPORT int msync(void *addr, size_t len, int flags)
{
	REAL(int, msync, void *, size_t, int)
	int rc;

	if (!owned(addr))
		return real_msync(addr, len, flags);
	pm_shim_depth++;
	rc = pagemu_sync(pm_shim.vm, addr, len, flags);
	pm_shim_depth--;
	return result(rc);
}

void pm_shim_mmap_exit(void)
{
	char msg[200], num[12], *p;
	int rc, n = 0;

	if (atomic_load_explicit(&pm_shim.state, memory_order_acquire) != SHIM_READY || !pm_shim.mmap || pm_shim_depth)
		return;
	pm_shim_depth++;
	pm_guard_own_enter();                /* its writes are pagemu's, not the program's to guard */
	rc = pm_filemap_exit(pm_shim.vm);
	pm_guard_own_leave();
	pm_shim_depth--;
	if (rc < 0) {
		/* Signal-safe: no stdio (the guard's handler calls this). */
		for (unsigned v = (unsigned)-rc; v || !n; v /= 10)
			num[n++] = (char)('0' + v % 10);
		p = stpcpy(msg, "pagemu-preload: at exit, pages of a shared file mapping could not be written to "
				"their file (errno ");
		while (n)
			*p++ = num[--n];
		stpcpy(p, ")\n");
		pm_prim_say(msg);
	}
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	REAL(int, madvise, void *, size_t, int)
	int rc;

	if (!owned(addr))
		return real_madvise(addr, len, advice);
	pm_shim_depth++;
	rc = pagemu_advise(pm_shim.vm, addr, len, advice);
	pm_shim_depth--;
	/* Advice pagemu does not know is the kernel's business no more
	 * than it was: accepted, as the kernel accepts hints it ignores. */
	return rc == -EINVAL && (uintptr_t)addr % 4096 == 0 ? 0 : result(rc);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	REAL(void *, mremap, void *, size_t, size_t, int, void *)
	void *fixed = NULL, *p;

	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		fixed = va_arg(ap, void *);
		va_end(ap);
	}
	if (!owned(old))
		return real_mremap(old, old_len, new_len, flags, fixed);
	pm_shim_depth++;
	p = pagemu_remap(pm_shim.vm, old, old_len, new_len, flags);
	pm_shim_depth--;
	return p ? p : MAP_FAILED;
}
