/* report.c - the report at exit: the process that opened the instance
 * prints a short report on stderr, or appends one JSON line to
 * $PAGEMU_REPORT (PAGEMU_REPORT=none: no report). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_api.h"
#include "shim.h"

static int write_all(int fd, const char *s)
{
	REAL(ssize_t, write, int, const void *, size_t)
	for (size_t len = strlen(s); len;) {
		ssize_t n = real_write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static void report_text(const pagemu_stats_t *s, const pagemu_heap_stats_t *h)
{
	char msg[1024];
	double mib = 1024.0 * 1024.0;

	snprintf(msg, sizeof(msg),
		 "pagemu: %s[%d]: %llu faults (%llu zero, %llu minor, %llu write, %llu major, %llu declined)\n"
		 "pagemu:   %llu evictions (%llu written back, %llu clean); swap: %llu reads (%llu pages), %llu writes; "
		 "%.1f ms in the handler\n"
		 "pagemu:   heap: %.1f MiB at most, peak %.1f MiB allocated, utilization %.0f%%, "
		 "internal frag %.1f MiB, external frag %.0f%%, %llu blocks live\n",
		 program_invocation_short_name, (int)getpid(), (unsigned long long)s->faults,
		 (unsigned long long)s->faults_zero, (unsigned long long)s->faults_minor,
		 (unsigned long long)s->faults_write, (unsigned long long)s->faults_major,
		 (unsigned long long)s->faults_declined, (unsigned long long)s->evictions,
		 (unsigned long long)s->writebacks, (unsigned long long)s->clean_evictions,
		 (unsigned long long)s->swap_reads, (unsigned long long)s->swap_read_pages,
		 (unsigned long long)s->swap_writes, (double)s->handler_ns / 1e6, (double)h->heap_peak / mib,
		 (double)h->peak / mib, h->utilization * 100.0, (double)h->internal_frag / mib,
		 h->external_frag * 100.0, (unsigned long long)h->blocks);
	if (pm_shim.report_fd < 0 || write_all(pm_shim.report_fd, msg) < 0)
		pm_prim_say(msg);
}

static void report_json(const char *path, const pagemu_stats_t *s, const pagemu_heap_stats_t *h)
{
	FILE *f = fopen(path, "a");

	if (!f) {
		char msg[512];
		snprintf(msg, sizeof(msg), "pagemu-preload: PAGEMU_REPORT=%s: %s\n", path, strerror(errno));
		pm_prim_say(msg);
		return;
	}
	fprintf(f, "{\"program\":\"%s\",\"pid\":%d,\"stats\":{", program_invocation_short_name, (int)getpid());
	const char *sep = "";
#define X(name, kind, desc) fprintf(f, "%s\"%s\":%llu", sep, #name, (unsigned long long)s->name); sep = ",";
	PAGEMU_STATS_LIST(X)
#undef X
	fprintf(f, "},\"heap\":{\"heap_size\":%llu,\"heap_peak\":%llu,\"break_size\":%llu,\"allocated\":%llu,\"peak\":%llu,"
		"\"blocks\":%llu,\"large_blocks\":%llu,\"large_bytes\":%llu,\"free_blocks\":%llu,\"free_bytes\":%llu,"
		"\"largest_free\":%llu,\"internal_frag\":%llu,\"utilization\":%.4f,\"external_frag\":%.4f,"
		"\"mallocs\":%llu,\"frees\":%llu,\"grows\":%llu}}\n",
		(unsigned long long)h->heap_size, (unsigned long long)h->heap_peak, (unsigned long long)h->break_size, (unsigned long long)h->allocated,
		(unsigned long long)h->peak, (unsigned long long)h->blocks, (unsigned long long)h->large_blocks,
		(unsigned long long)h->large_bytes, (unsigned long long)h->free_blocks,
		(unsigned long long)h->free_bytes, (unsigned long long)h->largest_free,
		(unsigned long long)h->internal_frag, h->utilization, h->external_frag,
		(unsigned long long)h->mallocs, (unsigned long long)h->frees, (unsigned long long)h->grows);
	fclose(f);
}

__attribute__((destructor)) static void report(void)
{
	pagemu_stats_t s;
	pagemu_heap_stats_t h;
	const char *path = getenv("PAGEMU_REPORT");

	if (atomic_load(&pm_shim.state) != SHIM_READY)
		return;
	/* The instance is never closed: its trace would stay in its buffer
	 * (the syscall guard flushes it again at exit_group, for the records
	 * of the very end). Any process: a fork child traces to its own file. */
	pm_tracefile_flush(pm_shim.vm);
	if (getpid() != pm_shim.owner_pid)
		return;
	if (path && strcmp(path, "none") == 0)
		return;
	pm_shim_depth++;                     /* stdio's blocks come from the bootstrap arena */
	pagemu_get_stats(pm_shim.vm, &s);
	pagemu_heap_stats(pm_shim.vm, &h);
	if (path && *path)
		report_json(path, &s, &h);
	else
		report_text(&s, &h);
	pm_shim_depth--;
}
