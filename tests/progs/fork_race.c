/* fork_race.c - threads write through a shared file mapping while another
 * thread forks: at the fork the mapping becomes the kernel's (pagemu
 * hands shared mappings over), and a thread whose fault was waiting
 * meanwhile must go on against the kernel's mapping, not die of SIGSEGV.
 * Twenty rounds, each with a new mapping; prints the file's sums.
 *
 * usage: fork_race DIR */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE    4096
#define PAGES   512
#define THREADS 4
#define ROUNDS  20

static volatile uint64_t *map;
static volatile int go;

static void *writer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;

	while (!go)
		;
	for (int pass = 0; pass < 4; pass++)
		for (uint64_t p = id; p < PAGES; p += THREADS)
			map[p * (PAGE / 8) + pass] += p + 1;
	return NULL;
}

int main(int argc, char **argv)
{
	char path[4096];
	uint64_t total = 0;

	if (argc != 2)
		return 2;
	snprintf(path, sizeof(path), "%s/fork_race.dat", argv[1]);
	for (int round = 0; round < ROUNDS; round++) {
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, PAGES * PAGE) < 0)
			return 2;
		map = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			return 2;
		pthread_t t[THREADS];
		go = 0;
		for (uintptr_t i = 0; i < THREADS; i++)
			pthread_create(&t[i], NULL, writer, (void *)i);
		go = 1;
		pid_t child = fork();
		if (child == 0)
			_exit(0);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		if (child < 0 || waitpid(child, NULL, 0) != child)
			return 2;
		uint64_t sum = 0;
		for (uint64_t p = 0; p < PAGES; p++)
			for (int pass = 0; pass < 4; pass++)
				sum += map[p * (PAGE / 8) + pass];
		total += sum;
		munmap((void *)map, PAGES * PAGE);
		close(fd);
	}
	unlink(path);
	printf("fork_race: %llu\n", (unsigned long long)total);
	return 0;
}
