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
CG=
SWAPFILE=
SWAPON=0

cleanup() {
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		# Anything left in the group goes back to the root, then the group goes.
		for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do
			echo "$p" > "$(dirname "$CG")/cgroup.procs" 2>/dev/null
		done
		rmdir "$CG" 2>/dev/null || echo "thrash.sh: could not remove $CG" >&2
	fi
	if [ $SWAPON = 1 ]; then
		swapoff "$SWAPFILE" || echo "thrash.sh: swapoff $SWAPFILE failed" >&2
	fi
	[ -n "$SWAPFILE" ] && rm -f "$SWAPFILE"
	rm -f "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the kernel baseline's set-up -------------------------------------------
why=
if [ $KERNEL = 0 ]; then
	why="--no-kernel"
elif [ "$(id -u)" != 0 ]; then
	why="not root (the kernel baseline needs a memory cgroup and swapon)"
elif ! command -v mkswap >/dev/null || ! command -v swapon >/dev/null; then
	why="mkswap/swapon not found"
elif [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
	CGV=1
elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	CGV=2
else
	why="no memory cgroup controller (v1 /sys/fs/cgroup/memory or v2 memory)"
fi

setup_kernel() {
	SWAPFILE=$SWAPDIR/pagemu-bench.swap
	rm -f "$SWAPFILE"
	if ! { fallocate -l "$SWAPSIZE" "$SWAPFILE" && chmod 600 "$SWAPFILE" &&
	       mkswap -q "$SWAPFILE" >/dev/null && swapon "$SWAPFILE"; } 2>/dev/null; then
		# Some file systems refuse fallocated swap files: write it out.
		rm -f "$SWAPFILE"
		mib=$(numfmt --from=iec "$SWAPSIZE")
		mib=$((mib / 1048576))
		dd if=/dev/zero of="$SWAPFILE" bs=1M count=$mib status=none && chmod 600 "$SWAPFILE" &&
			mkswap -q "$SWAPFILE" >/dev/null && swapon "$SWAPFILE" || return 1
	fi
	SWAPON=1
	if [ $CGV = 1 ]; then
		CG=/sys/fs/cgroup/memory/pagemu-bench
		mkdir "$CG" || return 1
		echo 64M > "$CG/memory.limit_in_bytes" || return 1
		[ -f "$CG/memory.swappiness" ] && echo 60 > "$CG/memory.swappiness"
	else
		CG=/sys/fs/cgroup/pagemu-bench
		mkdir "$CG" || return 1
		echo 64M > "$CG/memory.max" || return 1
	fi
	return 0
}

if [ -z "$why" ]; then
	if setup_kernel; then
		echo "kernel baseline: $(swapon --show=NAME,TYPE,SIZE --noheadings | tr '\n' ' ')in $fstype; cgroup v$CGV $CG limit 64M"
	else
		why="could not set up the swap file or the cgroup (see above)"
	fi
fi
[ -n "$why" ] && echo "thrash.sh: kernel baseline skipped: $why"

vmstat_get() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }

# ---- runs, interleaved -----------------------------------------------------------
echo "thrash: $RUNS run(s), $TOUCHES random touches, swap dir $SWAPDIR ($fstype)"
r=1
while [ $r -le "$RUNS" ]; do
	echo "--- run $r: pagemu"
	"$BIN" --mode pagemu --touches "$TOUCHES" --swap-dir "$SWAPDIR" | tee -a "$OUT" || exit 1
	if [ -z "$why" ]; then
		echo "--- run $r: kernel"
		in0=$(vmstat_get pswpin); out0=$(vmstat_get pswpout)
		sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG" \
			"$BIN" --mode native --touches "$TOUCHES" | tee -a "$OUT" || exit 1
		echo "  kernel: pswpin $(( $(vmstat_get pswpin) - in0 )), pswpout $(( $(vmstat_get pswpout) - out0 )) pages"
	fi
	r=$((r + 1))
done

# ---- medians and ratios --------------------------------------------------------------
echo
awk '
function median(key,    n, i, j, t, v) {
	n = cnt[key]
	if (!n) return -1
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
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
	if (ratio["seq"] >= 0) printf "SUMMARY thrash seq-time-pagemu/kernel %.3f <= 1.00 %s\n", ratio["seq"], ratio["seq"] <= 1.0 ? "met" : "MISSED"
	if (ratio["rand"] >= 0) printf "SUMMARY thrash rand-time-pagemu/kernel %.3f <= 0.80 %s\n", ratio["rand"], ratio["rand"] <= 0.8 ? "met" : "MISSED"
	if (ratio["seq"] < 0) print "SUMMARY thrash seq-time-pagemu/kernel - <= 1.00 skipped"
	if (ratio["rand"] < 0) print "SUMMARY thrash rand-time-pagemu/kernel - <= 0.80 skipped"
}' "$OUT"
