/* pagemu.c - `pagemu run`: run an unmodified program with its heap in
 * emulated memory.
 *
 *   pagemu run --frames 256 -- sort big.txt
 *
 * The options are the engine's table of settings (lib/engine/config.c):
 * each sets its PAGEMU_* variable, and --help is generated from the same
 * rows. Every setting, given by option or by variable, is parsed and
 * checked here, and what an open would try (the swap file, the trace file,
 * an io_uring) is tried, before the program runs: a bad setting stops
 * pagemu run, never the program's use of pagemu. Then libpagemu-preload.so
 * goes in LD_PRELOAD and the program is executed exactly as the shell
 * would. The shim prints the summary at exit.
 *
 * Exit status, as env(1)'s: 125 when pagemu run itself fails (a bad option
 * or setting), 126 when the program cannot be run, 127 when it is not
 * found; else the program's.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pagemu.h"
#include "engine/engine_api.h"
#include "tools.h"

#define SHIM "libpagemu-preload.so"
#define EXIT_FAILED    125                /* pagemu run failed */
#define EXIT_CANNOT    126                /* the program cannot be run */
#define EXIT_NOT_FOUND 127                /* the program is not found */
#define MAX_SETTINGS   64

static const char usage_head[] =
"usage: pagemu run [OPTIONS] [--] PROGRAM [ARGS...]\n"
"       pagemu sweep [OPTIONS] -- PROGRAM [ARGS...]   (pagemu sweep --help)\n"
"       pagemu --help | --version\n"
"\n"
"Runs PROGRAM with malloc, free, calloc, realloc, memalign & co. replaced by\n"
"pagemu's allocator (LD_PRELOAD=" SHIM "): the program's heap lives in\n"
"emulated memory, paged by real faults through a small frame pool and a swap\n"
"file. At exit a summary (faults by kind, evictions, swap traffic, heap\n"
"utilization) goes to stderr, or JSON to --report.\n"
"\n"
"Settings: each option sets the PAGEMU_* variable shown, which accepts the\n"
"same values (set it yourself for the same effect without this tool; an\n"
"option wins over the variable). Numbers are decimal or 0x hex; a decimal\n"
"one may end in K, M, G or T (powers of 1024).\n"
"\n";

static const char usage_tail[] =
"\n"
"Output and the shim:\n"
"  --report FILE        one JSON line per process to FILE (emptied first,\n"
"                       mode 0600, not through a symbolic link) instead\n"
"                       of the summary; PAGEMU_REPORT\n"
"  --quiet              no summary at exit; PAGEMU_REPORT=none\n"
"  --preload PATH       the shim to use; default: " SHIM " next to\n"
"                       this program, then in ../lib/pagemu/ or ../lib/ from it\n"
"  -h, --help           this text\n"
"\n"
"--memory and --frames set the same thing: the last one given wins (of the\n"
"variables, PAGEMU_FRAMES). Every setting is checked before PROGRAM runs,\n"
"and the swap file and the trace file are created once to see that they can\n"
"be. PROGRAM is found and run as the shell would (PATH, scripts); it must be\n"
"dynamically linked (a static binary cannot have its malloc replaced).\n"
"Child processes the program execs run under pagemu too (the variables are\n"
"inherited), each with its own instance and summary; a child made by fork()\n"
"without exec goes on with a private copy of its parent's emulated memory\n"
"(and no summary). With --trace FILE, each process writes its own trace,\n"
"FILE.PID (a %p in FILE places the pid instead).\n"
"\n"
"Exit status: 125 pagemu run failed (a bad option or setting), 126 PROGRAM\n"
"cannot be run, 127 PROGRAM not found; else PROGRAM's.\n";

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("pagemu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* ---- --help, from the table of settings ------------------------------------------ */

/* text from column 23, wrapped before column 80. */
static void wrapped(FILE *f, const char *text)
{
	const int indent = 23, width = 79;
	int col = indent;

	fprintf(f, "%*s", indent, "");
	while (*text) {
		size_t w = strcspn(text, " ");
		if (col > indent && col + 1 + (int)w > width) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)w, text);
		col += (int)w;
		text += w + strspn(text + w, " ");
	}
	fputc('\n', f);
}

