# "nginx -t" catches bad worker-pool and front-end directives, naming the
# file and line; a valid pool configuration starts.

use Test::Nginx::Socket 'no_plan';

master_on();
no_root_location();
no_shuffle();

run_tests();

__DATA__

=== TEST 1: a valid pool starts; its workers are listed (offline: none runs)
--- http_config
    voicegw_zone vg 1m;
    upstream inference {
        voicegw_pool queue=3 queue_timeout=2s health_uri=/healthz
                     health_interval=500ms health_timeout=200ms;
        server 127.0.0.1:1;
        server 127.0.0.1:2;
    }
--- config
    location = /chat {
        voicegw_task chat pool=inference affinity=messages;
        proxy_pass http://inference/chat;
    }
    location / { voicegw_api; }
--- request
GET /workers
--- error_code: 200
--- response_body_like: ^\{"workers":\[\{"url":"http://127\.0\.0\.1:1","index":0,"status":"offline",.*\{"url":"http://127\.0\.0\.1:2","index":1,"status":"offline",.*"total":2\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 2: voicegw_pool with an unknown parameter
--- http_config
    voicegw_zone vg 1m;
    upstream inference {
        voicegw_pool queue=3 fast=1;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "fast=1" in "voicegw_pool" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 3: voicegw_pool with a bad queue size
--- http_config
    voicegw_zone vg 1m;
    upstream inference {
        voicegw_pool queue=-1;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "queue=-1" in "voicegw_pool" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 4: voicegw_pool with a bad timeout
--- http_config
    voicegw_zone vg 1m;
    upstream inference {
        voicegw_pool queue_timeout=soon;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "queue_timeout=soon" in "voicegw_pool" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 5: voicegw_pool with a health_uri that is no path
--- http_config
    voicegw_zone vg 1m;
    upstream inference {
        voicegw_pool health_uri=health;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "health_uri=health" in "voicegw_pool" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 6: voicegw_pool outside an upstream
--- http_config
    voicegw_zone vg 1m;
--- config
    voicegw_pool;
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_pool" directive is not allowed here in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 7: a worker with a weight is refused
--- http_config
    voicegw_zone vg 1m;
    upstream inference {
        voicegw_pool;
        server 127.0.0.1:1 weight=2;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*balancing method does not support parameter "weight=2" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 8: a pool without a zone
--- http_config
    upstream inference {
        voicegw_pool;
        server 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_pool" and "voicegw_task" need a "voicegw_zone" in http\{\}/
--- no_error_log
[alert]



=== TEST 9: voicegw_task with an unknown task type
--- http_config
    voicegw_zone vg 1m;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /x { voicegw_task video; proxy_pass http://inference; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid task type "video" in "voicegw_task": use chat, half_duplex, audio_duplex or omni_duplex in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 10: voicegw_task naming a pool that does not exist
--- http_config
    voicegw_zone vg 1m;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /x { voicegw_task chat pool=elsewhere; proxy_pass http://inference; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_task": no upstream "elsewhere" with voicegw_pool in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 11: voicegw_task without pool= when there are two pools
--- http_config
    voicegw_zone vg 1m;
    upstream a { voicegw_pool; server 127.0.0.1:1; }
    upstream b { voicegw_pool; server 127.0.0.1:2; }
--- config
    location = /x { voicegw_task chat; proxy_pass http://a; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_task" needs pool=: there are 2 voicegw_pool upstreams in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 12: voicegw_task with an unknown app
--- http_config
    voicegw_zone vg 1m;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /x { voicegw_task chat app=karaoke; proxy_pass http://inference; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_task": unknown app "karaoke" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 13: cache_key= and affinity=messages together
--- http_config
    voicegw_zone vg 1m;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /x {
        voicegw_task chat affinity=messages cache_key=$arg_k;
        proxy_pass http://inference;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "cache_key=\$arg_k" in "voicegw_task" \(one of cache_key= and affinity=messages\) in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 14: voicegw_task twice in a location
--- http_config
    voicegw_zone vg 1m;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /x { voicegw_task chat; voicegw_task chat; proxy_pass http://inference; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_task" directive is duplicate in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 15: voicegw_app with a bad id
--- http_config
    voicegw_zone vg 1m;
    voicegw_app My-App;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid app id "My-App" in "voicegw_app": use \[a-z0-9_\], at most 32 characters in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 16: voicegw_app with a bad enabled=
--- http_config
    voicegw_zone vg 1m;
    voicegw_app omni enabled=maybe;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "enabled=maybe" in "voicegw_app" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 17: voicegw_frontend_defaults without name=value
--- http_config
    voicegw_zone vg 1m;
    voicegw_frontend_defaults playback_delay_ms;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "playback_delay_ms" in "voicegw_frontend_defaults": use name=value with a name of \[a-z0-9_\] in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 18: voicegw_preset defined twice
--- http_config
    voicegw_zone vg 1m;
    voicegw_preset en name=English;
    voicegw_preset en name=Again;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate preset "en" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 19: front-end configuration and apps from nginx.conf
--- http_config
    voicegw_zone vg 1m;
    voicegw_frontend_defaults playback_delay_ms=350 chat_vocoder=cosyvoice
                              autoplay=true volume=0.8;
    voicegw_preset default_en "name=English Assistant"
                   "system_prompt=You are a helpful assistant.";
    voicegw_preset zh "name=Chinese" "system_prompt=Say \"ni hao\".";
    voicegw_app omni enabled=off;
    voicegw_app karaoke "name=Sing Along" route=/sing;
--- config
    location / { voicegw_api; }
--- request eval
["GET /api/frontend_defaults", "GET /api/presets", "GET /api/apps",
 "GET /api/admin/apps"]
--- response_body eval
['{"playback_delay_ms":350,"chat_vocoder":"cosyvoice","autoplay":true,"volume":0.8}',
 '[{"id":"default_en","name":"English Assistant","system_prompt":"You are a helpful assistant."},{"id":"zh","name":"Chinese","system_prompt":"Say \"ni hao\"."}]',
 '{"apps":[{"app_id":"turnbased","name":"Turn-based Chat","route":"/turnbased"},{"app_id":"half_duplex_audio","name":"Half-Duplex Audio","route":"/half_duplex"},{"app_id":"audio_duplex","name":"Audio Full-Duplex","route":"/audio_duplex"},{"app_id":"karaoke","name":"Sing Along","route":"/sing"}]}',
 '{"apps":[{"app_id":"turnbased","name":"Turn-based Chat","route":"/turnbased","enabled":true},{"app_id":"half_duplex_audio","name":"Half-Duplex Audio","route":"/half_duplex","enabled":true},{"app_id":"omni","name":"Omni Full-Duplex","route":"/omni","enabled":false},{"app_id":"audio_duplex","name":"Audio Full-Duplex","route":"/audio_duplex","enabled":true},{"app_id":"karaoke","name":"Sing Along","route":"/sing","enabled":true}]}']
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 20: front-end defaults and presets when nginx.conf says nothing
--- http_config
    voicegw_zone vg 1m;
--- config
    location / { voicegw_api; }
--- request eval
["GET /api/frontend_defaults", "GET /api/presets"]
--- response_body eval
['{"playback_delay_ms":200,"chat_vocoder":"token2wav"}', '[]']
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 21: a disabled app's route answers 403 before any worker is taken
--- http_config
    voicegw_zone vg 1m;
    voicegw_app turnbased enabled=off;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /api/chat {
        voicegw_task chat app=turnbased;
        proxy_pass http://inference/chat;
    }
    location / { voicegw_api; }
--- request eval
["POST /api/chat\n{\"messages\":[]}", "GET /api/queue"]
--- error_code eval
[403, 200]
--- response_body eval
['{"detail":"Turn-based Chat is currently disabled","error":"app_disabled"}',
 '{"queue_length":0,"entries":[],"running":[],"max_queue_size":1000,"items":[],"running_tasks":[]}']
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 22: an invalid session id is refused
--- http_config
    voicegw_zone vg 1m;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /s {
        voicegw_task omni_duplex session=$arg_sid;
        proxy_pass http://inference/ws/duplex;
    }
--- request eval
["GET /s?sid=a.b", "GET /s"]
--- error_code eval
[400, 400]
--- response_body eval
['{"detail":"session ids are 1 to 128 characters of [A-Za-z0-9_-]","error":"invalid_session"}',
 '{"detail":"session ids are 1 to 128 characters of [A-Za-z0-9_-]","error":"invalid_session"}']
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 23: a location proxying to the pool without voicegw_task gets no worker
--- http_config
    voicegw_zone vg 1m;
    upstream inference { voicegw_pool; server 127.0.0.1:1; }
--- config
    location = /direct { proxy_pass http://inference/chat; }
--- request
GET /direct
--- error_code: 502
--- error_log
only locations with a voicegw_task for it may proxy there
--- no_error_log
[alert]
[emerg]
