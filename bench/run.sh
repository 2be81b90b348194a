#!/bin/sh
# run.sh - every benchmark, then one table of the ratios and their targets.
#
# usage: sh bench/run.sh [BUILD_DIR]        (make bench runs this)
#   quick sizes by default (~6 minutes); BENCH_FULL=1 for the full sizes
#   (~12 minutes, most of it the kernel's 2,000,000 random swap-ins).
#   Every bench/*.c is run (thrash and scale through thrash.sh and scale.sh,
#   which set up their kernel baselines); BENCH_ONLY="fault_cost resident"
#   selects some. switch and spacefork (address spaces against the
#   kernel's own switch and fork: ~20 s and ~10 s quick) run as the rest.
# Exit status: 1 when a benchmark failed to run; a missed target is reported
# in the table, not as a failure.
set -u
B=${1:-build}
here=$(dirname "$0")
if [ "${BENCH_FULL:-0}" = 1 ]; then size=--full; else size=--quick; fi
all=$(for f in "$here"/*.c; do basename "$f" .c; done)
only=${BENCH_ONLY:-$all}
log=$(mktemp /tmp/pagemu-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
failed=""

run() {
	name=$1; shift
	echo "=== $name ($size) ==="
	# The status of the benchmark, not of tee.
	{ "$@"; echo "exit $?" > "$log.rc"; } 2>&1 | tee -a "$log"
	rc=$(sed 's/exit //' "$log.rc"); rm -f "$log.rc"
	[ "$rc" = 0 ] || failed="$failed $name"
	echo
}

for b in $only; do
	if [ ! -x "$B/bench/$b" ]; then
		echo "run.sh: $B/bench/$b is not built" >&2
		failed="$failed $b"
		continue
	fi
	case $b in
	thrash) run thrash sh "$here/thrash.sh" "$B" $size ;;
	scale)  run scale sh "$here/scale.sh" "$B" $size ;;
	filemap) run filemap sh "$here/filemap.sh" "$B" $size ;;
	*)      run "$b" "$B/bench/$b" $size ;;
	esac
done

echo "=== summary ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs; ratios are medians; x = ratio) ==="
printf '%-12s %-30s %10s   %-10s %s\n' bench ratio value target verdict
awk '$1 == "SUMMARY" {
	t = $5 == "-" ? "-" : $5 " " $6
	printf "%-12s %-30s %10s   %-10s %s\n", $2, $3, $4, t, $7
}' "$log"
if [ -n "$failed" ]; then
	echo "failed to run:$failed"
	exit 1
fi
exit 0
