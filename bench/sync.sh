#!/usr/bin/env bash
# bench/sync.sh — synchronous invocation benchmark (issue 4 "Done when", issue 7
# scenarios 1 and 5; targets P1, P2 and P7 of ../shared/BENCH.md).
#
#   make bench-sync [QUICK=1]      # = FCD=build/cc/fcd QUICK=$(QUICK) bench/sync.sh
#
# Six systems answer the same request with the same body, measured in the same
# run, alternating (fcd nginx-proxy haproxy workerd direct direct-node fcd ...):
#   fcd          fcd --io-threads 1 --workers 1, access log off, function hello =
#                examples/hello-c (concurrency FCD_CONCURRENCY); load on the HTTP
#                trigger /2016-08-15/proxy/default/hello/bench. fcd and the
#                instance it spawns (inheriting the pinning) both count.
#   nginx-proxy  nginx, 1 process, access log off, upstream keepalive 256,
#                HTTP/1.1 to the upstream, in front of the C backend below.
#   haproxy      HAProxy (Debian), nbthread 1, option http-keep-alive, http-reuse
#                always, in front of the same C backend. Left out, with a
#                warning, when haproxy is not installed (make deps).
#   workerd      Cloudflare's workerd (npm package workerd, bench/workerd:
#                config.capnp, worker.js), one process, serving the C backend's
#                HTTP-trigger echo itself as a Worker, byte for byte: a peer
#                platform. sync-http and sync-http-payload only (no /invoke).
#                Left out, with a warning, when not installed (make deps, or
#                cd bench/workerd && npm install).
#   direct       the C backend (examples/hello-c/bootstrap, FC_SERVER_PORT=port)
#                alone; nginx-proxy, haproxy and direct share this one process.
#   direct-node  FC's Node custom runtime example (examples/node/bootstrap,
#                FC_SERVER_PORT=port) alone, kept on 127.0.0.1 by a preloaded
#                module (the example listens on 0.0.0.0); a reference for a
#                Node backend. Left out when node is not installed.
# wrk sends the backends what fcd would (x-fc-control-path: /http-invoke and the
# x-fc-base-path / x-forwarded-for / x-fc-client-ip headers the echo prints),
# so all systems return the same 211-byte JSON body; the script checks status
# and body before measuring and stops if they differ. (sync-invoke: all but
# workerd.)
#
# Scenarios:
#   sync-http    GET through the HTTP trigger, 1/16/64/256 connections
#   sync-invoke  InvokeFunction (POST .../functions/hello/invocations, 5-byte
#                event) vs POST /invoke on the backend (nginx-proxy, direct), 64
#   sync-http-payload  POST through the HTTP trigger with a 0 B, 1 KiB, 64 KiB
#                and 1 MiB body (JSON field "payload": bytes), 64 connections
#   cold-start   a separate fcd with the C, Node and Python examples and
#                instance_idle_s 1: wait until no instance is left, then one
#                request (curl, core 1): request sent → first byte; against the
#                spawn → port-accepts floor of fcshim_bench (`make bench-spawn`)
#                for the same code directory, pinned like fcd (core 0)
#   profile      (PROFILE=1, default in full runs) per system at 64 connections:
#                perf stat syscall counts, /proc context switches per thread,
#                perf record -e cpu-clock -g of the server and its backend
#
#   SMOKE=1    64 connections, 1 run × 1 s, no warm-up; no payload runs; 1 cold
#              sample, C only; no profile, no quiet wait (the test suite's tiny mode)
#   QUICK=1    64 connections only, 2 repetitions × 2 s (InvokeFunction 1 × 2 s); payload 64 KiB;
#              3 cold samples; no profile
#   default    3 × 5 s at 64, 2 × 2 s at 1, 16 and 256; payloads 1 × 4 s each;
#              10 cold samples
#
# Servers (and instances) on core SERVER_CPU (0), wrk -t1 and curl on LOADGEN_CPU
# (1). CPU µs/request = utime+stime of the system's processes (fcd: with its
# instances, reaped ones included) over the run / requests; RSS = VmRSS (VmHWM).
# Output: bench/results/<date>-<host>/sync.jsonl (one JSON object per run or
# cold sample, appended), profile files sync-profile-* there (PROFILE=1), and
# the summary printed and appended to .../summary.md with P1, P2 and P7 marked
# met / not met.
# Environment: FCD (default build/cc/fcd), FCSHIM_BENCH (default fcshim_bench
# next to FCD), FCD_REV, QUICK, SMOKE, PROFILE, COLD_SAMPLES, PAYLOAD_SIZES (e.g.
# "0 1048576": the sync-http-payload body sizes), FCD_CONCURRENCY (200:
# fcd's maximum), RESULTS_DIR, SERVER_CPU, LOADGEN_CPU, QUIET_WAIT (max seconds
# to wait for other work to stop before starting: 120, or 30 with QUICK=1),
# FCD_WRAP (a command prefix for fcd, e.g. "chrt --batch 0": an experiment;
# instances inherit it; named in the summary), WORKERD (the workerd binary;
# default: bench/workerd's npm install; a path that is not an executable, e.g.
# WORKERD=none, leaves workerd out).
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

