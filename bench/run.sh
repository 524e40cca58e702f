#!/usr/bin/env bash
#
# bench/run.sh — benchmarks of ngx_voicegw, each measured against plain
# nginx in the same run (same nginx binary, same worker count, same load
# generator), so that the figures are ratios rather than absolute numbers.
# Called by "./build.sh bench [name ...]"; results go to stdout, and are
# copied by hand into bench/RESULTS.md with the command that produced them.
#
#   health    GET /health (shared zone read + JSON) vs "return 200" of the
#             same body, one nginx worker, wrk -t1 -c50
#
# The worker-pool benchmarks live in bench/pool.py (they need fake workers,
# parked requests and several nginx processes); see its header:
#
#   grant     worker freed -> next parked request (other nginx process)
#             connected, vs plain proxy_pass back-to-back     (p99 <= 10 ms)
#   queue     GET /status and /api/queue with 1000 parked, vs "return 200" /
#             a static file of the same size                 (>= 20k req/s)
#   eta       GET /api/queue/{1000th ticket} vs /health        (ETA <= 1 ms)
#   shm       zone bytes per parked ticket, 10,000 parked      (<= 2 KiB)
#   steady    RSS of the nginx workers over 100,000 tasks
#
# and bench/reports.py, bench/records.py:
#
#   reports   /v1/costs and /v1/latency over 1,000,000 logged requests, vs
#             a static file of the same bytes      (costs month p50 <= 5 ms)
#   records   the request recorder at full speed for 60 s: records/s,
#             drops, event-loop stalls, CPU per record, memory
#                                  (>= 20k/s, no drop, <= 1 ms, <= 2 us)
#
# and bench/proxy.py:
#
#   proxy     POST chat calls through "voicegw_proxy" (accounted, recorded
#             to SQLite) vs plain proxy_pass to the same fake provider (a
#             second nginx) in the same nginx: a small JSON answer and a
#             200-event SSE stream, wrk -c32 req/s and wrk -c1 p50/p99,
#             alternating, 3 rounds (ROUNDS)
#                            (>= 0.90 x plain req/s, <= 100 us added p99)
#   proxy_long the same with a 16 KB conversation in the request (no target)
#   proxy_cost instructions per call of plain and accounted, json and sse,
#             counted by callgrind (no target: the module's own work,
#             without the machine's noise; needs valgrind)
#   proxy_ab  the two paths in short alternating runs (PAIRS of D s):
#             median ratio and added CPU per call within pairs (no
#             target: what a change to the module costs, under load)
#
# and bench/ws.py:
#
#   ws        a duplex session through the gateway's queue frames and relay
#             vs plain nginx WebSocket proxying of the same fake worker:
#             per-frame round trip of 85 KB frames (p99 <= 1.10 x plain);
#             500 sessions queued at once    (<= 4 KiB zone, <= 64 KiB each)
#
# and bench/rt.py:
#
#   rt        200 concurrent Deepgram live STT sessions (640-byte PCM frames
#             every 20 ms, one Results back per frame) through
#             "voicegw_proxy" (accounted) vs plain nginx WebSocket proxying
#             of the same fake provider, same nginx, alternating rounds:
#             per-frame latency and nginx CPU per session
#                           (<= 100 us added p99, <= 1.10 x plain CPU)
#
# and bench/sessions.py:
#
#   sessions  session assets with Range through /api/sessions/{id}/assets
#             vs a plain "alias" location of the same files, wrk -c32
#             (>= 0.95 x plain req/s); a 1 GiB ZIP download vs the plain
#             1 GiB file, curl (>= 0.8 x plain throughput, worker RSS flat)
#
# "bench/run.sh" runs them all; "bench/run.sh grant eta" some of them.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
MODULE=$ROOT/build/ngx_voicegw_module.so
DIR=$ROOT/var/bench
DURATION=${DURATION:-10s}
PORT=${PORT:-18480}

start_nginx() {
    local http_config=$1

    rm -rf "$DIR" && mkdir -p "$DIR/logs" "$DIR/conf"
    cat > "$DIR/conf/nginx.conf" <<CONF
load_module $MODULE;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path logs;
    proxy_temp_path logs;
    fastcgi_temp_path logs;
    uwsgi_temp_path logs;
    scgi_temp_path logs;
$http_config
}
CONF
    "$NGINX" -p "$DIR/" -c conf/nginx.conf
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return 0
        sleep 0.1
    done
    echo "nginx did not start" >&2
    exit 1
}

stop_nginx() {
    "$NGINX" -p "$DIR/" -c conf/nginx.conf -s quit 2>/dev/null || true
    sleep 0.5
}

# requests/s of wrk against a URL
rps() {
    wrk -t1 -c50 -d"$DURATION" --latency "$1" \
        | awk '/^Requests\/sec/ { print $2 }'
}

bench_health() {
    local a b

    start_nginx "
    voicegw_zone vg_bench 8m;
    server {
        listen 127.0.0.1:$PORT;
        location = /health { voicegw_api; }
        location = /plain {
            default_type application/json;
            return 200 '{\"status\":\"ok\",\"uptime_seconds\":1.0,\"version\":\"0.1.0\"}';
        }
        location = / { return 204; }
    }"

    a=$(rps "http://127.0.0.1:$PORT/plain")
    b=$(rps "http://127.0.0.1:$PORT/health")
    stop_nginx

    printf 'health: plain nginx return 200: %s req/s\n' "$a"
    printf 'health: voicegw /health:        %s req/s\n' "$b"
    awk -v a="$a" -v b="$b" \
        'BEGIN { printf "health: ratio voicegw/plain = %.3f\n", b / a }'
}

pool_bench() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        DURATION="$DURATION" python3 "$ROOT/bench/pool.py" "$1"
}

bench_grant()  { pool_bench grant; }
bench_queue()  { pool_bench queue; }
bench_eta()    { pool_bench eta; }
bench_shm()    { pool_bench shm; }
bench_steady() { pool_bench steady; }

bench_reports() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        DURATION="$DURATION" python3 "$ROOT/bench/reports.py"
}

bench_records() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        DURATION="$DURATION" python3 "$ROOT/bench/records.py"
}

bench_ws() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        python3 "$ROOT/bench/ws.py"
}

bench_proxy() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        DURATION="$DURATION" python3 "$ROOT/bench/proxy.py"
}

bench_proxy_cost() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        python3 "$ROOT/bench/proxy_cost.py"
}

bench_proxy_ab() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        python3 "$ROOT/bench/proxy_ab.py"
}

bench_proxy_long() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        python3 "$ROOT/bench/proxy_long.py"
}

bench_rt() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        python3 "$ROOT/bench/rt.py"
}

bench_sessions() {
    TEST_NGINX_BINARY="$NGINX" TEST_NGINX_LOAD_MODULES="$MODULE" \
        DURATION="$DURATION" python3 "$ROOT/bench/sessions.py"
}

all=(health grant queue eta shm steady reports records proxy proxy_long
     proxy_cost proxy_ab ws rt sessions)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${all[@]}")
for n in "${names[@]}"; do
    case " ${all[*]} " in
        *" $n "*) ;;
        *) echo "unknown benchmark: $n (known: ${all[*]})" >&2; exit 2 ;;
    esac
done

echo "bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), wrk ${DURATION}"
echo "bench: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- ngx_voicegw_module 2>/dev/null || echo "+local changes"), module $MODULE, built $(date -u -r "$MODULE" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$MODULE" | cut -c1-16)"
for n in "${names[@]}"; do
    "bench_$n"
done
