#!/usr/bin/env bash
# bench/misc.sh — timeout precision, idle connections, idle fcd, many functions
# (issue 7 scenarios 4, 6, 7 and 8; targets P6, P8 and P9 of ../shared/BENCH.md).
#
#   FCD=build/cc/fcd [QUICK=1|SMOKE=1] [MISC_SCENARIOS="idle timeout ..."] bench/misc.sh
#
# idle         (scenario 7) a fresh fcd (one C function, no instance yet): RSS
#              (VmRSS, VmHWM) and CPU (utime+stime) and thread wake-ups
#              (context switches) over IDLE_SECS with no traffic; then the
#              same again after a 1 s burst of HTTP-trigger load has started
#              the function's instance (fcd alone; the instance apart).
# timeout      (scenario 4) the C function with timeout=1 (FC timeouts are
#              whole seconds; P6 says 100 ms) and the event "sleep:3000": per
#              sample one warm-up invoke (a timeout kills the instance, so the
#              next call would be a cold start), then the timed one (curl:
#              request sent → first byte). Overshoot = that − 1000 ms.
# idle-conns   (scenario 6) two fcds alike (HTTP idle timeout 600 s), one
#              holding IDLE_CONNS idle keep-alive connections (one request
#              each, then idle; bench/hold_conns.py), the other none; wrk at
#              64 connections on the HTTP trigger of the C function,
#              alternating between them. Throughput drop = 1 − ratio; RSS of
#              the fcd process alone (its instance apart).
# functions    (scenario 8) one fcd per function count N (1 … 200; all running
#              at once, measured alternately), service default with functions
#              f1..fN = the C example (instance_concurrency 100,
#              max_instances 1), each warmed to one instance; wrk at 64
#              connections on the HTTP trigger, each request to a random
#              function (per-request Lua, the same for every N); memory of fcd
#              and of fcd + all its instances.
#
#   SMOKE=1    1 × 1 s runs, 1 timeout sample, 200 idle connections, 1 and 3
#              functions, 1 s idle; no quiet wait (the test suite's tiny mode)
#   QUICK=1    2 × 2 s runs (no warm-up: instances are warmed by curl), 3
#              timeout samples, 10,000 idle connections, 1 and 200 functions,
#              3 s idle
#   default    3 × 8 s runs (2 s warm-up), 20 timeout samples, 10,000 idle
#              connections, 1, 10, 50 and 200 functions, 10 s idle
#
# Servers and instances on core SERVER_CPU (0); wrk -t1, curl and the
# connection holder on LOADGEN_CPU (1). Output: bench/results/<date>-<host>/
# misc.jsonl, idle-samples.tsv, and the summary printed and appended to
# .../summary.md with P6, P8 and P9 marked met / not met.
# Environment: FCD, FCD_REV, QUICK, SMOKE, RESULTS_DIR, SERVER_CPU, LOADGEN_CPU,
# QUIET_WAIT, MISC_SCENARIOS, IDLE_CONNS, FN_LEVELS (e.g. "1 50 200"), PYTHON.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

JSONL_NAME=misc.jsonl
TRIGGER=/2016-08-15/proxy/default/hello/bench
INVOKE=/2016-08-15/services/default/functions/hello/invocations
P6_MS=5 P8_RSS_KB=$((100 * 1024)) P8_RATIO=0.9 P9_RSS_KB=$((10 * 1024))
LOAD_CONNS=64

