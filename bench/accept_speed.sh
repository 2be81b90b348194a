#!/bin/sh
# accept_speed.sh - SQLite's speedtest1 --memdb (the acceptance program of
# tests/accept/speedtest1.sh) timed natively and under pagemu run:
#
#   roomy:   pool >= the program's native peak RSS (nothing is evicted):
#            ratio pagemu / native, target <= 1.3
#   quarter: pool = 1/4 of the native peak RSS, beside the kernel's own
#            paging: the same program in a memory cgroup (v1) limited to
#            the same size, with a swap file made for the run.
#
# usage: sh bench/accept_speed.sh [BUILD_DIR] [--size N] [--runs N]
#                                 [--swap-dir DIR] [--no-kernel]
#                                 [--kernel-limit SIZE]
#   default: --size 30, 3 runs of each (medians), swap dir /var/tmp, the
#   cgroup limited to the quarter pool's size (--kernel-limit: another size,
#   e.g. 12M, when the kernel OOM-kills the program at that one: the cgroup
#   also charges the program's text, stack, page tables and swap cache).
# The kernel baseline needs root, mkswap/swapon and the cgroup v1 memory
# controller; without them it is skipped (said so). The swap file, swapon
# and the cgroup are undone on exit, failure included.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
SIZE=30
RUNS=3
SWAPDIR=/var/tmp
KERNEL=1
KLIMIT=
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--swap-dir) SWAPDIR=$2; shift ;;
	--no-kernel) KERNEL=0 ;;
	--kernel-limit) KLIMIT=$2; shift ;;
	-*) echo "accept_speed.sh: unknown option $1" >&2; exit 2 ;;
	*) B=$1 ;;
	esac
	shift
done
export B=${B:-build}
. "$TOP/tests/accept/common.sh"

need_pkgs cc /usr/bin/time xz /usr/include/sqlite3.h -- gcc libc6-dev time xz-utils libsqlite3-dev
tarball=$(need_source sqlite3 'sqlite3_*.orig.tar.xz') || exit $?

WORK=$(mktemp -d /tmp/pagemu-accept-speed.XXXXXX) || exit 1
. "$TOP/bench/kernel_swap.sh"
trap 'ks_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

