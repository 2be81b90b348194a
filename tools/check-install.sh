#!/bin/sh
# check-install.sh - what `make install` puts in a prefix works from there:
# pagemu.pc names that prefix and the header's version, a program builds
# against it with pkg-config and runs, and the installed `pagemu run` finds
# its shim and runs a program over emulated paging.
# usage (from the top directory, after make): MAKE=make CC=cc B=build sh tools/check-install.sh
set -eu
B=${B:-build}
CC=${CC:-cc}
MAKE=${MAKE:-make}
tmp=$(mktemp -d /tmp/pagemu-install-XXXXXX)
prefix=$tmp/prefix
# The build's own pagemu.pc goes back to the prefix it was made for.
built_for=$(cat "$B/.prefix" 2>/dev/null || echo /usr/local)
trap '$MAKE --no-print-directory -s B="$B" PREFIX="$built_for" "$B/pagemu.pc" >/dev/null; rm -rf "$tmp"' EXIT

fail() { echo "check-install: $*" >&2; exit 1; }

$MAKE --no-print-directory -s install B="$B" PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --variable=prefix pagemu)" = "$prefix" ] ||
	fail "pagemu.pc: prefix is $(pkg-config --variable=prefix pagemu), not $prefix"
version=$(sed -n 's/^#define PAGEMU_VERSION "\(.*\)"/\1/p' include/pagemu.h)
[ "$(pkg-config --modversion pagemu)" = "$version" ] ||
	fail "pagemu.pc: version $(pkg-config --modversion pagemu), the header says $version"

cat > "$tmp/touch.c" <<'PROG'
#define _DEFAULT_SOURCE                   /* MAP_ANONYMOUS */
#include <pagemu.h>
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
	pagemu_config_t cfg;
	pagemu_stats_t s;
	pagemu_t *vm;
	char *p;

	pagemu_config_default(&cfg);
	cfg.frames = 4;
	if (pagemu_open(&cfg, &vm) < 0) {
		fprintf(stderr, "%s\n", pagemu_last_error());
		return 1;
	}
	p = pagemu_map(vm, 64 * pagemu_page_size(vm), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; p && i < 64; i++)
		p[(size_t)i * pagemu_page_size(vm)] = (char)i;
	for (int i = 0; p && i < 64; i++)
		if (p[(size_t)i * pagemu_page_size(vm)] != (char)i)
			return 1;
	pagemu_get_stats(vm, &s);
	pagemu_close(vm);
	printf("%s %llu\n", PAGEMU_VERSION, (unsigned long long)s.evictions);
	return !p || s.evictions < 60;
}
PROG
# shellcheck disable=SC2046
$CC -std=c11 -Wall -o "$tmp/touch" "$tmp/touch.c" $(pkg-config --cflags --libs pagemu) ||
	fail "cannot build a program with pkg-config --cflags --libs pagemu"
out=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/touch") || fail "the program built against the prefix failed"
[ "${out%% *}" = "$version" ] || fail "the program says version ${out%% *}"

printf '3\n1\n2\n' > "$tmp/in"
"$prefix/bin/pagemu" run --frames 64 --report "$tmp/report.json" -- sort "$tmp/in" > "$tmp/out" ||
	fail "the installed pagemu run failed"
printf '1\n2\n3\n' | cmp -s - "$tmp/out" || fail "sort under the installed pagemu run: wrong output"
grep -q '"faults_zero":[1-9]' "$tmp/report.json" || fail "the installed pagemu run: no emulated paging (no report)"
"$prefix/bin/pagemu-sim" --refs 1,2,3,1 --frames 2 --json | grep -q '"faults":4,' ||
	fail "the installed pagemu-sim"
echo "check-install: ok (pkg-config, a program linked against $version, pagemu run, pagemu-sim)"
