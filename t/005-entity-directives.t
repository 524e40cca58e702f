# The entity and access directives of nginx.conf: voicegw_provider,
# voicegw_model, voicegw_stack, voicegw_project, voicegw_secret,
# voicegw_api_key, voicegw_api_auth, voicegw_provider_test_timeout and
# voicegw_provider_trusted_certificate.  "nginx -t" refuses every bad one,
# naming the file and line; the entities of a valid configuration are
# served by the API with "source":"config" and are read-only there; the
# API keys of nginx.conf guard the API.

use Test::Nginx::Socket 'no_plan';

master_on();
no_root_location();
no_shuffle();

# the key of a provider defined with key_env= (read by the nginx master
# when it loads the configuration)
$ENV{VOICEGW_T005_EL_KEY} = 'el-0123456789abcdef';
delete $ENV{VOICEGW_T005_UNSET};

# voicegw_secret files: 32 bytes raw (ending in a newline, which must not
# be trimmed), as 64 hex digits, as base64; and three that are not 32 bytes
our $SecretRaw    = join('', map { chr } 1 .. 31) . "\n";
our $SecretHex    = ('0123456789abcdef' x 4) . "\n";
our $SecretBase64 = "S0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0s=\n";
our $Secret31     = 'k' x 31;
our $Secret63Hex  = ('0123456789abcdef' x 4);
chop $Secret63Hex;
our $Secret48     = ('z' x 64) . "\n";

# the entities most blocks below run with
our $Entities = <<'_EOC_';
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_provider deepgram key=dg-abcdefgh12345678;
    voicegw_provider oa type=openai key=sk-zzzzzzzz87654321
                     base_url=http://127.0.0.1:9/;
    voicegw_provider elevenlabs key_env=VOICEGW_T005_EL_KEY;
    voicegw_provider groq key_env=VOICEGW_T005_UNSET;
    voicegw_provider kokoro key=short123;
    voicegw_provider piper;
    voicegw_model deepgram/nova-3 modality=stt "display_name=Deepgram Nova 3"
                  default_language=en price_per_minute=0.0043;
    voicegw_model oa/gpt-4o-mini modality=llm
                  price_per_1k_input_tokens=0.00015
                  price_per_1k_output_tokens=0.0006;
    voicegw_model piper/en-amy modality=tts default_voice=amy
                  price_per_character=0;
    voicegw_stack fast stt=deepgram/nova-3 llm=oa/gpt-4o-mini;
    voicegw_project support "name=Support line" "description=Phone support"
                    daily_budget=25 budget_action=block default_stack=fast
                    tags=prod,voice;
    voicegw_project lab tags=research,,x accent=#abc;
_EOC_

# the API keys of the auth blocks
our $Keys = <<'_EOC_';
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_provider deepgram key=dg-abcdefgh12345678;
    voicegw_api_key 0123456789abcdef0123 scope=read name=ro;
    voicegw_api_key fedcba9876543210fedc scope=write name=rw;
    voicegw_api_key aaaaaaaaaaaaaaaaaaaa;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $Entities);
    }

    if (!defined $block->config) {
        $block->set_value("config", "location / { voicegw_api; }\n");
    }
});

run_tests();

__DATA__

=== TEST 1: voicegw_provider with an unknown type (the id is the type)
--- http_config
    voicegw_provider deepgramm key=abc;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown provider type "deepgramm" in "voicegw_provider" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 2: voicegw_provider with an unknown type=
--- http_config
    voicegw_provider oa type=openia;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown provider type "openia" in "voicegw_provider" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 3: provider id with an uppercase letter
--- http_config
    voicegw_provider Deepgram type=deepgram;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid provider id "Deepgram": use \[a-z0-9\]\[a-z0-9\._-\]\{0,63\} in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 4: provider id with a leading dash
--- http_config
    voicegw_provider -dg type=deepgram;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid provider id "-dg": use \[a-z0-9\]/
--- no_error_log
[alert]



=== TEST 5: provider id of 65 characters
--- http_config
    voicegw_provider nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn type=ollama;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid provider id "n{65}": use .* in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 6: provider id of 64 characters is fine, and listed
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_provider p123456789012345678901234567890123456789012345678901234567890123 type=whisper;
--- request
GET /v1/providers
--- error_code: 200
--- response_body chomp
{"providers":[{"provider_id":"p123456789012345678901234567890123456789012345678901234567890123","provider_type":"whisper","source":"config","api_key_masked":"","base_url":null}]}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 7: duplicate provider id
--- http_config
    voicegw_provider deepgram key=abc;
    voicegw_provider openai;
    voicegw_provider deepgram key=def;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate provider "deepgram" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 8: voicegw_provider with a parameter it does not know
