#!/bin/sh
# run.sh - the compatibility corpus (tests/compat/corpus.sh): programs and
# test suites from Debian, each run natively and under `pagemu run`, with
# their output and exit status compared.
#
#   sh tests/compat/run.sh [--fast] [NAME...]
#
# For each case: its programs are installed (as root; else it is skipped
# with the apt-get line), its input is generated, then it runs natively
# under /usr/bin/time -f %M (output, exit status, peak RSS and time in one
# run), then under pagemu run --memory POOL with POOL = peak RSS / 4
# (COMPAT_FRACTION), at least COMPAT_FLOOR (4M). Both runs start in the
# same fresh directory, with the same environment. A case passes when
# - its exit status, stdout and stderr (after the case's filter, which
#   only removes what is nondeterministic) are the native run's;
# - its report shows it ran on pagemu (faults > 0 over its processes);
# - every process whose heap held clearly more than the pool at once
#   (its report's allocated peak; see verdict) evicted pages.
# Else it fails with one reason line, then the start of the difference.
#
# Ends with the per-case table (also written as Markdown to
# $B/compat/table.md, table-fast.md with --fast; COMPAT_TABLE) and
# "N passed, N failed, N skipped".
# Exit 1 when any case failed.
#
# Environment: B (build dir), COMPAT_SETUP_SKIP=1 (a case whose programs
# cannot be installed is skipped, else it fails), COMPAT_TMP (scratch,
# default /var/tmp), COMPAT_TIMEOUT (seconds a pagemu run may take beyond
# 20 times the native time, default 120).
set -u
. "$(dirname "$0")/../accept/common.sh"
NAME=compat
ACCEPT_FRACTION=${COMPAT_FRACTION:-4}
ACCEPT_TMP=${COMPAT_TMP:-${ACCEPT_TMP:-/var/tmp}}
FLOOR_KB=${COMPAT_FLOOR_KB:-4096}
TABLE=${COMPAT_TABLE:-}
PROGS=$B/compat/progs
LIMIT=${COMPAT_TIMEOUT:-120}
HALF=all
[ "${1:-}" = --fast ] && { HALF=fast; shift; }
[ -n "$TABLE" ] || { [ $HALF = fast ] && TABLE=$B/compat/table-fast.md || TABLE=$B/compat/table.md; }

# The programs must be Debian's (not a python3 or a tool under /usr/local),
# and their output must not depend on the caller's locale, time zone or
# home directory.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C TZ=UTC
unset PYTHONPATH PYTHONHOME PERL5LIB LUA_PATH LUA_INIT MAKEFLAGS MFLAGS

CASES=
# compat_case NAME HALF 'WHAT' CMD... -- PKG...: declare a case. HALF is
# fast (make check) or full (make compat only); WHAT is the table's
# program column. c_NAME runs it; p_NAME (optional) prepares its input in
# $IN once; f_NAME (optional) filters its stdout and stderr. CMD... are
# the commands (or files) it needs, PKG... the packages that bring them.
compat_case() {
	CASES="$CASES $1"
	eval "half_$1=\$2 what_$1=\$3"
	n=$1
	shift 3
	eval "need_$n=\$*"
}
. "$(dirname "$0")/corpus.sh"

# run CMD...: the case's one measured command, natively (peak RSS to
# $CW/peak) or under pagemu (report to $CW/report.json), in $RUN.
run() {
	if [ "$MODE" = native ]; then
		timeout -k 10 600 /usr/bin/time -f %M -o "$CW/peak" "$@"
	else
		timeout -k 10 "$TLIMIT" "$PAGEMU" run --memory "$POOL" --report "$CW/report.json" -- "$@"
	fi
}

# run_mode MODE: the case in a fresh $RUN; sets st and secs.
run_mode() {
	MODE=$1
	rm -rf "$RUN" && mkdir -p "$RUN" && cd "$RUN" || exit 1
	t0=$(now)
	"c_$c" < /dev/null > "$CW/$MODE.out" 2> "$CW/$MODE.err"
	st=$?
	secs=$(elapsed "$t0" "$(now)")
	cd "$CW" || exit 1
	if command -v "f_$c" >/dev/null 2>&1; then
		for s in out err; do
			"f_$c" < "$CW/$MODE.$s" > "$CW/$MODE.$s.f"
			mv "$CW/$MODE.$s.f" "$CW/$MODE.$s"
		done
	fi
}

