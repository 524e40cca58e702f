package Test::Nginx::Harness::Mock;

# "--- tcp_listen" / "--- udp_listen": a one-shot TCP or UDP server in a
# forked child, started before and killed after every repetition of a
# block.  It reads one query (tcp_query_len bytes, or whatever the first
# read returns), optionally waits, sends the reply and (unless
# tcp_no_close) closes.

use strict;
use warnings;

use POSIX qw(EADDRINUSE);
use Time::HiRes qw(sleep);
use Socket qw(SOCK_STREAM SOCK_DGRAM);
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use File::Temp qw(tempfile);
use Test::More ();

use Test::Nginx::Harness::Settings;
use Test::Nginx::Harness::Server qw(bail_out);
use Test::Nginx::Harness::Checks qw(is_str);

use Exporter 'import';
our @EXPORT_OK = qw(start_mock_servers check_mock_servers stop_mock_servers);

sub temp_file {
    my ($fh, $file) = tempfile('tnginx-queryXXXXXX', TMPDIR => 1, UNLINK => 1);
    close $fh;
    return $file;
}

sub child_setup {
    Test::More->builder->no_ending(1);
    $SIG{INT} = $SIG{TERM} = 'DEFAULT';
}

sub reply_list {
    my ($name, $reply, $query) = @_;
    $reply = $reply->($query) if ref $reply eq 'CODE';
    return () unless defined $reply;
    return @$reply if ref $reply eq 'ARRAY';
    bail_out("$name - bad --- tcp_reply/udp_reply value") if ref $reply;
    return ($reply);
}

sub listen_tcp {
    my ($name, $target) = @_;
    my $err;

    for my $try (1 .. 50) {
        my $sock;
        if ($target =~ /^\d+$/) {
            $sock = IO::Socket::INET->new(
                LocalHost => '127.0.0.1',
                LocalPort => $target,
                Proto     => 'tcp',
                ReuseAddr => 1,
                Listen    => 5,
            );
        } elsif ($target =~ /\S+\.sock$/) {
            unlink $target if -e $target;
            $sock = IO::Socket::UNIX->new(
                Local  => $target,
                Type   => SOCK_STREAM,
                Listen => 5,
            );
        } else {
            bail_out("$name - bad tcp_listen target: $target");
        }

        return $sock if $sock;
        $err = $!;
        last unless $! == EADDRINUSE;
        warn "WARNING: failed to create the tcp listening socket: $err\n" if $try == 1;
        sleep 0.2;
    }

    bail_out("$name - failed to create the tcp listening socket: $err");
}

sub start_tcp {
    my ($block, $name) = @_;
    my $target = $block->tcp_listen;
    my $reply = $block->tcp_reply;

    if (!defined $reply && !defined $block->tcp_shutdown) {
        bail_out("$name - no --- tcp_reply specified but --- tcp_listen is specified");
    }

    my $req_len = $block->tcp_query_len;
    my $qfile;
    if (defined $block->tcp_query || defined $req_len) {
        $req_len = length $block->tcp_query unless defined $req_len;
        $qfile = temp_file();
    }

    my $sock = listen_tcp($name, $target);

    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;

    if ($pid == 0) {
        child_setup();
        my $client;
        until ($client = $sock->accept) {
            sleep $Test::Nginx::Harness::Settings::Sleep;
        }

        my ($no_read, $no_write);
        if (defined(my $how = $block->tcp_shutdown)) {
            sleep $block->tcp_shutdown_delay if $block->tcp_shutdown_delay;
            shutdown $client, $how;
            if ($how == 0 || $how == 2) { $no_read = 1 } else { $no_write = 1 }
        }

        my $buf = '';
        unless ($no_read) {
            while (1) {
                my $n = sysread $client, my $data, 4096;
                last unless $n;
                $buf .= $data;
                if ($qfile && open my $out, '>', $qfile) {
                    binmode $out;
                    print $out $buf;
                    close $out;
                }
                last if !$req_len || length($buf) >= $req_len;
            }
        }

        my $delay = Test::Nginx::Harness::Settings::parse_time(scalar($block->tcp_reply_delay));
        sleep $delay if $delay;

        unless ($no_write) {
            for my $r (reply_list($name, $reply, $buf)) {
                my $off = 0;
                while ($off < length $r) {
                    my $n = syswrite $client, $r, length($r) - $off, $off;
                    if (!defined $n) {
                        warn "WARNING: tcp server failed to send reply: $!\n";
                        last;
                    }
                    $off += $n;
                }
            }
        }

        if (defined $block->tcp_no_close) {
            sleep 1 while 1;
        }

        close $client;
        close $sock;
        POSIX::_exit(0);
    }

    $Test::Nginx::Harness::Server::TcpServerPid = $pid;
    return { sock => $sock, pid => $pid, qfile => $qfile };
}

