#!/bin/bash
# Runs every suite `make test` covers and ends with one line: "N passed, N failed".
#   unit tests (check) built plain and under ASan/UBSan, the container image (make image),
#   integration tests against the real daemon with real peers (python3-grpcio, the
#   OpenTelemetry JS SDK) and against the image run by podman.
# Each suite is bounded in time; a suite that crashes or hangs counts as failed.
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()

# check prints "100%: Checks: 12, Failures: 0, Errors: 0".
run_unit() {
    local bin=$1 label=$2 out
    out=$(timeout 300 "$bin" 2>&1)
    local rc=$?
    local line
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $label (exit $rc, no summary)"
        printf '%s\n' "$out" | tail -20
        failed=$((failed + 1))
        failures+=("$label")
        return
    fi
    local n f e
    n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
    e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + n - f - e))
    failed=$((failed + f + e))
    if [ "$f" != 0 ] || [ "$e" != 0 ] || [ $rc != 0 ]; then
        printf '%s\n' "$out" | grep -vE '^[0-9]+%: Checks' | grep -E ':[EF]:' | head -20
        failures+=("$label")
        if [ "$f" = 0 ] && [ "$e" = 0 ]; then
            echo "FAIL $label (exit $rc)"
            printf '%s\n' "$out" | tail -20
            failed=$((failed + 1))
        fi
    fi
    echo "$label: $line"
}

for bin in build/tests/test_*; do
    [ -x "$bin" ] && run_unit "$bin" "unit $(basename "$bin")"
done
# Sanitized suites run in one process (CK_FORK=no): in check's fork mode a leak in a
# test's child is printed but not failed, so LeakSanitizer's exit code would be lost.
for bin in build/asan/tests/test_*; do
    [ -x "$bin" ] && CK_FORK=no ASAN_OPTIONS=detect_leaks=1:exitcode=23 \
        run_unit "$bin" "asan $(basename "$bin")"
done

# The container image, which tests/integration/test_image.py runs: built (or found up to
# date in podman's layer cache) before the integration tests. A build that fails counts as
# a failure here, and the image test then fails on the missing or stale image.
build_image() {
    local t0=$SECONDS out
    if out=$(timeout 1200 make --no-print-directory image 2>&1); then
        passed=$((passed + 1))
        echo "$(printf '%s\n' "$out" | tail -1) (make image took $((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        failures+=("make image")
        echo "FAIL make image (after $((SECONDS - t0)) s)"
        printf '%s\n' "$out" | tail -30
    fi
}
build_image

tests/integration/pygen.sh >/dev/null
# Two tests at a time: the minute-long outage tests (which start first) then overlap the
# short ones instead of adding their whole length to the run.
run_integration() {
    local label=$1
    shift
    local out
    out=$(env "$@" timeout 900 /usr/bin/python3 tests/integration/run.py -j 2 2>&1)
    printf '%s\n' "$out" | grep -E '^(PASS|FAIL|ERROR)' | sed "s/^/$label /"
    printf '%s\n' "$out" | grep -A30 -E '^(FAIL|ERROR):' | head -80
    local line
    line=$(printf '%s\n' "$out" | grep -E '^integration: [0-9]+ passed, [0-9]+ failed' | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $label integration (no summary)"
        printf '%s\n' "$out" | tail -30
        failed=$((failed + 1))
        failures+=("$label integration")
        return
    fi
    local p f
    p=$(sed -E 's/integration: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" != 0 ] && failures+=("$label integration")
    echo "$label $line"
}
run_integration "plain" SPANRELAY_BIN=build/spanrelay
run_integration "asan" SPANRELAY_BIN=build/asan/spanrelay SPANRELAY_ASAN=1 \
    ASAN_OPTIONS=detect_leaks=1:exitcode=23

if [ ${#failures[@]} -gt 0 ]; then
    echo "failed suites: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
