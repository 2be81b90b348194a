/* guard.h - between preload.c and guard.c (the syscall guard). */
#ifndef PAGEMU_PRELOAD_GUARD_H
#define PAGEMU_PRELOAD_GUARD_H

#include <stddef.h>
#include "pagemu.h"

#define PM_HIDDEN __attribute__((visibility("hidden")))

/* guard.c */
PM_HIDDEN int  pm_guard_init(pagemu_t *vm, size_t pin_limit); /* 0: on or turned off by PAGEMU_SYSCALL_GUARD=0 */
PM_HIDDEN int  pm_guard_active(void);
PM_HIDDEN void pm_guard_thread(void);                          /* register the calling thread */

/* preload.c */
PM_HIDDEN int   pm_shim_in_pagemu(void);        /* the calling thread is inside pagemu (via the shim) */
PM_HIDDEN void *pm_shim_dlsym(const char *name); /* dlsym(RTLD_NEXT, name), from the bootstrap arena */
PM_HIDDEN void *pm_shim_alloc_internal(size_t n);/* a block of real (never emulated) memory */
PM_HIDDEN void  pm_shim_free_internal(void *p);

#endif
