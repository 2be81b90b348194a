/* object.c - memory objects (CSAPP 9.8): the files that regions map, the
 * page cache their pages form inside the frame pool, and the reverse map.
 *
 * A region maps an object at a page offset (pgoff): anonymous private
 * memory has none (obj 0); a file, shared or private, and anonymous
 * shared memory (a file of pagemu's own in swap_dir, as Linux's shmem is
 * a file on tmpfs) have one. Two mappings of one file, in two regions or
 * the same region twice, share the object, found by the file's device and
 * inode, and so share its pages: one frame per file page, found in the
 * page cache by (object, page index).
 *
 * The reverse map is the object's, as Linux's i_mmap: the PTEs that map
 * an object frame are those of the regions of its object whose range
 * holds the frame's page, where the PTE still points at the frame (a
 * private mapping's copy points elsewhere). So no per-PTE list is kept,
 * and a region split, protection change or unmap needs no rmap update.
 *
 * The page cache is an open-addressing hash with linear probing over
 * 2 x frames slots (at most half full: every entry is a frame), with
 * backward-shift deletion, so lookups never meet tombstones. It lives in
 * the tables mapped at open: the fault path never allocates. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/engine.h"

/* ---- objects ------------------------------------------------------------------ */

static uint32_t find_file(struct pagemu *vm, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < PM_OBJECTS_MAX; i++) {
		pm_object_t *o = &vm->objects[i];
		if (o->live && !o->anon && o->dev == dev && o->ino == ino)
			return i + 1;
	}
	return 0;
}

static uint32_t slot_new(struct pagemu *vm)
{
	for (uint32_t i = 0; i < PM_OBJECTS_MAX; i++)
		if (!vm->objects[i].live)
			return i + 1;
	return 0;
}

/* file_direct: a second descriptor with O_DIRECT for whole pages (a
 * file's partial last page goes through fd: O_DIRECT moves whole
 * blocks). A file system without O_DIRECT keeps the page cache. */
static void open_direct(struct pagemu *vm, pm_object_t *o)
{
	int dfd = vm->cfg.file_direct ? pm_prim_reopen_direct(o->fd, o->writable) : -1;

	o->dfd = dfd >= 0 ? dfd : o->fd;
}

static void close_fds(pm_object_t *o)
{
	if (o->dfd != o->fd)
		pm_prim_close(o->dfd);
	pm_prim_close(o->fd);
}

int pm_object_open(struct pagemu *vm, int fd, int prot, int shared, int anon, uint64_t size)
{
	uint64_t dev = 0, ino = 0, fsize = size;
	int acc = O_RDWR, rc;
	uint32_t obj;
	pm_object_t *o;

	if (!anon) {
		rc = pm_prim_file_info(fd, &dev, &ino, &fsize, &acc);
		if (rc == 0 && acc == O_WRONLY)
			rc = -EACCES;
		if (rc == -EBADF) {
			pm_set_error("pagemu_map: fd %d is not an open descriptor", fd);
			return rc;
		}
		if (rc == -ENODEV) {
			pm_set_error("pagemu_map: fd %d is not a regular file (only files and anonymous memory can be mapped)", fd);
			return rc;
		}
		if (rc == -EACCES) {
			pm_set_error("pagemu_map: fd %d is open for writing only; a mapping must be able to read it", fd);
			return rc;
		}
		if (rc < 0) {
			pm_set_error("pagemu_map: fd %d: %s", fd, strerror(-rc));
			return rc;
		}
		if (shared && (prot & PROT_WRITE) && acc != O_RDWR) {
			pm_set_error("pagemu_map: MAP_SHARED with PROT_WRITE needs fd %d open read-write (O_RDWR)", fd);
			return -EACCES;
		}
		if ((obj = find_file(vm, dev, ino)) != 0) {
			/* The same file through another descriptor: one object. Its
			 * writes need a read-write descriptor of pagemu's. */
			o = pm_object(vm, obj);
			if (acc == O_RDWR && !o->writable) {
				int nfd = pm_prim_dup_file(fd);
				if (nfd < 0)
					return nfd;
				close_fds(o);
				o->fd = nfd;
				o->writable = 1;
				open_direct(vm, o);
			}
			o->size = fsize;
			return (int)obj;
		}
	}
	if (!(obj = slot_new(vm))) {
		pm_set_error("pagemu_map: %d objects (files and shared memory) are mapped already", PM_OBJECTS_MAX);
		return -ENFILE;
	}
	o = pm_object(vm, obj);
	rc = anon ? pm_prim_tmpfile(vm->cfg.swap_dir, 0, size) : pm_prim_dup_file(fd);
	if (rc < 0) {
		if (anon)
			pm_set_error("pagemu_map: cannot create the file of shared anonymous memory in swap_dir (PAGEMU_SWAP_DIR) = \"%s\": %s",
				     vm->cfg.swap_dir, strerror(-rc));
		else
			pm_set_error("pagemu_map: cannot duplicate fd %d: %s", fd, strerror(-rc));
		return rc;
	}
	memset(o, 0, sizeof(*o));
	o->fd = rc;
	o->live = 1;
	o->anon = anon;
	o->writable = acc == O_RDWR;
	o->dev = dev;
	o->ino = ino;
	o->size = fsize;
	open_direct(vm, o);
	vm->nobjects++;
	return (int)obj;
}

