package Test::Nginx::Socket;

# ngx_voicegw's own stand-in for OpenResty's Test::Nginx::Socket.
#
# It is put on PERL5LIB only when the real module is not installed, and
# runs the same t/*.t files with the same semantics (sections, defaults,
# number of subtests).  See docs/testing.md for what is supported.

use strict;
use warnings;

use Test::Base -base;

use POSIX ();
use List::Util qw(shuffle);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);
use HTTP::Response ();
use File::Path ();
use Carp ();

use Test::Nginx::Harness::Settings;
use Test::Nginx::Harness::Server qw(
    bail_out expand_env write_config write_user_files setup_server_root
    nginx_version read_pid process_alive stop_running_nginx
    start_nginx_daemon start_nginx_foreground run_nginx_once
    reset_error_log_pos collect_valgrind_reports cleanup can_run
);
use Test::Nginx::Harness::Client qw(requests_for_block send_request
                                    parse_response simple_get);
use Test::Nginx::Harness::Checks qw(
    is_str check_error_code check_raw_response_headers check_response_headers
    transform_response_body check_response_body check_error_log
    check_access_log check_shutdown_error_log
);
use Test::Nginx::Harness::Mock qw(start_mock_servers check_mock_servers
                                  stop_mock_servers);

our $VERSION = '0.29';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test
    repeat_each config_preamble worker_connections
    master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location use_hup
    server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler
    add_response_body_check
);

# ---------------------------------------------------------------------------
# knobs (called from the test file before run_tests)


sub repeat_each (@) {
    $Test::Nginx::Harness::Settings::RepeatEach = shift if @_;
    return $Test::Nginx::Harness::Settings::RepeatEach;
}

sub workers (@) {
    return $Test::Nginx::Harness::Settings::Workers unless @_;
    $Test::Nginx::Harness::Settings::Workers = shift;
}

sub worker_connections (@) {
    return $Test::Nginx::Harness::Settings::WorkerConnections unless @_;
    $Test::Nginx::Harness::Settings::WorkerConnections = shift;
}

sub log_level (@) {
    return $Test::Nginx::Harness::Settings::LogLevel unless @_;
    $Test::Nginx::Harness::Settings::LogLevel = shift;
}

sub master_on ()  { $Test::Nginx::Harness::Settings::Master = 'on' }
sub master_off () { $Test::Nginx::Harness::Settings::Master = 'off' }

sub master_process_enabled (@) {
    return $Test::Nginx::Harness::Settings::Master unless @_;
    $Test::Nginx::Harness::Settings::Master = shift() ? 'on' : 'off';
}

sub no_shuffle ()            { $Test::Nginx::Harness::Settings::NoShuffle = 1 }
sub no_root_location ()      { $Test::Nginx::Harness::Settings::NoRootLocation = 1 }
sub no_long_string ()        { $Test::Nginx::Harness::Settings::NoLongString = 1 }
sub check_accum_error_log () { $Test::Nginx::Harness::Settings::CheckAccumErrLog = 1 }
sub use_hup ()               { $Test::Nginx::Harness::Settings::UseHup = 1 }
sub no_nginx_manager ()      { $Test::Nginx::Harness::Settings::NoNginxManager = 1 }
sub config_preamble ($)      { $Test::Nginx::Harness::Settings::ConfigPreamble = shift }

sub timeout (@) {
    return $Test::Nginx::Harness::Settings::Timeout unless @_;
    $Test::Nginx::Harness::Settings::Timeout = shift;
}

sub server_addr (@) {
    return $Test::Nginx::Harness::Settings::ServerAddr unless @_;
    $Test::Nginx::Harness::Settings::ServerAddr = shift;
}

sub server_name (@) {
    return $Test::Nginx::Harness::Settings::ServerName unless @_;
    $Test::Nginx::Harness::Settings::ServerName = shift;
}

sub server_port (@) {
    return $Test::Nginx::Harness::Settings::Port unless @_;
    $Test::Nginx::Harness::Settings::Port = shift;
}

