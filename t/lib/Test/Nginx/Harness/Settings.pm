package Test::Nginx::Harness::Settings;

# Global knobs of the ngx_voicegw fallback test runner.
#
# Every value here is read once, when the module is loaded, from the
# TEST_NGINX_* environment (same names and defaults as OpenResty's
# Test::Nginx), and may then be changed by the Perl functions exported by
# Test::Nginx::Socket (repeat_each(), workers(), master_on(), ...).

use strict;
use warnings;

use File::Spec ();
use IO::Socket::INET ();

# the pid of the test script itself; forked helpers must never run our
# END-time cleanup
our $MainPid = $$;

our $Verbose          = $ENV{TEST_NGINX_VERBOSE};
our $Binary           = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules      = $ENV{TEST_NGINX_LOAD_MODULES};
our $Workers          = 1;
our $WorkerConnections = 64;
our $LogLevel         = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $Master           = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Daemon           = 'on';
our $Timeout          = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep            = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $RepeatEach       = 1;
our $NoShuffle        = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation   = 0;
our $NoLongString;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $UseHup           = $ENV{TEST_NGINX_USE_HUP};
our $Valgrind         = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindReport   = $ENV{TEST_NGINX_VALGRIND_REPORT};
our $NoClean          = $ENV{TEST_NGINX_NO_CLEAN};
our $NoNginxManager   = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $ForceRestart     = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                        ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $EventType        = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput   = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $ReusePort        = $ENV{TEST_NGINX_REUSE_PORT};
our $Randomize        = $ENV{TEST_NGINX_RANDOMIZE};
our $IgnoreMissing    = $ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES};
our $TotalErrLog      = $ENV{TEST_NGINX_ERROR_LOG};
our $WorkerUser       = $ENV{TEST_NGINX_WORKER_USER};

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

# ours only: set TEST_NGINX_NO_STARTUP_LOG=1 to start nginx without
# "-e logs/error.log" (see docs/testing.md)
our $NoStartupLog     = $ENV{TEST_NGINX_NO_STARTUP_LOG};

our $ServerAddr       = '127.0.0.1';
our $ServerName       = 'localhost';
our $ConfigPreamble   = '';

our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers,
     @ResponseBodyChecks);
our $HttpConfigFilter;

# filled in by Test::Nginx::Harness::Server::nginx_version()
our ($NginxVersion, $NginxRawVersion, $OpenSSLVersion);

# nginx cannot be both valgrind'ed and daemonized: it runs in the
# foreground as our child (the master_process setting is left alone)
if ($Valgrind) {
    $Daemon = 'off';
}

# Returns a TCP port on $ServerAddr nobody listens on, avoiding the ports
# in %$used.  Same range as the real scaffold: 1985 .. 65534.
sub free_port {
    my ($used) = @_;
    $used ||= {};

    for (1 .. 1000) {
        my $port = 1985 + int rand 63550;
        next if $used->{$port};

        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => $port,
            Proto     => 'tcp',
        );

        if ($sock) {
            close $sock;
            return $port;
        }
    }

    return undef;
}

our $Port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ClientPort = $ENV{TEST_NGINX_CLIENT_PORT} || $Port;

our $ServRoot;

if ($Randomize) {
    $Port = free_port()
        or die "Cannot find an available listening port number.\n";
    $ClientPort = $Port;
    $ServRoot = File::Spec->rel2abs("t/servroot_$Port");

} else {
    $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
}

$ServRoot =~ s{/+$}{} if $ServRoot ne '/';

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

# "50ms" / "1.5s" / "2" => seconds
sub parse_time {
    my ($t) = @_;
    return undef unless defined $t;
    if ($t =~ /^\s*([\d.]+)\s*ms\s*$/) {
        return $1 / 1000;
    }
    if ($t =~ /^\s*([\d.]+)\s*s?\s*$/) {
        return $1;
    }
    return $t;
}

1;
