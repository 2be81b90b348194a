/* report.c - the report at exit: the process that opened the instance
 * prints a short report on stderr, or appends one JSON line to
 * $PAGEMU_REPORT (PAGEMU_REPORT=none: no report). The file is pagemu's
 * kind of file (pm_prim_append_private): only this user may read it (mode
 * 0600, set on a file that existed too), never through a symbolic link,
 * and appended to, never truncated: each process of a run adds its line,
 * with one write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_api.h"
#include "heap/heap.h"
#include "shim.h"

/* msg on stderr as it was at start (programs close fd 2 at exit: ls). */
static void say(const char *msg)
{
	if (pm_shim.report_fd < 0 || pm_prim_write(pm_shim.report_fd, msg, strlen(msg)) < 0)
		pm_prim_say(msg);
}

static void report_text(const pagemu_stats_t *s, const pagemu_heap_stats_t *h)
{
	char msg[1024];
	double mib = 1024.0 * 1024.0;

	snprintf(msg, sizeof(msg),
		 "pagemu: %s[%d]: %llu faults (%llu zero, %llu minor, %llu write, %llu major, %llu declined)\n"
		 "pagemu:   %llu evictions, %llu pages written back (ahead of the hand or at eviction), %llu evicted clean; swap: %llu reads (%llu pages), %llu writes; "
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
	say(msg);
	/* Swap on NBD: the servers, each on a line. */
	for (unsigned i = 0; i < s->nservers && i < PAGEMU_MAX_SERVERS; i++) {
		const pagemu_server_stats_t *v = &s->servers[i];
		snprintf(msg, sizeof(msg), "pagemu:   swap server %s: %llu reads (%.1f MiB), %llu writes (%.1f MiB), "
			 "%llu errors%s\n", v->server, (unsigned long long)v->reads, (double)v->read_bytes / mib,
			 (unsigned long long)v->writes, (double)v->write_bytes / mib, (unsigned long long)v->errors,
			 v->up ? "" : ", connection lost");
		say(msg);
	}
	if (!s->file_reads && !s->file_writes && !s->page_cache_hits)
		return;
	snprintf(msg, sizeof(msg),
		 "pagemu:   files: %llu reads (%llu pages), %llu writes (%llu pages), %llu page-cache hits, "
		 "%llu copy-on-write faults; %llu file pages cached, %llu frames shared\n",
		 (unsigned long long)s->file_reads, (unsigned long long)s->file_read_pages,
		 (unsigned long long)s->file_writes, (unsigned long long)s->file_write_pages,
		 (unsigned long long)s->page_cache_hits, (unsigned long long)s->faults_cow,
		 (unsigned long long)s->file_pages, (unsigned long long)s->shared_frames);
	say(msg);
}

static void report_json(const char *path, const pagemu_stats_t *s, const pagemu_heap_stats_t *h)
{
	/* The line is built in a buffer of our own, not open_memstream's: that
	 * one comes from the process's malloc, which may be the program's own
	 * (jemalloc linked in), and is not ours to free. */
	static char line[1 << 16];
	char msg[600];
	int fd = pm_prim_append_private(path), rc = fd;
	FILE *f;

	if (fd >= 0) {
		rc = -ENOMEM;
		if ((f = fmemopen(line, sizeof(line), "w"))) {
			setvbuf(f, NULL, _IONBF, 0);
			fputs("{\"program\":", f);
			pm_json_string(f, program_invocation_short_name);
			fprintf(f, ",\"pid\":%d,\"stats\":", (int)getpid());
			pm_stats_json_object(s, f);
			fputs(",\"heap\":", f);
			pm_heap_stats_json_object(h, f);
			fputs("}\n", f);
			long len = ftell(f);
			rc = !ferror(f) && len > 0 && (size_t)len < sizeof(line) - 1 ? 0 : -EOVERFLOW;
			fclose(f);
			if (rc == 0)
				rc = pm_prim_write(fd, line, (size_t)len);
		}
		pm_prim_close(fd);
	}
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "pagemu-preload: PAGEMU_REPORT=%s: %s\n", path,
			 rc == -ELOOP ? "a symbolic link (pagemu does not follow one)" : strerror(-rc));
		say(msg);
	}
}

__attribute__((destructor)) static void report(void)
{
	pagemu_stats_t s;
	pagemu_heap_stats_t h;
	const char *path = getenv("PAGEMU_REPORT");

	if (atomic_load(&pm_shim.state) != SHIM_READY)
		return;
	/* First the program's shared file mappings reach their files (every
	 * process: a fork child's mappings since the fork are its own), so
	 * that the report counts those writes too. The guard does it again at
	 * exit_group, for what later destructors and _exit wrote. */
	pm_shim_mmap_exit();
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