# procs REPORT: per process "program pid faults evictions allocated-peak
# first-touched-bytes" (first touches: demand-zero faults x 4 KiB pages).
procs() {
	awk 'function num(key,  v) { v = $0; if (!sub("^.*[{,]\"" key "\":", "", v)) return 0; sub(/[^0-9].*/, "", v); return v + 0 }
	{
		p = $0; sub(/^.*"program":"/, "", p); sub(/".*/, "", p)
		print p, num("pid"), num("faults"), num("evictions"), num("peak"), num("faults_zero") * 4096
	}' "$1"
}

# verdict: sets why (empty = pass) from the two runs and the report.
verdict() {
	why=
	if [ "$nst" != 0 ] && [ "$nst" -ge 124 ]; then
		why="native run failed (exit $nst): not pagemu's doing"; return
	fi
	if [ "$pst" = 124 ] || [ "$pst" = 137 ] && [ "$pst" != "$nst" ]; then
		why="timed out under pagemu after $TLIMIT s (native $nsecs s)"; return
	fi
	[ "$pst" = "$nst" ] || { why="exit $pst under pagemu, $nst natively"; return; }
	cmp -s "$CW/native.out" "$CW/pagemu.out" || { why="stdout differs"; return; }
	cmp -s "$CW/native.err" "$CW/pagemu.err" || { why="stderr differs"; return; }
	ran_on_pagemu "$CW/report.json" || { why="no report with faults: it did not run on pagemu"; return; }
	pool_bytes=$((pool_kb * 1024))
	# A process needed more than the pool when its heap held half as much
	# again as the pool at once and it touched more pages than the pool
	# holds. The report has no peak of resident pages: a block may be
	# allocated and never touched (sort's buffer), or touched only in part
	# (git, at 1.04 times the pool, did not evict), hence the margin.
	short=$(procs "$CW/report.json" | awk -v pool=$pool_bytes '$5 > pool * 1.5 && $6 > pool && $4 == 0 { printf "%s %s[%s] (allocated peak %d KiB, %d KiB first touched)", s, $1, $2, $5 / 1024, $6 / 1024; s = "," }')
	[ -z "$short" ] || why="no evictions though the heap outgrew the pool in$short"
}

# show_failure: the reason line, the start of what differs; both runs'
# output and the report are kept in $B/compat/failed/NAME/.
show_failure() {
	keep=$B/compat/failed/$c
	rm -rf "$keep" && mkdir -p "$keep" && cp "$CW"/native.* "$CW"/pagemu.* "$keep/"
	[ -f "$CW/report.json" ] && cp "$CW/report.json" "$keep/"
	echo "compat: $c: FAIL: $why"
	echo "compat: $c:   pool $POOL, native peak ${peak_kb} KiB; outputs in $keep"
	diff "$CW/native.out" "$CW/pagemu.out" | head -n 8 | sed 's/^/    stdout: /'
	diff "$CW/native.err" "$CW/pagemu.err" | head -n 8 | sed 's/^/    stderr: /'
}

