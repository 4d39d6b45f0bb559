#!/usr/bin/env bash
# bench/run.sh — every benchmark scenario of issue 7 in one run, then the plots.
#
#   make bench [QUICK=1]      # = FCD=build/cc/fcd QUICK=$(QUICK) bench/run.sh
#
# Runs, in this order and into one results directory
# (bench/results/<date>-<host>/, git-ignored):
#   bench/http.sh    static 200: fcd vs nginx
#   bench/sync.sh    scenarios 1 and 5: sync invoke vs nginx, HAProxy, the C and Node backends; cold starts
#   bench/openloop.sh the open-loop generator (bench/openloop.c) checked against wrk
#   bench/async.sh   scenarios 2 and 3: durable acks vs the store floor; delay lateness
#   bench/misc.sh    scenarios 4, 6, 7 and 8: timeout precision, idle connections,
#                    idle fcd, many functions
#   bench/plot.sh    one PNG per scenario next to summary.md
# It waits (bounded: 120 s, QUICK 10 s) once for the machine to be quiet, then
# lets each script take only its short reading (QUIET_WAIT=0). A failing
# script is reported and the others still run; the exit status is then 1.
# Budget: QUICK=1 about 3 minutes, full about 19 minutes.
# Environment: as the scripts (FCD, QUICK, SMOKE, RESULTS_DIR, SERVER_CPU,
# LOADGEN_CPU, ...); BENCH_SCRIPTS to run a subset (e.g. "async misc").
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

bench_init
export RESULTS_DIR FCD="${FCD:-$ROOT/build/cc/fcd}" QUICK="${QUICK:-0}" SMOKE="${SMOKE:-0}"
read -r -a SCRIPTS <<<"${BENCH_SCRIPTS:-http sync openloop async misc}"

t0=$(date +%s)
busy=$(wait_quiet "$([ "$QUICK" = 1 ] && echo 10 || echo 120)")
# QUICK: 2 cold-start samples per runtime (sync.sh's own QUICK default is 3).
[ "$QUICK" = 1 ] && export COLD_SAMPLES=${COLD_SAMPLES:-2}
log "background load before the run: ${busy}% of all CPUs busy"
{
    echo
    echo "# make bench$([ "$QUICK" = 1 ] && echo ' QUICK=1') — $RUN_ID"
    echo
    echo "Host $HOST: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -r)," \
        "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; fcd $(fcd_rev)." \
        "Background load before the run: ${busy}% of all CPUs busy."
} >>"$RESULTS_DIR/summary.md"

failed=()
for s in "${SCRIPTS[@]}"; do
    log "==== bench/$s.sh"
    if ! QUIET_WAIT=0 "$ROOT/bench/$s.sh"; then
        log "bench/$s.sh failed"
        failed+=("$s")
    fi
done

log "==== bench/plot.sh"
if pngs=$("$ROOT/bench/plot.sh" "$RESULTS_DIR"); then
    {
        echo
        echo "Plots (bench/plot.sh): $(for p in $pngs; do printf '%s ' "$(basename "$p")"; done)"
    } >>"$RESULTS_DIR/summary.md"
else
    failed+=(plot)
fi
log "done in $(($(date +%s) - t0)) s: $RESULTS_DIR/summary.md${failed[*]:+; failed: ${failed[*]}}"
[ "${#failed[@]}" -eq 0 ]
