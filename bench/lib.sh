# shellcheck shell=bash
# bench/lib.sh — shared helpers for fcd's benchmark scripts (sourced, not run).
#
# Method (../shared/BENCH.md): servers under test pinned to core 0, the load
# generator pinned to core 1, systems measured in alternating order in the same
# run, several repetitions, medians with min..max and ratios against a reference.
# Everything listens on 127.0.0.1 and every load is bounded in time.
#
# A scenario script sources this file, calls bench_init, starts its systems with
# the start_* helpers (each registers the system's name, pids and URL), calls
# measure_wrk for each run, and finally summarize_wrk. Every process started here
# is recorded by pid and stopped by the EXIT trap.
#
# Raw rows go to $RESULTS_DIR/<scenario file>.jsonl (appended; one JSON object per
# run) and, for this invocation only, to $BENCH_TMP/rows.tsv, from which the
# summary is computed.

SERVER_CPU=${SERVER_CPU:-0}   # core for servers under test (and their instances)
LOADGEN_CPU=${LOADGEN_CPU:-1} # core for the load generator
CLK_TCK=$(getconf CLK_TCK)

BENCH_TMP=""
STARTED_PIDS=()
declare -A SYS_PIDS=()  # system name -> space-separated pids whose CPU/RSS count
declare -A SYS_URL=()   # system name -> URL the load generator hits
declare -A SYS_LUA=()   # system name -> optional wrk Lua file (method, headers, body)
declare -A SYS_TREE=()  # system name -> 1: count SYS_PIDS and all their descendants
                        # (instances a server spawns), reaped ones included

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- setup and teardown -------------------------------------------------------

# bench_init: repo root, results directory, private temp dir, cleanup trap.
# Sets ROOT, HOST, RESULTS_DIR, BENCH_TMP, RUN_ID.
bench_init() {
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    HOST=$(uname -n)
    RUN_ID=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results/$(date -u +%Y-%m-%d)-$HOST}
    mkdir -p "$RESULTS_DIR"
    BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fcd-bench.XXXXXX")
    : >"$BENCH_TMP/rows.tsv"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local tool
    for tool in taskset wrk curl ss timeout awk; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run: make deps)"
    done
    [ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; server and load generator share a core"
}