tar xJf "$tarball" -C "$WORK" --wildcards '*/test/speedtest1.c' || fail "no speedtest1.c in $tarball"
cc -O2 -o "$WORK/speedtest1" "$WORK"/*/test/speedtest1.c -lsqlite3 || fail "speedtest1 does not build"
ST1="$WORK/speedtest1 --memdb --verify --size $SIZE"

# ---- sizes -------------------------------------------------------------------
kb=$(peak_kb $ST1)
roomy=$(( (kb + 1023) / 1024 + 8 ))M		# peak RSS rounded up, + 8 MiB
quarter=$(( kb / 4 ))K
qbytes=$(( kb / 4 * 1024 ))
[ -n "$KLIMIT" ] && qbytes=$(numfmt --from=iec "$KLIMIT")
echo "speedtest1 --memdb --verify --size $SIZE: native peak RSS $kb KiB; roomy pool $roomy, quarter pool $quarter"

# ---- the kernel baseline's set-up ---------------------------------------------
fstype=$(stat -f -c %T "$SWAPDIR" 2>/dev/null || echo missing)
if [ $KERNEL = 0 ]; then
	why="--no-kernel"
else
	why=$(ks_why "$SWAPDIR")
fi
if [ -z "$why" ]; then
	if ks_setup pagemu-accept-speed "$SWAPDIR" 512M "$qbytes"; then
		echo "kernel: swap file $KS_SWAPFILE (512 MiB, $fstype), cgroup v$KS_CGV $KS_CG limit $qbytes bytes"
	else
		why="could not make the swap file or the cgroup"
	fi
fi
[ -n "$why" ] && echo "accept_speed.sh: kernel baseline skipped: $why"

# one LABEL CMD...: time CMD (wall clock), record "LABEL seconds" and the hash.
one() {
	label=$1
	shift
	t0=$(now)
	"$@" > "$WORK/out" 2>"$WORK/err"
	st=$?
	t1=$(now)
	if [ $st != 0 ]; then
		# The kernel may OOM-kill the program in a small cgroup even with
		# swap (swap-cache pages are charged too): a result, not an error.
		[ "$label" = kernel ] || { tail -n 5 "$WORK/err"; fail "$label: exit status $st"; }
		printf '  %-8s killed after %s s (exit %s; cgroup memory.failcnt %s, oom_kill %s)' "$label" \
			"$(elapsed "$t0" "$t1")" $st "$(cat "$KS_CG/memory.failcnt" 2>/dev/null)" \
			"$(awk '$1 == "oom_kill" { print $2 }' "$KS_CG/memory.oom_control" 2>/dev/null)"
		echo "kernel" >> "$WORK/killed"
		return 1
	fi
	h=$(grep '^Verification Hash' "$WORK/out")
	[ -n "$h" ] || fail "$label: no verification hash"
	echo "$h" >> "$WORK/hashes"
	s=$(elapsed "$t0" "$t1")
	echo "$label $s" >> "$WORK/times"
	printf '  %-8s %7s s' "$label" "$s"
}

r=1
while [ "$r" -le "$RUNS" ]; do
	echo "--- run $r"
	one native $ST1; echo
	one roomy "$PAGEMU" run --memory "$roomy" --report "$WORK/roomy.json" -- $ST1
	echo "  ($(report_sum "$WORK/roomy.json" evictions) evictions)"
	one quarter "$PAGEMU" run --memory "$quarter" --report "$WORK/quarter.json" -- $ST1
	echo "  ($(report_sum "$WORK/quarter.json" evictions) evictions, $(report_sum "$WORK/quarter.json" faults_major) major faults)"
	if [ -z "$why" ]; then
		in0=$(ks_vmstat pswpin); out0=$(ks_vmstat pswpout)
		one kernel ks_in_cgroup $ST1
		echo "  (pswpin $(( $(ks_vmstat pswpin) - in0 )), pswpout $(( $(ks_vmstat pswpout) - out0 )) pages, system-wide)"
	fi
	r=$((r + 1))
done

n=$(sort -u "$WORK/hashes" | wc -l)
[ "$n" = 1 ] || { sort "$WORK/hashes" | uniq -c; fail "verification hashes differ between runs"; }
echo "every run: $(head -n 1 "$WORK/hashes")"
echo
killed=$(cat "$WORK/killed" 2>/dev/null | wc -l)
[ -z "$why" ] && [ "$killed" -ge "$RUNS" ] && why="the kernel OOM-killed speedtest1 in every run at this limit"
kl=quarter
[ -n "$KLIMIT" ] && kl="limit-$KLIMIT"
awk -v why="$why" -v killed="$killed" -v kl="$kl" "$KS_AWK_MEDIAN"'
{ cnt[$1]++; val[$1, cnt[$1]] = $2 }
END {
	nat = median("native"); ro = median("roomy"); q = median("quarter"); k = median("kernel")
	printf "median s: native %.2f, pagemu roomy %.2f, pagemu quarter %.2f, kernel %s %s%s\n", nat, ro, q, kl,
	       k < 0 ? "-" : sprintf("%.2f", k), killed ? sprintf(" (%d kernel run(s) OOM-killed, not counted)", killed) : ""
	printf "SUMMARY accept speedtest1-memdb-roomy-pagemu/native %.3f <= 1.30 %s\n", ro / nat, ro / nat <= 1.3 ? "met" : "MISSED"
	printf "SUMMARY accept speedtest1-memdb-quarter-pagemu/native %.3f\n", q / nat
	if (k > 0) {
		printf "SUMMARY accept speedtest1-memdb-%s-kernel/native %.3f\n", kl, k / nat
		printf "SUMMARY accept speedtest1-memdb-quarter-pagemu/%s-kernel %.3f\n", kl, q / k
	} else
		printf "SUMMARY accept speedtest1-memdb-quarter-pagemu/kernel - skipped (%s)\n", why
}' "$WORK/times"
