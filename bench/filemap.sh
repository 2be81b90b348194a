#!/bin/sh
# filemap.sh - a mapped file four times the memory, read through pagemu and
# through the kernel's own mapping, then the ratios pagemu / kernel, with
# the device's own cost beside them.
#
#   pagemu: build/bench/filemap --mode pagemu: a shared mapping of the file,
#           16384 frames (64 MiB), O_DIRECT file reads (PAGEMU_FILE_DIRECT);
#           again with PAGEMU_FAULT_AROUND=16 (a row of its own).
#   kernel: build/bench/filemap --mode native: mmap of the same file inside
#           a 64 MiB memory cgroup (its page cache is charged there).
#   device: random 4 KiB O_DIRECT preads at queue depth 1.
#   floor:  build/bench/filemap --floor 1 and --floor 16: the sequential
#           passes served by a bare SIGSEGV handler that maps 1 (16) pages
#           already in memory per fault, no file I/O, no model: the least
#           any SIGSEGV pager pays, beside the kernel's time.
#   resident: a 32 MiB file read warm through both (throughput ratio).
#
# usage: sh bench/filemap.sh [BUILD_DIR] [--quick] [--runs N] [--dir DIR] [--no-kernel]
#   default: 256 MiB file, 3 runs of 100,000 random touches (the kernel's
#   random reads take ~10 minutes a run on a disk of 120 us reads: its
#   readahead reads 8 MiB windows for them); --quick: 1 run, 10,000 touches.
# The kernel baseline needs root and a memory cgroup; without them it is
# skipped (said so). The file and the cgroup are removed on exit.
set -u

B=build
RUNS=3
TOUCHES=100000
DIR=/var/tmp
KERNEL=1
while [ $# -gt 0 ]; do
	case $1 in
	--quick) RUNS=1; TOUCHES=10000 ;;
	--full) RUNS=3; TOUCHES=100000 ;;
	--runs) RUNS=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--no-kernel) KERNEL=0 ;;
	-*) echo "filemap.sh: unknown option $1" >&2; exit 2 ;;
	*) B=$1 ;;
	esac
	shift
done
BIN=$B/bench/filemap
[ -x "$BIN" ] || { echo "filemap.sh: $BIN not built (make $BIN)" >&2; exit 1; }
fstype=$(stat -f -c %T "$DIR" 2>/dev/null || echo missing)
case $fstype in
tmpfs|ramfs|missing) echo "filemap.sh: $DIR is $fstype: need a disk file system (--dir)" >&2; exit 1 ;;
esac

OUT=$(mktemp /tmp/pagemu-filemap.XXXXXX)
FILE=$DIR/pagemu-bench-filemap.dat
. "$(dirname "$0")/kernel_swap.sh"
trap 'ks_cleanup; rm -f "$OUT" "$FILE"' EXIT
trap 'exit 130' INT TERM

why=
if [ $KERNEL = 0 ]; then why="--no-kernel"; else why=$(ks_why "$DIR"); fi
if [ -z "$why" ]; then
	ks_setup pagemu-bench-filemap "$DIR" 256M 64M || why="could not set up the cgroup (see above)"
fi
[ -n "$why" ] && echo "filemap.sh: kernel baseline skipped: $why"

# 256 MiB of data that is not zeros (a file of holes reads without the disk).
head -c 268435456 /dev/urandom > "$FILE" || exit 1
sync "$FILE"
"$BIN" --device --file "$FILE" --touches 20000 | tee -a "$OUT" || exit 1
r=1
while [ "$r" -le "$RUNS" ]; do
	echo "--- run $r: pagemu"
	"$BIN" --mode pagemu --file "$FILE" --touches "$TOUCHES" | tee -a "$OUT" || exit 1
	echo "--- run $r: pagemu, PAGEMU_FAULT_AROUND=16"
	"$BIN" --mode pagemu --fault-around 16 --file "$FILE" --touches "$TOUCHES" | tee -a "$OUT" || exit 1
	echo "--- run $r: floor, 1 and 16 pages a fault"
	"$BIN" --floor 1 --file "$FILE" | tee -a "$OUT" || exit 1
	"$BIN" --floor 16 --file "$FILE" | tee -a "$OUT" || exit 1
	if [ -z "$why" ]; then
		echo "--- run $r: kernel"
		ks_in_cgroup "$BIN" --mode native --file "$FILE" --touches "$TOUCHES" | tee -a "$OUT" || exit 1
	fi
	r=$((r + 1))