bench_init
bench_mode
FCD=${FCD:-$ROOT/build/cc/fcd}
case $FCD in /*) ;; *) FCD=$ROOT/$FCD ;; esac
[ -x "$FCD" ] || die "FCD=$FCD is not an executable (run: make)"
HELLO_DIR=$ROOT/examples/hello-c
[ -x "$HELLO_DIR/bootstrap" ] || die "examples/hello-c/bootstrap is not built (run: make)"
PY=$(pick_python)
read -r -a SCENARIOS <<<"${MISC_SCENARIOS:-idle timeout idle-conns functions}"

case $MODE in
smoke)
    REPS=1 SECS=1 WARM_SECS=0 TIMEOUT_SAMPLES=1 IDLE_CONNS=${IDLE_CONNS:-200}
    read -r -a FN_LEVELS <<<"${FN_LEVELS:-1 3}"
    IDLE_SECS=1
    ;;
quick)
    REPS=2 SECS=2 WARM_SECS=0 TIMEOUT_SAMPLES=3 IDLE_CONNS=${IDLE_CONNS:-10000}
    read -r -a FN_LEVELS <<<"${FN_LEVELS:-1 200}"
    IDLE_SECS=3
    ;;
full)
    REPS=3 SECS=8 WARM_SECS=2 TIMEOUT_SAMPLES=20 IDLE_CONNS=${IDLE_CONNS:-10000}
    read -r -a FN_LEVELS <<<"${FN_LEVELS:-1 10 50 200}"
    IDLE_SECS=10
    ;;
esac
# fcd and the holder each need one descriptor per idle connection.
NOFILE=$(raise_nofile $((IDLE_CONNS + 2048)))
[ "$NOFILE" -ge $((IDLE_CONNS + 256)) ] ||
    die "open-files limit $NOFILE is too low for $IDLE_CONNS idle connections (ulimit -Hn)"

BUSY=$(wait_quiet "${QUIET_WAIT:-$([ "$MODE" = quick ] && echo 30 || echo 120)}")
if [ "$BUSY" -gt 10 ]; then
    log "warning: CPUs already ${BUSY}% busy before the benchmark; numbers will be skewed"
fi

# fcd_start NAME CONFIG_JSON [FUNCTION_SPEC...]: fcd on one io thread and one
# worker with the given config file contents; sets PORT_OF[NAME].
declare -A PORT_OF=()
fcd_start() {
    local name=$1 conf=$2 f
    shift 2
    local -a fargs=()
    for f in "$@"; do fargs+=(--function "$f"); done
    mkdir -p "$BENCH_TMP/$name-data"
    printf '%s\n' "$conf" >"$BENCH_TMP/$name.json"
    start_server "$name" /healthz "$FCD" --foreground --listen 127.0.0.1:@PORT@ \
        --data-dir "$BENCH_TMP/$name-data" --io-threads 1 --workers 1 \
        --config "$BENCH_TMP/$name.json" "${fargs[@]}"
    PORT_OF[$name]=$START_PORT
}

# children PID: the live descendants of PID (its instances), one a line.
children() { proc_tree "$1" | grep -vx "$1" || true; }

want() { # want SCENARIO: is it selected?
    local s
    for s in "${SCENARIOS[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

SUMMARY=$BENCH_TMP/summary-misc.md
: >"$SUMMARY"

# ---- scenario 7: idle fcd --------------------------------------------------------------
# idle_measure PHASE PID: CPU, wake-ups and RSS of PID alone over IDLE_SECS,
# sampled every 0.5 s into idle-samples.tsv; one JSON row; one summary row.
IDLE_TSV=$RESULTS_DIR/idle-samples.tsv
idle_measure() {
    local phase=$1 pid=$2 t0 t1 x0 x1 w0 w1 rss hwm threads i ticks inst_rss=0
    local -a inst
    t0=$(cpu_ticks "$pid")
    x0=$(ctx_total "$pid")
    w0=$(date +%s%N)
    for i in $(seq $((IDLE_SECS * 2))); do
        sleep 0.5
        read -r rss hwm <<<"$(mem_kb "$pid")"
        printf '%s\t%s\t%s\t%s\t%s\n' "$phase" "$(awk -v i="$i" 'BEGIN { print i / 2 }')" \
            "$rss" "$hwm" "$(($(cpu_ticks "$pid") - t0))" >>"$IDLE_TSV"
    done
    t1=$(cpu_ticks "$pid")
    x1=$(ctx_total "$pid")
    w1=$(date +%s%N)
    read -r rss hwm <<<"$(mem_kb "$pid")"
    threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status")
    mapfile -t inst < <(children "$pid")
    if [ "${#inst[@]}" -gt 0 ]; then read -r inst_rss _ <<<"$(mem_kb "${inst[@]}")"; fi
    ticks=$((t1 - t0))
    local cpu_ms wps secs
    cpu_ms=$((ticks * 1000 / CLK_TCK))
    secs=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    wps=$(awk -v d="$((x1 - x0))" -v s="$secs" 'BEGIN { printf "%.1f", d / s }')
    emit_json "$(printf '"scenario":"idle","system":"fcd","phase":"%s","seconds":%s,"cpu_ticks":%d,"cpu_ms":%d,"wakeups_per_s":%s,"rss_kb":%d,"hwm_kb":%d,"threads":%d,"instances":%d,"instances_rss_kb":%d,"errors":0' \
        "$phase" "$secs" "$ticks" "$cpu_ms" "$wps" "$rss" "$hwm" "$threads" "${#inst[@]}" "$inst_rss")"
    log "idle $phase: ${cpu_ms} ms CPU over ${secs} s, $wps wake-ups/s, RSS $rss KiB (HWM $hwm), $threads threads, ${#inst[@]} instance(s) ($inst_rss KiB)"
    local met="not met"
    [ "$rss" -le "$P9_RSS_KB" ] && [ "$ticks" -eq 0 ] && met=met
    printf '| %s | %s | %d | %s | %d (%d) | %d | %d (%d KiB) | **%s** |\n' "$phase" "$secs" "$cpu_ms" "$wps" \
        "$rss" "$hwm" "$threads" "${#inst[@]}" "$inst_rss" "$met" >>"$BENCH_TMP/idle-rows.md"
}

scenario_idle() {
    printf 'phase\tt_s\trss_kb\thwm_kb\tcpu_ticks\n' >"$IDLE_TSV"
    : >"$BENCH_TMP/idle-rows.md"
    fcd_start fcd-idle '{"access_log": false}' "hello=$HELLO_DIR,concurrency=100"
    local pid=${SYS_PIDS[fcd-idle]} url=http://127.0.0.1:${PORT_OF[fcd-idle]} settle=1
    [ "$MODE" = smoke ] && settle=0.2
    sleep "$settle" # let start-up work (the first health checks) settle
    idle_measure fresh "$pid"
    run_wrk "$LOAD_CONNS" 1 "$url$TRIGGER" "$BENCH_TMP/idle-burst.txt" ||
        die "wrk burst against fcd-idle failed"
    sleep "$settle"
    idle_measure after-load "$pid"
    stop_pid "$pid"
    {
        echo "### idle: fcd with no traffic (P9), fcd process alone"
        echo
        echo "fresh = just started, one C function configured, no instance; after-load = after a 1 s wrk burst at $LOAD_CONNS connections (its instance stays, reported apart). CPU = utime+stime (${CLK_TCK} Hz ticks); wake-ups = context switches of all fcd threads. Samples every 0.5 s in idle-samples.tsv."
        echo
        echo "| phase | seconds | CPU ms | wake-ups/s | RSS KiB (HWM) | threads | instances (RSS) | P9: RSS ≤ 10 MB, no CPU |"
        echo "|---|---:|---:|---:|---:|---:|---:|---|"
        cat "$BENCH_TMP/idle-rows.md"
        echo
    } >>"$SUMMARY"
}

# ---- scenario 4: timeout precision -----------------------------------------------------
scenario_timeout() {
    fcd_start fcd-timeout '{"access_log": false}' "hello=$HELLO_DIR,timeout=1"
    local url=http://127.0.0.1:${PORT_OF[fcd-timeout]}$INVOKE i code pre first hdr body ms over dur errors=0
    local tsv=$BENCH_TMP/timeout.tsv
    : >"$tsv"
    for i in $(seq "$TIMEOUT_SAMPLES"); do
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST -d w "$url") || code=000
        [ "$code" = 200 ] || { log "timeout sample $i: warm-up answered $code"; errors=$((errors + 1)); }
        read -r code pre first <<<"$(taskset -c "$LOADGEN_CPU" curl -sS --max-time 10 -X POST -d sleep:3000 \
            -D "$BENCH_TMP/timeout-head.txt" -o "$BENCH_TMP/timeout-body.txt" \
            -w '%{http_code} %{time_pretransfer} %{time_starttransfer}' "$url")" || code=000
        hdr=$(tr -d '\r' <"$BENCH_TMP/timeout-head.txt" | awk -F': ' 'tolower($1) == "x-fc-error-type" { print $2 }')
        dur=$(tr -d '\r' <"$BENCH_TMP/timeout-head.txt" | awk -F': ' 'tolower($1) == "x-fc-invocation-duration" { print $2 }')
        body=$(head -c 200 "$BENCH_TMP/timeout-body.txt")
        if [ "$code" != 200 ] || [ -z "$hdr" ] || [[ $body != *"timed out"* ]]; then
            log "timeout sample $i: unexpected answer $code ${hdr:-no x-fc-error-type}: $body"
            errors=$((errors + 1))
            continue
        fi
        ms=$(awk -v a="$pre" -v b="$first" 'BEGIN { printf "%.3f", (b - a) * 1000 }')
        over=$(awk -v m="$ms" 'BEGIN { printf "%.3f", m - 1000 }')
        printf '%s\n' "$over" >>"$tsv"
        emit_json "$(printf '"scenario":"timeout","system":"fcd","sample":%d,"timeout_s":1,"elapsed_ms":%s,"overshoot_ms":%s,"invocation_duration_ms":%s,"error_type":"%s","errors":0' \
            "$i" "$ms" "$over" "${dur:-null}" "$hdr")"
        log "timeout sample $i: error after $ms ms (overshoot $over ms, x-fc-invocation-duration ${dur:-?})"
    done
    stop_pid "${SYS_PIDS[fcd-timeout]}"
    local n mn p50 p90 p99 mx mean met="not met"
    read -r n mn p50 p90 p99 mx mean <<<"$(dist "$tsv")"
    emit_json "$(printf '"scenario":"timeout","system":"fcd","summary":true,"timeout_s":1,"samples":%d,"overshoot_ms":{"min":%s,"p50":%s,"p90":%s,"p99":%s,"max":%s,"mean":%s},"errors":%d' \
        "$n" "$mn" "$p50" "$p90" "$p99" "$mx" "$mean" "$errors")"
    if [ "$n" -gt 0 ] && [ "$errors" -eq 0 ] && awk -v a="$mx" -v b="$mn" -v t="$P6_MS" 'BEGIN { exit !(a <= t && b >= 0) }'; then
        met=met
    fi
    {
        echo "### timeout: the C function with timeout=1 s, event sleep:3000 (P6)"
        echo
        echo "Each sample: a warm-up invoke, then the timed one (curl on core $LOADGEN_CPU: request sent → first byte of the timeout error). Overshoot = elapsed − 1000 ms."
        echo
        echo "| samples | overshoot min ms | p50 | p90 | max | mean | errors |"
        echo "|---:|---:|---:|---:|---:|---:|---:|"
        echo "| $n | $mn | $p50 | $p90 | $mx | $mean | $errors |"
        echo
        echo "P6: the timeout error arrives within +${P6_MS} ms of the timeout (every sample, never early) — **$met**."
        echo
    } >>"$SUMMARY"
}

# ---- scenario 6: idle keep-alive connections during load --------------------------------
# extra_fcd_mem SYSTEM: the fcd process's own memory and the open connections.
extra_fcd_mem() {
    local pid=${SYS_PIDS[$1]%% *} rss hwm est
    read -r rss hwm <<<"$(mem_kb "$pid")"
    est=$(ss -Htn state established "sport = :${PORT_OF[$1]}" 2>/dev/null | wc -l)
    printf ',"fcd_rss_kb":%d,"fcd_hwm_kb":%d,"established":%d' "$rss" "$hwm" "$est"
    printf '%s\t%s\t%s\t%s\n' "$1" "$rss" "$hwm" "$est" >>"$BENCH_TMP/fcd-mem.tsv"
}

scenario_idle_conns() {
    local conf='{"access_log": false, "instance_idle_s": 3600, "http": {"idle_timeout_ms": 600000}}'
    local sys rep holder ready hold_out
    local -a systems=(fcd fcd-10k)
    : >"$BENCH_TMP/fcd-mem.tsv"
    for sys in "${systems[@]}"; do
        fcd_start "$sys" "$conf" "hello=$HELLO_DIR,concurrency=200"
        SYS_TREE[$sys]=1
        SYS_URL[$sys]=http://127.0.0.1:${PORT_OF[$sys]}$TRIGGER
        curl -fsS -o /dev/null --max-time 10 "${SYS_URL[$sys]}" || die "$sys: HTTP trigger failed"
    done
    ready=$BENCH_TMP/hold.ready
    taskset -c "$LOADGEN_CPU" "$PY" "$ROOT/bench/hold_conns.py" --port "${PORT_OF[fcd-10k]}" \
        --conns "$IDLE_CONNS" --max-seconds 900 --ready-file "$ready" >"$BENCH_TMP/hold.log" 2>&1 &
    holder=$!
    STARTED_PIDS+=("$holder")
    local _
    for _ in $(seq 900); do
        [ -s "$ready" ] && break
        kill -0 "$holder" 2>/dev/null || die "hold_conns.py exited: $(cat "$BENCH_TMP/hold.log")"
        sleep 0.1
    done
    [ -s "$ready" ] || die "hold_conns.py did not open $IDLE_CONNS connections in 90 s"
    hold_out=$(cat "$ready")
    log "idle connections on fcd-10k: $hold_out"
    local held=${hold_out#open=}
    held=${held%% *}
    MEASURE_EXTRA=extra_fcd_mem
    for rep in $(seq "$REPS"); do
        for sys in "${systems[@]}"; do
            measure_wrk idle-conns "$sys" "$LOAD_CONNS" "$SECS" "$WARM_SECS" "$rep"
        done
    done
    MEASURE_EXTRA=""
    kill -TERM "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    local closed
    closed=$(sed -n 's/^closed_by_peer=\([0-9]*\).*/\1/p' "$BENCH_TMP/hold.log")
    emit_json "$(printf '"scenario":"idle-conns","system":"holder","wanted":%d,"held":%d,"closed_by_peer":%s,"errors":%d' \
        "$IDLE_CONNS" "$held" "${closed:-null}" "$((IDLE_CONNS - held + ${closed:-0}))")"
    for sys in "${systems[@]}"; do stop_pid "${SYS_PIDS[$sys]}"; done

    local hwm10k rss10k hwm0 est10k
    hwm10k=$(awk -F'\t' '$1 == "fcd-10k" && $3 > m { m = $3 } END { print m + 0 }' "$BENCH_TMP/fcd-mem.tsv")
    rss10k=$(awk -F'\t' '$1 == "fcd-10k" && $2 > m { m = $2 } END { print m + 0 }' "$BENCH_TMP/fcd-mem.tsv")
    hwm0=$(awk -F'\t' '$1 == "fcd" && $3 > m { m = $3 } END { print m + 0 }' "$BENCH_TMP/fcd-mem.tsv")
    est10k=$(awk -F'\t' '$1 == "fcd-10k" { if (m == "" || $4 < m) m = $4 } END { print m + 0 }' "$BENCH_TMP/fcd-mem.tsv")
    local met="not met"
    [ "$hwm10k" -le "$P8_RSS_KB" ] && [ "$held" -eq "$IDLE_CONNS" ] && [ "${closed:-1}" -eq 0 ] && met=met
    {
        echo "### idle-conns: $IDLE_CONNS idle keep-alive connections held on fcd-10k while wrk runs the HTTP trigger at $LOAD_CONNS connections (P8)"
        echo
        echo "fcd and fcd-10k: the same config (HTTP idle timeout 600 s, hello concurrency 200), alternating runs of ${SECS} s. CPU and RSS in the table: fcd + its instance."
        echo "The holder (bench/hold_conns.py) made one GET /healthz on each connection, then kept it idle: $hold_out; closed by fcd while held: ${closed:-?}; fewest established on fcd-10k after a run: $est10k."
        echo
        summarize_wrk idle-conns fcd-10k fcd "$LOAD_CONNS" "$P8_RATIO" 0 P8-throughput
        echo
        echo "P8-memory: fcd process RSS ≤ 100 MB with $IDLE_CONNS idle connections — **$met** (fcd-10k: VmRSS $rss10k KiB, VmHWM $hwm10k KiB; fcd without them: VmHWM $hwm0 KiB; $(awk -v a="$hwm10k" -v b="$hwm0" -v n="$IDLE_CONNS" 'BEGIN { printf "%.2f KiB", (a - b) / n }') per idle connection)."
        echo
    } >>"$SUMMARY"
}

