#!/bin/sh
# uthash.sh - uthash's own test suite (Debian source package uthash,
# tests/test*.c) under pagemu run: every test program is built against the
# package's headers (src/ut*.h, as its tests/Makefile does) and its output
# must equal its .ans file, natively and under pagemu with a pool of a
# quarter of the program's native peak RSS. Most tests' heaps fit in that
# pool (their peak RSS is mostly libc), so a second pass runs each with 32
# frames (128 KiB, the least pagemu run accepts), which makes the larger
# ones page. Every run that prints must report faults, and some runs
# must evict.
set -u
. "$(dirname "$0")/common.sh"

need_pkgs cc /usr/bin/time perl -- gcc libc6-dev time perl
tarball=$(need_source uthash 'uthash_*.orig.tar.gz') || exit $?
mk_work
tar xzf "$tarball" -C "$WORK" || fail "cannot unpack $tarball"
T=$(echo "$WORK"/uthash-*/tests)
[ -d "$T" ] || fail "no tests/ in $tarball"
cd "$T" || exit 1

t0=$(now)
pass=0 nfail=0 paged=0 maxkb=0 failed=
for c in $(ls test*.c | sort -V); do
	t=${c%.c}
	[ -f "$t.ans" ] || continue
	# The build rule of tests/Makefile: cc -I../src -g -Wall -o testN testN.c
	cc -I../src -g -Wall -o "$t" "$c" 2>"$t.cc" || { say "$t: does not build"; cat "$t.cc"; nfail=$((nfail + 1)); failed="$failed $t"; continue; }
	./"$t" > "$t.native" 2>&1
	if ! cmp -s "$t.native" "$t.ans"; then
		say "$t: native output differs from $t.ans (not pagemu's doing)"
	fi
	kb=$(peak_kb ./"$t")
	[ "$kb" -gt "$maxkb" ] && maxkb=$kb
	mem=$(pool_for "$kb")
	for mem in "$mem" 128K; do
		under_pagemu "$mem" "$t.json" ./"$t" > "$t.out" 2>"$t.err"
		st=$?
		if [ $st != 0 ] || ! cmp -s "$t.out" "$t.ans"; then
			nfail=$((nfail + 1)); failed="$failed $t@$mem"
			say "$t: exit $st under pagemu --memory $mem (native peak ${kb} KiB)"
			diff "$t.ans" "$t.out" | head -n 10
			head -n 5 "$t.err"
			continue 2
		fi
		# Printing allocates stdout's buffer: a test that prints runs on
		# pagemu's heap and reports (one that prints nothing, as test95,
		# may never call malloc).
		if [ -s "$t.ans" ] && ! ran_on_pagemu "$t.json"; then
			nfail=$((nfail + 1)); failed="$failed $t@$mem"
			say "$t: no report with faults under pagemu --memory $mem: it did not run on pagemu"
			continue 2
		fi
		paged "$t.json" && paged=$((paged + 1))
	done
	pass=$((pass + 1))
done
t1=$(now)
say "$((pass + nfail)) tests, $pass match their .ans under pagemu (both pools), $nfail differ${failed:+:$failed}"
say "pools: native peak RSS / $ACCEPT_FRACTION per test (largest peak ${maxkb} KiB), then 128K; $paged runs evicted pages; $(elapsed "$t0" "$t1") s"
[ $paged -gt 0 ] || fail "no run evicted a page (the 128K pool should make the larger tests page)"
[ $nfail = 0 ] || exit 1
echo "$NAME: PASS"
