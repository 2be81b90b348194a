/* pagemu.c - `pagemu run`: run an unmodified program with its heap in
 * emulated memory.
 *
 *   pagemu run --frames 256 -- sort big.txt
 *
 * Sets the PAGEMU_* variables from the options, puts libpagemu-preload.so
 * in LD_PRELOAD and execs the program. The shim prints the summary at exit.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pagemu.h"

#define SHIM "libpagemu-preload.so"

static const char usage[] =
"usage: pagemu run [OPTIONS] [--] PROGRAM [ARGS...]\n"
"       pagemu --help | --version\n"
"\n"
"Runs PROGRAM with malloc, free, calloc, realloc, memalign & co. replaced by\n"
"pagemu's allocator (LD_PRELOAD=" SHIM "): the program's heap lives in\n"
"emulated memory, paged by real faults through a small frame pool and a swap\n"
"file. At exit a summary (faults by kind, evictions, swap traffic, heap\n"
"utilization) goes to stderr, or JSON to --report.\n"
"\n"
"Options (each sets the PAGEMU_* variable shown; set the variable yourself\n"
"for the same effect without this tool):\n"
"  --frames N         frames in the pool (physical memory)     PAGEMU_FRAMES\n"
"  --memory SIZE      pool size in bytes, e.g. 64M (frames =   PAGEMU_MEMORY\n"
"                     SIZE / page size)\n"
"  --page-size S      emulated page: host page x 2^k, e.g. 4K  PAGEMU_PAGE_SIZE\n"
"  --policy P         replacement: clock, fifo, lru, random    PAGEMU_POLICY\n"
"  --tlb-exact        map only what the modeled TLB holds      PAGEMU_TLB_EXACT=1\n"
"  --swap-dir D       directory of the (unlinked) swap file    PAGEMU_SWAP_DIR\n"
"  --swap-size S      swap capacity, e.g. 4G                   PAGEMU_SWAP_SIZE\n"
"  --readahead N      max pages per swap-in cluster (1 = off)  PAGEMU_READAHEAD\n"
"  --seed N           seed of the random policy                PAGEMU_SEED\n"
"  --trace FILE       write the fault event trace              PAGEMU_TRACE\n"
"  --report FILE      one JSON line per process to FILE        PAGEMU_REPORT\n"
"                     (emptied first) instead of the summary\n"
"  --quiet            no summary at exit                       PAGEMU_REPORT=none\n"
"  --verbose          one line per instance open/close         PAGEMU_VERBOSE=1\n"
"  (no option)        turn the syscall guard off (on by        PAGEMU_SYSCALL_GUARD=0\n"
"                     default: system calls on emulated memory are pinned)\n"
"  --preload PATH     the shim to use; default: " SHIM "\n"
"                     next to this program, then ../lib/ from it\n"
"  -h, --help         this text\n"
"\n"
"Sizes take K, M, G, T suffixes. The program must be dynamically linked (a\n"
"static binary cannot have its malloc replaced). Child processes the program\n"
"execs run under pagemu too (the variables are inherited), each with its\n"
"own instance and summary; a child made by fork() without exec goes on\n"
"with a private copy of its parent's emulated memory (and no summary).\n";

static void die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "pagemu: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(127);
}

/* The file PROGRAM names, searched in PATH like execvp, into buf (PATH_MAX
 * bytes; the caller's, so that looking up a script's interpreter does not
 * overwrite the program); NULL if none. */
static char *find_program(const char *prog, char *buf)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 && strlen(prog) < PATH_MAX ? strcpy(buf, prog) : NULL;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct stat st;
		int n = snprintf(buf, PATH_MAX, "%.*s/%s", (int)len, len ? p : ".", prog);
		if (n > 0 && n < PATH_MAX && access(buf, X_OK) == 0 && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			return buf;
		p += len + (end ? 1 : 0);
	}
	return NULL;
}

/* 1 when the ELF file has a PT_INTERP (dynamically linked), 0 when static,
 * -1 when it is no 64-bit ELF we can read. Scripts ("#!") count as
 * dynamic: their interpreter is checked by the caller. */
static int elf_dynamic(const char *file, char *interp, size_t ilen)
{
	Elf64_Ehdr eh;
	int fd = open(file, O_RDONLY | O_CLOEXEC), dyn = -1;

	interp[0] = 0;
	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) < 2)
		goto out;
	if (memcmp(&eh, "#!", 2) == 0) {
		char line[256] = { 0 };
		if (pread(fd, line, sizeof(line) - 1, 2) > 0) {
			char *s = line + strspn(line, " \t");
			s[strcspn(s, " \t\n")] = 0;
			snprintf(interp, ilen, "%s", s);
		}
		dyn = 1;
		goto out;
	}
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64)
		goto out;
	dyn = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * (uint64_t)eh.e_phentsize)) != sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP)
			dyn = 1;
	}
