/* config.c - the configuration: one struct, one defaults function, and one
 * table of settings. Each row describes a setting once: its variable, its
 * pagemu run option, its field, what it accepts and what it does. The
 * table drives the PAGEMU_* parsing (pagemu_config_from_env), the field
 * checks (pagemu_config_validate), and pagemu run's options and --help
 * (tools/pagemu.c). Numbers are parsed by lib/model's strict parser, once,
 * range-checked before they are stored, and reported as written. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#define POOL_MAX      (1ULL << 40)        /* bytes of frame pool */
#define TLB_MAX_WAYS  64                  /* ways per TLB set */
#define TLB_MAX       65536               /* entries per TLB level (every process has its own) */
#define STR_(x) #x
#define STR(x)  STR_(x)

#define FIELD(f) .field = #f, .offset = offsetof(pagemu_config_t, f), .size = sizeof(((pagemu_config_t *)0)->f)

/* In the order they apply: the page size before what is counted in pages,
 * PAGEMU_MEMORY before PAGEMU_FRAMES (which wins when both are set). */
static const pm_setting_t settings[] = {
	{ "PAGEMU_PAGE_SIZE", "--page-size", NULL, FIELD(page_size), PM_SET_PAGE, 0, 1ULL << 30,
	  "the host page x 2^k, at most 1G", "emulated page; larger ones are paged as one unit" },
	{ "PAGEMU_MEMORY", "--memory", NULL, FIELD(frames), PM_SET_MEMORY, 0, UINT32_MAX,
	  "one page to 1T", "pool size in bytes: frames = SIZE / page size" },
	{ "PAGEMU_FRAMES", "--frames", NULL, FIELD(frames), PM_SET_FRAMES, 1, UINT32_MAX,
	  "1 to 2^32-1, a pool of at most 1T", "frames in the pool (physical memory)" },
	{ "PAGEMU_SWAP_SIZE", "--swap-size", NULL, FIELD(swap_size), PM_SET_SWAP, 0, 1ULL << 40,
	  "one page to 2^40 pages", "swap capacity (a sparse file)" },
	{ "PAGEMU_SWAP_DIR", "--swap-dir", NULL, FIELD(swap_dir), PM_SET_DIR, 0, 0,
	  "a directory pagemu may create files in", "directory of the (unlinked) swap file" },
	{ "PAGEMU_SWAP", "--swap", NULL, FIELD(swap), PM_SET_URI, 0, 0,
	  "empty, or nbd://HOST[:PORT][/EXPORT][,nbd://...]; nbds://...[?tls-psk-file=F|tls-certificates=D] for TLS",
	  "swap on NBD servers (a list stripes the slots; nbds:// encrypts with TLS); empty = a local file in the swap "
	  "directory" },
	{ "PAGEMU_SWAP_TIMEOUT", "--swap-timeout", NULL, FIELD(swap_timeout_ms), PM_SET_NUM, 1, 3600000,
	  "1 to 3600000 (ms)", "an NBD swap server's connect and handshake, and each of its requests, at most: "
	  "a request unanswered this long fails the server (ms)" },
	{ "PAGEMU_SWAP_REPLICAS", "--swap-replicas", NULL, FIELD(swap_replicas), PM_SET_NUM, 1, PM_NBD_MAX_SERVERS,
	  "1 to the servers in PAGEMU_SWAP", "copies of each swap slot, on different NBD servers (a dead server fails over)" },
	{ "PAGEMU_SWAP_DELAY_US", "--swap-delay-us", NULL, FIELD(swap_delay_us), PM_SET_NUM, 0, 1000000,
	  "0 to 1000000 (us), below PAGEMU_SWAP_TIMEOUT", "latency injected into NBD reads by pagemu's client: a read completes no sooner than this after "
	  "it was queued" },
	{ "PAGEMU_SWAP_DIRECT", "--swap-direct", "1", FIELD(swap_direct), PM_SET_BOOL, 0, 1,
	  "0 or 1", "O_DIRECT swap I/O (honest device timing; not on tmpfs)" },
	{ "PAGEMU_FILE_DIRECT", "--file-direct", "1", FIELD(file_direct), PM_SET_BOOL, 0, 1,
	  "0 or 1", "O_DIRECT reads and writes of mapped files: no kernel page cache between them and the pool (a file system without O_DIRECT, such as tmpfs, is read through the page cache)" },
	{ "PAGEMU_SWAP_CHECKSUM", "--no-swap-checksum", "0", FIELD(swap_checksum), PM_SET_BOOL, 0, 1,
	  "0 or 1", "turn off the crc32c of each swap slot, checked on every swap-in (a mismatch: SIGBUS)" },
	{ "PAGEMU_POLICY", "--policy", NULL, FIELD(policy), PM_SET_POLICY, 0, 0,
	  "clock, fifo, lru or random (opt: pagemu-sim only)", "replacement policy" },
	{ "PAGEMU_READAHEAD", "--readahead", NULL, FIELD(readahead), PM_SET_NUM, 1, 64,
	  "1 to 64; 1 = none", "max pages per swap-in cluster" },
	{ "PAGEMU_RECLAIM_BATCH", "--reclaim-batch", NULL, FIELD(reclaim_batch), PM_SET_NUM, 1, 256,
	  "1 to 256", "pages pre-cleaned per write-back batch" },
	{ "PAGEMU_MAP_BUDGET", "--map-budget", NULL, FIELD(map_budget), PM_SET_AUTO, 16, INT32_MAX,
	  "0 (from vm.max_map_count) or 16 to 2^31-1", "max kernel mappings (VMAs) to use" },
	{ "PAGEMU_SEED", "--seed", NULL, FIELD(seed), PM_SET_NUM, 0, UINT64_MAX,
	  "0 to 2^64-1", "seed of the random policy" },
	{ "PAGEMU_TLB_EXACT", "--tlb-exact", "1", FIELD(tlb_exact), PM_SET_BOOL, 0, 1,
	  "0 or 1", "map only what the modeled TLB holds" },
	{ "PAGEMU_TLB", "--tlb", NULL, .field = "tlb_sets/tlb_ways", .offset = offsetof(pagemu_config_t, tlb_sets),
	  .size = sizeof(((pagemu_config_t *)0)->tlb_sets), PM_SET_TLB, 0, 0,
	  "sets a power of two, ways 1 to " STR(TLB_MAX_WAYS) ", at most " STR(TLB_MAX) " entries a level; L2 none = no L2",
	  "L1[,L2] TLB geometry, SETSxWAYS" },
	{ "PAGEMU_TLB_POLICY", "--tlb-policy", NULL, FIELD(tlb_policy), PM_SET_TLB_POLICY, 0, 0,
	  "lru, fifo, random or plru; P,P for L1,L2 (one name: both)",
	  "TLB replacement within a set (exact mode: lru, plru also fault on hits)" },
	{ "PAGEMU_FAULT_AROUND", "--fault-around", NULL, FIELD(fault_around), PM_SET_NUM, 1, PM_FAULT_AROUND_MAX,
	  "1 to 64; 1 = off", "pages mapped at once by a fault on a file page (Linux's fault-around): they count as referenced, their touches unseen" },
	{ "PAGEMU_TLB_ASID", "--tlb-asid", "1", FIELD(tlb_asid), PM_SET_BOOL, 0, 1,
	  "0 or 1", "TLB entries tagged with their address space's ASID: a space switch keeps them (else flushes the TLB)" },
	{ "PAGEMU_LOAD_CONTROL", "--load-control", "1", FIELD(load_control), PM_SET_BOOL, 0, 1,
	  "0 or 1", "suspend the address space with the largest working set while the working sets exceed the pool" },
	{ "PAGEMU_WS_TAU", "--ws-tau", NULL, FIELD(ws_tau), PM_SET_NUM, 1, 1000000,
	  "1 to 1000000 (quanta)", "working-set window: quanta (switches into a space) of its own run time" },
	{ "PAGEMU_TRACE", "--trace", NULL, FIELD(trace_path), PM_SET_FILE, 0, 0,
	  "a file pagemu may create", "write the binary fault event trace here" },
	{ "PAGEMU_VERBOSE", "--verbose", "1", FIELD(verbose), PM_SET_BOOL, 0, 1,
	  "0 or 1", "one line on stderr per instance open and close" },
	/* Read by the shim (preload/), not a field: checked here all the same. */
	{ "PAGEMU_SYSCALL_GUARD", "--no-syscall-guard", "0", NULL, 0, 0, PM_SET_BOOL, 0, 1,
	  "0 or 1", "turn off the syscall guard (pinning for system calls)" },
	{ "PAGEMU_MMAP", "--mmap", "1", NULL, 0, 0, PM_SET_BOOL, 0, 1,
	  "0 or 1", "the program's own mmap of files and anonymous memory (and munmap, msync, mremap, madvise) through pagemu" },
};

