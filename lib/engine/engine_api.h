/* engine_api.h - what the engine offers the layers above it (lib/heap,
 * preload) beyond include/pagemu.h. Nothing here calls up: a layer above
 * that must act when the engine does registers a hook. */
#ifndef PAGEMU_ENGINE_API_H
#define PAGEMU_ENGINE_API_H

#include <stddef.h>
#include <stdio.h>

#include "pagemu.h"

/* Reserve-and-commit len bytes of private read-write memory for pagemu's
 * own tables (lazily backed by the kernel). NULL on failure. */
void *pm_prim_alloc_tables(size_t len);
/* Give back address space (munmap): 0 or -errno. */
int   pm_prim_release(void *addr, size_t len);
/* Write the whole string to stderr, retrying; signal-safe. */
void  pm_prim_say(const char *msg);

/* The statistics as one JSON object, no newline (to embed it in a larger
 * one, as the shim's report does). 0 or -EIO. */
int pm_stats_json_object(const pagemu_stats_t *s, FILE *f);

/* Run fn(vm) at the start of every pagemu_close, before the instance's
 * regions go (the heap gives back its blocks there). At most 4 hooks per
 * process; registering the same fn twice registers it once. 0 or -ENOSPC. */
int pm_engine_on_close(void (*fn)(pagemu_t *vm));

/* The program's own SIGSEGV action, chained behind pagemu's handler: it
 * gets the faults pagemu does not serve. act NULL: query only. 0. */
struct sigaction;
int pm_signal_chain(const struct sigaction *act, struct sigaction *old);

#endif
