# Request bodies of the API: JSON parsing, the body size limit (413 in
# JSON, for Content-Length and chunked bodies), and that a rejected body
# changes nothing.  PUT /api/config/eta is the write endpoint used here.

use Test::Nginx::Socket 'no_plan';

master_on();
no_root_location();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config",
                          "voicegw_zone vg_body 1m;\n"
                          . "voicegw_store logs/vg.db;\n");
    }

    if (!defined $block->config) {
        $block->set_value("config", "location / {\n"
                                    . "    voicegw_api;\n"
                                    . "    voicegw_api_body_limit 1k;\n"
                                    . "}\n");
    }
});

run_tests();

__DATA__

=== TEST 1: a valid body is applied, and GET shows it
--- request eval
["PUT /api/config/eta\n{\"eta_chat_s\": 20.5, \"eta_ema_alpha\": 0.25}",
 "GET /api/config/eta"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"eta_chat_s":20\.5,"eta_half_duplex_s":180\.0,"eta_audio_duplex_s":120\.0,"eta_omni_duplex_s":90\.0,"eta_ema_alpha":0\.25,"eta_ema_min_samples":3,/,
 qr/^\{"eta_chat_s":20\.5,.*"eta_ema_alpha":0\.25,/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 2: malformed JSON
--- request
PUT /api/config/eta
{"eta_chat_s": 20,, }
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"detail":"malformed JSON: [^"]+","error":"invalid_json"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 3: truncated JSON
--- request
PUT /api/config/eta
{"eta_chat_s": 20
--- error_code: 400
--- response_body chomp
{"detail":"malformed JSON: parse error: premature EOF","error":"invalid_json"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 4: a body that is not an object
--- request
PUT /api/config/eta
[1, 2, 3]
--- error_code: 400
--- response_body chomp
{"detail":"the request body must be a JSON object, not array","error":"invalid_body"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 5: no body at all
--- request
PUT /api/config/eta
--- error_code: 400
--- response_body chomp
{"detail":"a JSON object body is required","error":"invalid_body"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 6: a field of the wrong type
--- request
PUT /api/config/eta
{"eta_chat_s": "20"}
--- error_code: 400
--- response_body chomp
{"detail":"eta_chat_s must be a number, not string","error":"invalid_field"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 7: an unknown field
--- request
PUT /api/config/eta
{"eta_chat_s": 20, "eta_video_s": 5}
--- error_code: 400
--- response_body chomp
{"detail":"unknown field \"eta_video_s\"","error":"unknown_field"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 8: a number too large for a double
--- request
PUT /api/config/eta
{"eta_chat_s": 1e999}
--- error_code: 400
--- response_body chomp
{"detail":"malformed JSON: number out of range","error":"invalid_json"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 9: a NUL byte in the body
--- request eval
"PUT /api/config/eta\n{\"eta_chat_s\": \0 20}"
--- error_code: 400
--- response_body_like: "error":"invalid_json"
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 10: invalid UTF-8 in a string
--- request eval
"PUT /api/config/eta\n{\"eta_chat_s\xff\xfe\": 20}"
--- error_code: 400
--- response_body_like: "error":"invalid_json"
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 11: nesting past the limit
--- request eval
"PUT /api/config/eta\n{\"a\":" . ("[" x 100) . ("]" x 100) . "}"
--- error_code: 400
--- response_body chomp
{"detail":"malformed JSON: document nested too deeply","error":"invalid_json"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 12: values outside their rules
--- request eval
["PUT /api/config/eta\n{\"eta_ema_alpha\": 0}",
 "PUT /api/config/eta\n{\"eta_ema_alpha\": 1.01}",
 "PUT /api/config/eta\n{\"eta_ema_min_samples\": 2.5}",
 "PUT /api/config/eta\n{\"eta_ema_min_samples\": 0}",
 "PUT /api/config/eta\n{\"eta_omni_duplex_s\": -1}",
 "PUT /api/config/eta\n{\"eta_omni_duplex_s\": null}",
 "PUT /api/config/eta\n{\"eta_omni_duplex_s\": true}"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body eval
['{"detail":"eta_ema_alpha must be a number in (0, 1]","error":"invalid_field"}',
 '{"detail":"eta_ema_alpha must be a number in (0, 1]","error":"invalid_field"}',
 '{"detail":"eta_ema_min_samples must be an integer of at least 1","error":"invalid_field"}',
 '{"detail":"eta_ema_min_samples must be an integer of at least 1","error":"invalid_field"}',
 '{"detail":"eta_omni_duplex_s must be a positive number of seconds (at most 1000000)","error":"invalid_field"}',
 '{"detail":"eta_omni_duplex_s must be a number, not null","error":"invalid_field"}',
 '{"detail":"eta_omni_duplex_s must be a number, not boolean","error":"invalid_field"}']
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 13: one bad field and nothing changes
--- request eval
["PUT /api/config/eta\n{\"eta_chat_s\": 33, \"eta_ema_alpha\": 7}",
 "GET /api/config/eta"]
--- error_code eval
[400, 200]
--- response_body_like eval
[qr/"error":"invalid_field"/, qr/^\{"eta_chat_s":15\.0,.*"eta_ema_alpha":0\.3,/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 14: GET's read-only fields may be sent back
--- request
PUT /api/config/eta
{"eta_chat_s": 16, "ema_chat_s": null, "ema_chat_samples": 0, "ema_omni_duplex_s": 3.5}
--- error_code: 200
--- response_body_like: ^\{"eta_chat_s":16\.0,
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 15: an empty object changes nothing and answers the configuration
--- request
PUT /api/config/eta
{}
--- error_code: 200
--- response_body_like: ^\{"eta_chat_s":15\.0,
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 16: Content-Length over the limit: JSON 413 before the body is read
--- request eval
"PUT /api/config/eta\n{\"eta_chat_s\": 20" . (" " x 2000) . "}"
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"detail":"request body is larger than 1024 bytes","error":"body_too_large"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 17: a chunked body over the limit: JSON 413 as well
--- raw_request eval
"PUT /api/config/eta HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
400\r
" . ("x" x 1024) . "\r
400\r
" . ("x" x 1024) . "\r
0\r
\r
"
--- error_code: 413
--- response_body chomp
{"detail":"request body is larger than 1024 bytes","error":"body_too_large"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 18: a chunked body within the limit is fine
--- raw_request eval
"PUT /api/config/eta HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
6\r
{\"eta_\r
10\r
chat_s\": 42.0}  \r
0\r
\r
"
--- error_code: 200
--- response_body_like: ^\{"eta_chat_s":42\.0,
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 19: broken chunked encoding: JSON 400
--- raw_request eval
"PUT /api/config/eta HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
zz\r
{}\r
0\r
\r
"
--- error_code: 400
--- response_body chomp
{"detail":"invalid request body encoding","error":"invalid_body"}
--- no_error_log
[alert]
[emerg]



=== TEST 20: a body bigger than client_body_buffer_size (read from its temp file)
--- config
    location / {
        voicegw_api;
        client_body_buffer_size 128;
    }
--- request eval
"PUT /api/config/eta\n{\"eta_audio_duplex_s\": 99," . (" " x 600) . "\"eta_chat_s\": 14}"
--- error_code: 200
--- response_body_like: ^\{"eta_chat_s":14\.0,"eta_half_duplex_s":180\.0,"eta_audio_duplex_s":99\.0,
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 21: duplicate keys: the last one wins
--- request
PUT /api/config/eta
{"eta_chat_s": 1, "eta_chat_s": 2}
--- error_code: 200
--- response_body_like: ^\{"eta_chat_s":2\.0,
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 22: without a store a write is refused, reads work
--- http_config
    voicegw_zone vg_nostore 1m;
--- request eval
["PUT /api/config/eta\n{\"eta_chat_s\": 20}", "GET /api/config/eta"]
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/^\{"detail":"no voicegw_store is configured, changes could not be kept","error":"no_store"\}$/,
 qr/^\{"eta_chat_s":15\.0,/]
--- no_error_log
[error]
[alert]
[emerg]
