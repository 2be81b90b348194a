/* nbdrepair.c - where the copies of the NBD swap store live, and how
 * they are made again when a server dies (PAGEMU_SWAP_REPLICAS).
 *
 * Copy k of chunk c lives on server (c + k) mod n, in region k of its
 * export: an export is cut into regions of `rows` chunks, chunk c at row
 * c / n of its region, and one more region on each server is spare room
 * for re-replication. When a server dies, the repair thread moves each of
 * its copies to a live server that holds no copy of that chunk and has a
 * spare region, marks the chunks' moved copies stale (no read takes a
 * stale copy), and copies each written chunk there from a surviving copy,
 * in the background. A write that races with the copy is seen by the
 * chunk's write count (gen) and the chunk is copied again. */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/nbd.h"

/* ---- placement: where each copy of a chunk lives ------------------------------------- */

static unsigned loc_server(uint16_t loc)
{
	return loc & 0xff;
}

static unsigned loc_region(uint16_t loc)
{
	return loc >> 8;
}

/* The server of copy k of chunk, and in *off the byte offset there of
 * the chunk's slot `in`. Any thread. */
unsigned pm_nbd_place(struct pm_nbd *nbd, uint64_t chunk, unsigned k, unsigned in, uint64_t *off)
{
	uint16_t loc;

	if (nbd->nconn == 1) {
		*off = (chunk * STRIPE + in) * nbd->page;
		return 0;
	}
	loc = atomic_load(&nbd->where[chunk % nbd->nconn][k]);
	*off = ((loc_region(loc) * nbd->rows + chunk / nbd->nconn) * STRIPE + in) * nbd->page;
	return loc_server(loc);
}

/* Copy k of the chunks at position i (chunk mod n) on server i + k, in
 * its region k; the spare regions free. */
void pm_nbd_place_init(struct pm_nbd *nbd)
{
	memset(nbd->used, -1, sizeof(nbd->used));
	for (unsigned i = 0; i < nbd->nconn; i++)
		for (unsigned k = 0; k < nbd->copies; k++) {
			unsigned j = (i + k) % nbd->nconn;
			atomic_store(&nbd->where[i][k], (uint16_t)(j | k << 8));
			nbd->used[j][k] = (int8_t)i;
		}
}

/* A copy of chunk to read: on a live server, up to date, not in tried;
 * NO_COPY when there is none. Any thread. */
unsigned pm_nbd_read_copy(struct pm_nbd *nbd, uint64_t chunk, unsigned tried)
{
	for (unsigned k = 0; k < nbd->copies; k++) {
		uint64_t off;
		unsigned s = pm_nbd_place(nbd, chunk, k, 0, &off);
		/* The placement first, then stale: the repair thread marks a
		 * copy stale before it moves it. */
		unsigned stale = nbd->chunks ? atomic_load(&nbd->chunks[chunk].stale) : 0;
		if (!((tried | stale) & 1u << k) && !atomic_load(&nbd->conn[s].dead))
			return k;
	}
	return NO_COPY;
}


/* ---- re-replication: the repair thread ------------------------------------------------ */

/* Does server j hold a copy of the chunks at position i? */
static int holds(struct pm_nbd *nbd, unsigned j, unsigned i)
{
	for (unsigned k = 0; k < nbd->copies; k++)
		if (loc_server(atomic_load(&nbd->where[i][k])) == j)
			return 1;
	return 0;
}

/* A new home for a copy of the chunks at position i: a live server that
 * holds none of them, with a free region (in *g). The server, or -1. */
static int new_home(struct pm_nbd *nbd, unsigned i, unsigned *g)
{
	for (unsigned t = 0; t < nbd->nconn; t++) {
		unsigned j = (i + nbd->copies + t) % nbd->nconn;     /* spread: the next server past the copies */
		if (atomic_load(&nbd->conn[j].dead) || holds(nbd, j, i))
			continue;
		for (*g = 0; *g < nbd->regions; (*g)++)
			if (nbd->used[j][*g] < 0)
				return (int)j;
	}
	return -1;
}

/* Server d died: move each copy it held to a new home. The chunks'
 * copies are marked stale before the placement changes, so that no read
 * takes a copy before the repair has written it. 0, or the positions
 * left without a new home. */
