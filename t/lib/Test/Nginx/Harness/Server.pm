package Test::Nginx::Harness::Server;

# The nginx side of the fallback runner: server root layout, nginx.conf
# generation, $TEST_NGINX_* expansion, starting / reloading / stopping
# nginx (optionally under valgrind), reading the error log incrementally
# and cleaning up on exit or signals.

use strict;
use warnings;

use POSIX qw(WNOHANG SIGQUIT SIGKILL SIGTERM);
use Time::HiRes qw(sleep time);
use File::Path qw(make_path remove_tree);
use File::Find qw(find);
use Config ();
use Test::More ();

use Test::Nginx::Harness::Settings;

use Exporter 'import';
our @EXPORT_OK = qw(
    bail_out expand_env write_config write_user_files setup_server_root
    nginx_version read_pid process_alive stop_process stop_running_nginx
    start_nginx_daemon start_nginx_foreground run_nginx_once
    error_log_lines access_log_lines reset_error_log_pos
    collect_valgrind_reports cleanup can_run
);

our ($ChildPid, $TcpServerPid, $UdpServerPid);   # our forked children
our $ErrLogPos = 0;

sub verbose { warn @_ if $Test::Nginx::Harness::Settings::Verbose }

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# --------------------------------------------------------------------------
# $TEST_NGINX_FOO expansion (unknown variables abort the run, like the real
# scaffold; $TEST_NGINX_RAND_PORT_N yields a free port, stable per block)

sub expand_env {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;

    my %used = ($Test::Nginx::Harness::Settings::Port => 1,
                map { $_ => 1 } values %$rand_ports);

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $val = $rand_ports->{$var};
            if (!defined $val) {
                $val = Test::Nginx::Harness::Settings::free_port(\%used);
                defined $val or bail_out(
                    "$name - Cannot find an available listening port number for $var.\n");
                $rand_ports->{$var} = $val;
                $used{$val} = 1;
            }

        } else {
            defined $ENV{$var}
                or bail_out("$name - No environment $var defined.\n");
            $val = $ENV{$var};
        }
        $val;
    }ge;

    return $text;
}

# --------------------------------------------------------------------------
# server root

