/* prim.c - every system call of the engine, each behind a one-line contract
 * (internal.h section 2). Functions called from the fault path are
 * async-signal-safe and preserve errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/resource.h>
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
	fd = pm_prim_own_fd(fd);
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
	pm_prim_forget_fd(fd);
	return (int)raw(SYS_close, fd, 0, 0, 0);
}

/* ---- the descriptors pagemu owns -------------------------------------------- */

/* Programs close what they did not open: spawn helpers close every
 * descriptor above 2 before exec (GLib's g_spawn), daemons at start-up,
 * others dup2 onto a number they believe free. So, as valgrind does, each
 * descriptor of pagemu's moves to the top of the soft RLIMIT_NOFILE (where
 * a program's own open never lands), close-on-exec, and goes in this
 * table, which the syscall guard reads to refuse the program's close,
 * dup2, dup3 and fcntl aimed at it. */
#define OWNED_MAX   64                /* slots in the table (a few per instance) */
#define FD_TOP      65536             /* the highest number used, whatever the limit: the kernel's table grows to it */

static atomic_int owned[OWNED_MAX];   /* fd + 1 of each descriptor; 0 = a free slot */

/* fd at a number near the top of the soft limit (close-on-exec), the old
 * one closed; fd itself when every such number is taken. */
static int move_high(int fd)
{
	struct rlimit rl;
	long top = FD_TOP;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < top)
		top = (long)rl.rlim_cur;
	/* F_DUPFD takes the lowest free number from base: the top OWNED_MAX
	 * numbers first, then the ones below them. */
	for (long base = top - OWNED_MAX; base > fd && base > top - 4 * OWNED_MAX; base -= OWNED_MAX) {
		long nfd = raw(SYS_fcntl, fd, F_DUPFD_CLOEXEC, base, 0);
		if (nfd >= 0) {
			raw(SYS_close, fd, 0, 0, 0);
			return (int)nfd;
		}
		if (nfd != -EMFILE && nfd != -EINVAL)
			break;
	}
	return fd;
}

int pm_prim_own_fd(int fd)
{
	if (fd < 0)
		return fd;
	fd = move_high(fd);
	for (int i = 0; i < OWNED_MAX; i++) {
		int expect = 0;
		if (atomic_compare_exchange_strong(&owned[i], &expect, fd + 1))
			break;
	}
	return fd;
}

void pm_prim_forget_fd(int fd)
{
	for (int i = 0; i < OWNED_MAX; i++) {
		int expect = fd + 1;
		if (atomic_compare_exchange_strong(&owned[i], &expect, 0))
			return;
	}
}

int pm_prim_fd_owned(int fd)
{
	return fd >= 0 && pm_prim_fd_next_owned(fd) == fd;
}

int pm_prim_fd_next_owned(int from)
{
	int best = -1;

	for (int i = 0; i < OWNED_MAX; i++) {
		int fd = atomic_load(&owned[i]) - 1;
		if (fd >= from && (best < 0 || fd < best))
			best = fd;
	}
	return best;
}

int pm_prim_ring_init(struct io_uring *ring, unsigned entries)
{
	int rc = io_uring_queue_init(entries, ring, 0);

	if (rc < 0)
		return rc;
	/* The ring's mappings belong to the file, not the number: moving
	 * the descriptor keeps the ring as it is. */
	ring->ring_fd = ring->enter_ring_fd = pm_prim_own_fd(ring->ring_fd);
	return 0;
}

void pm_prim_ring_exit(struct io_uring *ring)
{
	pm_prim_forget_fd(ring->ring_fd);    /* liburing closes it: not the program's close */
	io_uring_queue_exit(ring);
}

/* path opened with flags (O_CREAT, never through a symbolic link), mode
 * 0600 even when it existed: the new fd, owned, or -errno. */
static int open_private(const char *path, int flags)
{
	long fd = raw(SYS_openat, AT_FDCWD, (long)path, flags | O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat st;
	long err;

	if (fd < 0)
		return (int)fd;
	/* A file that existed keeps its mode through O_CREAT: set it (on a
	 * regular file only: not /dev/null's). */
	err = raw(SYS_fstat, fd, (long)&st, 0, 0);
	if (err == 0 && S_ISREG(st.st_mode))
		err = raw(SYS_fchmod, fd, 0600, 0, 0);
	if (err < 0) {
		raw(SYS_close, fd, 0, 0, 0);
		return (int)err;
	}
	return pm_prim_own_fd((int)fd);
}

int pm_prim_create_private(const char *path)
{
	return open_private(path, O_TRUNC);
}

int pm_prim_append_private(const char *path)
{
	return open_private(path, O_APPEND);
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
		empty_fd = pm_prim_own_fd(memfd_create("pagemu-sigbus", MFD_CLOEXEC));
	if (empty_fd < 0 || mmap(va, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, empty_fd, 0) == MAP_FAILED)
		rc = -errno;
	errno = saved;
	return rc;
}

size_t pm_prim_host_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}