static void usage(FILE *f)
{
	const pm_setting_t *s;
	pagemu_config_t def;

	pagemu_config_default(&def);
	fputs(usage_head, f);
	for (size_t i = 0; (s = pm_setting(i)); i++) {
		char opt[64], dflt[300], more[1024];
		snprintf(opt, sizeof(opt), "%s %s", s->option, pm_setting_arg(s));
		fprintf(f, "  %-20s %s\n", opt, s->help);
		pm_setting_format(s, &def, dflt, sizeof(dflt));
		if (s->kind == PM_SET_BOOL)
			snprintf(more, sizeof(more), "%s=%s%s%s", s->env, s->flag, *dflt ? "; default " : "", dflt);
		else
			snprintf(more, sizeof(more), "%s: %s%s%s", s->env, s->limits,
				 *dflt || s->kind == PM_SET_FILE ? "; default " : "", *dflt ? dflt : s->kind == PM_SET_FILE ? "none" : "");
		wrapped(f, more);
	}
	fputs(usage_tail, f);
}

/* ---- the program, as the shell finds and runs it ------------------------------------ */

/* The file the shell runs for PROGRAM, into buf: PROGRAM itself when it
 * holds a '/', else the first executable regular file of that name in a
 * directory of PATH (an empty entry is the current directory). 0 or -1. */
static int find_program(const char *prog, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/')) {
		if (strlen(prog) >= len || access(prog, F_OK) != 0)
			return -1;
		strcpy(buf, prog);
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		struct stat st;
		int n = snprintf(buf, len, "%.*s/%s", (int)dlen, dlen ? p : ".", prog);
		if (n > 0 && (size_t)n < len && access(buf, X_OK) == 0 && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
		if (!end)
			return -1;
		p = end + 1;
	}
}

enum prog_kind {
	PROG_DYNAMIC,                     /* an ELF with an interpreter (ld.so): the shim works */
	PROG_STATIC,                      /* an ELF without one */
	PROG_FOREIGN,                     /* an ELF we cannot preload into (not 64-bit) */
	PROG_SCRIPT,                      /* interp holds what runs it */
	PROG_UNKNOWN,                     /* unreadable: execve decides */
};

/* What runs when file is executed: a "#!" line's interpreter, or, for a
 * file that is no ELF at all, /bin/sh (as execvp and the shell do). */
static enum prog_kind program_kind(const char *file, char *interp, size_t ilen)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	enum prog_kind kind = PROG_FOREIGN;
	Elf64_Ehdr eh;
	ssize_t n;

	if (fd < 0)
		return PROG_UNKNOWN;
	memset(&eh, 0, sizeof(eh));
	n = pread(fd, &eh, sizeof(eh), 0);
	if (n >= 2 && memcmp(&eh, "#!", 2) == 0) {
		char line[PATH_MAX] = { 0 };
		if (pread(fd, line, sizeof(line) - 1, 2) > 0) {
			char *s = line + strspn(line, " \t");
			s[strcspn(s, " \t\n")] = 0;
			snprintf(interp, ilen, "%s", s);
		}
		kind = PROG_SCRIPT;
	} else if (n < SELFMAG || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(interp, ilen, "/bin/sh");
		kind = PROG_SCRIPT;
	} else if (n == sizeof(eh) && eh.e_ident[EI_CLASS] == ELFCLASS64) {
		kind = PROG_STATIC;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * (uint64_t)eh.e_phentsize)) != sizeof(ph))
				break;
			if (ph.p_type == PT_INTERP)
				kind = PROG_DYNAMIC;
		}
	}
	close(fd);
	return kind;
}

/* Can the shim get into what runs when path is executed? The kernel takes
 * a "#!" interpreter as written (no PATH search), up to 4 levels deep. */
static void check_program(const char *path, int depth)
{
	char interp[PATH_MAX] = "";

	switch (program_kind(path, interp, sizeof(interp))) {
	case PROG_STATIC:
		die(EXIT_CANNOT, "%s is statically linked: LD_PRELOAD cannot replace its malloc (link it dynamically)", path);
	case PROG_FOREIGN:
		die(EXIT_CANNOT, "%s: not a 64-bit ELF executable or a script pagemu can run", path);
	case PROG_SCRIPT:
		if (!interp[0])
			die(EXIT_CANNOT, "%s: no interpreter after \"#!\"", path);
		if (access(interp, X_OK) != 0)
			die(EXIT_CANNOT, "%s: its interpreter %s: %s", path, interp, strerror(errno));
		if (depth < 4)
			check_program(interp, depth + 1);
		return;
	default:
		return;
	}
}