JSONL_NAME=sync.jsonl
PAYLOAD=0                      # request body bytes (sync-http)
TARGET_CONNS=64
SYSTEMS=(fcd nginx-proxy haproxy workerd direct direct-node) # this order within each repetition
TRIGGER_PREFIX=/2016-08-15/proxy/default/hello
TRIGGER_PATH=$TRIGGER_PREFIX/bench
INVOKE_PATH=/2016-08-15/services/default/functions/hello/invocations
EVENT=bench                    # the InvokeFunction event; the answer is "hello, bench"

bench_init
FCD=${FCD:-$ROOT/build/cc/fcd}
case $FCD in /*) ;; *) FCD=$ROOT/$FCD ;; esac
[ -x "$FCD" ] || die "FCD=$FCD is not an executable (run: make)"
FCSHIM_BENCH=${FCSHIM_BENCH:-$(dirname "$FCD")/fcshim_bench}
HELLO=$ROOT/examples/hello-c/bootstrap
[ -x "$HELLO" ] || die "$HELLO is not built (run: make)"
command -v nginx >/dev/null 2>&1 || die "nginx not found (run: make deps)"
# haproxy and node are references: without them, their systems are left out.
for tool in haproxy node; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "warning: $tool not found (run: make deps): no ${tool/node/direct-node} reference"
        for i in "${!SYSTEMS[@]}"; do
            [ "${SYSTEMS[$i]}" = "${tool/node/direct-node}" ] && unset "SYSTEMS[$i]"
        done
    fi
done
# workerd: the linux-64 binary npm fetched (bench/workerd/node_modules), not
# the npm wrapper, so that the pid held is the one serving.
WORKERD=${WORKERD:-$ROOT/bench/workerd/node_modules/@cloudflare/workerd-linux-64/bin/workerd}
if [ ! -x "$WORKERD" ]; then
    log "warning: $WORKERD not found (run: make deps): no workerd reference"
    for i in "${!SYSTEMS[@]}"; do
        [ "${SYSTEMS[$i]}" = workerd ] && unset "SYSTEMS[$i]"
    done
fi
SYSTEMS=("${SYSTEMS[@]}")
has_sys() { [[ " ${SYSTEMS[*]} " == *" $1 "* ]]; }
FCD_CONCURRENCY=${FCD_CONCURRENCY:-200}
read -r -a FCD_WRAP_ARGS <<<"${FCD_WRAP:-}"

COLD_RT=(c node python)
if [ "${SMOKE:-0}" = 1 ]; then
    MAIN_REPS=1 MAIN_SECS=1 WARM_SECS=0
    SWEEP=()
    API_REPS=1 API_SECS=1
    COLD_SAMPLES=${COLD_SAMPLES:-1}
    COLD_RT=(c)
    PAYLOADS=() PAYLOAD_REPS=1 PAYLOAD_SECS=1
    PROFILE=0
elif [ "${QUICK:-0}" = 1 ]; then
    # Six systems: sized so that `make bench QUICK=1` stays within 3 minutes.
    MAIN_REPS=2 MAIN_SECS=2 WARM_SECS=1
    SWEEP=()                   # connection counts measured besides TARGET_CONNS
    API_REPS=1 API_SECS=2
    PAYLOADS=(65536) PAYLOAD_REPS=1 PAYLOAD_SECS=2 # request body bytes (sync-http-payload)
    COLD_SAMPLES=${COLD_SAMPLES:-3}
    PROFILE=${PROFILE:-0}
else
    # Six systems: sized so that `make bench` stays within its 20 minutes.
    MAIN_REPS=3 MAIN_SECS=5 WARM_SECS=1
    SWEEP=(1 16 256) SWEEP_REPS=2 SWEEP_SECS=2 # 256 last: it needs a second instance
    API_REPS=2 API_SECS=5
    PAYLOADS=(0 1024 65536 1048576) PAYLOAD_REPS=1 PAYLOAD_SECS=4
    COLD_SAMPLES=${COLD_SAMPLES:-10}
    PROFILE=${PROFILE:-1}
fi
# PAYLOAD_SIZES (request body bytes, space-separated) overrides the mode's list.
[ -n "${PAYLOAD_SIZES:-}" ] && read -r -a PAYLOADS <<<"$PAYLOAD_SIZES"
PROFILE_SECS=5
if [ "$PROFILE" = 1 ]; then
    command -v perf >/dev/null 2>&1 || { log "perf not found: no profile"; PROFILE=0; }
fi

# Other work on this shared VM skews every number: wait (bounded) for quiet.
BUSY=$(wait_quiet "${QUIET_WAIT:-$([ "${QUICK:-0}" = 1 ] && echo 30 || echo 120)}")
if [ "$BUSY" -gt 10 ]; then
    log "warning: CPUs already ${BUSY}% busy before the benchmark; numbers will be skewed"
fi

# ---- wrk request shapes -----------------------------------------------------------
# Static request fields only: wrk builds the request once (no per-request Lua).
# http-backend.lua is written once fcd runs (backend_headers, below).
cat >"$BENCH_TMP/invoke-fcd.lua" <<EOF
wrk.method = "POST"
wrk.body = "$EVENT"
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
cat "$BENCH_TMP/invoke-fcd.lua" - >"$BENCH_TMP/invoke-backend.lua" <<'EOF'
wrk.headers["x-fc-control-path"] = "/invoke"
EOF
# The same requests for curl (body check): header arguments per Lua file.
INVOKE_FCD_CURL=(-X POST --data-binary "$EVENT" -H "Content-Type: application/octet-stream")
INVOKE_BACKEND_CURL=("${INVOKE_FCD_CURL[@]}" -H "x-fc-control-path: /invoke")

# ---- systems ----------------------------------------------------------------------
BACKEND_PORT=""
prepare_nginx_proxy() {
    nginx_conf "$BENCH_TMP/nginx-proxy" "    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 256;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$1;
        # Request bodies (sync-http-payload, up to 1 MiB) buffered in memory,
        # not in temp files.
        client_max_body_size 8m;
        client_body_buffer_size 2m;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
}

# prepare_haproxy PORT: HAProxy, one thread, foreground (-db), no logs,
# keep-alive to the backend with connections shared between clients.
prepare_haproxy() {
    mkdir -p "$BENCH_TMP/haproxy"
    cat >"$BENCH_TMP/haproxy/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-keep-alive 75s
frontend fe
    bind 127.0.0.1:$1
    default_backend be
backend be
    server backend 127.0.0.1:$BACKEND_PORT
EOF
}

# The Node example listens on 0.0.0.0: preloaded, this keeps it on loopback.
cat >"$BENCH_TMP/loopback.js" <<'EOF'
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) {
  if (a[1] === '0.0.0.0') a[1] = '127.0.0.1';
  return listen.apply(this, a);
};
EOF

# fcd_start NAME IDLE_S FUNCTION_SPEC...: fcd on one io thread and one worker,
# access log off, instances reclaimed after IDLE_S idle seconds.
fcd_start() {
    local name=$1 idle=$2 f
    shift 2
    local -a fargs=()
    for f in "$@"; do fargs+=(--function "$f"); done
    mkdir -p "$BENCH_TMP/$name-data"
    printf '{"access_log": false, "instance_idle_s": %d}\n' "$idle" >"$BENCH_TMP/$name.json"
    start_server "$name" /healthz "${FCD_WRAP_ARGS[@]}" "$FCD" --foreground --listen 127.0.0.1:@PORT@ \
        --data-dir "$BENCH_TMP/$name-data" --io-threads 1 --workers 1 \
        --config "$BENCH_TMP/$name.json" "${fargs[@]}"
}

start_server direct / env FC_SERVER_PORT=@PORT@ "$HELLO"
BACKEND_PORT=$START_PORT
start_server nginx-proxy / nginx -p "$BENCH_TMP/nginx-proxy" -c "$BENCH_TMP/nginx-proxy/nginx.conf" \
    -e "$BENCH_TMP/nginx-proxy/logs/error.log"
SYS_PIDS[nginx-proxy]="${SYS_PIDS[nginx-proxy]} ${SYS_PIDS[direct]}"
if has_sys haproxy; then
    start_server haproxy / haproxy -db -f "$BENCH_TMP/haproxy/haproxy.cfg"
    SYS_PIDS[haproxy]="${SYS_PIDS[haproxy]} ${SYS_PIDS[direct]}"
fi
if has_sys workerd; then
    start_server workerd / "$WORKERD" serve "$ROOT/bench/workerd/config.capnp" \
        --socket-addr http=127.0.0.1:@PORT@
fi
if has_sys direct-node; then
    start_server direct-node / env FC_SERVER_PORT=@PORT@ NODE_OPTIONS="--require $BENCH_TMP/loopback.js" \
        "$ROOT/examples/node/bootstrap"
fi
fcd_start fcd 3600 "hello=$ROOT/examples/hello-c,concurrency=$FCD_CONCURRENCY"
SYS_TREE[fcd]=1
declare -A BASE=()
for sys in "${SYSTEMS[@]}"; do BASE[$sys]=${SYS_URL[$sys]%/*}; done
BASE[fcd]=${SYS_URL[fcd]%/healthz}

# backend_headers: the headers fcd adds for the instance that the echo prints,
# for wrk and curl to send to the backend directly. x-fc-base-path is taken
# from fcd's own echo (its exact form is fcd's business), else TRIGGER_PREFIX.
backend_headers() {
    local echo_body base_path
    echo_body=$(curl -sS --max-time 10 "${BASE[fcd]}$TRIGGER_PATH") || die "fcd did not answer"
    base_path=$(sed -n 's/.*"x-fc-base-path":"\([^"]*\)".*/\1/p' <<<"$echo_body")
    base_path=${base_path:-$TRIGGER_PREFIX}
    cat >"$BENCH_TMP/http-backend.lua" <<EOF
