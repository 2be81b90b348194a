/* lookup.c - the real things behind the shim: the next definition of a
 * function the shim replaces (dlsym), and where a loaded object's code
 * lies (its program headers in memory). */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include "shim.h"

/* dlsym may allocate: inside pagemu, so from the bootstrap arena. */
void *pm_shim_dlsym(const char *name)
{
	void *f;

	pm_shim_depth++;
	f = dlsym(RTLD_NEXT, name);
	pm_shim_depth--;
	return f;
}

int pm_shim_code_segment(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
	Dl_info info;

	if (!dladdr(addr, &info) || !info.dli_fbase)
		return -1;
	const ElfW(Ehdr) *eh = info.dli_fbase;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	uintptr_t base = (uintptr_t)eh;
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
			*lo = base + ph[i].p_vaddr;      /* ET_DYN: vaddrs are offsets */
			*hi = *lo + ph[i].p_memsz;
		}
	return 0;
}