const pm_setting_t *pm_setting(size_t i)
{
	return i < PM_ARRAY_LEN(settings) ? &settings[i] : NULL;
}

const pm_setting_t *pm_setting_find(const char *name)
{
	for (size_t i = 0; i < PM_ARRAY_LEN(settings); i++)
		if (!strcmp(settings[i].option, name) || !strcmp(settings[i].env, name))
			return &settings[i];
	return NULL;
}

const char *pm_setting_arg(const pm_setting_t *s)
{
	switch (s->kind) {
	case PM_SET_BOOL:   return "";
	case PM_SET_MEMORY:
	case PM_SET_PAGE:
	case PM_SET_SWAP:   return "SIZE";
	case PM_SET_POLICY: return "P";
	case PM_SET_TLB:    return "SxW[,SxW]";
	case PM_SET_TLB_POLICY: return "P[,P]";
	case PM_SET_DIR:    return "DIR";
	case PM_SET_FILE:   return "FILE";
	case PM_SET_URI:    return "URI[,URI]";
	default:            return "N";
	}
}

/* ---- field access ---------------------------------------------------------- */

static uint64_t field_get(const pm_setting_t *s, const pagemu_config_t *cfg)
{
	const char *p = (const char *)cfg + s->offset;
	uint32_t v32;
	uint64_t v64;

	if (s->size == sizeof(v32)) {
		memcpy(&v32, p, sizeof(v32));
		return v32;
	}
	memcpy(&v64, p, sizeof(v64));
	return v64;
}

