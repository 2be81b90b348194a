/* tracefile.c - a trace file as a string read in passes (pm_ref_src_t),
 * for pagemu-sim's analyses and OPT, which read a trace more than once.
 *
 * A regular file is read again from its start at each pass. Anything
 * else (a pipe, a terminal) cannot be, so it is first copied as it comes
 * into a scratch file, and the passes read that: the trace is on disk
 * once, never in memory. Scratch files (that copy, OPT's future) are made
 * with O_TMPFILE in $TMPDIR (else /tmp): nameless, gone when closed or
 * when the process dies, never left behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools.h"

FILE *pm_scratch_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *f;
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* a file system without O_TMPFILE: a named file, unlinked at once */
		snprintf(path, sizeof(path), "%s/pagemu-sim.XXXXXX", dir);
		if ((fd = mkstemp(path)) >= 0)
			unlink(path);
	}
	if (fd < 0 || !(f = fdopen(fd, "w+b"))) {
		pm_set_error("a scratch file in %s (TMPDIR): %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return f;
}

/* The scratch files of OPT's future (lib/model/future.c). */
static FILE *file_scratch(void *ctx)
{
	FILE *f = pm_scratch_open();
	char why[512];

	PM_UNUSED(ctx);
	if (!f) {
		snprintf(why, sizeof(why), "%s", pagemu_last_error());
		pm_set_error("OPT keeps the next use of every reference in scratch files, and cannot make one: %s", why);
	}
	return f;
}

static int file_rewind(void *ctx)
{
	pm_trace_file_t *tf = ctx;

	if (tf->opened)
		pm_trace_close(&tf->ts);
	tf->opened = 0;
	if (fseek(tf->f, 0, SEEK_SET) != 0) {
		pm_set_error("%s: cannot read it again: %s", tf->name, strerror(errno));
		return -errno;
	}
	tf->opened = 1;
	if (pm_trace_open(&tf->ts, tf->f, tf->name, tf->fmt, tf->page_bits, tf->data_only) < 0) {
		pm_set_error("%s", tf->ts.err);
		return -EINVAL;
	}
	tf->page_size = tf->ts.page_size;
	return 0;
}

static int file_next(void *ctx, const uint64_t **va, const uint8_t **access, size_t *n)
{
	pm_trace_file_t *tf = ctx;
	int e;

	*n = 0;
	if ((e = pm_trace_read(&tf->ts, &tf->batch, tf->batch_max)) < 0) {
		pm_set_error("%s", tf->ts.err);
		return e;
	}
	*va = tf->batch.va;
	*access = tf->batch.access;
	*n = tf->batch.n;
	return 0;
}

/* Copy all of in into a scratch file: the copy, or NULL. */
static FILE *spool(FILE *in, const char *name)
{
	static char buf[64 * 1024];
	FILE *f = pm_scratch_open();
	char why[512];
	size_t got;

	if (!f) {
		snprintf(why, sizeof(why), "%s", pagemu_last_error());
		pm_set_error("%s: OPT, --mrc, --lifetime, --ws and --belady read a trace more than once, and this one "
			     "cannot be read again (a pipe): it is first copied to %s", name, why);
		return NULL;
	}
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, got, f) != got) {
			pm_set_error("%s: copying it to a scratch file in $TMPDIR: %s", name, strerror(errno));
			fclose(f);
			return NULL;
		}
	if (ferror(in)) {
		pm_set_error("%s: %s", name, strerror(errno));
		fclose(f);
		return NULL;
	}
	return f;
}

int pm_trace_file_open(pm_trace_file_t *tf, pm_ref_src_t *src, const char *path, enum pm_trace_fmt fmt,
		       unsigned page_bits, int data_only, size_t batch)
{
	struct stat st;
	FILE *in;
	int e;

	memset(tf, 0, sizeof(*tf));
	tf->name = path;
	tf->fmt = fmt;
	tf->page_bits = page_bits;
	tf->data_only = data_only;
	tf->batch_max = batch;
	if (!(in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb"))) {
		pm_set_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) {
		tf->f = in;
		tf->owned = in != stdin;
	} else {
		tf->f = spool(in, path);
		tf->owned = 1;
		if (in != stdin)
			fclose(in);
		if (!tf->f)
			return -EIO;
	}
	src->rewind = file_rewind;
	src->next = file_next;
	src->scratch = file_scratch;
	src->ctx = tf;
	/* The first open reads the header: the page size is known from here. */
	if ((e = file_rewind(tf)) < 0)
		pm_trace_file_close(tf);
	return e;
}

void pm_trace_file_close(pm_trace_file_t *tf)
{
	if (tf->opened)
		pm_trace_close(&tf->ts);
	tf->opened = 0;
	pm_refs_free(&tf->batch);
	if (tf->f && tf->owned)
		fclose(tf->f);
	tf->f = NULL;
}
