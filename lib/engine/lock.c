/* lock.c - the instance lock, and waiting for a page that is in flight.
 *
 * vm->lock guards the model of an instance (page table, frames, policy,
 * slots, counters) and the real MMU's view of it. It is a lock of its own
 * on a futex (no pthread mutex is async-signal-safe), so that the fault
 * handler can take it, and it is never held across a swap read: a fault
 * that must read its page marks the page's PTE locked (pte_locked: the
 * kernel's locked page), lets go of vm->lock while the device works, and
 * takes it again to finish. Whoever meets a locked PTE waits here for the reader to finish
 * (pm_wait_busy), then looks again.
 *
 * The holder of vm->lock runs with the asynchronous signals blocked: a
 * signal handler that touches emulated memory must not fault into pagemu
 * on the thread that holds the lock. Holds nest (fork takes every
 * instance's lock). */
#include <limits.h>

#include "engine/engine.h"

/* This thread's holds (of any instance's lock), and the signal mask the
 * outermost one replaced. */
static __thread unsigned lock_depth __attribute__((tls_model("initial-exec")));
static __thread int lock_masked __attribute__((tls_model("initial-exec")));
static __thread uint64_t lock_saved_mask __attribute__((tls_model("initial-exec")));

/* vm->lock: 0 free, 1 held, 2 held and someone may sleep on it (a
 * futex, as Drepper's "Futexes Are Tricky" mutex). A waiter spins a
 * moment first: most holds last a system call or less. Sleeping rather
 * than yielding keeps a waiter off the CPU its holder needs (two vCPUs,
 * four threads). */
#define SPINS     100
#define SLEEP_NS  100000000L             /* a sleeper looks again at least this often */

static void spin(struct pagemu *vm)
{
	uint32_t c;

	for (unsigned i = 0; i < SPINS; i++) {
		c = 0;
		if (atomic_compare_exchange_weak_explicit(&vm->lock, &c, 1, memory_order_acquire, memory_order_relaxed))
			return;
		__builtin_ia32_pause();
	}
	c = atomic_exchange_explicit(&vm->lock, 2, memory_order_acquire);
	while (c != 0) {
		pm_prim_futex_wait((uint32_t *)&vm->lock, 2, SLEEP_NS);
		c = atomic_exchange_explicit(&vm->lock, 2, memory_order_acquire);
	}
}

static void release(struct pagemu *vm)
{
	if (atomic_exchange_explicit(&vm->lock, 0, memory_order_release) == 2)
		pm_prim_futex_wake((uint32_t *)&vm->lock, 1);
}

void pm_lock(struct pagemu *vm)
{
	/* Block first: a handler that ran before this point has finished its
	 * own holds, and none can run from here to pm_unlock. */
	if (lock_depth == 0) {
		uint64_t old = 0;
		lock_masked = pm_signal_block_async(&old);
		lock_saved_mask = old;
	}
	lock_depth++;
	spin(vm);
}

void pm_unlock(struct pagemu *vm)
{
	release(vm);
	if (--lock_depth == 0 && lock_masked)
		pm_signal_restore(&lock_saved_mask);
}

/* The signal mask stays as the hold set it: a signal handler that ran
 * while this thread waits could fault on emulated memory and wait in
 * turn, for a completion only this thread would take. */
void pm_lock_drop(struct pagemu *vm)
{
	release(vm);
}

void pm_lock_retake(struct pagemu *vm)
{
	spin(vm);
}

#define BUSY_WAIT_NS 2000000             /* a missed wake-up costs at most this */

void pm_wait_busy(struct pagemu *vm)
{
	uint32_t seen = atomic_load_explicit(&vm->busy_seq, memory_order_acquire);

	atomic_fetch_add_explicit(&vm->busy_waiters, 1, memory_order_relaxed);
	pm_lock_drop(vm);
	pm_prim_futex_wait((uint32_t *)&vm->busy_seq, seen, BUSY_WAIT_NS);
	atomic_fetch_sub_explicit(&vm->busy_waiters, 1, memory_order_relaxed);
	pm_lock_retake(vm);
}

unsigned pm_inflight(struct pagemu *vm)
{
	return pm_swapio_reads(vm) + vm->maps_inflight;
}

void pm_busy_done(struct pagemu *vm)
{
	atomic_fetch_add_explicit(&vm->busy_seq, 1, memory_order_release);
	if (atomic_load_explicit(&vm->busy_waiters, memory_order_relaxed))
		pm_prim_futex_wake((uint32_t *)&vm->busy_seq, INT_MAX);
}