/* v was range-checked against s: it fits the field. */
static void field_set(const pm_setting_t *s, pagemu_config_t *cfg, uint64_t v)
{
	char *p = (char *)cfg + s->offset;
	uint32_t v32 = (uint32_t)v;

	if (s->size == sizeof(v32))
		memcpy(p, &v32, sizeof(v32));
	else
		memcpy(p, &v, sizeof(v));
}

static const char *tlb_policy_name(pagemu_tlb_policy_t p)
{
	return pagemu_tlb_policy_name(p) ? pagemu_tlb_policy_name(p) : "?";
}

void pm_setting_format(const pm_setting_t *s, const pagemu_config_t *cfg, char *buf, size_t len)
{
	char *end = buf + len;

	buf[0] = '\0';
	if (!s->field || !len)
		return;
	switch (s->kind) {
	case PM_SET_MEMORY:
		pm_fmt_size(buf, end, (uint64_t)cfg->frames * cfg->page_size);
		break;
	case PM_SET_PAGE:
	case PM_SET_SWAP:
		pm_fmt_size(buf, end, field_get(s, cfg));
		break;
	case PM_SET_POLICY:
		pm_fmt_str(buf, end, pagemu_policy_name(cfg->policy) ? pagemu_policy_name(cfg->policy) : "?");
		break;
	case PM_SET_TLB:
		snprintf(buf, len, cfg->tlb_sets[1] ? "%ux%u,%ux%u" : "%ux%u", cfg->tlb_sets[0], cfg->tlb_ways[0],
			 cfg->tlb_sets[1], cfg->tlb_ways[1]);
		break;
	case PM_SET_TLB_POLICY:
		snprintf(buf, len, cfg->tlb_policy[1] == cfg->tlb_policy[0] ? "%s" : "%s,%s",
			 tlb_policy_name(cfg->tlb_policy[0]), tlb_policy_name(cfg->tlb_policy[1]));
		break;
	case PM_SET_DIR:
	case PM_SET_FILE:
	case PM_SET_URI:
		pm_fmt_str(buf, end, (const char *)cfg + s->offset);
		break;
	default:
		pm_fmt_u64(buf, end, field_get(s, cfg));
		break;
	}
}

