/* preload.c - libpagemu-preload.so: the whole process's malloc on pagemu.
 *
 *   LD_PRELOAD=build/libpagemu-preload.so PAGEMU_FRAMES=256 prog args
 *   (or: build/pagemu run --frames 256 -- prog args)
 *
 * malloc, free, calloc, realloc, reallocarray, memalign, posix_memalign,
 * aligned_alloc, valloc, pvalloc and malloc_usable_size are replaced for
 * the whole process. The first allocation opens one pagemu instance,
 * configured by the PAGEMU_* variables; from then on every block comes
 * from that instance's heap (heap.c) in emulated memory.
 *
 * Three allocators answer, told apart by address in free and realloc:
 *   - the pagemu heap, for the program;
 *   - the bootstrap allocator, a size-class allocator over one lazily
 *     backed mapping of real memory: for every allocation made while
 *     pagemu itself runs (pagemu_open callocs the instance, libsigsegv's
 *     sigsegv_register mallocs its dispatcher nodes, which the fault
 *     handler reads: they must never be emulated memory). A thread-local
 *     depth counter says "inside pagemu";
 *   - glibc's malloc, for pointers that are neither (none normally), for
 *     a forked child, and when pagemu cannot start.
 *
 * The kernel never faults on emulated memory: a system call handed an
 * unmapped emulated buffer fails with EFAULT. The syscall guard (guard.c,
 * on by default, PAGEMU_SYSCALL_GUARD=0 turns it off) traps every system
 * call and pins what it refers to. Without it, two mitigations here:
 *   - blocks that libc itself allocates (stdio buffers, DIR streams, strdup,
 *     getline...) are pinned (resident and mapped) until freed: libc calls
 *     read/write/getdents on them internally, where no wrapper can see it;
 *   - the common I/O entry points a program calls (read, write, pread,
 *     pwrite, readv, writev, recv, send, recvfrom, sendto, fread, fwrite,
 *     fputs, puts) pin the program's buffer around the real call (not when
 *     the guard is on: it pins the buffer of the system call itself).
 *
 * At exit the process that opened the instance prints a short report on
 * stderr, or appends one JSON line to $PAGEMU_REPORT (PAGEMU_REPORT=none:
 * no report). The instance is never closed: stdio flushes its buffers
 * (emulated memory) after the destructors run.
 *
 * fork(): the engine gives the child a private copy of emulated memory
 * (lib/fork.c), so the child goes on with the same heap. It prints no
 * report of its own (its counters start from the parent's); a child that
 * execs starts a new instance and reports as usual.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine_api.h"
#include "heap/heap.h"
#include "guard.h"

#define EXPORT __attribute__((visibility("default")))
#define IE __attribute__((tls_model("initial-exec")))

extern void *__libc_malloc(size_t n);
extern void  __libc_free(void *p);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);

enum shim_state {
	SHIM_NONE = 0,                    /* no allocation yet */
	SHIM_STARTING,                    /* pagemu_open is running */
	SHIM_READY,                       /* blocks come from pagemu */
	SHIM_OFF,                         /* pagemu could not start: glibc */
	SHIM_FORKED,                      /* a forked child: glibc for new blocks */
};

static atomic_int state;
static pagemu_t *vm;
static pid_t owner_pid;                   /* the process that opened vm */
static uintptr_t libc_lo, libc_hi;        /* libc's executable segment */
static size_t pin_limit;                  /* bytes of libc blocks pinned at most */
static int report_fd = -1;                /* stderr as it was at start: programs may close fd 2 at exit */
static __thread int in_pm IE;             /* > 0: inside pagemu (bootstrap allocations) */

/* ---- the bootstrap allocator ------------------------------------------------
 * Power-of-two classes from 32 bytes; a 16-byte header before the payload
 * names the class and the start of the raw block (memalign moves the
 * payload). Freed blocks go on their class list. One spin lock. */
#define BOOT_RESERVE   (1ULL << 32)
#define BOOT_MAGIC     0xB0075u
#define BOOT_CLASSES   40

typedef struct boot_hdr {
	uint32_t magic;
	uint32_t cls;
	char    *raw;                     /* start of the block */
} boot_hdr_t;

static struct {
	atomic_flag lock;
	char *base, *cur, *end;
	void *free[BOOT_CLASSES];
} boot = { .lock = ATOMIC_FLAG_INIT };

static void boot_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&boot.lock, memory_order_acquire))
		__builtin_ia32_pause();
}
static void boot_unlock(void) { atomic_flag_clear_explicit(&boot.lock, memory_order_release); }

