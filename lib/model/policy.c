/* policy.c - the registry of replacement policies (model). */
#include <errno.h>

#include "model/model.h"

extern const pm_policy_ops_t pm_policy_clock;
extern const pm_policy_ops_t pm_policy_fifo;
extern const pm_policy_ops_t pm_policy_lru;
extern const pm_policy_ops_t pm_policy_random;

static const char *const names[PAGEMU_POLICY_COUNT] = {
	[PAGEMU_POLICY_CLOCK] = "clock",
	[PAGEMU_POLICY_FIFO] = "fifo",
	[PAGEMU_POLICY_LRU] = "lru",
	[PAGEMU_POLICY_RANDOM] = "random",
	[PAGEMU_POLICY_OPT] = "opt",
};

const char *pagemu_policy_name(pagemu_policy_t p)
{
	return (unsigned)p < PAGEMU_POLICY_COUNT ? names[p] : NULL;
}

int pagemu_policy_parse(const char *name, pagemu_policy_t *out)
{
	int i = pm_parse_name(name, names, PAGEMU_POLICY_COUNT);

	if (i < 0)
		return i;
	*out = (pagemu_policy_t)i;
	return 0;
}

const pm_policy_ops_t *pm_policy_get(pagemu_policy_t id)
{
	switch (id) {
	case PAGEMU_POLICY_CLOCK:  return &pm_policy_clock;
	case PAGEMU_POLICY_FIFO:   return &pm_policy_fifo;
	case PAGEMU_POLICY_LRU:    return &pm_policy_lru;
	case PAGEMU_POLICY_RANDOM: return &pm_policy_random;
	default:                   return NULL;    /* OPT needs the future: trace only */
	}
}
