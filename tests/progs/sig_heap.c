/* sig_heap.c - timer signal handlers that read and write heap memory
 * (legal C: the heap is plain memory) while the main thread thrashes a heap
 * array much larger than pagemu's pool and makes system calls on heap
 * buffers (under pagemu run the syscall guard pins them, holding pagemu's
 * lock). Handlers: setitimer's SIGALRM and a SIGRTMIN POSIX timer. Prints
 * checksums that do not depend on when the signals came. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { PAGES = 8192, HPAGES = 64, ROUNDS = 2 };

static uint64_t *big;                       /* PAGES pages of 4 KiB */
static uint64_t *hmem;                      /* the handlers' pages */
static uint64_t visits[HPAGES];             /* in the program's data segment */
static volatile sig_atomic_t bad, ticks;
static uint64_t cursor;

static uint64_t pattern(uint64_t page, uint64_t round)
{
	uint64_t x = page * 0x9E3779B97F4A7C15ULL ^ (round + 1) * 0xD1B54A32D192ED03ULL;
	return x ^ (x >> 29);
}

/* signal context: check and rewrite the next handler page; read a
 * constant word of the big array. */
static void on_timer(int sig)
{
	uint64_t k = cursor++ % HPAGES, p = (cursor * 131) % PAGES;
	uint64_t *w = hmem + k * 512;

	(void)sig;
	if (w[0] != pattern(k, visits[k]))
		bad++;
	w[0] = pattern(k, ++visits[k]);
	if (big[p * 512 + 1] != pattern(p, 1000))
		bad++;
	ticks++;
}

int main(void)
{
	struct sigaction sa;
	struct sigevent ev;
	struct itimerval it = { { 0, 700 }, { 0, 700 } }, off = { { 0, 0 }, { 0, 0 } };
	struct itimerspec rt = { { 0, 500000 }, { 0, 500000 } };
	timer_t timer;
	uint64_t sum = 0;
	char *buf;
	int null = open("/dev/null", O_WRONLY), zero = open("/dev/zero", O_RDONLY);

	big = malloc((size_t)PAGES * 4096);
	hmem = malloc((size_t)HPAGES * 4096);
	buf = malloc(1 << 16);
	if (!big || !hmem || !buf || null < 0 || zero < 0)
		return 1;
	for (uint64_t p = 0; p < PAGES; p++)
		big[p * 512 + 1] = pattern(p, 1000);
	for (uint64_t k = 0; k < HPAGES; k++)
		hmem[k * 512] = pattern(k, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_timer;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGALRM);
	sigaddset(&sa.sa_mask, SIGRTMIN);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGRTMIN, &sa, NULL);
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	if (timer_create(CLOCK_MONOTONIC, &ev, &timer) < 0 || timer_settime(timer, 0, &rt, NULL) < 0 ||
	    setitimer(ITIMER_REAL, &it, NULL) < 0)
		return 2;

	for (uint64_t r = 0; r < ROUNDS; r++) {
		for (uint64_t p = 0; p < PAGES; p++) {
			big[p * 512] = pattern(p, r);
			if (p % 64 == 0 && (read(zero, buf, 1 << 16) < 0 || write(null, big + p * 512, 1 << 15) < 0))
				return 3;
		}
		for (uint64_t p = 0; p < PAGES; p++)
			sum += big[p * 512] == pattern(p, r);
	}

	setitimer(ITIMER_REAL, &off, NULL);
	timer_delete(timer);
	signal(SIGALRM, SIG_IGN);
	signal(SIGRTMIN, SIG_IGN);
	for (uint64_t k = 0; k < HPAGES; k++)
		bad += hmem[k * 512] != pattern(k, visits[k]);
	printf("pages right %llu of %d, handler errors %d, handlers ran: %s\n", (unsigned long long)sum,
	       PAGES * ROUNDS, (int)bad, ticks > 0 ? "yes" : "no");
	return bad != 0;
}
