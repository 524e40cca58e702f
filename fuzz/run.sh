#!/usr/bin/env bash
#
# fuzz/run.sh — builds and runs the libFuzzer targets of fuzz/
# (ngx_voicegw_fuzz*.c), on the stand-ins of t/support/ngx_standin*.c,
# with AddressSanitizer and UndefinedBehaviorSanitizer.  Called by "./build.sh fuzz" after it has
# installed clang and built the module (its build/objs has the
# configuration the parsers are compiled with); see docs/fuzzing.md.
#
#   fuzz/run.sh build [target ...]       build var/fuzz/bin/<target>
#   fuzz/run.sh run [target|all] [secs]  fuzz each target for secs (60),
#                                        from its seed corpus in
#                                        fuzz/corpus/<target>/
#   fuzz/run.sh regress [target ...]     run each target once over every
#                                        file of its corpus (the crashes
#                                        ever found are kept there)
#
# New inputs go to var/fuzz/corpus/<target>/, crashes to
# var/fuzz/crashes/<target>/ (and the command fails): copy a crash into
# fuzz/corpus/<target>/ once it is fixed, so that it stays a test.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
M=$ROOT/ngx_voicegw_module
NGX_SRC=${NGX_SRC:-/usr/share/nginx/src/src}
OUT=$ROOT/var/fuzz
CC=${FUZZ_CC:-clang}

TARGETS=(usage reqscan json multipart wav strip wsframe rtunits
         args url zip conf secret reports
         proxypath catalog)

# a target's sources: its fuzz file (the stream parsers' in
# ngx_voicegw_fuzz.c, the API's in ngx_voicegw_fuzz_api.c, what an
# operator writes in ngx_voicegw_fuzz_conf.c), then the module's
sources() {
    local f=$ROOT/fuzz/ngx_voicegw_fuzz

    case $1 in
        # the stream parsers, through the parser driver's glue
        usage|reqscan|multipart|wav)
                   echo "$f.c $ROOT/t/support/parser_ops.c" \
                        "$M/proxy/ngx_voicegw_jsonfeed.c" \
                        "$M/proxy/ngx_voicegw_jsonpath.c" \
                        "$M/proxy/ngx_voicegw_jsonmem.c" \
                        "$M/proxy/ngx_voicegw_usage.c" \
                        "$M/proxy/ngx_voicegw_reqscan.c $M/core/ngx_voicegw_wav.c" \
                        "$M/core/ngx_voicegw_multipart.c" ;;
        json)      echo "$f.c $M/core/ngx_voicegw_json_in.c" ;;
        strip)     echo "$f.c $M/proxy/ngx_voicegw_sse_strip.c" ;;
        wsframe)   echo "$f.c $M/ws/ngx_voicegw_ws_frame.c" ;;
        rtunits)   echo "$f.c $M/realtime/ngx_voicegw_rt_units.c" \
                        "$M/ws/ngx_voicegw_ws_frame.c" \
                        "$M/proxy/ngx_voicegw_jsonfeed.c" \
                        "$M/proxy/ngx_voicegw_jsonpath.c" \
                        "$M/proxy/ngx_voicegw_jsonmem.c" \
                        "$M/core/ngx_voicegw_enum.c" ;;
        args)      echo "${f}_api.c $M/api/ngx_voicegw_api_args.c" \
                        "$M/registry/ngx_voicegw_entity.c" \
                        "$M/sessions/ngx_voicegw_session_path.c" \
                        "$M/core/ngx_voicegw_enum.c" ;;
        conf)      echo "${f}_conf.c $M/core/ngx_voicegw_conf.c" \
                        "$M/core/ngx_voicegw_enum.c" \
                        "$M/core/ngx_voicegw_dest.c" \
                        "$M/registry/ngx_voicegw_entity.c" \
                        "$M/pool/ngx_voicegw_pool_params.c" \
                        "$M/proxy/ngx_voicegw_proxy_params.c" ;;
        zip)       echo "${f}_api.c $M/sessions/ngx_voicegw_session_zip.c" \
                        "$M/core/ngx_voicegw_crc32.c" \
                        "$M/sessions/ngx_voicegw_session_path.c" ;;
        url)       echo "${f}_conf.c $M/core/ngx_voicegw_url.c" \
                        "$M/core/ngx_voicegw_dest.c" ;;
        reports)   echo "${f}_api.c $M/api/ngx_voicegw_api_args.c" \
                        "$M/api/ngx_voicegw_report_args.c" \
                        "$M/core/ngx_voicegw_enum.c" ;;
        proxypath) echo "${f}_api.c $M/proxy/ngx_voicegw_proxy_path.c" \
                        "$M/core/ngx_voicegw_url.c" \
                        "$M/proxy/ngx_voicegw_proxy_ws.c" \
                        "$M/registry/ngx_voicegw_entity.c" \
                        "$M/core/ngx_voicegw_enum.c" ;;
        catalog)   echo "${f}_conf.c $M/registry/ngx_voicegw_catalog.c" \
                        "$M/core/ngx_voicegw_conf.c" \
                        "$M/core/ngx_voicegw_enum.c" ;;
        secret)    echo "${f}_conf.c $M/registry/ngx_voicegw_secret.c" ;;
        *)         echo "fuzz/run.sh: unknown target \"$1\" (${TARGETS[*]})" >&2
                   return 1 ;;
    esac
}


