#!/bin/sh
# run.sh - every acceptance script (tests/accept/*.sh but this one and
# common.sh): real programs under pagemu run, their output compared with a
# native run. Prints "N passed, N failed" last; exit 1 when any failed
# (a script that cannot set up what it needs counts as failed).
#
#   sh tests/accept/run.sh [NAME...]     e.g. sh tests/accept/run.sh uthash jq
set -u
D=$(dirname "$0")
if [ $# -gt 0 ]; then names="$*"; else names="uthash speedtest1 sort jq"; fi
pass=0 nfail=0 failed=
for n in $names; do
	s=$D/$n.sh
	echo "=== $n"
	t0=$(date +%s)
	if [ -f "$s" ] && sh "$s"; then
		pass=$((pass + 1))
	else
		nfail=$((nfail + 1)); failed="$failed $n"
	fi
	echo "=== $n: $(( $(date +%s) - t0 )) s"
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $nfail failed"
[ $nfail = 0 ]
