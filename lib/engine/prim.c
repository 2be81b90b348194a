/* prim.c - every system call of the engine, each behind a one-line contract
 * (internal.h section 2). Functions called from the fault path are
 * async-signal-safe and preserve errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* The raw system call: the shim wraps write, close and sigaction, and a
 * call from inside libpagemu-preload.so would bind to the wrapper. */
static long raw(long nr, long a, long b, long c, long d)
{
	int saved = errno;
	long rc = syscall(nr, a, b, c, d);

	if (rc < 0)
		rc = -errno;
	errno = saved;
	return rc;
}

/* Up to cap - 1 bytes of a (small, /proc or /sys) file, NUL-terminated,
 * read with raw calls: the length, or -1 when it cannot be read. */
static long read_text(const char *path, char *buf, size_t cap)
{
	long fd = raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0), n, len = 0;

	if (fd < 0)
		return -1;
	while ((size_t)len < cap - 1 && (n = raw(SYS_read, fd, (long)(buf + len), (long)(cap - 1 - (size_t)len), 0)) > 0)
		len += n;
	raw(SYS_close, fd, 0, 0, 0);
	buf[len] = 0;
	return len;
}

/* The number a file holds ("max", or unreadable: dflt). */
static uint64_t read_u64_file(const char *path, uint64_t dflt)
{
	char buf[64];

	if (read_text(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
		return dflt;
	return strtoull(buf, NULL, 10);
}


void *pm_prim_reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, RESERVE_FLAGS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *pm_prim_alloc_tables(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, RESERVE_FLAGS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int pm_prim_release(void *addr, size_t len)
{
	int saved = errno, rc = munmap(addr, len) ? -errno : 0;

	errno = saved;
	return rc;
}

int pm_prim_map_frame(void *va, size_t len, int prot, int fd, uint64_t off)
{
	int saved = errno, rc = 0;
	/* MAP_POPULATE installs the PTE now: the restarted instruction does
	 * not take a second (kernel) fault. */
	void *p = mmap(va, len, prot, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, (off_t)off);

	if (p == MAP_FAILED)
		rc = -errno;
	errno = saved;
	return rc;
}

int pm_prim_unmap_page(void *va, size_t len)
{
	int saved = errno, rc = 0;
	/* Same flags as the reservation so that the kernel merges the range
	 * back into its neighbours and the VMA count goes down again. */
	void *p = mmap(va, len, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED)
		rc = -errno;
	errno = saved;
	return rc;
}

int pm_prim_protect(void *va, size_t len, int prot)
{
	int saved = errno, rc = mprotect(va, len, prot) ? -errno : 0;

	errno = saved;
	return rc;
}

int pm_prim_memfd(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* Sparse: the kernel gives the pool its memory as frames are first
	 * used, a chunk at a time (pm_prim_pool_commit), so that a process
	 * pays for the frames it uses, not for the pool it may use. */
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;
		pm_prim_close(fd);
		return err;
	}
	return fd;
}

void *pm_prim_map_pool(int fd, uint64_t size)
{
	/* Not populated: chunks are, as pm_prim_pool_commit gives them
	 * memory. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

int pm_prim_pool_commit(int fd, char *physmap, uint64_t off, uint64_t len)
{
	int saved = errno, rc = 0;

	/* Memory for the frames now, and the physmap's page-table entries
	 * for them, so that neither a zero-fill nor a frame's first mapping
	 * pays the kernel's allocation and clear_page on the fault path. */
	if (fallocate(fd, 0, (off_t)off, (off_t)len) < 0)
		rc = -errno;
	else if (madvise(physmap + off, len, MADV_POPULATE_WRITE) < 0 && errno != EINVAL)
		rc = -errno;                     /* EINVAL: a kernel before 5.14, populated on use */
	errno = saved;
	return rc;
}

/* One number of a "Key:  N kB" line of /proc/meminfo, in bytes; 0 = none. */
static uint64_t meminfo(const char *key)
{
	char buf[8192], *line;
	size_t klen = strlen(key);

	if (read_text("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return 0;
	for (line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			return strtoull(line + klen + 1, NULL, 10) * 1024;
	return 0;
}

/* A limit and a usage file of the cgroup at dir: the room left under the
 * limit; UINT64_MAX when there is no limit. */
static uint64_t room(const char *dir, const char *limit, const char *usage)
{
	char path[1200];
	uint64_t lim, use;

	snprintf(path, sizeof(path), "%s/%s", dir, limit);
	lim = read_u64_file(path, UINT64_MAX);
	snprintf(path, sizeof(path), "%s/%s", dir, usage);
	use = read_u64_file(path, 0);
	return lim == UINT64_MAX ? UINT64_MAX : lim > use ? lim - use : 0;
}

/* The room left under this process's cgroup memory limit (v2, else v1);
 * UINT64_MAX when there is no limit. */
static uint64_t cgroup_room(void)
{
	char buf[4096], dir[1100], *line, *nl, *p;

	if (read_text("/proc/self/cgroup", buf, sizeof(buf)) <= 0)
		return UINT64_MAX;
	for (line = buf; line && *line; line = nl ? nl + 1 : NULL) {
		if ((nl = strchr(line, '\n')))
			*nl = 0;
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", line + 3);
			return room(dir, "memory.max", "memory.current");
		}
		if ((p = strstr(line, ":memory:"))) {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s", p + 8);
			return room(dir, "memory.limit_in_bytes", "memory.usage_in_bytes");
		}
	}
	return UINT64_MAX;
}

uint64_t pm_prim_mem_available(uint64_t *cgroup)
{
	uint64_t avail = meminfo("MemAvailable");

	*cgroup = cgroup_room();
	if (!avail)
		avail = UINT64_MAX;
	return avail < *cgroup ? avail : *cgroup;
}

uint64_t pm_prim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

long pm_prim_max_map_count(void)
{
	uint64_t v = read_u64_file("/proc/sys/vm/max_map_count", 65530);

	return v > 0 && v < LONG_MAX ? (long)v : 65530;
}

long pm_prim_map_count(void)
{
	char buf[4096];
	long lines = 0, n, fd = raw(SYS_openat, AT_FDCWD, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	while ((n = raw(SYS_read, fd, (long)buf, sizeof(buf), 0)) > 0)
		for (long i = 0; i < n; i++)
			lines += buf[i] == '\n';
	raw(SYS_close, fd, 0, 0, 0);
	return lines;
}

int pm_prim_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		long n = raw(SYS_write, fd, (long)p, (long)len, 0);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void pm_prim_say(const char *msg)
{
	pm_prim_write(STDERR_FILENO, msg, strlen(msg));
}

int pm_prim_close(int fd)
{
	return (int)raw(SYS_close, fd, 0, 0, 0);
}

int pm_prim_create_private(const char *path)
{
	long fd = raw(SYS_openat, AT_FDCWD, (long)path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	long err;

	if (fd < 0)
		return (int)fd;
	/* A file that existed keeps its mode through O_CREAT: set it. */
	err = raw(SYS_fchmod, fd, 0600, 0, 0);
	if (err < 0) {
		pm_prim_close((int)fd);
		return (int)err;
	}
	return (int)fd;
}

int pm_prim_check_dir(const char *path)
{
	int saved = errno, rc = 0;
	struct stat st;

	if (stat(path, &st) < 0)
		rc = -errno;
	else if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	else if (access(path, W_OK | X_OK) < 0)
		rc = -errno;
	errno = saved;
	return rc;
}

int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

int pm_prim_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int saved = errno, rc = __sigaction(sig, act, old) < 0 ? -errno : 0;

	errno = saved;
	return rc;
}

int pm_prim_sigmask(int how, const uint64_t *set, uint64_t *old)
{
#if defined(__x86_64__)
	/* The instruction itself, not glibc's syscall(): it must lie in
	 * pagemu's code, where the syscall guard allows system calls. */
	register long size __asm__("r10") = sizeof(uint64_t);
	long rc;

	__asm__ volatile("syscall"
			 : "=a"(rc)
			 : "a"((long)SYS_rt_sigprocmask), "D"((long)how), "S"(set), "d"(old), "r"(size)
			 : "rcx", "r11", "memory");
	return (int)rc;
#else
	return (int)raw(SYS_rt_sigprocmask, how, (long)set, (long)old, sizeof(uint64_t));
#endif
}

int pm_prim_map_sigbus(void *va, size_t len)
{
	static int empty_fd = -1;   /* a memfd of size 0, shared by all instances */
	int saved = errno, rc = 0;

	if (empty_fd < 0)
		empty_fd = memfd_create("pagemu-sigbus", MFD_CLOEXEC);
	if (empty_fd < 0 || mmap(va, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, empty_fd, 0) == MAP_FAILED)
		rc = -errno;
	errno = saved;
	return rc;
}

size_t pm_prim_host_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}