sub server_port_for_client (@) {
    return $Test::Nginx::Harness::Settings::ClientPort unless @_;
    $Test::Nginx::Harness::Settings::ClientPort = shift;
}

sub server_root () { $Test::Nginx::Harness::Settings::ServRoot }
sub html_dir ()    { $Test::Nginx::Harness::Settings::HtmlDir }

sub env_to_nginx (@) {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v\n")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @Test::Nginx::Harness::Settings::EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) {
    unshift @Test::Nginx::Harness::Settings::BlockPreprocessors, shift;
}

sub add_cleanup_handler ($) {
    unshift @Test::Nginx::Harness::Settings::CleanupHandlers, shift;
}

sub add_response_body_check ($) {
    push @Test::Nginx::Harness::Settings::ResponseBodyChecks, shift;
}

sub set_http_config_filter ($) {
    $Test::Nginx::Harness::Settings::HttpConfigFilter = shift;
}

# ---------------------------------------------------------------------------
# running the blocks

our ($PrevConfig, $PrevBlock);
our $FirstTime = 1;
my $Running;

sub install_signal_handlers {
    for my $sig (qw(INT TERM)) {
        $SIG{$sig} = sub {
            warn "\ncaught SIG$sig, stopping nginx...\n";
            exit(128 + ($sig eq 'INT' ? 2 : 15));
        };
    }
}

sub run_tests () {
    nginx_version();

    $ENV{TEST_NGINX_SERVER_PORT} = $Test::Nginx::Harness::Settings::Port
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    install_signal_handlers();
    $Running = 1;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $Test::Nginx::Harness::Settings::NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @Test::Nginx::Harness::Settings::BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $PrevBlock = $block;
    }

    cleanup();
}

sub rand_str {
    my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '#', '@', '-', '_', '^');
    return join '', map { $c[int rand @c] } 1 .. shift;
}

my %VersionOps = (
    '<'  => sub { $_[0] <  $_[1] },
    '<=' => sub { $_[0] <= $_[1] },
    '>'  => sub { $_[0] >  $_[1] },
    '>=' => sub { $_[0] >= $_[1] },
);

sub version_matches {
    my ($have, $op, @v) = @_;
    return $op =~ /^</ ? 1 : 0 unless defined $have;
    return $VersionOps{$op}->($have, Test::Nginx::Harness::Server::canon_version(@v));
}

