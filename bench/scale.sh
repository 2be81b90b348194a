#!/bin/sh
# scale.sh - bench/scale with its kernel baselines set up: the thrash
# ratios first (bench/thrash.sh, 1 thread, pagemu against the kernel's own
# swap), then a swap file and a memory cgroup for the kernel's major faults
# (kernel_swap.sh; build/bench/scale sets the cgroup's limit to its memory
# size and runs the kernel side in a child that enters it), then scale's
# table, with the thrash ratios in it and in its SUMMARY lines.
#
# usage: sh bench/scale.sh [BUILD_DIR] [--quick|--full] [--runs N]
#                          [--swap-dir DIR] [--no-kernel] [--no-thrash]
#   --quick (default): scale's own table in under a minute, thrash 1 run of
#   30,000 random touches (~1 minute more); --full: larger sizes, thrash's
#   full run (2,000,000 touches).
# Without root or a memory cgroup the kernel's major faults and the thrash
# ratios are skipped, said so; everything set up is undone on exit.
set -u

B=build
SIZE=--quick
RUNS=
SWAPDIR=/var/tmp
KERNEL=1
THRASH=1
while [ $# -gt 0 ]; do
	case $1 in
	--quick|--full) SIZE=$1 ;;
	--runs) RUNS=$2; shift ;;
	--swap-dir) SWAPDIR=$2; shift ;;
	--no-kernel) KERNEL=0 ;;
	--no-thrash) THRASH=0 ;;
	-*) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
	*) B=$1 ;;
	esac
	shift
done
here=$(dirname "$0")
BIN=$B/bench/scale
[ -x "$BIN" ] || { echo "scale.sh: $BIN not built (make $BIN)" >&2; exit 1; }

OUT=$(mktemp /tmp/pagemu-scale.XXXXXX)
. "$here/kernel_swap.sh"
trap 'ks_cleanup; rm -f "$OUT"' EXIT
trap 'exit 130' INT TERM

# ---- the thrash ratios: bench/thrash.sh, its SUMMARY lines renamed (run.sh
# collects thrash's own when it runs thrash) ---------------------------------------
set -- --thrash-skip "--no-thrash"
if [ $THRASH = 1 ]; then
	if [ "$SIZE" = --quick ]; then targs="--runs 1 --touches 30000"; else targs=""; fi
	[ $KERNEL = 0 ] && targs="$targs --no-kernel"
	echo "--- thrash (sh bench/thrash.sh $B $targs --swap-dir $SWAPDIR)"
	# shellcheck disable=SC2086
	sh "$here/thrash.sh" "$B" $targs --swap-dir "$SWAPDIR" > "$OUT" 2>&1
	st=$?
	sed 's/^SUMMARY thrash/  thrash.sh summary:/; s/^/  /' "$OUT"
	rand=$(awk '$1 == "SUMMARY" && $3 == "rand-time-pagemu/kernel" { print $4 }' "$OUT")
	seq=$(awk '$1 == "SUMMARY" && $3 == "seq-time-pagemu/kernel" { print $4 }' "$OUT")
	if [ $st != 0 ]; then
		set -- --thrash-skip "bench/thrash.sh failed (exit $st)"
	elif [ -z "$rand" ] || [ "$rand" = - ] || [ -z "$seq" ] || [ "$seq" = - ]; then
		set -- --thrash-skip "thrash.sh ran no kernel baseline (see its output above)"
	else
		set -- --thrash-seq "$seq" --thrash-rand "$rand"
	fi
fi

# ---- the kernel's major faults: a swap file and a cgroup -------------------------------
if [ $KERNEL = 0 ]; then
	why="--no-kernel"
else
	why=$(ks_why "$SWAPDIR")
fi
if [ -z "$why" ]; then
	# The limit is scale's to set (its memory size): 16M here is a placeholder.
	if ks_setup pagemu-scale "$SWAPDIR" 1G 16M; then
		echo "kernel: $(swapon --show=NAME,TYPE,SIZE --noheadings | tr '\n' ' ')cgroup v$KS_CGV $KS_CG"
		set -- "$@" --kernel-cgroup "$KS_CG"
	else
		why="could not set up the swap file or the cgroup (see above)"
	fi
fi
[ -n "$why" ] && set -- "$@" --kernel-skip "$why"

if [ -n "$RUNS" ]; then set -- "$@" --runs "$RUNS"; fi
"$BIN" $SIZE --swap-dir "$SWAPDIR" "$@"
