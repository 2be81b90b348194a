#!/bin/sh
# speedtest1.sh - SQLite's speedtest1 (test/speedtest1.c from the Debian
# source package sqlite3, linked with the system libsqlite3) with --verify,
# natively and under pagemu run with a pool of a quarter of its native peak
# RSS: the verification hash and every result line (timings stripped) must
# be identical, for an in-memory database (--memdb) and a file database in
# a temporary directory, and the report must show evictions.
#
#   sh tests/accept/speedtest1.sh [SIZE]     (default 20; ACCEPT_ST1_SIZE)
set -u
. "$(dirname "$0")/common.sh"

SIZE=${1:-${ACCEPT_ST1_SIZE:-20}}
need_pkgs cc /usr/bin/time xz /usr/include/sqlite3.h -- gcc libc6-dev time xz-utils libsqlite3-dev
tarball=$(need_source sqlite3 'sqlite3_*.orig.tar.xz') || exit $?
mk_work
tar xJf "$tarball" -C "$WORK" --wildcards '*/test/speedtest1.c' || fail "no test/speedtest1.c in $tarball"
src=$(echo "$WORK"/*/test/speedtest1.c)
cc -O2 -o "$WORK/speedtest1" "$src" -lsqlite3 2>"$WORK/cc.log" || { cat "$WORK/cc.log"; fail "speedtest1 does not build"; }
say "speedtest1 from $(basename "$tarball"), libsqlite3 $(pkg-config --modversion sqlite3 2>/dev/null || echo '?'), --size $SIZE"

# Results without the timing column (" 100 - name....   0.123s").
# The column is right-aligned: a slower run's longer time takes a space.
strip() { sed -e 's/ *[0-9.]*s$//' -e '/^ *TOTAL/d' "$1"; }

nfail=0
for db in memdb file; do
	if [ $db = memdb ]; then args="--memdb"; else args="$WORK/st1.db"; fi
	rm -f "$WORK"/st1.db*
	t0=$(now)
	"$WORK/speedtest1" --verify --size "$SIZE" $args > "$WORK/native.$db" 2>&1 || fail "$db: native run failed"
	t1=$(now)
	rm -f "$WORK"/st1.db*
	kb=$(peak_kb "$WORK/speedtest1" --verify --size "$SIZE" $args)
	mem=$(pool_for "$kb")
	rm -f "$WORK"/st1.db*
	t2=$(now)
	under_pagemu "$mem" "$WORK/report.$db" "$WORK/speedtest1" --verify --size "$SIZE" $args > "$WORK/pagemu.$db" 2>"$WORK/err.$db"
	st=$?
	t3=$(now)
	hn=$(grep '^Verification Hash' "$WORK/native.$db")
	hp=$(grep '^Verification Hash' "$WORK/pagemu.$db")
	ev=$(report_sum "$WORK/report.$db" evictions)
	maj=$(report_sum "$WORK/report.$db" faults_major)
	if ! paged "$WORK/report.$db"; then
		nfail=$((nfail + 1))
		say "$db: DID NOT PAGE (no report with faults and evictions): exit $st, pool $mem, native peak ${kb} KiB, $ev evictions"
		tail -n 5 "$WORK/err.$db"
	elif [ $st = 0 ] && [ -n "$hn" ] && [ "$hn" = "$hp" ] &&
	   strip "$WORK/native.$db" > "$WORK/a" && strip "$WORK/pagemu.$db" > "$WORK/b" && cmp -s "$WORK/a" "$WORK/b"; then
		say "$db: same hash ($hp); native peak ${kb} KiB, pool $mem, $ev evictions, $maj major faults; native $(elapsed "$t0" "$t1") s, pagemu $(elapsed "$t2" "$t3") s"
	else
		nfail=$((nfail + 1))
		say "$db: DIFFERS (exit $st, pool $mem, native peak ${kb} KiB)"
		say "  native: $hn"
		say "  pagemu: $hp"
		diff "$WORK/a" "$WORK/b" | head -n 10
		tail -n 5 "$WORK/err.$db"
	fi
done
[ $nfail = 0 ] || exit 1
echo "$NAME: PASS"
