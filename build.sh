#!/usr/bin/env bash
#
# build.sh — set up, build, run, test and benchmark ngx_voicegw.
#
#   ./build.sh run                 build, then run nginx in the foreground
#                                  with conf/voicegw.conf (Ctrl-C stops it)
#   ./build.sh test [--valgrind] [t/file.t ...]
#                                  build, then run the test suite (or files)
#   ./build.sh bench               build, then run the benchmarks in bench/
#   ./build.sh fuzz [target|all] [seconds]
#                                  build, then fuzz the parsers (libFuzzer,
#                                  ASan, UBSan; docs/fuzzing.md), 60 s each
#   ./build.sh build               only build build/ngx_voicegw_module.so
#
# On a fresh Debian 12 machine, run as root: every command first installs
# the Debian packages it needs (apt-get).  Runtime files go under var/,
# build output under build/.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$ROOT/build
VAR=$ROOT/var
NGINX=/usr/sbin/nginx
MODULE=$BUILD/ngx_voicegw_module.so

PKGS_BUILD=(nginx nginx-dev libyajl-dev libsqlite3-dev libpcre2-dev
            libssl-dev libsoxr-dev zlib1g-dev dpkg-dev gcc make openssl ca-certificates)
PKGS_TEST=(perl libtest-base-perl libtext-diff-perl libtest-longstring-perl
           libwww-perl libipc-run-perl liburi-perl liblist-moreutils-perl
           python3 curl sqlite3 procps valgrind faketime prometheus
           unzip clang libclang-rt-14-dev)
PKGS_BENCH=(wrk hyperfine curl procps)
PKGS_FUZZ=(clang libclang-rt-14-dev)

