/* assert.c - the failure of a PM_ASSERT: one line, then abort. */
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"

static void say_stdio(const char *msg)
{
	fputs(msg, stderr);
	fflush(stderr);
}

void (*pm_assert_say)(const char *msg) = say_stdio;

_Noreturn void pm_assert_fail(const char *file, int line, const char *cond)
{
	char msg[512], *p = msg, *end = msg + sizeof(msg);

	p = pm_fmt_str(p, end, "pagemu: assertion failed: ");
	p = pm_fmt_str(p, end, cond);
	p = pm_fmt_str(p, end, " (");
	p = pm_fmt_str(p, end, file);
	p = pm_fmt_str(p, end, ":");
	p = pm_fmt_u64(p, end, (uint64_t)line);
	pm_fmt_str(p, end, ")\n");
	pm_assert_say(msg);
	abort();
}