# stop_pid PID: SIGTERM, wait up to 5 s (fcd drains), then SIGKILL.
stop_pid() {
    local pid=$1 _
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 5 s; killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
        if [ "$rc" -ne 0 ]; then
            # Keep the servers' logs visible when something went wrong.
            local f
            for f in "$BENCH_TMP"/*.log; do
                [ -s "$f" ] || continue
                log "--- tail of $(basename "$f")"
                tail -n 20 "$f" >&2
            done
        fi
        rm -rf "$BENCH_TMP"
    fi
    exit "$rc"
}

# background_busy [SECONDS]: percent of all CPUs busy over SECONDS (default 1)
# while nothing of ours runs: other work on this shared VM skews every number,
# so scenarios log it and note it in the summary.
background_busy() {
    local secs=${1:-1} a b
    a=$(head -n 1 /proc/stat)
    sleep "$secs"
    b=$(head -n 1 /proc/stat)
    # cpu user nice system idle iowait irq softirq steal ...: idle = idle+iowait.
    awk -v a="$a" -v b="$b" 'BEGIN {
        na = split(a, x, " "); split(b, y, " ")
        for (i = 2; i <= na; i++) { d = y[i] - x[i]; tot += d; if (i == 5 || i == 6) idle += d }
        printf "%.0f\n", (tot > 0) ? 100 * (tot - idle) / tot : 0
    }'
}

# ---- ports and readiness ------------------------------------------------------

# free_port: print a TCP port with no listener on it (checked with ss; the caller
# retries if it races with another process and the bind fails).
free_port() {
    local port _
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! ss -Htln "sport = :$port" | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# wait_http URL PID: wait (≤ 5 s) until URL answers 2xx while PID is alive.
wait_http() {
    local url=$1 pid=$2 _
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 1
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# start_server NAME PATH CMD...: start CMD pinned to $SERVER_CPU on a free port,
# retrying on another port if it dies (port raced). CMD may contain the word
# @PORT@, replaced by the port; a function name prepare_NAME, if defined, is
# called with the port first (to write a config; characters of NAME other than
# letters, digits and _ become _ in the function name). Registers SYS_PIDS[NAME]
# and SYS_URL[NAME]=http://127.0.0.1:PORT/PATH, and sets START_PORT=PORT.
start_server() {
    local name=$1 path=$2 attempt port pid hook
    shift 2
    hook=prepare_${name//[^A-Za-z0-9_]/_}
    for attempt in 1 2 3; do
        port=$(free_port)
        if declare -F "$hook" >/dev/null; then
            "$hook" "$port"
        fi
        local args=() a
        for a in "$@"; do args+=("${a//@PORT@/$port}"); done
        taskset -c "$SERVER_CPU" "${args[@]}" >"$BENCH_TMP/$name.log" 2>&1 &
        pid=$!
        STARTED_PIDS+=("$pid")
        if wait_http "http://127.0.0.1:$port$path" "$pid"; then
            SYS_PIDS[$name]=$pid
            SYS_URL[$name]="http://127.0.0.1:$port$path"
            # shellcheck disable=SC2034 # for the scenario scripts
            START_PORT=$port
            log "$name: pid $pid, ${SYS_URL[$name]}"
            return 0
        fi
        log "$name did not come up on port $port (attempt $attempt)"
        stop_pid "$pid"
    done
    die "could not start $name (see $name.log above)"
}

# start_fcd NAME: fcd on one io thread, access log off, foreground, loopback.
# The static-response scenario hits /healthz.
start_fcd() {
    local name=${1:-fcd}
    [ -x "${FCD:-}" ] || die "FCD=${FCD:-} is not an executable (run: make)"
    mkdir -p "$BENCH_TMP/$name-data"
    printf '{"access_log": false}\n' >"$BENCH_TMP/$name.json"
    start_server "$name" /healthz "$FCD" --foreground \
        --listen 127.0.0.1:@PORT@ --data-dir "$BENCH_TMP/$name-data" \
        --io-threads 1 --config "$BENCH_TMP/$name.json"
}

# nginx_prefix DIR: create a private nginx prefix (logs, temp dirs) and print
# the *_temp_path directives for it. Temp paths default to /var/lib/nginx; keep
# them in the prefix, but only for modules this nginx build has (nginx-light
# drops some).
nginx_prefix() {
    local p=$1 m
    mkdir -p "$p/logs" "$p/tmp"
    for m in client_body proxy fastcgi uwsgi scgi; do
        if [ "$m" = client_body ] || ! nginx -V 2>&1 | grep -q -- "--without-http_${m}_module"; then
            mkdir -p "$p/tmp/$m"
            printf '    %s_temp_path %s;\n' "$m" "$p/tmp/$m"
        fi
    done
}

# nginx_conf PREFIX HTTP_BLOCK: write PREFIX/nginx.conf: one process
# (master_process off, so the pid we hold is the one serving), no access log,
# high keepalive, temp paths inside PREFIX, and HTTP_BLOCK (server and upstream
# blocks) inside http {}.
nginx_conf() {
    local p=$1 block=$2 temps
    temps=$(nginx_prefix "$p")
    cat >"$p/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
$temps
$block
}
EOF
}

# prepare_nginx PORT: a private prefix and config (see nginx_conf) serving a
# static 200 with the same 15-byte JSON body as fcd's /healthz.
prepare_nginx() {
    nginx_conf "$BENCH_TMP/nginx" "    server {
        listen 127.0.0.1:$1;
        location / {
            default_type application/json;
            return 200 '{\"status\":\"ok\"}';
        }
    }"
}

# start_nginx NAME: nginx serving the static 200 (see prepare_nginx).
start_nginx() {
    local name=${1:-nginx}
    command -v nginx >/dev/null 2>&1 || die "nginx not found (run: make deps)"
    start_server "$name" / nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" \
        -e "$BENCH_TMP/nginx/logs/error.log"
}

# ---- /proc sampling -------------------------------------------------------------

# cpu_ticks PIDS...: utime+stime (clock ticks) summed over the processes (all
# their threads). Field 2 (comm) may contain spaces, so split after the last ')'.
# One cat and one awk for all processes (a fork per process is slow with
# hundreds of instances on a busy machine); processes gone meanwhile count 0.
cpu_ticks() {
    local pid
    local -a files=()
    for pid in "$@"; do files+=("/proc/$pid/stat"); done
    if [ "${#files[@]}" -eq 0 ]; then
        echo 0
        return
    fi
    # After "comm) ": field 3 (state) is $1, so utime(14)=$12, stime(15)=$13.
    { cat "${files[@]}" 2>/dev/null || true; } | awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# proc_tree PIDS...: the processes and all their live descendants, one a line.
proc_tree() {
    ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
        do { more = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; more = 1 } } while (more)
        for (p in keep) if (p in parent) print p
    }'
}

# cpu_ticks_tree PIDS...: cpu_ticks of the processes and their live descendants,
# plus the CPU of descendants already reaped (cutime+cstime of PIDS), so an
# instance that exits during a run still counts.
cpu_ticks_tree() {
    local pid total rest
    # shellcheck disable=SC2046 # one pid per word
    total=$(cpu_ticks $(proc_tree "$@"))
    for pid in "$@"; do
        rest=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        total=$((total + $(awk '{print $14 + $15}' <<<"$rest")))
    done
    echo "$total"
}

# sys_pids SYSTEM: the pids whose CPU and memory count for SYSTEM, one a line
# (SYS_PIDS, with their descendants when SYS_TREE[SYSTEM] is set).
sys_pids() {
    local -a pids
    read -r -a pids <<<"${SYS_PIDS[$1]}"
    if [ -n "${SYS_TREE[$1]:-}" ]; then
        proc_tree "${pids[@]}"
    else
        printf '%s\n' "${pids[@]}"
    fi
}

# sys_ticks SYSTEM: CPU ticks so far of SYSTEM's processes (see sys_pids).
sys_ticks() {
    local -a pids
    read -r -a pids <<<"${SYS_PIDS[$1]}"
    if [ -n "${SYS_TREE[$1]:-}" ]; then
        cpu_ticks_tree "${pids[@]}"
    else
        cpu_ticks "${pids[@]}"
    fi
}

# core_busy CPU: busy clock ticks of one core so far ("cpuN" line of /proc/stat,
# everything but idle and iowait). Compared with the server's own ticks it shows
# how much of the server's core other work took during a run.
core_busy() {
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# wait_quiet [MAX_SECONDS]: on a shared VM, wait (bounded, default 120 s) until
# less than 10% of all CPUs are busy; print the last reading.
# With SMOKE=1 (the test suite's tiny mode) it only takes a short reading.
wait_quiet() {
    local max=${1:-120} waited=0 busy
    if [ "${SMOKE:-0}" = 1 ]; then
        background_busy 0.2
        return 0
    fi
    busy=$(background_busy 2)
    while [ "$busy" -gt 10 ] && [ "$waited" -lt "$max" ]; do
        [ "$waited" -eq 0 ] && log "CPUs ${busy}% busy with other work; waiting up to ${max} s for quiet"
        sleep 3
        waited=$((waited + 5))
        busy=$(background_busy 2)
    done
    echo "$busy"
}

# mem_kb PIDS...: "VmRSS VmHWM" in KiB, summed over the processes.
mem_kb() {
    local pid
    for pid in "$@"; do cat "/proc/$pid/status" 2>/dev/null; done |
        awk '$1=="VmRSS:"{r+=$2} $1=="VmHWM:"{h+=$2} END{printf "%d %d\n", r, h}'
}

# ---- wrk ------------------------------------------------------------------------

# run_wrk CONNS SECONDS URL OUT [LUA]: closed-loop load, pinned, one thread,
# bounded by timeout(1) in case wrk hangs. A done() hook prints exact
# percentiles (µs, including p99.9, which --latency does not print); it adds no
# per-request Lua. LUA, if given, is a wrk script setting wrk.method, wrk.body
# and wrk.headers (static: wrk then builds the request once, no per-request Lua)
# and must not define done(); the hook is appended to a copy of it.
run_wrk() {
    local conns=$1 secs=$2 url=$3 out=$4 lua=${5:-} script
    if [ ! -f "$BENCH_TMP/wrk-done.lua" ]; then
        cat >"$BENCH_TMP/wrk-done.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format("WRK_LUA requests=%d p50=%d p90=%d p99=%d p999=%d\n",
    summary.requests, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
EOF
    fi
    script=$BENCH_TMP/wrk-done.lua
    if [ -n "$lua" ]; then
        script=$BENCH_TMP/wrk-$(basename "$lua" .lua)+done.lua
        [ -f "$script" ] || cat "$lua" "$BENCH_TMP/wrk-done.lua" >"$script"
    fi
    timeout --kill-after=5 "$((secs + 20))" taskset -c "$LOADGEN_CPU" \
        wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s --latency \
        -s "$script" "$url" >"$out" 2>&1
}

# parse_wrk FILE: print "rps requests p50 p90 p99 p999 errors" (latencies in µs,
# "null" when absent). Text output is authoritative for req/s, request count and
# errors; the Lua line, when present, gives exact percentiles, otherwise the
# --latency table is parsed (units us/ms/s/m/h). errors = socket errors
# (connect+read+write+timeout) + "Non-2xx or 3xx responses".
parse_wrk() {
    awk '
    function us(v,   n, u) {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") return n
        if (u == "ms") return n * 1000
        if (u == "s")  return n * 1000000
        if (u == "m")  return n * 60000000
        if (u == "h")  return n * 3600000000
        return "null"
    }
    BEGIN { rps = "null"; req = "null"; p50 = p90 = p99 = p999 = "null"; err = 0 }
    $1 == "50%" { p50 = us($2) }
    $1 == "90%" { p90 = us($2) }
    $1 == "99%" { p99 = us($2) }
    / requests in / { req = $1 }
    $1 == "Requests/sec:" { rps = $2 }
    /Socket errors:/ {
        for (i = 3; i < NF; i += 2) { v = $(i + 1); gsub(/,/, "", v); err += v }
    }
    /Non-2xx or 3xx responses:/ { err += $NF }
    $1 == "WRK_LUA" {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); lua[kv[1]] = kv[2] }
    }
    END {
        if ("p50" in lua) { p50 = lua["p50"]; p90 = lua["p90"]; p99 = lua["p99"]; p999 = lua["p999"] }
        if (req == "null" && "requests" in lua) req = lua["requests"]
        print rps, req, p50, p90, p99, p999, err
    }' "$1"
}

# measure_wrk SCENARIO SYSTEM CONNS SECONDS WARMUP_SECONDS REP: warm up, then one
# measured wrk run with CPU and memory sampled around it; appends one JSON line
# to $RESULTS_DIR/$JSONL_NAME and one row to rows.tsv; logs a one-line result.
# SYS_LUA[SYSTEM] (a wrk script) shapes the requests; with SYS_TREE[SYSTEM] set,
# CPU and memory include the system's child processes (e.g. fcd's instances).
# If MEASURE_EXTRA names a function, it is called with SYSTEM after the run and
# its output (JSON members, each preceded by a comma) ends the JSON line.
measure_wrk() {
    local scenario=$1 sys=$2 conns=$3 secs=$4 warm=$5 rep=$6
    local url=${SYS_URL[$sys]} out=$BENCH_TMP/wrk-$sys-$conns-$rep.txt lua=${SYS_LUA[$sys]:-}
    local -a pids

    if [ "$warm" -gt 0 ]; then
        run_wrk "$conns" "$warm" "$url" "$BENCH_TMP/warmup.txt" "$lua" ||
            die "wrk warm-up against $sys failed: $(tail -n 3 "$BENCH_TMP/warmup.txt")"
    fi
    local t0 t1 c0 c1 w0 w1
    t0=$(sys_ticks "$sys")
    c0=$(core_busy "$SERVER_CPU")
    w0=$(date +%s%N)
    run_wrk "$conns" "$secs" "$url" "$out" "$lua" ||
        die "wrk against $sys failed: $(tail -n 3 "$out")"
    t1=$(sys_ticks "$sys")
    c1=$(core_busy "$SERVER_CPU")
    w1=$(date +%s%N)
    local pid
    read -r -a pids <<<"${SYS_PIDS[$sys]}"
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "$sys (pid $pid) died during the run"
    done

    local rps req p50 p90 p99 p999 err rss hwm cpu util other
    read -r rps req p50 p90 p99 p999 err <<<"$(parse_wrk "$out")"
    if [ "$rps" = null ] || [ "$req" = null ]; then
        die "could not parse wrk output for $sys: $(head -c 400 "$out")"
    fi
    mapfile -t pids < <(sys_pids "$sys")
    read -r rss hwm <<<"$(mem_kb "${pids[@]}")"
    cpu=$(awk -v d="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$req" \
        'BEGIN { if (n > 0) printf "%.2f", d * 1e6 / hz / n; else print "null" }')
    # Server CPU use in % of its core over the run (≈100: the server is the
    # bottleneck), and % of that core used by anything else (interference).
    read -r util other <<<"$(awk -v d="$((t1 - t0))" -v c="$((c1 - c0))" -v hz="$CLK_TCK" \
        -v ns="$((w1 - w0))" 'BEGIN { t = ns / 1e9 * hz; o = (c - d) / t * 100
            printf "%.0f %.0f\n", d / t * 100, (o < 0) ? 0 : o }')"

    local extra=""
    if [ -n "${MEASURE_EXTRA:-}" ]; then
        extra=$("$MEASURE_EXTRA" "$sys")
    fi
    printf '{"run":"%s","host":"%s","scenario":"%s","system":"%s","connections":%d,"payload":%d,"rep":%d,"duration_s":%d,"requests":%s,"rps":%s,"p50_us":%s,"p90_us":%s,"p99_us":%s,"p99_9_us":%s,"errors":%s,"cpu_us_per_req":%s,"server_cpu_pct":%s,"core_other_pct":%s,"rss_kb":%s,"hwm_kb":%s%s}\n' \
        "$RUN_ID" "$HOST" "$scenario" "$sys" "$conns" "${PAYLOAD:-0}" "$rep" "$secs" \
        "$req" "$rps" "$p50" "$p90" "$p99" "$p999" "$err" "$cpu" "$util" "$other" "$rss" "$hwm" "$extra" \
        >>"$RESULTS_DIR/$JSONL_NAME"
    # Column 16: request body bytes (PAYLOAD), for tables by payload.
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$scenario" "$sys" "$conns" "$rep" "$rps" "$p50" "$p90" "$p99" "$p999" \
        "$err" "$cpu" "$rss" "$hwm" "$util" "$other" "${PAYLOAD:-0}" >>"$BENCH_TMP/rows.tsv"
    log "$(printf '%s %-7s c=%-4s rep %d: %9.0f req/s  p50 %s µs  p99 %s µs  p99.9 %s µs  %s µs CPU/req (core %s%%, other work %s%%)  RSS %s KiB  errors %s' \
        "$scenario" "$sys" "$conns" "$rep" "$rps" "$p50" "$p99" "$p999" "$cpu" "$util" "$other" "$rss" "$err")"
}

# ---- summary --------------------------------------------------------------------

# summarize_wrk SCENARIO SUBJECT REFERENCES TARGET_CONNS TARGET_RATIOS
#               [REQUIRE_P99S [LABELS]]: markdown table of median (min..max) per
# system and connection count for this invocation's rows (with the server's use
# of its core and other work's share of that core, to tell server-bound from
# client-bound or disturbed runs), and for each reference REF a ratio row
# SUBJECT/REF per connection count (ratio of medians, and the min..max of the
# per-repetition interleaved pairs), then one target line per reference
# "LABEL: SUBJECT ≥ RATIO× REF req/s at TARGET_CONNS connections [and p99 ≤
# REF's]" marked met / not met (not met if SUBJECT had any errors).
# REFERENCES, TARGET_RATIOS, REQUIRE_P99S (1: the p99 condition is part of the
# target; default 0) and LABELS are comma-separated lists of equal length; a
# ratio of "-" means no target for that reference (ratio rows only).
summarize_wrk() {
    awk -F'\t' -v scen="$1" -v subj="$2" -v refl="$3" -v tconns="$4" -v ratiol="$5" \
        -v p99l="${6:-}" -v labell="${7:-}" '
    function sortn(a, n,   i, j, t) {            # insertion sort, numeric
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    }
    function median(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    # stat(key, col, fmt): "median (min..max)" of column col over the group key
    function stat(key, col, fmt,   n, i, a, v) {
        n = 0
        for (i = 1; i <= cnt[key]; i++) { v = val[key, i, col]; if (v != "null" && v != "") a[++n] = v }
        if (n == 0) return "–"
        sortn(a, n)
        if (n == 1) return sprintf(fmt, a[1])
        return sprintf(fmt " (" fmt ".." fmt ")", median(a, n), a[1], a[n])
    }
    function med(key, col,   n, i, a, v) {
        n = 0
        for (i = 1; i <= cnt[key]; i++) { v = val[key, i, col]; if (v != "null" && v != "") a[++n] = v }
        if (n == 0) return ""
        sortn(a, n); return median(a, n)
    }
    function sum(key, col,   i, s) { s = 0; for (i = 1; i <= cnt[key]; i++) s += val[key, i, col]; return s }
    BEGIN {
        nref = split(refl, refs, ","); split(ratiol, tratio, ","); split(p99l, needp99, ",")
        split(labell, label, ",")
    }
    $1 == scen {
        key = $2 SUBSEP $3
        if (!(key in cnt)) { cnt[key] = 0 }
        n = ++cnt[key]
        for (c = 4; c <= NF; c++) val[key, n, c] = $c
        rpsrep[$2, $3, $4] = $5
        if (!($3 in seenc)) { seenc[$3] = 1; conns[++nc] = $3 }
        if (!($2 in seens)) { seens[$2] = 1; systems[++ns] = $2 }
    }
    END {
        # Connection counts in ascending order.
        sortn(conns, nc)
        print "| conns | system | req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | CPU µs/req | server core % | other work on core % | RSS KiB (HWM) | errors |"
        print "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (ci = 1; ci <= nc; ci++) {
            c = conns[ci]
            for (si = 1; si <= ns; si++) {
                s = systems[si]; key = s SUBSEP c
                if (!(key in cnt)) continue
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %s (%s) | %d |\n", c, s,
                    stat(key, 5, "%.0f"), stat(key, 6, "%.0f"), stat(key, 7, "%.0f"), stat(key, 8, "%.0f"),
                    stat(key, 9, "%.0f"), stat(key, 11, "%.2f"), med(key, 14), med(key, 15),
                    med(key, 12), med(key, 13), sum(key, 10)
                if (med(key, 15) > 10) noisy = 1
            }
            for (ri = 1; ri <= nref; ri++) {
                ref = refs[ri]
                ks = subj SUBSEP c; kr = ref SUBSEP c
                if (!((ks in cnt) && (kr in cnt) && med(kr, 5) > 0)) continue
                r = med(ks, 5) / med(kr, 5)
                # Per-repetition pairs (same rep number = adjacent runs).
                pmin = ""; pmax = ""
                for (i = 1; i <= cnt[ks]; i++) {
                    rep = val[ks, i, 4]
                    if (((ref, c, rep) in rpsrep) && rpsrep[ref, c, rep] > 0) {
                        pr = val[ks, i, 5] / rpsrep[ref, c, rep]
                        if (pmin == "" || pr < pmin) pmin = pr
                        if (pmax == "" || pr > pmax) pmax = pr
                    }
                }
                p99r = (med(kr, 8) > 0) ? sprintf("%.2f×", med(ks, 8) / med(kr, 8)) : "–"
                cpur = (med(kr, 11) > 0) ? sprintf("%.2f×", med(ks, 11) / med(kr, 11)) : "–"
                printf "| %s | **%s/%s** | **%.2f×** (pairs %.2f..%.2f) | | | %s | | %s | | | | |\n",
                    c, subj, ref, r, pmin, pmax, p99r, cpur
                ratio[ri, c] = r; p99ok[ri, c] = med(ks, 8) <= med(kr, 8); errs[c] = sum(ks, 10)
            }
        }
        print ""
        if (noisy) print "**Warning:** other work took more than 10% of the server core during some runs; these numbers are skewed.\n"
        for (ri = 1; ri <= nref; ri++) {
            if (tratio[ri] == "-") continue
            ref = refs[ri]; lab = (label[ri] != "") ? label[ri] ": " : ""
            cond = needp99[ri] ? sprintf(" and p99 ≤ %s'"'"'s", ref) : ""
            if ((ri, tconns) in ratio) {
                met = (ratio[ri, tconns] >= tratio[ri] && errs[tconns] == 0 && (!needp99[ri] || p99ok[ri, tconns]))
                printf "%sTarget: %s ≥ %.1f× %s req/s at %s connections%s — **%s** (%.2f×%s). p99 at %s connections: %s %s %s.\n",
                    lab, subj, tratio[ri], ref, tconns, cond, met ? "met" : "not met", ratio[ri, tconns],
                    errs[tconns] ? sprintf(", %d errors", errs[tconns]) : "",
                    tconns, subj, p99ok[ri, tconns] ? "≤" : ">", ref
            } else {
                printf "%sTarget: %s ≥ %.1f× %s req/s at %s connections%s — **not measured**.\n",
                    lab, subj, tratio[ri], ref, tconns, cond
            }
            if (nref > 1) print ""
        }
    }' "$BENCH_TMP/rows.tsv"
}

# ---- helpers for the scenario scripts beyond wrk runs (async.sh, misc.sh) --------

# bench_mode: set MODE to smoke, quick or full from SMOKE and QUICK. SMOKE=1 is
# the test suite's tiny mode (one short run per system, small counts, no quiet
# wait): it proves each scenario produces numbers, not what they are.
# shellcheck disable=SC2034 # MODE is for the scenario scripts
bench_mode() {
    if [ "${SMOKE:-0}" = 1 ]; then
        MODE=smoke
    elif [ "${QUICK:-0}" = 1 ]; then
        MODE=quick
    else
        MODE=full
    fi
}

# pick_python: print the Python interpreter to use (PYTHON, else Debian's
# /usr/bin/python3, which starts faster than a pyenv shim, else python3).
pick_python() {
    if [ -n "${PYTHON:-}" ]; then
        echo "$PYTHON"
    elif [ -x /usr/bin/python3 ]; then
        echo /usr/bin/python3
    else
        command -v python3 || die "python3 not found (run: make deps)"
    fi
}

# raise_nofile WANT: raise the soft open-files limit of this shell (and so of
# everything it starts) to WANT, bounded by the hard limit; print the result.
raise_nofile() {
    local want=$1 hard
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
        want=$hard
    fi
    [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$want" ] && ulimit -Sn "$want"
    ulimit -Sn
}

# emit_json MEMBERS: append {"run":…,"host":…,MEMBERS} to $RESULTS_DIR/$JSONL_NAME
# (MEMBERS: JSON object members, comma-separated, without braces).
emit_json() {
    printf '{"run":"%s","host":"%s",%s}\n' "$RUN_ID" "$HOST" "$1" >>"$RESULTS_DIR/$JSONL_NAME"
}

# ctx_total PIDS...: voluntary + involuntary context switches of every thread
# of the processes so far (each one a wake-up of an idle thread, at least).
ctx_total() {
    local pid
    for pid in "$@"; do cat /proc/"$pid"/task/*/status 2>/dev/null; done |
        awk '$1 == "voluntary_ctxt_switches:" || $1 == "nonvoluntary_ctxt_switches:" { n += $2 }
             END { print n + 0 }'
}