--- http_config
    voicegw_provider deepgram region=eu;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "region=eu" in "voicegw_provider" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 9: key= and key_env= together
--- http_config
    voicegw_provider deepgram key=abc key_env=DEEPGRAM_API_KEY;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "key_env=DEEPGRAM_API_KEY" in "voicegw_provider" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 10: base_url that is not http(s)
--- http_config
    voicegw_provider ollama base_url=ftp://10.0.0.7:11434;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid base_url "base_url=ftp:\/\/10\.0\.0\.7:11434" in "voicegw_provider": it is not an http:\/\/ or https:\/\/ URL in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 11: base_url with a scheme and nothing else
--- http_config
    voicegw_provider ollama base_url=https://;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid base_url "base_url=https:\/\/" in "voicegw_provider": it has no host in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 12: an unset key_env= is a warning only (the later error is what stops nginx)
--- http_config
    voicegw_provider deepgram key_env=VOICEGW_T005_UNSET;
    voicegw_provider deepgram;
--- config
--- must_die
--- error_log eval
[qr/\[warn\] .*environment variable "VOICEGW_T005_UNSET" of provider "deepgram" is not set in \S+nginx\.conf:\d+/,
 qr/\[emerg\] .*duplicate provider "deepgram" in \S+nginx\.conf:\d+/]
--- no_error_log
[alert]



