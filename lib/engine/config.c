/* config.c - the configuration: one struct, one defaults function, the
 * PAGEMU_* overrides applied in one place, validation naming the field. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

const char *pagemu_strerror(int err)
{
	switch (-err) {
	case 0:          return "success";
	case ENOSPC:     return "swap full: raise PAGEMU_SWAP_SIZE (cfg.swap_size)";
	case EOPNOTSUPP: return "not supported by pagemu (yet): only anonymous private mappings";
	default:         return strerror(err < 0 ? -err : err);
	}
}

void pagemu_config_default(pagemu_config_t *cfg)
{
	const char *tmp = getenv("TMPDIR");

	memset(cfg, 0, sizeof(*cfg));
	cfg->frames = 16384;
	cfg->page_size = pm_prim_host_page();
	cfg->swap_size = 4ULL << 30;
	snprintf(cfg->swap_dir, sizeof(cfg->swap_dir), "%s", tmp && *tmp ? tmp : "/tmp");
	cfg->swap_direct = 0;
	cfg->policy = PAGEMU_POLICY_CLOCK;
	cfg->readahead = 32;
	cfg->reclaim_batch = 32;
	cfg->map_budget = 0;
	cfg->seed = 1;
	cfg->tlb_exact = 0;
	cfg->tlb_sets[0] = 16;  cfg->tlb_ways[0] = 4;    /* 64 entries, 4-way */
	cfg->tlb_sets[1] = 128; cfg->tlb_ways[1] = 12;   /* 1536 entries, 12-way */
}

/* "64M" -> 67108864. Accepts K, M, G, T (powers of 1024), optional "iB"/"B". */
int pm_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end || (shift && v > (~0ULL >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int env_size(const char *name, uint64_t *out)
{
	const char *s = getenv(name);

	if (!s)
		return 0;
	if (pm_parse_size(s, out) < 0) {
		pm_set_error("%s=\"%s\": not a size (a number with an optional K, M, G or T suffix)", name, s);
		return -EINVAL;
	}
	return 0;
}

static int env_bool(const char *name, int *out)
{
	const char *s = getenv(name);

	if (!s)
		return 0;
	if (!strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "true"))
		*out = 1;
	else if (!strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "false") || !*s)
		*out = 0;
	else {
		pm_set_error("%s=\"%s\": expected 0 or 1", name, s);
		return -EINVAL;
	}
	return 0;
}

