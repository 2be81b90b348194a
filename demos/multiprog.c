/* multiprog.c - multiprogramming and thrashing (Denning's curve): N
 * emulated processes over one frame pool.
 *
 * Each process is an address space of its own (pagemu_space_new) holding
 * an open-addressing hash table at the SAME virtual address as every other
 * process's, filled with its own keys and values. It alternates a CPU
 * burst of random inserts and lookups over its table with an I/O wait of
 * D microseconds of real time. A scheduler here runs the ready processes
 * round-robin, one burst a dispatch (the quantum), switching spaces as an
 * OS writes CR3; when none is ready the CPU idles until the earliest I/O
 * completes.
 *
 * More processes overlap more I/O with computation, so throughput rises
 * with N -- until the working sets (a table each) no longer fit in the
 * pool. Paging is synchronous: every switch-in then pages the table back
 * in from swap and the CPU stalls in the fault handler, so throughput
 * collapses (thrashing). With load control (cfg.load_control) pagemu
 * suspends spaces while the working sets exceed the pool, and throughput
 * stays near its peak.
 *
 * Every lookup is checked against a shadow of the keys inserted (ordinary
 * memory) and every value found against the value its key must hold in
 * that process: a page of another space, or a lost write, aborts.
 *
 * usage: multiprog [--quick] [--csv FILE] [--seconds S] [--sweeps K]
 * PAGEMU_* variables apply (PAGEMU_FRAMES=8192: everything fits, no knee).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "pagemu.h"

#define POOL_FRAMES  2048        /* the machine's memory: 8 MiB of 4 KiB frames */
#define TABLE_PAGES  384         /* one process's table: 5 fit in the pool, 6 do not */
#define BURST_OPS    6144        /* operations per CPU burst (16 per table page) */
#define IO_BURSTS    3.5         /* I/O wait = this many bursts: the CPU saturates at N = 5 (4.5 / 1) */
#define MAX_PROCS    16
#define MAX_SWEEPS   9
#define MAX_POINTS   16

/* ---- the process's work: a hash table in its own space --------------------- */

typedef struct slot {
	uint64_t key;                /* key + 1; 0 = empty */
	uint64_t value;
} slot_t;

typedef struct proc {
	pagemu_space_t *space;
	unsigned        id;
	uint64_t        rng;         /* its own random stream */
	uint8_t        *present;     /* shadow: 1 = key inserted (ordinary memory) */
	int             filled;      /* 1 = its table got its first keys */
	uint64_t        ready_ns;    /* when its I/O completes */
	uint64_t        ops;         /* operations done */
} proc_t;

typedef struct table_geom {
	slot_t  *base;               /* the same address in every space */
	uint64_t slots;
	uint64_t keys;               /* the key universe: 55% of the slots */
} table_geom_t;

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t next_rand(uint64_t *s)
{
	return mix(*s += 0x9E3779B97F4A7C15ULL);
}

/* The value key k holds in process p: another process's table reads wrong. */
static uint64_t value_of(const proc_t *p, uint64_t k)
{
	return mix(k * 0x2545F4914F6CDD1DULL ^ ((uint64_t)p->id + 1) << 40);
}

static void corrupt(const proc_t *p, uint64_t k, const char *what, uint64_t got)
{
	fprintf(stderr, "multiprog: process %u, key %llu: %s (read %#llx, expected %#llx)\n", p->id,
		(unsigned long long)k, what, (unsigned long long)got, (unsigned long long)value_of(p, k));
	abort();
}

/* The slot holding k, or the empty slot where it goes (linear probing;
 * the table never fills beyond the key universe's 55%). */
static slot_t *probe(const table_geom_t *t, uint64_t k)
{
	uint64_t i = mix(k) % t->slots;

	while (t->base[i].key && t->base[i].key != k + 1)
		i = i + 1 < t->slots ? i + 1 : 0;
	return &t->base[i];
}