# skip_eval / skip_nginx / skip_nginx2 / skip_openssl / todo sections
sub skip_and_todo {
    my ($block) = @_;
    my $name = $block->name;
    my %r;

    if (defined(my $s = $block->skip_eval)) {
        if ($s =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $r{count} = $1;
            $r{reason} = 'skip_eval';
            $r{skip} = eval $2;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$2\": $@") if $@;
        }
    }

    if (defined(my $s = $block->skip_nginx)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $s");
        $r{count} = $1;
        $r{reason} = $6 || "nginx version $2 $3.$4.$5";
        $r{skip} = 1 if version_matches($Test::Nginx::Harness::Settings::NginxVersion, $2, $3, $4, $5);

    } elsif (defined(my $s2 = $block->skip_nginx2)) {
        $s2 =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(or|and)\s*
                ([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/x
            or bail_out("$name - Invalid --- skip_nginx2 spec: $s2");
        $r{count} = $1;
        $r{reason} = $11;
        my $a = version_matches($Test::Nginx::Harness::Settings::NginxVersion, $2, $3, $4, $5);
        my $b = version_matches($Test::Nginx::Harness::Settings::NginxVersion, $7, $8, $9, $10);
        $r{skip} = 1 if !defined $Test::Nginx::Harness::Settings::NginxVersion
                        || ($6 eq 'or' ? ($a || $b) : ($a && $b));
    }

    if (defined(my $s = $block->skip_openssl)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)([a-z])?(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_openssl spec: $s");
        $r{count} = $1;
        my ($op, @v) = ($2, $3, $4, $5);
        my $letter = $6;
        $r{reason} = $7 || (defined $Test::Nginx::Harness::Settings::OpenSSLVersion
                            ? "OpenSSL version $op $v[0].$v[1].$v[2]" . ($letter // '')
                            : "Not built with OpenSSL");
        my $want = Test::Nginx::Harness::Server::canon_version(@v)
                   . (defined $letter ? sprintf("%03d", ord($letter) - ord('a')) : '');
        $r{skip} = 1 if !defined $Test::Nginx::Harness::Settings::OpenSSLVersion
                        || $VersionOps{$op}->($Test::Nginx::Harness::Settings::OpenSSLVersion, $want);
    }

    $r{reason} //= 'various reasons';

    if (defined(my $t = $block->todo_nginx)) {
        $t =~ /^\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- todo_nginx spec: $t");
        $r{todo_reason} = $5;
        $r{todo} = 1 if version_matches($Test::Nginx::Harness::Settings::NginxVersion, $1, $2, $3, $4);
    }

    if (defined(my $t = $block->todo)) {
        $t =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $t");
        $r{todo} = 1;
        $r{count} = $1;
        $r{todo_reason} = $2;
    }

    $r{todo_reason} //= 'various reasons';
    return \%r;
}

sub check_prev_block_shutdown_error_log {
    my $block = $PrevBlock or return;
    return unless defined $block->shutdown_error_log;
    my $dry_run = ($Test::Nginx::Harness::Settings::UseHup || $ENV{TEST_NGINX_NO_CLEAN}) ? 1 : 0;
    check_shutdown_error_log($block, $dry_run);
}

sub wait_config_version {
    my ($name, $want) = @_;
    my $ok = 0;
    for my $try (1 .. 200) {
        my $got = simple_get('Test-Nginx', '/ver', 2);
        if (defined $got && $got eq $want) {
            return if ++$ok >= 10;
            next;
        }
        $ok = 0;
        my $wait = ($Test::Nginx::Harness::Settings::Sleep + $Test::Nginx::Harness::Settings::Sleep * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        warn "$name - waiting $wait sec for nginx to reload the configuration\n"
            if $wait > 0.5;
        sleep $wait;
    }
    Test::More->builder->no_ending(1);
    Test::More::fail("$name - failed to reload configuration after 200 failed test requests");
}

# TEST_NGINX_USE_HUP: reload the running nginx instead of restarting it
sub reload_nginx {
    my ($block, $config, $rand_ports, $pid, $version) = @_;
    my $name = $block->name;

    setup_server_root(0, 1);
    write_user_files($block, $rand_ports);
    write_config(block => $block, config => $config, rand_ports => $rand_ports,
                 hup_version => $version);

    kill('USR1', $pid) or do { warn "$name - Failed to send USR1 signal\n"; return 0 };
    sleep $Test::Nginx::Harness::Settings::Sleep;
    kill('HUP', $pid) or do { warn "$name - Failed to send HUP signal\n"; return 0 };
    sleep $Test::Nginx::Harness::Settings::Sleep * 3;

    warn "$name\n" if $Test::Nginx::Harness::Settings::Valgrind;

    if (defined $block->reload_fails) {
        sleep 0.3;
    } else {
        wait_config_version($name, $version);
    }

    check_prev_block_shutdown_error_log();
    return 1;
}

sub stop_nginx_and_collect {
    my ($label) = @_;
    my $was_child = defined $Test::Nginx::Harness::Server::ChildPid;
    stop_running_nginx($label);

    # a foreground (valgrind) nginx that never wrote its pid file
    if (defined(my $child = $Test::Nginx::Harness::Server::ChildPid)) {
        Test::Nginx::Harness::Server::stop_process($child, $label, 60);
        waitpid($child, 0) unless process_alive($child);
        undef $Test::Nginx::Harness::Server::ChildPid;
    }

    collect_valgrind_reports($label) if $was_child || $Test::Nginx::Harness::Settings::Valgrind;
}

sub run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;

    reset_error_log_pos();

    for my $i (0 .. $Test::Nginx::Harness::Settings::RepeatEach - 1) {
        my $status = run_nginx_once();

        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($status & 127) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $status >> 8,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        check_error_log($block, undef, 0, $i, 0);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
            for (1 .. 100) {
                last if read_pid();
                sleep 0.01;
            }
            stop_running_nginx($name);
        }
    }
}

sub run_test ($) {
    my ($block) = @_;
    return if defined $block->SKIP;

    my $name = $block->name;
    my $first_time = $FirstTime;
    $FirstTime = 0;

    my $rand_ports = {};
    my $config = expand_env(scalar($block->config), $name, $rand_ports);

    my $must_die = $block->must_die;

    local $Test::Nginx::Harness::Settings::LogLevel = $block->log_level || $Test::Nginx::Harness::Settings::LogLevel;
    local $Test::Nginx::Harness::Settings::Valgrind = defined $must_die ? undef : $Test::Nginx::Harness::Settings::Valgrind;
    local $Test::Nginx::Harness::Settings::UseHup = defined $must_die ? undef : $Test::Nginx::Harness::Settings::UseHup;
    local $Test::Nginx::Harness::Settings::Daemon = defined $must_die ? 'on' : $Test::Nginx::Harness::Settings::Daemon;

    my ($should_restart, $should_reconfig) = (1, 1);

    if (!defined $config) {
        if (!$Test::Nginx::Harness::Settings::NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could not "
                     . "get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        ($should_restart, $should_reconfig) = (0, 0);

    } elsif ($Test::Nginx::Harness::Settings::NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
        ($should_restart, $should_reconfig) = (0, 0);

    } else {
        $should_reconfig = !defined $PrevConfig || $config ne $PrevConfig;
        $should_restart = $should_reconfig || $Test::Nginx::Harness::Settings::ForceRestart;
    }

    my $st = skip_and_todo($block);
    my $dry_run = 0;

    if (!$Test::Nginx::Harness::Settings::NoNginxManager && !$st->{skip} && $should_restart) {
        $PrevConfig = $config if $should_reconfig;

        my $version = $Test::Nginx::Harness::Settings::UseHup ? rand_str(10) : undef;
        my $reloaded = 0;
        my $pid = read_pid();

        if ($pid && process_alive($pid)) {
            if ($Test::Nginx::Harness::Settings::UseHup && !$first_time) {
                $reloaded = reload_nginx($block, $config, $rand_ports, $pid, $version);
            }
            stop_nginx_and_collect($name) unless $reloaded;

        } elsif (-e $Test::Nginx::Harness::Settings::PidFile) {
            unlink $Test::Nginx::Harness::Settings::PidFile;
        }

        if (!$reloaded) {
            check_prev_block_shutdown_error_log();

            setup_server_root($first_time, $Test::Nginx::Harness::Settings::UseHup);
            write_user_files($block, $rand_ports);
            write_config(block => $block, config => $config,
                         rand_ports => $rand_ports, hup_version => $version);

            can_run($Test::Nginx::Harness::Settings::Binary)
                or bail_out("$name - Cannot find the nginx executable in the PATH environment");

            if (defined $must_die) {
                run_must_die($block, $must_die);
                return;
            }

            if ($Test::Nginx::Harness::Settings::Valgrind) {
                start_nginx_foreground($name);
            } else {
                my $r = start_nginx_daemon($name);
                $dry_run = $r unless $r eq '1';
            }
        }
    }

    if (scalar($block->init)) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    reset_error_log_pos();

    for my $i (1 .. $Test::Nginx::Harness::Settings::RepeatEach) {
        my $mocks = start_mock_servers($block, $name);

        write_user_files($block, $rand_ports) if $i > 1;

        if ($st->{skip} && defined $st->{count}) {
          SKIP: {
                Test::More::skip("$name - $st->{reason}", $st->{count});
                run_requests($block, $dry_run, $i - 1);
                check_mock_servers($block, $mocks);
            }

        } elsif ($st->{todo}) {
          TODO: {
                Test::More::todo_skip("$name - $st->{todo_reason}", $st->{count});
                run_requests($block, $dry_run, $i - 1);
                check_mock_servers($block, $mocks);
            }

        } else {
            run_requests($block, $dry_run, $i - 1);
            check_mock_servers($block, $mocks);
        }

        stop_mock_servers($mocks);
    }

    if (my $total = $Test::Nginx::Harness::Settings::TotalErrLog) {
        if (-s $Test::Nginx::Harness::Settings::ErrLogFile) {
            open my $out, '>>', $total
                or bail_out("Failed to append test case title to $total: $!\n");
            print $out "\n=== $0 $name\n";
            open my $in, '<', $Test::Nginx::Harness::Settings::ErrLogFile;
            print $out $_ while <$in>;
            close $in;
            close $out;
        }
    }

    # under valgrind nginx is stopped after every block so that its
    # memcheck report belongs to this block
    if ($Test::Nginx::Harness::Settings::Valgrind && !$Test::Nginx::Harness::Settings::UseHup) {
        stop_nginx_and_collect($name);
    }
}

# One repetition of a block: send every request, check every response.
sub run_requests {
    my ($block, $dry_run, $rep_idx) = @_;
    my $name = $block->name;

    my $reqs = requests_for_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = Test::Nginx::Harness::Settings::parse_time(scalar($block->timeout));
    $timeout = $Test::Nginx::Harness::Settings::Timeout unless defined $timeout;

    my $pipelined = $block->pipelined_requests;
    my $ignore = defined $block->ignore_response;
    my ($res, $need_array);
    my $req_idx = 0;

    for my $req (@$reqs) {
        my ($raw, $is_head);
        if ($dry_run) {
            $raw = "200 OK HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw, $is_head) = send_request($block, $req, $timeout);
        }

        my $n = 0;
        if ($pipelined) {
            $n = @$pipelined;
            $need_array = 1;
        } else {
            $need_array = @$reqs > 1 ? 1 : 0;
        }

        while (1) {
            $raw = '' unless defined $raw;
            my ($raw_headers, $left);

            if (!$ignore) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw, $is_head);
                }
            }

            if (!$n) {
                if ($left) {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/ge;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in "
                       . "response: \"$l\"\n";
                }
            } else {
                $raw = $left;
                $n--;
            }

            if (!$ignore) {
                check_error_code($block, $res, $dry_run, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx, $rep_idx, $need_array);
            }

            if ($n || $req_idx < @$reqs - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $dry_run, $rep_idx, $need_array);
                check_access_log($block, $dry_run, $rep_idx) unless $ignore;
            }

            $req_idx++;
            last unless $n;
        }
    }

    sleep $block->wait if $block->wait;

    if ($block->{stap}) {
      SKIP: {
            Test::More::skip("$name - stap_out - tests skipped due to env "
                             . "TEST_NGINX_USE_STAP is not set", 1);
        }
    }

    check_error_log($block, $res, $dry_run, $rep_idx, $need_array);
    check_access_log($block, $dry_run, $rep_idx) unless $ignore;
}

END {
    if ($$ == $Test::Nginx::Harness::Settings::MainPid) {
        local $?;

        if ($Test::Nginx::Harness::Settings::Valgrind && defined $Test::Nginx::Harness::Server::ChildPid) {
            stop_nginx_and_collect($PrevBlock ? $PrevBlock->name : 'END');
        }

        cleanup();

        if ($Running && ($Test::Nginx::Harness::Settings::Valgrind || !$Test::Nginx::Harness::Settings::NoClean)) {
            stop_running_nginx('END');
        }

        check_prev_block_shutdown_error_log() if $Running;

        if ($Test::Nginx::Harness::Settings::Randomize && -d $Test::Nginx::Harness::Settings::ServRoot && $Test::Nginx::Harness::Settings::ServRoot =~ m{/t/servroot_\d+$}) {
            File::Path::remove_tree($Test::Nginx::Harness::Settings::ServRoot);
        }
    }
}

1;
