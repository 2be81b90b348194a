/* lock.c - the instance lock, and waiting for a page that is in flight.
 *
 * vm->lock guards the model of an instance (page table, frames, policy,
 * slots, counters) and the real MMU's view of it. It is a spin lock, so
 * that the fault handler can take it (no mutex is async-signal-safe), and
 * it is never held across a swap read: a fault that must read its page
 * marks the page's PTE locked (pte_locked: the kernel's locked page),
 * lets go of vm->lock while the device works, and takes it again to
 * finish. Whoever meets a locked PTE waits here for the reader to finish
 * (pm_wait_busy), then looks again.
 *
 * The holder of vm->lock runs with the asynchronous signals blocked: a
 * signal handler that touches emulated memory must not fault into pagemu
 * on the thread that holds the lock. Holds nest (fork takes every
 * instance's lock). */
#include <limits.h>
#include <sched.h>

#include "engine/engine.h"

/* This thread's holds (of any instance's lock), and the signal mask the
 * outermost one replaced. */
static __thread unsigned lock_depth __attribute__((tls_model("initial-exec")));
static __thread int lock_masked __attribute__((tls_model("initial-exec")));
static __thread uint64_t lock_saved_mask __attribute__((tls_model("initial-exec")));

static void spin(struct pagemu *vm)
{
	unsigned spins = 0;

	while (atomic_flag_test_and_set_explicit(&vm->lock, memory_order_acquire)) {
		/* The holder may be in a system call: give up the CPU. */
		if (++spins % 64 == 0)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
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
	atomic_flag_clear_explicit(&vm->lock, memory_order_release);
	if (--lock_depth == 0 && lock_masked)
		pm_signal_restore(&lock_saved_mask);
}

/* The signal mask stays as the hold set it: a signal handler that ran
 * while this thread waits could fault on emulated memory and wait in
 * turn, for a completion only this thread would take. */
void pm_lock_drop(struct pagemu *vm)
{
	atomic_flag_clear_explicit(&vm->lock, memory_order_release);
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

void pm_busy_done(struct pagemu *vm)
{
	atomic_fetch_add_explicit(&vm->busy_seq, 1, memory_order_release);
	if (atomic_load_explicit(&vm->busy_waiters, memory_order_relaxed))
		pm_prim_futex_wake((uint32_t *)&vm->busy_seq, INT_MAX);
}
