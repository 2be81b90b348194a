/* thread_exit.c - detached threads that allocate, free and exit, round
 * after round. glibc's thread exit blocks every signal (a raw
 * rt_sigprocmask) and then frees blocks (the DTVs of cached stacks, in
 * emulated memory under `pagemu run`): a fault there must still be served,
 * never kill the process with a blocked SIGSEGV. test_hostile runs it under
 * a small pool. usage: thread_exit ROUNDS THREADS KIB */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long done, sum;
static size_t kib;

static void *work(void *arg)
{
	size_t n = kib * 1024 / 200, s = 0;
	char **v = malloc(n * sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		v[i] = malloc(100 + (i * 37 + (size_t)arg) % 200);
		memset(v[i], (int)i, 100);
	}
	for (size_t i = 0; i < n; i++) {
		s += (unsigned char)v[i][i % 100];
		free(v[i]);
	}
	free(v);
	atomic_fetch_add(&sum, (long)s);
	atomic_fetch_add(&done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 50, threads = argc > 2 ? atoi(argv[2]) : 8;
	long total = 0;
	pthread_attr_t a;

	kib = argc > 3 ? strtoul(argv[3], NULL, 10) : 256;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < threads; i++) {
			pthread_t t;
			if (pthread_create(&t, &a, work, (void *)(size_t)i) != 0) {
				perror("pthread_create");
				return 1;
			}
			total++;
		}
		while (atomic_load(&done) < total)
			usleep(100);
	}
	usleep(20000);                       /* the last ones finish exiting */
	printf("%ld threads, sum %ld\n", total, atomic_load(&sum));
	return 0;
}
