/* tramp.c - the guard's code inside the allowed range: the restorer every
 * signal handler returns through, the sigreturn of a restorer outside the
 * range, and the call-site trampolines of clone, clone3, fork and vfork.
 * (The whole executable segment of this object is the allowed range;
 * these only need to be in it.) */
#include <sched.h>
#include <sys/syscall.h>

#include "guard.h"

#define NTRAMP      64
#define TRAMP_SIZE  8    /* syscall (2) + jmp *disp32(%rip) (6) */
#define VTRAMP_SIZE 64

__asm__(".text\n"
	".globl pm_sud_restorer\n.hidden pm_sud_restorer\n.type pm_sud_restorer,@function\n"
	".p2align 4\n"
	"pm_sud_restorer:\n"
	"	mov $15, %eax\n"
	"	syscall\n"
	"	ud2\n"
	".size pm_sud_restorer, .-pm_sud_restorer\n"
	".globl pm_sud_sigreturn\n.hidden pm_sud_sigreturn\n.type pm_sud_sigreturn,@function\n"
	"pm_sud_sigreturn:\n"
	"	syscall\n"
	"	ud2\n"
	".size pm_sud_sigreturn, .-pm_sud_sigreturn\n"
	".globl pm_sud_tramps\n.hidden pm_sud_tramps\n.type pm_sud_tramps,@function\n"
	".p2align 4\n"
	"pm_sud_tramps:\n"
	".set pm_sud_i, 0\n"
	".rept 64\n"
	"	syscall\n"
	"	jmp *(pm_sud_slots + pm_sud_i * 8)(%rip)\n"
	".set pm_sud_i, pm_sud_i + 1\n"
	".endr\n"
	".size pm_sud_tramps, .-pm_sud_tramps\n"
	/* vfork-like calls (CLONE_VM | CLONE_VFORK, same TLS): the child
	 * registers itself (the kernel does not pass the setting on) before
	 * it continues, with the registers the call left. It shares the
	 * parent's memory and TLS, and the parent waits: the scratch is the
	 * thread's. */
	".globl pm_sud_vtramps\n.hidden pm_sud_vtramps\n.type pm_sud_vtramps,@function\n"
	".p2align 6\n"
	"pm_sud_vtramps:\n"
	".set pm_sud_i, 0\n"
	".rept 64\n"
	".p2align 6\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov pm_sud_scr_off(%rip), %rcx\n"
	"	mov %rdi, %fs:(%rcx)\n"
	"	mov (pm_sud_vslots + pm_sud_i * 8)(%rip), %rdi\n"
	"	mov %rdi, %fs:40(%rcx)\n"
	"	jmp pm_sud_vchild\n"
	"1:	jmp *(pm_sud_vslots + pm_sud_i * 8)(%rip)\n"
	".set pm_sud_i, pm_sud_i + 1\n"
	".endr\n"
	".size pm_sud_vtramps, .-pm_sud_vtramps\n"
	".type pm_sud_vchild,@function\n"
	"pm_sud_vchild:\n"
	"	mov %rsi, %fs:8(%rcx)\n"
	"	mov %rdx, %fs:16(%rcx)\n"
	"	mov %r10, %fs:24(%rcx)\n"
	"	mov %r8, %fs:32(%rcx)\n"
	"	mov $59, %edi\n"                 /* PR_SET_SYSCALL_USER_DISPATCH */
	"	mov $1, %esi\n"                  /* PR_SYS_DISPATCH_ON */
	"	mov pm_sud_lo(%rip), %rdx\n"
	"	mov pm_sud_len(%rip), %r10\n"
	"	mov %fs:0, %r8\n"
	"	add pm_sud_sel_off(%rip), %r8\n"
	"	mov $157, %eax\n"                /* prctl */
	"	syscall\n"
	"	mov pm_sud_scr_off(%rip), %rcx\n"
	"	mov %fs:(%rcx), %rdi\n"
	"	mov %fs:8(%rcx), %rsi\n"
	"	mov %fs:16(%rcx), %rdx\n"
	"	mov %fs:24(%rcx), %r10\n"
	"	mov %fs:32(%rcx), %r8\n"
	"	xor %eax, %eax\n"
	"	jmp *%fs:40(%rcx)\n"
	".size pm_sud_vchild, .-pm_sud_vchild\n");

extern char pm_sud_vtramps[] __attribute__((visibility("hidden")));
/* Return addresses of the trampolines; a slot, once set, never changes. */
PM_HIDDEN uintptr_t pm_sud_slots[NTRAMP], pm_sud_vslots[NTRAMP];
PM_HIDDEN uintptr_t pm_sud_lo, pm_sud_len;
PM_HIDDEN long pm_sud_sel_off, pm_sud_scr_off;

/* signal context: clone/clone3/vfork whose child shares memory and TLS
 * and makes the parent wait (vfork, posix_spawn): the child can register
 * itself. */
static int vfork_like(const struct pm_call *c)
{
	uint64_t f;

	if (c->nr == SYS_vfork)
		return 1;
	if (c->nr == SYS_clone)
		f = (uint64_t)c->a[0];
	else if (c->nr == SYS_clone3 && c->a[0] && (size_t)c->a[1] >= 8)
		f = *(const uint64_t *)c->a[0];
	else
		return 0;
	return (f & CLONE_VM) && (f & CLONE_VFORK) && !(f & CLONE_SETTLS) && pm_sud_scr_off;
}

char *pm_guard_tramp(const struct pm_call *c, uintptr_t ret)
{
	int vfork = vfork_like(c);
	uintptr_t *slots = vfork ? pm_sud_vslots : pm_sud_slots;
	char *base = vfork ? pm_sud_vtramps : pm_sud_tramps;
	size_t size = vfork ? VTRAMP_SIZE : TRAMP_SIZE;

	for (int i = 0; i < NTRAMP; i++) {
		uintptr_t v = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
		if (v == ret)
			return base + i * size;
		if (v == 0) {
			uintptr_t z = 0;
			if (__atomic_compare_exchange_n(&slots[i], &z, ret, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
			    z == ret)
				return base + i * size;
		}
	}
	return NULL;
}
