#!/bin/sh
# sqlite_mmap.sh - SQLite reading a database through mmap (PRAGMA mmap_size
# larger than the database) under pagemu run --mmap, with a pool a quarter
# of the database: a read-heavy query mix, a few updates (written with
# pwrite, read back through the mapping), and PRAGMA integrity_check. The
# output must equal a native run's on a copy of the same database, the
# report must show the file's pages read through pagemu and evicted, and
# the database file must end up identical to the native run's.
#
#   sh tests/accept/sqlite_mmap.sh [ROWS]     (default 250000: a 30 MB database)
set -u
. "$(dirname "$0")/common.sh"

ROWS=${1:-250000}
need_pkgs sqlite3 -- sqlite3
mk_work
cat > "$WORK/gen.sql" <<SQL
PRAGMA page_size=4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER, c REAL);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $ROWS)
INSERT INTO t SELECT x, printf('%040x-%d', (x * 2654435761) % 4294967296, x), (x * 7919) % 1000, x / 3.0 FROM n;
CREATE INDEX tb ON t(b);
CREATE TABLE u AS SELECT b, count(*) AS n, sum(c) AS s FROM t GROUP BY b;
SQL
sqlite3 "$WORK/db.native" < "$WORK/gen.sql" || fail "cannot make the database"
cp "$WORK/db.native" "$WORK/db.pagemu"
cat > "$WORK/q.sql" <<'SQL'
PRAGMA mmap_size=4000000000;
SELECT count(*), sum(b), max(a), min(a) FROM t;
SELECT b, count(*), round(sum(c), 3) FROM t WHERE b < 25 GROUP BY b;
SELECT sum(length(a)) FROM t WHERE id % 13 = 0;
SELECT t.b, u.n FROM t JOIN u ON t.b = u.b WHERE t.id % 5003 = 0 ORDER BY t.id;
SELECT count(*) FROM t WHERE a LIKE '%7f-%';
UPDATE t SET b = b + 1 WHERE id % 97 = 0;
SELECT b, count(*) FROM t WHERE b BETWEEN 100 AND 110 GROUP BY b;
SELECT sum(b) FROM t INDEXED BY tb WHERE b > 990;
PRAGMA integrity_check;
SQL
kb=$(( $(stat -c %s "$WORK/db.native") / 1024 ))
mem=$(( kb / 4 / 1024 ))M
[ "$kb" -ge 16384 ] || fail "the database is only ${kb} KiB"
t0=$(now)
sqlite3 "$WORK/db.native" < "$WORK/q.sql" > "$WORK/native.out" 2>&1 || fail "native run failed"
t1=$(now)
PAGEMU_MMAP=1 under_pagemu "$mem" "$WORK/report" sqlite3 "$WORK/db.pagemu" < "$WORK/q.sql" > "$WORK/pagemu.out" 2>"$WORK/err"
st=$?
t2=$(now)
reads=$(report_sum "$WORK/report" file_read_pages)
ev=$(report_sum "$WORK/report" evictions)
if [ $st != 0 ] || ! cmp -s "$WORK/native.out" "$WORK/pagemu.out"; then
	say "DIFFERS (exit $st, pool $mem)"
	diff "$WORK/native.out" "$WORK/pagemu.out" | head -n 10
	tail -n 5 "$WORK/err"
	exit 1
fi
cmp -s "$WORK/db.native" "$WORK/db.pagemu" || fail "the database files differ after the run"
[ "$reads" -gt $(( kb / 4 )) ] && [ "$ev" -gt 0 ] || fail "the database was not paged by pagemu ($reads file pages read, $ev evictions)"
say "same output and database; ${kb} KiB database, pool $mem, $reads file pages read, $ev evictions; native $(elapsed "$t0" "$t1") s, pagemu $(elapsed "$t1" "$t2") s"
echo "$NAME: PASS"