static inline int is_boot(const void *p)
{
	return (const char *)p >= boot.base && (const char *)p < boot.end;
}

static void *boot_alloc(size_t align, size_t n)
{
	size_t need = n + sizeof(boot_hdr_t) + (align > 16 ? align : 0);
	unsigned cls = 5;
	char *raw, *p;

	if (n > BOOT_RESERVE / 4 || align > BOOT_RESERVE / 4) {
		errno = ENOMEM;
		return NULL;
	}
	while ((1ULL << cls) < need)
		cls++;
	boot_lock();
	if (!boot.base) {
		void *m = mmap(NULL, BOOT_RESERVE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			boot_unlock();
			errno = ENOMEM;
			return NULL;
		}
		boot.base = boot.cur = m;
		boot.end = boot.base + BOOT_RESERVE;
	}
	if ((raw = boot.free[cls])) {
		boot.free[cls] = *(void **)raw;
	} else if ((size_t)(boot.end - boot.cur) >= (1ULL << cls)) {
		raw = boot.cur;
		boot.cur += 1ULL << cls;
	}
	boot_unlock();
	if (!raw) {
		errno = ENOMEM;
		return NULL;
	}
	p = (char *)(((uintptr_t)raw + sizeof(boot_hdr_t) + (align > 16 ? align : 16) - 1) &
		     ~(uintptr_t)((align > 16 ? align : 16) - 1));
	*(boot_hdr_t *)(p - sizeof(boot_hdr_t)) = (boot_hdr_t){ BOOT_MAGIC, cls, raw };
	return p;
}

static boot_hdr_t *boot_hdr(void *p)
{
	boot_hdr_t *h = (boot_hdr_t *)((char *)p - sizeof(boot_hdr_t));

	if (h->magic != BOOT_MAGIC) {
		pm_prim_say("pagemu-preload: free(): invalid pointer in the bootstrap arena\n");
		abort();
	}
	return h;
}

static void boot_free(void *p)
{
	boot_hdr_t *h = boot_hdr(p);
	char *raw = h->raw;
	unsigned cls = h->cls;

	h->magic = 0;
	boot_lock();
	*(void **)raw = boot.free[cls];
	boot.free[cls] = raw;
	boot_unlock();
}

static size_t boot_usable(void *p)
{
	boot_hdr_t *h = boot_hdr(p);

	return (size_t)(h->raw + (1ULL << h->cls) - (char *)p);
}

/* ---- starting ------------------------------------------------------------------ */

/* libc's executable segment, from its program headers in memory. */
static void find_libc(void)
{
	Dl_info info;

	if (!dladdr((void *)&__libc_malloc, &info) || !info.dli_fbase)
		return;
	const ElfW(Ehdr) *eh = info.dli_fbase;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	uintptr_t base = (uintptr_t)eh;
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
			libc_lo = base + ph[i].p_vaddr;      /* libc is ET_DYN: vaddrs are offsets */
			libc_hi = libc_lo + ph[i].p_memsz;
		}
}

static void on_fork_child(void)
{
	pm_guard_thread();           /* the kernel does not pass it on to the child */
}

static void start(void)
{
	pagemu_config_t cfg;
	int expect = SHIM_NONE, rc;

	if (!atomic_compare_exchange_strong(&state, &expect, SHIM_STARTING))
		return;
	in_pm++;
	pagemu_config_default(&cfg);
	rc = pagemu_config_from_env(&cfg);
	if (rc == 0)
		rc = pagemu_open(&cfg, &vm);
	if (rc < 0) {
		char msg[640];
		snprintf(msg, sizeof(msg), "pagemu-preload: cannot start pagemu (%s); the program runs on glibc's malloc\n",
			 pagemu_last_error()[0] ? pagemu_last_error() : pagemu_strerror(rc));
		pm_prim_say(msg);
		atomic_store(&state, SHIM_OFF);
		in_pm--;
		return;
	}
	find_libc();
	/* Pinned frames can never be evicted: keep libc's pinned blocks to a
	 * quarter of the pool so that paging can always go on (an I/O wrapper
	 * pins a buffer of up to that much more for the length of a call). */
	pin_limit = cfg.frames * cfg.page_size / 4;
	owner_pid = getpid();
	report_fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
	pthread_atfork(NULL, NULL, on_fork_child);
	pm_guard_init(vm, pin_limit);
	atomic_store(&state, SHIM_READY);
	in_pm--;
}

