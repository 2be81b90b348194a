#!/bin/sh
# run.sh - every acceptance script (tests/accept/*.sh but this one and
# common.sh): real programs under pagemu run, their output compared with a
# native run. Prints "N passed, N failed" last; exit 1 when any failed
# (a script that cannot set up what it needs counts as failed).
#
#   sh tests/accept/run.sh [NAME...]     e.g. sh tests/accept/run.sh uthash jq
# With ACCEPT_SETUP_SKIP=1 (make check), a script that cannot set up what
# it needs (exit 2: no network for a source package, say) is reported as
# skipped instead of failed; a wrong output still fails.
set -u
D=$(dirname "$0")
if [ $# -gt 0 ]; then names="$*"; else names="uthash speedtest1 sqlite_mmap lmdb sort jq"; fi
pass=0 nfail=0 nskip=0 failed=
for n in $names; do
	s=$D/$n.sh
	echo "=== $n"
	t0=$(date +%s)
	st=1
	[ -f "$s" ] && { sh "$s"; st=$?; }
	if [ $st = 0 ]; then
		pass=$((pass + 1))
	elif [ $st = 2 ] && [ "${ACCEPT_SETUP_SKIP:-0}" = 1 ]; then
		nskip=$((nskip + 1)); echo "=== $n: SKIPPED: could not set up what it needs (see above)"
	else
		nfail=$((nfail + 1)); failed="$failed $n"
	fi
	echo "=== $n: $(( $(date +%s) - t0 )) s"
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $nfail failed, $nskip skipped"
[ $nfail = 0 ]