static void insert(const table_geom_t *t, proc_t *p, uint64_t k)
{
	slot_t *s = probe(t, k);

	if (s->key && s->value != value_of(p, k))
		corrupt(p, k, "wrong value before update", s->value);
	if (!s->key && p->present[k])
		corrupt(p, k, "inserted key lost", 0);
	s->key = k + 1;
	s->value = value_of(p, k);
	p->present[k] = 1;
}

static void lookup(const table_geom_t *t, const proc_t *p, uint64_t k)
{
	const slot_t *s = probe(t, k);

	if (!s->key != !p->present[k])
		corrupt(p, k, s->key ? "key found that was never inserted" : "inserted key not found", s->value);
	if (s->key && s->value != value_of(p, k))
		corrupt(p, k, "wrong value", s->value);
}

/* One CPU burst: half inserts, half lookups of uniformly random keys. */
static void burst(const table_geom_t *t, proc_t *p, unsigned ops)
{
	for (unsigned n = 0; n < ops; n++) {
		uint64_t r = next_rand(&p->rng);
		uint64_t k = (r >> 1) % t->keys;

		if (r & 1)
			insert(t, p, k);
		else
			lookup(t, p, k);
	}
	p->ops += ops;
}

/* The first dispatch of a process: half of its keys. */
static void fill(const table_geom_t *t, proc_t *p)
{
	for (uint64_t k = 0; k < t->keys; k++)
		if (mix(k ^ p->rng) & 1)
			insert(t, p, k);
	p->filled = 1;
}

/* ---- the machine: one instance, N spaces -------------------------------------- */

/* Nanoseconds of a clock: CLOCK_MONOTONIC (now_ns), or the thread's CPU time. */
static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ULL), .tv_nsec = (long)(t % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "multiprog: %s: %s%s%s\n", what, pagemu_strerror(err), *pagemu_last_error() ? ": " : "",
		pagemu_last_error());
	exit(1);
}

typedef struct machine {
	pagemu_t    *vm;
	size_t       frames;          /* the pool */
	table_geom_t t;
	proc_t       procs[MAX_PROCS];
	int          nprocs;
	proc_t      *running;        /* whose space is current */
} machine_t;

/* An instance with nprocs spaces, each mapping its table at the same
 * address: the first mapping chooses it, the others map exactly there. */
static void machine_open(machine_t *m, int nprocs, int load_control)
{
	pagemu_config_t cfg;
	size_t page, len;
	int rc;

	memset(m, 0, sizeof(*m));
	pagemu_config_default(&cfg);
	cfg.frames = POOL_FRAMES;
	if ((rc = pagemu_config_from_env(&cfg)) < 0)
		die("configuration", rc);
	cfg.load_control = load_control;
	if ((rc = pagemu_open(&cfg, &m->vm)) < 0)
		die("pagemu_open", rc);
	m->frames = cfg.frames;
	page = pagemu_page_size(m->vm);
	len = (size_t)TABLE_PAGES * 4096;     /* the table's bytes, whatever the page size */
	len = (len + page - 1) / page * page;
	m->t.slots = len / sizeof(slot_t);
	m->t.keys = m->t.slots * 55 / 100;
	m->nprocs = nprocs;
	for (int i = 0; i < nprocs; i++) {
		proc_t *p = &m->procs[i];
		void *at;
		p->id = (unsigned)i;
		p->rng = mix((uint64_t)i + 1);
		if (i == 0)
			p->space = pagemu_space_current(m->vm);
		else if ((rc = pagemu_space_new(m->vm, &p->space)) < 0)
			die("pagemu_space_new", rc);
		at = pagemu_space_map(p->space, i ? (void *)m->t.base : NULL, len, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!at)
			die("pagemu_space_map", -errno);
		if (i == 0)
			m->t.base = at;
		else if (at != (void *)m->t.base)
			die("pagemu_space_map: not at the address asked", -EINVAL);
		p->present = calloc(m->t.keys, 1);
		if (!p->present)
			die("calloc", -ENOMEM);
	}
	m->running = &m->procs[0];
}

static void machine_close(machine_t *m)
{
	for (int i = 0; i < m->nprocs; i++)
		free(m->procs[i].present);
	pagemu_close(m->vm);
}

/* ---- the scheduler ------------------------------------------------------------------ */