/* 1 when this allocation should come from pagemu. */
static inline int use_pagemu(void)
{
	if (in_pm)
		return 0;
	int s = atomic_load_explicit(&state, memory_order_acquire);
	if (s == SHIM_READY)
		return 1;
	if (s == SHIM_NONE) {
		start();
		return atomic_load(&state) == SHIM_READY;
	}
	return 0;
}

/* Where a block comes from when pagemu is not used. */
static void *other_alloc(size_t align, size_t n, int zero)
{
	int s = atomic_load_explicit(&state, memory_order_relaxed);
	void *p;

	if (s == SHIM_OFF || s == SHIM_FORKED) {
		if (align > 16)
			return __libc_memalign(align, n);
		return zero ? __libc_calloc(1, n) : __libc_malloc(n);
	}
	p = boot_alloc(align, n);
	if (p && zero)
		memset(p, 0, n);     /* recycled bootstrap blocks are not zero */
	return p;
}

/* ---- libc's own blocks are pinned ---------------------------------------------- */

static inline int from_libc(const void *ret)
{
	return (uintptr_t)ret >= libc_lo && (uintptr_t)ret < libc_hi;
}

/* Called inside pagemu (in_pm > 0). Over the limit the block stays
 * unpinned: a system call on it may then fail with EFAULT. */
static void pin_block(void *p)
{
	if (p)
		pm_heap_pin(vm, p, pin_limit);
}

/* ---- for the syscall guard ---- */

int pm_shim_in_pagemu(void) { return in_pm > 0; }

void *pm_shim_dlsym(const char *name)
{
	void *f;

	in_pm++;
	f = dlsym(RTLD_NEXT, name);
	in_pm--;
	return f;
}

void *pm_shim_alloc_internal(size_t n) { return boot_alloc(0, n); }
void  pm_shim_free_internal(void *p) { boot_free(p); }

/* ---- the malloc family ------------------------------------------------------------ */

/* Is p a block of the pagemu heap? (Not in a forked child's new blocks.) */
static inline int is_pagemu(const void *p)
{
	int s = atomic_load_explicit(&state, memory_order_relaxed);

	return (s == SHIM_READY || s == SHIM_FORKED) && pm_heap_owns(vm, p);
}

