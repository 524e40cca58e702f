# Self-test of the test scaffold (t/lib/Test/Nginx/Socket.pm, used when
# OpenResty's Test::Nginx is not installed).  It only relies on core nginx
# directives and is written to pass under both our runner and the real
# Test::Nginx::Socket.  See docs/testing.md.
#
# The explicit plan checks that our runner counts subtests exactly like the
# real one: the per-block counts are noted next to each block.

use Test::Nginx::Socket;

repeat_each(2);
master_on();
workers(2);

plan tests => repeat_each() * 107;

# a default request for the blocks that do not say
add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->request && !defined $block->raw_request
        && !defined $block->pipelined_requests)
    {
        $block->set_value("request", "GET /t\n");
    }
});

run_tests();

__DATA__

=== TEST 1: status, headers (present and absent), body, no_error_log
# 1 status + 2 headers + 1 body + 3 no_error_log = 7
--- config
    location = /t {
        add_header X-Foo bar;
        return 200 "hello\n";
    }
--- response_headers
X-Foo: bar
!X-Absent
--- response_body
hello
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 2: several requests (request eval), per-request expectations
# 2 x (1 status + 1 body) + 2 x 3 no_error_log (checked after each request) = 10
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^a\n\$", "404 Not Found"]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 3: raw_request is sent verbatim
# 1 status + 1 body + 3 no_error_log = 5
--- config
    location = /raw {
        return 200 "raw:$http_x_raw $server_protocol\n";
    }
--- raw_request eval
"GET /raw HTTP/1.0\r
Host: localhost\r
X-Raw: yes\r
\r
"
--- response_body
raw:yes HTTP/1.0
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 4: more_headers (including a Host override), header regexes
# 1 status + 1 response_headers_like + 1 raw_response_headers_like + 1 body
# + 3 no_error_log = 7
--- config
    location = /h {
        add_header X-Echo "$http_x_foo";
        return 200 "host=$host\n";
    }
--- request
GET /h
--- more_headers
X-Foo: bar baz
Host: example.com
--- response_headers_like
X-Echo: bar \w+
--- raw_response_headers_like: X-Echo: bar baz\r\n
--- response_body
host=example.com
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 5: request body, Content-Length computed, proxy to an http_config server
# 1 status + 1 header + 1 body + 3 no_error_log = 6
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;

        location /backend {
            return 200 "backend got $request_method $http_content_length\n";
        }
    }
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/backend;
        add_header X-Body $request_body;
    }
--- request
POST /echo
hello world
--- response_headers
X-Body: hello world
--- response_body
backend got POST 11
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 6: a request split into packets, with a delay
# 1 status + 1 header + 1 body + 3 no_error_log = 6
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;

        location /backend {
            return 200 "backend got $request_method $http_content_length\n";
        }
    }
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/backend;
        add_header X-Body $request_body;
    }
--- request eval
[["POST /echo\nhel", {value => "lo", delay_before => 0.05}]]
--- response_headers
X-Body: hello
--- response_body
backend got POST 5
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 7: user_files served by the default root location
# 1 status + 2 headers + 1 body + 3 no_error_log = 7
--- config
--- user_files
>>> hello.txt
Hello, world
--- request
GET /hello.txt
--- response_headers
Content-Length: 13
Content-Type: text/plain
--- response_body
Hello, world
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 8: the default index page, and a HEAD request
# 2 x (1 status + 1 body + 3 no_error_log) = 10
--- config
--- request eval
["GET /", "HEAD /index.html"]
--- response_body_like eval
["It works!", "^\$"]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 9: error_log with a string and a regex, no_error_log with three strings
# 1 status + 2 error_log + 3 no_error_log = 6
--- config
--- request
GET /nonexistent.html
--- error_code: 404
--- error_log eval
[qr/open\(\) "[^"]*nonexistent\.html" failed/, "No such file or directory"]
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 10: must_die: an unknown directive
# 1 "die as expected" + 1 error_log + 1 no_error_log = 3
# (the message is in logs/error.log only if nginx logs its start-up
# errors there: see docs/testing.md, "must_die")
--- config
    location = /t {
        no_such_directive_xyz on;
    }
--- must_die
--- error_log
unknown directive "no_such_directive_xyz"
--- no_error_log
[alert]



=== TEST 11: must_die with an exit code: a listening socket that cannot be bound
# 1 exit code + 1 error_log + 1 no_error_log = 3
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/no-such-dir/t.sock;
    }
--- config
--- must_die: 1
--- error_log eval
qr/bind\(\) to unix:\S*no-such-dir\S* failed \(2: No such file or directory\)/
--- no_error_log
[alert]



=== TEST 12: master_on() and workers(2) reach nginx.conf
# 1 status + 1 body + 3 no_error_log = 5
--- config
    location = /conf {
        alias $TEST_NGINX_SERVER_ROOT/conf/nginx.conf;
    }
--- request
GET /conf
--- response_body_like chomp
^worker_processes\s+2;\n.*\bmaster_process on;\n
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 13: client timeout with abort
# ignore_response: 1 error_log + 3 no_error_log = 4
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:1/;
    }
--- more_headers
Content-Length: 100
--- request
POST /echo
short
--- timeout: 300ms
--- abort
--- ignore_response
--- wait: 0.05
--- error_log
client prematurely closed connection
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 14: pipelined requests on one keep-alive connection
# 2 x (1 status + 1 body + 3 no_error_log) = 10
--- config
    location = /p {
        return 200 "p:$arg_n\n";
    }
--- pipelined_requests eval
["GET /p?n=1", "GET /p?n=2"]
--- response_body eval
["p:1\n", "p:2\n"]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 15: SKIP removes a block (it would fail)
--- SKIP
--- config
    location = /t {
        return 500;
    }
--- response_body
never



=== TEST 16: per-block log_level
# 1 status + 1 body + 4 no_error_log = 6
--- config
    location = /t {
        alias $TEST_NGINX_SERVER_ROOT/conf/nginx.conf;
    }
--- log_level: warn
--- response_body_like chomp
\berror_log \S+ warn;\n
--- no_error_log
http request line: "GET /t HTTP/1.1"
[error]
[alert]
[emerg]



=== TEST 17: $TEST_NGINX_* expansion and $ServerPort in expected values
# 1 status + 1 body + 3 no_error_log = 5
--- config
    location = /t {
        return 200 "port=$TEST_NGINX_SERVER_PORT\n";
    }
--- response_body
port=$ServerPort
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 18: chunked responses are decoded, response_body_filters
# 1 status + 2 headers + 1 body + 3 no_error_log = 7
--- config
    location = /t {
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
        return 200 "compress me please\n";
    }
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
Transfer-Encoding: chunked
--- response_body_filters eval
sub {
    my $in = shift;
    my $out;
    require IO::Uncompress::Gunzip;
    IO::Uncompress::Gunzip::gunzip(\$in => \$out) or die "gunzip failed";
    return $out;
}
--- response_body
compress me please
--- no_error_log
[error]
[alert]
[emerg]
