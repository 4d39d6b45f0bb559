#!/usr/bin/env bash
# bench/async.sh — durable asynchronous invocation (issue 7 scenarios 2 and 3;
# targets P4 and P5 of ../shared/BENCH.md).
#
#   FCD=build/cc/fcd [QUICK=1|SMOKE=1] bench/async.sh       (make bench runs it)
#
# async-ack    durable 202s/s and ack latency: wrk POSTs InvokeFunction with
#              X-Fc-Invocation-Type: Async (1-byte event) at 1/64/512 clients
#              (connections). Every 202 follows the LMDB group commit holding
#              the job. The jobs carry x-fc-async-delay: 3600, so none runs
#              during the benchmark: this measures the ack path (parse, store
#              ring, group commit, fsync, 202), not the function. Two systems,
#              alternating: fcd (default durability: full fsync, the P4
#              subject) and fcd-nometasync (async_durability nometasync: one
#              fsync per commit instead of two), each --io-threads 1
#              --workers 1, function hello = examples/hello-c.
# async-store-floor
#              the raw commit floor on the same disk (same filesystem as
#              fcd's data dir), measured in the same run by store/bench_jobs
#              (make build/cc/bench_jobs): fc_jobs_append with 1, 64 and 1024
#              jobs per transaction, FULL and NOMETASYNC. Skipped (logged) if
#              the binary is missing.
# async-delay  delay lateness: 1,000 jobs submitted evenly over a window
#              (bench/async_delay.py, 32 keep-alive connections) with
#              x-fc-async-delay 1, 2, 3 s in turn, to a fresh fcd whose C
#              function is warm (concurrency 100, one instance); lateness =
#              Running event timestamp − (Enqueued timestamp + delay), from the
#              task API, and the same from the function log's Start line
#              (when the instance got it). Per-job samples in
#              async-delay-samples.tsv.
#
#   SMOKE=1    64 clients, 1 × 1 s; floor 0.1 s per case; 40 jobs, delay 1 s;
#              no quiet wait (the test suite's tiny mode)
#   QUICK=1    1 and 64 clients 1 × 1 s, 512 clients 2 × 2 s; floor 0.3 s per
#              case; 1,000 jobs over 1 s
#   default    3 × 5 s at 1, 64 and 512 clients (1 s warm-up before each);
#              floor 1 s per case; 1,000 jobs over 2 s
#
# fcd (and instances) and bench_jobs on core SERVER_CPU (0); wrk -t1 and the
# delay client on LOADGEN_CPU (1).
# Output: bench/results/<date>-<host>/async.jsonl, async-delay-samples.tsv, and
# the summary printed and appended to .../summary.md with P4 and P5 marked
# met / not met. Environment: FCD, BENCH_JOBS (default bench_jobs next to FCD),
# FCD_REV, QUICK, SMOKE, RESULTS_DIR, SERVER_CPU, LOADGEN_CPU, QUIET_WAIT,
# DELAY_JOBS, PYTHON.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

JSONL_NAME=async.jsonl
INVOKE_PATH=/2016-08-15/services/default/functions/hello/invocations
SYSTEMS=(fcd fcd-nometasync)
P4_CONNS=512 P4_RPS=100000 P4_P99_US=5000 P5_P99_MS=2