static void *shim_alloc(size_t align, size_t n, int zero, const void *ret)
{
	void *p;

	if (!use_pagemu())
		return other_alloc(align, n, zero);
	in_pm++;
	if (zero)
		p = pagemu_calloc(vm, 1, n);
	else if (align > 16)
		p = pagemu_memalign(vm, align, n);
	else
		p = pagemu_malloc(vm, n);
	if (from_libc(ret))
		pin_block(p);
	in_pm--;
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
	if (is_boot(p)) {
		boot_free(p);
	} else if (is_pagemu(p)) {
		if (atomic_load(&state) == SHIM_FORKED)
			return;          /* the parent's heap, shared: leave it alone */
		in_pm++;
		pagemu_free(vm, p);
		in_pm--;
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

	if (is_boot(p))
		return boot_usable(p);
	if (is_pagemu(p)) {
		in_pm++;
		n = pagemu_malloc_usable_size(vm, p);
		in_pm--;
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
	if (is_pagemu(p) && atomic_load(&state) == SHIM_READY) {
		in_pm++;
		np = pagemu_realloc(vm, p, n);
		if (from_libc(ret))
			pin_block(np);
		in_pm--;
		return np;
	}
	if (!is_boot(p) && !is_pagemu(p))
		return __libc_realloc(p, n);
	/* A bootstrap block, or a forked child's inherited pagemu block:
	 * move it to where new blocks come from now. */
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
	static size_t (*real)(void *);

	if (!p)
		return 0;
	if (is_boot(p) || is_pagemu(p))
		return usable(p);
	if (!real) {
		in_pm++;
		real = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
		in_pm--;
	}
	return real ? real(p) : 0;
}

/* ---- system calls on emulated buffers ---------------------------------------------- */

/* The real function `name`, looked up once. */
#define REAL(ret, name, ...)                                                    \
	static ret (*real_##name)(__VA_ARGS__);                                 \
	if (!real_##name) {                                                     \
		in_pm++;                                                        \
		real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);    \
		in_pm--;                                                        \
	}

/* Pin [buf, buf+len) when it is pagemu memory; 1 when pinned. At most a
 * quarter of the pool: a larger buffer is cut to *len (the I/O call may
 * return short, as read and write may) unless cut is 0. */
static int pin_buf(const void *buf, size_t *len, int cut)
{
	size_t max = pin_limit;
	int rc;

	if (!buf || !*len || in_pm || atomic_load_explicit(&state, memory_order_relaxed) != SHIM_READY ||
	    pm_guard_active() || !pm_heap_owns(vm, buf))
		return 0;
	if (*len > max) {
		if (!cut)
			return 0;
		*len = max;
	}
	in_pm++;
	rc = pagemu_pin(vm, buf, *len);
	in_pm--;
	return rc == 0;
}

static void unpin_buf(const void *buf, size_t len, int pinned)
{
	if (!pinned)
		return;
	in_pm++;
	pagemu_unpin(vm, buf, len);
	in_pm--;
}

#define PINNED_CALL(buf, len, call)                                             \
	do {                                                                    \
		size_t n_ = (len);                                              \
		int pin_ = pin_buf((buf), &n_, 1), e_;                          \
		__typeof__(call) r_ = call;                                     \
		e_ = errno;                                                     \
		unpin_buf((buf), n_, pin_);                                     \
		errno = e_;                                                     \
		return r_;                                                      \
	} while (0)

/* In PINNED_CALL, `n_` is the (possibly cut) length. */
EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	REAL(ssize_t, read, int, void *, size_t)
	PINNED_CALL(buf, len, real_read(fd, buf, n_));
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(ssize_t, write, int, const void *, size_t)
	PINNED_CALL(buf, len, real_write(fd, buf, n_));
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	REAL(ssize_t, pread, int, void *, size_t, off_t)
	PINNED_CALL(buf, len, real_pread(fd, buf, n_, off));
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
	PINNED_CALL(buf, len, real_pwrite(fd, buf, n_, off));
}

EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	REAL(ssize_t, pread64, int, void *, size_t, off_t)
	PINNED_CALL(buf, len, real_pread64(fd, buf, n_, off));
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	REAL(ssize_t, pwrite64, int, const void *, size_t, off_t)
	PINNED_CALL(buf, len, real_pwrite64(fd, buf, n_, off));
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	REAL(ssize_t, recv, int, void *, size_t, int)
	PINNED_CALL(buf, len, real_recv(fd, buf, n_, flags));
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	REAL(ssize_t, send, int, const void *, size_t, int)
	PINNED_CALL(buf, len, real_send(fd, buf, n_, flags));
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a, socklen_t *al)
{
	REAL(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *)
	PINNED_CALL(buf, len, real_recvfrom(fd, buf, n_, flags, a, al));
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a, socklen_t al)
{
	REAL(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t)
	PINNED_CALL(buf, len, real_sendto(fd, buf, n_, flags, a, al));
}

/* readv/writev: pin each buffer that fits (all or nothing per buffer). */
#define IOV_PIN_MAX 64
static unsigned pin_iov(const struct iovec *iov, int cnt, unsigned char *pinned)
{
	unsigned any = 0;

	for (int i = 0; i < cnt && i < IOV_PIN_MAX; i++) {
		size_t n = iov[i].iov_len;
		pinned[i] = (unsigned char)pin_buf(iov[i].iov_base, &n, 0);
		any |= pinned[i];
	}
	return any;
}

static void unpin_iov(const struct iovec *iov, int cnt, const unsigned char *pinned)
{
	for (int i = 0; i < cnt && i < IOV_PIN_MAX; i++)
		unpin_buf(iov[i].iov_base, iov[i].iov_len, pinned[i]);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	REAL(ssize_t, readv, int, const struct iovec *, int)
	unsigned char pinned[IOV_PIN_MAX];
	unsigned any = pin_iov(iov, cnt, pinned);
	ssize_t r = real_readv(fd, iov, cnt);
	int e = errno;
	if (any)
		unpin_iov(iov, cnt, pinned);
	errno = e;
	return r;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(ssize_t, writev, int, const struct iovec *, int)
	unsigned char pinned[IOV_PIN_MAX];
	unsigned any = pin_iov(iov, cnt, pinned);
	ssize_t r = real_writev(fd, iov, cnt);
	int e = errno;
	if (any)
		unpin_iov(iov, cnt, pinned);
	errno = e;
	return r;
}

/* stdio reads and writes a large request straight between the program's
 * buffer and the file, with libc-internal calls no wrapper sees: pin the
 * buffer around the call, cutting it into parts that fit the pin limit. */
