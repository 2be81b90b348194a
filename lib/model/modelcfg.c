/* modelcfg.c - the standalone model's configuration: defaults and the
 * checks pagemu_model_new makes, each naming the offending field in
 * pagemu_last_error() (model; no system calls). */
#include <errno.h>
#include <string.h>

#include "model/model.h"

void pagemu_model_config_default(pagemu_model_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->va_bits = 48;
	cfg->pa_bits = 52;
	cfg->page_bits = 12;
	cfg->pt_levels = 4;
	cfg->tlb_sets = 16;
	cfg->tlb_ways = 4;
	cfg->tlb2_sets = 128;
	cfg->tlb2_ways = 12;
	cfg->policy = PAGEMU_POLICY_CLOCK;
	cfg->frames = 0;
	cfg->seed = 1;
}

/* ---- configuration ---------------------------------------------------- */

static int bad(const char *field, const char *why)
{
	pm_set_error("model %s: %s", field, why);
	return -EINVAL;
}

/* One TLB level: sets a power of two (0 = absent), ways >= 1, a bounded
 * number of entries (the model allocates them all). */
static int check_tlb_level(const char *field, unsigned sets, unsigned ways, pagemu_tlb_policy_t policy)
{
	if (!sets)
		return 0;
	if (!pm_is_pow2(sets))
		return bad(field, "sets must be a power of two");
	if (ways == 0)
		return bad(field, "ways must be at least 1");
	if (policy == PAGEMU_TLB_PLRU && ways > PM_TLB_PLRU_MAX_WAYS) {
		pm_set_error("model %s: plru takes at most %u ways, not %u", field, PM_TLB_PLRU_MAX_WAYS, ways);
		return -EINVAL;
	}
	if ((uint64_t)sets * ways > PM_MODEL_TLB_MAX) {
		pm_set_error("model %s: %u x %u entries: at most %u per level", field, sets, ways, PM_MODEL_TLB_MAX);
		return -EINVAL;
	}
	return 0;
}

int pm_model_check_tlb(const pagemu_model_config_t *c)
{
	int err;

	if ((err = check_tlb_level("tlb_sets", c->tlb_sets, c->tlb_ways, c->tlb_policy)) < 0 ||
	    (err = check_tlb_level("tlb2_sets", c->tlb2_sets, c->tlb2_ways, c->tlb2_policy)) < 0)
		return err;
	if (c->tlb2_sets && !c->tlb_sets)
		return bad("tlb2_sets", "an L2 TLB needs an L1 TLB (tlb_sets > 0)");
	return 0;
}

int pm_model_check_cache(const pagemu_model_config_t *c)
{
	uint64_t lines = (uint64_t)c->cache_sets * c->cache_ways;

	if (!c->cache_line)
		return 0;
	if (!pm_is_pow2(c->cache_line))
		return bad("cache_line", "must be a power of two (0 = no cache)");
	if (!c->cache_sets || !c->cache_ways)
		return bad("cache_sets", "a cache needs sets and ways (or cache_line 0)");
	if (!pm_is_pow2(c->cache_sets))
		return bad("cache_sets", "sets must be a power of two");
	if (lines > PM_MODEL_CACHE_MAX_LINES || lines * c->cache_line > PM_MODEL_CACHE_MAX_BYTES) {
		pm_set_error("model cache_sets x cache_ways x cache_line = %u x %u x %u: at most %u lines and %u bytes",
			     c->cache_sets, c->cache_ways, c->cache_line, PM_MODEL_CACHE_MAX_LINES, PM_MODEL_CACHE_MAX_BYTES);
		return -EINVAL;
	}
	return 0;
}

int pm_model_validate(const pagemu_model_config_t *c, pm_pt_geom_t *g)
{
	unsigned vpn_bits;
	int err;

	if (c->va_bits < 2 || c->va_bits > 64)
		return bad("va_bits", "must be 2..64");
	if (c->page_bits < 1 || c->page_bits >= c->va_bits || c->page_bits > 30)
		return bad("page_bits", "must be 1..30 and less than va_bits");
	if (c->pa_bits <= c->page_bits || c->pa_bits > 64)
		return bad("pa_bits", "must exceed page_bits and be at most 64");
	vpn_bits = c->va_bits - c->page_bits;
	if (vpn_bits > 52)
		return bad("va_bits", "va_bits - page_bits must be at most 52");
	if (c->pt_levels < 1 || c->pt_levels > PAGEMU_MAX_LEVELS)
		return bad("pt_levels", "must be 1..8");
	if (pm_pt_geom_init(g, vpn_bits, c->pt_levels, c->pt_bits) < 0)
		return bad("pt_bits", "levels must have 1..20 bits each and sum to va_bits - page_bits");
	if ((err = pm_model_check_tlb(c)) < 0 || (err = pm_model_check_cache(c)) < 0)
		return err;
	if ((unsigned)c->tlb_policy >= PAGEMU_TLB_POLICY_COUNT)
		return bad("tlb_policy", "unknown TLB policy");
	if ((unsigned)c->tlb2_policy >= PAGEMU_TLB_POLICY_COUNT)
		return bad("tlb2_policy", "unknown TLB policy");
	if ((unsigned)c->policy >= PAGEMU_POLICY_COUNT)
		return bad("policy", "unknown policy");
	if (c->frames && !pm_policy_get(c->policy))
		return bad("policy", "opt needs the whole trace: use pagemu-sim --policy opt");
	if (c->frames >= UINT32_MAX)
		return bad("frames", "must be less than 2^32");
	if (c->pa_bits - c->page_bits < 64 && c->frames > 1ULL << (c->pa_bits - c->page_bits))
		return bad("frames", "more frames than pa_bits can address");
	return 0;
}
