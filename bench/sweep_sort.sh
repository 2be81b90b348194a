#!/bin/sh
# sweep_sort.sh - the acceptance run of `pagemu sweep` (README,
# "Experiments"): GNU sort over a generated 50 MB file, natively, then
# under pagemu run at 8 pool sizes from 32 MiB to 256 MiB, and (as root,
# where a memory cgroup is available) in a memory cgroup of each size.
# Every output must be the native one's. About 25 minutes on 2 cores.
#
# usage: sh bench/sweep_sort.sh [BUILD_DIR] [OUT_DIR]     (make sweep-sort)
#   OUT_DIR (default BUILD_DIR/sweep-sort) must not exist; the input file
#   is made beside it (big.txt) and kept for the next run.
# Exit status: pagemu sweep's (0: every pagemu run gave the native output).
set -eu
B=${1:-build}
out=${2:-$B/sweep-sort}
work=$(dirname "$out")
mkdir -p "$work"
if [ ! -f "$work/big.txt" ]; then
	# 1,650,000 lines of a random 64-bit key in hex and a tail of 0 to 26
	# letters: 51 MB, the same on every machine (awk's srand(1)).
	awk 'BEGIN { srand(1); for (i = 0; i < 1650000; i++)
		printf "%08x%08x %s\n", int(rand() * 4294967296), int(rand() * 4294967296),
		       substr("abcdefghijklmnopqrstuvwxyz", 1, int(rand() * 27)) }' > "$work/big.txt"
fi
kernel=
if [ "$(id -u)" = 0 ]; then kernel=--kernel; fi
exec nice -n 10 "$B/pagemu" sweep --memory 32M..256M --steps 8 $kernel --out "$out" -- sort "$work/big.txt"