mk_work
mkdir -p "$PROGS" "$(dirname "$TABLE")"
export HOME="$WORK/home" IN PROGS
mkdir -p "$HOME"
names=${*:-$CASES}
pass=0 nfail=0 nskip=0 failed=
: > "$WORK/rows"
# row FIELD...: one line of the table (tab-separated).
row() { (IFS='	'; echo "$*") >> "$WORK/rows"; }
t_all=$(now)
for c in $names; do
	eval "half=\${half_$c:-}"
	[ -n "$half" ] || { echo "compat: $c: no such case"; nfail=$((nfail + 1)); failed="$failed $c"; continue; }
	[ $HALF = fast ] && [ "$half" != fast ] && [ $# = 0 ] && continue
	eval "what=\$what_$c need=\$need_$c"
	CW=$WORK/$c IN=$WORK/$c/in RUN=$WORK/$c/run
	mkdir -p "$IN"
	echo "=== $c: $what"
	# shellcheck disable=SC2086
	( need_pkgs $need ) > "$CW.setup" 2>&1
	sst=$?
	cat "$CW.setup"
	if [ $sst = 0 ] && command -v "p_$c" >/dev/null 2>&1; then
		(cd "$IN" && "p_$c") > "$CW.setup" 2>&1 || { sst=1; cat "$CW.setup"; say "$c: preparing its input failed"; }
	fi
	if [ $sst != 0 ]; then
		if [ $sst = 2 ] && [ "${COMPAT_SETUP_SKIP:-0}" = 1 ]; then
			nskip=$((nskip + 1)); v=SKIP
		else
			nfail=$((nfail + 1)); failed="$failed $c"; v="FAIL (set-up)"
		fi
		row "$c" "$what" - - - - - - "$v"
		continue
	fi
	run_mode native
	nst=$st nsecs=$secs
	peak_kb=$(tail -n 1 "$CW/peak" 2>/dev/null)
	case $peak_kb in '' | *[!0-9]*) peak_kb=0 ;; esac
	pool_kb=$((peak_kb / ACCEPT_FRACTION))
	[ $pool_kb -lt "$FLOOR_KB" ] && pool_kb=$FLOOR_KB
	pool_kb=$(( (pool_kb + 3) / 4 * 4 ))
	POOL=${pool_kb}K
	TLIMIT=$(awk -v n="$nsecs" -v l="$LIMIT" 'BEGIN { printf "%d", n * 20 + l }')
	run_mode pagemu
	pst=$st psecs=$secs
	verdict
	# What pagemu's run said that the native one did not goes into the
	# reason: pagemu's first error if any (warnings may come before it),
	# else the first new line of stderr (a crash message, usually).
	if [ -n "$why" ]; then
		said=$(diff "$CW/native.err" "$CW/pagemu.err" | sed -n 's/^> //p' | grep -v '^[[:space:]]*$' |
			awk '/^pagemu: / { print; found = 1; exit } NR == 1 { first = $0 } END { if (!found && NR) print first }' |
			tr '\t' ' ' | cut -c1-160)
		[ -z "$said" ] || why="$why; stderr: $said"
	fi
	rm -rf "$B/compat/failed/$c"
	faults=$(report_sum "$CW/report.json" faults)
	evictions=$(report_sum "$CW/report.json" evictions)
	nproc=$(grep -c . "$CW/report.json" 2>/dev/null)
	if [ -z "$why" ]; then
		pass=$((pass + 1)); v=PASS
		echo "compat: $c: PASS (exit $pst; pool $POOL; $faults faults, $evictions evictions in $nproc processes)"
	else
		nfail=$((nfail + 1)); failed="$failed $c"; v="FAIL: $why"
		show_failure
	fi
	row "$c" "$what" "$((peak_kb / 1024)) MiB" "$(awk -v k=$pool_kb 'BEGIN { printf "%.1f MiB", k / 1024 }')" \
	  "$nsecs" "$psecs" "$faults" "$evictions" "$v"
done
t_all=$(elapsed "$t_all" "$(now)")

# The table, aligned on the terminal and as Markdown.
row case program "peak RSS" pool "native s" "pagemu s" faults evictions verdict
{ tail -n 1 "$WORK/rows"; sed '$d' "$WORK/rows"; } > "$WORK/table"
awk -F'\t' '{ printf "%-18s %-44s %9s %9s %8s %8s %9s %9s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$WORK/table"
awk -F'\t' '{
	for (i = 1; i <= NF; i++) gsub(/\|/, "\\|", $i)
	printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", (NR > 1 ? "`" $1 "`" : $1), $2, $3, $4, $5, $6, $7, $8, $9
	if (NR == 1) print "|---|---|--:|--:|--:|--:|--:|--:|---|"
}' "$WORK/table" > "$TABLE"
echo "compat: table in $TABLE; $HALF: $t_all s"
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $nfail failed, $nskip skipped"
[ $nfail = 0 ]