static unsigned relocate(struct pm_nbd *nbd, unsigned d)
{
	unsigned homeless = 0, g;

	for (unsigned i = 0; i < nbd->nconn; i++)
		for (unsigned k = 0; k < nbd->copies; k++) {
			if (loc_server(atomic_load(&nbd->where[i][k])) != d)
				continue;
			int j = new_home(nbd, i, &g);
			if (j < 0) {
				homeless++;
				continue;
			}
			for (uint64_t c = i; c < nbd->nchunks; c += nbd->nconn)
				atomic_fetch_or(&nbd->chunks[c].stale, (uint8_t)(1u << k));
			nbd->used[j][g] = (int8_t)i;
			atomic_store(&nbd->where[i][k], (uint16_t)((unsigned)j | g << 8));
		}
	return homeless;
}

/* Sleep about a millisecond. */
static void nap(void)
{
	uint32_t never = 0;

	pm_prim_futex_wait(&never, 0, 1000000);
}

/* Write copy k of chunk c at its new home from a live copy, until no
 * write to the chunk raced with the copy: a write queued meanwhile may
 * have reached the new home before the copy's older pages did. Then the
 * copy is up to date (no longer stale). Slots copied, or -errno. */
static long repair_chunk(struct pm_nbd *nbd, uint64_t c, unsigned k)
{
	nbd_chunk_t *ch = &nbd->chunks[c];
	unsigned n = (unsigned)(nbd->nslots - c * STRIPE < STRIPE ? nbd->nslots - c * STRIPE : STRIPE);
	int rc;

	for (;;) {
		while (atomic_load(&ch->writing))
			if (atomic_load(&nbd->stop))
				return -ECANCELED;
			else
				nap();
		uint32_t gen = atomic_load(&ch->gen);
		if (gen == 0) {                       /* never written: nothing to copy */
			atomic_fetch_and(&ch->stale, (uint8_t)~(1u << k));
			return 0;
		}
		if ((rc = pm_nbd_run_sync(nbd, REPAIR_REQ, 0, c * STRIPE, nbd->repair_iov, n, NO_COPY)) < 0 ||
		    (rc = pm_nbd_run_sync(nbd, REPAIR_REQ, 1, c * STRIPE, nbd->repair_iov, n, k)) < 0)
			return rc;
		if (!atomic_load(&ch->writing) && atomic_load(&ch->gen) == gen) {
			atomic_fetch_and(&ch->stale, (uint8_t)~(1u << k));
			return n;
		}
	}
}

/* Repair every stale copy; say what became of them. */
static void repair_all(struct pm_nbd *nbd, unsigned homeless)
{
	uint64_t copied = 0, lost = 0;
	char a[24], b[24];

	for (uint64_t c = 0; c < nbd->nchunks && !atomic_load(&nbd->stop); c++)
		for (unsigned k = 0; k < nbd->copies; k++) {
			if (!(atomic_load(&nbd->chunks[c].stale) & 1u << k))
				continue;
			long n = repair_chunk(nbd, c, k);
			if (n < 0)
				lost++;
			else
				copied += (uint64_t)n;
		}
	if (atomic_load(&nbd->stop))
		return;
	atomic_fetch_add(&nbd->repairs, copied);
	pm_fmt_u64(a, a + sizeof(a), copied);
	pm_fmt_u64(b, b + sizeof(b), lost);
	if (!lost && !homeless)
		pm_nbd_say((const char *const[]){ "pagemu: swap: ", a, " slots copied to a new replica; every slot has its "
			"copies again (PAGEMU_SWAP_REPLICAS)", NULL });
	else
		pm_nbd_say((const char *const[]){ "pagemu: swap: ", a, " slots copied to a new replica",
			lost ? "; chunks of 16 slots not copied (their last copy failed too: SIGBUS when read): " : "",
			lost ? b : "",
			homeless ? "; no live server has room for another copy of some slots (each copy needs a server "
			"of its own): they keep fewer copies" : "", NULL });
}

/* The repair thread: when a server dies, moves its copies and writes
 * them again from the surviving ones, in the background. */
void *pm_nbd_repair_main(void *arg)
{
	struct pm_nbd *nbd = arg;

	pm_nbd_thread_started(&nbd->repair_started);
	while (!atomic_load(&nbd->stop)) {
		uint32_t bell = atomic_load(&nbd->repair_bell);
		unsigned homeless = 0;
		int died = 0;
		for (unsigned d = 0; d < nbd->nconn; d++)
			if (atomic_load(&nbd->conn[d].dead) && !nbd->conn[d].relocated) {
				nbd->conn[d].relocated = 1;
				homeless += relocate(nbd, d);
				died = 1;
			}
		if (died)
			repair_all(nbd, homeless);
		else
			pm_prim_futex_wait((uint32_t *)&nbd->repair_bell, bell, IDLE_NAP_NS);
	}
	return NULL;
}

