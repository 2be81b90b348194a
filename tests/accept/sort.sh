#!/bin/sh
# sort.sh - GNU sort (coreutils) -S 200M --parallel=1 on a generated file
# of ~100 MB (deterministic: awk with the MINSTD generator), natively and
# under pagemu run with a pool of a quarter of sort's native peak RSS; the
# outputs' sha256 must be equal.
#
#   sh tests/accept/sort.sh [MBYTES]     (default 100; ACCEPT_SORT_MB)
set -u
. "$(dirname "$0")/common.sh"

MB=${1:-${ACCEPT_SORT_MB:-100}}
export LC_ALL=C
need_pkgs sort awk sha256sum /usr/bin/time -- coreutils mawk time
mk_work
# MINSTD (x * 48271 mod 2^31-1): products < 2^47, exact in awk's doubles.
awk -v bytes=$((MB * 1000000)) 'BEGIN {
	x = 12345; n = 0
	while (n < bytes) {
		x = (x * 48271) % 2147483647; y = (x * 48271) % 2147483647; x = y
		l = sprintf("%010d %s%d\n", x % 1000000007, substr("abcdefghijklmnopqrstuvwxyz", x % 26 + 1, y % 20 + 1), y)
		printf "%s", l; n += length(l)
	}
}' > "$WORK/in.txt" || fail "generator failed"
say "input: $(wc -c < "$WORK/in.txt") bytes, $(wc -l < "$WORK/in.txt") lines"

t0=$(now)
hn=$(sort -S 200M --parallel=1 "$WORK/in.txt" | sha256sum) || fail "native sort failed"
t1=$(now)
kb=$(peak_kb sort -S 200M --parallel=1 "$WORK/in.txt")
mem=$(pool_for "$kb")
t2=$(now)
under_pagemu "$mem" "$WORK/report.json" sort -S 200M --parallel=1 "$WORK/in.txt" 2>"$WORK/err" > "$WORK/out"
st=$?
t3=$(now)
hp=$(sha256sum < "$WORK/out")
ev=$(report_sum "$WORK/report.json" evictions)
maj=$(report_sum "$WORK/report.json" faults_major)
info="native peak ${kb} KiB, pool $mem, $ev evictions, $maj major faults; native $(elapsed "$t0" "$t1") s, pagemu $(elapsed "$t2" "$t3") s"
if ! paged "$WORK/report.json"; then
	say "DID NOT PAGE (no report with faults and evictions): exit $st; $info"
	tail -n 5 "$WORK/err"
	exit 1
fi
if [ $st = 0 ] && [ "$hn" = "$hp" ]; then
	say "same sha256 ${hp%% *}; $info"
	echo "$NAME: PASS"
	exit 0
fi
say "DIFFERS: exit $st; native ${hn%% *}, pagemu ${hp%% *}; $info"
tail -n 5 "$WORK/err"
exit 1