sub setup_server_root {
    my ($first_time, $hup) = @_;
    my $root = $Test::Nginx::Harness::Settings::ServRoot;

    if (-d $root) {
        # remove only what we create ourselves, in case TEST_NGINX_SERVROOT
        # points somewhere it should not
        remove_tree($Test::Nginx::Harness::Settings::ConfDir,
                    glob("$root/*_cache"), glob("$root/*_temp"));

        if ($hup) {
            # nginx keeps running: keep its pid file and sockets
            find({ no_chdir => 1, bydepth => 1, wanted => sub {
                return if -d $_;
                return if !$first_time && /(?:\bnginx\.pid|\.sock|\.crt|\.key)$/;
                unlink $_ or warn "Failed to remove $_: $!\n";
            } }, $root);

        } else {
            remove_tree($Test::Nginx::Harness::Settings::HtmlDir,
                        $Test::Nginx::Harness::Settings::LogDir);
            rmdir $root
                or bail_out("Can't remove $root (not empty?): $!");
        }
    }

    for my $dir ($root, $Test::Nginx::Harness::Settings::LogDir,
                 $Test::Nginx::Harness::Settings::HtmlDir,
                 $Test::Nginx::Harness::Settings::ConfDir)
    {
        next if -d $dir;
        make_path($dir) or bail_out("Failed to do mkdir $dir: $!\n");
    }

    my $index = "$Test::Nginx::Harness::Settings::HtmlDir/index.html";
    open my $out, '>', $index or bail_out("Can't open $index for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;

    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname
                   : "$Test::Nginx::Harness::Settings::HtmlDir/$fname";

        if ($path =~ m{^(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }

        $body = expand_env($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;

        if ($date) {
            system("TZ=GMT touch -t '$date' '$path'") == 0
                or bail_out("Failed to set the mtime of $path to $date\n");
        }
    }
}

# --------------------------------------------------------------------------
# nginx.conf

my @TempPathDirectives = qw(client_body_temp_path proxy_temp_path
                            fastcgi_temp_path uwsgi_temp_path
                            scgi_temp_path);

sub write_config {
    my (%a) = @_;
    my ($block, $config, $rand_ports, $hup_version) =
        @a{qw(block config rand_ports hup_version)};
    my $name = $block->name;
    my $root = $Test::Nginx::Harness::Settings::ServRoot;

    # config reloads are only reliable with a master process
    $Test::Nginx::Harness::Settings::Master = 'on' if defined $hup_version;

    my $http_config = expand_env(scalar($block->http_config), $name, $rand_ports);
    $http_config = '' unless defined $http_config;
    if ($Test::Nginx::Harness::Settings::HttpConfigFilter) {
        $http_config = $Test::Nginx::Harness::Settings::HttpConfigFilter->($http_config);
    }
    $config = '' unless defined $config;

    my $main_config = $block->main_config;
    $main_config = '' unless defined $main_config;
    if (my $mods = $Test::Nginx::Harness::Settings::LoadModules) {
        # appended after the block's own main_config, as the real one does
        my @lines = map { "load_module $_;" } grep { length } split /\s+/, $mods;
        $main_config .= join ' ', @lines;
    }
    $main_config = expand_env($main_config, $name, $rand_ports);

    my $post_main_config = expand_env(scalar($block->post_main_config), $name, $rand_ports);
    $post_main_config = '' unless defined $post_main_config;

    my $err_log = $block->error_log_file || $Test::Nginx::Harness::Settings::ErrLogFile;
    my $server_name = $block->server_name;
    $server_name = $Test::Nginx::Harness::Settings::ServerName unless defined $server_name;
    (my $quoted_name = $server_name) =~ s/\\/\\\\/g;
    $quoted_name =~ s/'/\\'/g;

    # extra http{} defaults (ours): keep Debian's compiled-in temp paths
    # (/var/lib/nginx/...) out of the way, unless the block sets them itself
    my $extra_http = '';
    for my $d (@TempPathDirectives) {
        next if $http_config =~ /\b\Q$d\E\b/;
        (my $dir = $d) =~ s/_path$//;
        $extra_http .= "    $d $root/$dir;\n";
    }

    my $postpone = $Test::Nginx::Harness::Settings::PostponeOutput;
    if (defined $postpone && $http_config !~ /\bpostpone_output\b/) {
        $postpone =~ /^\d+$/
            or bail_out("Bad TEST_NGINX_POSTPONE_OUTPUT value: $postpone\n");
        $extra_http .= "    postpone_output $postpone;\n";
    }

    my $listen_opts = $Test::Nginx::Harness::Settings::ReusePort ? ' reuseport' : '';
    my $port = $Test::Nginx::Harness::Settings::Port;
    my $html = $Test::Nginx::Harness::Settings::HtmlDir;

    my $env_lines = '';
    for my $v (@Test::Nginx::Harness::Settings::EnvToNginx) {
        my $x = $v =~ /\s/ ? "'$v'" : $v;
        $env_lines .= "env $x;\n";
    }

    my $conf = <<"_EOC_";
worker_processes  $Test::Nginx::Harness::Settings::Workers;
daemon $Test::Nginx::Harness::Settings::Daemon;
master_process $Test::Nginx::Harness::Settings::Master;
error_log $err_log $Test::Nginx::Harness::Settings::LogLevel;
pid       $Test::Nginx::Harness::Settings::PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
${env_lines}
$main_config

http {
    access_log $Test::Nginx::Harness::Settings::AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;

${extra_http}
$http_config

    server {
        listen          $port$listen_opts;
        server_name     '$quoted_name';

        client_max_body_size 30M;

        # Begin preamble config...
$Test::Nginx::Harness::Settings::ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    if (!$Test::Nginx::Harness::Settings::NoRootLocation) {
        $conf .= <<"_EOC_";
        location / {
            root $html;
            index index.html index.htm;
        }
_EOC_
    }

    $conf .= "    }\n";

    if (defined $hup_version) {
        $conf .= <<"_EOC_";

    server {
        listen          $port$listen_opts;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$hup_version';
        }
    }
_EOC_
    }

    $conf .= <<"_EOC_";
}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $Test::Nginx::Harness::Settings::WorkerConnections;
_EOC_

    if (my $ev = $Test::Nginx::Harness::Settings::EventType) {
        $conf .= "    use $ev;\n";
    }

    $conf .= "}\n";
    $conf .= "env ASAN_OPTIONS;\nenv MOCKNOEAGAIN_VERBOSE;\nenv MOCKNOEAGAIN;\n";

    if (defined(my $u = $Test::Nginx::Harness::Settings::WorkerUser)) {
        $conf .= "user $u;\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    my $file = $Test::Nginx::Harness::Settings::ConfFile;
    open my $out, '>', $file or bail_out("Can't open $file for writing: $!\n");
    print $out $conf;
    close $out;
}

# --------------------------------------------------------------------------
# nginx binary

sub can_run {
    my ($cmd) = @_;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x _) ? $cmd : undef;
    }
    for my $dir (split(/\Q$Config::Config{path_sep}\E/, $ENV{PATH} // ''), '.') {
        next if $dir eq '';
        my $p = "$dir/$cmd";
        return $p if -f $p && -x _;
    }
    return undef;
}

sub canon_version { sprintf "%d.%03d%03d", @_[0 .. 2] }

sub nginx_version {
    my $bin = $Test::Nginx::Harness::Settings::Binary;
    my $out = `$bin -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the Nginx in PATH: " . ($out // ''));
    }

    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)([a-z])?}) {
        $Test::Nginx::Harness::Settings::OpenSSLVersion =
            canon_version($1, $2, $3)
            . (defined $4 ? sprintf("%03d", ord($4) - ord('a')) : '');
    }

    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $Test::Nginx::Harness::Settings::NginxRawVersion = "$1.$2.$3";
        return $Test::Nginx::Harness::Settings::NginxVersion =
            canon_version($1, $2, $3);
    }

    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

# --------------------------------------------------------------------------
# processes

sub read_pid {
    my $file = $Test::Nginx::Harness::Settings::PidFile;
    open my $in, '<', $file or return undef;
    my $pid = do { local $/; <$in> };
    close $in;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)\s*$/;
    return $1;
}

# kill(0) also succeeds on zombies nobody reaps (e.g. under some container
# init processes), so look at the process state too
sub process_alive {
    my ($pid) = @_;
    return 0 unless $pid && kill(0, $pid);
    if (open my $st, '<', "/proc/$pid/stat") {
        my $line = <$st> // '';
        close $st;
        return 0 if $line =~ /^\d+ \(.*\) [ZX] /s;
    }
    return 1;
}

sub reap {
    my ($pid) = @_;
    for my $child (grep { defined } $ChildPid, $TcpServerPid, $UdpServerPid) {
        waitpid($child, WNOHANG) if $child == $pid;
    }
}

# Graceful stop (QUIT) with polling; SIGKILL (the process group when the
# process leads one) once $wait seconds have passed.
sub stop_process {
    my ($pid, $label, $wait) = @_;
    return unless $pid;
    $wait //= $Test::Nginx::Harness::Settings::Timeout;

    verbose("sending QUIT signal to $pid\n");
    kill SIGQUIT, $pid;

    my $deadline = time + $wait;
    my $step = 0.002;
    while (time < $deadline) {
        reap($pid);
        return unless process_alive($pid);
        sleep $step;
        $step *= 1.5;
        $step = 0.05 if $step > 0.05;
    }

    warn "$label - timeout when waiting for the process $pid to exit\n";

    my $pgrp = getpgrp($pid);
    if (defined $pgrp && $pgrp == $pid) {
        kill SIGKILL, -$pid;
    } else {
        kill SIGKILL, $pid;
    }

    for (1 .. 100) {
        reap($pid);
        last unless process_alive($pid);
        sleep 0.01;
    }
}

# stop the nginx of the pid file, if any; returns true if one was running
sub stop_running_nginx {
    my ($label) = @_;
    my $pid = read_pid();

    if ($pid && process_alive($pid)) {
        my $wait = $Test::Nginx::Harness::Settings::Timeout;
        # valgrind's leak check at exit can be slow
        $wait = 60 if defined $ChildPid && $ChildPid == $pid;
        stop_process($pid, $label, $wait);
        if (defined $ChildPid && $ChildPid == $pid) {
            waitpid($ChildPid, 0) if !process_alive($pid);
            undef $ChildPid;
        }
        return 1;
    }

    if (-e $Test::Nginx::Harness::Settings::PidFile) {
        unlink $Test::Nginx::Harness::Settings::PidFile
            or warn "WARNING: failed to remove pid file: $!\n";
    }
    return 0;
}

sub nginx_command {
    my @cmd = ($Test::Nginx::Harness::Settings::Binary,
               '-p', "$Test::Nginx::Harness::Settings::ServRoot/",
               '-c', $Test::Nginx::Harness::Settings::ConfFile);

    # ours: send nginx's own start-up messages (config errors included) to
    # logs/error.log, as nginx builds with a prefix-relative
    # --error-log-path (OpenResty, plain source builds) do; Debian's nginx
    # is built with --error-log-path=stderr.  nginx >= 1.19.5 has -e.
    if (!$Test::Nginx::Harness::Settings::NoStartupLog
        && ($Test::Nginx::Harness::Settings::NginxVersion // 0) >= 1.019005)
    {
        push @cmd, '-e', $Test::Nginx::Harness::Settings::ErrLogFile;
    }

    return @cmd;
}

# Runs nginx (daemon mode) and waits for the command to return.
# Returns the wait status ($?), or -1 if the command could not be run, and
# what nginx printed on stderr (which is passed on to our stderr too).
sub run_nginx_once {
    my @cmd = nginx_command();
    verbose("command: @cmd\n");

    my $errfile = "$Test::Nginx::Harness::Settings::LogDir/.nginx-start.stderr";

    my $pid = fork();
    bail_out("fork() failed: $!") unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $errfile;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }

    waitpid($pid, 0);
    my $status = $?;

    my $err = '';
    if (open my $in, '<', $errfile) {
        local $/;
        $err = <$in> // '';
        close $in;
    }
    unlink $errfile;
    print STDERR $err if length $err;

    $status = -1 if ($status >> 8) == 127 && !can_run($cmd[0]);
    return wantarray ? ($status, $err) : $status;
}

# Waits (polling) until the pid file names a live process.
sub wait_for_pid_file {
    my ($max) = @_;
    my $deadline = time + $max;
    my $step = 0.001;
    while (time < $deadline) {
        my $pid = read_pid();
        return $pid if $pid && process_alive($pid);
        sleep $step;
        $step *= 1.5;
        $step = 0.02 if $step > 0.02;
    }
    return undef;
}

# A start failure that retrying cannot fix: a config error rather than a
# port still held by a previous nginx.
sub hopeless_start_failure {
    my ($stderr) = @_;
    my $text = $stderr // '';
    my $lines = slurp_lines($Test::Nginx::Harness::Settings::ErrLogFile);
    $text .= join '', @$lines if $lines;
    return $text =~ /\[emerg\]/ && $text !~ /Address already in use/;
}

# Start nginx in daemon mode, retrying for up to 30 s like the real one
# (but giving up at once on config errors).  Returns true on success, or
# the "dry run" reason when missing directives are to be ignored.
sub start_nginx_daemon {
    my ($name) = @_;
    my $waited = 0;
    my $i = 0;

    while (1) {
        my ($status, $stderr) = run_nginx_once();
        if ($status == 0) {
            wait_for_pid_file(5)
                or warn "WARNING: $name - nginx started but wrote no pid file\n";
            return 1;
        }

        if ($Test::Nginx::Harness::Settings::IgnoreMissing
            and my $directive = missing_directive())
        {
            return "the lack of directive $directive";
        }

        if ($status == -1 || hopeless_start_failure($stderr)) {
            bail_out("$name - Cannot start nginx using command \""
                     . join(' ', nginx_command()) . "\" (status code $status).");
        }

        $i++;
        my $delay = 0.1 * $i;
        $delay = 1 if $delay > 1;
        sleep $delay;
        $waited += $delay;
        if ($waited >= 30) {
            bail_out("$name - Cannot start nginx using command \""
                     . join(' ', nginx_command()) . "\" (status code $status).");
        }
    }
}

sub missing_directive {
    my $lines = slurp_lines($Test::Nginx::Harness::Settings::ErrLogFile) or return 0;
    for (@$lines) {
        return $1 if /\[emerg\] \S+?: unknown directive "([^"]+)"/;
    }
    return 0;
}

# valgrind mode: nginx runs in the foreground as our child
sub start_nginx_foreground {
    my ($name) = @_;
    my $vg = $Test::Nginx::Harness::Settings::Valgrind;
    my @vg;

    if ($vg =~ /^\d+$/) {
        @vg = ('valgrind', '--num-callers=100', '-q', '--tool=memcheck',
               '--leak-check=full', '--show-possibly-lost=no',
               '--keep-debuginfo=yes',
               '--gen-suppressions=all');
        push @vg, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';

    } else {
        @vg = ('valgrind', '-q', split(' ', $vg));
    }

    # ours: one report file per process, collected after the block
    if (!grep { /^--log-(?:file|fd|socket)=/ } @vg) {
        splice @vg, 1, 0,
            "--log-file=$Test::Nginx::Harness::Settings::LogDir/valgrind.%p.log";
    }

    my @cmd = (@vg, nginx_command());
    warn "$name\n";
    verbose("command: @cmd\n");

    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;

    if ($pid == 0) {
        setpgrp(0, 0);
        open STDOUT, '>', '/dev/null';
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        warn "cannot run valgrind: $!\n";
        POSIX::_exit(127);
    }

    $ChildPid = $pid;
    sleep $Test::Nginx::Harness::Settings::Sleep;
}

# Copies the non-empty valgrind.*.log reports of the server root to stderr
# and, when TEST_NGINX_VALGRIND_REPORT is set, appends them to that file.
sub collect_valgrind_reports {
    my ($name) = @_;
    my @files = sort glob("$Test::Nginx::Harness::Settings::LogDir/valgrind.*.log");

    for my $f (@files) {
        my $text = do { local $/; open my $in, '<', $f or next; <$in> };
        unlink $f;
        next unless defined $text && $text =~ /\S/;

        my ($pid) = $f =~ /valgrind\.(\d+)\.log$/;
        $pid //= '?';
        my $head = "==== valgrind report: $0 :: $name (pid $pid)\n";
        print STDERR $head, $text;

        if (my $report = $Test::Nginx::Harness::Settings::ValgrindReport) {
            if (open my $out, '>>', $report) {
                print $out $head, $text, ($text =~ /\n\z/ ? '' : "\n");
                close $out;
            } else {
                warn "WARNING: cannot append to $report: $!\n";
            }
        }
    }
}

# --------------------------------------------------------------------------
# logs

sub slurp_lines {
    my ($file, $pos) = @_;
    open my $in, '<', $file or return undef;
    seek $in, $pos, 0 if $pos;
    my @lines = <$in>;
    my $end = tell $in;
    close $in;
    return wantarray ? (\@lines, $end) : \@lines;
}

sub reset_error_log_pos { $ErrLogPos = 0 }

# error.log lines written since the previous call (all of them with
# check_accum_error_log); sleeps a little first for log-phase messages
sub error_log_lines {
    sleep $Test::Nginx::Harness::Settings::Sleep * 3;

    my $accum = $Test::Nginx::Harness::Settings::CheckAccumErrLog;
    my ($lines, $end) = slurp_lines($Test::Nginx::Harness::Settings::ErrLogFile,
                                    $accum ? 0 : $ErrLogPos);
    return undef unless $lines;
    $ErrLogPos = $end unless $accum;
    return $lines;
}

sub access_log_lines {
    sleep $Test::Nginx::Harness::Settings::Sleep * 3;
    my $lines = slurp_lines($Test::Nginx::Harness::Settings::AccLogFile);
    defined $lines or die "open $Test::Nginx::Harness::Settings::AccLogFile failed: $!";
    return $lines;
}

# --------------------------------------------------------------------------
# cleanup

sub cleanup {
    for my $h (@Test::Nginx::Harness::Settings::CleanupHandlers) {
        eval { $h->() };
        warn $@ if $@;
    }

    for my $ref (\$UdpServerPid, \$TcpServerPid) {
        if (defined $$ref) {
            kill SIGKILL, $$ref;
            waitpid($$ref, 0);
            undef $$ref;
        }
    }

    if (defined $ChildPid) {
        stop_process($ChildPid, 'cleanup', 60);
        waitpid($ChildPid, WNOHANG);
        undef $ChildPid;
    }
}

1;