=== TEST 13: voicegw_provider outside http{}
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
--- config
    location / { voicegw_provider deepgram; voicegw_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_provider" directive is not allowed here in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 14: a model on a provider no voicegw_provider defines
--- http_config
    voicegw_provider deepgram;
    voicegw_model openai/gpt-4o-mini modality=llm;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*model "openai\/gpt-4o-mini" is on provider "openai", which no voicegw_provider defines, in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 15: the provider may come after its model
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_model groq/llama-3.1-8b modality=llm;
    voicegw_provider groq;
--- request
GET /v1/models
--- error_code: 200
--- response_body chomp
{"models":{"groq/llama-3.1-8b":{"modality":"llm","provider":"groq","model":"llama-3.1-8b","source":"config","display_name":null,"default_language":null,"default_voice":null,"pricing":{"price_per_minute":null,"price_per_1k_input_tokens":null,"price_per_1k_output_tokens":null,"price_per_character":null}}},"project":null}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 16: model id without a slash
--- http_config
    voicegw_provider deepgram;
    voicegw_model nova-3 modality=stt;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid model id "nova-3": use provider\/model in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 17: model id with an empty model name
--- http_config
    voicegw_provider deepgram;
    voicegw_model deepgram/ modality=stt;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid model id "deepgram\/": use provider\/model in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 18: model id whose provider part is not an id
--- http_config
    voicegw_provider deepgram;
    voicegw_model DeepGram/nova-3 modality=stt;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid model id "DeepGram\/nova-3": use provider\/model in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 19: model with an unknown modality
--- http_config
    voicegw_provider deepgram;
    voicegw_model deepgram/nova-3 modality=asr;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown modality "asr" in "voicegw_model": use stt, llm or tts in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 20: model without a modality
--- http_config
    voicegw_provider deepgram;
    voicegw_model deepgram/nova-3 price_per_minute=0.0043;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_model" needs modality=stt\|llm\|tts in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 21: negative price
--- http_config
    voicegw_provider deepgram;
    voicegw_model deepgram/nova-3 modality=stt price_per_minute=-0.01;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "price_per_minute=-0\.01" in "voicegw_model" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 22: price that is not a number
--- http_config
    voicegw_provider cartesia;
    voicegw_model cartesia/sonic-2 modality=tts price_per_character=cheap;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "price_per_character=cheap" in "voicegw_model" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 23: price that overflows a double
--- http_config
    voicegw_provider openai;
    voicegw_model openai/gpt-4o modality=llm price_per_1k_input_tokens=1e400;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "price_per_1k_input_tokens=1e400" in "voicegw_model" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 24: model with a parameter it does not know
--- http_config
    voicegw_provider openai;
    voicegw_model openai/tts-1 modality=tts voice=alloy;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "voice=alloy" in "voicegw_model" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 25: duplicate model
--- http_config
    voicegw_provider deepgram;
    voicegw_model deepgram/nova-3 modality=stt;
    voicegw_model deepgram/nova-3 modality=stt price_per_minute=1;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate model "deepgram\/nova-3" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 26: stack with an invalid name
--- http_config
    voicegw_provider deepgram;
    voicegw_stack Fast stt=deepgram/nova-3;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid stack name "Fast": use \[a-z0-9\]\[a-z0-9\._-\]\{0,63\} in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 27: stack with a parameter it does not know
--- http_config
    voicegw_stack fast asr=deepgram/nova-3;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "asr=deepgram\/nova-3" in "voicegw_stack": use stt=, llm= or tts= with a provider\/model id in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 28: stack naming a model without its provider
--- http_config
    voicegw_stack fast stt=nova-3;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "stt=nova-3" in "voicegw_stack": use stt=, llm= or tts= with a provider\/model id in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 29: duplicate stack
--- http_config
    voicegw_stack fast stt=deepgram/nova-3;
    voicegw_stack fast llm=openai/gpt-4o-mini;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate stack "fast" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 30: project with an invalid id
--- http_config
    voicegw_project _support;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid project id "_support": use \[a-z0-9\]\[a-z0-9\._-\]\{0,63\} in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 31: project with a bad budget_action
--- http_config
    voicegw_project support daily_budget=10 budget_action=stop;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid budget_action "stop" in "voicegw_project": use warn or block in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 32: project with a negative daily_budget
--- http_config
    voicegw_project support daily_budget=-5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid daily_budget "-5" in "voicegw_project": a number of USD, at least 0 in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 33: project with a daily_budget that is not a number
--- http_config
    voicegw_project support daily_budget=lots;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid daily_budget "lots" in "voicegw_project": a number of USD, at least 0 in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 34: duplicate project
--- http_config
    voicegw_project support;
    voicegw_project lab;
    voicegw_project support daily_budget=3;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate project "support" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 35: project whose default_stack no voicegw_stack defines
--- http_config
    voicegw_stack slow stt=deepgram/nova-3;
    voicegw_project support default_stack=fast;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*project "support" has default_stack "fast", which no voicegw_stack defines, in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 36: project accent of the wrong length
--- http_config
    voicegw_project support accent=#12345;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid accent "#12345" in "voicegw_project": use #rgb or #rrggbb in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 37: project accent that is not hex
--- http_config
    voicegw_project support accent=#12g;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid accent "#12g" in "voicegw_project": use #rgb or #rrggbb in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 38: project with a parameter it does not know
--- http_config
    voicegw_project support owner=ops;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "owner=ops" in "voicegw_project" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 39: api key token shorter than 16 characters (and not logged)
--- http_config
    voicegw_api_key 0123456789abcde scope=write;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*the token of "voicegw_api_key" must be at least 16 characters in \S+nginx\.conf:\d+/
--- no_error_log
0123456789abcde
[alert]



=== TEST 40: api key token with a space
--- http_config
    voicegw_api_key "0123456789 abcdef0123";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*the token of "voicegw_api_key" must be printable ASCII without spaces in \S+nginx\.conf:\d+/
--- no_error_log
0123456789 abcdef0123
[alert]



=== TEST 41: duplicate api key token (and not logged)
--- http_config
    voicegw_api_key fedcba9876543210fedc scope=write name=one;
    voicegw_api_key fedcba9876543210fedc scope=read name=two;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate token in "voicegw_api_key" in \S+nginx\.conf:\d+/
--- no_error_log
fedcba9876543210fedc
[alert]



=== TEST 42: api key with an unknown scope
--- http_config
    voicegw_api_key fedcba9876543210fedc scope=admin;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "scope=admin" in "voicegw_api_key" in \S+nginx\.conf:\d+/
--- no_error_log
fedcba9876543210fedc
[alert]



=== TEST 43: api key name longer than 64 characters
--- http_config
    voicegw_api_key fedcba9876543210fedc name=nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "name=n{65}" in "voicegw_api_key" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 44: voicegw_api_auth with a bad value
--- http_config
    voicegw_api_auth reads;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "reads" in "voicegw_api_auth": use writes or all in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 45: voicegw_api_auth twice
--- http_config
    voicegw_api_auth all;
    voicegw_api_auth writes;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_api_auth" directive is duplicate in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 46: voicegw_secret file that does not exist
--- http_config
    voicegw_secret html/missing.key;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) "\S+html\/missing\.key" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 47: voicegw_secret of 31 raw bytes
--- http_config
    voicegw_secret html/short.key;
