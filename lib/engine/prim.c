/* prim.c - every system call of the engine, each behind a one-line contract
 * (internal.h section 2). Functions called from the fault path are
 * async-signal-safe and preserve errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

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
	/* Allocate every page now: the pool is the machine's DRAM, there from
	 * the start (a shared mapping's MAP_POPULATE would not allocate shmem
	 * pages, and each first map of a frame would pay the kernel's
	 * clear_page). */
	if (ftruncate(fd, (off_t)size) < 0 || fallocate(fd, 0, 0, (off_t)size) < 0) {
		int err = -errno;
		pm_prim_close(fd);
		return err;
	}
	return fd;
}

void *pm_prim_map_pool(int fd, uint64_t size)
{
	/* Populated: the pool is the machine's DRAM, there from the start. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

uint64_t pm_prim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static long read_long_file(const char *path)
{
	char buf[64];
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	fclose(f);
	return v;
}

long pm_prim_max_map_count(void)
{
	long v = read_long_file("/proc/sys/vm/max_map_count");

	return v > 0 ? v : 65530;
}

long pm_prim_map_count(void)
{
	char buf[4096];
	long lines = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	pm_prim_close(fd);
	return lines;
}

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

/* write (off < 0) or pwrite at off all of buf, retrying short writes
 * and EINTR. */
static int write_all(int fd, const char *p, size_t len, int64_t off)
{
	while (len) {
		long n = off < 0 ? raw(SYS_write, fd, (long)p, (long)len, 0)
				 : raw(SYS_pwrite64, fd, (long)p, (long)len, (long)off);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		p += n;
		len -= (size_t)n;
		off += off < 0 ? 0 : n;
	}
	return 0;
}

int pm_prim_write(int fd, const void *buf, size_t len)
{
	return write_all(fd, buf, len, -1);
}

int pm_prim_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	return write_all(fd, buf, len, (int64_t)off);
}

int pm_prim_punch_hole(int fd, uint64_t off, uint64_t len)
{
	return (int)raw(SYS_fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (long)off, (long)len);
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
