/* prim.h - every system call of the engine (prim.c), each behind a
 * one-line contract. Each returns 0 or -errno unless said otherwise, and
 * preserves errno. They make raw system calls (never through a function
 * the LD_PRELOAD shim may wrap, such as write or close): inside the shim,
 * pagemu's own calls must not come back into the shim.
 *
 * Who may include it: the engine's files. pm_prim_alloc_tables,
 * pm_prim_release, pm_prim_say, pm_prim_write, pm_prim_close, the private
 * files and the owned descriptors are also offered to the layers above,
 * through engine_api.h. */
#ifndef PAGEMU_PRIM_H
#define PAGEMU_PRIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/engine_api.h"

/* Reserve len bytes of address space, inaccessible. NULL on failure (errno). */
void *pm_prim_reserve(size_t len);
/* Reserve exactly [va, va+len): 0, or -EEXIST when anything is mapped
 * there. */
int   pm_prim_reserve_at(void *va, size_t len);
/* Map frame bytes [off, off+len) of fd at va with prot, populated.
 * Signal-safe. */
int   pm_prim_map_frame(void *va, size_t len, int prot, int fd, uint64_t off);
/* Map bytes [off, off+len) of file fd at va, shared, with prot (not
 * populated): the kernel's own mapping of a file. */
int   pm_prim_map_file(void *va, size_t len, int prot, int fd, uint64_t off);
/* Make [va, va+len) inaccessible again, dropping any translation: the
 * range becomes a reservation like pm_prim_reserve's. Signal-safe. */
int   pm_prim_unmap_page(void *va, size_t len);
/* mprotect. Signal-safe. */
int   pm_prim_protect(void *va, size_t len, int prot);
/* An anonymous memory file of size bytes (the pool); returns fd or -errno. */
int   pm_prim_memfd(const char *name, uint64_t size);
/* A shared mapping of the pool (the physmap), not populated: NULL on
 * failure. */
void *pm_prim_map_pool(int fd, uint64_t size);
/* Give the pool's bytes [off, off+len) memory now and populate the
 * physmap over them. 0 or -errno (-ENOSPC/-ENOMEM: no memory).
 * Signal-safe. */
int   pm_prim_pool_commit(int fd, char *physmap, uint64_t off, uint64_t len);
/* Bytes of memory a new pool may take: MemAvailable, and the room left
 * under this process's cgroup limit (in *cgroup; UINT64_MAX = none),
 * whichever is smaller. */
uint64_t pm_prim_mem_available(uint64_t *cgroup);
/* Monotonic clock, nanoseconds. Signal-safe. */
uint64_t pm_prim_now_ns(void);
/* vm.max_map_count, and the mappings this process has now. */
long  pm_prim_max_map_count(void);
long  pm_prim_map_count(void);
/* Is path a directory this process may create files in (write and
 * search permission)? 0, or -errno: -ENOTDIR for anything else. */
int   pm_prim_check_dir(const char *path);
/* fd is no longer pagemu's (about to be closed by a library: liburing). */
void  pm_prim_forget_fd(int fd);
/* An io_uring of entries (io_uring_queue_init), its descriptor owned;
 * and its end (io_uring_queue_exit), the descriptor forgotten first. */
struct io_uring;
int   pm_prim_ring_init(struct io_uring *ring, unsigned entries);
void  pm_prim_ring_exit(struct io_uring *ring);
/* pwrite(2) all of buf to fd at off, retrying short writes and EINTR:
 * 0, or -errno (ENOSPC when the file system is full). Signal-safe. */
int   pm_prim_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* pread(2) of up to len bytes of fd at off into buf, retrying EINTR:
 * the bytes read (0 at the end of the file), or -errno. Signal-safe. */
long  pm_prim_pread(int fd, void *buf, size_t len, uint64_t off);
/* Deallocate the blocks of [off, off+len) of fd, keeping its size
 * (fallocate PUNCH_HOLE | KEEP_SIZE): the range reads as zeros. Signal-safe. */
