#!/usr/bin/env bash
# bench/openloop.sh — validate the open-loop load generator (bench/openloop.c,
# build/cc/openloop) against wrk on the same target (issue 7).
#
#   make bench-openloop [QUICK=1]  # = FCD=build/cc/fcd QUICK=$(QUICK) bench/openloop.sh
#
# Target: fcd --io-threads 1 --workers 1, access log off, function hello =
# examples/hello-c; load on its HTTP trigger /2016-08-15/proxy/default/hello/bench.
# fcd (and the instance it spawns) pinned to SERVER_CPU, wrk and openloop to
# LOADGEN_CPU, everything on 127.0.0.1.
#
# Steps:
#   1. wrk -c64 (closed loop): the maximum req/s (MAX);
#   2. wrk -c1: the p50 of an unloaded server (wrk's low-load p50);
#   3. openloop -c64 at 50% and 90% of MAX.
# Validated ("ok") when both openloop runs achieve their target rate within 2%
# with no errors, and openloop's p50 at 50% is within 2× (either way) of wrk's
# low-load p50.
#
#   SMOKE=1    1 s runs, no warm-up, no quiet wait (the test suite's tiny mode)
#   QUICK=1    3 s runs (wrk -c1: 2 s), 1 s warm-up
#   default    10 s runs (wrk -c1: 5 s), 2 s warm-up
#
# Output: bench/results/<date>-<host>/openloop.jsonl (wrk rows as the other
# scripts write them, scenario openloop-wrk; one row per openloop run, scenario
# openloop, with openloop's own JSON members), and a section appended to
# summary.md. Exit status 1 when the validation is "not ok" (not in SMOKE mode).
# Environment: FCD (default build/cc/fcd), OPENLOOP (default openloop next to
# FCD), FCD_REV, QUICK, SMOKE, RESULTS_DIR, SERVER_CPU, LOADGEN_CPU, QUIET_WAIT.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

JSONL_NAME=openloop.jsonl
PAYLOAD=0
CONNS=64
LOADS=(50 90)             # % of wrk's maximum
TRIGGER_PATH=/2016-08-15/proxy/default/hello/bench