typedef struct sched_stats {
	uint64_t ops, bursts, idle_ns, switch_ns, refused;  /* refused: switches load control turned down */
} sched_stats_t;

/* Make p current: 0, or -EAGAIN while load control holds it suspended. */
static int dispatch(machine_t *m, proc_t *p, sched_stats_t *st)
{
	uint64_t t0;
	int rc;

	if (m->running == p)
		return 0;
	t0 = now_ns();
	rc = pagemu_space_switch(m->vm, p->space);
	st->switch_ns += now_ns() - t0;
	if (rc == -EAGAIN) {
		st->refused++;
		return rc;
	}
	if (rc < 0)
		die("pagemu_space_switch", rc);
	m->running = p;
	return 0;
}

/* The ready process that has waited longest and may run, or NULL. A
 * suspended process keeps its place: it is asked again next time. */
static proc_t *pick(machine_t *m, uint64_t now, sched_stats_t *st)
{
	int tried[MAX_PROCS] = { 0 };

	for (;;) {
		proc_t *best = NULL;
		for (int i = 0; i < m->nprocs; i++) {
			proc_t *p = &m->procs[i];
			if (!tried[i] && p->ready_ns <= now && (!best || p->ready_ns < best->ready_ns))
				best = p;
		}
		if (!best || dispatch(m, best, st) == 0)
			return best;
		tried[best->id] = 1;
	}
}

/* Idle until the earliest I/O completion after now (or 1 ms when every
 * ready process is suspended and none waits: load control decides). */
static void idle(machine_t *m, uint64_t now, sched_stats_t *st)
{
	uint64_t until = now + 1000000;

	for (int i = 0; i < m->nprocs; i++)
		if (m->procs[i].ready_ns > now && m->procs[i].ready_ns < until)
			until = m->procs[i].ready_ns;
	sleep_until(until);
	st->idle_ns += now_ns() - now;
}

/* Run the processes until end_ns; io_ns = each I/O wait. */
static void schedule(machine_t *m, uint64_t end_ns, uint64_t io_ns, sched_stats_t *st)
{
	uint64_t now;

	while ((now = now_ns()) < end_ns) {
		proc_t *p = pick(m, now, st);
		if (!p) {
			idle(m, now, st);
			continue;
		}
		if (!p->filled)
			fill(&m->t, p);
		burst(&m->t, p, BURST_OPS);
		st->ops += BURST_OPS;
		st->bursts++;
		p->ready_ns = now_ns() + io_ns;
	}
}

/* ---- one point of the curve ------------------------------------------------------------ */

typedef struct point {
	int      nprocs, load_control;
	double   secs;               /* the measured window */
	double   ops_s, major_s, major_kop, paging, idle, switching;
	uint64_t majors, switches, suspends, resumes, refused;
	uint64_t ws_sum;             /* working sets at the end, pages */
	int      suspended;          /* spaces suspended at the end */
	int      ran;                /* processes that ran a burst in the window */
	size_t   frames;
} point_t;

static uint64_t working_sets(machine_t *m, int *suspended)
{
	uint64_t sum = 0;

	*suspended = 0;
	for (int i = 0; i < m->nprocs; i++) {
		pagemu_space_stats_t s;
		if (pagemu_space_stats(m->procs[i].space, &s) == 0) {
			sum += s.working_set;
			*suspended += s.suspended;
		}
	}
	return sum;
}

/* 1 when every process has run a burst or is suspended: every working
 * set is known, and load control has made its choice. */
static int all_started(machine_t *m)
{
	for (int i = 0; i < m->nprocs; i++) {
		pagemu_space_stats_t s;
		if (!m->procs[i].ops && (pagemu_space_stats(m->procs[i].space, &s) < 0 || !s.suspended))
			return 0;
	}
	return 1;
}

/* Warm up for a quarter of secs and until every process has started
 * (each table filled, the pages where the policy puts them; at most 4 x
 * secs more), then a round more. */