/* One body for fread, fread_unlocked, fwrite and fwrite_unlocked (gnulib's
 * unlocked-io makes coreutils call the _unlocked ones). */
#undef fread_unlocked
#undef fwrite_unlocked
#define STDIO_CHUNKED(name, cv)                                                   \
EXPORT size_t name(cv void *ptr, size_t size, size_t nmemb, FILE *f)              \
{                                                                                 \
	REAL(size_t, name, cv void *, size_t, size_t, FILE *)                     \
	size_t done = 0, per = size && pin_limit / size ? pin_limit / size : nmemb; \
	if (!size || !nmemb)                                                      \
		return 0;                                                         \
	while (done < nmemb) {                                                    \
		size_t k = nmemb - done < per ? nmemb - done : per, n = k * size, got; \
		cv char *p = (cv char *)ptr + done * size;                        \
		int pin = pin_buf(p, &n, 0), e;                                   \
		got = real_##name(p, size, k, f);                                 \
		e = errno;                                                        \
		unpin_buf(p, n, pin);                                             \
		errno = e;                                                        \
		done += got;                                                      \
		if (got < k)                                                      \
			break;                                                    \
	}                                                                         \
	return done;                                                              \
}

STDIO_CHUNKED(fread, )
STDIO_CHUNKED(fread_unlocked, )
STDIO_CHUNKED(fwrite, const)
STDIO_CHUNKED(fwrite_unlocked, const)


EXPORT int fputs(const char *s, FILE *f)
{
	REAL(int, fputs, const char *, FILE *)
	size_t len = strlen(s);
	PINNED_CALL(s, len, (n_ == len ? real_fputs(s, f) : (int)fwrite(s, 1, len, f) == (int)len ? 0 : EOF));
}

EXPORT int puts(const char *s)
{
	REAL(int, puts, const char *)
	size_t len = strlen(s);
	PINNED_CALL(s, len, (n_ == len ? real_puts(s) : fputs(s, stdout) == EOF ? EOF : putchar('\n')));
}

/* ---- the report at exit ------------------------------------------------------------ */

