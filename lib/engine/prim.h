/* prim.h - every system call of the engine (prim.c), each behind a
 * one-line contract. Each returns 0 or -errno unless said otherwise, and
 * preserves errno. They make raw system calls (never through a function
 * the LD_PRELOAD shim may wrap, such as write or close): inside the shim,
 * pagemu's own calls must not come back into the shim.
 *
 * Who may include it: the engine's files. pm_prim_alloc_tables,
 * pm_prim_release and pm_prim_say are also offered to the layers above,
 * through engine_api.h. */
#ifndef PAGEMU_PRIM_H
#define PAGEMU_PRIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/engine_api.h"

/* Reserve len bytes of address space, inaccessible. NULL on failure (errno). */
void *pm_prim_reserve(size_t len);
/* Map frame bytes [off, off+len) of fd at va with prot, populated.
 * Signal-safe. */
int   pm_prim_map_frame(void *va, size_t len, int prot, int fd, uint64_t off);
/* Make [va, va+len) inaccessible again, dropping any translation: the
 * range becomes a reservation like pm_prim_reserve's. Signal-safe. */
int   pm_prim_unmap_page(void *va, size_t len);
/* mprotect. Signal-safe. */
int   pm_prim_protect(void *va, size_t len, int prot);
/* An anonymous memory file of size bytes (the pool); returns fd or -errno. */
int   pm_prim_memfd(const char *name, uint64_t size);
/* Populate a shared mapping of the pool (the physmap): NULL on failure. */
void *pm_prim_map_pool(int fd, uint64_t size);
/* Monotonic clock, nanoseconds. Signal-safe. */
uint64_t pm_prim_now_ns(void);
/* vm.max_map_count, and the mappings this process has now. */
long  pm_prim_max_map_count(void);
long  pm_prim_map_count(void);
/* write(2) all of buf to fd, retrying short writes and EINTR: 0, or
 * -errno. Signal-safe. */
int   pm_prim_write(int fd, const void *buf, size_t len);
/* Create (or truncate) a file only this user may read, never following a
 * symbolic link (O_NOFOLLOW: -ELOOP), mode 0600 even when it existed:
 * the new fd (close-on-exec), or -errno. */
int   pm_prim_create_private(const char *path);
/* Is path a directory this process may create files in (write and
 * search permission)? 0, or -errno: -ENOTDIR for anything else. */
int   pm_prim_check_dir(const char *path);
/* pwrite(2) all of buf to fd at off, retrying short writes and EINTR:
 * 0, or -errno (ENOSPC when the file system is full). Signal-safe. */
int   pm_prim_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Deallocate the blocks of [off, off+len) of fd, keeping its size
 * (fallocate PUNCH_HOLE | KEEP_SIZE): the range reads as zeros. Signal-safe. */
int   pm_prim_punch_hole(int fd, uint64_t off, uint64_t len);
/* close(2), raw (never the shim's close). 0 or -errno. */
int   pm_prim_close(int fd);
/* sigaction through glibc's own entry point (never the shim's). */
struct sigaction;
int   pm_prim_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* Map an always-SIGBUS page at va (a shared mapping past the end of an
 * empty file): the access restarts and the kernel raises SIGBUS. */
int   pm_prim_map_sigbus(void *va, size_t len);
/* Host page size. */
size_t pm_prim_host_page(void);

#endif