uint32_t pm_object_find(struct pagemu *vm, uint64_t dev, uint64_t ino)
{
	return find_file(vm, dev, ino);
}

int pm_object_unused(struct pagemu *vm, uint32_t obj)
{
	for (size_t i = 0; i < vm->nregions_hw; i++)
		if (vm->regions[i].live && vm->regions[i].obj == obj)
			return 0;
	return 1;
}

void pm_object_close(struct pagemu *vm, uint32_t obj)
{
	pm_object_t *o = pm_object(vm, obj);

	close_fds(o);
	o->live = 0;
	PM_DEC(vm->nobjects);
}

int pm_object_refresh(struct pagemu *vm, uint32_t obj)
{
	return pm_prim_file_size(pm_object(vm, obj)->fd, &pm_object(vm, obj)->size);
}

uint64_t pm_object_pages(struct pagemu *vm, uint32_t obj)
{
	return (pm_object(vm, obj)->size + vm->page - 1) >> vm->page_shift;
}

/* ---- the page cache ----------------------------------------------------------- */

static uint64_t hash(const struct pagemu *vm, uint32_t obj, uint64_t index)
{
	uint64_t h = (index ^ ((uint64_t)obj << 40)) * 0x9e3779b97f4a7c15ULL;

	return (h >> 17) & vm->pcache_mask;
}

uint64_t pm_pcache_lookup(struct pagemu *vm, uint32_t obj, uint64_t index)
{
	for (uint64_t i = hash(vm, obj, index);; i = (i + 1) & vm->pcache_mask) {
		uint32_t e = vm->pcache[i];
		if (!e)
			return PM_NONE;
		const pm_frame_t *f = &vm->frames.f[e - 1];
		if (f->obj == obj && f->index == index)
			return e - 1;
	}
}

void pm_pcache_insert(struct pagemu *vm, uint64_t ppn)
{
	const pm_frame_t *f = &vm->frames.f[ppn];
	uint64_t i = hash(vm, f->obj, f->index);

	PM_ASSERT(f->obj && pm_pcache_lookup(vm, f->obj, f->index) == PM_NONE);
	while (vm->pcache[i])
		i = (i + 1) & vm->pcache_mask;
	vm->pcache[i] = (uint32_t)ppn + 1;
	vm->cached++;
}

void pm_pcache_remove(struct pagemu *vm, uint64_t ppn)
{
	const pm_frame_t *f = &vm->frames.f[ppn];
	uint64_t i = hash(vm, f->obj, f->index), j;

	while (vm->pcache[i] != ppn + 1) {
		PM_ASSERT(vm->pcache[i]);
		i = (i + 1) & vm->pcache_mask;
	}
	/* Backward shift: move up every later entry of the run that may sit
	 * in the hole (its home is not cyclically in (i, j]). */
	for (j = (i + 1) & vm->pcache_mask; vm->pcache[j]; j = (j + 1) & vm->pcache_mask) {
		const pm_frame_t *g = &vm->frames.f[vm->pcache[j] - 1];
		uint64_t home = hash(vm, g->obj, g->index);
		if (((j - home) & vm->pcache_mask) >= ((j - i) & vm->pcache_mask)) {
			vm->pcache[i] = vm->pcache[j];
			i = j;
		}
	}
	vm->pcache[i] = 0;
	PM_DEC(vm->cached);
}

/* ---- the reverse map ---------------------------------------------------------- */

/* An anonymous page shared after a fork: the same vpn in every space
 * whose PTE there maps the frame (the owner's first). */
static unsigned anon_walk(struct pagemu *vm, uint64_t ppn, pm_rmap_fn fn, void *arg)
{
	const pm_frame_t *f = &vm->frames.f[ppn];
	uint64_t vpn = f->vpn;
	unsigned n = 1, owner = f->space;

	vm->op_space = f->space;
	fn(vm, vpn, f->pte, arg);
	for (unsigned id = 0; id < PM_SPACES_MAX && f->shares; id++) {
		if (id == owner || !vm->spaces[id].live)
			continue;
		pm_pte_t *pte = pm_pt_lookup(pm_space_pt(vm, id), vpn, NULL);
		if (!pte || !pte_present(*pte) || pte_ppn(*pte) != ppn)
			continue;
		vm->op_space = (uint16_t)id;
		fn(vm, vpn, pte, arg);
		n++;
	}
	vm->op_space = vm->cur;
	return n;
}

unsigned pm_rmap_walk(struct pagemu *vm, uint64_t ppn, pm_rmap_fn fn, void *arg)
{
	const pm_frame_t *f = &vm->frames.f[ppn];
	uint32_t obj = f->obj;
	uint64_t index = f->index;
	unsigned n = 0;

	if (!obj)
		return anon_walk(vm, ppn, fn, arg);
	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		uint64_t pages = (r->end - r->start) >> vm->page_shift;
		if (!r->live || r->obj != obj || index < r->pgoff || index - r->pgoff >= pages)
			continue;
		uint64_t vpn = pm_va_vpn(vm, r->start) + (index - r->pgoff);
		pm_pte_t *pte = pm_pt_lookup(pm_space_pt(vm, r->space), vpn, NULL);
		if (!pte || !pte_present(*pte) || pte_ppn(*pte) != ppn)
			continue;
		vm->op_space = r->space;
		fn(vm, vpn, pte, arg);
		n++;
	}
	vm->op_space = vm->cur;
	return n;
}