out:
	close(fd);
	return dyn;
}

static void check_program(const char *path, int depth)
{
	char interp[256];
	int dyn = elf_dynamic(path, interp, sizeof(interp));

	if (dyn == 0)
		die("%s is statically linked: LD_PRELOAD cannot replace its malloc (link it dynamically)%s", path, "");
	if (dyn < 0)
		die("%s: not a 64-bit ELF executable or script pagemu can run%s", path, "");
	if (interp[0] && depth < 4) {
		char ip[PATH_MAX];
		if (!find_program(interp, ip))
			die("%s: its interpreter %s is not found", path, interp);
		check_program(ip, depth + 1);
	}
}

/* The shim: next to this binary, or in ../lib from it (installed). */
static void find_shim(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		*slash = 0;
		int w = snprintf(out, len, "%s/%s", self, SHIM);
		if (w > 0 && (size_t)w < len && access(out, R_OK) == 0)
			return;
		w = snprintf(out, len, "%s/../lib/%s", self, SHIM);
		if (w > 0 && (size_t)w < len && access(out, R_OK) == 0)
			return;
	}
	die("cannot find %s next to this program or in ../lib (use --preload PATH)%s", SHIM, "");
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
		die("%s: path too long%s", path, "");
}

static const struct opt {
	const char *name;
	const char *var;                  /* NULL: handled below */
	int         arg;                  /* takes a value */
} opts[] = {
	{ "--frames", "PAGEMU_FRAMES", 1 },
	{ "--memory", "PAGEMU_MEMORY", 1 },
	{ "--page-size", "PAGEMU_PAGE_SIZE", 1 },
	{ "--policy", "PAGEMU_POLICY", 1 },
	{ "--tlb-exact", "PAGEMU_TLB_EXACT", 0 },
	{ "--swap-dir", "PAGEMU_SWAP_DIR", 1 },
	{ "--swap-size", "PAGEMU_SWAP_SIZE", 1 },
	{ "--readahead", "PAGEMU_READAHEAD", 1 },
	{ "--seed", "PAGEMU_SEED", 1 },
	{ "--trace", "PAGEMU_TRACE", 1 },
	{ "--verbose", "PAGEMU_VERBOSE", 0 },
	{ "--report", NULL, 1 },
	{ "--quiet", NULL, 0 },
	{ "--preload", NULL, 1 },
};

int main(int argc, char **argv)
{
	char shim[PATH_MAX] = "", report[PATH_MAX], prog[PATH_MAX];
	pagemu_config_t cfg;
	int i;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("pagemu %s\n", PAGEMU_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "run") != 0)
		die("unknown command '%s' (try: pagemu --help)%s", argv[1], "");
	for (i = 2; i < argc && argv[i][0] == '-'; i++) {
		const struct opt *o = NULL;
		const char *val = "1", *eq;
		size_t nlen;
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		eq = strchr(argv[i], '=');
		nlen = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, argv[i], nlen))
				o = &opts[k];
		if (!o)
			die("unknown option '%s' (try: pagemu --help)%s", argv[i], "");
		if (o->arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				die("%s needs a value%s", o->name, "");
		}
		if (o->var) {
			setenv(o->var, val, 1);
		} else if (!strcmp(o->name, "--report")) {
			int fd;
			absolute(val, report, sizeof(report));
			if ((fd = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
				die("--report %s: %s", report, strerror(errno));
			close(fd);
			setenv("PAGEMU_REPORT", report, 1);
		} else if (!strcmp(o->name, "--quiet")) {
			setenv("PAGEMU_REPORT", "none", 1);
		} else {
			absolute(val, shim, sizeof(shim));
		}
	}
	if (i >= argc)
		die("no program to run (usage: pagemu run [OPTIONS] -- PROGRAM [ARGS...])%s", "", "");

	/* Check the configuration here, where the message is easy to read. */
	pagemu_config_default(&cfg);
	if (pagemu_config_from_env(&cfg) < 0 || pagemu_config_validate(&cfg) < 0)
		die("%s%s", pagemu_last_error(), "");

	if (!find_program(argv[i], prog))
		die("%s: program not found%s", argv[i], strchr(argv[i], '/') ? "" : " in PATH");
	check_program(prog, 0);
	if (!shim[0])
		find_shim(shim, sizeof(shim));
	else if (access(shim, R_OK) != 0)
		die("--preload %s: %s", shim, strerror(errno));

	const char *old = getenv("LD_PRELOAD");
	if (old && *old) {
		size_t len = strlen(shim) + strlen(old) + 2;
		char *both = malloc(len);
		snprintf(both, len, "%s:%s", shim, old);
		setenv("LD_PRELOAD", both, 1);
	} else {
		setenv("LD_PRELOAD", shim, 1);
	}
	execv(prog, argv + i);
	die("cannot run %s: %s", prog, strerror(errno));
	return 127;
}