bench_init
bench_mode
FCD=${FCD:-$ROOT/build/cc/fcd}
case $FCD in /*) ;; *) FCD=$ROOT/$FCD ;; esac
[ -x "$FCD" ] || die "FCD=$FCD is not an executable (run: make)"
BENCH_JOBS=${BENCH_JOBS:-$(dirname "$FCD")/bench_jobs}
[ -x "$ROOT/examples/hello-c/bootstrap" ] || die "examples/hello-c/bootstrap is not built (run: make)"
PY=$(pick_python)
raise_nofile 4096 >/dev/null

case $MODE in
smoke)
    ACK_CONNS=(64) ACK_REPS=1 ACK_SECS=1 WARM_SECS=0 REPS_512=1 SECS_512=1
    FLOOR_SECS=0.1 DELAY_JOBS=${DELAY_JOBS:-40} DELAY_WINDOW=0.3 DELAYS=1
    ;;
quick)
    ACK_CONNS=(1 64 512) ACK_REPS=1 ACK_SECS=1 WARM_SECS=0 REPS_512=2 SECS_512=2
    FLOOR_SECS=0.3 DELAY_JOBS=${DELAY_JOBS:-1000} DELAY_WINDOW=1 DELAYS=1,2,3
    ;;
full)
    ACK_CONNS=(1 64 512) ACK_REPS=3 ACK_SECS=5 WARM_SECS=1 REPS_512=3 SECS_512=5
    FLOOR_SECS=1 DELAY_JOBS=${DELAY_JOBS:-1000} DELAY_WINDOW=2 DELAYS=1,2,3
    ;;
esac

BUSY=$(wait_quiet "${QUIET_WAIT:-$([ "$MODE" = quick ] && echo 30 || echo 120)}")
if [ "$BUSY" -gt 10 ]; then
    log "warning: CPUs already ${BUSY}% busy before the benchmark; numbers will be skewed"
fi

# fcd_start NAME CONFIG_JSON FUNCTION_SPEC: fcd on one io thread and one worker.
fcd_start() {
    local name=$1 conf=$2 spec=$3
    mkdir -p "$BENCH_TMP/$name-data"
    printf '%s\n' "$conf" >"$BENCH_TMP/$name.json"
    start_server "$name" /healthz "$FCD" --foreground --listen 127.0.0.1:@PORT@ \
        --data-dir "$BENCH_TMP/$name-data" --io-threads 1 --workers 1 \
        --config "$BENCH_TMP/$name.json" --function "$spec"
}

# ---- scenario 2: durable acks ------------------------------------------------------
cat >"$BENCH_TMP/async-ack.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "x"
wrk.headers["X-Fc-Invocation-Type"] = "Async"
wrk.headers["x-fc-async-delay"] = "3600"
EOF
fcd_start fcd '{"access_log": false}' "hello=$ROOT/examples/hello-c"
fcd_start fcd-nometasync '{"access_log": false, "async_durability": "nometasync"}' \
    "hello=$ROOT/examples/hello-c"
for sys in "${SYSTEMS[@]}"; do
    SYS_URL[$sys]=${SYS_URL[$sys]%/healthz}$INVOKE_PATH
    SYS_LUA[$sys]=$BENCH_TMP/async-ack.lua
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST -d x \
        -H 'X-Fc-Invocation-Type: Async' -H 'x-fc-async-delay: 3600' "${SYS_URL[$sys]}") ||
        die "$sys: no answer to an async POST"
    [ "$code" = 202 ] || die "$sys answered $code to an async POST"
done

# Batch-size floor from the store itself on the filesystem of fcd's data dir:
# full runs measure it after each client count (between fcd's runs), quick and
# smoke runs once at the end.
FLOOR_TXT=$BENCH_TMP/floor.txt
: >"$FLOOR_TXT"
run_floor() {
    if [ ! -x "$BENCH_JOBS" ]; then
        [ "$1" = 1 ] && log "no $BENCH_JOBS (make build/cc/bench_jobs): no commit floor"
        return 0
    fi
    taskset -c "$SERVER_CPU" timeout 120 "$BENCH_JOBS" --seconds "$FLOOR_SECS" --dir "$BENCH_TMP" \
        >"$BENCH_TMP/floor-$1.txt" 2>&1 || die "bench_jobs failed: $(tail -n 3 "$BENCH_TMP/floor-$1.txt")"
    # store FULL         1/txn payload    100 B:      264 commits/s       264 jobs/s    3783 us/commit
    awk -v rep="$1" '$1 == "store" { b = $3; sub(/\/txn/, "", b)
        print rep, $2, b, $5, $7, $9, $11 }' "$BENCH_TMP/floor-$1.txt" >>"$FLOOR_TXT"
    local rep sync batch payload commits jobs us
    while read -r rep sync batch payload commits jobs us; do
        [ "$rep" = "$1" ] || continue
        emit_json "$(printf '"scenario":"async-store-floor","system":"lmdb-%s","batch":%d,"payload":%d,"rep":%d,"duration_s":%s,"commits_per_s":%s,"jobs_per_s":%s,"us_per_commit":%s,"errors":0' \
            "$sync" "$batch" "$payload" "$rep" "$FLOOR_SECS" "$commits" "$jobs" "$us")"
    done <"$FLOOR_TXT"
    log "commit floor rep $1: $(awk -v r="$1" '$1 == r { printf "%s %s/txn %s jobs/s; ", $2, $3, $6 }' "$FLOOR_TXT")"
}

for c in "${ACK_CONNS[@]}"; do
    reps=$ACK_REPS secs=$ACK_SECS
    if [ "$c" = "$P4_CONNS" ]; then reps=$REPS_512 secs=$SECS_512; fi
    for rep in $(seq "$reps"); do
        for sys in "${SYSTEMS[@]}"; do
            measure_wrk async-ack "$sys" "$c" "$secs" "$WARM_SECS" "$rep"
        done
    done
    if [ "$MODE" = full ]; then
        floor_rep=$((${floor_rep:-0} + 1))
        run_floor "$floor_rep"
    fi
done
[ "$MODE" = full ] || run_floor 1
ACK_STORE_MB=$(find "$BENCH_TMP/fcd-data" -name '*.mdb' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s / 1048576 }')
for sys in "${SYSTEMS[@]}"; do stop_pid "${SYS_PIDS[$sys]}"; done

# ---- scenario 3: delay lateness -----------------------------------------------------
fcd_start fcd-delay '{"access_log": false}' "hello=$ROOT/examples/hello-c,concurrency=100"
delay_port=$START_PORT
curl -fsS -o /dev/null --max-time 10 -X POST -d warm \
    "http://127.0.0.1:$delay_port$INVOKE_PATH" || die "fcd-delay: warm-up invoke failed"
SAMPLES=$RESULTS_DIR/async-delay-samples.tsv
log "async-delay: $DELAY_JOBS jobs over $DELAY_WINDOW s, delays $DELAYS s"
delay_out=$(taskset -c "$LOADGEN_CPU" timeout 120 "$PY" "$ROOT/bench/async_delay.py" \
    --port "$delay_port" --function hello --jobs "$DELAY_JOBS" --window "$DELAY_WINDOW" \
    --delays "$DELAYS" --log "$BENCH_TMP/fcd-delay-data/logs/default/hello.log" \
    --samples "$SAMPLES" 2>"$BENCH_TMP/async-delay.err") ||
    die "async_delay.py failed: $(tail -n 5 "$BENCH_TMP/async-delay.err")"
[ -s "$BENCH_TMP/async-delay.err" ] && log "async_delay.py: $(head -n 5 "$BENCH_TMP/async-delay.err")"
kill -0 "${SYS_PIDS[fcd-delay]}" 2>/dev/null || die "fcd-delay died"
log "async-delay: $delay_out"
declare -A D=()
for kv in $delay_out; do D[${kv%%=*}]=${kv#*=}; done
IFS=, read -r rn rmin rp50 rp90 rp99 rmax rmean <<<"${D[run]/none/0,null,null,null,null,null,null}"
IFS=, read -r sn smin sp50 sp90 sp99 smax smean <<<"${D[start]/none/0,null,null,null,null,null,null}"
emit_json "$(printf '"scenario":"async-delay","system":"fcd","jobs":%d,"delays_s":"%s","window_s":%s,"ok":%d,"errors":%d,"early":%d,"lateness_ms":{"n":%d,"min":%s,"p50":%s,"p90":%s,"p99":%s,"max":%s,"mean":%s},"start_lateness_ms":{"n":%d,"min":%s,"p50":%s,"p90":%s,"p99":%s,"max":%s,"mean":%s},"submit_s":%s' \
    "${D[jobs]}" "$DELAYS" "$DELAY_WINDOW" "${D[ok]}" "${D[errors]}" "${D[early]}" \
    "$rn" "$rmin" "$rp50" "$rp90" "$rp99" "$rmax" "$rmean" "$sn" "$smin" "$sp50" "$sp90" "$sp99" "$smax" "$smean" \
    "${D[submit_s]}")"
stop_pid "${SYS_PIDS[fcd-delay]}"

# ---- summary ------------------------------------------------------------------------
floor_table() {
    [ -s "$FLOOR_TXT" ] || { echo "(no commit floor: bench_jobs not built)"; return; }
    echo "| store floor (bench_jobs, 100-byte payload) | jobs/txn | jobs/s | commits/s | µs/commit |"
    echo "|---|---:|---:|---:|---:|"
    awk '{ k = $2 " " $3; if (!(k in n)) order[++m] = k; n[k]++; j[k, n[k]] = $6; cm[k, n[k]] = $5; us[k, n[k]] = $7 }
    function med(arr, k, c,   a, i, t, jj) {
        for (i = 1; i <= c; i++) a[i] = arr[k, i]
        for (i = 2; i <= c; i++) { t = a[i]; for (jj = i - 1; jj >= 1 && a[jj] + 0 > t + 0; jj--) a[jj + 1] = a[jj]; a[jj + 1] = t }
        return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
    }
    END { for (i = 1; i <= m; i++) { k = order[i]; split(k, p, " ")
        printf "| lmdb %s | %s | %.0f | %.0f | %.0f |\n", p[1], p[2], med(j, k, n[k]), med(cm, k, n[k]), med(us, k, n[k]) } }' "$FLOOR_TXT"
}

p4_line() {
    local rps p99 err
    rps=$(median_col async-ack fcd "$P4_CONNS" 5)
    p99=$(median_col async-ack fcd "$P4_CONNS" 8)
    err=$(median_col async-ack fcd "$P4_CONNS" 10)
    if [ -z "$rps" ]; then
        echo "P4: fcd ≥ ${P4_RPS} durable acks/s at $P4_CONNS clients with p99 ≤ $((P4_P99_US / 1000)) ms — **not measured** (SMOKE mode)."
        return
    fi
    awk -v r="$rps" -v p="$p99" -v e="$err" -v tr="$P4_RPS" -v tp="$P4_P99_US" -v c="$P4_CONNS" 'BEGIN {
        met = (r >= tr && p <= tp && e == 0)
        printf "P4: fcd ≥ %d durable acks/s at %d clients with p99 ≤ %d ms — **%s** (%.0f acks/s = %.2f× target, p99 %.1f ms%s).\n",
            tr, c, tp / 1000, met ? "met" : "not met", r, r / tr, p / 1000, e ? sprintf(", %d errors", e) : ""
    }'
}

p5_line() {
    awk -v p="$rp99" -v e="${D[errors]}" -v early="${D[early]}" -v t="$P5_P99_MS" -v n="$rn" 'BEGIN {
        if (n == 0) { printf "P5: delay lateness p99 ≤ %d ms — **not measured** (no job completed).\n", t; exit }
        met = (p <= t && e == 0 && early == 0)
        printf "P5: delay lateness p99 ≤ %d ms — **%s** (p99 %s ms over %d jobs%s%s).\n", t, met ? "met" : "not met", p, n,
            e ? sprintf(", %d errors", e) : "", early ? sprintf(", %d early", early) : ""
    }'
}

{
    echo
    echo "## async: durable acks and delay lateness — $RUN_ID ($MODE)"
    echo
    echo "Host $HOST ($(nproc) CPUs, $(uname -r)); fcd $(fcd_rev) (--io-threads 1 --workers 1, access log off," \
        "function hello = examples/hello-c); data dir and floor on $(df -P "$BENCH_TMP" | awk 'NR == 2 { print $1 }')" \
        "($(findmnt -n -o FSTYPE --target "$BENCH_TMP" 2>/dev/null || echo '?'))."
    echo "fcd on core $SERVER_CPU, wrk -t1 on core $LOADGEN_CPU; alternating runs, ${ACK_SECS} s each (512 clients: ${SECS_512} s)," \
        "${WARM_SECS} s warm-up. Background load before the run: ${BUSY}% of all CPUs busy$([ "$BUSY" -gt 10 ] && echo ' — **numbers skewed by other work**')."
    echo
    echo "### async-ack: POST InvokeFunction, X-Fc-Invocation-Type: Async, x-fc-async-delay 3600 (202 after the group commit)"
    echo
    echo "fcd = async_durability full (fsync per commit, P4's subject); fcd-nometasync = one fsync per commit. Connections = clients; req/s = acks/s. The store held ${ACK_STORE_MB} MB after the runs."
    echo
    summarize_wrk async-ack fcd fcd-nometasync "$P4_CONNS" - 0 ""
    floor_table
    echo
    p4_line
    echo
    echo "### async-delay: $DELAY_JOBS jobs over ${DELAY_WINDOW} s, x-fc-async-delay $DELAYS s, warm instance"
    echo
    echo "| lateness, ms | n | min | p50 | p90 | p99 | max | mean |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    echo "| Running − (Enqueued + delay), task API | $rn | $rmin | $rp50 | $rp90 | $rp99 | $rmax | $rmean |"
    echo "| log Start − (Enqueued + delay) | $sn | $smin | $sp50 | $sp90 | $sp99 | $smax | $smean |"
    echo
    echo "Jobs: ${D[jobs]} submitted in ${D[submit_s]} s, ${D[ok]} measured, ${D[errors]} errors, ${D[early]} early. Timestamps are whole ms (±1 ms)."
    echo
    p5_line
    echo
} | tee -a "$RESULTS_DIR/summary.md"
log "raw rows: $RESULTS_DIR/$JSONL_NAME; summary appended to $RESULTS_DIR/summary.md"
