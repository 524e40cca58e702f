package Test::Nginx::Harness::Client;

# The HTTP client side of the fallback runner: turns the request sections
# of a block into lists of packets, sends them over non-blocking sockets
# and parses what comes back.

use strict;
use warnings;

use POSIX qw(EAGAIN EINTR WNOHANG);
use Time::HiRes qw(sleep);
use IO::Socket::INET ();
use IO::Select ();
use HTTP::Response ();
use Test::More ();

use Test::Nginx::Harness::Settings;
use Test::Nginx::Harness::Server qw(bail_out);

use Exporter 'import';
our @EXPORT_OK = qw(requests_for_block send_request parse_response
                    simple_get);

our $TotalConnectFailures = 0;

sub no_ending { Test::More->builder->no_ending(1) }

# "--- more_headers" text => ("Key: value\r\n"..., is_chunked)
sub parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val = '' unless defined $val;
        $chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

sub headers_for {
    my ($name, $more, $idx) = @_;
    if (ref $more eq 'ARRAY') {
        my $h = $more->[$idx];
        defined $h or bail_out("--- more_headers lacks data for the ${idx}th request");
        return parse_more_headers($h);
    }
    return parse_more_headers($more);
}

# Turns "METHOD [URI [VERSION]]\n[body]" (possibly split into packets) into
# a full HTTP request: Host and Connection headers unless given in
# more_headers, Content-Length for a non-chunked body (which is then
# trimmed).  Returns the packets of the result, cut at the places the
# input packets were cut.
sub build_request {
    my ($name, $packets, $hdr, $chunked, $conn, $body) = @_;

    my $whole = join '', map { defined $_ ? $_ : '' } @$packets;
    my $nl = index $whole, "\n";
    my $first_len = $nl < 0 ? length $whole : $nl + 1;
    my $first = substr $whole, 0, $first_len;
    my $content = substr $whole, $first_len;

    if ($first eq '') {
        bail_out("$name - Request line should be non-empty");
    }

    (my $line = $first) =~ s/\s+\z//;
    my $lead = $line =~ s/\A(\s*)// ? length $1 : 0;
    my @tok = split / +/, $line;
    if (@tok < 1 || @tok > 3 || grep { /\s/ } @tok) {
        bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' but got \"$first\".");
    }

    my ($meth, $url, $ver) = ($tok[0], $tok[1] // '/', $tok[2] // 'HTTP/1.1');

    my $verbatim = 0;
    if (defined $body) {    # "--- request_body" (ours only)
        bail_out("$name - both the --- request section and --- request_body carry a body")
            if $content =~ /\S/;
        $content = $body;
        $verbatim = 1;
    }

    my ($trimmed, $len_hdr) = (0, '');
    if (!$chunked && $content ne '' && $hdr !~ /(?:^|\n)Content-Length:/) {
        if (!$verbatim) {
            $trimmed = length $1 if $content =~ s/\A(\s+)//;
            $content =~ s/\s+\z//;
        }
        $len_hdr = "Content-Length: " . length($content) . "\r\n";
    }

    (my $more = $hdr) =~ s/(?<!\r)\n/\r\n/g;
    my $headers = '';
    $headers .= "Host: $Test::Nginx::Harness::Settings::ServerName\r\n"
        if $more !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n" if $more !~ /(?:^|\n)Connection/i;
    $headers .= "$more$len_hdr\r\n";

    my $reqline = "$meth $url $ver";
    my $head = "$reqline\r\n$headers";
    my $out = $head . $content;

    return [$out] if @$packets <= 1;

    # map every original cut to the rebuilt request
    my @cuts;
    my $off = 0;
    for my $p (@$packets[0 .. $#$packets - 1]) {
        $off += length($p // '');
        my $x;
        if ($off < $first_len) {
            $x = $off - $lead;
            $x = 0 if $x < 0;
            $x = length $reqline if $x > length $reqline;
        } else {
            $x = $off - $first_len - $trimmed;
            $x = 0 if $x < 0;
            $x = length $content if $x > length $content;
            $x += length $head;
        }
        $x = $cuts[-1] if @cuts && $x < $cuts[-1];
        push @cuts, $x;
    }

    my @parts;
    my $prev = 0;
    for my $c (@cuts, length $out) {
        push @parts, substr($out, $prev, $c - $prev);
        $prev = $c;
    }
    return \@parts;
}

# Returns [ request, ... ] where each request is [ {value => bytes,
# delay_before => secs}, ... ] (one connection per request).
sub requests_for_block {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        my @bits = ref $raw && ref $raw eq 'ARRAY' ? @$raw : ($raw);
        return [[ map { { value => $_ } } @bits ]];
    }

    my $request;
    if (defined $block->request_eval) {
        Test::More::diag("$name - request_eval DEPRECATED. Use request eval instead.");
        $request = eval $block->request_eval;
        warn $@ if $@;

    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            1 while $request =~ s/\A(?:\s*#[^\n]+\s+|\s+)//;
        }
    }

    my $more = $block->more_headers || '';
    my $body = $block->request_body;
    if (defined $body) {
        warn "WARNING: $name - the --- request_body section is an extension of "
           . "this fallback runner; the real Test::Nginx ignores it\n";
    }

    if (my $reqs = $block->pipelined_requests) {
        ref $reqs eq 'ARRAY'
            or bail_out("$name - invalid entries in --- pipelined_requests");
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my ($hdr, $chunked) = headers_for($name, $more, $i);
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            $all .= build_request($name, [$reqs->[$i]], $hdr, $chunked, $conn, $body)->[0];
        }
        return [[ { value => $all } ]];
    }

    if (!ref $request) {
        my ($hdr, $chunked) = headers_for($name, $more, 0);
        return [[ { value => build_request($name, [$request], $hdr, $chunked,
                                           'close', $body)->[0] } ]];
    }

    if (ref $request ne 'ARRAY') {
        bail_out("$name - invalid ---request : MUST be string or array of requests");
    }

    my @list;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my ($hdr, $chunked) = headers_for($name, $more, $i);

        if (!ref $one) {
            push @list, [ { value => build_request($name, [$one], $hdr, $chunked,
                                                   'close', $body)->[0] } ];
            next;
        }

        if (ref $one ne 'ARRAY') {
            bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
        }

        my @vals;
        for my $p (@$one) {
            if (!ref $p) {
                push @vals, $p;
            } elsif (ref $p eq 'HASH') {
                push @vals, $p->{value};
            } else {
                bail_out("$name - Invalid syntax. $p should be a string or hash with value.");
            }
        }

        my $parts = build_request($name, \@vals, $hdr, $chunked, 'close', $body);
        push @list, [ map {
            my $orig = $one->[$_];
            ref $orig ? { %$orig, value => $parts->[$_] } : { value => $parts->[$_] }
        } 0 .. $#$parts ];
    }

    return \@list;
}

# --------------------------------------------------------------------------
# socket I/O

sub connect_server {
    my ($block, $name, $timeout) = @_;
    my $addr = $block->server_addr_for_client
               // $Test::Nginx::Harness::Settings::ServerAddr;
    my $port = $Test::Nginx::Harness::Settings::ClientPort;
    my $sleep = $Test::Nginx::Harness::Settings::Sleep;
    my $tries = $TotalConnectFailures ? 20 : 50;
    my $err;

    for my $try (1 .. $tries + 1) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );

        if ($sock) {
            $sock->blocking(0);
            return $sock;
        }

        $err = $!;
        last if $try > $tries;

        my $child = $Test::Nginx::Harness::Server::ChildPid;
        if (defined $child && waitpid($child, WNOHANG) != 0) {
            warn "WARNING: Child process $child is already gone.\n";
            warn `tail -n20 $Test::Nginx::Harness::Settings::ErrLogFile`;
            undef $Test::Nginx::Harness::Server::ChildPid;
            no_ending();
            Test::More::fail("$name - Can't connect to $addr:$port: $err (aborted)\n");
            return undef;
        }

        my $wait = ($sleep + $sleep * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        if ($wait >= 0.6) {
            warn "$name - Can't connect to $addr:$port: $err\n"
               . "\tRetry connecting after $wait sec\n";
        }
        sleep $wait;
    }

    my $msg = "$name - Can't connect to $addr:$port: $err (aborted)\n";
    if (++$TotalConnectFailures < 3) {
        no_ending();
        Test::More::fail($msg);
    } else {
        bail_out($msg);
    }
    return undef;
}

