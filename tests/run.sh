#!/bin/sh
# Runs every test: the unit runner, then the end-to-end suite against a real
# fcd. Each prints TAP and its own "N passed, N failed"; this script ends with
# the totals. Exit status 0 only when nothing failed.
# Environment: FCD (the daemon under test), UNIT (the unit runner).
set -u
: "${FCD:?path of the fcd binary}" "${UNIT:?path of the unit-test runner}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0 failed=0

tally() { # reads the last "N passed, N failed" line of $out
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "# $1 ended without a summary line"
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

echo "# unit tests"
"$UNIT" 2>&1 | tee "$out"
tally unit
echo "# end-to-end tests"
FCD="$FCD" python3 tests/e2e/run.py 2>&1 | tee "$out"
tally e2e
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