--- config
--- user_files eval
[["short.key", $::Secret31]]
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_secret "\S+html\/short\.key" must hold 32 bytes: raw, 64 hex digits or base64 in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 48: voicegw_secret of 63 hex digits
--- http_config
    voicegw_secret html/hex63.key;
--- config
--- user_files eval
[["hex63.key", $::Secret63Hex]]
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_secret "\S+html\/hex63\.key" must hold 32 bytes: raw, 64 hex digits or base64 in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 49: voicegw_secret whose base64 decodes to 48 bytes
--- http_config
    voicegw_secret html/b64.key;
--- config
--- user_files eval
[["b64.key", $::Secret48]]
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_secret "\S+html\/b64\.key" must hold 32 bytes: raw, 64 hex digits or base64 in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 50: voicegw_secret twice
--- http_config
    voicegw_secret html/a.key;
    voicegw_secret html/a.key;
--- config
--- user_files eval
[["a.key", $::SecretHex]]
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_secret" directive is duplicate in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 51: voicegw_provider_test_timeout that is not a time
--- http_config
    voicegw_provider_test_timeout soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_provider_test_timeout" directive invalid value in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 52: voicegw_provider_trusted_certificate file that does not exist
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_provider_trusted_certificate /nonexistent/voicegw-t005-ca.pem;
--- must_die
--- error_log eval
[qr/\[emerg\] .*voicegw_provider_trusted_certificate: cannot open "\/nonexistent\/voicegw-t005-ca\.pem"/,
 qr/\[emerg\] .*voicegw_provider_trusted_certificate: cannot open .* in \S+nginx\.conf:\d+/]
--- no_error_log
[alert]



=== TEST 53: voicegw_provider_trusted_certificate file that holds no certificate
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_provider_trusted_certificate ../html/ca.pem;
--- user_files
>>> ca.pem
this is not a PEM certificate
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_provider_trusted_certificate: cannot load "\S+html\/ca\.pem" \(.+\) in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 54: config providers are listed with masked keys
--- request
GET /v1/providers
--- error_code: 200
--- response_body chomp
{"providers":[{"provider_id":"deepgram","provider_type":"deepgram","source":"config","api_key_masked":"dg-a...5678","base_url":null},{"provider_id":"oa","provider_type":"openai","source":"config","api_key_masked":"sk-z...4321","base_url":"http://127.0.0.1:9"},{"provider_id":"elevenlabs","provider_type":"elevenlabs","source":"config","api_key_masked":"el-0...cdef","base_url":null},{"provider_id":"groq","provider_type":"groq","source":"config","api_key_masked":"","base_url":null},{"provider_id":"kokoro","provider_type":"kokoro","source":"config","api_key_masked":"********","base_url":null},{"provider_id":"piper","provider_type":"piper","source":"config","api_key_masked":"","base_url":null}]}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 55: the keys themselves never reach the response
--- request
GET /v1/providers
--- error_code: 200
--- response_body_unlike: dg-abcdefgh12345678|abcdefgh1234|sk-zzzzzzzz87654321|el-0123456789abcdef|short123
--- no_error_log
dg-abcdefgh12345678
sk-zzzzzzzz87654321
el-0123456789abcdef
[error]
[alert]
[emerg]



