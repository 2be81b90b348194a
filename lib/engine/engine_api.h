/* engine_api.h - what the engine offers the layers above it (lib/heap,
 * preload) beyond include/pagemu.h. Nothing here calls up: a layer above
 * that must act when the engine does registers a hook. */
#ifndef PAGEMU_ENGINE_API_H
#define PAGEMU_ENGINE_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pagemu.h"

/* Reserve-and-commit len bytes of private read-write memory for pagemu's
 * own tables (lazily backed by the kernel). NULL on failure. */
void *pm_prim_alloc_tables(size_t len);
/* Address space this process may still map under its RLIMIT_AS (ulimit
 * -v): the limit less what is mapped now; UINT64_MAX without a limit.
 * pagemu's own reservations (tables, the bootstrap arena) take a share of
 * it, not all, so that the program and the frame pool fit too. */
uint64_t pm_prim_as_room(void);
/* Give back address space (munmap): 0 or -errno. */
int   pm_prim_release(void *addr, size_t len);
/* Write the whole string to stderr, retrying; signal-safe. */
void  pm_prim_say(const char *msg);
/* write(2) all of buf to fd, raw (never the shim's write), retrying short
 * writes and EINTR: 0, or -errno. Signal-safe. */
int   pm_prim_write(int fd, const void *buf, size_t len);
/* close(2), raw (never the shim's close), fd forgotten first if pagemu
 * owned it. 0 or -errno. */
int   pm_prim_close(int fd);
/* Create (or truncate) a file only this user may read, never following a
 * symbolic link (O_NOFOLLOW: -ELOOP), mode 0600 even when it existed:
 * the new fd (owned, close-on-exec), or -errno. */
int   pm_prim_create_private(const char *path);
/* The same, for appending: O_APPEND, never truncated (the shim's report:
 * one line per process). */
int   pm_prim_append_private(const char *path);

/* The descriptors pagemu owns (pool, swap file, io_uring, trace, the
 * shim's report), kept out of the program's way: moved near the top of
 * the soft RLIMIT_NOFILE, close-on-exec, and listed in a table that the
 * syscall guard reads to refuse the program's close, dup2, dup3 and fcntl
 * aimed at them. */
/* Take fd for pagemu: it moves (the old number is closed) and is listed.
 * Returns the new number (fd itself if it could not move); fd < 0 is
 * returned as it is. */
int   pm_prim_own_fd(int fd);
/* hook runs first on every thread pagemu starts (its I/O threads), before
 * anything else the thread does: the shim routes the thread's allocations
 * (a TLS library's, say) to memory that is never emulated, whose faults
 * could need these very threads. Set once, before pagemu_open. */
void  pm_prim_set_thread_hook(void (*hook)(void));
/* Signal-safe: 1 when fd is one of pagemu's. */
int   pm_prim_fd_owned(int fd);
/* Signal-safe: the lowest of pagemu's descriptors >= from, or -1. */
int   pm_prim_fd_next_owned(int from);

/* The statistics as one JSON object, no newline (to embed it in a larger
 * one, as the shim's report does). 0 or -EIO. */
int pm_stats_json_object(const pagemu_stats_t *s, FILE *f);
/* s as a JSON string, quoted and escaped (lib/model's writer, offered to
 * the shim's report with the object it embeds). */
void pm_json_string(FILE *f, const char *s);

/* Coherence of pagemu's page cache with the file's own I/O (the syscall
 * guard calls these around the program's system calls; signal-safe):
 * fd's bytes [off, off+len) were written (len 0: its size may have
 * changed): the pages of the file pagemu holds take them (a clean page is
 * dropped, a dirty one reads the range in). And before a read of them: the
 * dirty pages there go to the file first. 0 (nothing to do when pagemu
 * maps no file, or not this one). */