/* execv, and for a file the kernel does not know how to run, /bin/sh on
 * it, as execvp does. Returns only on failure. */
static void exec_program(const char *path, char **argv)
{
	int argc = 0;

	execv(path, argv);
	if (errno != ENOEXEC)
		return;
	while (argv[argc])
		argc++;
	char **sh = calloc((size_t)argc + 2, sizeof(*sh));
	if (!sh)
		return;
	sh[0] = "/bin/sh";
	sh[1] = (char *)path;
	memcpy(sh + 2, argv + 1, (size_t)argc * sizeof(*sh));  /* argv[1..argc], NULL included */
	execv(sh[0], sh);
	errno = ENOEXEC;
}

/* ---- the shim ----------------------------------------------------------------------- */

/* Next to this binary (the build tree), or in ../lib/pagemu or ../lib from
 * it (installed: PREFIX/bin/pagemu, PREFIX/lib/pagemu/). */
static void find_shim(char *out, size_t len)
{
	static const char *const dirs[] = { "", "/../lib/pagemu", "/../lib" };
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		*strrchr(self, '/') = 0;
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			int w = snprintf(out, len, "%s%s/%s", self, dirs[i], SHIM);
			if (w > 0 && (size_t)w < len && access(out, R_OK) == 0)
				return;
		}
	}
	die(EXIT_FAILED, "cannot find %s next to this program, in ../lib/pagemu or in ../lib (use --preload PATH)", SHIM);
}

static void absolute(const char *path, char *out, size_t len)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, len, "%s", path);
	else
		n = snprintf(out, len, "%s/%s", cwd, path);
	if (n < 0 || (size_t)n >= len)
		die(EXIT_FAILED, "%s: path too long", path);
}

static void preload(const char *shim)
{
	const char *old = getenv("LD_PRELOAD");

	if (old && *old) {
		size_t len = strlen(shim) + strlen(old) + 2;
		char *both = malloc(len);
		if (!both)
			die(EXIT_FAILED, "out of memory");
		snprintf(both, len, "%s:%s", shim, old);
		setenv("LD_PRELOAD", both, 1);
	} else {
		setenv("LD_PRELOAD", shim, 1);
	}
}

/* ---- options ---------------------------------------------------------------------- */

typedef struct run {
	pm_given_t  given[MAX_SETTINGS];  /* the settings options gave, by row */
	size_t      nsettings;
	const char *report;               /* --report FILE, NULL = none */
	int         quiet;                /* --quiet */
	char        shim[PATH_MAX];       /* --preload, "" = find it */
} run_t;

/* Two rows of one field are one fact (--memory and --frames). */
static int same_fact(const pm_setting_t *a, const pm_setting_t *b)
{
	return a->field && b->field && a->offset == b->offset;
}

/* Options up to the program; returns the index of the program in argv. */
static int parse_options(int argc, char **argv, run_t *r)
{
	int i;

	for (i = 2; i < argc && argv[i][0] == '-'; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '='), *val = NULL;
		const pm_setting_t *s = NULL;
		char name[64];

		if (!strcmp(arg, "--"))
			return i + 1;
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			usage(stdout);
			exit(0);
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
		for (size_t k = 0; k < r->nsettings; k++)
			if (!strcmp(pm_setting(k)->option, name))
				s = pm_setting(k);
		if ((s && s->kind == PM_SET_BOOL) || !strcmp(name, "--quiet")) {
			if (eq)
				die(EXIT_FAILED, "%s takes no value (it is a flag)", name);
		} else if (s || !strcmp(name, "--report") || !strcmp(name, "--preload")) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				die(EXIT_FAILED, "%s needs a value", name);
		} else {
			die(EXIT_FAILED, "unknown option '%s' (try: pagemu --help)", arg);
		}
		if (s) {
			for (size_t k = 0; k < r->nsettings; k++)
				if (same_fact(pm_setting(k), s))
					r->given[k] = (pm_given_t){ NULL, NULL };
			r->given[s - pm_setting(0)] = (pm_given_t){ s->option, s->kind == PM_SET_BOOL ? s->flag : val };
		} else if (!strcmp(name, "--report")) {
			r->report = val;
		} else if (!strcmp(name, "--quiet")) {
			r->quiet = 1;
		} else {
			absolute(val, r->shim, sizeof(r->shim));
		}
	}
	return i;
}

