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

names=("$@")
[ ${#names[@]} -eq 0 ] && names=(health)

echo "bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), wrk ${DURATION}"
for n in "${names[@]}"; do
    "bench_$n"
done