int pm_filemap_file_written(pagemu_t *vm, int fd, uint64_t off, uint64_t len);
int pm_filemap_file_reading(pagemu_t *vm, int fd, uint64_t off, uint64_t len);

/* Run fn(vm) at the start of every pagemu_close, before the instance's
 * regions go (the heap gives back its blocks there). At most 4 hooks per
 * process; registering the same fn twice registers it once. 0 or -ENOSPC. */
int pm_engine_on_close(void (*fn)(pagemu_t *vm));

/* config.c - the settings. Each is described once, in config.c's table,
 * which generates the PAGEMU_* parsing (pagemu_config_from_env), the
 * checks of pagemu_config_validate, and pagemu run's options and --help.
 * Numbers go through lib/model's strict parser (pm_parse_*). */
enum pm_setting_kind {
	PM_SET_NUM,                       /* a number in [lo, hi] */
	PM_SET_AUTO,                      /* 0 (automatic), or a number in [lo, hi] */
	PM_SET_FRAMES,                    /* frames: [lo, hi], a pool of at most 1 TiB */
	PM_SET_MEMORY,                    /* bytes of pool: sets frames (bytes / page size) */
	PM_SET_PAGE,                      /* the page size: the host page x 2^k, at most hi */
	PM_SET_SWAP,                      /* bytes of swap: one page to hi pages */
	PM_SET_BOOL,                      /* 0 or 1 */
	PM_SET_POLICY,                    /* a policy the engine runs */
	PM_SET_TLB,                       /* SETSxWAYS[,SETSxWAYS] */
	PM_SET_TLB_POLICY,                /* P[,P]: TLB replacement, L1[, L2] */
	PM_SET_DIR,                       /* a directory: not empty */
	PM_SET_FILE,                      /* a file to create; empty = off */
	PM_SET_URI,                       /* a list of swap server URIs; empty = none */
};

typedef struct pm_setting {
	const char *env;                  /* the variable: "PAGEMU_FRAMES" */
	const char *option;               /* pagemu run's option: "--frames" */
	const char *flag;                 /* PM_SET_BOOL: the value the option (a flag) sets */
	const char *field;                /* the pagemu_config_t field; NULL: read by the shim, not a field */
	size_t      offset, size;         /* where the field is, its size */
	enum pm_setting_kind kind;
	uint64_t    lo, hi;               /* the range of numbers (kinds NUM to SWAP) */
	const char *limits;               /* what is accepted, for --help and messages */
	const char *help;                 /* what it does, one line of --help */
} pm_setting_t;

/* How the user gave a setting, so that a message can say it back. */
typedef struct pm_given {
	const char *name;                 /* "--swap-size" or "PAGEMU_SWAP_SIZE"; NULL: not given */
	const char *value;                /* as written: "16384" */
} pm_given_t;

/* Setting i of the table (in the order they apply), NULL past the end. */
const pm_setting_t *pm_setting(size_t i);
/* The setting with this option or variable, or NULL. */
const pm_setting_t *pm_setting_find(const char *option_or_env);
/* The metavariable of s's option in --help ("N", "SIZE"; "" for a flag). */
const char *pm_setting_arg(const pm_setting_t *s);
/* cfg's value of s, written as its variable takes it ("4G", "16x4,128x12",
 * "clock"; "" for no field). */
void pm_setting_format(const pm_setting_t *s, const pagemu_config_t *cfg, char *buf, size_t len);
/* Apply every given setting (given[i] for setting i; NULL names skipped)
 * to cfg in table order, each parsed and range-checked. 0, or -EINVAL
 * (-ENAMETOOLONG for a long path) with pagemu_last_error() naming the
 * setting and its value as given. */
int pm_config_apply(pagemu_config_t *cfg, const pm_given_t *given);
/* What pagemu_open would find wrong with cfg, without making the pool:
 * the fields (pagemu_config_validate), then the swap file (created in
 * swap_dir, sized and dropped), an io_uring, the trace file (created).
 * given (may be NULL) names the settings in messages as the user gave
 * them. 0 or -errno with pagemu_last_error(). */