/* The variables of every fact no option gave: the user's environment. */
static void add_environment(run_t *r)
{
	for (size_t i = 0; i < r->nsettings; i++) {
		const pm_setting_t *s = pm_setting(i);
		const char *v = getenv(s->env);
		int by_option = 0;
		for (size_t k = 0; k < r->nsettings; k++)
			if ((k == i || same_fact(pm_setting(k), s)) && r->given[k].name && r->given[k].name[0] == '-')
				by_option = 1;
		if (!by_option && v)
			r->given[i] = (pm_given_t){ s->env, v };
	}
}

/* The environment the shim reads: the options' values as written (the
 * shim parses them with the same code); a fact an option gave loses its
 * other variables. */
static void export_options(const run_t *r)
{
	for (size_t i = 0; i < r->nsettings; i++) {
		const pm_setting_t *s = pm_setting(i);
		if (!r->given[i].name || r->given[i].name[0] != '-')
			continue;
		for (size_t k = 0; k < r->nsettings; k++)
			if (k != i && same_fact(pm_setting(k), s))
				unsetenv(pm_setting(k)->env);
		setenv(s->env, r->given[i].value, 1);
	}
}

static void export_report(const run_t *r)
{
	char path[PATH_MAX];
	int fd;

	if (r->quiet) {
		setenv("PAGEMU_REPORT", "none", 1);
	} else if (r->report) {
		/* Emptied first, as pagemu's other files are made: only this
		 * user may read it, never through a symbolic link. */
		absolute(r->report, path, sizeof(path));
		if ((fd = pm_prim_create_private(path)) < 0)
			die(EXIT_FAILED, "--report \"%s\": %s", r->report,
			    fd == -ELOOP ? "a symbolic link (pagemu does not follow one)" : strerror(-fd));
		pm_prim_close(fd);
		setenv("PAGEMU_REPORT", path, 1);
	}
}

int main(int argc, char **argv)
{
	static run_t r;
	char prog[PATH_MAX];
	pagemu_config_t cfg;
	int i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_FAILED;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("pagemu %s\n", PAGEMU_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "sweep"))
		return pm_sweep_main(argc, argv);
	if (strcmp(argv[1], "run") != 0)
		die(EXIT_FAILED, "unknown command '%s' (try: pagemu --help)", argv[1]);
	while (pm_setting(r.nsettings))
		r.nsettings++;
	if (r.nsettings > MAX_SETTINGS)
		die(EXIT_FAILED, "internal: more than %d settings", MAX_SETTINGS);
	i = parse_options(argc, argv, &r);
	if (i >= argc)
		die(EXIT_FAILED, "no program to run (usage: pagemu run [OPTIONS] -- PROGRAM [ARGS...])");

	/* Every setting, before anything runs: a bad one stops here. */
	add_environment(&r);
	pagemu_config_default(&cfg);
	/* The trace checked is the program's: the shim's one file per
	 * process, FILE.PID, and the program will have this process's pid. */
	if (pm_config_apply(&cfg, r.given) < 0 || pm_config_trace_per_process(&cfg) < 0 ||
	    pm_config_check(&cfg, r.given) < 0 || pm_config_check_run(&cfg, r.given) < 0)
		die(EXIT_FAILED, "%s", pagemu_last_error());
	export_options(&r);
	export_report(&r);

	if (find_program(argv[i], prog, sizeof(prog)) < 0)
		die(EXIT_NOT_FOUND, "%s: program not found%s", argv[i], strchr(argv[i], '/') ? "" : " in PATH");
	check_program(prog, 0);
	if (!r.shim[0])
		find_shim(r.shim, sizeof(r.shim));
	else if (access(r.shim, R_OK) != 0)
		die(EXIT_FAILED, "--preload \"%s\": %s", r.shim, strerror(errno));
	preload(r.shim);
	exec_program(prog, argv + i);
	die(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT, "cannot run %s: %s", prog, strerror(errno));
}