wrk.headers["x-fc-control-path"] = "/http-invoke"
wrk.headers["x-fc-base-path"] = "$base_path"
wrk.headers["x-forwarded-for"] = "127.0.0.1"
wrk.headers["x-fc-client-ip"] = "127.0.0.1"
EOF
    HTTP_BACKEND_CURL=(-H "x-fc-control-path: /http-invoke" -H "x-fc-base-path: $base_path"
        -H "x-forwarded-for: 127.0.0.1" -H "x-fc-client-ip: 127.0.0.1")
}
HTTP_BACKEND_CURL=()
backend_headers

# payload_files N: the N-byte request body of sync-http-payload (N x's) as a
# file for curl and as wrk scripts for fcd (payload-N-fcd.lua) and for the
# backends (payload-N-backend.lua, with the headers fcd adds).
payload_files() {
    local f=$BENCH_TMP/payload-$1
    [ -f "$f.bin" ] && return 0
    head -c "$1" /dev/zero | tr '\0' x >"$f.bin"
    cat >"$f-fcd.lua" <<EOF
wrk.method = "POST"
wrk.body = string.rep("x", $1)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
    cat "$f-fcd.lua" "$BENCH_TMP/http-backend.lua" >"$f-backend.lua"
}

# use_scenario sync-http|sync-invoke|sync-http-payload: point SYS_URL and
# SYS_LUA at its requests (sync-http-payload: a body of PAYLOAD bytes) and
# RUN_SYSTEMS at the systems that take part (workerd has no /invoke).
use_scenario() {
    local sys
    [ "$1" = sync-http-payload ] && payload_files "$PAYLOAD"
    RUN_SYSTEMS=()
    for sys in "${SYSTEMS[@]}"; do
        [ "$1:$sys" = sync-invoke:workerd ] && continue
        RUN_SYSTEMS+=("$sys")
        case $1:$sys in
        sync-http-payload:fcd) SYS_URL[$sys]=${BASE[$sys]}$TRIGGER_PATH SYS_LUA[$sys]=$BENCH_TMP/payload-$PAYLOAD-fcd.lua ;;
        sync-http-payload:*) SYS_URL[$sys]=${BASE[$sys]}$TRIGGER_PATH SYS_LUA[$sys]=$BENCH_TMP/payload-$PAYLOAD-backend.lua ;;
        sync-http:fcd) SYS_URL[$sys]=${BASE[$sys]}$TRIGGER_PATH SYS_LUA[$sys]="" ;;
        sync-http:*) SYS_URL[$sys]=${BASE[$sys]}$TRIGGER_PATH SYS_LUA[$sys]=$BENCH_TMP/http-backend.lua ;;
        sync-invoke:fcd) SYS_URL[$sys]=${BASE[$sys]}$INVOKE_PATH SYS_LUA[$sys]=$BENCH_TMP/invoke-fcd.lua ;;
        sync-invoke:*) SYS_URL[$sys]=${BASE[$sys]}/invoke SYS_LUA[$sys]=$BENCH_TMP/invoke-backend.lua ;;
        esac
    done
}
RUN_SYSTEMS=()

