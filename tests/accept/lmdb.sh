#!/bin/sh
# lmdb.sh - LMDB under pagemu run --mmap: its database file is mapped (read
# through the map, written with pwrite, as LMDB does by default) and paged
# by pagemu.
#   1. The test programs of the Debian source package lmdb (mtest*.c, built
#      against the system liblmdb; mtest6 needs a debug build's mdb_dkey
#      and is left out, said so): each must exit 0 under pagemu, and
#      mdb_stat must then read the database it left (they draw random keys
#      from the clock, so their output differs run to run).
#   2. An mdb_load / mdb_dump round trip of a generated dump whose database
#      is at least 4x the pool: the dump made under pagemu must equal the
#      input and the native round trip's; mdb_stat's entry counts agree.
#
#   sh tests/accept/lmdb.sh [KEYS]     (default 120000: a database of ~28 MB)
set -u
. "$(dirname "$0")/common.sh"

KEYS=${1:-120000}
need_pkgs cc mdb_load mdb_dump mdb_stat /usr/include/lmdb.h -- gcc libc6-dev lmdb-utils liblmdb-dev
tarball=$(need_source lmdb 'lmdb_*.orig.tar.*') || exit $?
mk_work
tar xf "$tarball" -C "$WORK" --wildcards '*/mtest*.c' || fail "no mtest*.c in $tarball"
nfail=0
for src in "$WORK"/*/libraries/liblmdb/mtest*.c "$WORK"/*/mtest*.c; do
	[ -f "$src" ] || continue
	t=$(basename "$src" .c)
	if ! cc -O1 -o "$WORK/$t" "$src" -llmdb 2>"$WORK/cc.log"; then
		# mtest6 calls mdb_dkey, which liblmdb exports only when built
		# with MDB_DEBUG: it cannot be built against Debian's library.
		grep -q "undefined reference to .mdb_dkey" "$WORK/cc.log" &&
			{ say "$t: not built (it needs mdb_dkey, exported by debug builds of liblmdb only)"; continue; }
		cat "$WORK/cc.log"
		fail "$t does not build"
	fi
	rm -rf "$WORK/testdb" && mkdir "$WORK/testdb"
	(cd "$WORK" && PAGEMU_MMAP=1 under_pagemu 1M "$WORK/report.$t" "./$t" > "$WORK/$t.out" 2>"$WORK/$t.err")
	st=$?
	reads=$(report_sum "$WORK/report.$t" file_read_pages)
	if [ $st = 0 ] && mdb_stat -a "$WORK/testdb" > "$WORK/$t.stat" 2>&1 && [ "$reads" -gt 0 ]; then
		say "$t: exit 0, mdb_stat reads its database; $reads file pages read through pagemu"
	else
		nfail=$((nfail + 1))
		say "$t: FAILED (exit $st, $reads file pages read through pagemu)"
		tail -n 5 "$WORK/$t.err" "$WORK/$t.stat" 2>/dev/null
	fi
done

# A dump in mdb_dump's plain format, keys in order.
awk -v n="$KEYS" 'BEGIN {
	print "VERSION=3"; print "format=print"; print "type=btree"; print "mapsize=2147483648"; print "HEADER=END"
	for (i = 0; i < n; i++) {
		printf " key%09d\n", i
		printf " value-%d-%0160d\n", i, (i * 2654435761) % 4294967296
	}
	print "DATA=END"
}' > "$WORK/in.dump"
mkdir "$WORK/native" "$WORK/pagemu"
mdb_load -f "$WORK/in.dump" "$WORK/native" || fail "native mdb_load failed"
mdb_dump -p "$WORK/native" > "$WORK/native.dump" || fail "native mdb_dump failed"
kb=$(( $(stat -c %s "$WORK/native/data.mdb") / 1024 ))
mem=$(( kb / 4 / 1024 ))M
PAGEMU_MMAP=1 under_pagemu "$mem" "$WORK/report.load" mdb_load -f "$WORK/in.dump" "$WORK/pagemu" 2>"$WORK/load.err" ||
	{ tail -n 5 "$WORK/load.err"; fail "mdb_load under pagemu failed"; }
PAGEMU_MMAP=1 under_pagemu "$mem" "$WORK/report.dump" mdb_dump -p "$WORK/pagemu" > "$WORK/pagemu.dump" 2>"$WORK/dump.err" ||
	{ tail -n 5 "$WORK/dump.err"; fail "mdb_dump under pagemu failed"; }
# The data (the header says what the environment is: mdb_dump adds maxreaders and db_pagesize).
strip() { sed -n '/^HEADER=END$/,$p' "$1"; }
strip "$WORK/in.dump" > "$WORK/a"; strip "$WORK/native.dump" > "$WORK/b"; strip "$WORK/pagemu.dump" > "$WORK/c"
n_native=$(mdb_stat "$WORK/native" | awk '/Entries:/ { print $2 }')
n_pagemu=$(mdb_stat "$WORK/pagemu" | awk '/Entries:/ { print $2 }')
reads=$(( $(report_sum "$WORK/report.load" file_read_pages) + $(report_sum "$WORK/report.dump" file_read_pages) ))
ev=$(( $(report_sum "$WORK/report.load" evictions) + $(report_sum "$WORK/report.dump" evictions) ))
if cmp -s "$WORK/b" "$WORK/c" && cmp -s "$WORK/a" "$WORK/c" && [ "$n_native" = "$KEYS" ] && [ "$n_pagemu" = "$KEYS" ] &&
   [ "$reads" -gt $(( kb / 4 )) ] && [ "$ev" -gt 0 ]; then
	say "round trip: same dump; ${kb} KiB database, pool $mem, $n_pagemu entries, $reads file pages read, $ev evictions"
else
	nfail=$((nfail + 1))
	say "round trip DIFFERS: entries native $n_native pagemu $n_pagemu, $reads file pages read, $ev evictions"
	diff "$WORK/b" "$WORK/c" | head -n 6
fi
[ $nfail = 0 ] || exit 1
echo "$NAME: PASS"