static void warm_up(machine_t *m, double secs, uint64_t io_ns)
{
	sched_stats_t warm = { 0 };
	uint64_t warm_end = now_ns() + (uint64_t)(secs * 0.25e9), cap = warm_end + (uint64_t)(4 * secs * 1e9);

	schedule(m, warm_end, io_ns, &warm);
	while (!all_started(m) && now_ns() < cap)
		schedule(m, now_ns() + 1000000, io_ns, &warm);
	for (uint64_t b0 = warm.bursts; warm.bursts < b0 + (uint64_t)m->nprocs && now_ns() < cap;)
		schedule(m, now_ns() + 1000000, io_ns, &warm);
}

/* The point from the scheduler's counts and pagemu's counters (a before
 * the window, b after) over ns of wall time. */
static void point_fill(point_t *pt, const sched_stats_t *st, const pagemu_stats_t *a, const pagemu_stats_t *b,
		       uint64_t ns)
{
	pt->secs = (double)ns / 1e9;
	pt->ops_s = (double)st->ops / pt->secs;
	pt->majors = b->faults_major - a->faults_major;
	pt->major_s = (double)pt->majors / pt->secs;
	pt->major_kop = st->ops ? 1000.0 * (double)pt->majors / (double)st->ops : 0;
	pt->paging = (double)(b->handler_ns - a->handler_ns) / (double)ns;
	pt->idle = (double)st->idle_ns / (double)ns;
	pt->switching = (double)st->switch_ns / (double)ns;
	pt->switches = b->space_switches - a->space_switches;
	pt->suspends = b->load_suspends - a->load_suspends;
	pt->resumes = b->load_resumes - a->load_resumes;
	pt->refused = st->refused;
}

/* One point: N processes, load control on or off, measured for secs. */
static point_t run_point(int nprocs, int load_control, double secs, uint64_t io_ns)
{
	point_t pt = { .nprocs = nprocs, .load_control = load_control };
	sched_stats_t st = { 0 };
	pagemu_stats_t a, b;
	uint64_t t0, ops0[MAX_PROCS];
	machine_t m;

	machine_open(&m, nprocs, load_control);
	warm_up(&m, secs, io_ns);
	for (int i = 0; i < nprocs; i++)
		ops0[i] = m.procs[i].ops;
	pagemu_get_stats(m.vm, &a);
	t0 = now_ns();
	schedule(&m, t0 + (uint64_t)(secs * 1e9), io_ns, &st);
	t0 = now_ns() - t0;
	pagemu_get_stats(m.vm, &b);
	point_fill(&pt, &st, &a, &b, t0);
	pt.frames = m.frames;
	pt.ws_sum = working_sets(&m, &pt.suspended);
	for (int i = 0; i < nprocs; i++)
		pt.ran += m.procs[i].ops > ops0[i];
	machine_close(&m);
	return pt;
}

static size_t pool_frames;           /* the pool, PAGEMU_FRAMES applied */

/* The CPU time of one burst as the scheduler sees it (switch-in and the
 * faults that map the table again included): two processes, no I/O.
 * The thread's CPU time, not the wall clock's: on a machine busy with
 * other work a burst takes longer to run, and an I/O wait sized on that
 * would leave the CPU idle at N = 5 once the machine is quiet again (the
 * CPU would then absorb the paging of N = 6 and past). Sized on the CPU
 * time, the CPU saturates at N = 5 at the latest. */
static uint64_t calibrate_burst_ns(void)
{
	machine_t m;
	sched_stats_t st = { 0 };
	uint64_t t0;

	machine_open(&m, 2, 0);
	pool_frames = m.frames;
	schedule(&m, now_ns() + 200000000, 0, &st);
	st = (sched_stats_t){ 0 };
	t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	schedule(&m, now_ns() + 300000000, 0, &st);
	t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	machine_close(&m);
	return st.bursts ? t0 / st.bursts : 1000000;
}

/* ---- output --------------------------------------------------------------------------------- */

static void print_header(int load_control)
{
	printf("\n%s:\n", load_control ? "with load control (cfg.load_control = 1)" : "without load control");
	printf("%5s %4s %12s %10s %11s %8s %8s %7s %9s %8s %9s\n", "procs", "ran", "ops/s", "major/s", "major/kop",
	       "paging", "switch", "idle", "switches", "ws/pool", load_control ? "suspended" : "");
}

