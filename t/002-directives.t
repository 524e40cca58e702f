# "nginx -t" catches every bad directive of the module, naming the file
# and the line; none of these configurations starts.

use Test::Nginx::Socket 'no_plan';

master_on();
no_root_location();
no_shuffle();

# an SQLite database whose schema version is from the future
our $FutureDb = do {
    my $f = "/tmp/voicegw-t002-future.$$.db";
    unlink $f;
    system("sqlite3", $f, "PRAGMA user_version = 999;") == 0
        or die "sqlite3 failed";
    open my $in, '<:raw', $f or die "$f: $!";
    local $/;
    my $bytes = <$in>;
    close $in;
    unlink $f;
    $bytes;
};

run_tests();

__DATA__

=== TEST 1: a valid configuration starts (the control case)
--- http_config
    voicegw_zone   vg 1m;
    voicegw_store  logs/ok.db flush=100ms retention=7d;
    voicegw_eta    chat=10 half_duplex=100.5 alpha=1 min_samples=1;
--- config
    location / { voicegw_api; voicegw_api_body_limit 64k; }
--- request
GET /health
--- error_code: 200
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 2: zone size is not a size
--- http_config
    voicegw_zone vg abc;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid zone size "abc" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 3: zone too small
--- http_config
    voicegw_zone vg 4k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*zone "vg" is too small in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 4: zone declared twice
--- http_config
    voicegw_zone vg 1m;
    voicegw_zone vg2 1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_zone" directive is duplicate in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 5: zone outside http{}
--- http_config
--- config
    voicegw_zone vg 1m;
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_zone" directive is not allowed here in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 6: zone with a missing argument
--- http_config
    voicegw_zone vg;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "voicegw_zone" directive in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 7: voicegw_api needs a zone
--- http_config
--- config
    location /api { voicegw_api; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_api" needs a "voicegw_zone" in http\{\} in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 8: voicegw_api takes service and voicegateway only
--- http_config
    voicegw_zone vg 1m;
--- config
    location /api { voicegw_api on; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "on" in "voicegw_api": use service or voicegateway in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 9: voicegw_api only in a location
--- http_config
    voicegw_zone vg 1m;
    voicegw_api;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_api" directive is not allowed here in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 10: body limit is not a size
--- http_config
    voicegw_zone vg 1m;
--- config
    location /api { voicegw_api; voicegw_api_body_limit lots; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_api_body_limit" directive invalid value in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 11: store with an unknown parameter
--- http_config
    voicegw_store logs/x.db fast=yes;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "fast=yes" in "voicegw_store" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 12: store flush is not a time
--- http_config
    voicegw_store logs/x.db flush=soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "flush=soon" in "voicegw_store" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 13: store declared twice
--- http_config
    voicegw_store logs/x.db;
    voicegw_store logs/y.db;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"voicegw_store" directive is duplicate in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 14: store on a file that is not a database: SQLite's reason
--- http_config
    voicegw_store html/garbage.db;
--- config
--- user_files
>>> garbage.db
this is not an SQLite database, just some text that is long enough
to fill the header of one: 0123456789012345678901234567890123456789
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_store: cannot use "\S+html\/garbage\.db": journal_mode: file is not a database in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 15: store under a path whose parent is a file
--- http_config
    voicegw_store conf/nginx.conf/vg.db;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_store: "\S+conf\/nginx\.conf" is not a directory in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 16: store on a path that is a directory
--- http_config
    voicegw_store html/;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_store: "\S+html\/" names a directory, not a database file in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 17: store on an existing directory's name
--- http_config
    voicegw_store html;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_store: cannot open "\S+html": unable to open database file in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 18: store refuses a database from a newer module
--- http_config
    voicegw_store html/future.db;
--- config
--- user_files eval
[["future.db", $::FutureDb]]
--- must_die
--- error_log eval
qr/\[emerg\] .*voicegw_store: cannot use "\S+future\.db": schema version 999 is newer than this module knows \(\d+\) in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 19: eta with an unknown task type
--- http_config
    voicegw_eta chat=15 video=30;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "video=30" in "voicegw_eta" in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 20: eta alpha out of range
--- http_config
    voicegw_eta alpha=1.5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "alpha=1.5" in "voicegw_eta": alpha must be a number in \(0, 1\] in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 21: eta min_samples not an integer
--- http_config
    voicegw_eta min_samples=2.5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "min_samples=2.5" in "voicegw_eta": min_samples must be an integer of at least 1 in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 22: eta duration not a number
--- http_config
    voicegw_eta chat=fast;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "chat=fast" in "voicegw_eta": chat is not a number in \S+nginx\.conf:\d+/
--- no_error_log
[alert]



=== TEST 23: eta duration must be positive
--- http_config
    voicegw_eta omni_duplex=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "omni_duplex=0" in "voicegw_eta": omni_duplex must be a positive number of seconds/
--- no_error_log
[alert]



=== TEST 24: eta "inf" is not a number
--- http_config
    voicegw_eta chat=inf;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "chat=inf" in "voicegw_eta": chat is not a number/
--- no_error_log
[alert]
