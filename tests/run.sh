#!/bin/sh
# Run Check test programs (tests/testutil.h); exit non-zero when any fails.
# usage: run.sh DIR test_a test_b ...
#
# Counts test cases over all the programs: each program writes
# "PASSED FAILED SKIPPED" and its skip reasons to $PM_TEST_RESULT. A missing
# program, or one that exits other than 0 or 77 (a crash, a leak report at
# exit) with no failed test recorded, counts one failure more; exit 77
# without a result counts one skip. Ends with the skip reasons, the failed
# programs, then "tests: N passed, N failed, N skipped".
dir=$1; shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagemu-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
npass=0 nfail=0 nskip=0 failed=
: > "$tmp/skips"
for t in "$@"; do
	res=$tmp/$t.result
	if [ ! -x "$dir/$t" ]; then
		echo "$t: $dir/$t missing (not built)"
		nfail=$((nfail + 1)); failed="$failed $t(missing)"
		continue
	fi
	t0=$(date +%s)
	PM_TEST_RESULT=$res "$dir/$t"
	st=$?
	echo "$t: $(( $(date +%s) - t0 )) s"
	p=0 f=0 s=0
	if [ -s "$res" ]; then
		read -r p f s < "$res"
		tail -n +2 "$res" >> "$tmp/skips"
	fi
	case $st in
	0) [ -s "$res" ] || p=1 ;;
	77) [ -s "$res" ] || { s=1; echo "$t: exit 77 (skipped), no reason given" >> "$tmp/skips"; } ;;
	*) [ "$f" -gt 0 ] || { f=1; echo "$t: exit status $st"; } ;;
	esac
	npass=$((npass + p)) nfail=$((nfail + f)) nskip=$((nskip + s))
	[ "$f" -gt 0 ] && failed="$failed $t"
done
sed 's/^/skipped: /' "$tmp/skips"
[ -n "$failed" ] && echo "failed programs:$failed"
echo "tests: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