# Sends one request (a list of packets) on a new connection and reads until
# the server closes it or the per-event timeout expires.
sub send_request {
    my ($block, $req, $timeout) = @_;
    my $name = $block->name;
    my @bits = @$req;

    local $SIG{PIPE} = 'IGNORE';

    my $whole = join '', map { $_->{value} // '' } @bits;
    my $is_head = $whole =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $sock = connect_server($block, $name, $timeout) or return (undef, $is_head);

    my $middle_delay = $block->raw_request_middle_delay;
    my $shutdown = $block->shutdown;
    my $resp = '';
    my $first = shift @bits;
    my $buf = defined $first ? ($first->{value} // '') : '';
    my $off = 0;
    my ($writing, $reading) = (1, 1);

    while ($writing || $reading) {
        my $rsel = IO::Select->new;
        my $wsel = IO::Select->new;
        $rsel->add($sock) if $reading;
        $wsel->add($sock) if $writing;

        $! = 0;
        my ($r, $w) = IO::Select->select($rsel, $wsel, undef, $timeout);

        if (!$r && !$w) {
            if ($! == EINTR) {
                next;
            }
            close $sock;
            if (!defined $block->abort) {
                no_ending();
                Test::More::fail("ERROR: client socket timed out - $name\n");
            } else {
                sleep 0.005;
            }
            return ($resp, $is_head);
        }

        if ($r && @$r) {
            while (1) {
                my $data;
                my $n = sysread $sock, $data, 1024;
                if (!defined $n) {
                    last if $! == EAGAIN;
                    warn "WARNING: $name - HTTP response read failure: $!\n";
                    $reading = $writing = 0;
                    last;
                }
                if ($n == 0) {
                    $reading = $writing = 0;
                    last;
                }
                $resp .= $data;
            }
        }

        if ($w && @$w && $writing) {
          WRITE:
            while (1) {
                my $rest = length($buf) - $off;
                if ($rest > 0) {
                    my $n = syswrite $sock, $buf, $rest, $off;
                    if (!defined $n) {
                        last WRITE if $! == EAGAIN;
                        my $msg = "write failed: $!";
                        warn "$msg\n";
                        $resp = $msg if $resp eq '';
                        $writing = $reading = 0;
                        last WRITE;
                    }
                    $off += $n;
                    next WRITE;
                }

                my $next = shift @bits;
                if (!defined $next) {
                    $writing = 0;
                    if (defined $shutdown) {
                        $shutdown = 1 if $shutdown =~ /^\s*$/;
                        shutdown $sock, $shutdown;
                    }
                    last WRITE;
                }

                my $delay = defined $next->{delay_before} ? $next->{delay_before}
                                                          : $middle_delay;
                sleep $delay if $delay;
                ($buf, $off) = ($next->{value} // '', 0);
            }
        }

    }

    close $sock;
    return ($resp, $is_head);
}

# A tiny blocking GET used to probe the HUP reload ("/ver").
sub simple_get {
    my ($host, $uri, $timeout) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => $Test::Nginx::Harness::Settings::ServerAddr,
        PeerPort => $Test::Nginx::Harness::Settings::ClientPort,
        Proto    => 'tcp',
        Timeout  => $timeout,
    ) or return undef;
    print $sock "GET $uri HTTP/1.0\r\nHost: $host\r\n\r\n";
    my $sel = IO::Select->new($sock);
    my $resp = '';
    while ($sel->can_read($timeout)) {
        my $n = sysread $sock, my $data, 4096;
        last unless $n;
        $resp .= $data;
    }
    close $sock;
    return $resp =~ /\r\n\r\n(.*)\z/s ? $1 : undef;
}

# --------------------------------------------------------------------------
# responses

# Returns (HTTP::Response, raw header text, bytes left after this response)
sub parse_response {
    my ($name, $raw, $is_head) = @_;
    my $left;

    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;

    if (defined $code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $te = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if (defined $te && $te eq 'chunked') {
        my $body = $res->content;
        $body = '' unless defined $body;
        my $decoded = '';
        my $p = 0;

        while (1) {
            pos($body) = $p;
            if ($body =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }

            pos($body) = $p;
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                $p = pos($body);
                if (length($body) - $p < $size) {
                    no_ending();
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(not enought octets for the data section)");
                    return;
                }
                $decoded .= substr $body, $p, $size;
                $p += $size;
                if (substr($body, $p, 2) ne "\r\n") {
                    no_ending();
                    Test::More::fail("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
                $p += 2;
                next;
            }

            my $rest = substr $body, $p;
            no_ending();
            if (length $rest) {
                Test::More::fail("$name - invalid chunked body received: $rest");
            } else {
                Test::More::fail("$name - no last chunk found - $body");
            }
            return;
        }

        $res->content($decoded);

    } elsif (defined $len && $len ne '' && $len =~ /^\d+$/) {
        my $body = $res->content;
        $body = '' unless defined $body;
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $body, "\n" unless $is_head;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

1;
