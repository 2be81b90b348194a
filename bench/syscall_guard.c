/* syscall_guard.c - what the syscall guard of the LD_PRELOAD shim costs per
 * system call.
 *
 * The same loop runs in three child processes: natively, under the shim
 * with PAGEMU_SYSCALL_GUARD=0, and under the shim with the guard on (every
 * call made by glibc traps with SIGSYS; the handler decodes it, pins what
 * it refers to and makes the call itself). Loops: getppid() (no memory
 * argument), write(2) of one byte to /dev/null from a stack buffer, and
 * from a malloc'd buffer (emulated memory under the shim: the guard pins
 * and unpins its page on every call). Prints ns per call and the ratios
 * guard-on / guard-off (median over the runs).
 *
 * usage: syscall_guard [--quick|--full] [--runs N] [--preload PATH]
 *   the shim defaults to ../libpagemu-preload.so next to this program. */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"

#define NLOOPS 3
static const char *loop_name[NLOOPS] = { "getppid", "write_stack", "write_heap" };

static void child(long iters)
{
	int fd = open("/dev/null", O_WRONLY);
	char stack_buf[1] = { 'x' }, *heap_buf = malloc(4096);
	double ns[NLOOPS];
	uint64_t t0;

	if (fd < 0 || !heap_buf)
		exit(1);
	heap_buf[0] = 'y';
	t0 = bu_now_ns();
	for (long i = 0; i < iters; i++)
		getppid();
	ns[0] = (double)(bu_now_ns() - t0) / (double)iters;
	t0 = bu_now_ns();
	for (long i = 0; i < iters; i++)
		if (write(fd, stack_buf, 1) != 1)
			exit(1);
	ns[1] = (double)(bu_now_ns() - t0) / (double)iters;
	t0 = bu_now_ns();
	for (long i = 0; i < iters; i++)
		if (write(fd, heap_buf, 1) != 1)
			exit(1);
	ns[2] = (double)(bu_now_ns() - t0) / (double)iters;
	printf("%f %f %f\n", ns[0], ns[1], ns[2]);
	exit(0);
}

/* One child run; mode 0 native, 1 shim without guard, 2 shim with guard. */
static int run(const char *self, const char *preload, int mode, long iters, double *ns)
{
	int p[2], st;
	char arg[32], out[256] = { 0 };
	pid_t pid;
	ssize_t n, got = 0;

	if (pipe(p))
		return -1;
	snprintf(arg, sizeof(arg), "%ld", iters);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		if (mode) {
			setenv("LD_PRELOAD", preload, 1);
			setenv("PAGEMU_REPORT", "none", 1);
			setenv("PAGEMU_FRAMES", "1024", 1);
			setenv("PAGEMU_SYSCALL_GUARD", mode == 2 ? "1" : "0", 1);
		}
		execl(self, self, "--child", arg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(p[0]);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || sscanf(out, "%lf %lf %lf", &ns[0], &ns[1], &ns[2]) != 3)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	bu_common_t c = { .runs = 5, .quick = 0 };
	char self[PATH_MAX], preload_buf[PATH_MAX + 32];
	const char *preload = NULL, *v;
	double ns[3][NLOOPS][BU_MAX_RUNS], tmp[BU_MAX_RUNS], ratio[BU_MAX_RUNS];
	long iters;

	if (argc == 3 && !strcmp(argv[1], "--child"))
		child(atol(argv[2]));
	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&c, argc, argv, &i))
			continue;
		if ((v = bu_opt(argc, argv, &i, "--preload"))) {
			preload = v;
			continue;
		}
		fprintf(stderr, "usage: %s [--quick|--full] [--runs N] [--preload PATH]\n", argv[0]);
		return 2;
	}
	iters = c.quick ? 100000 : 1000000;
	{
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (k <= 0)
			return 1;
		self[k] = 0;
	}
	if (!preload) {
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s", self);
		snprintf(preload_buf, sizeof(preload_buf), "%s/../libpagemu-preload.so", dirname(d));
		preload = preload_buf;
	}
	if (access(preload, R_OK) != 0) {
		fprintf(stderr, "syscall_guard: %s missing (make builds it)\n", preload);
		return 1;
	}
	for (int r = 0; r < c.runs; r++)
		for (int m = 0; m < 3; m++) {
			double one[NLOOPS];
			if (run(self, preload, m, iters, one) < 0) {
				fprintf(stderr, "syscall_guard: the %s run failed\n",
					m == 0 ? "native" : m == 1 ? "unguarded" : "guarded");
				return 1;
			}
			for (int l = 0; l < NLOOPS; l++)
				ns[m][l][r] = one[l];
		}
	printf("syscall guard: %ld calls a loop, median of %d runs (ns per call)\n", iters, c.runs);
	printf("%-12s %10s %10s %10s %10s\n", "loop", "native", "shim", "guarded", "guarded/shim");
	for (int l = 0; l < NLOOPS; l++) {
		double med[3];
		for (int m = 0; m < 3; m++) {
			memcpy(tmp, ns[m][l], sizeof(double) * (size_t)c.runs);
			med[m] = bu_median(tmp, c.runs);
		}
		for (int r = 0; r < c.runs; r++)
			ratio[r] = ns[2][l][r] / ns[1][l][r];
		double rmed = bu_median(ratio, c.runs);
		printf("%-12s %10.0f %10.0f %10.0f %10.1fx\n", loop_name[l], med[0], med[1], med[2], rmed);
		char metric[64];
		snprintf(metric, sizeof(metric), "%s_guarded_over_unguarded", loop_name[l]);
		bu_summary("syscall_guard", metric, rmed, NULL, 0);
	}
	return 0;
}
