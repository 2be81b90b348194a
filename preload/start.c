/* start.c - start-up: the first allocation opens the process's pagemu
 * instance (configured by the PAGEMU_* variables) and turns the syscall
 * guard on. If pagemu cannot start, the program runs on glibc's malloc. */
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

/* pagemu could not start: say why; the program goes on with glibc. */
static void start_failed(int rc)
{
	char msg[640];

	snprintf(msg, sizeof(msg), "pagemu-preload: cannot start pagemu (%s); the program runs on glibc's malloc\n",
		 pagemu_last_error()[0] ? pagemu_last_error() : pagemu_strerror(rc));
	pm_prim_say(msg);
	atomic_store(&pm_shim.state, SHIM_OFF);
}

void pm_shim_start(void)
{
	pagemu_config_t cfg;
	int expect = SHIM_NONE, rc;

	if (!atomic_compare_exchange_strong(&pm_shim.state, &expect, SHIM_STARTING))
		return;
	pm_shim_depth++;
	pagemu_config_default(&cfg);
	rc = pagemu_config_from_env(&cfg);
	if (rc == 0)
		rc = pagemu_open(&cfg, &pm_shim.vm);
	if (rc < 0) {
		start_failed(rc);
		pm_shim_depth--;
		return;
	}
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
	pm_guard_init(pm_shim.vm, pm_shim.pin_limit);
	atomic_store(&pm_shim.state, SHIM_READY);
	pm_shim_depth--;
}
