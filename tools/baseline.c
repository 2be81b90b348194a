/* baseline.c - `pagemu sweep --kernel`: the program natively under
 * Linux's own paging, in a memory cgroup of each pool size with swap, so
 * that the kernel's major faults and time are drawn beside pagemu's.
 *
 * Each kernel run has a cgroup of its own (runs may go --jobs at a time),
 * made before its fork and removed when it is reaped; the child enters it
 * before exec. cgroup v2 where its memory controller is enabled, else v1's
 * memory hierarchy. Swap: the pages beyond the limit must go somewhere;
 * when less swap is active than the native run's peak RSS, a swap file is
 * made beside --out (a disk file system: a swap file on tmpfs is refused)
 * and removed at the end, like everything else the sweep sets up. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <unistd.h>

#include "sweep.h"

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX + 64];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY)) < 0)
		return -errno;
	ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	ok = close(fd) == 0 && ok;
	return ok ? 0 : -errno;
}

/* Bytes of swap active (/proc/swaps). */
static uint64_t swap_active(void)
{
	FILE *f = fopen("/proc/swaps", "r");
	char line[512];
	uint64_t total = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long size;
		if (sscanf(line, "%*s %*s %llu", &size) == 1)
			total += size * 1024;
	}
	fclose(f);
	return total;
}

/* A swap file of len bytes, written out (some file systems refuse a
 * fallocated one), mkswap, swapon. 0 or -1 with a message. */
static int make_swap(sweep_t *s, uint64_t len)
{
	static char zero[1 << 20];
	const char *slash = strrchr(s->out, '/');
	int fd, st;
	pid_t pid;

	snprintf(s->swapfile, sizeof(s->swapfile), "%.*s%spagemu-sweep.%d.swap", slash ? (int)(slash - s->out) : 0,
		 s->out, slash ? "/" : "", (int)getpid());
	if ((fd = open(s->swapfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		pm_sweep_say("--kernel: cannot create the swap file %s: %s", s->swapfile, strerror(errno));
		s->swapfile[0] = 0;
		return -1;
	}
	for (uint64_t done = 0; done < len; done += sizeof(zero))
		if (write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero)) {
			pm_sweep_say("--kernel: writing the swap file %s: %s", s->swapfile, strerror(errno));
			close(fd);
			return -1;
		}
	close(fd);
	if ((pid = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execlp("mkswap", "mkswap", s->swapfile, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || pm_sweep_status(st) != 0) {
		pm_sweep_say("--kernel: mkswap %s failed (is util-linux installed?)", s->swapfile);
		return -1;
	}
	if (swapon(s->swapfile, 0) != 0) {
		pm_sweep_say("--kernel: swapon %s: %s (a swap file needs a disk file system: put --out on one)", s->swapfile,
		    strerror(errno));
		return -1;
	}
	return 0;
}

void pm_baseline_cleanup(sweep_t *s)
{
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].cgroup[0] && rmdir(s->runs[i].cgroup) != 0 && errno != ENOENT)
			pm_sweep_say("cannot remove the cgroup %s: %s", s->runs[i].cgroup, strerror(errno));
	if (s->swapfile[0]) {
		if (swapoff(s->swapfile) != 0 && errno != EINVAL)
			pm_sweep_say("swapoff %s: %s", s->swapfile, strerror(errno));
		unlink(s->swapfile);
		s->swapfile[0] = 0;
	}
}

int pm_baseline_setup(sweep_t *s)
{
	char line[4096] = "";
	FILE *f;

	if (geteuid() != 0)
		return pm_sweep_say("--kernel needs root (a memory cgroup per run, and swapon)"), EXIT_BAD;
	if ((f = fopen("/sys/fs/cgroup/cgroup.controllers", "r"))) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
	}
	if (strstr(line, "memory")) {
		s->cg_v2 = 1;
		snprintf(s->cg_base, sizeof(s->cg_base), "/sys/fs/cgroup");
		write_file(s->cg_base, "cgroup.subtree_control", "+memory");
	} else if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", W_OK) == 0) {
		snprintf(s->cg_base, sizeof(s->cg_base), "/sys/fs/cgroup/memory");
	} else {
		pm_sweep_say("--kernel: no cgroup memory controller (cgroup v2 /sys/fs/cgroup with \"memory\" in "
			     "cgroup.controllers, or v1 /sys/fs/cgroup/memory)");
		return EXIT_BAD;
	}
	/* Enough swap for all of the program but the smallest pool. */
	if (swap_active() < (uint64_t)s->native_rss_kib * 1024 &&
	    make_swap(s, ((uint64_t)s->native_rss_kib * 1024 + (64 << 20)) & ~(uint64_t)((1 << 20) - 1)) < 0)
		return EXIT_FAIL;
	return 0;
}

/* A fresh memory cgroup limited to the run's pool, with swap. */
int pm_baseline_cgroup(sweep_t *s, run_t *r, size_t i)
{
	char limit[32];
	int e;

	snprintf(r->cgroup, sizeof(r->cgroup), "%s/pagemu-sweep.%d.%zu", s->cg_base, (int)getpid(), i);
	snprintf(limit, sizeof(limit), "%llu", (unsigned long long)(r->frames * s->page));
	if (mkdir(r->cgroup, 0755) != 0) {
		pm_sweep_say("--kernel: cannot make the cgroup %s: %s", r->cgroup, strerror(errno));
		r->cgroup[0] = 0;
		return -1;
	}
	e = s->cg_v2 ? write_file(r->cgroup, "memory.max", limit) : write_file(r->cgroup, "memory.limit_in_bytes", limit);
	if (!e && s->cg_v2)
		e = write_file(r->cgroup, "memory.swap.max", "max");
	if (e) {
		pm_sweep_say("--kernel: cannot limit the cgroup %s to %s bytes: %s", r->cgroup, limit, strerror(-e));
		return -1;
	}
	return 0;
}