# check_same SCENARIO: every system answers 200 with the same body (this also
# starts fcd's instance); stop otherwise, since the comparison would be unfair.
check_same() {
    local scenario=$1 sys out code first="" firstsys=""
    local -a args
    use_scenario "$scenario"
    for sys in "${RUN_SYSTEMS[@]}"; do
        case $scenario:$sys in
        sync-http:fcd) args=() ;;
        sync-http:*) args=("${HTTP_BACKEND_CURL[@]}") ;;
        sync-invoke:fcd) args=("${INVOKE_FCD_CURL[@]}") ;;
        sync-invoke:*) args=("${INVOKE_BACKEND_CURL[@]}") ;;
        sync-http-payload:*)
            args=(-X POST --data-binary "@$BENCH_TMP/payload-$PAYLOAD.bin" -H "Expect:"
                -H "Content-Type: application/octet-stream")
            [ "$sys" = fcd ] || args+=("${HTTP_BACKEND_CURL[@]}")
            ;;
        esac
        code=$(curl -sS --max-time 10 -o "$BENCH_TMP/body-$sys" -w '%{http_code}' \
            "${args[@]}" "${SYS_URL[$sys]}") || die "$scenario: $sys did not answer"
        out=$(cat "$BENCH_TMP/body-$sys")
        [ "$code" = 200 ] || die "$scenario: $sys answered $code: $out"
        if [ -z "$firstsys" ]; then
            first=$out firstsys=$sys
        elif [ "$out" != "$first" ]; then
            die "$scenario: bodies differ: $firstsys (${#first} B) $first; $sys (${#out} B) $out"
        fi
    done
    log "$scenario$([ "$scenario" = sync-http-payload ] && echo " (request body $PAYLOAD B)"): all systems answer 200 with the same ${#first}-byte body"
    BODY_BYTES[$scenario]=${#first}
}
declare -A BODY_BYTES=()
check_same sync-invoke
check_same sync-http