/* ---- checks ---------------------------------------------------------------- */

/* The page size sizes are counted in; a cfg with none fails its own check. */
static uint64_t page_of(const pagemu_config_t *cfg)
{
	return cfg->page_size ? cfg->page_size : 1;
}

/* 0 when v is acceptable for s with the rest of cfg, else -ERANGE. */
static int check_number(const pm_setting_t *s, const pagemu_config_t *cfg, uint64_t v)
{
	uint64_t host = pm_prim_host_page(), page = page_of(cfg);
	int ok;

	switch (s->kind) {
	case PM_SET_AUTO:   ok = v == 0 || (v >= s->lo && v <= s->hi); break;
	case PM_SET_FRAMES: ok = v >= s->lo && v <= s->hi && v <= POOL_MAX / page; break;
	case PM_SET_MEMORY: ok = v >= page && v <= POOL_MAX && v / page <= s->hi; break;
	case PM_SET_PAGE:   ok = v >= host && v <= s->hi && v % host == 0 && pm_is_pow2(v / host); break;
	case PM_SET_SWAP:   ok = v >= page && v / page <= s->hi; break;
	default:            ok = v >= s->lo && v <= s->hi; break;
	}
	return ok ? 0 : -ERANGE;
}

static int check_tlb(const unsigned sets[2], const unsigned ways[2])
{
	for (int l = 0; l < 2; l++) {
		if (l == 1 && !sets[l])
			continue;                 /* no L2 */
		if (!pm_is_pow2(sets[l]) || ways[l] < 1 || ways[l] > TLB_MAX_WAYS ||
		    (uint64_t)sets[l] * ways[l] > TLB_MAX)
			return -ERANGE;
	}
	return 0;
}

static int is_number(const pm_setting_t *s)
{
	return s->kind <= PM_SET_SWAP;
}

/* ---- messages ---------------------------------------------------------------- */

static const pm_given_t *given_of(const pm_setting_t *s, const pm_given_t *given)
{
	return given && given[s - settings].name ? &given[s - settings] : NULL;
}

/* s as the user gave it: PAGEMU_X="v", --x "v", or from cfg: x (PAGEMU_X) = v. */
static void name_of(const pm_setting_t *s, const pagemu_config_t *cfg, const pm_given_t *given, char *buf, size_t len)
{
	const pm_given_t *g = given_of(s, given);
	char v[300];

	if (g) {
		snprintf(buf, len, "%s%s\"%s\"", g->name, g->name[0] == '-' ? " " : "=", g->value);
		return;
	}
	pm_setting_format(s, cfg, v, sizeof(v));
	snprintf(buf, len, s->kind >= PM_SET_DIR ? "%s (%s) = \"%s\"" : "%s (%s) = %s",
		 s->field, s->env, v);
}

void pm_config_name(const char *env, const pagemu_config_t *cfg, const pm_given_t *given, char *buf, size_t len)
{
	const pm_setting_t *s = pm_setting_find(env);

	if (s)
		name_of(s, cfg, given, buf, len);
	else
		snprintf(buf, len, "%s", env);
}

/* Say what is wrong with s (err: -EINVAL not its syntax, -ERANGE outside
 * its limits, -ENAMETOOLONG); returns the code for the API: -EINVAL or
 * -ENAMETOOLONG. */
static int bad(const pm_setting_t *s, const pagemu_config_t *cfg, const pm_given_t *given, int err)
{
	char name[600];

	name_of(s, cfg, given, name, sizeof(name));
	if (err == -ENAMETOOLONG) {
		pm_set_error("%s: longer than %zu characters", name, s->size - 1);
		return err;
	}
	if (s->kind == PM_SET_BOOL || s->kind == PM_SET_POLICY || s->kind == PM_SET_TLB_POLICY)
		pm_set_error("%s: expected %s", name, s->limits);
	else if (s->kind == PM_SET_DIR)
		pm_set_error("%s: empty; expected %s", name, s->limits);
	else
		pm_set_error("%s: %s (%s)", name, err == -ERANGE ? "out of range"
			     : s->kind == PM_SET_TLB ? "not SETSxWAYS[,SETSxWAYS]" : "not a number", s->limits);
	return -EINVAL;
}