bench_init
FCD=${FCD:-$ROOT/build/cc/fcd}
case $FCD in /*) ;; *) FCD=$ROOT/$FCD ;; esac
[ -x "$FCD" ] || die "FCD=$FCD is not an executable (run: make)"
OPENLOOP=${OPENLOOP:-$(dirname "$FCD")/openloop}
[ -x "$OPENLOOP" ] || die "OPENLOOP=$OPENLOOP is not an executable (run: make $OPENLOOP)"
[ -x "$ROOT/examples/hello-c/bootstrap" ] || die "examples/hello-c is not built (run: make)"

bench_mode
case $MODE in
smoke) SECS=1 LOW_SECS=1 WARM_SECS=0 ;;
quick) SECS=3 LOW_SECS=2 WARM_SECS=1 ;;
full) SECS=10 LOW_SECS=5 WARM_SECS=2 ;;
esac

BUSY=$(wait_quiet "${QUIET_WAIT:-$([ "$MODE" = quick ] && echo 30 || echo 120)}")
if [ "$BUSY" -gt 10 ]; then
    log "warning: CPUs already ${BUSY}% busy before the benchmark; numbers will be skewed"
fi

# fcd as bench/sync.sh starts it: one io thread, one worker, access log off.
mkdir -p "$BENCH_TMP/fcd-data"
printf '{"access_log": false, "instance_idle_s": 3600}\n' >"$BENCH_TMP/fcd.json"
start_server fcd /healthz "$FCD" --foreground --listen 127.0.0.1:@PORT@ \
    --data-dir "$BENCH_TMP/fcd-data" --io-threads 1 --workers 1 \
    --config "$BENCH_TMP/fcd.json" --function "hello=$ROOT/examples/hello-c,concurrency=200"
SYS_TREE[fcd]=1
URL=${SYS_URL[fcd]%/healthz}$TRIGGER_PATH
SYS_URL[fcd]=$URL
# The first request starts the instance (cold start), outside any measurement.
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$URL") || die "fcd did not answer $URL"
[ "$code" = 200 ] || die "$URL answered $code"

# ---- wrk: closed-loop maximum and low-load latency ----------------------------------
measure_wrk openloop-wrk fcd "$CONNS" "$SECS" "$WARM_SECS" 1
measure_wrk openloop-wrk fcd 1 "$LOW_SECS" 0 1
MAX_RPS=$(median_col openloop-wrk fcd "$CONNS" 5)
LOW_P50=$(median_col openloop-wrk fcd 1 6)
if [ -z "$MAX_RPS" ] || [ -z "$LOW_P50" ]; then die "no wrk numbers"; fi

# ---- openloop at fractions of the maximum -------------------------------------------
# jfield NAME JSON: the value of a top-level member of a flat JSON object.
jfield() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }

declare -A OL=()          # load % -> openloop's JSON line
for load in "${LOADS[@]}"; do
    rate=$(awk -v m="$MAX_RPS" -v p="$load" 'BEGIN { printf "%.0f", m * p / 100 }')
    out=$BENCH_TMP/openloop-$load.json
    timeout --kill-after=5 "$((SECS + 20))" taskset -c "$LOADGEN_CPU" \
        "$OPENLOOP" -c "$CONNS" -r "$rate" -d "$SECS" "$URL" >"$out" 2>"$BENCH_TMP/openloop-$load.err" ||
        die "openloop at $load% failed: $(tail -n 3 "$BENCH_TMP/openloop-$load.err")"
    json=$(tail -n 1 "$out")
    [ -n "$(jfield rate_achieved "$json")" ] || die "could not parse openloop output: $json"
    kill -0 "${SYS_PIDS[fcd]}" 2>/dev/null || die "fcd died during the run"
    OL[$load]=$json
    members=${json#\{}
    emit_json "\"scenario\":\"openloop\",\"system\":\"fcd\",\"load_pct\":$load,${members%\}}"
    log "openloop $load% of $MAX_RPS: target $rate req/s, achieved $(jfield rate_achieved "$json")," \
        "p50 $(jfield p50_us "$json") µs, p99 $(jfield p99_us "$json") µs," \
        "max $(jfield max_us "$json") µs, errors $(jfield errors "$json")"
done

# ---- validation and summary ---------------------------------------------------------
verdict=ok
reasons=()
for load in "${LOADS[@]}"; do
    json=${OL[$load]}
    if ! awk -v t="$(jfield rate_target "$json")" -v a="$(jfield rate_achieved "$json")" \
        'BEGIN { exit !(t > 0 && a / t >= 0.98 && a / t <= 1.02) }'; then
        verdict="not ok"
        reasons+=("achieved rate off target by more than 2% at $load%")
    fi
    if [ "$(jfield errors "$json")" != 0 ]; then
        verdict="not ok"
        reasons+=("$(jfield errors "$json") errors at $load%")
    fi
done
p50_half=$(jfield p50_us "${OL[50]}")
if ! awk -v o="$p50_half" -v w="$LOW_P50" 'BEGIN { exit !(o != "null" && w > 0 && o / w <= 2 && o / w >= 0.5) }'; then
    verdict="not ok"
    reasons+=("openloop p50 at 50% ($p50_half µs) not within 2× of wrk's low-load p50 ($LOW_P50 µs)")
fi

{
    echo
    echo "## openloop: open-loop generator vs wrk, fcd HTTP trigger (hello-c) — $RUN_ID"
    echo
    echo "Host $HOST ($(nproc) CPUs, $(uname -r)); fcd $(fcd_rev) (--io-threads 1 --workers 1, access log off)" \
        "on core $SERVER_CPU; wrk -t1 and openloop on core $LOADGEN_CPU; ${SECS} s runs ($MODE)." \
        "openloop latency = intended send time → last byte. Background load: ${BUSY}% of all CPUs busy."
    echo
    echo "| generator | conns | rate target | req/s achieved | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '$1 == "openloop-wrk" {
        printf "| wrk (closed loop) | %s | – | %.0f | %s | %s | %s | %s | – | %s |\n", $3, $5, $6, $7, $8, $9, $10
    }' "$BENCH_TMP/rows.tsv"
    for load in "${LOADS[@]}"; do
        json=${OL[$load]}
        printf '| openloop %s%% | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$load" "$CONNS" \
            "$(jfield rate_target "$json")" "$(jfield rate_achieved "$json")" "$(jfield p50_us "$json")" \
            "$(jfield p90_us "$json")" "$(jfield p99_us "$json")" "$(jfield p999_us "$json")" \
            "$(jfield max_us "$json")" "$(jfield errors "$json")"
    done
    echo
    echo "openloop validated against wrk: **$verdict**$([ "${#reasons[@]}" -gt 0 ] && printf ' (%s)' "$(IFS=';'; echo "${reasons[*]}")")"
} | tee -a "$RESULTS_DIR/summary.md"
log "raw rows: $RESULTS_DIR/$JSONL_NAME; summary appended to $RESULTS_DIR/summary.md"
# SMOKE (the test suite) checks that the tool runs; 1 s on a shared machine
# says nothing about its accuracy, so only real runs fail on the verdict.
[ "$verdict" = ok ] || [ "${SMOKE:-0}" = 1 ]