# run_set SCENARIO CONNS REPS SECS: REPS alternating repetitions over SYSTEMS.
run_set() {
    local scenario=$1 conns=$2 reps=$3 secs=$4 rep sys
    use_scenario "$scenario"
    for rep in $(seq "$reps"); do
        for sys in "${RUN_SYSTEMS[@]}"; do
            measure_wrk "$scenario" "$sys" "$conns" "$secs" "$WARM_SECS" "$rep"
        done
    done
}

# Order: 64 connections first (both scenarios), then the sweep in ascending
# order, the profile before 256: connections beyond fcd's instance concurrency
# (200) make it start a second instance, which then stays (instance_idle_s).
run_set sync-http "$TARGET_CONNS" "$MAIN_REPS" "$MAIN_SECS"
PAYLOAD=${#EVENT}
run_set sync-invoke "$TARGET_CONNS" "$API_REPS" "$API_SECS"
for PAYLOAD in "${PAYLOADS[@]}"; do
    check_same sync-http-payload
    run_set sync-http-payload "$TARGET_CONNS" "$PAYLOAD_REPS" "$PAYLOAD_SECS"
done
PAYLOAD=0

# ---- profile (64 connections, sync-http) ----------------------------------------------
# ctx_switches PIDS...: "tid comm voluntary nonvoluntary" per thread.
ctx_switches() {
    local pid t
    for pid in "$@"; do
        for t in /proc/"$pid"/task/*; do
            [ -r "$t/status" ] || continue
            awk -v tid="${t##*/}" '$1 == "Name:" { n = $2 } $1 == "voluntary_ctxt_switches:" { v = $2 }
                $1 == "nonvoluntary_ctxt_switches:" { nv = $2 } END { print tid, n, v, nv }' "$t/status"
        done
    done
}

SYSCALLS=(io_uring_enter epoll_wait epoll_pwait epoll_ctl read write readv writev recvfrom sendto
    recvmsg sendmsg accept4 close futex pread64 pwrite64 eventfd2 ioctl setsockopt getsockopt
    nanosleep clock_nanosleep mmap munmap brk madvise openat)
PROFILE_MD=$BENCH_TMP/profile.md
: >"$PROFILE_MD"

# profile_sys SYSTEM: syscall counts and context switches over one wrk run, then
# a cpu-clock profile over another; files sync-profile-SYSTEM-* in RESULTS_DIR.
profile_sys() {
    local sys=$1 events s csv pstat prec req out=$BENCH_TMP/wrk-profile-$1.txt
    local pfx=$RESULTS_DIR/sync-profile-$1
    local -a pids
    mapfile -t pids < <(sys_pids "$sys")
    csv=$(IFS=,; echo "${pids[*]}")
    events=raw_syscalls:sys_enter,context-switches,io_uring:io_uring_submit_req
    for s in "${SYSCALLS[@]}"; do events+=,syscalls:sys_enter_$s; done

    run_wrk "$TARGET_CONNS" "$WARM_SECS" "${SYS_URL[$sys]}" "$BENCH_TMP/warmup.txt" "${SYS_LUA[$sys]}"
    ctx_switches "${pids[@]}" >"$BENCH_TMP/ctx0-$sys"
    perf stat --per-thread -x, -e "$events" -p "$csv" -o "$pfx-syscalls.csv" 2>"$BENCH_TMP/perf-stat-$sys.log" &
    pstat=$!
    STARTED_PIDS+=("$pstat")
    sleep 0.5
    run_wrk "$TARGET_CONNS" "$PROFILE_SECS" "${SYS_URL[$sys]}" "$out" "${SYS_LUA[$sys]}"
    kill -INT "$pstat" 2>/dev/null || true
    wait "$pstat" 2>/dev/null || true
    ctx_switches "${pids[@]}" >"$BENCH_TMP/ctx1-$sys"
    read -r _ req _ <<<"$(parse_wrk "$out")"

    perf record -e cpu-clock -g -p "$csv" -o "$pfx.perf.data" -- sleep "$PROFILE_SECS" \
        >"$BENCH_TMP/perf-record-$sys.log" 2>&1 &
    prec=$!
    STARTED_PIDS+=("$prec")
    run_wrk "$TARGET_CONNS" "$((PROFILE_SECS + 1))" "${SYS_URL[$sys]}" "$BENCH_TMP/wrk-record-$sys.txt" \
        "${SYS_LUA[$sys]}"
    wait "$prec" 2>/dev/null || true
    perf report --stdio --no-children -i "$pfx.perf.data" --sort comm,dso,sym --percent-limit 0.7 \
        -g none 2>/dev/null | grep -v '^#' | grep -v '^$' >"$pfx-top.txt" || true
    perf report --stdio --no-children -i "$pfx.perf.data" --sort comm,dso,sym --percent-limit 2 \
        -g caller,0.5,callee,function,percent 2>/dev/null >"$pfx-callgraph.txt" || true

    {
        echo "### $sys (${pids[*]}): $req requests in ${PROFILE_SECS} s at $TARGET_CONNS connections"
        echo
        echo "Per request (perf stat tracepoints, all threads and per thread; \"syscalls\" is" \
            "every syscall, io_uring_submit_req counts io_uring operations, which are not syscalls):"
        echo
        awk -F, -v n="$req" '$2 ~ /^[0-9]+$/ && $2 > 0 {
                ev = $4; sub(/^syscalls:sys_enter_/, "", ev); sub(/^raw_syscalls:sys_enter$/, "syscalls", ev)
                sub(/^io_uring:/, "", ev)
                tot[ev] += $2; printf "%s %s %.3f\n", $1, ev, $2 / n }
            END { for (ev in tot) printf "all %s %.3f\n", ev, tot[ev] / n }' "$pfx-syscalls.csv" |
            sort -k1,1 -k3,3gr | awk '$1 != t { if (t != "") print ""; t = $1; printf "- %s: %s %s", $1, $2, $3; next }
                { printf ", %s %s", $2, $3 } END { print "" }'
        echo
        echo "Context switches per request, per thread (voluntary + involuntary, /proc):"
        echo
        awk -v n="$req" 'NR == FNR { v0[$1] = $3; nv0[$1] = $4; next }
            ($1 in v0) { printf "- %s (tid %s): %.3f + %.3f\n", $2, $1, ($3 - v0[$1]) / n, ($4 - nv0[$1]) / n }' \
            "$BENCH_TMP/ctx0-$sys" "$BENCH_TMP/ctx1-$sys"
        echo
        echo "cpu-clock samples (self), top entries:"
        echo
        echo '```'
        head -n 25 "$pfx-top.txt"
        echo '```'
        echo
    } >>"$PROFILE_MD"
    log "profiled $sys: $pfx-*"
}