/* ---- applying what the user wrote ---------------------------------------------- */

static int apply(const pm_setting_t *s, pagemu_config_t *cfg, const pm_given_t *given)
{
	const char *v = given_of(s, given)->value;
	unsigned sets[2], ways[2];
	pagemu_policy_t p;
	uint64_t n;
	int err, b;

	switch (s->kind) {
	case PM_SET_BOOL:
		if (pm_parse_bool(v, &b) < 0)
			return bad(s, cfg, given, -EINVAL);
		if (s->field)
			field_set(s, cfg, (uint64_t)b);
		return 0;
	case PM_SET_POLICY:
		if (pagemu_policy_parse(v, &p) < 0 || !pm_policy_get(p))
			return bad(s, cfg, given, -EINVAL);
		field_set(s, cfg, (uint64_t)p);
		return 0;
	case PM_SET_TLB:
		if ((err = pm_parse_tlb(v, sets, ways)) == 0)
			err = check_tlb(sets, ways);
		if (err < 0)
			return bad(s, cfg, given, err);
		memcpy(cfg->tlb_sets, sets, sizeof(sets));
		memcpy(cfg->tlb_ways, ways, sizeof(ways));
		return 0;
	case PM_SET_TLB_POLICY:
		if (pm_parse_tlb_policy(v, cfg->tlb_policy) < 0)
			return bad(s, cfg, given, -EINVAL);
		return 0;
	case PM_SET_DIR:
	case PM_SET_FILE:
	case PM_SET_URI:
		if (strlen(v) >= s->size)
			return bad(s, cfg, given, -ENAMETOOLONG);
		if (s->kind == PM_SET_DIR && !*v)
			return bad(s, cfg, given, -EINVAL);
		if (s->kind == PM_SET_URI && *v) {
			char name[1200];
			name_of(s, cfg, given, name, sizeof(name));
			if ((err = pm_nbd_check_uri(v, name)) < 0)
				return err;
		}
		memcpy((char *)cfg + s->offset, v, strlen(v) + 1);
		return 0;
	default:
		if ((err = pm_parse_u64(v, &n)) == 0)
			err = check_number(s, cfg, n);
		if (err < 0)
			return bad(s, cfg, given, err);
		field_set(s, cfg, s->kind == PM_SET_MEMORY ? n / page_of(cfg) : n);
		return 0;
	}
}

int pm_config_apply(pagemu_config_t *cfg, const pm_given_t *given)
{
	int rc;

	pm_clear_error();
	for (size_t i = 0; i < PM_ARRAY_LEN(settings); i++)
		if (given[i].name && (rc = apply(&settings[i], cfg, given)) < 0)
			return rc;
	return 0;
}

int pagemu_config_from_env(pagemu_config_t *cfg)
{
	pm_given_t given[PM_ARRAY_LEN(settings)] = { { 0 } };

	/* The shim's own variables are the shim's to read. */
	for (size_t i = 0; i < PM_ARRAY_LEN(settings); i++)
		if (settings[i].field && (given[i].value = getenv(settings[i].env)))
			given[i].name = settings[i].env;
	return pm_config_apply(cfg, given);
}

int pm_config_env_bool(const char *var, int *on)
{
	const char *v = getenv(var);

	if (v && pm_parse_bool(v, on) < 0) {
		pm_set_error("%s=\"%s\": expected 0 or 1", var, v);
		return -EINVAL;
	}
	return 0;
}

int pm_config_trace_per_process(pagemu_config_t *cfg)
{
	size_t n = strlen(cfg->trace_path);

	if (!n || strstr(cfg->trace_path, "%p"))
		return 0;
	if (n + sizeof(".%p") > sizeof(cfg->trace_path)) {
		pm_set_error("trace_path (PAGEMU_TRACE) = \"%s\": too long for the \".%%p\" of one file per process",
			     cfg->trace_path);
		return -ENAMETOOLONG;
	}
	memcpy(cfg->trace_path + n, ".%p", sizeof(".%p"));
	return 0;
}

/* ---- checking a whole configuration ------------------------------------------------ */

