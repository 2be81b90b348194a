/* mmapfile.c - memory objects (CSAPP 9.8) in one run: a file mapped
 * shared twice and private twice over a pool of 8 frames. The two shared
 * mappings and the private ones' reads share one frame per file page (the
 * page cache); a private write copies the page (a copy-on-write fault);
 * pagemu_sync writes the shared mappings' changes to the file; the file
 * is four times the pool, so pages leave and come back.
 *
 * usage: build/demos/mmapfile [DIR]   (the file goes in DIR, default /tmp) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pagemu.h>

#define PAGES 32

static void say(pagemu_t *vm, const char *what)
{
	pagemu_stats_t s;

	pagemu_get_stats(vm, &s);
	printf("%-44s faults %3llu: major %3llu, page-cache hits %2llu, cow %llu | file reads %3llu pages, writes %2llu pages"
	       " | cached %llu, shared %llu\n",
	       what, (unsigned long long)s.faults, (unsigned long long)s.faults_major,
	       (unsigned long long)s.page_cache_hits, (unsigned long long)s.faults_cow,
	       (unsigned long long)s.file_read_pages, (unsigned long long)s.file_write_pages,
	       (unsigned long long)s.file_pages, (unsigned long long)s.shared_frames);
}

static uint64_t ppn(pagemu_t *vm, const void *p)
{
	pagemu_xlate_t x;

	pagemu_translate(vm, (uintptr_t)p, PROT_READ, &x);
	return x.page_fault ? (uint64_t)-1 : x.ppn;
}

int main(int argc, char **argv)
{
	char path[512];
	pagemu_config_t cfg;
	pagemu_t *vm;
	long page = sysconf(_SC_PAGESIZE);

	snprintf(path, sizeof(path), "%s/pagemu-demo-XXXXXX", argc > 1 ? argv[1] : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	unlink(path);
	char *buf = calloc(1, (size_t)page);
	for (int p = 0; p < PAGES; p++) {
		snprintf(buf, (size_t)page, "page %d of the file", p);
		if (pwrite(fd, buf, (size_t)page, (off_t)p * page) != page)
			return 1;
	}
	pagemu_config_default(&cfg);
	cfg.frames = 8;
	cfg.readahead = 1;
	pagemu_config_from_env(&cfg);
	if (pagemu_open(&cfg, &vm) < 0) {
		fprintf(stderr, "pagemu_open: %s\n", pagemu_last_error());
		return 1;
	}
	size_t len = PAGES * (size_t)page;
	char *s1 = pagemu_map(vm, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *s2 = pagemu_map(vm, len, PROT_READ, MAP_SHARED, fd, 0);
	char *p1 = pagemu_map(vm, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	char *p2 = pagemu_map(vm, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (!s1 || !s2 || !p1 || !p2) {
		fprintf(stderr, "pagemu_map: %s\n", pagemu_last_error());
		return 1;
	}
	/* (pagemu keeps its own descriptor: fd could be closed now; the demo
	 * reads the file through it below) */

	printf("a %d-page file, 8 frames; mapped shared twice (s1, s2) and private twice (p1, p2)\n\n", PAGES);
	printf("s1 reads page 3: \"%s\"\n", s1 + 3 * page);
	say(vm, "  one read from the file:");
	printf("s2, p1, p2 read page 3: \"%s\", \"%s\", \"%s\"\n", s2 + 3 * page, p1 + 3 * page, p2 + 3 * page);
	say(vm, "  three page-cache hits, one frame:");
	printf("  frames: s1 %llu, s2 %llu, p1 %llu, p2 %llu\n", (unsigned long long)ppn(vm, s1 + 3 * page),
	       (unsigned long long)ppn(vm, s2 + 3 * page), (unsigned long long)ppn(vm, p1 + 3 * page),
	       (unsigned long long)ppn(vm, p2 + 3 * page));
	strcpy(s1 + 3 * page, "page 3, written through s1");
	printf("s1 writes page 3; s2 sees \"%s\" at once, p2 sees \"%s\"\n", s2 + 3 * page, p2 + 3 * page);
	strcpy(p1 + 3 * page, "page 3, p1's own copy");
	printf("p1 writes page 3 (copy-on-write): p1 \"%s\", s2 \"%s\"\n", p1 + 3 * page, s2 + 3 * page);
	say(vm, "  one copy-on-write fault:");
	printf("  frames: s1 %llu, s2 %llu, p1 %llu (its own), p2 %llu\n", (unsigned long long)ppn(vm, s1 + 3 * page),
	       (unsigned long long)ppn(vm, s2 + 3 * page), (unsigned long long)ppn(vm, p1 + 3 * page),
	       (unsigned long long)ppn(vm, p2 + 3 * page));
	char back[64] = "";
	if (pread(fd, back, sizeof(back) - 1, 3 * page) < 0)
		return 1;
	printf("before pagemu_sync, read(2) of the file's page 3 gives \"%s\"\n", back);
	pagemu_sync(vm, s1, len, MS_SYNC);
	if (pread(fd, back, sizeof(back) - 1, 3 * page) < 0)
		return 1;
	printf("after pagemu_sync(s1, MS_SYNC), it gives \"%s\"\n", back);
	say(vm, "  written to the file:");
	long sum = 0;
	for (int p = 0; p < PAGES; p++)
		sum += s2[p * page] + p2[p * page];
	printf("s2 and p2 read all %d pages (4x the pool): pages leave their frames and come back\n", PAGES);
	say(vm, "  clean file pages dropped, read again:");
	printf("p1's copy of page 3 went to swap and came back: \"%s\"\n", p1 + 3 * page);
	pagemu_close(vm);
	close(fd);
	return sum == 0;
}
