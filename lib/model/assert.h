/* assert.h - assertions that may run in signal context.
 *
 * PM_ASSERT(cond) is compiled in when PAGEMU_DEBUG is defined (make debug,
 * and the sanitizer build of make check) and out of the release build, so
 * it may state invariants on the fault path at no cost. A failed assertion
 * writes one line (file, line, the condition) through pm_assert_say and
 * aborts: no stdio, no allocation. */
#ifndef PAGEMU_ASSERT_H
#define PAGEMU_ASSERT_H

#ifdef PAGEMU_DEBUG
#define PM_ASSERT(cond) ((cond) ? (void)0 : pm_assert_fail(__FILE__, __LINE__, #cond))
#define PM_DEBUG 1
#else
#define PM_ASSERT(cond) ((void)0)
#define PM_DEBUG 0
#endif

/* A count of things that exist drops by one: it was not zero. */
#define PM_DEC(count) (PM_ASSERT((count) > 0), (count)--)

_Noreturn void pm_assert_fail(const char *file, int line, const char *cond);

/* Where the message goes. The model writes through the C library's stderr
 * (for the simulator); the engine points this at its signal-safe write at
 * open. */
extern void (*pm_assert_say)(const char *msg);

#endif