build() {
    local t=$1 src upper inc

    src=$(sources "$t")
    upper=$(printf '%s' "$t" | tr a-z A-Z)
    mkdir -p "$OUT/bin"

    inc=(-I "$ROOT/build/objs" -I "$NGX_SRC/core" -I "$NGX_SRC/event"
         -I "$NGX_SRC/event/modules" -I "$NGX_SRC/os/unix"
         -I "$NGX_SRC/http" -I "$NGX_SRC/http/modules" -I "$NGX_SRC/http/v2"
         -I "$M/core" -I "$M/proxy" -I "$M/ws" -I "$M/realtime"
         -I "$M/registry" -I "$M/store" -I "$M/accounting"
         -I "$M/sessions" -I "$M/api" -I "$M/pool" -I "$M/frontend"
         -I "$ROOT/t/support")

    # shellcheck disable=SC2086
    "$CC" -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -Wall -Wno-unused-function -Wno-unused-command-line-argument \
        -DFUZZ_"$upper" "${inc[@]}" \
        "$ROOT"/t/support/ngx_standin*.c $src -lyajl -lcrypto -lpcre2-8 -lz -lm -o "$OUT/bin/$t"
}

targets() {
    if [ $# -eq 0 ] || [ "$1" = all ]; then
        printf '%s\n' "${TARGETS[@]}"
    else
        printf '%s\n' "$@"
    fi
}

cmd=${1:-run}
shift || true

case $cmd in
    build)
        for t in $(targets "$@"); do
            build "$t"
            echo "fuzz: built var/fuzz/bin/$t"
        done
        ;;

    regress)
        for t in $(targets "$@"); do
            build "$t"
            "$OUT/bin/$t" -runs=0 "$ROOT/fuzz/corpus/$t" 2>&1 | tail -1
            echo "fuzz: $t: every file of fuzz/corpus/$t ran clean"
        done
        ;;

    run)
        what=${1:-all}
        secs=${2:-60}
        rc=0

        for t in $(targets "$what"); do
            # FUZZ_NOBUILD=1: a binary built just before (t/095) is kept
            if [ -z "${FUZZ_NOBUILD:-}" ] || [ ! -x "$OUT/bin/$t" ]; then
                build "$t"
            fi

            mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t"

            echo "fuzz: $t for ${secs}s"

            if ! "$OUT/bin/$t" -max_total_time="$secs" -timeout=10 \
                     -rss_limit_mb=2048 -print_final_stats=1 \
                     -artifact_prefix="$OUT/crashes/$t/" \
                     "$OUT/corpus/$t" "$ROOT/fuzz/corpus/$t" \
                     > "$OUT/$t.log" 2>&1
            then
                echo "fuzz: $t FOUND A CRASH: see $OUT/$t.log and" \
                     "$OUT/crashes/$t/" >&2
                rc=1
            fi

            { grep -E '^stat::number_of_executed_units|DONE +cov' \
                  "$OUT/$t.log" || true; } | tail -2 | sed "s/^/fuzz: $t: /"
        done

        exit $rc
        ;;

    *)
        sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
