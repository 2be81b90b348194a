/* test_filemap.c - memory objects: files mapped shared and private,
 * anonymous shared memory, the page cache (one frame per file page), the
 * reverse map, copy-on-write, pagemu_sync, SIGBUS past the end of a file
 * and truncation, all with real faults over a real file. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"
#include "engine/engine_api.h"

#define PAGE 4096

/* A file of `pages` pages in $TMPDIR holding pm_test_pattern(page, 7) in
 * every word (tail bytes past `bytes`, when given, not written): its fd,
 * open with flags. */
static int make_file(uint64_t pages, uint64_t bytes, int flags)
{
	char path[] = "/tmp/pagemu-filemap-XXXXXX";
	int fd = mkstemp(path);
	uint64_t buf[PAGE / 8];

	ck_assert_int_ge(fd, 0);
	for (uint64_t p = 0; p < pages; p++) {
		for (unsigned i = 0; i < PAGE / 8; i++)
			buf[i] = pm_test_pattern(p, 7) + i;
		ck_assert_int_eq(pwrite(fd, buf, PAGE, (off_t)(p * PAGE)), PAGE);
	}
	if (bytes)
		ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
	fd = open(path, flags);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

static uint64_t word_of(uint64_t page, unsigned i) { return pm_test_pattern(page, 7) + i; }

/* An instance of frames frames, readahead window readahead, fault-around
 * of fault_around pages (1: off). */
static pagemu_t *open_vm_around(size_t frames, unsigned readahead, unsigned fault_around)
{
	pagemu_config_t cfg;
	pagemu_t *vm;

	pagemu_config_default(&cfg);
	cfg.frames = frames;
	cfg.readahead = readahead;
	cfg.fault_around = fault_around;
	cfg.swap_size = 64ULL << 20;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	return vm;
}

static pagemu_t *open_vm(size_t frames, unsigned readahead)
{
	return open_vm_around(frames, readahead, 1);
}

static uint64_t file_word(int fd, uint64_t page, unsigned i)
{
	uint64_t w;

	ck_assert_int_eq(pread(fd, &w, 8, (off_t)(page * PAGE + i * 8)), 8);
	return w;
}

static uint64_t ppn_of(pagemu_t *vm, const void *p)
{
	pagemu_xlate_t x;

	ck_assert_int_eq(pagemu_translate(vm, (uintptr_t)p, PROT_READ, &x), 0);
	return x.page_fault ? UINT64_MAX : x.ppn;
}

/* A file 4x the pool, read through a shared mapping: every word right,
 * one read per page (no readahead), clean evictions only, no swap. */
START_TEST(test_shared_read_exact)
{
	pagemu_t *vm = open_vm(16, 1);
	int fd = make_file(64, 0, O_RDONLY);
	volatile uint64_t *m = pagemu_map(vm, 64 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	pagemu_stats_t s;

	ck_assert_ptr_nonnull((void *)m);
	close(fd);                          /* pagemu keeps its own descriptor */
	for (uint64_t p = 0; p < 64; p++)
		for (unsigned i = 0; i < PAGE / 8; i += 64)
			ck_assert_uint_eq(m[p * PAGE / 8 + i], word_of(p, i));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_major, 64);
	ck_assert_uint_eq(s.file_reads, 64);
	ck_assert_uint_eq(s.file_read_pages, 64);
	ck_assert_uint_eq(s.evictions, 48);
	ck_assert_uint_eq(s.clean_evictions, 48);
	ck_assert_uint_eq(s.file_pages, 16);
	ck_assert_uint_eq(s.swap_used, 0);
	ck_assert_uint_eq(s.writebacks + s.file_writes, 0);
	pagemu_close(vm);
}
END_TEST

/* Readahead: a sequential pass reads clusters, and still every word. */
START_TEST(test_shared_read_readahead)
{
	pagemu_t *vm = open_vm(32, 16);
	int fd = make_file(200, 0, O_RDONLY);
	volatile uint64_t *m = pagemu_map(vm, 200 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	pagemu_stats_t s;

	for (uint64_t p = 0; p < 200; p++)
		ck_assert_uint_eq(m[p * PAGE / 8 + 5], word_of(p, 5));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.file_read_pages, 200);
	ck_assert_uint_lt(s.file_reads, 60);
	ck_assert_uint_eq(s.file_read_pages - s.file_reads, s.readahead_pages);
	pagemu_close(vm);
	close(fd);
}
END_TEST

struct reader { volatile uint64_t *m; uint64_t pages; int bad; };
static void *reader(void *arg);

/* A sequential reader gets windows read ahead while it runs: few of its
 * faults wait for the disk, and every word is right; two readers at once,
 * and an unmap while windows are in flight, too. */
START_TEST(test_windows_ahead)
{
	pagemu_t *vm = open_vm(1024, 32);
	int fd = make_file(4096, 0, O_RDONLY);
	volatile uint64_t *m = pagemu_map(vm, 4096 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	pagemu_stats_t s;

	for (uint64_t p = 0; p < 4096; p++)
		ck_assert_uint_eq(m[p * PAGE / 8 + 9], word_of(p, 9));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_lt(s.faults_major, 64);              /* 4096 pages; clusters of 32 would be 128 */
	ck_assert_uint_ge(s.file_read_pages, 4096);
	ck_assert_uint_ge(s.readahead_hits, 4000);
	/* Two readers of two mappings of the file at once. */
	struct reader r[2] = { { m, 4096, 0 }, { pagemu_map(vm, 4096 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0), 4096, 0 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, reader, &r[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(r[0].bad + r[1].bad, 0);
	/* Windows in flight when the last mapping goes. */
	ck_assert_uint_eq(m[100 * PAGE / 8], word_of(100, 0));
	ck_assert_uint_eq(m[101 * PAGE / 8], word_of(101, 0));
	ck_assert_int_eq(pagemu_unmap(vm, (void *)r[1].m, 4096 * PAGE), 0);
	ck_assert_int_eq(pagemu_unmap(vm, (void *)m, 4096 * PAGE), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.file_pages, 0);
	ck_assert_uint_eq(s.resident, 0);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* A shared mapping made read-only, then writable with pagemu_protect:
 * its writes reach the file on pagemu_sync and on eviction (its dirty
 * pages are found though the mapping began read-only). */
START_TEST(test_protect_then_write_reaches_file)
{
	pagemu_t *vm = open_vm(16, 1);
	int fd = make_file(64, 0, O_RDWR);
	volatile uint64_t *m = pagemu_map(vm, 64 * PAGE, PROT_READ, MAP_SHARED, fd, 0);

	ck_assert_ptr_nonnull((void *)m);
	for (uint64_t p = 0; p < 64; p++)
		ck_assert_uint_eq(m[p * PAGE / 8], word_of(p, 0));
	ck_assert_int_eq(pagemu_protect(vm, (void *)m, 64 * PAGE, PROT_READ | PROT_WRITE), 0);
	for (uint64_t p = 48; p < 64; p++)                     /* resident: synced */
		m[p * PAGE / 8] = 5000 + p;
	ck_assert_int_eq(pagemu_sync(vm, (void *)m, 64 * PAGE, MS_SYNC), 0);
	for (uint64_t p = 48; p < 64; p++)
		ck_assert_uint_eq(file_word(fd, p, 0), 5000 + p);
	for (uint64_t p = 0; p < 64; p++)                      /* 64 pages over 16 frames: evicted dirty */
		m[p * PAGE / 8 + 1] = 7000 + p;
	for (uint64_t p = 0; p < 32; p++)                      /* (the first half is evicted by now) */
		ck_assert_uint_eq(file_word(fd, p, 1), 7000 + p);
	ck_assert_int_eq(pagemu_unmap(vm, (void *)m, 64 * PAGE), 0);
	for (uint64_t p = 0; p < 64; p++)
		ck_assert_uint_eq(file_word(fd, p, 1), 7000 + p);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* A sequential reader of a file four times the memory reads each page
 * from the file once a pass, with and without fault-around: the windows
 * read ahead of it are not evicted before it gets there (they enter
 * CLOCK referenced, as any loaded page does). */
START_TEST(test_windows_read_once)
{
	static const unsigned around[] = { 1, 16 };

	for (unsigned k = 0; k < sizeof(around) / sizeof(around[0]); k++) {
		pagemu_t *vm = open_vm_around(1024, 32, around[k]);
		int fd = make_file(4096, 0, O_RDONLY);
		volatile uint64_t *m = pagemu_map(vm, 4096 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
		pagemu_stats_t s;

		ck_assert_ptr_nonnull((void *)m);
		for (uint64_t pass = 1; pass <= 2; pass++) {
			for (uint64_t p = 0; p < 4096; p++)
				ck_assert_uint_eq(m[p * PAGE / 8 + 11], word_of(p, 11));
			pagemu_get_stats(vm, &s);
			ck_assert_uint_eq(s.file_read_pages, pass * 4096);
			ck_assert_uint_eq(s.evictions, pass * 4096 - 1024);
		}
		ck_assert_int_eq(pagemu_unmap(vm, (void *)m, 4096 * PAGE), 0);
		pagemu_close(vm);
		close(fd);
	}
}
END_TEST

/* Writes through a shared mapping reach the file on pagemu_sync, at
 * eviction, on unmap and at close. */
START_TEST(test_shared_write_reaches_file)
{
	pagemu_t *vm = open_vm(8, 1);
	int fd = make_file(32, 0, O_RDWR);
	volatile uint64_t *m = pagemu_map(vm, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pagemu_stats_t s;

	/* Page 0 written, still resident: the file has the old bytes until
	 * pagemu_sync. */
	m[3] = 0xabcdef;
	ck_assert_uint_eq(file_word(fd, 0, 3), word_of(0, 3));
	ck_assert_int_eq(pagemu_sync(vm, (void *)m, PAGE, MS_SYNC), 0);
	ck_assert_uint_eq(file_word(fd, 0, 3), 0xabcdef);
	/* Every page written: the pool holds 8, so 24 go to the file when
	 * evicted; none to swap. */
	for (uint64_t p = 0; p < 32; p++)
		m[p * PAGE / 8 + 1] = p * 1000;
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.swap_used, 0);
	ck_assert_uint_ge(s.file_write_pages, 24);
	for (uint64_t p = 0; p < 16; p++)
		ck_assert_uint_eq(file_word(fd, p, 1), p * 1000);
	/* The rest reach it on unmap. */
	ck_assert_int_eq(pagemu_unmap(vm, (void *)m, 32 * PAGE), 0);
	for (uint64_t p = 0; p < 32; p++) {
		ck_assert_uint_eq(file_word(fd, p, 1), p * 1000);
		ck_assert_uint_eq(file_word(fd, p, 2), word_of(p, 2));
	}
	/* At close. */
	m = pagemu_map(vm, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m[7] = 77;
	pagemu_close(vm);
	ck_assert_uint_eq(file_word(fd, 0, 7), 77);
	close(fd);
}
END_TEST

/* Two mappings of one file page share one frame: a write through one is
 * seen through the other at once; the same file through another
 * descriptor is the same object. */
START_TEST(test_two_mappings_one_frame)
{
	pagemu_t *vm = open_vm(32, 1);
	int fd = make_file(8, 0, O_RDWR);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int fd2 = open(path, O_RDONLY);
	volatile uint64_t *a = pagemu_map(vm, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	volatile uint64_t *b = pagemu_map(vm, 8 * PAGE, PROT_READ, MAP_SHARED, fd2, 0);
	volatile uint64_t *c = pagemu_map(vm, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 4 * PAGE);   /* pages 4..7 */
	pagemu_stats_t s;

	ck_assert_ptr_nonnull((void *)a);
	ck_assert_ptr_nonnull((void *)b);
	ck_assert_ptr_nonnull((void *)c);
	ck_assert_uint_eq(b[PAGE / 8 * 5 + 9], word_of(5, 9));
	a[PAGE / 8 * 5 + 9] = 12345;
	ck_assert_uint_eq(b[PAGE / 8 * 5 + 9], 12345);
	ck_assert_uint_eq(c[PAGE / 8 + 9], 12345);
	ck_assert_uint_eq(ppn_of(vm, (const void *)&a[PAGE / 8 * 5]), ppn_of(vm, (const void *)&b[PAGE / 8 * 5]));
	ck_assert_uint_eq(ppn_of(vm, (const void *)&a[PAGE / 8 * 5]), ppn_of(vm, (const void *)&c[PAGE / 8]));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.file_read_pages, 1);
	ck_assert_uint_eq(s.page_cache_hits, 2);
	ck_assert_uint_eq(s.shared_frames, 1);
	ck_assert_uint_eq(s.file_pages, 1);
	pagemu_close(vm);
	close(fd2);
	close(fd);
}
END_TEST

/* CLOCK evicts a frame two mappings share: it leaves both, and each
 * reads it back right. */
START_TEST(test_shared_frame_evicted_from_both)
{
	pagemu_t *vm = open_vm(4, 1);
	int fd = make_file(16, 0, O_RDWR);
	volatile uint64_t *a = pagemu_map(vm, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	volatile uint64_t *b = pagemu_map(vm, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pagemu_stats_t s;

	a[0] = 111;
	ck_assert_uint_eq(b[0], 111);
	for (uint64_t p = 1; p < 16; p++)
		ck_assert_uint_eq(a[p * PAGE / 8 + 1], word_of(p, 1));
	ck_assert_uint_eq(ppn_of(vm, (const void *)a), UINT64_MAX);
	ck_assert_uint_eq(ppn_of(vm, (const void *)b), UINT64_MAX);
	ck_assert_uint_eq(file_word(fd, 0, 0), 111);   /* written when it left */
	ck_assert_uint_eq(b[0], 111);
	ck_assert_uint_eq(a[0], 111);
	ck_assert_uint_eq(ppn_of(vm, (const void *)a), ppn_of(vm, (const void *)b));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.file_write_pages, 1);
	ck_assert_uint_eq(s.swap_used, 0);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* A private mapping reads the file; its first write copies the page (a
 * copy-on-write fault); the copy never reaches the file, survives
 * eviction through swap, and a shared mapping of the file never sees it. */
START_TEST(test_private_copy_on_write)
{
	pagemu_t *vm = open_vm(8, 1);
	int fd = make_file(32, 0, O_RDONLY);
	volatile uint64_t *p = pagemu_map(vm, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	volatile uint64_t *sh = pagemu_map(vm, 32 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	pagemu_stats_t s;

	ck_assert_ptr_nonnull((void *)p);
	ck_assert_uint_eq(p[10], word_of(0, 10));           /* read: the file's page */
	ck_assert_uint_eq(sh[10], word_of(0, 10));
	ck_assert_uint_eq(ppn_of(vm, (const void *)p), ppn_of(vm, (const void *)sh));
	p[10] = 4242;                                       /* write: a copy */
	ck_assert_uint_eq(sh[10], word_of(0, 10));
	ck_assert_uint_ne(ppn_of(vm, (const void *)p), ppn_of(vm, (const void *)sh));
	p[PAGE / 8 * 3] = 333;                              /* a write first: read and copied at once */
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_cow, 2);
	/* Push everything out: the copies go to swap, the file pages are
	 * dropped. */
	for (uint64_t q = 4; q < 32; q++)
		ck_assert_uint_eq(sh[q * PAGE / 8], word_of(q, 0));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_ge(s.swap_used, 2);
	ck_assert_uint_eq(p[10], 4242);
	ck_assert_uint_eq(p[11], word_of(0, 11));
	ck_assert_uint_eq(p[PAGE / 8 * 3], 333);
	ck_assert_uint_eq(sh[PAGE / 8 * 3], word_of(3, 0));
	ck_assert_int_eq(pagemu_sync(vm, (void *)p, 32 * PAGE, MS_SYNC), 0);
	pagemu_close(vm);
	ck_assert_uint_eq(file_word(fd, 0, 10), word_of(0, 10));
	ck_assert_uint_eq(file_word(fd, 3, 0), word_of(3, 0));
	close(fd);
}
END_TEST

/* Shared anonymous memory: zero-filled, shared by every mapping... of one
 * region here; paged out and back through its own file. */
START_TEST(test_anonymous_shared)
{
	pagemu_t *vm = open_vm(8, 1);
	volatile uint64_t *m = pagemu_map(vm, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pagemu_stats_t s;

	ck_assert_ptr_nonnull((void *)m);
	for (uint64_t p = 0; p < 64; p++) {
		ck_assert_uint_eq(m[p * PAGE / 8 + 2], 0);
		m[p * PAGE / 8 + 2] = pm_test_pattern(p, 1);
	}
	for (uint64_t p = 0; p < 64; p++)
		ck_assert_uint_eq(m[p * PAGE / 8 + 2], pm_test_pattern(p, 1));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_ge(s.file_write_pages, 56);
	ck_assert_uint_eq(s.swap_used, 0);
	pagemu_close(vm);
}
END_TEST

/* Past the end of the file: the rest of the last page reads as zeros;
 * the next page gets SIGBUS, as with the kernel. */
static sigjmp_buf bus_jmp;
static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

static int touch_bus(volatile uint64_t *w)
{
	struct sigaction sa = { .sa_handler = on_bus }, old;
	volatile uint64_t sink = 0;
	int got;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1) == 0) {
		sink = *w;
		got = 0;
	} else {
		got = 1;
	}
	sigaction(SIGBUS, &old, NULL);
	(void)sink;
	return got;
}

START_TEST(test_sigbus_past_end)
{
	pagemu_t *vm = open_vm(8, 4);
	int fd = make_file(2, PAGE + 100, O_RDONLY);
	volatile uint64_t *m = pagemu_map(vm, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0);

	ck_assert_uint_eq(m[PAGE / 8 + 5], word_of(1, 5));   /* in the file */
	ck_assert_uint_eq(m[PAGE / 8 + 20], 0);              /* past its end, same page */
	ck_assert_int_eq(touch_bus(&m[2 * PAGE / 8]), 1);
	ck_assert_int_eq(touch_bus(&m[3 * PAGE / 8 + 7]), 1);
	ck_assert_int_eq(touch_bus(&m[0]), 0);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* Truncation while mapped: the next read of the file sees the new size;
 * pages past it go (from every mapping) and get SIGBUS. */
START_TEST(test_truncate_while_mapped)
{
	pagemu_t *vm = open_vm(16, 1);
	int fd = make_file(8, 0, O_RDWR);
	volatile uint64_t *m = pagemu_map(vm, 8 * PAGE, PROT_READ, MAP_SHARED, fd, 0);

	ck_assert_uint_eq(m[0], word_of(0, 0));
	ck_assert_uint_eq(m[3 * PAGE / 8], word_of(3, 0));
	ck_assert_int_eq(ftruncate(fd, 2 * PAGE), 0);
	ck_assert_uint_eq(m[PAGE / 8], word_of(1, 0));       /* a read: the size is looked at */
	ck_assert_int_eq(touch_bus(&m[3 * PAGE / 8]), 1);    /* was resident: gone */
	ck_assert_int_eq(touch_bus(&m[6 * PAGE / 8]), 1);
	ck_assert_uint_eq(m[0], word_of(0, 0));
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* MS_INVALIDATE drops clean pages: a change made with pwrite is seen. */
START_TEST(test_sync_invalidate)
{
	pagemu_t *vm = open_vm(16, 1);
	int fd = make_file(4, 0, O_RDWR);
	volatile uint64_t *m = pagemu_map(vm, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	uint64_t w = 999;

	ck_assert_uint_eq(m[1], word_of(0, 1));
	ck_assert_int_eq(pwrite(fd, &w, 8, 8), 8);
	ck_assert_int_eq(pagemu_sync(vm, (void *)m, PAGE, MS_SYNC | MS_INVALIDATE), 0);
	ck_assert_uint_eq(m[1], 999);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* The file's own writes reach the pages pagemu holds (what the syscall
 * guard calls after a write under pagemu run --mmap), through any
 * descriptor of the file, a write-only one too (LMDB writes its meta
 * pages through one): a clean page takes the file's bytes, and so does a
 * dirty one, keeping its own changes elsewhere. */
START_TEST(test_file_written_through_another_fd)
{
	pagemu_t *vm = open_vm(16, 1);
	int fd = make_file(4, 0, O_RDWR);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int wo = open(path, O_WRONLY);
	volatile uint64_t *m = pagemu_map(vm, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint64_t w = 4242;

	ck_assert_int_ge(wo, 0);
	ck_assert_uint_eq(m[1], word_of(0, 1));            /* page 0 clean, in the cache */
	m[PAGE / 8 + 9] = 99;                              /* page 1 dirty */
	ck_assert_int_eq(pwrite(wo, &w, 8, 8), 8);
	ck_assert_int_eq(pwrite(wo, &w, 8, PAGE + 16), 8);
	ck_assert_int_eq(pm_filemap_file_written(vm, wo, 8, 8), 0);
	ck_assert_int_eq(pm_filemap_file_written(vm, wo, PAGE + 16, 8), 0);
	ck_assert_uint_eq(m[1], 4242);
	ck_assert_uint_eq(m[PAGE / 8 + 2], 4242);
	ck_assert_uint_eq(m[PAGE / 8 + 9], 99);
	pagemu_close(vm);
	ck_assert_uint_eq(file_word(fd, 1, 9), 99);
	ck_assert_uint_eq(file_word(fd, 1, 2), 4242);
	close(wo);
	close(fd);
}
END_TEST

/* Bad arguments: a clear errno, and the message names the argument. */
START_TEST(test_map_errors)
{
	pagemu_t *vm = open_vm(8, 1);
	int ro = make_file(4, 0, O_RDONLY), wo = make_file(4, 0, O_WRONLY), dir = open("/tmp", O_RDONLY);
	void *m;

	errno = 0;
	ck_assert_ptr_null(pagemu_map(vm, PAGE, PROT_READ, MAP_SHARED, 1000, 0));
	ck_assert_int_eq(errno, EBADF);
	ck_assert_ptr_null(pagemu_map(vm, PAGE, PROT_READ, MAP_SHARED, dir, 0));
	ck_assert_int_eq(errno, ENODEV);
	ck_assert_ptr_null(pagemu_map(vm, PAGE, PROT_READ, MAP_PRIVATE, wo, 0));
	ck_assert_int_eq(errno, EACCES);
	ck_assert_ptr_null(pagemu_map(vm, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
	ck_assert_int_eq(errno, EACCES);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "O_RDWR"));
	ck_assert_ptr_null(pagemu_map(vm, PAGE, PROT_READ, MAP_SHARED, ro, 100));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "offset"));
	/* Private and writable over a read-only descriptor is fine. */
	m = pagemu_map(vm, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	ck_assert_ptr_nonnull(m);
	m = pagemu_map(vm, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(pagemu_protect(vm, m, PAGE, PROT_READ | PROT_WRITE), -EACCES);
	ck_assert_int_eq(pagemu_sync(vm, (char *)m + 1, PAGE, MS_SYNC), -EINVAL);
	ck_assert_int_eq(pagemu_sync(vm, m, PAGE, MS_SYNC | MS_ASYNC), -EINVAL);
	ck_assert_int_eq(pagemu_sync(vm, m, PAGE, 0x100), -EINVAL);
	ck_assert_int_eq(pagemu_unmap(vm, m, PAGE), 0);
	ck_assert_int_eq(pagemu_sync(vm, m, PAGE, MS_SYNC), -ENOMEM);
	pagemu_close(vm);
	close(ro);
	close(wo);
	close(dir);
}
END_TEST

/* Two threads touch the pages of one file at once, through two mappings:
 * each page is read once, and every word is right. */
static void *reader(void *arg)
{
	struct reader *r = arg;

	for (uint64_t p = 0; p < r->pages; p++)
		if (r->m[p * PAGE / 8 + 3] != word_of(p, 3))
			r->bad++;
	return NULL;
}

START_TEST(test_threads_one_read_per_page)
{
	pagemu_t *vm = open_vm(256, 8);
	int fd = make_file(200, 0, O_RDONLY);
	struct reader r[2] = {
		{ pagemu_map(vm, 200 * PAGE, PROT_READ, MAP_SHARED, fd, 0), 200, 0 },
		{ pagemu_map(vm, 200 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0), 200, 0 },
	};
	pthread_t t[2];
	pagemu_stats_t s;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, reader, &r[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(r[0].bad + r[1].bad, 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.file_read_pages, 200);
	ck_assert_uint_eq(s.file_pages, 200);
	ck_assert_uint_eq(s.shared_frames, 200);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* fork with shared mappings, both directions: the parent's write made
 * before the fork and the child's after it are seen by the other side,
 * for a file and for shared anonymous memory; a private mapping's write
 * stays with its process. */
START_TEST(test_fork_shared_both_ways)
{
	pagemu_t *vm = open_vm(8, 1);
	int fd = make_file(16, 0, O_RDWR);
	volatile uint64_t *f = pagemu_map(vm, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	volatile uint64_t *a = pagemu_map(vm, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	volatile uint64_t *p = pagemu_map(vm, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	int status;
	pid_t pid;

	f[1] = 11;                       /* before the fork, in the parent */
	a[PAGE / 8 * 9] = 12;
	p[2] = 13;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int ok = f[1] == 11 && a[PAGE / 8 * 9] == 12 && p[2] == 13 && p[1] == 11;
		f[PAGE / 8 * 5] = 21;        /* after it, in the child */
		a[3] = 22;
		p[3] = 23;
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(f[PAGE / 8 * 5], 21);
	ck_assert_uint_eq(a[3], 22);
	ck_assert_uint_eq(p[3], word_of(0, 3));
	ck_assert_uint_eq(file_word(fd, 5, 0), 21);
	ck_assert_uint_eq(file_word(fd, 0, 2), word_of(0, 2));
	/* The private mapping is still pagemu's, paged as before. */
	for (uint64_t q = 0; q < 16; q++)
		p[q * PAGE / 8 + 4] = q;
	for (uint64_t q = 0; q < 16; q++)
		ck_assert_uint_eq(p[q * PAGE / 8 + 4], q);
	ck_assert_int_eq(pagemu_unmap(vm, (void *)f, 16 * PAGE), 0);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* pagemu_advise(MADV_DONTNEED): anonymous pages read as zeros again, a
 * shared file page keeps its (dirty) contents, a private copy goes and the
 * file's page shows through again. */
START_TEST(test_advise_dontneed)
{
	pagemu_t *vm = open_vm(16, 1);
	int fd = make_file(4, 0, O_RDWR);
	volatile uint64_t *a = pagemu_map(vm, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile uint64_t *sh = pagemu_map(vm, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	volatile uint64_t *pr = pagemu_map(vm, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	pagemu_stats_t s;

	for (unsigned p = 0; p < 4; p++) {
		a[p * PAGE / 8] = 5;
		sh[p * PAGE / 8 + 1] = 6;
		pr[p * PAGE / 8 + 2] = 7;
	}
	ck_assert_int_eq(pagemu_advise(vm, (void *)a, 4 * PAGE, MADV_DONTNEED), 0);
	ck_assert_int_eq(pagemu_advise(vm, (void *)sh, 4 * PAGE, MADV_DONTNEED), 0);
	ck_assert_int_eq(pagemu_advise(vm, (void *)pr, 2 * PAGE, MADV_DONTNEED), 0);
	ck_assert_int_eq(pagemu_advise(vm, (void *)pr, PAGE, MADV_SEQUENTIAL), 0);
	ck_assert_int_eq(pagemu_advise(vm, (void *)pr, PAGE, 12345), -EINVAL);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.file_pages, 4);       /* the file's pages stay cached */
	for (unsigned p = 0; p < 4; p++) {
		ck_assert_uint_eq(a[p * PAGE / 8], 0);
		ck_assert_uint_eq(sh[p * PAGE / 8 + 1], 6);
		ck_assert_uint_eq(pr[p * PAGE / 8 + 2], p < 2 ? word_of(p, 2) : 7);
	}
	ck_assert_int_eq(pagemu_unmap(vm, (void *)sh, 4 * PAGE), 0);
	ck_assert_uint_eq(file_word(fd, 3, 1), 6);
	ck_assert_int_eq(pagemu_advise(vm, (void *)sh, PAGE, MADV_DONTNEED), -ENOMEM);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* pagemu_remap: anonymous memory moves with its contents, a file mapping
 * grows over the same page cache, shrinking keeps the address. */
START_TEST(test_remap)
{
	pagemu_t *vm = open_vm(8, 1);
	int fd = make_file(32, 0, O_RDWR);
	volatile uint64_t *a = pagemu_map(vm, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile uint64_t *f = pagemu_map(vm, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	volatile uint64_t *b, *g;

	for (unsigned p = 0; p < 16; p++)
		a[p * PAGE / 8 + 3] = p + 100;
	f[2] = 77;
	b = pagemu_remap(vm, (void *)a, 16 * PAGE, 32 * PAGE, MREMAP_MAYMOVE);
	ck_assert_ptr_nonnull((void *)b);
	for (unsigned p = 0; p < 16; p++)
		ck_assert_uint_eq(b[p * PAGE / 8 + 3], p + 100);
	ck_assert_uint_eq(b[20 * PAGE / 8], 0);
	ck_assert_ptr_null(pagemu_owner((void *)a));
	g = pagemu_remap(vm, (void *)f, 8 * PAGE, 32 * PAGE, MREMAP_MAYMOVE);
	ck_assert_ptr_nonnull((void *)g);
	ck_assert_uint_eq(g[2], 77);
	ck_assert_uint_eq(g[31 * PAGE / 8 + 4], word_of(31, 4));
	ck_assert_ptr_eq((void *)pagemu_remap(vm, (void *)g, 32 * PAGE, 4 * PAGE, 0), (void *)g);
	ck_assert_uint_eq(g[2], 77);
	errno = 0;
	ck_assert_ptr_null(pagemu_remap(vm, (void *)b, 32 * PAGE, 64 * PAGE, 0));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(pagemu_remap(vm, (void *)(b + PAGE / 8), PAGE, 64 * PAGE, MREMAP_MAYMOVE));
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_ptr_null(pagemu_remap(vm, (void *)b, PAGE, 64 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED));
	ck_assert_int_eq(errno, EINVAL);
	pagemu_close(vm);
	ck_assert_uint_eq(file_word(fd, 0, 2), 77);
	close(fd);
}
END_TEST

/* A sparse region (a large reservation, a few pages used; one dropped
 * with MADV_DONTNEED, one in swap) moves at the cost of its pages, not of
 * its length: the pages that exist are copied, the others read as zeros
 * in the new region too, and no page is made (64 MiB over 8 frames: a
 * byte-for-byte copy would take 32,768 faults and fill the swap). A
 * private file mapping likewise: its pages never written still read the
 * file. */
START_TEST(test_remap_sparse)
{
	const size_t len = 64ULL << 20, n = len / PAGE;
	pagemu_t *vm = open_vm(8, 1);
	int fd = make_file(32, 0, O_RDWR);
	volatile uint64_t *a = pagemu_map(vm, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile uint64_t *f = pagemu_map(vm, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	volatile uint64_t *b, *g;
	const size_t used[] = { 0, 1, 777, n / 2, n - 2, n - 1 };
	pagemu_stats_t s0, s1;

	for (size_t i = 0; i < (sizeof(used) / sizeof(used[0])); i++)
		a[used[i] * PAGE / 8 + 5] = used[i] + 1;
	ck_assert_int_eq(pagemu_advise(vm, (void *)(a + 777 * PAGE / 8), PAGE, MADV_DONTNEED), 0);
	for (unsigned p = 100; p < 120; p++)           /* pushes the first pages to swap */
		a[p * PAGE / 8] = p;
	f[3 * PAGE / 8 + 1] = 99;                      /* one private copy */
	pagemu_get_stats(vm, &s0);
	ck_assert_uint_gt(s0.swap_used, 0);
	b = pagemu_remap(vm, (void *)a, len, 2 * len, MREMAP_MAYMOVE);
	g = pagemu_remap(vm, (void *)f, 32 * PAGE, 64 * PAGE, MREMAP_MAYMOVE);
	ck_assert_ptr_nonnull((void *)b);
	ck_assert_ptr_nonnull((void *)g);
	pagemu_get_stats(vm, &s1);
	ck_assert_uint_le(s1.faults - s0.faults, 3 * ((sizeof(used) / sizeof(used[0])) + 20 + 2));
	for (size_t i = 0; i < (sizeof(used) / sizeof(used[0])); i++)
		ck_assert_uint_eq(b[used[i] * PAGE / 8 + 5], used[i] == 777 ? 0 : used[i] + 1);
	for (unsigned p = 100; p < 120; p++)
		ck_assert_uint_eq(b[p * PAGE / 8], p);
	ck_assert_uint_eq(b[(n + 5) * PAGE / 8], 0);
	ck_assert_uint_eq(b[12345 * PAGE / 8 + 5], 0);
	ck_assert_uint_eq(g[3 * PAGE / 8 + 1], 99);
	ck_assert_uint_eq(g[3 * PAGE / 8 + 2], word_of(3, 2));
	ck_assert_uint_eq(g[17 * PAGE / 8 + 4], word_of(17, 4));
	ck_assert_uint_eq(file_word(fd, 3, 1), word_of(3, 1));   /* private: never the file's */
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* Fault-around (PAGEMU_FAULT_AROUND=16): a sequential reader of a file
 * read in clusters of 16 takes one fault per cluster, the 15 pages that
 * follow mapped with it; every word right; a write to such a page still
 * faults, marks it dirty, and reaches the file. */
START_TEST(test_fault_around)
{
	pagemu_t *vm = open_vm_around(256, 16, 16);
	pagemu_stats_t s;
	int fd = make_file(64, 0, O_RDWR);
	volatile uint64_t *m = pagemu_map(vm, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_nonnull((void *)m);
	for (uint64_t p = 0; p < 64; p++)
		for (unsigned i = 0; i < PAGE / 8; i += 64)
			ck_assert_uint_eq(m[p * PAGE / 8 + i], word_of(p, i));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_le(s.faults, 64 / 4);                 /* (windows' markers fault on their own) */
	ck_assert_uint_ge(s.fault_around_pages, 64 - s.faults);
	ck_assert_uint_eq(s.faults + s.fault_around_pages, 64);
	ck_assert_uint_eq(s.mapped, 64);
	uint64_t faults = s.faults;
	m[5 * PAGE / 8] = 42;                                /* mapped read-only: a write fault */
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults, faults + 1);
	ck_assert_int_eq(pagemu_sync(vm, (void *)m, 64 * PAGE, MS_SYNC), 0);
	ck_assert_uint_eq(file_word(fd, 5, 0), 42);
	ck_assert_int_eq(pagemu_unmap(vm, (void *)m, 64 * PAGE), 0);
	pagemu_close(vm);
	close(fd);
}
END_TEST

/* Evicted file pages leave their mappings behind, PROT_NONE, to be
 * unmapped later in runs (windows of their old frames): a touch before or
 * after that finds the file's words, a write through a shared mapping
 * reaches the file, with and without fault-around, with the invariant
 * checks on in the debug build. */
START_TEST(test_evicted_pages_come_back)
{
	static const unsigned around[] = { 1, 16 };

	setenv("PAGEMU_CHECK", "1", 0);
	for (unsigned k = 0; k < sizeof(around) / sizeof(around[0]); k++) {
		pagemu_t *vm = open_vm_around(32, 16, around[k]);
		pagemu_stats_t s;
		int fd = make_file(256, 0, O_RDWR);
		volatile uint64_t *m = pagemu_map(vm, 256 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ck_assert_ptr_nonnull((void *)m);
		for (uint64_t p = 0; p < 256; p++)                    /* forward: evicting */
			ck_assert_uint_eq(m[p * PAGE / 8 + 3], word_of(p, 3));
		ck_assert_uint_eq(ppn_of(vm, (const void *)m), UINT64_MAX);
		for (uint64_t p = 256; p-- > 0;)                      /* back: the last evicted first */
			ck_assert_uint_eq(m[p * PAGE / 8 + 5], word_of(p, 5));
		for (uint64_t p = 0; p < 256; p += 3)                 /* writes, evicted in turn */
			m[p * PAGE / 8] = 1000 + p;
		for (uint64_t p = 0; p < 256; p++)
			ck_assert_uint_eq(m[p * PAGE / 8], p % 3 ? word_of(p, 0) : 1000 + p);
		ck_assert_int_eq(pagemu_sync(vm, (void *)m, 256 * PAGE, MS_SYNC), 0);
		for (uint64_t p = 0; p < 256; p++)
			ck_assert_uint_eq(file_word(fd, p, 0), p % 3 ? word_of(p, 0) : 1000 + p);
		pagemu_get_stats(vm, &s);
		ck_assert_uint_gt(s.evictions, 3 * 256 - 32 - 1);
		ck_assert_uint_le(s.mapped, 32);
		ck_assert_uint_eq(s.swap_used, 0);
		ck_assert_int_eq(pagemu_unmap(vm, (void *)m, 256 * PAGE), 0);
		pagemu_close(vm);
		close(fd);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("filemap");
	TCase *tc = tcase_create("filemap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_shared_read_exact);
	tcase_add_test(tc, test_shared_read_readahead);
	tcase_add_test(tc, test_windows_ahead);
	tcase_add_test(tc, test_windows_read_once);
	tcase_add_test(tc, test_protect_then_write_reaches_file);
	tcase_add_test(tc, test_shared_write_reaches_file);
	tcase_add_test(tc, test_two_mappings_one_frame);
	tcase_add_test(tc, test_shared_frame_evicted_from_both);
	tcase_add_test(tc, test_private_copy_on_write);
	tcase_add_test(tc, test_anonymous_shared);
	tcase_add_test(tc, test_sigbus_past_end);
	tcase_add_test(tc, test_truncate_while_mapped);
	tcase_add_test(tc, test_sync_invalidate);
	tcase_add_test(tc, test_file_written_through_another_fd);
	tcase_add_test(tc, test_map_errors);
	tcase_add_test(tc, test_threads_one_read_per_page);
	tcase_add_test(tc, test_fork_shared_both_ways);
	tcase_add_test(tc, test_advise_dontneed);
	tcase_add_test(tc, test_remap);
	tcase_add_test(tc, test_remap_sparse);
	tcase_add_test(tc, test_fault_around);
	tcase_add_test(tc, test_evicted_pages_come_back);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
