/* fds.c - pagemu's descriptors are not the program's: its close, dup,
 * dup2, dup3 and fcntl aimed at one of them fail with EBADF, as if the
 * descriptor were not open, and its close_range closes the ranges around
 * them. (The engine keeps them at high numbers, close-on-exec, and lists
 * them: pm_prim_fd_owned in engine_api.h.) Spawn helpers close every
 * descriptor above 2 before exec (GLib's g_spawn, closefrom), daemons at
 * start-up; without this the next eviction would find the swap ring gone.
 *
 * All: signal context (the SIGSYS handler). */
#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>

#include "engine/engine_api.h"
#include "guard.h"

/* close_range(first, last, flags) on what lies around pagemu's: 0 or the
 * first error. */
static long close_around(unsigned first, unsigned last, long flags)
{
	unsigned long lo = first;
	long rc = 0;

	while (lo <= last && rc == 0) {
		int o = lo <= INT_MAX ? pm_prim_fd_next_owned((int)lo) : -1;
		if (o < 0 || (unsigned long)o > last) {
			rc = raw3(SYS_close_range, (long)lo, (long)last, flags);
			break;
		}
		if ((unsigned long)o > lo)
			rc = raw3(SYS_close_range, (long)lo, (long)o - 1, flags);
		lo = (unsigned long)o + 1;
	}
	return rc;
}

int pm_guard_fds(const struct pm_call *c, long *ret)
{
	int fd = (int)c->a[0];

	switch (c->nr) {
	case SYS_close: case SYS_dup: case SYS_fcntl:
		break;
	case SYS_dup2: case SYS_dup3:
		if (pm_prim_fd_owned((int)c->a[1]))
			fd = (int)c->a[1];        /* dup2 onto ours would close it */
		break;
	case SYS_close_range:
		if ((unsigned)c->a[0] > (unsigned)c->a[1] || pm_prim_fd_next_owned(0) < 0)
			return 0;                 /* the kernel's answer, as it is */
		*ret = close_around((unsigned)c->a[0], (unsigned)c->a[1], c->a[2]);
		return 1;
	default:
		return 0;
	}
	if (!pm_prim_fd_owned(fd))
		return 0;
	*ret = -EBADF;
	return 1;
}
