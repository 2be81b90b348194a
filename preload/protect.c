/* protect.c - mprotect on emulated memory. Programs change the protection
 * of memory malloc gave them: tcc -run and other JITs make code they wrote
 * executable, garbage collectors and checkers put guard pages in the heap.
 * Made for real, such a change lasts only until pagemu evicts the page:
 * the next fault installs it with the region's protection, so the code is
 * no longer executable (a SIGSEGV) and the guard page is readable again.
 * So a change of emulated memory goes to pagemu_protect, which splits the
 * region and keeps the protection across eviction and swap-in. Reached
 * through the export below, and through the syscall guard for the
 * mprotect system call made directly. */
#include <errno.h>
#include <sys/mman.h>

#include "shim.h"

#ifndef PROT_SEM
#define PROT_SEM 0x8                   /* the kernel's; glibc leaves it out */
#endif

int pm_shim_protect(void *addr, size_t len, int prot, long *ret)
{
	uintptr_t a = (uintptr_t)addr, page, lo, hi;
	pagemu_t *vm = pm_shim.vm;
	int first, last;

	if (pm_shim_depth || atomic_load_explicit(&pm_shim.state, memory_order_acquire) != SHIM_READY || !len ||
	    a + len < a)
		return 0;
	first = pagemu_owner(addr) == vm;
	last = pagemu_owner((void *)(a + len - 1)) == vm;
	if (!first && !last)
		return 0;
	if (first != last || (a & 4095)) {
		/* Half in emulated memory: pagemu cannot make it one call. */
		*ret = (a & 4095) ? -EINVAL : -ENOMEM;
		return 1;
	}
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) {
		*ret = -EINVAL;                 /* PROT_GROWSDOWN/UP: a stack's, never the heap's */
		return 1;
	}
	/* An emulated page larger than the machine's is changed whole. */
	page = pagemu_page_size(vm);
	lo = a & ~(page - 1);
	hi = (a + len + page - 1) & ~(page - 1);
	pm_shim_depth++;
	*ret = pagemu_protect(vm, (void *)lo, hi - lo, prot & ~PROT_SEM);
	pm_shim_depth--;
	return 1;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	long ret;
	REAL(int, mprotect, void *, size_t, int)

	if (!pm_shim_protect(addr, len, prot, &ret))
		return real_mprotect(addr, len, prot);
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return 0;
}