int pm_config_check(const pagemu_config_t *cfg, const pm_given_t *given);
/* The least pool a whole program runs in under the shim (measured: at 16
 * frames grep runs out of frames to evict, at 24 it runs). */
#define PM_RUN_MIN_FRAMES 32
/* The pool is large enough for a program under the shim: 0, or -EINVAL
 * with a message that names the setting and the minimum. */
int pm_config_check_run(const pagemu_config_t *cfg, const pm_given_t *given);
/* The 0/1 variable var (e.g. PAGEMU_SYSCALL_GUARD): 0 with *on set from
 * it, or left alone when var is unset; -EINVAL with pagemu_last_error()
 * naming var and its value for anything but "0" or "1". */
int pm_config_env_bool(const char *var, int *on);
/* Every process of a run under the LD_PRELOAD shim traces to a file of
 * its own: ".%p" is added to cfg's trace path unless it holds a "%p"
 * (which the engine makes the process id). pagemu run does the same to
 * check the file the program will write. 0, or -ENAMETOOLONG with
 * pagemu_last_error(). */
int pm_config_trace_per_process(pagemu_config_t *cfg);

/* tracefile.c - write out the trace records vm has buffered (the shim
 * never closes its instance: it calls this at exit and before an exec).
 * Takes vm->lock; no-op when vm does not trace. */
void pm_tracefile_flush(pagemu_t *vm);

/* filemap.c - the process ends (or execs) without closing vm, as the shim
 * never closes its instance: every dirty page of a shared file mapping is
 * written to its file now (and waited for), as the kernel's page cache
 * outlives a process that exits. Takes the instance lock: not from inside
 * pagemu. 0 or the first write error (-errno). */
int pm_filemap_exit(pagemu_t *vm);

/* mapping.c - [addr, addr + len) leaves pagemu as pagemu_unmap would have
 * it leave (its pages released, a shared mapping's writes in its file),
 * but its address space stays reserved (PROT_NONE): the caller maps over
 * it at once (the shim, for a program's MAP_FIXED mapping made over
 * emulated memory, which from then on is the kernel's). 0 or -errno. */
int pm_mapping_yield(pagemu_t *vm, void *addr, size_t len);

/* fork.c - what fork()'s atfork handlers do, for a fork made without
 * them (the LD_PRELOAD shim's syscall guard, for a fork system call made
 * directly, glibc's _Fork, clone without CLONE_VM). prepare: every
 * instance locked, the child's copies of pool and swap made; then parent
 * in the parent (also when the fork failed), child in the child: each
 * keeps a private view of emulated memory. */
void pm_fork_prepare(void);
void pm_fork_parent(void);
void pm_fork_child(void);
/* Signal-safe: 1 between this thread's pm_fork_prepare and its parent or
 * child (a fork() whose atfork handlers ran): its system call needs none. */
int  pm_fork_prepared(void);
/* enter and leave run around each of the handlers above (prepare, parent,
 * child), on the forking thread: fork() runs them in the caller's
 * context, and the shim marks what they do there as pagemu's own (its
 * system calls are never the program's, for the syscall guard to
 * emulate). Set once, before pagemu_open. */
void pm_fork_set_hooks(void (*enter)(void), void (*leave)(void));

/* fn runs (signal context, no lock held) when a fault that is not pagemu's
 * to serve will end the process, no handler of the program's taking it:
 * the shim writes the program's mapped files then. Set once, before
 * pagemu_open. */
void pm_signal_set_fatal_hook(void (*fn)(void));

/* The program's own SIGSEGV action, chained behind pagemu's handler: it
 * gets the faults pagemu does not serve. act NULL: query only. 0. */
struct sigaction;
int pm_signal_chain(const struct sigaction *act, struct sigaction *old);

#endif
