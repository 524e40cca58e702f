# GET /health and the API router's answers for unknown paths and methods,
# with a master process and two workers.

use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_root_location();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", "voicegw_zone vg_health 1m;");
    }

    if (!defined $block->config) {
        $block->set_value("config", "location / { voicegw_api; }");
    }
});

run_tests();

__DATA__

=== TEST 1: health answers the seed's shape
--- request
GET /health
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"status":"ok","uptime_seconds":\d+\.\d,"version":"0\.1\.0"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 2: HEAD is served wherever GET is
--- request
HEAD /health
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 3: unknown path is a JSON 404
--- request
GET /no/such/path
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"detail":"Not Found","error":"not_found"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 4: paths match exactly, a trailing slash is another path
--- request
GET /health/
--- error_code: 404
--- response_body chomp
{"detail":"Not Found","error":"not_found"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 5: wrong method is a JSON 405 with Allow
--- request
POST /health
{"x":1}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json
--- response_body chomp
{"detail":"Method Not Allowed","error":"method_not_allowed"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 6: Allow lists every method of the path
--- request
DELETE /api/config/eta
--- error_code: 405
--- response_headers
Allow: GET, HEAD, PUT
--- response_body chomp
{"detail":"Method Not Allowed","error":"method_not_allowed"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 7: the API works in a location of any prefix, on the full path
--- config
    location /health {
        voicegw_api;
    }
    location / {
        return 418;
    }
--- request eval
["GET /health", "GET /healthz", "GET /other"]
--- error_code eval
[200, 404, 418]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 8: uptime keeps counting across requests to both workers
--- request eval
["GET /health", "GET /health", "GET /health", "GET /health"]
--- response_body_like eval
[qr/"uptime_seconds":\d/, qr/"uptime_seconds":\d/,
 qr/"uptime_seconds":\d/, qr/"uptime_seconds":\d/]
--- no_error_log
[error]
[alert]
[emerg]