done
"$BIN" --resident --runs 5 --dir "$DIR" | tee -a "$OUT" || exit 1

echo
awk "$KS_AWK_MEDIAN"'
$1 == "RESULT" { k = $2 " " $3; cnt[k]++; val[k, cnt[k]] = $4; f = k " maj"; cnt[f]++; val[f, cnt[f]] = $5 }
$1 == "DEVICE" { dev = $2 }
END {
	printf "device: %.1f us per random 4 KiB O_DIRECT read (queue depth 1)\n", dev
	printf "%-6s %10s %10s %10s %10s %8s %14s %14s\n", "median", "pagemu s", "major", "kernel s", "major", "ratio", "pagemu us/maj", "kernel us/maj"
	n = split("seq rand", w, " ")
	for (i = 1; i <= n; i++) {
		p = median("pagemu " w[i]); k = median("native " w[i]); pm = median("pagemu " w[i] " maj"); km = median("native " w[i] " maj")
		if (k > 0) printf "%-6s %10.3f %10d %10.3f %10d %8.3f %14.1f %14.1f\n", w[i], p, pm, k, km, p / k, pm ? p * 1e6 / pm : 0, km ? k * 1e6 / km : 0
		else       printf "%-6s %10.3f %10d %10s %10s %8s %14.1f\n", w[i], p, pm, "-", "-", "-", pm ? p * 1e6 / pm : 0
		ratio[w[i]] = k > 0 ? p / k : -1
	}
	for (i = 1; i <= n; i++) {
		p = median("pagemu-fa16 " w[i]); k = median("native " w[i])
		if (k > 0) printf "%-6s %10.3f %10s %10.3f %10s %8.3f   (PAGEMU_FAULT_AROUND=16)\n", w[i], p, "", k, "", p / k
		else       printf "%-6s %10.3f   (PAGEMU_FAULT_AROUND=16)\n", w[i], p
	}
	for (f = 1; f <= 16; f += 15) {
		p = median("floor-fa" f " seq"); k = median("native seq")
		if (k > 0) printf "%-6s %10.3f %10s %10.3f %10s %8.3f   (floor: a bare SIGSEGV pager, %d page%s a fault, no I/O)\n", "seq", p, "", k, "", p / k, f, (f > 1 ? "s" : "")
		else       printf "%-6s %10.3f   (floor: a bare SIGSEGV pager, %d page%s a fault, no I/O)\n", "seq", p, f, (f > 1 ? "s" : "")
	}
	print "(ratio = pagemu time / kernel time; a major fault of the kernel may bring in a readahead window;"
	print " the kernel maps 16 pages a fault too: its fault-around)"
	for (i = 1; i <= n; i++) {
		if (ratio[w[i]] >= 0) printf "SUMMARY filemap %s-time-pagemu/kernel %.3f <= 1.00 %s\n", w[i], ratio[w[i]], (ratio[w[i]] <= 1.0 ? "met" : "MISSED")
		else printf "SUMMARY filemap %s-time-pagemu/kernel - <= 1.00 skipped\n", w[i]
	}
	for (i = 1; i <= n; i++) {
		p = median("pagemu-fa16 " w[i]); k = median("native " w[i])
		if (k > 0) printf "SUMMARY filemap %s-fa16-time-pagemu/kernel %.3f - 0.00 info\n", w[i], p / k
	}
	for (f = 1; f <= 16; f += 15) {
		p = median("floor-fa" f " seq"); k = median("native seq"); q = median((f > 1 ? "pagemu-fa16" : "pagemu") " seq")
		if (k > 0) printf "SUMMARY filemap seq-floor%d-time/kernel %.3f - 0.00 info\n", f, p / k
		if (p > 0) printf "SUMMARY filemap seq-%s-time-pagemu/floor%d %.3f - 0.00 info\n", (f > 1 ? "fa16" : "default"), f, q / p
	}
}' "$OUT"