profiled=0
for c in "${SWEEP[@]}"; do
    if [ "$c" -gt "$FCD_CONCURRENCY" ] && [ "$PROFILE" = 1 ] && [ "$profiled" = 0 ]; then
        use_scenario sync-http
        for sys in "${RUN_SYSTEMS[@]}"; do profile_sys "$sys"; done
        profiled=1
    fi
    run_set sync-http "$c" "$SWEEP_REPS" "$SWEEP_SECS"
done
if [ "$PROFILE" = 1 ] && [ "$profiled" = 0 ]; then
    use_scenario sync-http
    for sys in "${RUN_SYSTEMS[@]}"; do profile_sys "$sys"; done
fi
FCD_INSTANCES=$(($(proc_tree "${SYS_PIDS[fcd]}" | wc -l) - 1))

# ---- cold start -------------------------------------------------------------------
# A separate fcd whose instances are reclaimed after 1 idle second: before each
# sample, wait until it has no instance left, then time one request.
declare -A COLD_DIR=([c]=hello-c [node]=node [python]=python)
COLD_TSV=$BENCH_TMP/cold.tsv
: >"$COLD_TSV"
fspecs=()
for rt in "${COLD_RT[@]}"; do fspecs+=("$rt=$ROOT/examples/${COLD_DIR[$rt]}"); done
fcd_start fcd-cold 1 "${fspecs[@]}"
cold_pid=${SYS_PIDS[fcd-cold]}
cold_base=${SYS_URL[fcd-cold]%/healthz}

# no_instances PID: wait (≤ 20 s) until PID has no child process.
no_instances() {
    local _
    for _ in $(seq 400); do
        [ "$(proc_tree "$1" | wc -l)" -le 1 ] && return 0
        sleep 0.05
    done
    return 1
}

for i in $(seq "$COLD_SAMPLES"); do
    for rt in "${COLD_RT[@]}"; do
        no_instances "$cold_pid" || die "fcd-cold still has instances after 20 s"
        read -r code pre first <<<"$(taskset -c "$LOADGEN_CPU" curl -sS -o /dev/null --max-time 10 \
            -w '%{http_code} %{time_pretransfer} %{time_starttransfer}' \
            "$cold_base/2016-08-15/proxy/default/$rt/cold")" || die "cold $rt: no answer"
        [ "$code" = 200 ] || die "cold $rt: HTTP $code"
        ms=$(awk -v a="$pre" -v b="$first" 'BEGIN { printf "%.3f", (b - a) * 1000 }')
        printf '%s\t%s\t%s\n' "$rt" "$i" "$ms" >>"$COLD_TSV"
        printf '{"run":"%s","host":"%s","scenario":"cold-start","system":"fcd","runtime":"%s","sample":%d,"first_byte_ms":%s}\n' \
            "$RUN_ID" "$HOST" "$rt" "$i" "$ms" >>"$RESULTS_DIR/$JSONL_NAME"
        log "cold $rt sample $i: $ms ms to first byte"
    done