static int write_all(int fd, const char *s)
{
	REAL(ssize_t, write, int, const void *, size_t)
	for (size_t len = strlen(s); len;) {
		ssize_t n = real_write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static void report_text(const pagemu_stats_t *s, const pagemu_heap_stats_t *h)
{
	char msg[1024];
	double mib = 1024.0 * 1024.0;

	snprintf(msg, sizeof(msg),
		 "pagemu: %s[%d]: %llu faults (%llu zero, %llu minor, %llu write, %llu major, %llu declined)\n"
		 "pagemu:   %llu evictions (%llu written back, %llu clean); swap: %llu reads (%llu pages), %llu writes; "
		 "%.1f ms in the handler\n"
		 "pagemu:   heap: %.1f MiB at most, peak %.1f MiB allocated, utilization %.0f%%, "
		 "internal frag %.1f MiB, external frag %.0f%%, %llu blocks live\n",
		 program_invocation_short_name, (int)getpid(), (unsigned long long)s->faults,
		 (unsigned long long)s->faults_zero, (unsigned long long)s->faults_minor,
		 (unsigned long long)s->faults_write, (unsigned long long)s->faults_major,
		 (unsigned long long)s->faults_declined, (unsigned long long)s->evictions,
		 (unsigned long long)s->writebacks, (unsigned long long)s->clean_evictions,
		 (unsigned long long)s->swap_reads, (unsigned long long)s->swap_read_pages,
		 (unsigned long long)s->swap_writes, (double)s->handler_ns / 1e6, (double)h->heap_peak / mib,
		 (double)h->peak / mib, h->utilization * 100.0, (double)h->internal_frag / mib,
		 h->external_frag * 100.0, (unsigned long long)h->blocks);
	if (report_fd < 0 || write_all(report_fd, msg) < 0)
		pm_prim_say(msg);
}

static void report_json(const char *path, const pagemu_stats_t *s, const pagemu_heap_stats_t *h)
{
	FILE *f = fopen(path, "a");

	if (!f) {
		char msg[512];
		snprintf(msg, sizeof(msg), "pagemu-preload: PAGEMU_REPORT=%s: %s\n", path, strerror(errno));
		pm_prim_say(msg);
		return;
	}
	fprintf(f, "{\"program\":\"%s\",\"pid\":%d,\"stats\":{", program_invocation_short_name, (int)getpid());
	const char *sep = "";
#define X(name, kind, desc) fprintf(f, "%s\"%s\":%llu", sep, #name, (unsigned long long)s->name); sep = ",";
	PAGEMU_STATS_LIST(X)
#undef X
	fprintf(f, "},\"heap\":{\"heap_size\":%llu,\"heap_peak\":%llu,\"break_size\":%llu,\"allocated\":%llu,\"peak\":%llu,"
		"\"blocks\":%llu,\"large_blocks\":%llu,\"large_bytes\":%llu,\"free_blocks\":%llu,\"free_bytes\":%llu,"
		"\"largest_free\":%llu,\"internal_frag\":%llu,\"utilization\":%.4f,\"external_frag\":%.4f,"
		"\"mallocs\":%llu,\"frees\":%llu,\"grows\":%llu}}\n",
		(unsigned long long)h->heap_size, (unsigned long long)h->heap_peak, (unsigned long long)h->break_size, (unsigned long long)h->allocated,
		(unsigned long long)h->peak, (unsigned long long)h->blocks, (unsigned long long)h->large_blocks,
		(unsigned long long)h->large_bytes, (unsigned long long)h->free_blocks,
		(unsigned long long)h->free_bytes, (unsigned long long)h->largest_free,
		(unsigned long long)h->internal_frag, h->utilization, h->external_frag,
		(unsigned long long)h->mallocs, (unsigned long long)h->frees, (unsigned long long)h->grows);
	fclose(f);
}

__attribute__((destructor)) static void report(void)
{
	pagemu_stats_t s;
	pagemu_heap_stats_t h;
	const char *path = getenv("PAGEMU_REPORT");

	if (atomic_load(&state) != SHIM_READY || getpid() != owner_pid)
		return;
	if (path && strcmp(path, "none") == 0)
		return;
	in_pm++;                     /* stdio's blocks come from the bootstrap arena */
	pagemu_get_stats(vm, &s);
	pagemu_heap_stats(vm, &h);
	if (path && *path)
		report_json(path, &s, &h);
	else
		report_text(&s, &h);
	in_pm--;
}

/* ---- the program's own SIGSEGV handler ------------------------------------------------- */

/* Programs install SIGSEGV handlers of their own (gnulib's c-stack in grep
 * and coreutils, gcc's crash reporter, garbage collectors). Installed for
 * real, such a handler would take pagemu's faults. Instead it is chained
 * behind pagemu's handler, which hands it every fault pagemu does not serve
 * (lib/region.c). Before pagemu starts it is installed as well, so that it
 * works meanwhile; if pagemu cannot start, everything goes to the kernel. */
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int s = atomic_load(&state);

	/* pagemu's own calls (libsigsegv installing its handler, at start) are
	 * real ones. */
	if (sig != SIGSEGV || s == SHIM_OFF || in_pm)
		return __sigaction(sig, act, old);
	pm_signal_chain(act, old);
	if (s != SHIM_READY && act)
		return __sigaction(sig, act, NULL);
	return 0;
}

static sighandler_t set_handler(int sig, sighandler_t h, int flags)
{
	struct sigaction a, o;

	memset(&a, 0, sizeof(a));
	a.sa_handler = h;
	a.sa_flags = flags;
	sigemptyset(&a.sa_mask);
	if (sigaction(sig, &a, &o) < 0)
		return SIG_ERR;
	return o.sa_handler;
}

/* BSD semantics, as glibc's signal(). */
EXPORT sighandler_t signal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESTART); }
EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESTART); }
EXPORT sighandler_t sysv_signal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESETHAND | SA_NODEFER); }

/* A synchronous SIGSEGV that the faulting thread blocks kills the process
 * without any handler running (the kernel cannot deliver it later). GLib,
 * for one, starts its threads with every signal blocked. So no mask the
 * program sets may block SIGSEGV or SIGBUS while pagemu serves faults. */
static const sigset_t *unblock_faults(int how, const sigset_t *set, sigset_t *copy)
{
	if (!set || how == SIG_UNBLOCK || atomic_load(&state) == SHIM_OFF)
		return set;
	*copy = *set;
	sigdelset(copy, SIGSEGV);
	sigdelset(copy, SIGBUS);
	return copy;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	REAL(int, sigprocmask, int, const sigset_t *, sigset_t *)

	return real_sigprocmask(how, unblock_faults(how, set, &copy), old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	REAL(int, pthread_sigmask, int, const sigset_t *, sigset_t *)

	return real_pthread_sigmask(how, unblock_faults(how, set, &copy), old);
}