# dist FILE: "n min p50 p90 p99 max mean" of the numbers in FILE (one a line;
# nearest-rank percentiles), or "0 null null null null null null" when empty.
dist() {
    sort -g "$1" | awk '
    { a[++n] = $1; s += $1 }
    function pct(p,   k) { k = int(p / 100 * n + 0.999999); if (k < 1) k = 1; return a[k] }
    END {
        if (n == 0) { print "0 null null null null null null"; exit }
        printf "%d %s %s %s %s %s %.3f\n", n, a[1], pct(50), pct(90), pct(99), a[n], s / n
    }'
}

# median_col SCENARIO SYSTEM CONNS COLUMN: median of a rows.tsv column (5 rps,
# 6 p50, 7 p90, 8 p99, 9 p99.9, 10 errors: summed instead, 12 RSS, 13 HWM) over
# this invocation's runs; empty when there are none.
median_col() {
    awk -F'\t' -v s="$1" -v y="$2" -v c="$3" -v col="$4" '
    $1 == s && $2 == y && $3 == c && $col != "null" { a[++n] = $col; sum += $col }
    END {
        if (n == 0) exit
        if (col == 10) { print sum; exit }
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }' "$BENCH_TMP/rows.tsv"
}

# fcd_rev: the revision of the fcd under test for the summaries (FCD_REV, else
# this tree's HEAD, "+dirty" when core, io, store or runtime-shim have edits).
fcd_rev() {
    local rev
    rev=${FCD_REV:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
    if [ -z "${FCD_REV:-}" ] &&
        [ -n "$(git -C "$ROOT" status --porcelain -- core io store runtime-shim 2>/dev/null)" ]; then
        rev="$rev+dirty"
    fi
    echo "$rev"
}