int   pm_prim_punch_hole(int fd, uint64_t off, uint64_t len);
/* sigaction through glibc's own entry point (never the shim's). */
struct sigaction;
int   pm_prim_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* rt_sigprocmask(how, set, old) on this thread, in the kernel's layout
 * (bit sig-1 for signal sig, 64 signals); set or old may be NULL.
 * Signal-safe; never the shim's sigprocmask, and made from pagemu's own
 * code (the syscall guard lets it through untrapped). */
int   pm_prim_sigmask(int how, const uint64_t *set, uint64_t *old);
/* Map an always-SIGBUS page at va (a shared mapping past the end of an
 * empty file): the access restarts and the kernel raises SIGBUS. */
int   pm_prim_map_sigbus(void *va, size_t len);
/* Sleep while *addr == val, at most timeout_ns (a private futex); and
 * wake up to n sleepers on addr. Signal-safe. */
void  pm_prim_futex_wait(uint32_t *addr, uint32_t val, long timeout_ns);
void  pm_prim_futex_wake(uint32_t *addr, int n);
/* Start fn(arg) on a thread of pagemu's own (*t), the asynchronous
 * signals blocked on it (the synchronous ones, SIGSEGV first, open),
 * made with the C library's pthread_create, never an interposed one (the
 * shim's registers its threads with the syscall guard, which would trap
 * the thread's system calls). 0 or -errno. */
typedef unsigned long pm_thread_t;
int   pm_prim_thread_start(pm_thread_t *t, void *(*fn)(void *), void *arg);
/* Wait for the thread's end. */
void  pm_prim_thread_join(pm_thread_t t);
/* recv(2) with MSG_WAITALL, and sendmsg(2) (MSG_NOSIGNAL) or recvmsg(2)
 * (MSG_WAITALL, recv = 1) of m on a socket, raw (never the shim's): the
 * bytes moved, or -errno. Signal-safe. */
struct msghdr;
long  pm_prim_recv(int fd, void *buf, size_t len);
long  pm_prim_msg(int fd, struct msghdr *m, int recv);
/* recv(2) of what is there, at most len bytes (no MSG_WAITALL), raw:
 * the bytes, 0 at the peer's close, or -errno. */
long  pm_prim_recv_some(int fd, void *buf, size_t len);
/* Wait at most ms (< 0: no limit) for fd to be readable, raw (ppoll): 1,
 * 0 at the deadline, or -errno. */
int   pm_prim_wait_readable(int fd, int ms);
/* A file a region maps: fd's identity (device, inode), size in bytes and
 * access mode (O_RDONLY, O_WRONLY or O_RDWR). -ENODEV when fd is no
 * regular file, -EBADF when it is no descriptor. Signal-safe. */
int   pm_prim_file_info(int fd, uint64_t *dev, uint64_t *ino, uint64_t *size, int *accmode);
/* fdatasync(2). */
int   pm_prim_datasync(int fd);
/* fd's size in bytes now (fstat). Signal-safe. */
int   pm_prim_file_size(int fd, uint64_t *size);
/* A descriptor of pagemu's own for the open file fd refers to (a dup,
 * owned: see pm_prim_own_fd), or -errno. */
int   pm_prim_dup_file(int fd);
/* The file fd refers to, opened again with O_DIRECT (read-write when
 * rw), owned: fd or -errno (-EINVAL: its file system has no O_DIRECT). */
int   pm_prim_reopen_direct(int fd, int rw);
/* An unlinked file in dir (O_TMPFILE, else a named one unlinked at once),
 * mode 0600, read-write, close-on-exec, owned, with O_DIRECT when direct,
 * of size bytes (0: empty): the swap file, the backing of shared
 * anonymous memory. fd or -errno. */
int   pm_prim_tmpfile(const char *dir, int direct, uint64_t size);
/* Host page size. */
size_t pm_prim_host_page(void);

#endif