sub start_udp {
    my ($block, $name) = @_;
    my $target = $block->udp_listen;
    my $reply = $block->udp_reply;

    defined $reply
        or bail_out("$name - no --- udp_reply specified but --- udp_listen is specified");

    my $qfile = defined $block->udp_query ? temp_file() : undef;
    my ($sock, $uds);

    if ($target =~ /^\d+$/) {
        $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $target,
            Proto     => 'udp',
            ReuseAddr => 1,
        ) or bail_out("$name - failed to create the udp listening socket: $!");

    } elsif ($target =~ /\S+\.sock$/) {
        unlink $target if -e $target;
        $sock = IO::Socket::UNIX->new(
            Local => $target,
            Type  => SOCK_DGRAM,
        ) or bail_out("$name - failed to create the udp listening socket: $!");
        $uds = $target;

    } else {
        bail_out("$name - bad udp_listen target: $target");
    }

    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;

    if ($pid == 0) {
        child_setup();
        my $buf = '';
        my $peer = recv $sock, $buf, 65536, 0;
        warn "udp recv failed: $!\n" unless defined $peer;

        if ($qfile && open my $out, '>', $qfile) {
            binmode $out;
            print $out $buf;
            close $out;
        }

        my $delay = Test::Nginx::Harness::Settings::parse_time(scalar($block->udp_reply_delay));
        sleep $delay if $delay;

        if (defined $peer) {
            for my $r (reply_list($name, $reply, $buf)) {
                defined(send $sock, $r, 0, $peer)
                    or warn "$name - WARNING: udp server failed to send reply: $!\n";
            }
        }

        POSIX::_exit(0);
    }

    $Test::Nginx::Harness::Server::UdpServerPid = $pid;
    return { sock => $sock, pid => $pid, qfile => $qfile, uds => $uds };
}

sub start_mock_servers {
    my ($block, $name) = @_;
    my %m;
    $m{tcp} = start_tcp($block, $name) if defined $block->tcp_listen;
    $m{udp} = start_udp($block, $name) if defined $block->udp_listen;
    return \%m;
}

sub read_query {
    my ($file) = @_;
    return '' unless $file;
    open my $in, '<', $file or return '';
    binmode $in;
    local $/;
    my $s = <$in>;
    return defined $s ? $s : '';
}

# the per-repetition subtests of the mock servers
sub check_mock_servers {
    my ($block, $m) = @_;
    my $name = $block->name;

    if (my $t = $m->{tcp}) {
        my $buf = read_query($t->{qfile});
        if (defined $block->tcp_query) {
            is_str($buf, scalar($block->tcp_query), "$name - tcp_query ok");
        }
        if (defined $block->tcp_query_len) {
            Test::More::is(length($buf), scalar($block->tcp_query_len),
                           "$name - TCP query length ok");
        }
    }

    if (my $u = $m->{udp}) {
        if (defined $block->udp_query) {
            is_str(read_query($u->{qfile}), scalar($block->udp_query), "$name - udp_query ok");
        }
    }
}

sub stop_mock_servers {
    my ($m) = @_;
    for my $kind (qw(udp tcp)) {
        my $s = $m->{$kind} or next;
        kill 'KILL', $s->{pid};
        waitpid($s->{pid}, 0);
        close $s->{sock};
        unlink $s->{uds} if $s->{uds};
        unlink $s->{qfile} if $s->{qfile};
    }
    undef $Test::Nginx::Harness::Server::TcpServerPid if $m->{tcp};
    undef $Test::Nginx::Harness::Server::UdpServerPid if $m->{udp};
}

1;