static void print_point(const point_t *p)
{
	printf("%5d %4d %12.0f %10.0f %11.2f %7.1f%% %7.1f%% %6.1f%% %9llu %8.2f", p->nprocs, p->ran, p->ops_s, p->major_s,
	       p->major_kop, 100 * p->paging, 100 * p->switching, 100 * p->idle, (unsigned long long)p->switches,
	       (double)p->ws_sum / (double)p->frames);
	if (p->load_control)
		printf(" %9d", p->suspended);
	printf("\n");
}

static void csv_row(FILE *f, const point_t *p)
{
	fprintf(f, "%s,%d,%.3f,%.0f,%llu,%.1f,%.3f,%.4f,%.4f,%.4f,%llu,%llu,%llu,%llu,%llu,%d,%d,%zu\n",
		p->load_control ? "load_control" : "none", p->nprocs, p->secs, p->ops_s,
		(unsigned long long)p->majors, p->major_s, p->major_kop, p->paging, p->switching, p->idle,
		(unsigned long long)p->switches, (unsigned long long)p->suspends, (unsigned long long)p->resumes,
		(unsigned long long)p->refused, (unsigned long long)p->ws_sum, p->suspended, p->ran, p->frames);
}

/* Point i of the sweep whose throughput there is the median (the whole
 * row is that run's, so its columns agree with each other). */
static point_t median_point(point_t (*sweep)[MAX_POINTS], int sweeps, int i)
{
	int best = 0;

	for (int k = 0; k < sweeps; k++) {
		int below = 0, above = 0;
		for (int j = 0; j < sweeps; j++) {
			below += sweep[j][i].ops_s < sweep[k][i].ops_s;
			above += sweep[j][i].ops_s > sweep[k][i].ops_s;
		}
		if (below <= sweeps / 2 && above <= sweeps / 2)
			best = k;
	}
	return sweep[best][i];
}

/* Where the curve without load control peaks, and the points past it
 * (their mean: one point alone is at the mercy of the machine's noise). */
static void print_knee(const point_t *plain, const point_t *lc, int n)
{
	double after = 0, after_lc = 0;
	int peak = 0;

	for (int i = 1; i < n; i++)
		if (plain[i].ops_s > plain[peak].ops_s)
			peak = i;
	if (peak == n - 1) {
		printf("\nno knee: throughput still rises at N = %d (the working sets fit in the pool)\n",
		       plain[peak].nprocs);
		return;
	}
	for (int i = peak + 1; i < n; i++) {
		after += plain[i].ops_s / (n - peak - 1);
		after_lc += lc[i].ops_s / (n - peak - 1);
	}
	printf("\nknee: throughput peaks at N = %d (%.0f ops/s): %d tables of %d pages, %d pages in a pool of %zu "
	       "frames.\n", plain[peak].nprocs, plain[peak].ops_s, plain[peak].nprocs, TABLE_PAGES,
	       plain[peak].nprocs * TABLE_PAGES, plain[peak].frames);
	printf("Past it the working sets exceed the pool (N = %d: %d pages): every switch-in pages its table back\n"
	       "in from swap (%.0f major faults per 1000 operations at N = %d), the CPU stalls in the faults, and\n"
	       "throughput falls to %.0f%% of the peak (the mean of N = %d..%d). Load control suspends processes\n"
	       "until the working sets of the others fit: %.0f%% of the peak over the same N.\n",
	       plain[peak + 1].nprocs, plain[peak + 1].nprocs * TABLE_PAGES, plain[n - 1].major_kop,
	       plain[n - 1].nprocs, 100 * after / plain[peak].ops_s, plain[peak + 1].nprocs, plain[n - 1].nprocs,
	       100 * after_lc / plain[peak].ops_s);
}

typedef struct opts {
	const char *csv_path;        /* --csv; default multiprog.csv */
	double      secs;            /* --seconds: the window of a point */
	int         sweeps;          /* --sweeps */
	const int  *ns;              /* the N of the points */
	int         count;
} opts_t;