void pagemu_config_default(pagemu_config_t *cfg)
{
	const char *tmp = getenv("TMPDIR");

	memset(cfg, 0, sizeof(*cfg));
	cfg->frames = 16384;
	cfg->page_size = pm_prim_host_page();
	cfg->swap_size = 4ULL << 30;
	snprintf(cfg->swap_dir, sizeof(cfg->swap_dir), "%s", tmp && *tmp ? tmp : "/tmp");
	cfg->swap_direct = 0;
	cfg->swap_checksum = 1;
	cfg->swap_timeout_ms = 5000;
	cfg->swap_replicas = 1;
	cfg->swap_delay_us = 0;
	cfg->policy = PAGEMU_POLICY_CLOCK;
	cfg->readahead = 32;
	cfg->reclaim_batch = 32;
	cfg->map_budget = 0;
	cfg->seed = 1;
	cfg->tlb_exact = 0;
	cfg->tlb_sets[0] = 16;  cfg->tlb_ways[0] = 4;    /* 64 entries, 4-way */
	cfg->tlb_sets[1] = 128; cfg->tlb_ways[1] = 12;   /* 1536 entries, 12-way */
	cfg->tlb_policy[0] = cfg->tlb_policy[1] = PAGEMU_TLB_LRU;
	cfg->tlb_asid = 0;
	cfg->load_control = 0;
	cfg->ws_tau = 1;
	cfg->fault_around = 1;
}

