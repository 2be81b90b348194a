/* stats.c - the JSON writer and the printer, generated from the one list
 * of counters in pagemu.h (PAGEMU_STATS_LIST). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "engine/engine.h"

int pm_stats_json_object(const pagemu_stats_t *s, FILE *f)
{
	int n = 0;

	fputc('{', f);
#define X(name, kind, desc) PM_JSON_MEMBER(f, &n, #name, s->name);
	PAGEMU_STATS_LIST(X)
#undef X
	if (s->nservers) {
		fputs(",\"servers\":[", f);
		for (unsigned i = 0; i < s->nservers && i < PAGEMU_MAX_SERVERS; i++) {
			const pagemu_server_stats_t *v = &s->servers[i];
			int m = 1;
			fprintf(f, "%s{\"server\":", i ? "," : "");
			pm_json_string(f, v->server);
#define X(name, desc) PM_JSON_MEMBER(f, &m, #name, v->name);
			PAGEMU_SERVER_STATS_LIST(X)
#undef X
			fputc('}', f);
		}
		fputc(']', f);
	}
	fputc('}', f);
	return ferror(f) ? -EIO : 0;
}

int pagemu_stats_write_json(const pagemu_stats_t *s, FILE *f)
{
	pm_stats_json_object(s, f);
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

int pagemu_stats_write_text(const pagemu_stats_t *s, FILE *f)
{
#define X(name, kind, desc) fprintf(f, "  %-16s %14" PRIu64 "  %s\n", #name, s->name, desc);
	PAGEMU_STATS_LIST(X)
#undef X
	for (unsigned i = 0; i < s->nservers && i < PAGEMU_MAX_SERVERS; i++) {
		const pagemu_server_stats_t *v = &s->servers[i];
		fprintf(f, "  server %s\n", v->server);
#define X(name, desc) fprintf(f, "    %-14s %14" PRIu64 "  %s\n", #name, v->name, desc);
		PAGEMU_SERVER_STATS_LIST(X)
#undef X
	}
	return ferror(f) ? -EIO : 0;
}

int pagemu_stats_json(pagemu_t *vm, FILE *f)
{
	pagemu_stats_t s;

	pagemu_get_stats(vm, &s);
	return pagemu_stats_write_json(&s, f);
}

int pagemu_stats_print(pagemu_t *vm, FILE *f)
{
	pagemu_stats_t s;

	pagemu_get_stats(vm, &s);
	return pagemu_stats_write_text(&s, f);
}
