/* prim.c - every system call of the engine, each behind a one-line contract
 * (internal.h section 2). Functions called from the fault path are
 * async-signal-safe and preserve errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

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
		close(fd);
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
	close(fd);
	return lines;
}

void pm_prim_say(const char *msg)
{
	int saved = errno;
	size_t len = strlen(msg);

	while (len) {
		ssize_t n = write(STDERR_FILENO, msg, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		msg += n;
		len -= (size_t)n;
	}
	errno = saved;
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

char *pm_fmt_str(char *dst, char *end, const char *s)
{
	while (*s && dst < end - 1)
		*dst++ = *s++;
	*dst = 0;
	return dst;
}

char *pm_fmt_u64(char *dst, char *end, uint64_t v)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i && dst < end - 1)
		*dst++ = tmp[--i];
	*dst = 0;
	return dst;
}
