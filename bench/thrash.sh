#!/bin/sh
# thrash.sh - the same thrashing program over pagemu and over Linux's own
# paging, then the ratios pagemu / kernel.
#
#   pagemu: build/bench/thrash --mode pagemu: 16384 frames (64 MiB), O_DIRECT
#           swap file in a directory on disk (default /var/tmp).
#   kernel: build/bench/thrash --mode native: anonymous memory (4 KiB pages)
#           in a 64 MiB memory cgroup, with a swap file made for the run.
#
# usage: sh bench/thrash.sh [BUILD_DIR] [--quick] [--runs N] [--touches N]
#                           [--swap-dir DIR] [--swap-size 2G] [--no-kernel]
#   default: 2,000,000 random touches, 1 run (~5 minutes);
#   --quick: 200,000 touches, 3 runs (~2 minutes).
# The kernel baseline needs root and a memory cgroup (v1 or v2); without
# them it is skipped (said so) and pagemu still runs. Everything the script
# sets up (cgroup, swap file, swapon) is undone on exit, failure included.
set -u

B=build
QUICK=0
RUNS=
TOUCHES=
SWAPDIR=/var/tmp
SWAPSIZE=2G
KERNEL=1
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--full) QUICK=0 ;;
	--runs) RUNS=$2; shift ;;
	--touches) TOUCHES=$2; shift ;;
	--swap-dir) SWAPDIR=$2; shift ;;
	--swap-size) SWAPSIZE=$2; shift ;;
	--no-kernel) KERNEL=0 ;;
	-*) echo "thrash.sh: unknown option $1" >&2; exit 2 ;;
	*) B=$1 ;;
	esac
	shift
done
BIN=$B/bench/thrash
[ -x "$BIN" ] || { echo "thrash.sh: $BIN not built (make $BIN)" >&2; exit 1; }
if [ -z "$RUNS" ]; then if [ $QUICK = 1 ]; then RUNS=3; else RUNS=1; fi; fi
if [ -z "$TOUCHES" ]; then if [ $QUICK = 1 ]; then TOUCHES=200000; else TOUCHES=2000000; fi; fi

fstype=$(stat -f -c %T "$SWAPDIR" 2>/dev/null || echo missing)
case $fstype in
tmpfs|ramfs|missing)
	echo "thrash.sh: swap directory $SWAPDIR is $fstype: need a disk file system (--swap-dir)" >&2
	exit 1 ;;
esac

OUT=$(mktemp /tmp/pagemu-thrash.XXXXXX)
. "$(dirname "$0")/kernel_swap.sh"
trap 'ks_cleanup; rm -f "$OUT"' EXIT
trap 'exit 130' INT TERM

# ---- the kernel baseline's set-up -------------------------------------------
why=
if [ $KERNEL = 0 ]; then
	why="--no-kernel"
else
	why=$(ks_why "$SWAPDIR")
fi
if [ -z "$why" ]; then
	if ks_setup pagemu-bench "$SWAPDIR" "$SWAPSIZE" 64M; then
		echo "kernel baseline: $(swapon --show=NAME,TYPE,SIZE --noheadings | tr '\n' ' ')in $fstype; cgroup v$KS_CGV $KS_CG limit 64M"
	else
		why="could not set up the swap file or the cgroup (see above)"
	fi
fi
[ -n "$why" ] && echo "thrash.sh: kernel baseline skipped: $why"

# ---- runs, interleaved -----------------------------------------------------------
echo "thrash: $RUNS run(s), $TOUCHES random touches, swap dir $SWAPDIR ($fstype)"
r=1
while [ $r -le "$RUNS" ]; do
	echo "--- run $r: pagemu"
	"$BIN" --mode pagemu --touches "$TOUCHES" --swap-dir "$SWAPDIR" | tee -a "$OUT" || exit 1
	if [ -z "$why" ]; then
		echo "--- run $r: kernel"
		in0=$(ks_vmstat pswpin); out0=$(ks_vmstat pswpout)
		ks_in_cgroup "$BIN" --mode native --touches "$TOUCHES" | tee -a "$OUT" || exit 1
		echo "  kernel: pswpin $(( $(ks_vmstat pswpin) - in0 )), pswpout $(( $(ks_vmstat pswpout) - out0 )) pages"
	fi
	r=$((r + 1))
done

# ---- medians and ratios --------------------------------------------------------------
echo
awk "$KS_AWK_MEDIAN"'
$1 == "RESULT" {
	k = $2 " " $3; cnt[k]++; val[k, cnt[k]] = $4
	f = $2 " " $3 " maj"; cnt[f]++; val[f, cnt[f]] = $5
	if ($3 == "seq1") run[$2]++
	if ($3 ~ /^seq/) seqsum[$2, run[$2]] += $4
}
END {
	for (m in run) for (i = 1; i <= run[m]; i++) { cnt[m " seq"] = run[m]; val[m " seq", i] = seqsum[m, i] }
	printf "%-8s %12s %10s %12s %10s %10s\n", "median", "pagemu s", "major", "kernel s", "major", "ratio"
	n = split("seq1 seq2 seq3 seq rand", w, " ")
	for (i = 1; i <= n; i++) {
		p = median("pagemu " w[i]); k = median("native " w[i])
		if (p < 0) continue
		pm = w[i] == "seq" ? "" : median("pagemu " w[i] " maj"); km = w[i] == "seq" ? "" : median("native " w[i] " maj")
		if (k > 0) printf "%-8s %12.3f %10s %12.3f %10s %10.3f\n", w[i], p, pm, k, km, p / k
		else       printf "%-8s %12.3f %10s %12s %10s %10s\n", w[i], p, pm, "-", "-", "-"
		ratio[w[i]] = k > 0 ? p / k : -1
	}
	print "(seq = the three passes together; ratio = pagemu time / kernel time)"
	print ""
	# The targets of issue 9: sequential <= 0.8, random <= 1.0.
	if (ratio["seq"] >= 0) printf "SUMMARY thrash seq-time-pagemu/kernel %.3f <= 0.80 %s\n", ratio["seq"], ratio["seq"] <= 0.8 ? "met" : "MISSED"
	if (ratio["rand"] >= 0) printf "SUMMARY thrash rand-time-pagemu/kernel %.3f <= 1.00 %s\n", ratio["rand"], ratio["rand"] <= 1.0 ? "met" : "MISSED"
	if (ratio["seq"] < 0) print "SUMMARY thrash seq-time-pagemu/kernel - <= 0.80 skipped"
	if (ratio["rand"] < 0) print "SUMMARY thrash rand-time-pagemu/kernel - <= 1.00 skipped"
}' "$OUT"