say() { printf '%s\n' "build.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }


ensure_packages() {
    local missing=() p

    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
             | grep -q 'install ok installed'
        then
            missing+=("$p")
        fi
    done

    [ ${#missing[@]} -eq 0 ] && return 0

    if [ "$(id -u)" -ne 0 ]; then
        die "missing Debian packages: ${missing[*]} (run as root, or" \
            "install them with apt-get)"
    fi

    say "installing ${missing[*]}"

    # another install under way (a second checkout's build.sh, unattended
    # upgrades) holds dpkg's lock: wait for it rather than fail
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null

    # the nginx package may start a system nginx on port 80; we run our own
    if [[ " ${missing[*]} " == *" nginx "* ]] && [ -s /run/nginx.pid ]; then
        "$NGINX" -s quit 2>/dev/null || true
    fi
}


build_module() {
    local makefile=$BUILD/objs/Makefile
    local version sources

    version=$(dpkg-query -W -f='${Version}' nginx-dev)
    mkdir -p "$BUILD"

    # "config" lists the sources by folder: a file added or removed needs
    # a new Makefile, as a changed "config" does
    sources=$(cd "$ROOT" && find ngx_voicegw_module -name '*.[ch]' | sort)

    if [ ! -f "$makefile" ] || [ "$ROOT/config" -nt "$makefile" ] \
       || [ "$(cat "$BUILD/.nginx-dev-version" 2>/dev/null)" != "$version" ] \
       || [ "$(cat "$BUILD/.sources" 2>/dev/null)" != "$sources" ]
    then
        say "configuring against nginx-dev $version"

        rm -rf "$BUILD/nginx-src" "$BUILD/objs"
        cp -a /usr/share/nginx/src "$BUILD/nginx-src"

        (
            cd "$BUILD/nginx-src"
            # shellcheck disable=SC1091
            . ./conf_flags
            ./configure \
                --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)" \
                --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC" \
                "${NGX_CONF_FLAGS[@]}" \
                --add-dynamic-module="$ROOT" \
                --builddir="$BUILD/objs"
        ) > "$BUILD/configure.log" 2>&1 \
            || { tail -20 "$BUILD/configure.log"; die "configure failed"; }

        echo "$version" > "$BUILD/.nginx-dev-version"
        echo "$sources" > "$BUILD/.sources"
    fi

    if ! make -s -f "$makefile" -C "$BUILD/nginx-src" -j"$(nproc)" modules \
         > "$BUILD/make.log" 2>&1
    then
        cat "$BUILD/make.log"
        die "build failed"
    fi

    cp "$BUILD/objs/ngx_voicegw_module.so" "$MODULE.tmp"
    mv "$MODULE.tmp" "$MODULE"

    # the smoke test of Debian's own module builds: nginx loads it
    printf 'load_module %s;\nevents {}\n' "$MODULE" > "$BUILD/smoke.conf"
    "$NGINX" -g 'error_log /dev/null; pid /dev/null;' -t -q \
             -c "$BUILD/smoke.conf" \
        || die "nginx cannot load $MODULE"

    say "built $MODULE"
}


# var/: logs, the SQLite database (its directory is created by the module,
# owned by the worker processes' user), a self-signed certificate and the
# secret that encrypts provider keys.
prepare_var() {
    mkdir -p "$VAR/logs" "$VAR/tls" "$VAR/tmp" "$VAR/sessions"

    if [ ! -s "$VAR/tls/cert.pem" ] || [ ! -s "$VAR/tls/key.pem" ]; then
        say "creating a self-signed certificate in var/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
            -subj '/CN=localhost' \
            -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
            -keyout "$VAR/tls/key.pem" -out "$VAR/tls/cert.pem" \
            >/dev/null 2>&1 || die "openssl could not create a certificate"
        chmod 600 "$VAR/tls/key.pem"
    fi

    if [ ! -s "$VAR/secret.key" ]; then
        say "creating var/secret.key"
        ( umask 077; head -c 32 /dev/urandom > "$VAR/secret.key" )
    fi
    chmod 600 "$VAR/secret.key"
}


cmd_run() {
    ensure_packages "${PKGS_BUILD[@]}"
    build_module
    prepare_var

    # no "nginx -t" first: it binds and listens on 8006/8080 for a moment,
    # and whoever waits for those ports would talk to a process about to
    # exit.  nginx refuses a bad configuration itself, with file and line.
    say "https://localhost:8006 and http://localhost:8080 (Ctrl-C stops)"

    # nginx itself gets Ctrl-C (SIGINT) and SIGTERM: a fast, clean shutdown
    exec "$NGINX" -p "$ROOT/" -c conf/voicegw.conf \
         -g "daemon off;$(worker_user)"
}


# Started by root, nginx runs its worker processes as "nobody", who cannot
# enter a checkout in /root or in a "mktemp -d" folder (mode 0700), where
# var/ holds the store.  The development configuration runs them as the
# checkout's owner instead (docs/design.md, "Who the workers run as").
worker_user() {
    local owner group

    [ "$(id -u)" -eq 0 ] || return 0

    owner=$(stat -c %U "$ROOT")
    group=$(stat -c %G "$ROOT")

    if [ "$owner" = UNKNOWN ] || [ "$group" = UNKNOWN ]; then
        die "the checkout's owner (uid $(stat -c %u "$ROOT")) has no name;" \
            "chown it to a user, or run as that user"
    fi

    printf ' user %s %s;' "$owner" "$group"
}


cmd_test() {
    local valgrind=0 files=() rc start out

    for a in "$@"; do
        case $a in
            --valgrind) valgrind=1 ;;
            *) files+=("$a") ;;
        esac
    done

    [ ${#files[@]} -eq 0 ] && files=(t/)

    ensure_packages "${PKGS_BUILD[@]}" "${PKGS_TEST[@]}"
    build_module
    prepare_var

    export TEST_NGINX_BINARY=$NGINX

    if perl -MTest::Nginx::Socket -e1 2>/dev/null; then
        echo "Test::Nginx: real"
        # Debian's nginx logs start-up errors to stderr; the wrapper sends
        # them to logs/error.log, where "--- must_die" blocks look
        export TEST_NGINX_WRAPPED_BINARY=$NGINX
        export TEST_NGINX_BINARY=$ROOT/t/lib/bin/nginx-startup-log
    else
        echo "Test::Nginx: bundled"
        export PERL5LIB=$ROOT/t/lib${PERL5LIB:+:$PERL5LIB}
    fi

    export TEST_NGINX_LOAD_MODULES=$MODULE
    export TEST_NGINX_SERVROOT=$VAR/servroot
    export VOICEGW_ROOT=$ROOT

    if [ $valgrind -eq 1 ]; then
        export TEST_NGINX_USE_VALGRIND=1
        export TEST_NGINX_VALGRIND_REPORT=$VAR/valgrind-report.txt
        export TEST_NGINX_SLEEP=${TEST_NGINX_SLEEP:-0.3}
        export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-30}
        : > "$TEST_NGINX_VALGRIND_REPORT"
        echo "valgrind: memcheck, reports in $TEST_NGINX_VALGRIND_REPORT"
    fi

    cd "$ROOT"
    start=$(date +%s)
    out=$VAR/prove.log

    set +e
    prove -r "${files[@]}" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e

    if [ $valgrind -eq 1 ]; then
        valgrind_verdict "$TEST_NGINX_VALGRIND_REPORT" || rc=1
    fi

    echo "SUMMARY: $([ "$rc" -eq 0 ] && echo PASS || echo FAIL)" \
         "$(grep -E '^Files=' "$out" | tail -1)" \
         "(wall $(( $(date +%s) - start ))s)"

    return "$rc"
}


# Any memory error fails the run, wherever its top frame is (a misuse by
# our code may crash inside nginx); a leak fails it when our code is in its
# stack.  nginx's own exit-time leaks are in valgrind.suppress.
valgrind_verdict() {
    local report=$1 errors leaks

    if [ ! -s "$report" ]; then
        echo "valgrind: no errors"
        return 0
    fi

    errors=$(grep -cE 'Invalid (read|write|free)|uninitialised|Conditional jump|Syscall param|Mismatched free|overlap' "$report" || true)
    leaks=$(awk '/are (definitely|possibly) lost/ { inleak = 1; next }
                 /^==[0-9]+== *$/ { inleak = 0 }
                 inleak && /ngx_voicegw/ { n++; inleak = 0 }
                 END { print n + 0 }' "$report")

    if [ "$errors" -gt 0 ] || [ "$leaks" -gt 0 ]; then
        echo "valgrind: $errors memory errors, $leaks leaks from ngx_voicegw;" \
             "see $report"
        return 1
    fi

    echo "valgrind: no errors from ngx_voicegw (other reports in $report)"
    return 0
}


cmd_bench() {
    ensure_packages "${PKGS_BUILD[@]}" "${PKGS_BENCH[@]}" python3
    build_module
    prepare_var

    cd "$ROOT"
    exec bench/run.sh "$@"
}


cmd_fuzz() {
    ensure_packages "${PKGS_BUILD[@]}" "${PKGS_FUZZ[@]}"
    build_module

    cd "$ROOT"
    exec fuzz/run.sh run "$@"
}


case ${1:-} in
    run)   shift; cmd_run "$@" ;;
    test)  shift; cmd_test "$@" ;;
    bench) shift; cmd_bench "$@" ;;
    fuzz)  shift; cmd_fuzz "$@" ;;
    build) shift; ensure_packages "${PKGS_BUILD[@]}"; build_module ;;
    *)     sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