static void parse(opts_t *o, int argc, char **argv)
{
	static const int full_n[] = { 1, 2, 3, 4, 5, 6, 8, 12, 16 };
	static const int quick_n[] = { 1, 5, 8 };
	int quick = 0;

	*o = (opts_t){ .csv_path = "multiprog.csv" };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--csv") && i + 1 < argc)
			o->csv_path = argv[++i];
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			o->secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--sweeps") && i + 1 < argc)
			o->sweeps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--quick] [--csv FILE] [--seconds S] [--sweeps K]\n", argv[0]);
			exit(2);
		}
	}
	o->ns = quick ? quick_n : full_n;
	o->count = quick ? 3 : 9;
	if (o->secs <= 0)
		o->secs = quick ? 0.4 : 0.5;
	if (o->sweeps < 1 || o->sweeps > MAX_SWEEPS)
		o->sweeps = quick ? 1 : 3;
}

/* Both modes at each N one after the other, and the whole curve swept
 * o->sweeps times: the machine's drift falls on both modes alike, and the
 * median of each point leaves a passing slowdown out. */
static void sweep_curve(const opts_t *o, uint64_t io_ns, point_t *plain, point_t *lc)
{
	static point_t runs[2][MAX_SWEEPS][MAX_POINTS];     /* [load control][sweep][point] */

	for (int k = 0; k < o->sweeps; k++) {
		printf("sweep %d of %d: N =", k + 1, o->sweeps);
		for (int i = 0; i < o->count; i++) {
			printf(" %d", o->ns[i]);
			fflush(stdout);
			runs[0][k][i] = run_point(o->ns[i], 0, o->secs, io_ns);
			runs[1][k][i] = run_point(o->ns[i], 1, o->secs, io_ns);
		}
		printf("\n");
	}
	for (int i = 0; i < o->count; i++) {
		plain[i] = median_point(runs[0], o->sweeps, i);
		lc[i] = median_point(runs[1], o->sweeps, i);
	}
}

int main(int argc, char **argv)
{
	point_t plain[MAX_POINTS], lc[MAX_POINTS];
	uint64_t burst_ns, io_ns;
	opts_t o;
	FILE *csv;

	parse(&o, argc, argv);
	if (!(csv = fopen(o.csv_path, "w"))) {           /* before a minute of work, not after */
		perror(o.csv_path);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	burst_ns = calibrate_burst_ns();
	io_ns = (uint64_t)(IO_BURSTS * (double)burst_ns);
	printf("multiprog: N processes, each its own address space with a hash table of %d pages at the same\n"
	       "address; a burst of %d inserts/lookups (%.2f ms of CPU time measured), then an I/O wait of %.2f ms;\n"
	       "round-robin, one burst a quantum. Pool: %zu frames; %.1f s measured per point, the median of %d sweeps.\n",
	       TABLE_PAGES, BURST_OPS, (double)burst_ns / 1e6, (double)io_ns / 1e6, pool_frames, o.secs, o.sweeps);
	sweep_curve(&o, io_ns, plain, lc);
	fprintf(csv, "mode,processes,seconds,ops_per_s,major_faults,major_per_s,major_per_kop,paging_share,"
		     "switch_share,idle_share,switches,load_suspends,load_resumes,switches_refused,ws_pages,suspended,ran,pool_frames\n");
	for (int lcm = 0; lcm < 2; lcm++) {
		const point_t *pts = lcm ? lc : plain;
		print_header(lcm);
		for (int i = 0; i < o.count; i++) {
			print_point(&pts[i]);
			csv_row(csv, &pts[i]);
		}
	}
	if (fclose(csv) != 0) {
		perror(o.csv_path);
		return 1;
	}
	print_knee(plain, lc, o.count);
	printf("(ran: processes that ran in the measured window; paging: time in pagemu's fault handler, the\n"
	       "kernel's signal delivery around it not included; switch: time in pagemu_space_switch; ws/pool:\n"
	       "the working sets at the end, summed, over the pool. CSV: %s)\n", o.csv_path);
	return 0;
}
