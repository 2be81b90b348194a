#!/bin/sh
# jq.sh - jq grouping a generated JSON array of ~30 MB (deterministic: awk
# with the MINSTD generator), natively and under pagemu run with a pool of
# a quarter of jq's native peak RSS; the outputs must be identical.
#
#   sh tests/accept/jq.sh [MBYTES]     (default 30; ACCEPT_JQ_MB)
set -u
. "$(dirname "$0")/common.sh"

MB=${1:-${ACCEPT_JQ_MB:-30}}
FILTER='group_by(.k) | map({k: .[0].k, n: length, s: (map(.v) | add)})'
need_pkgs jq awk /usr/bin/time -- jq mawk time
mk_work
awk -v bytes=$((MB * 1000000)) 'BEGIN {
	x = 12345; n = 0; i = 0; printf "["
	while (n < bytes) {
		x = (x * 48271) % 2147483647; y = (x * 48271) % 2147483647; x = y
		s = sprintf("%s{\"k\":\"k%d\",\"v\":%d,\"t\":\"%s\"}", i++ ? "," : "", x % 5000, y % 1000,
			    substr("abcdefghijklmnopqrstuvwxyz", x % 26 + 1, y % 7 + 1))
		printf "%s", s; n += length(s)
	}
	print "]"
}' > "$WORK/in.json" || fail "generator failed"
say "input: $(wc -c < "$WORK/in.json") bytes; filter: $FILTER"

t0=$(now)
jq -c "$FILTER" "$WORK/in.json" > "$WORK/native" || fail "native jq failed"
t1=$(now)
kb=$(peak_kb jq -c "$FILTER" "$WORK/in.json")
mem=$(pool_for "$kb")
t2=$(now)
under_pagemu "$mem" "$WORK/report.json" jq -c "$FILTER" "$WORK/in.json" > "$WORK/out" 2>"$WORK/err"
st=$?
t3=$(now)
ev=$(report_sum "$WORK/report.json" evictions)
maj=$(report_sum "$WORK/report.json" faults_major)
info="native peak ${kb} KiB, pool $mem, $ev evictions, $maj major faults; native $(elapsed "$t0" "$t1") s, pagemu $(elapsed "$t2" "$t3") s"
if ! paged "$WORK/report.json"; then
	say "DID NOT PAGE (no report with faults and evictions): exit $st; $info"
	tail -n 5 "$WORK/err"
	exit 1
fi
if [ $st = 0 ] && cmp -s "$WORK/native" "$WORK/out"; then
	say "same output ($(wc -c < "$WORK/out") bytes, sha256 $(sha256sum < "$WORK/out" | cut -c1-16)...); $info"
	echo "$NAME: PASS"
	exit 0
fi
say "DIFFERS: exit $st; native $(wc -c < "$WORK/native") bytes, pagemu $(wc -c < "$WORK/out") bytes; $info"
cmp "$WORK/native" "$WORK/out" | head -n 2
tail -n 5 "$WORK/err"
exit 1
