/* tracefile.c - the event trace of a live instance (PAGEMU_TRACE=path).
 * Format: doc/TRACE.md (encoders in trace.c). Records collect in a buffer
 * mapped at open and go out with write(2) when it fills, at close and
 * when asked (pm_tracefile_flush), so the fault path never allocates. The
 * file is created 0600 and never through a symbolic link
 * (pm_prim_create_private): a trace is full of addresses.
 *
 * One file is one process's trace: "%p" in the path becomes the process
 * id. A forked child has the parent's descriptor and records (the parent
 * writes them): with "%p" it starts a file of its own, else it traces no
 * more (its records would be mixed into the parent's file). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"

#define TRACE_BUF (256 * 1024)

/* pattern with each "%p" the process id, into out (PATH_MAX bytes at
 * most). 0 or -ENAMETOOLONG. Signal-safe (a fork child may be in the
 * syscall guard's handler). */
static int trace_path(const char *pattern, char *out, size_t len)
{
	char *p = out, *end = out + len, pid[24];

	pm_fmt_u64(pid, pid + sizeof(pid), (uint64_t)getpid());
	for (const char *s = pattern; *s && p < end - 1; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			p = pm_fmt_str(p, end, pid);
			s++;
		} else {
			*p++ = *s;
			*p = 0;
		}
	}
	*p = 0;
	return p < end - 1 ? 0 : -ENAMETOOLONG;
}

/* Create this process's trace file and put the header in the buffer:
 * 0 or -errno. */
static int start(struct pagemu *vm)
{
	pm_trace_hdr_t h = { .version = PM_TRACE_VERSION, .page_size = (uint32_t)vm->page,
			     .start_ns = pm_prim_now_ns() };
	char path[4096];
	int rc = trace_path(vm->cfg.trace_path, path, sizeof(path));

	if (rc < 0)
		return rc;
	vm->trace_fd = pm_prim_create_private(path);
	if (vm->trace_fd < 0) {
		rc = vm->trace_fd;
		vm->trace_fd = -1;
		return rc;
	}
	pm_trace_encode_header(&h, vm->trace_buf);
	vm->trace_len = PM_TRACE_HDR_SIZE;
	return 0;
}

static void flush(struct pagemu *vm)
{
	if (pm_prim_write(vm->trace_fd, vm->trace_buf, vm->trace_len) < 0) {
		pm_prim_say("pagemu: writing the trace (PAGEMU_TRACE) failed; tracing stops\n");
		pm_prim_close(vm->trace_fd);
		vm->trace_fd = -1;
	}
	vm->trace_len = 0;
}

int pm_tracefile_open(struct pagemu *vm)
{
	int err;

	vm->trace_fd = -1;
	if (!vm->cfg.trace_path[0])
		return 0;
	vm->trace_buf = pm_prim_alloc_tables(TRACE_BUF);
	if (!vm->trace_buf)
		return -ENOMEM;
	err = start(vm);
	if (err < 0) {
		char name[600];
		pm_config_name("PAGEMU_TRACE", &vm->cfg, NULL, name, sizeof(name));
		pm_set_error("%s: %s", name, strerror(-err));
		pm_prim_release(vm->trace_buf, TRACE_BUF);
		vm->trace_buf = NULL;
		return err;
	}
	return 0;
}

int pm_tracefile_probe(const pagemu_config_t *cfg)
{
	char path[4096];
	int fd;

	if (!cfg->trace_path[0])
		return 0;
	if ((fd = trace_path(cfg->trace_path, path, sizeof(path))) < 0 ||
	    (fd = pm_prim_create_private(path)) < 0)
		return fd;
	pm_prim_close(fd);
	return 0;
}

void pm_tracefile_event(struct pagemu *vm, unsigned kind, uint64_t va, uint64_t ppn, uint64_t slot, uint64_t ns)
{
	pm_trace_rec_t r = {
		.time_ns = pm_prim_now_ns(),
		.va = va,
		.ppn = ppn >= PM_TRACE_NO_PPN ? PM_TRACE_NO_PPN : (uint32_t)ppn,
		.kind = (uint8_t)kind,
		.slot = slot >= PM_TRACE_NO_PPN ? PM_TRACE_NO_PPN : (uint32_t)slot,
		.ns = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns,
	};

	if (vm->trace_fd < 0)
		return;
	if (vm->trace_len + PM_TRACE_REC_SIZE > TRACE_BUF)
		flush(vm);
	pm_trace_encode(&r, vm->trace_buf + vm->trace_len);
	vm->trace_len += PM_TRACE_REC_SIZE;
}

void pm_tracefile_flush(pagemu_t *vm)
{
	pm_lock(vm);
	if (vm->trace_fd >= 0 && vm->trace_len)
		flush(vm);
	pm_unlock(vm);
}

void pm_tracefile_forked(struct pagemu *vm)
{
	if (vm->trace_fd < 0)
		return;
	pm_prim_close(vm->trace_fd);           /* the parent's, with its records */
	vm->trace_fd = -1;
	vm->trace_len = 0;
	if (strstr(vm->cfg.trace_path, "%p") && start(vm) == 0)
		return;
	pm_prim_release(vm->trace_buf, TRACE_BUF);
	vm->trace_buf = NULL;
}

void pm_tracefile_close(struct pagemu *vm)
{
	if (vm->trace_fd >= 0) {
		flush(vm);
		if (vm->trace_fd >= 0)
			pm_prim_close(vm->trace_fd);
	}
	if (vm->trace_buf)
		pm_prim_release(vm->trace_buf, TRACE_BUF);
	vm->trace_fd = -1;
	vm->trace_buf = NULL;
}
