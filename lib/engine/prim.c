/* prim.c - every system call of the engine, each behind a one-line contract
 * (internal.h section 2). Functions called from the fault path are
 * async-signal-safe and preserve errno. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/futex.h>
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

/* The same with six arguments. */
static long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
	int saved = errno;
	long rc = syscall(nr, a, b, c, d, e, f);

	if (rc < 0)
		rc = -errno;
	errno = saved;
	return rc;
}

/* mmap, munmap and madvise as system calls, setting errno as the C
 * library's do: under pagemu run --mmap those names are the shim's
 * (preload/mmap.c), and pagemu's own mappings must never go there. */
static void *sys_mmap(void *va, size_t len, int prot, int flags, int fd, off_t off)
{
	long p = syscall(SYS_mmap, va, len, prot, flags, fd, off);

	return p == -1 ? MAP_FAILED : (void *)p;
}

static int sys_munmap(void *va, size_t len)
{
	return (int)syscall(SYS_munmap, va, len);
}

static int sys_madvise(void *va, size_t len, int advice)
{
	return (int)syscall(SYS_madvise, va, len, advice);
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
	void *p = sys_mmap(NULL, len, PROT_NONE, RESERVE_FLAGS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int pm_prim_reserve_at(void *va, size_t len)
{
	void *p = sys_mmap(va, len, PROT_NONE, RESERVE_FLAGS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return -EEXIST;
	if (p != va) {                   /* (a kernel older than 4.17: a hint, not taken) */
		sys_munmap(p, len);
		return -EEXIST;
	}
	return 0;
}

uint64_t pm_prim_as_room(void)
{
	struct rlimit rl;
	char buf[128];
	unsigned long long pages;

	if (getrlimit(RLIMIT_AS, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return UINT64_MAX;
	if (read_text("/proc/self/statm", buf, sizeof(buf)) <= 0 || sscanf(buf, "%llu", &pages) != 1)
		return rl.rlim_cur / 2;          /* (no /proc: assume half is used) */
	uint64_t used = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
	return used < rl.rlim_cur ? rl.rlim_cur - used : 0;
}

void *pm_prim_alloc_tables(size_t len)
{
	void *p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, RESERVE_FLAGS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int pm_prim_release(void *addr, size_t len)
{
	int saved = errno, rc = sys_munmap(addr, len) ? -errno : 0;

	errno = saved;
	return rc;
}

int pm_prim_map_file(void *va, size_t len, int prot, int fd, uint64_t off)
{
	int saved = errno, rc = 0;

	if (sys_mmap(va, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)off) == MAP_FAILED)
		rc = -errno;
	errno = saved;
	return rc;
}

int pm_prim_map_frame(void *va, size_t len, int prot, int fd, uint64_t off)
{
	int saved = errno, rc = 0;
	/* MAP_POPULATE installs the PTE now: the restarted instruction does
	 * not take a second (kernel) fault. */
	void *p = sys_mmap(va, len, prot, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, (off_t)off);

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
	void *p = sys_mmap(va, len, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED)
		rc = -errno;
	errno = saved;
	return rc;
}

/* Raw: the shim wraps mprotect (preload/protect.c) and would hand the
 * engine's own call back to pagemu_protect. */
int pm_prim_protect(void *va, size_t len, int prot)
{
	return (int)raw(SYS_mprotect, (long)va, (long)len, prot, 0);
}

int pm_prim_memfd(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	fd = pm_prim_own_fd(fd);
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
	void *p = sys_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

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
	else if (sys_madvise(physmap + off, len, MADV_POPULATE_WRITE) < 0 && errno != EINVAL)
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

long pm_prim_pread(int fd, void *buf, size_t len, uint64_t off)
{
	long rc;

	do
		rc = raw(SYS_pread64, fd, (long)buf, (long)len, (long)off);
	while (rc == -EINTR);
	return rc;
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
	pm_prim_forget_fd(fd);
	return (int)raw(SYS_close, fd, 0, 0, 0);
}

/* ---- files that regions map -------------------------------------------------- */

int pm_prim_file_info(int fd, uint64_t *dev, uint64_t *ino, uint64_t *size, int *accmode)
{
	struct stat st;
	long rc = raw(SYS_fstat, fd, (long)&st, 0, 0), fl;

	if (rc < 0)
		return (int)rc;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	fl = raw(SYS_fcntl, fd, F_GETFL, 0, 0);
	if (fl < 0)
		return (int)fl;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	*size = (uint64_t)st.st_size;
	*accmode = (int)(fl & O_ACCMODE);
	return 0;
}

int pm_prim_datasync(int fd)
{
	return (int)raw(SYS_fdatasync, fd, 0, 0, 0);
}

int pm_prim_file_size(int fd, uint64_t *size)
{
	struct stat st;
	long rc = raw(SYS_fstat, fd, (long)&st, 0, 0);

	if (rc < 0)
		return (int)rc;
	*size = (uint64_t)st.st_size;
	return 0;
}

int pm_prim_dup_file(int fd)
{
	long nfd = raw(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0, 0);

	return nfd < 0 ? (int)nfd : pm_prim_own_fd((int)nfd);
}

int pm_prim_reopen_direct(int fd, int rw)
{
	char path[64];
	long nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = raw(SYS_openat, AT_FDCWD, (long)path, (rw ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC, 0);
	return nfd < 0 ? (int)nfd : pm_prim_own_fd((int)nfd);
}

int pm_prim_tmpfile(const char *dir, int direct, uint64_t size)
{
	long fd = raw(SYS_openat, AT_FDCWD, (long)dir, O_RDWR | O_CLOEXEC | O_TMPFILE | (direct ? O_DIRECT : 0), 0600), rc = 0;

	if (fd == -EOPNOTSUPP || fd == -EISDIR || fd == -EINVAL) {
		/* No O_TMPFILE here: a named file, unlinked at once. */
		char path[PATH_MAX];
		int saved = errno;
		snprintf(path, sizeof(path), "%s/pagemu-XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		if (fd >= 0)
			unlink(path);
		errno = saved;
		if (fd >= 0 && direct)
			rc = raw(SYS_fcntl, fd, F_SETFL, O_DIRECT, 0);
	}
	if (fd < 0)
		return (int)fd;
	if (rc == 0)
		rc = raw(SYS_fchmod, fd, 0600, 0, 0);
	if (rc == 0 && size)
		rc = raw(SYS_ftruncate, fd, (long)size, 0, 0);
	if (rc < 0) {
		raw(SYS_close, fd, 0, 0, 0);
		return (int)rc;
	}
	return pm_prim_own_fd((int)fd);
}

/* ---- the descriptors pagemu owns -------------------------------------------- */

/* Programs close what they did not open: spawn helpers close every
 * descriptor above 2 before exec (GLib's g_spawn), daemons at start-up,
 * others dup2 onto a number they believe free. So, as valgrind does, each
 * descriptor of pagemu's moves to the top of the soft RLIMIT_NOFILE (where
 * a program's own open never lands), close-on-exec, and goes in this
 * table, which the syscall guard reads to refuse the program's close,
 * dup2, dup3 and fcntl aimed at it. */
#define OWNED_MAX   256               /* slots in the table (a few per instance, one per file mapped) */
#define FD_BAND     64                /* numbers taken at a time from the top */
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
	/* F_DUPFD takes the lowest free number from base: the top FD_BAND
	 * numbers first, then the bands below them. */
	for (long base = top - FD_BAND; base > fd && base > top - 8 * FD_BAND; base -= FD_BAND) {
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
		empty_fd = pm_prim_own_fd(memfd_create("pagemu-sigbus", MFD_CLOEXEC));
	if (empty_fd < 0 || sys_mmap(va, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, empty_fd, 0) == MAP_FAILED)
		rc = -errno;
	errno = saved;
	return rc;
}

void pm_prim_futex_wait(uint32_t *addr, uint32_t val, long timeout_ns)
{
	struct timespec ts = { timeout_ns / 1000000000L, timeout_ns % 1000000000L };

	raw(SYS_futex, (long)addr, FUTEX_WAIT_PRIVATE, (long)val, (long)&ts);
}

void pm_prim_futex_wake(uint32_t *addr, int n)
{
	raw(SYS_futex, (long)addr, FUTEX_WAKE_PRIVATE, n, 0);
}

size_t pm_prim_host_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

long pm_prim_recv(int fd, void *buf, size_t len)
{
	return raw6(SYS_recvfrom, fd, (long)buf, (long)len, MSG_WAITALL, 0, 0);
}

long pm_prim_msg(int fd, struct msghdr *m, int recv)
{
	return recv ? raw(SYS_recvmsg, fd, (long)m, MSG_WAITALL, 0) : raw(SYS_sendmsg, fd, (long)m, MSG_NOSIGNAL, 0);
}

long pm_prim_recv_some(int fd, void *buf, size_t len)
{
	return raw6(SYS_recvfrom, fd, (long)buf, (long)len, 0, 0, 0);
}

int pm_prim_wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	return (int)raw6(SYS_ppoll, (long)&pfd, 1, ms < 0 ? 0 : (long)&ts, 0, 0, 0);
}

/* The hook every thread of pagemu's runs first (pm_prim_set_thread_hook). */
static void (*thread_hook)(void);

void pm_prim_set_thread_hook(void (*hook)(void))
{
	thread_hook = hook;
}

/* What a thread of pagemu's starts with: its function and argument. */
typedef struct thread_start {
	void *(*fn)(void *);
	void *arg;
} thread_start_t;

static void *thread_main(void *p)
{
	thread_start_t ts = *(thread_start_t *)p;

	if (thread_hook)
		thread_hook();
	free(p);
	return ts.fn(ts.arg);
}

int pm_prim_thread_start(pm_thread_t *t, void *(*fn)(void *), void *arg)
{
	typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	create_fn create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
	sigset_t all, old;
	pthread_t th;
	int rc;

	if (!create)
		create = pthread_create;         /* no later definition: ours is libc's */
	/* The asynchronous signals are the program's threads' to take; the
	 * synchronous ones stay open: a fault on emulated memory (glibc's
	 * thread start-up reads the locale, which the program's heap may
	 * hold) must reach pagemu's handler, not kill the process. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	thread_start_t *ts = malloc(sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	*ts = (thread_start_t){ fn, arg };
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = create(&th, NULL, thread_main, ts);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		free(ts);
	if (rc == 0)
		*t = (pm_thread_t)th;
	return -rc;
}

void pm_prim_thread_join(pm_thread_t t)
{
	pthread_join((pthread_t)t, NULL);
}
