#!/bin/sh
# Run Check test programs; exit non-zero when any fails.
# usage: run.sh DIR test_a test_b ...
dir=$1; shift
pass=0; fail=0; failed=""
for t in "$@"; do
	if "$dir/$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
echo "test programs: $pass passed, $fail failed${failed:+ (failed:$failed)}"
[ "$fail" -eq 0 ]
