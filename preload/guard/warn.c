/* warn.c - what the guard says on stderr: with its own write (inside the
 * allowed range), and about a system call at most once. Signal-safe. */
#include <string.h>
#include <sys/syscall.h>

#include "guard.h"

static _Atomic uint64_t warned[8];        /* syscall numbers already reported */

void pm_guard_say(const char *s)
{
	raw3(SYS_write, 2, (long)s, (long)strlen(s));
}

static char *utoa(char *p, unsigned long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	*p = 0;
	return p;
}

void pm_guard_warn_once(unsigned long nr, const char *what)
{
	char msg[160], *p;
	uint64_t bit = 1ULL << (nr % 64);

	if (nr >= 512 || (atomic_fetch_or(&warned[nr / 64], bit) & bit))
		return;
	p = msg;
	p = stpcpy(p, "pagemu-preload: syscall guard: system call ");
	p = utoa(p, nr);
	p = stpcpy(p, ": ");
	p = stpcpy(p, what);
	stpcpy(p, "\n");
	pm_guard_say(msg);
}
