# nginx's own errors in JSON, for users who write their own locations.
#
# nginx answers some requests itself, before any handler of ours runs: a
# request line or header it cannot read (400), a URI too long (414), an
# unknown Transfer-Encoding (501), TRACE (405), an upstream it cannot reach
# (502), ...  By default that answer is an HTML page.  With, at server level,
#
#     error_page 400 401 403 404 405 408 411 413 414 415 416 429 494 495
#                496 497 500 501 502 503 504 505 507 /_voicegw_error;
#     location = /_voicegw_error { internal; voicegw_error; }
#     location / { voicegw_api; }
#
# they become {"detail":"...","error":"..."} with the same status, as the
# API's own errors.  A URI error page, not a named location (@x): nginx
# refuses to redirect a request whose request line it could not parse to a
# named location.
#
# Each block sends one request nginx answers itself and checks the status,
# Content-Type: application/json and the exact JSON body; the last blocks
# have no error_page and get nginx's HTML: the error_page is what makes the
# difference.  Requests go through --- raw_request (the real Test::Nginx
# sends them verbatim), with "\r\n" line ends.

use Test::Nginx::Socket 'no_plan';

master_on();
no_root_location();
no_shuffle();
repeat_each(2);

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", "voicegw_zone vg_err 1m;\n");
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    error_page 400 401 403 404 405 408 411 413 414 415 416 429 494 495
               496 497 500 501 502 503 504 505 507 /_voicegw_error;

    location = /_voicegw_error {
        internal;
        voicegw_error;
    }

    location /upstream/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }

    location /private/ {
        deny all;
    }

    location /small/ {
        client_max_body_size 4;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }

    location / {
        voicegw_api;
    }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: TRACE is refused by nginx: 405 in JSON
--- raw_request eval
"TRACE / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 405
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Method Not Allowed","error":"method_not_allowed"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 2: a NUL byte in the URI (%00): 400 in JSON
--- raw_request eval
"GET /%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Bad Request","error":"bad_request"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 3: a Content-Length that is not a number: 400 in JSON
--- raw_request eval
"POST /v1/providers HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1x\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Bad Request","error":"bad_request"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 4: an unknown Transfer-Encoding: 501 in JSON
--- raw_request eval
"POST /v1/providers HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"
--- error_code: 501
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Not Implemented","error":"not_implemented"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 5: a URI of 9000 bytes: 414 in JSON
--- raw_request eval
"GET /" . ("a" x 9000) . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 414
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Request-URI Too Long","error":"uri_too_long"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 6: a header of 9000 bytes: 400 in JSON
nginx turns its 494 into 400 before the error page runs
--- raw_request eval
"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " . ("b" x 9000) . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Bad Request","error":"bad_request"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 7: the error location asked for directly: 404 in JSON
--- raw_request eval
"GET /_voicegw_error HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Not Found","error":"not_found"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 8: proxy_pass to a closed port in another location: 502 in JSON
--- raw_request eval
"GET /upstream/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Bad Gateway","error":"bad_gateway"\}$
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 9: deny all in another location: 403 in JSON
--- raw_request eval
"GET /private/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Forbidden","error":"forbidden"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 10: a body over client_max_body_size in another location: 413 in JSON
--- raw_request eval
"POST /small/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789"
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"Request Entity Too Large","error":"body_too_large"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 11: the API's own errors keep their answer under the error_page
a 400 of the API is its own invalid_query, not the error page's bad_request
--- raw_request eval
"GET /v1/logs?limit=0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"[^"]*limit[^"]*","error":"invalid_query"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 12: the API's own 405 keeps its Allow header under the error_page
--- raw_request eval
"POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
--- error_code: 405
--- response_headers
Content-Type: application/json
Allow: GET, HEAD
--- response_body_like: ^\{"detail":"[^"]+","error":"method_not_allowed"\}$
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 13: without the error_page, TRACE gets nginx's HTML
--- config
    location / {
        voicegw_api;
    }
--- raw_request eval
"TRACE / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 405
--- response_headers
Content-Type: text/html
--- response_body_like: ^<html>.*<title>405 Not Allowed</title>
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 14: without the error_page, a closed upstream gets nginx's HTML
--- config
    location /upstream/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }

    location / {
        voicegw_api;
    }
--- raw_request eval
"GET /upstream/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 502
--- response_headers
Content-Type: text/html
--- response_body_like: ^<html>.*<title>502 Bad Gateway</title>
--- no_error_log
[alert]
[emerg]
[crit]