done
stop_pid "$cold_pid"

# Floors: fcshim_bench (make bench-spawn) on the same code directories, pinned
# to the server core as fcd and its instances are.
declare -A FLOOR_BARE=() FLOOR_SHIM=()
if [ -x "$FCSHIM_BENCH" ]; then
    for rt in "${COLD_RT[@]}"; do
        taskset -c "$SERVER_CPU" "$FCSHIM_BENCH" "$(dirname "$FCD")/fcshim" "$ROOT/examples/${COLD_DIR[$rt]}" \
            "$COLD_SAMPLES" >"$RESULTS_DIR/sync-spawn-floor-$rt.txt" 2>&1 ||
            log "fcshim_bench on $rt failed: $(tail -n 2 "$RESULTS_DIR/sync-spawn-floor-$rt.txt")"
        FLOOR_BARE[$rt]=$(awk '/^bootstrap -> ready/ { print $5 }' "$RESULTS_DIR/sync-spawn-floor-$rt.txt")
        FLOOR_SHIM[$rt]=$(awk '/^fcshim bootstrap -> ready/ { print $6 }' "$RESULTS_DIR/sync-spawn-floor-$rt.txt")
        log "spawn floor $rt: bootstrap -> ready ${FLOOR_BARE[$rt]:-?} ms, via fcshim ${FLOOR_SHIM[$rt]:-?} ms"
    done
else
    log "no $FCSHIM_BENCH (make bench-spawn builds it): cold start without floor"
fi