/* The fields of cfg, each against its row (the shim's settings have none). */
static int check_fields(const pagemu_config_t *cfg, const pm_given_t *given)
{
	pm_clear_error();
	for (size_t i = 0; i < PM_ARRAY_LEN(settings); i++) {
		const pm_setting_t *s = &settings[i];
		char name[600];
		int err;
		if (!s->field || s->kind == PM_SET_MEMORY)      /* MEMORY: the frames row checks */
			continue;
		if (is_number(s) && check_number(s, cfg, field_get(s, cfg)) < 0)
			return bad(s, cfg, given, -ERANGE);
		if (s->kind == PM_SET_POLICY &&
		    ((unsigned)cfg->policy >= PAGEMU_POLICY_COUNT || !pm_policy_get(cfg->policy)))
			return bad(s, cfg, given, -EINVAL);
		if (s->kind == PM_SET_TLB && check_tlb(cfg->tlb_sets, cfg->tlb_ways) < 0)
			return bad(s, cfg, given, -ERANGE);
		if (s->kind == PM_SET_TLB_POLICY && ((unsigned)cfg->tlb_policy[0] >= PAGEMU_TLB_POLICY_COUNT ||
						     (unsigned)cfg->tlb_policy[1] >= PAGEMU_TLB_POLICY_COUNT))
			return bad(s, cfg, given, -EINVAL);
		if (s->kind == PM_SET_DIR && !cfg->swap_dir[0])
			return bad(s, cfg, given, -EINVAL);
		if (s->kind == PM_SET_URI && cfg->swap[0]) {
			char uris[1200];
			if (!memchr(cfg->swap, '\0', sizeof(cfg->swap)))
				return bad(s, cfg, given, -ENAMETOOLONG);
			name_of(s, cfg, given, uris, sizeof(uris));
			if ((err = pm_nbd_check_uri(cfg->swap, uris)) < 0)
				return err;
		}
		if (s->kind == PM_SET_DIR && (err = pm_prim_check_dir(cfg->swap_dir)) < 0) {
			name_of(s, cfg, given, name, sizeof(name));
			pm_set_error("%s: %s", name, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Settings that hold only with swap on NBD servers: replicas need that
 * many servers (a copy of a slot per server), the injected delay an NBD
 * client to inject it. */
static int check_remote(const pagemu_config_t *cfg, const pm_given_t *given)
{
	char name[600], swap[1200];
	int servers = cfg->swap[0] ? pm_nbd_check_uri(cfg->swap, "PAGEMU_SWAP") : 0;

	if (servers < 0)
		return servers;                   /* check_fields said so */
	pm_config_name("PAGEMU_SWAP", cfg, given, swap, sizeof(swap));
	if (cfg->swap_replicas > 1 && cfg->swap_replicas > (unsigned)servers) {
		pm_config_name("PAGEMU_SWAP_REPLICAS", cfg, given, name, sizeof(name));
		pm_set_error("%s: more copies than swap servers (%d in %s); each copy of a slot lives on a "
			     "different NBD server", name, servers, servers ? swap : "PAGEMU_SWAP, which is empty");
		return -EINVAL;
	}
	if (cfg->swap_delay_us && !servers) {
		pm_config_name("PAGEMU_SWAP_DELAY_US", cfg, given, name, sizeof(name));
		pm_set_error("%s: an injected latency needs swap on NBD servers (PAGEMU_SWAP=nbd://...); "
			     "the local swap file has none", name);
		return -EINVAL;
	}
	if ((uint64_t)cfg->swap_delay_us >= (uint64_t)cfg->swap_timeout_ms * 1000) {
		/* A read held that long would fail its server. */
		pm_config_name("PAGEMU_SWAP_DELAY_US", cfg, given, name, sizeof(name));
		pm_set_error("%s: not below the request timeout, swap_timeout_ms (PAGEMU_SWAP_TIMEOUT) = %u ms", name,
			     cfg->swap_timeout_ms);
		return -EINVAL;
	}
	return 0;
}

int pagemu_config_validate(const pagemu_config_t *cfg)
{
	int rc = check_fields(cfg, NULL);

	return rc < 0 ? rc : check_remote(cfg, NULL);
}

int pm_config_check_memory(const pagemu_config_t *cfg, const pm_given_t *given)
{
	uint64_t want = (uint64_t)cfg->frames * cfg->page_size, cgroup, avail = pm_prim_mem_available(&cgroup);
	char name[600];

	if (want <= avail)
		return 0;
	pm_config_name(given ? "PAGEMU_MEMORY" : "PAGEMU_FRAMES", cfg, given, name, sizeof(name));
	pm_set_error("%s: a pool of %llu MiB is more than the memory available (%llu MiB, %s); lower PAGEMU_MEMORY "
		     "(or PAGEMU_FRAMES)", name, (unsigned long long)(want >> 20), (unsigned long long)(avail >> 20),
		     avail == cgroup ? "the room left under this process's cgroup memory limit" : "MemAvailable");
	return -ENOMEM;
}

int pm_config_check_run(const pagemu_config_t *cfg, const pm_given_t *given)
{
	PM_UNUSED(given);
	if (cfg->frames >= PM_RUN_MIN_FRAMES)
		return 0;
	pm_set_error("--frames / --memory (PAGEMU_FRAMES / PAGEMU_MEMORY): %zu frames; pagemu run needs at least %d "
		     "(the shim keeps the program's I/O buffers and libc's blocks pinned, and an instruction's pages "
		     "must be resident together)", cfg->frames, PM_RUN_MIN_FRAMES);
	return -EINVAL;
}

int pm_config_check(const pagemu_config_t *cfg, const pm_given_t *given)
{
	char dir[600], size[600], trace[600];
	int rc;

	if ((rc = check_fields(cfg, given)) < 0 || (rc = check_remote(cfg, given)) < 0 ||
	    (rc = pm_config_check_memory(cfg, given)) < 0)
		return rc;
	pm_config_name("PAGEMU_SWAP_DIR", cfg, given, dir, sizeof(dir));
	pm_config_name("PAGEMU_SWAP_SIZE", cfg, given, size, sizeof(size));
	if (cfg->swap[0]) {
		char swap[1200];
		pm_config_name("PAGEMU_SWAP", cfg, given, swap, sizeof(swap));
		rc = pm_nbd_probe(cfg, swap);
	} else {
		rc = pm_swapio_probe(cfg, dir, size);
	}
	if (rc < 0)
		return rc;
	if ((rc = pm_tracefile_probe(cfg)) < 0) {
		pm_config_name("PAGEMU_TRACE", cfg, given, trace, sizeof(trace));
		pm_set_error("%s: %s", trace, strerror(-rc));
		return rc;
	}
	return 0;
}

const char *pagemu_strerror(int err)
{
	switch (-err) {
	case 0:          return "success";
	case EOPNOTSUPP: return "not supported by pagemu (yet): only anonymous private mappings";
	default:         return strerror(err < 0 ? -err : err);
	}
}
