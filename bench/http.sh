#!/usr/bin/env bash
# bench/http.sh — static-response benchmark: fcd's GET /healthz vs nginx serving a
# static 200 with the same 15-byte JSON body, in the same run (issue 3).
#
#   make bench-http [QUICK=1]      # = FCD=build/cc/fcd QUICK=$(QUICK) bench/http.sh
#
# Method (../shared/BENCH.md): fcd (--io-threads 1, access log off) and nginx (one
# process, access log off) both pinned to core 0; wrk -t1 pinned to core 1. The
# systems alternate run by run (fcd nginx fcd nginx ...), each run preceded by a
# short warm-up. CPU µs/request comes from the server's utime+stime in
# /proc/PID/stat over the measured run; memory from VmRSS/VmHWM after it.
#
#   SMOKE=1    1 run × 1 s at 100 connections, no warm-up, no quiet wait (the
#              test suite's tiny mode: proves it produces numbers)
#   QUICK=1    2 repetitions × 3 s at 100 connections
#   default    3 repetitions × 10 s at 100 connections, plus 3 × 5 s at 1 and 16
#
# Output: bench/results/<date>-<host>/http.jsonl (one JSON object per run,
# appended) and a summary table printed and appended to .../summary.md, with the
# target "fcd ≥ 1.0× nginx req/s at 100 connections" marked met / not met.
# Environment: FCD (fcd binary, default build/cc/fcd), FCD_REV (its revision for
# the summary, default this tree's HEAD), QUICK, SMOKE, RESULTS_DIR, SERVER_CPU (0),
# LOADGEN_CPU (1), QUIET_WAIT (max seconds to wait for other work to stop
# before starting: 120, or 30 with QUICK=1).
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SCENARIO=static-200
JSONL_NAME=http.jsonl
PAYLOAD=0               # request body bytes
TARGET_CONNS=100
TARGET_RATIO=1.0
SYSTEMS=(fcd nginx)     # measured in this order within each repetition

bench_init
FCD=${FCD:-$ROOT/build/cc/fcd}
case $FCD in /*) ;; *) FCD=$ROOT/$FCD ;; esac
[ -x "$FCD" ] || die "FCD=$FCD is not an executable (run: make)"
command -v nginx >/dev/null 2>&1 || die "nginx not found (run: make deps)"

if [ "${SMOKE:-0}" = 1 ]; then
    MAIN_REPS=1 MAIN_SECS=1 WARM_SECS=0
    SWEEP=()
elif [ "${QUICK:-0}" = 1 ]; then
    MAIN_REPS=2 MAIN_SECS=3 WARM_SECS=1
    SWEEP=()            # connection counts measured besides TARGET_CONNS
else
    MAIN_REPS=3 MAIN_SECS=10 WARM_SECS=2
    SWEEP=(1 16) SWEEP_REPS=3 SWEEP_SECS=5
fi

# Other work on this shared VM skews every number: wait (bounded) for quiet.
BUSY=$(wait_quiet "${QUIET_WAIT:-$([ "${QUICK:-0}" = 1 ] && echo 30 || echo 120)}")
if [ "$BUSY" -gt 10 ]; then
    log "warning: CPUs already ${BUSY}% busy before the benchmark; numbers will be skewed"
fi

start_fcd fcd
start_nginx nginx

# Both servers must return the same body; say so if they drift apart.
fcd_body=$(curl -fsS --max-time 2 "${SYS_URL[fcd]}")
nginx_body=$(curl -fsS --max-time 2 "${SYS_URL[nginx]}")
[ "$fcd_body" = "$nginx_body" ] ||
    log "warning: bodies differ (fcd ${#fcd_body} B: $fcd_body; nginx ${#nginx_body} B)"

# run_set CONNS REPS SECS: REPS alternating repetitions over SYSTEMS.
run_set() {
    local conns=$1 reps=$2 secs=$3 rep sys
    for rep in $(seq "$reps"); do
        for sys in "${SYSTEMS[@]}"; do
            measure_wrk "$SCENARIO" "$sys" "$conns" "$secs" "$WARM_SECS" "$rep"
        done
    done
}

run_set "$TARGET_CONNS" "$MAIN_REPS" "$MAIN_SECS"
for c in "${SWEEP[@]}"; do
    run_set "$c" "$SWEEP_REPS" "$SWEEP_SECS"
done

# ---- summary ------------------------------------------------------------------
# FCD_REV names the build when FCD is not built from this tree.
rev=${FCD_REV:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [ -z "${FCD_REV:-}" ] && [ -n "$(git -C "$ROOT" status --porcelain -- core io 2>/dev/null)" ]; then
    rev="$rev+dirty"
fi
{
    echo
    echo "## static-200: fcd /healthz vs nginx static 200 — $RUN_ID"
    echo
    echo "Host $HOST ($(nproc) CPUs, $(uname -r)); fcd $rev (--io-threads 1, access log off);" \
        "$(nginx -v 2>&1 | sed 's/^nginx version: //') (1 process)."
    echo "Servers on core $SERVER_CPU, wrk -t1 on core $LOADGEN_CPU; alternating runs;" \
        "$MAIN_REPS × ${MAIN_SECS} s at $TARGET_CONNS connections${SWEEP[*]:+, $SWEEP_REPS × ${SWEEP_SECS} s at ${SWEEP[*]}}," \
        "${WARM_SECS} s warm-up before each. Median (min..max); ratios are fcd/nginx."
    echo "Background load before the run: ${BUSY}% of all CPUs busy$([ "$BUSY" -gt 10 ] && echo ' — **numbers skewed by other work**')."
    echo
    summarize_wrk "$SCENARIO" fcd nginx "$TARGET_CONNS" "$TARGET_RATIO"
} | tee -a "$RESULTS_DIR/summary.md"
log "raw rows: $RESULTS_DIR/$JSONL_NAME; summary appended to $RESULTS_DIR/summary.md"