# ---- summary ----------------------------------------------------------------------
rev=${FCD_REV:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [ -z "${FCD_REV:-}" ] && [ -n "$(git -C "$ROOT" status --porcelain -- core io runtime-shim 2>/dev/null)" ]; then
    rev="$rev+dirty"
fi
cold_table() {
    local rt
    echo "| runtime | fcd cold: request → first byte, ms | floor: bootstrap → port accepts, ms | floor via fcshim, ms | fcd − floor (median), ms | target |"
    echo "|---|---:|---:|---:|---:|---|"
    for rt in "${COLD_RT[@]}"; do
        awk -F'\t' -v rt="$rt" -v bare="${FLOOR_BARE[$rt]:-}" -v shim="${FLOOR_SHIM[$rt]:-}" '
        $1 == rt { a[++n] = $3 }
        END {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            m = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            p90 = a[int(0.9 * n + 0.999)]
            d = (bare != "") ? sprintf("%+.2f", m - bare) : "–"
            tgt = "–"
            if (rt == "c") tgt = (bare == "") ? "P7 not measured" : sprintf("P7 ≤ floor + 1 ms: **%s**", (m <= bare + 1) ? "met" : "not met")
            printf "| %s | %.2f (%.2f..%.2f, p90 %.2f; n=%d) | %s | %s | %s | %s |\n", rt, m, a[1], a[n], p90, n,
                bare == "" ? "–" : bare, shim == "" ? "–" : shim, d, tgt
        }' "$COLD_TSV"
    done
}
# payload_table: sync-http-payload by request body size and system (rows.tsv
# column 16 = payload bytes): median (min..max) req/s, request MiB/s, p50, p99,
# CPU/request, and fcd's req/s over each other system's (ratio of medians).
payload_table() {
    awk -F'\t' -v scen=sync-http-payload -v subj=fcd -v order="${SYSTEMS[*]}" '
    function sortn(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    }
    function med(k, col,   n, i, a) {
        n = 0
        for (i = 1; i <= cnt[k]; i++) if (v[k, i, col] != "null" && v[k, i, col] != "") a[++n] = v[k, i, col]
        if (n == 0) return ""
        sortn(a, n); lo = a[1]; hi = a[n]; nv = n
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function lab(p) {
        if (p >= 1048576 && p % 1048576 == 0) return (p / 1048576) " MiB"
        if (p >= 1024 && p % 1024 == 0) return (p / 1024) " KiB"
        return p " B"
    }
    $1 == scen && NF >= 16 {
        k = $16 SUBSEP $2; n = ++cnt[k]
        for (c = 5; c <= 15; c++) v[k, n, c] = $c
        if (!($16 in seenp)) { seenp[$16] = 1; pl[++np] = $16 }
    }
    END {
        if (np == 0) exit
        sortn(pl, np); ns = split(order, sy, " ")
        print "| request body | system | req/s | request MiB/s | p50 µs | p99 µs | CPU µs/req | server core % | errors | fcd ÷ system, req/s |"
        print "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (pi = 1; pi <= np; pi++) {
            p = pl[pi]; ks = p SUBSEP subj
            for (si = 1; si <= ns; si++) {
                s = sy[si]; k = p SUBSEP s
                if (!(k in cnt)) continue
                r = med(k, 5)
                rr = (nv > 1) ? sprintf("%.0f (%.0f..%.0f)", r, lo, hi) : sprintf("%.0f", r)
                e = 0; for (i = 1; i <= cnt[k]; i++) e += v[k, i, 10]
                ratio = (s != subj && (ks in cnt) && r > 0) ? sprintf("**%.2f×**", med(ks, 5) / r) : ""
                printf "| %s | %s | %s | %.1f | %.0f | %.0f | %.2f | %.0f | %d | %s |\n",
                    lab(p), s, rr, r * p / 1048576, med(k, 6), med(k, 8), med(k, 11), med(k, 14), e, ratio
            }
        }
        print ""
    }' "$BENCH_TMP/rows.tsv"
}
# (Not VAR=$(has_sys X && ...): under set -e, a system left out would end the script.)
HAPROXY_V="" NODE_V="" WORKERD_V=""
if has_sys haproxy; then HAPROXY_V=$(haproxy -v 2>/dev/null | awk 'NR == 1 { print "HAProxy " $3 }'); fi
if has_sys direct-node; then NODE_V=$(node --version 2>/dev/null); fi
if has_sys workerd; then WORKERD_V=$("$WORKERD" --version 2>/dev/null); fi
{
    echo
    echo "## sync invoke: fcd vs nginx and HAProxy reverse proxies, workerd, and the C and Node backends directly — $RUN_ID"
    echo
    echo "Host $HOST ($(nproc) CPUs, $(uname -r)); fcd $rev${FCD_WRAP:+ under \`$FCD_WRAP\`} (--io-threads 1 --workers 1, access log off," \
        "hello = examples/hello-c, concurrency $FCD_CONCURRENCY; $FCD_INSTANCES instance(s) at the end: more than $FCD_CONCURRENCY connections start a second one, so 256 runs last);" \
        "$(nginx -v 2>&1 | sed 's/^nginx version: //') (1 process, upstream keepalive 256) → the C backend;" \
        "${HAPROXY_V:+$HAPROXY_V (nbthread 1, http-keep-alive, http-reuse always) → the same C backend; }${WORKERD_V:+$WORKERD_V (npm; 1 process, bench/workerd: the HTTP echo of the C backend as a Worker; HTTP trigger and request bodies only); }direct = the same backend process;" \
        "${NODE_V:+direct-node = examples/node (FC Node custom runtime example) on Node $NODE_V alone.}"
    echo "Servers and instances on core $SERVER_CPU, wrk -t1 on core $LOADGEN_CPU; alternating runs;" \
        "$MAIN_REPS × ${MAIN_SECS} s at $TARGET_CONNS connections${SWEEP[*]:+, $SWEEP_REPS × ${SWEEP_SECS} s at ${SWEEP[*]}}," \
        "${WARM_SECS} s warm-up before each. Median (min..max). CPU and RSS: fcd + its instance;" \
        "nginx or HAProxy + backend; workerd or a backend alone.${PAYLOADS[*]:+ Request bodies: $PAYLOAD_REPS × ${PAYLOAD_SECS} s per size at $TARGET_CONNS connections.}"
    echo "Background load before the run: ${BUSY}% of all CPUs busy$([ "$BUSY" -gt 10 ] && echo ' — **numbers skewed by other work**')."
    echo
    echo "### sync-http: GET $TRIGGER_PATH (fcd HTTP trigger; backend: x-fc-control-path /http-invoke), ${BODY_BYTES[sync-http]}-byte body"
    echo
    summarize_wrk sync-http fcd nginx-proxy,haproxy,workerd,direct,direct-node "$TARGET_CONNS" 1.3,-,-,0.6,- 1,0,0,0,0 P1,,,P2,
    echo "### sync-invoke: InvokeFunction POST (5-byte event) vs POST /invoke on the backend, ${BODY_BYTES[sync-invoke]}-byte answer"
    echo
    summarize_wrk sync-invoke fcd nginx-proxy,haproxy,direct,direct-node "$TARGET_CONNS" 1.3,-,0.6,- 1,0,0,0 P1-invoke,,P2-invoke,
    if [ "${#PAYLOADS[@]}" -gt 0 ]; then
        echo "### sync-http-payload: POST $TRIGGER_PATH with a request body (application/octet-stream), $TARGET_CONNS connections"
        echo
        payload_table
    fi
    echo "### cold start (fcd instance_idle_s 1, no instance before each request; curl on core $LOADGEN_CPU)"
    echo
    cold_table
    echo
    if [ -s "$PROFILE_MD" ]; then
        echo "### profile at $TARGET_CONNS connections (sync-http; perf data in sync-profile-*)"
        echo
        cat "$PROFILE_MD"
    fi
} | tee -a "$RESULTS_DIR/summary.md"
log "raw rows: $RESULTS_DIR/$JSONL_NAME; summary appended to $RESULTS_DIR/summary.md"
