/* boot.c - the bootstrap allocator: real memory for every allocation made
 * while pagemu itself runs (pm_shim_depth > 0), and before it has started.
 *
 * Power-of-two classes from 32 bytes over one lazily backed reservation; a
 * 16-byte header before the payload names the class and the start of the
 * raw block (memalign moves the payload). Freed blocks go on their class
 * list. One spin lock. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine_api.h"
#include "shim.h"

#define BOOT_RESERVE   (1ULL << 32)   /* address space; a smaller one under a tight RLIMIT_AS */
#define BOOT_RESERVE_MIN (16ULL << 20)
#define BOOT_MAGIC     0xB0075u
#define BOOT_CLASSES   40

__thread int pm_shim_depth IE;

typedef struct boot_hdr {
	uint32_t magic;
	uint32_t cls;
	char    *raw;                     /* start of the block */
} boot_hdr_t;

static struct {
	atomic_flag lock;
	char *base, *cur, *end;           /* the reservation; cur: first byte never handed out */
	void *free[BOOT_CLASSES];         /* per class, a list through the blocks' first word */
} boot = { .lock = ATOMIC_FLAG_INIT };

static void boot_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&boot.lock, memory_order_acquire))
		__builtin_ia32_pause();
}
static void boot_unlock(void) { atomic_flag_clear_explicit(&boot.lock, memory_order_release); }

int pm_boot_owns(const void *p)
{
	return (const char *)p >= boot.base && (const char *)p < boot.end;
}

/* A raw block of class cls; NULL when the arena is spent. Called with the
 * lock held. */
static char *boot_take(unsigned cls)
{
	char *raw = NULL;

	if (!boot.base) {
		/* The system call: mmap is the shim's own (mmap.c). Only address
		 * space, backed as used: under a limit on it (ulimit -v), an
		 * eighth of what it leaves at most, down to 16 MiB. */
		long m = -1;
		size_t len = BOOT_RESERVE;
		uint64_t room = pm_prim_as_room() / 8;
		while (len > BOOT_RESERVE_MIN && len > room)
			len /= 2;
		for (; len >= BOOT_RESERVE_MIN; len /= 2) {
			m = syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (m != -1)
				break;
		}
		if (m == -1)
			return NULL;
		boot.base = boot.cur = (char *)m;
		boot.end = boot.base + len;
	}
	if ((raw = boot.free[cls])) {
		boot.free[cls] = *(void **)raw;
	} else if ((size_t)(boot.end - boot.cur) >= (1ULL << cls)) {
		raw = boot.cur;
		boot.cur += 1ULL << cls;
	}
	return raw;
}

void *pm_boot_alloc(size_t align, size_t n)
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
	raw = boot_take(cls);
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

void pm_boot_free(void *p)
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

size_t pm_boot_usable(void *p)
{
	boot_hdr_t *h = boot_hdr(p);

	return (size_t)(h->raw + (1ULL << h->cls) - (char *)p);
}
