/* lookup.c - the real things behind the shim: the next definition of a
 * function the shim replaces (dlsym). */
#include <dlfcn.h>

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
