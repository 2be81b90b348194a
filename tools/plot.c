/* plot.c - gnuplot for the tools (tools.h). gnuplot runs as a separate
 * program on a script file, never linked: its absence is a message at the
 * start of a run that asked for plots, not a build dependency of pagemu. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools.h"

#define GNUPLOT "gnuplot"

/* The first executable GNUPLOT in PATH, into buf: 0 or -1. */
static int find_gnuplot(char *buf, size_t len)
{
	const char *path = getenv("PATH");

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		int n = snprintf(buf, len, "%.*s/%s", (int)dlen, dlen ? p : ".", GNUPLOT);
		if (n > 0 && (size_t)n < len && access(buf, X_OK) == 0)
			return 0;
		if (!end)
			return -1;
		p = end + 1;
	}
}

int pm_plot_available(char *err, size_t len)
{
	char path[4096];

	if (find_gnuplot(path, sizeof(path)) == 0)
		return 0;
	snprintf(err, len, "gnuplot not found in PATH: the plots need it (Debian: apt-get install gnuplot-nox; "
		 "make deps installs it)");
	return -ENOENT;
}

void pm_plot_head(FILE *f, const char *png, const char *title, const char *xlabel, const char *ylabel,
		  int logx, int logy)
{
	fprintf(f, "set terminal pngcairo size 960,600 font 'sans,11'\n"
		   "set output '%s'\n"
		   "set title '%s'\n"
		   "set xlabel '%s'\nset ylabel '%s'\n"
		   "set grid\nset key top right box opaque\n"
		   "set offsets graph 0.04, graph 0.04, graph 0.04, graph 0.04\n", png, title, xlabel, ylabel);
	if (logx)
		fprintf(f, "set logscale x 2\n");
	if (logy)
		fprintf(f, "set logscale y 10\nset format y '%%g'\n");
	else
		fprintf(f, "set yrange [0:*]\n");
	if (!logx)
		fprintf(f, "set xrange [0:*]\n");
}

void pm_plot_mark(FILE *f, double x, const char *text)
{
	fprintf(f, "set arrow from %g, graph 0 to %g, graph 1 nohead dashtype 2 linewidth 2 linecolor rgb '#cc0000'\n"
		   "set label '%s' at %g, graph 0.04 right offset -0.5,0 textcolor rgb '#cc0000'\n", x, x, text, x);
}

int pm_plot_run(const char *dir, const char *script, char *err, size_t len)
{
	char errpath[4096], line[512] = "";
	int st, fd;
	pid_t pid;
	FILE *f;

	snprintf(errpath, sizeof(errpath), "%s/.gnuplot.err", dir);
	if ((fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, len, "%s: %s", errpath, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		if (chdir(dir) != 0 || dup2(fd, 2) < 0)
			_exit(127);
		execlp(GNUPLOT, GNUPLOT, script, (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		snprintf(err, len, "cannot run gnuplot: %s", strerror(errno));
		unlink(errpath);
		return -1;
	}
	/* gnuplot complains on stderr and may still exit 0: a warning
	 * (a point it cannot draw on a log scale) is fine, an error is not. */
	if ((f = fopen(errpath, "r"))) {
		char l[512];
		while (fgets(l, sizeof(l), f))
			if (!line[0] && strstr(l, "rror"))
				snprintf(line, sizeof(line), "%s", l);
		fclose(f);
	}
	unlink(errpath);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !line[0])
		return 0;
	line[strcspn(line, "\n")] = 0;
	snprintf(err, len, "gnuplot %s in %s failed%s%s", script, dir, line[0] ? ": " : "", line);
	return -1;
}