# ---- scenario 8: many functions -------------------------------------------------------------
# fn_config N: a config with functions f1..fN, one instance each.
fn_config() {
    local n=$1 i sep=""
    printf '{"access_log": false, "instance_idle_s": 3600, "services": {"default": {"functions": {'
    for i in $(seq "$n"); do
        printf '%s"f%d": {"code_dir": "%s", "instance_concurrency": 100, "max_instances": 1, "http_trigger": {"auth_type": "anonymous"}}' "$sep" "$i" "$HELLO_DIR"
        sep=", "
    done
    printf '}}}}\n'
}

extra_fn() {
    local pid=${SYS_PIDS[$1]%% *} rss hwm irss n
    local -a inst
    read -r rss hwm <<<"$(mem_kb "$pid")"
    mapfile -t inst < <(children "$pid")
    n=${#inst[@]}
    irss=0
    if [ "$n" -gt 0 ]; then read -r irss _ <<<"$(mem_kb "${inst[@]}")"; fi
    printf ',"functions":%d,"instances":%d,"fcd_rss_kb":%d,"fcd_hwm_kb":%d,"instances_rss_kb":%d' \
        "${FN_OF[$1]}" "$n" "$rss" "$hwm" "$irss"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${FN_OF[$1]}" "$n" "$rss" "$hwm" "$irss" >>"$BENCH_TMP/fn-mem.tsv"
}

declare -A FN_OF=()
scenario_functions() {
    local n sys rep i base codes bad
    local -a systems=() urls
    : >"$BENCH_TMP/fn-mem.tsv"
    for n in "${FN_LEVELS[@]}"; do
        sys=fn-$n
        systems+=("$sys")
        FN_OF[$sys]=$n
        fcd_start "$sys" "$(fn_config "$n")"
        SYS_TREE[$sys]=1
        base=http://127.0.0.1:${PORT_OF[$sys]}
        SYS_URL[$sys]=$base/
        # wrk: a random function per request (the same Lua cost for every N).
        cat >"$BENCH_TMP/fn-$n.lua" <<EOF
local paths = {}
for i = 1, $n do paths[i] = "/2016-08-15/proxy/default/f" .. i .. "/bench" end
request = function()
  return wrk.format(nil, paths[math.random(1, $n)])
end
EOF
        SYS_LUA[$sys]=$BENCH_TMP/fn-$n.lua
        # One instance per function: one curl, one connection, N requests.
        urls=()
        for i in $(seq "$n"); do urls+=(-o /dev/null "$base/2016-08-15/proxy/default/f$i/warm"); done
        codes=$(taskset -c "$LOADGEN_CPU" curl -sS --max-time 120 -w '%{http_code}\n' "${urls[@]}") ||
            die "$sys: warming the functions failed"
        bad=$(grep -cvx 200 <<<"$codes" || true)
        [ "$bad" -eq 0 ] || die "$sys: $bad of $n warm-up requests were not answered 200"
        log "$sys: $n functions warm, $(children "${SYS_PIDS[$sys]}" | wc -l) instances"
    done
    MEASURE_EXTRA=extra_fn
    for rep in $(seq "$REPS"); do
        for sys in "${systems[@]}"; do
            measure_wrk functions "$sys" "$LOAD_CONNS" "$SECS" "$WARM_SECS" "$rep"
        done
    done
    MEASURE_EXTRA=""
    for sys in "${systems[@]}"; do stop_pid "${SYS_PIDS[$sys]}"; done
    local first=${systems[0]}
    {
        echo "### functions: 1 → ${FN_LEVELS[-1]} functions, one warm instance each (scenario 8)"
        echo
        echo "One fcd per function count (fn-N: functions f1..fN = the C example, instance_concurrency 100, max_instances 1), all running, alternating runs of ${SECS} s;" \
            "wrk at $LOAD_CONNS connections, each request to a random function's HTTP trigger. CPU and RSS in the first table: fcd + all its instances."
        echo
        summarize_wrk functions "fn-${FN_LEVELS[-1]}" "$first" "$LOAD_CONNS" - 0 ""
        echo "| system | functions | instances | fcd RSS KiB (HWM) | instances RSS KiB | per instance KiB | fcd + instances KiB |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        awk -F'\t' '{ k = $1; if (!(k in seen)) { seen[k] = 1; order[++m] = k }
            f[k] = $2; n[k] = $3; r[k] = $4; h[k] = ($5 > h[k]) ? $5 : h[k]; i[k] = $6 }
            END { for (j = 1; j <= m; j++) { k = order[j]
                printf "| %s | %d | %d | %d (%d) | %d | %.0f | %d |\n", k, f[k], n[k], r[k], h[k], i[k],
                    n[k] ? i[k] / n[k] : 0, r[k] + i[k] } }' "$BENCH_TMP/fn-mem.tsv"
        echo
        echo "(No target in BENCH.md; the ratio row is fn-${FN_LEVELS[-1]} / $first.)"
        echo
    } >>"$SUMMARY"
}

want idle && scenario_idle
want timeout && scenario_timeout
want idle-conns && scenario_idle_conns
want functions && scenario_functions

{
    echo
    echo "## misc: idle fcd, timeout precision, idle connections, many functions — $RUN_ID ($MODE)"
    echo
    echo "Host $HOST ($(nproc) CPUs, $(uname -r)); fcd $(fcd_rev) (--io-threads 1 --workers 1, access log off); C function = examples/hello-c." \
        "fcd and instances on core $SERVER_CPU; wrk -t1, curl and the connection holder on core $LOADGEN_CPU." \
        "Background load before the run: ${BUSY}% of all CPUs busy$([ "$BUSY" -gt 10 ] && echo ' — **numbers skewed by other work**')."
    echo
    cat "$SUMMARY"
} | tee -a "$RESULTS_DIR/summary.md"
log "raw rows: $RESULTS_DIR/$JSONL_NAME; summary appended to $RESULTS_DIR/summary.md"
