/* start.c - start-up: the first allocation opens the process's pagemu
 * instance (configured by the PAGEMU_* variables) and turns the syscall
 * guard on. A process that cannot start pagemu ends there, with a message
 * and exit status 125 (pagemu run's own failures have it too): it never
 * goes on with glibc's malloc, whose run would report nothing of paging
 * and look like a measurement. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "engine/engine_api.h"
#include "shim.h"

extern void *__libc_malloc(size_t n);

struct pm_shim pm_shim = { .report_fd = -1 };

static void on_fork_child(void)
{
	pm_guard_thread();           /* the kernel does not pass it on to the child */
}

/* pagemu could not start: say why, and end the process. */
static void start_failed(int rc) __attribute__((noreturn));
static void start_failed(int rc)
{
	char msg[640];

	snprintf(msg, sizeof(msg), "pagemu-preload: cannot start pagemu (%s)\n",
		 pagemu_last_error()[0] ? pagemu_last_error() : pagemu_strerror(rc));
	pm_prim_say(msg);
	_exit(PM_SHIM_EXIT_FAILED);
}

/* Every thread pagemu starts (its NBD I/O threads) is inside pagemu for
 * good: what it allocates (GnuTLS's records) comes from the bootstrap
 * arena, never from the program's heap, whose pages may be swapped to the
 * very servers the thread talks to. */
static void own_thread(void)
{
	pm_shim_depth++;
}

/* fork(): the engine's atfork handlers run in the program's context, with
 * its selector and its heap; between these the thread is inside pagemu
 * (its allocations from the bootstrap arena, its system calls its own:
 * an mprotect of emulated memory there, handing a shared mapping to the
 * kernel, is not the program's to emulate, which would wait forever for
 * the instance lock the handler holds). */
static void fork_enter(void)
{
	pm_shim_depth++;
	pm_guard_own_enter();
}

static void fork_leave(void)
{
	pm_guard_own_leave();
	pm_shim_depth--;
}

void pm_shim_start(void)
{
	pagemu_config_t cfg;
	int expect = SHIM_NONE, guard = 1, rc;

	if (!atomic_compare_exchange_strong(&pm_shim.state, &expect, SHIM_STARTING))
		return;
	pm_shim_depth++;
	pagemu_config_default(&cfg);
	rc = pagemu_config_from_env(&cfg);
	if (rc == 0)
		rc = pm_config_env_bool("PAGEMU_SYSCALL_GUARD", &guard);
	if (rc == 0)
		rc = pm_config_env_bool("PAGEMU_MMAP", &pm_shim.mmap);
	if (rc == 0)
		rc = pm_config_trace_per_process(&cfg);   /* exec'd children trace too */
	pm_prim_set_thread_hook(own_thread);
	pm_fork_set_hooks(fork_enter, fork_leave);
	pm_signal_set_fatal_hook(pm_shim_mmap_exit);
	if (rc == 0)
		rc = pagemu_open(&cfg, &pm_shim.vm);
	if (rc < 0)
		start_failed(rc);
	pm_shim_code_segment((const void *)&__libc_malloc, &pm_shim.libc_lo, &pm_shim.libc_hi);
	/* Pinned frames can never be evicted: keep libc's pinned blocks to a
	 * quarter of the pool so that paging can always go on (an I/O wrapper
	 * pins a buffer of up to that much more for the length of a call). */
	pm_shim.pin_limit = cfg.frames * cfg.page_size / 4;
	pm_shim.owner_pid = getpid();
	/* stderr as it is now, for the report (programs close fd 2 at exit),
	 * kept out of the program's way as the engine's descriptors are. */
	pm_shim.report_fd = pm_prim_own_fd(fcntl(2, F_DUPFD_CLOEXEC, 3));
	pthread_atfork(NULL, NULL, on_fork_child);
	if (guard)
		pm_guard_init(pm_shim.vm, pm_shim.pin_limit);
	atomic_store(&pm_shim.state, SHIM_READY);
	pm_shim_depth--;
}
