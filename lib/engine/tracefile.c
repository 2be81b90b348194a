/* tracefile.c - the event trace of a live instance (PAGEMU_TRACE=path).
 * Format: doc/TRACE.md (encoders in trace.c). Records collect in a buffer
 * mapped at open and go out with write(2) when it fills and at close, so
 * the fault path never allocates. The file is created 0600 and never through
 * a symbolic link (pm_prim_create_private): a trace is full of addresses. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"

#define TRACE_BUF (256 * 1024)

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
	pm_trace_hdr_t h = { .version = PM_TRACE_VERSION, .page_size = (uint32_t)vm->page,
			     .start_ns = pm_prim_now_ns() };

	vm->trace_fd = -1;
	if (!vm->cfg.trace_path[0])
		return 0;
	vm->trace_buf = pm_prim_alloc_tables(TRACE_BUF);
	if (!vm->trace_buf)
		return -ENOMEM;
	vm->trace_fd = pm_prim_create_private(vm->cfg.trace_path);
	if (vm->trace_fd < 0) {
		int err = vm->trace_fd;
		char name[600];
		pm_config_name("PAGEMU_TRACE", &vm->cfg, NULL, name, sizeof(name));
		pm_set_error("%s: %s", name, strerror(-err));
		pm_prim_release(vm->trace_buf, TRACE_BUF);
		vm->trace_buf = NULL;
		return err;
	}
	pm_trace_encode_header(&h, vm->trace_buf);
	vm->trace_len = PM_TRACE_HDR_SIZE;
	return 0;
}

int pm_tracefile_probe(const pagemu_config_t *cfg)
{
	int fd;

	if (!cfg->trace_path[0])
		return 0;
	if ((fd = pm_prim_create_private(cfg->trace_path)) < 0)
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