static int env_string(const char *name, char *dst, size_t cap)
{
	const char *s = getenv(name);

	if (!s)
		return 0;
	if (strlen(s) >= cap) {
		pm_set_error("%s: longer than %zu characters", name, cap - 1);
		return -ENAMETOOLONG;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* "16x4" or "16x4,128x12"; a second level of "0" or "none" turns it off. */
static int parse_tlb(const char *s, unsigned sets[2], unsigned ways[2])
{
	unsigned s0, w0, s1 = 0, w1 = 0;
	int n, used = 0;

	if (sscanf(s, "%ux%u%n", &s0, &w0, &used) != 2)
		return -EINVAL;
	s += used;
	if (*s == ',') {
		s++;
		if (!strcmp(s, "0") || !strcmp(s, "none"))
			s += strlen(s);
		else if (sscanf(s, "%ux%u%n", &s1, &w1, &n) == 2)
			s += n;
		else
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	sets[0] = s0; ways[0] = w0; sets[1] = s1; ways[1] = w1;
	return 0;
}

int pagemu_config_from_env(pagemu_config_t *cfg)
{
	uint64_t v;
	int rc, b;
	const char *s;

	pm_clear_error();
	if ((s = getenv("PAGEMU_MEMORY"))) {        /* a convenience: frames from bytes */
		if (pm_parse_size(s, &v) < 0 || v < cfg->page_size) {
			pm_set_error("PAGEMU_MEMORY=\"%s\": expected a size of at least one page", s);
			return -EINVAL;
		}
		cfg->frames = v / cfg->page_size;
	}
#define SIZE_FIELD(var, field)                                       \
	v = (uint64_t)cfg->field;                                    \
	if ((rc = env_size(var, &v)) < 0)                            \
		return rc;                                           \
	cfg->field = (__typeof__(cfg->field))v;
	SIZE_FIELD("PAGEMU_FRAMES", frames)
	SIZE_FIELD("PAGEMU_PAGE_SIZE", page_size)
	SIZE_FIELD("PAGEMU_SWAP_SIZE", swap_size)
	SIZE_FIELD("PAGEMU_READAHEAD", readahead)
	SIZE_FIELD("PAGEMU_RECLAIM_BATCH", reclaim_batch)
	SIZE_FIELD("PAGEMU_MAP_BUDGET", map_budget)
	SIZE_FIELD("PAGEMU_SEED", seed)
#undef SIZE_FIELD
	if ((rc = env_string("PAGEMU_SWAP_DIR", cfg->swap_dir, sizeof(cfg->swap_dir))) < 0 ||
	    (rc = env_string("PAGEMU_TRACE", cfg->trace_path, sizeof(cfg->trace_path))) < 0)
		return rc;
	b = cfg->swap_direct;
	if ((rc = env_bool("PAGEMU_SWAP_DIRECT", &b)) < 0)
		return rc;
	cfg->swap_direct = b;
	b = cfg->tlb_exact;
	if ((rc = env_bool("PAGEMU_TLB_EXACT", &b)) < 0)
		return rc;
	cfg->tlb_exact = b;
	b = cfg->verbose;
	if ((rc = env_bool("PAGEMU_VERBOSE", &b)) < 0)
		return rc;
	cfg->verbose = b;
	if ((s = getenv("PAGEMU_POLICY")) && pagemu_policy_parse(s, &cfg->policy) < 0) {
		pm_set_error("PAGEMU_POLICY=\"%s\": expected clock, fifo, lru or random", s);
		return -EINVAL;
	}
	if ((s = getenv("PAGEMU_TLB")) && parse_tlb(s, cfg->tlb_sets, cfg->tlb_ways) < 0) {
		pm_set_error("PAGEMU_TLB=\"%s\": expected SETSxWAYS[,SETSxWAYS], e.g. 16x4,128x12", s);
		return -EINVAL;
	}
	return 0;
}

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

int pagemu_config_validate(const pagemu_config_t *cfg)
{
	size_t host = pm_prim_host_page();

	pm_clear_error();
	if (cfg->frames < 1 || cfg->frames > (1ULL << 32) - 1) {
		pm_set_error("frames (PAGEMU_FRAMES) = %zu: must be from 1 to 2^32-1", cfg->frames);
		return -EINVAL;
	}
	if (cfg->page_size < host || cfg->page_size % host || !is_pow2(cfg->page_size / host) ||
	    cfg->page_size > (1UL << 30)) {
		pm_set_error("page_size (PAGEMU_PAGE_SIZE) = %zu: must be the host page (%zu) times a power of two, at most 1G",
			     cfg->page_size, host);
		return -EINVAL;
	}
	if (cfg->frames > SIZE_MAX / cfg->page_size || cfg->frames * cfg->page_size > (1ULL << 40)) {
		pm_set_error("frames x page_size (PAGEMU_FRAMES x PAGEMU_PAGE_SIZE): the pool is larger than 1 TiB");
		return -EINVAL;
	}
	if (cfg->swap_size < cfg->page_size || cfg->swap_size / cfg->page_size > (1ULL << 40)) {
		pm_set_error("swap_size (PAGEMU_SWAP_SIZE) = %llu: must be at least one page (%zu) and at most 2^40 pages",
			     (unsigned long long)cfg->swap_size, cfg->page_size);
		return -EINVAL;
	}
	if ((unsigned)cfg->policy >= PAGEMU_POLICY_COUNT || !pm_policy_get(cfg->policy)) {
		pm_set_error("policy (PAGEMU_POLICY) = %d: the engine takes clock, fifo, lru or random (opt needs a trace: pagemu-sim)",
			     (int)cfg->policy);
		return -EINVAL;
	}
	if (cfg->readahead < 1 || cfg->readahead > 64) {
		pm_set_error("readahead (PAGEMU_READAHEAD) = %u: must be from 1 (off) to 64 pages", cfg->readahead);
		return -EINVAL;
	}
	if (cfg->reclaim_batch < 1 || cfg->reclaim_batch > 256) {
		pm_set_error("reclaim_batch (PAGEMU_RECLAIM_BATCH) = %u: must be from 1 to 256", cfg->reclaim_batch);
		return -EINVAL;
	}
	if (cfg->map_budget && cfg->map_budget < 16) {
		pm_set_error("map_budget (PAGEMU_MAP_BUDGET) = %zu: must be 0 (automatic) or at least 16", cfg->map_budget);
		return -EINVAL;
	}
	for (int l = 0; l < 2; l++) {
		if ((l == 0 || cfg->tlb_sets[l]) && (!is_pow2(cfg->tlb_sets[l]) || cfg->tlb_ways[l] < 1 || cfg->tlb_ways[l] > 64)) {
			pm_set_error("tlb_sets/tlb_ways (PAGEMU_TLB) level %d = %ux%u: sets must be a power of two, ways 1 to 64",
				     l + 1, cfg->tlb_sets[l], cfg->tlb_ways[l]);
			return -EINVAL;
		}
	}
	if (!cfg->swap_dir[0]) {
		pm_set_error("swap_dir (PAGEMU_SWAP_DIR): empty");
		return -EINVAL;
	}
	if (access(cfg->swap_dir, W_OK | X_OK) < 0) {
		int err = errno;
		pm_set_error("swap_dir (PAGEMU_SWAP_DIR) = \"%s\": %s", cfg->swap_dir, strerror(err));
		return -err;
	}
	return 0;
}