=== TEST 56: config models with their prices (an unset price is null, 0 is 0)
--- request
GET /v1/models
--- error_code: 200
--- response_body chomp
{"models":{"deepgram/nova-3":{"modality":"stt","provider":"deepgram","model":"nova-3","source":"config","display_name":"Deepgram Nova 3","default_language":"en","default_voice":null,"pricing":{"price_per_minute":0.0043,"price_per_1k_input_tokens":null,"price_per_1k_output_tokens":null,"price_per_character":null}},"oa/gpt-4o-mini":{"modality":"llm","provider":"oa","model":"gpt-4o-mini","source":"config","display_name":null,"default_language":null,"default_voice":null,"pricing":{"price_per_minute":null,"price_per_1k_input_tokens":0.00015,"price_per_1k_output_tokens":0.0006,"price_per_character":null}},"piper/en-amy":{"modality":"tts","provider":"piper","model":"en-amy","source":"config","display_name":null,"default_language":null,"default_voice":"amy","pricing":{"price_per_minute":null,"price_per_1k_input_tokens":null,"price_per_1k_output_tokens":null,"price_per_character":0.0}}},"project":null}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 57: models of a project: only its default stack's
--- request
GET /v1/models?project=support
--- error_code: 200
--- response_body_like: ^\{"models":\{"deepgram/nova-3":\{"modality":"stt",[^{}]*"pricing":\{[^{}]*\}\},"oa/gpt-4o-mini":\{"modality":"llm",[^{}]*"pricing":\{[^{}]*\}\}\},"project":"support"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 58: models of a project without a stack: all of them
--- request
GET /v1/models?project=lab
--- error_code: 200
--- response_body_like: ^\{"models":\{"deepgram/nova-3":\{.*\},"oa/gpt-4o-mini":\{.*\},"piper/en-amy":\{.*\}\},"project":"lab"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 59: models of a project nobody defines
--- request
GET /v1/models?project=nope
--- error_code: 404
--- response_body chomp
{"detail":"no project \"nope\"","error":"not_found"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 60: config projects (name, budget, stack, tags, accents)
--- request
GET /v1/projects
--- error_code: 200
--- response_body chomp
{"projects":[{"id":"support","name":"Support line","description":"Phone support","daily_budget":25.0,"budget_action":"block","default_stack":"fast","tags":["prod","voice"],"accent":"#2ecc71","source":"config"},{"id":"lab","name":"lab","description":"","daily_budget":0.0,"budget_action":"warn","default_stack":null,"tags":["research","x"],"accent":"#abc","source":"config"}],"stats":{"support":{"cost_today":0.0,"requests_today":0},"lab":{"cost_today":0.0,"requests_today":0}}}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 61: one config project
--- request
GET /v1/projects/support
--- error_code: 200
--- response_body chomp
{"id":"support","name":"Support line","description":"Phone support","daily_budget":25.0,"budget_action":"block","default_stack":"fast","tags":["prod","voice"],"accent":"#2ecc71","source":"config","costs_today":{"by_provider":{},"by_model":{},"total":0.0},"today_spend":0.0,"budget_status":"ok","today":{"cost_today":0.0,"requests_today":0}}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 62: a project nobody defines (no store)
--- request
GET /v1/projects/support2
--- error_code: 404
--- response_body chomp
{"detail":"no project \"support2\"","error":"not_found"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 63: status: configured means a key (or a local provider)
--- request
GET /v1/status
--- error_code: 200
--- response_body chomp
{"providers":{"deepgram":{"configured":true,"type":"cloud","provider_type":"deepgram","source":"config"},"oa":{"configured":true,"type":"cloud","provider_type":"openai","source":"config"},"elevenlabs":{"configured":true,"type":"cloud","provider_type":"elevenlabs","source":"config"},"groq":{"configured":false,"type":"cloud","provider_type":"groq","source":"config"},"kokoro":{"configured":true,"type":"local","provider_type":"kokoro","source":"config"},"piper":{"configured":true,"type":"local","provider_type":"piper","source":"config"}},"model_count":3,"project_count":2}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 64: PATCH of a config provider is refused, and changes nothing
--- request eval
["PATCH /v1/providers/oa\n{\"base_url\":\"http://127.0.0.1:10\"}",
 "GET /v1/providers"]
--- error_code eval
[403, 200]
--- response_body_like eval
[qr/^\{"detail":"provider \\"oa\\" is defined in nginx\.conf and read-only here","error":"read_only"\}$/,
 qr/"provider_id":"oa","provider_type":"openai","source":"config","api_key_masked":"sk-z\.\.\.4321","base_url":"http:\/\/127\.0\.0\.1:9"\}/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 65: DELETE of a config provider is refused, preview or not
--- request eval
["DELETE /v1/providers/deepgram",
 "DELETE /v1/providers/deepgram?confirm=true"]
--- error_code eval
[403, 403]
--- response_body eval
["{\"detail\":\"provider \\\"deepgram\\\" is defined in nginx.conf and cannot be deleted\",\"error\":\"read_only\"}",
 "{\"detail\":\"provider \\\"deepgram\\\" is defined in nginx.conf and cannot be deleted\",\"error\":\"read_only\"}"]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 66: POST of a provider with a config provider's id
--- request
POST /v1/providers
{"provider_id":"oa","provider_type":"openai"}
--- error_code: 409
--- response_body chomp
{"detail":"provider \"oa\" is defined in nginx.conf","error":"conflict"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 67: PATCH of a config project is refused, and changes nothing
--- request eval
["PATCH /v1/projects/support\n{\"daily_budget\":5}",
 "GET /v1/projects/support"]
--- error_code eval
[403, 200]
--- response_body_like eval
[qr/^\{"detail":"project \\"support\\" is defined in nginx\.conf and read-only here","error":"read_only"\}$/,
 qr/^\{"id":"support","name":"Support line","description":"Phone support","daily_budget":25\.0,"budget_action":"block",/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 68: DELETE of a config project is refused, preview or not
--- request eval
["DELETE /v1/projects/lab",
 "DELETE /v1/projects/lab?confirm=true"]
--- error_code eval
[403, 403]
--- response_body eval
["{\"detail\":\"project \\\"lab\\\" is defined in nginx.conf and cannot be deleted\",\"error\":\"read_only\"}",
 "{\"detail\":\"project \\\"lab\\\" is defined in nginx.conf and cannot be deleted\",\"error\":\"read_only\"}"]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 69: POST of a project with a config project's id
--- request
POST /v1/projects
{"project_id":"support"}
--- error_code: 409
--- response_body chomp
{"detail":"project \"support\" is defined in nginx.conf","error":"conflict"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 70: DELETE of a config model is refused, preview or not
--- request eval
["DELETE /v1/models/deepgram/nova-3",
 "DELETE /v1/models/oa/gpt-4o-mini?confirm=true"]
--- error_code eval
[403, 403]
--- response_body eval
["{\"detail\":\"model \\\"deepgram/nova-3\\\" is defined in nginx.conf and cannot be deleted\",\"error\":\"read_only\"}",
 "{\"detail\":\"model \\\"oa/gpt-4o-mini\\\" is defined in nginx.conf and cannot be deleted\",\"error\":\"read_only\"}"]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 71: POST of a model with a config model's id
--- request
POST /v1/models
{"modality":"stt","provider_id":"deepgram","model_name":"nova-3"}
--- error_code: 409
--- response_body chomp
{"detail":"model \"deepgram/nova-3\" is defined in nginx.conf","error":"conflict"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 72: without voicegw_store, creating anything else needs the store
--- request
POST /v1/projects
{"project_id":"other"}
--- error_code: 503
--- response_body chomp
{"detail":"no voicegw_store is configured","error":"no_store"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 73: with a store: config and API projects side by side, config ids still taken
--- http_config eval
$::Entities . "    voicegw_store logs/t005.db;\n"
--- request eval
["POST /v1/projects\n{\"project_id\":\"other\",\"tags\":[\"staging\"]}",
 "POST /v1/projects\n{\"project_id\":\"support\"}",
 "POST /v1/providers\n{\"provider_id\":\"deepgram\"}",
 "GET /v1/projects"]
--- error_code eval
[200, 409, 409, 200]
--- response_body_like eval
[qr/^\{"project_id":"other","source":"db","created":true\}$/,
 qr/^\{"detail":"project \\"support\\" is defined in nginx\.conf","error":"conflict"\}$/,
 qr/^\{"detail":"provider \\"deepgram\\" is defined in nginx\.conf","error":"conflict"\}$/,
 qr/^\{"projects":\[\{"id":"support",[^{}]*"source":"config"\},\{"id":"lab",[^{}]*"source":"config"\},\{"id":"other","name":"other","description":"","daily_budget":0\.0,"budget_action":"warn","default_stack":null,"tags":\["staging"\],"accent":"#f1c40f","source":"db"\}\],/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 74: with a store but no voicegw_secret, an api_key cannot be stored
--- http_config eval
$::Entities . "    voicegw_store logs/t005.db;\n"
--- request
POST /v1/providers
{"provider_id":"cartesia","api_key":"ca-0123456789abcdef"}
--- error_code: 503
--- response_body chomp
{"detail":"no voicegw_secret is configured: provider keys cannot be stored","error":"no_secret"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 75: voicegw_secret of 64 hex digits seals a key
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_store logs/t005.db;
    voicegw_secret html/hex.key;
    voicegw_provider deepgram key=dg-abcdefgh12345678;
--- user_files eval
[["hex.key", $::SecretHex]]
--- request eval
["POST /v1/providers\n{\"provider_id\":\"cartesia\",\"api_key\":\"ca-0123456789abcdef\"}",
 "GET /v1/providers"]
--- error_code eval
[200, 200]
--- response_body eval
["{\"provider_id\":\"cartesia\",\"source\":\"db\",\"api_key_masked\":\"ca-0...cdef\"}",
 "{\"providers\":[{\"provider_id\":\"deepgram\",\"provider_type\":\"deepgram\",\"source\":\"config\",\"api_key_masked\":\"dg-a...5678\",\"base_url\":null},{\"provider_id\":\"cartesia\",\"provider_type\":\"cartesia\",\"source\":\"db\",\"api_key_masked\":\"ca-0...cdef\",\"base_url\":null}]}"]
--- no_error_log
[alert]
[emerg]
ca-0123456789abcdef
[error]



=== TEST 76: voicegw_secret of 32 raw bytes (a final newline is part of the key)
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_store logs/t005.db;
    voicegw_secret html/raw.key;
--- user_files eval
[["raw.key", $::SecretRaw]]
--- request
POST /v1/providers
{"provider_id":"assemblyai","api_key":"aa-0123456789abcdef"}
--- error_code: 200
--- response_body chomp
{"provider_id":"assemblyai","source":"db","api_key_masked":"aa-0...cdef"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 77: voicegw_secret in base64
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_store logs/t005.db;
    voicegw_secret html/b64.key;
--- user_files eval
[["b64.key", $::SecretBase64]]
--- request
POST /v1/providers
{"provider_id":"anthropic","api_key":"sk-ant-0123456789"}
--- error_code: 200
--- response_body chomp
{"provider_id":"anthropic","source":"db","api_key_masked":"sk-a...6789"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 78: with api keys, a write without a token is 401
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"detail":"a valid \"Authorization: Bearer\" token is required","error":"unauthorized"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 79: a write with a read token is 403
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- more_headers
Authorization: Bearer 0123456789abcdef0123
--- error_code: 403
--- response_body chomp
{"detail":"this token does not have the scope this endpoint needs","error":"forbidden"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 80: a write with the write token gets through (404: no such provider)
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- more_headers
Authorization: Bearer fedcba9876543210fedc
--- error_code: 404
--- response_body chomp
{"detail":"no provider \"nope\"","error":"not_found"}
--- no_error_log eval
[qr/^(?!.*http header: "Authorization: Bearer ).*fedcba9876543210fedc/,
 qr/\[error\]/, qr/\[alert\]/, qr/\[emerg\]/]



=== TEST 81: a token without scope= has them all (a validation 400 here)
--- http_config eval
$::Keys
--- request
POST /v1/projects
{"project_id":"Bad"}
--- more_headers
Authorization: Bearer aaaaaaaaaaaaaaaaaaaa
--- error_code: 400
--- response_body chomp
{"detail":"project_id is required and must match [a-z0-9][a-z0-9._-]{0,63}","error":"invalid_id"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 82: the write scope also covers PATCH and DELETE (config provider: 403 read_only, not forbidden)
--- http_config eval
$::Keys
--- request eval
["PATCH /v1/providers/deepgram\n{\"base_url\":\"http://127.0.0.1:9\"}",
 "DELETE /v1/providers/deepgram?confirm=true"]
--- more_headers
Authorization: Bearer fedcba9876543210fedc
--- error_code eval
[403, 403]
--- response_body_like eval
[qr/"error":"read_only"\}$/,
 qr/"error":"read_only"\}$/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 83: a PATCH or DELETE with the read token is forbidden
--- http_config eval
$::Keys
--- request eval
["PATCH /v1/providers/deepgram\n{\"base_url\":\"http://127.0.0.1:9\"}",
 "DELETE /v1/projects/x?confirm=true"]
--- more_headers
Authorization: Bearer 0123456789abcdef0123
--- error_code eval
[403, 403]
--- response_body_like eval
[qr/^\{"detail":"[^"]+","error":"forbidden"\}$/,
 qr/^\{"detail":"[^"]+","error":"forbidden"\}$/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 84: reads need no token by default
--- http_config eval
$::Keys
--- request
GET /v1/providers
--- error_code: 200
--- response_body_like: ^\{"providers":\[\{"provider_id":"deepgram",
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 85: an unknown token is 401; no token in the log but nginx's own debug header dump
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- more_headers
Authorization: Bearer fedcba9876543210fedd
--- error_code: 401
--- response_body chomp
{"detail":"a valid \"Authorization: Bearer\" token is required","error":"unauthorized"}
--- no_error_log eval
[qr/^(?!.*http header: "Authorization: Bearer ).*fedcba9876543210fed/,
 qr/\[error\]/, qr/\[alert\]/, qr/\[emerg\]/]



=== TEST 86: a known token with a suffix is unknown
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- more_headers
Authorization: Bearer fedcba9876543210fedcX
--- error_code: 401
--- response_body_like: "error":"unauthorized"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 87: a prefix of a known token is unknown
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- more_headers
Authorization: Bearer fedcba9876543210
--- error_code: 401
--- response_body_like: "error":"unauthorized"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 88: another scheme than Bearer is 401
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- more_headers
Authorization: Basic ZmVkY2JhOTg3NjU0MzIxMGZlZGM=
--- error_code: 401
--- response_body_like: "error":"unauthorized"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 89: the auth scheme is case-insensitive
--- http_config eval
$::Keys
--- request
POST /v1/providers/nope/test
--- more_headers
Authorization: bearer fedcba9876543210fedc
--- error_code: 404
--- response_body_like: "error":"not_found"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 90: voicegw_api_auth all: a read without a token is 401
--- http_config eval
$::Keys . "    voicegw_api_auth all;\n"
--- request
GET /v1/providers
--- error_code: 401
--- response_body chomp
{"detail":"a valid \"Authorization: Bearer\" token is required","error":"unauthorized"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 91: voicegw_api_auth all: a read with the read token
--- http_config eval
$::Keys . "    voicegw_api_auth all;\n"
--- request
GET /v1/providers
--- more_headers
Authorization: Bearer 0123456789abcdef0123
--- error_code: 200
--- response_body_like: ^\{"providers":\[\{"provider_id":"deepgram","provider_type":"deepgram","source":"config","api_key_masked":"dg-a\.\.\.5678","base_url":null\}\]\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 92: voicegw_api_auth all: the write scope includes reads
--- http_config eval
$::Keys . "    voicegw_api_auth all;\n"
--- request
GET /v1/projects
--- more_headers
Authorization: Bearer fedcba9876543210fedc
--- error_code: 200
--- response_body chomp
{"projects":[],"stats":{}}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 93: voicegw_api_auth all: a read with an unknown token is 401
--- http_config eval
$::Keys . "    voicegw_api_auth all;\n"
--- request
GET /v1/status
--- more_headers
Authorization: Bearer 0123456789abcdef0124
--- error_code: 401
--- response_body_like: "error":"unauthorized"\}$
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 94: voicegw_api_auth writes (the default, spelled out): reads are open
--- http_config eval
$::Keys . "    voicegw_api_auth writes;\n"
--- request
GET /v1/status
--- error_code: 200
--- response_body chomp
{"providers":{"deepgram":{"configured":true,"type":"cloud","provider_type":"deepgram","source":"config"}},"model_count":0,"project_count":0}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 95: voicegw_api_auth all without any voicegw_api_key: the API is open
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_api_auth all;
--- request
POST /v1/providers/nope/test
--- error_code: 404
--- response_body chomp
{"detail":"no provider \"nope\"","error":"not_found"}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 96: the audit log records the key's name= (or key-N) as the actor
--- http_config eval
$::Keys . "    voicegw_store logs/t005.db;\n"
--- request eval
["POST /v1/projects\n{\"project_id\":\"alpha\"}",
 "GET /v1/audit-log"]
--- more_headers
Authorization: Bearer fedcba9876543210fedc
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"project_id":"alpha","source":"db","created":true\}$/,
 qr/^\[\{"id":1,"timestamp":"[^"]+","entity_type":"project","entity_id":"alpha","action":"create","changes":\{"project_id":"alpha"\},"source":"api","actor":"rw"\}\]$/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 97: a key without name= is key-N, N its place among the directives
--- http_config eval
$::Keys . "    voicegw_store logs/t005.db;\n"
--- request eval
["POST /v1/projects\n{\"project_id\":\"beta\"}",
 "GET /v1/audit-log"]
--- more_headers
Authorization: Bearer aaaaaaaaaaaaaaaaaaaa
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"project_id":"beta","source":"db","created":true\}$/,
 qr/^\[\{"id":1,[^{}]*"entity_id":"beta",.*"actor":"key-3"\}\]$/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 98: an empty type= is refused, not taken as the id
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_provider deepgram type= key=dg-abcdefgh12345678;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "type=" in "voicegw_provider" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 99: text of nginx.conf that is not UTF-8 is answered as U+FFFD, in valid JSON
--- http_config
    voicegw_zone vg 1m;
    voicegw_provider_destinations public loopback;
    voicegw_project cafe "name=café À¯ ok";
--- config
    location / { voicegw_api; }
--- request
GET /v1/projects/cafe
--- error_code: 200
--- response_body_like eval
qr/"name":"caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd ok"/
--- no_error_log
[error]
[alert]
[emerg]
