package Test::Nginx::Harness::Checks;

# The assertions of the fallback runner.  Each function emits exactly the
# number of TAP results the real Test::Nginx::Socket emits for the same
# sections (see docs/testing.md, "How tests are counted").

use strict;
use warnings;

use List::Util qw(min);
use Test::More ();
use Test::LongString ();
use Encode ();
use Digest::MD5 ();
use Digest::SHA ();

use Test::Nginx::Harness::Settings;
use Test::Nginx::Harness::Server qw(bail_out error_log_lines access_log_lines);

use Exporter 'import';
our @EXPORT_OK = qw(
    is_str check_error_code check_raw_response_headers check_response_headers
    transform_response_body check_response_body check_error_log
    check_access_log check_shutdown_error_log get_indexed_value
    parse_headers
);

sub no_ending { Test::More->builder->no_ending(1) }

sub str_is {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if ($Test::Nginx::Harness::Settings::NoLongString) {
        # Test::Base's is() adds a diff for multi-line strings
        return Test::Base::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

sub is_str {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($Test::Nginx::Harness::Settings::NoLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

sub fmt_str {
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub subst_ports {
    my ($s) = @_;
    $s =~ s/\$ServerPort\b/$Test::Nginx::Harness::Settings::Port/g;
    $s =~ s/\$ServerPortForClient\b/$Test::Nginx::Harness::Settings::ClientPort/g;
    return $s;
}

# A check value for request $idx: with several requests in a block the
# expected values must be arrays.
sub get_indexed_value {
    my ($name, $value, $idx, $need_array) = @_;
    my $is_array = ref $value && ref $value eq 'ARRAY';

    if ($need_array) {
        return $value->[$idx] if $is_array;
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }

    if ($is_array) {
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.") if $idx != 0;
        return $value->[0];
    }

    return $value;
}

# "Name: value" lines => { name => value }; "!Name" => { name => undef }
sub parse_headers {
    my ($text) = @_;
    my %h;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        if ($line =~ s/^!\s*//) {
            $h{$line} = undef;
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $h{$k} = $v;
        }
    }
    return \%h;
}

sub check_error_code {
    my ($block, $res, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';

  SKIP: {
        Test::More::skip("$name - tests skipped due to $dry_run", 1) if $dry_run;

        if (defined $block->error_code_like) {
            my $pat = get_indexed_value($name, scalar($block->error_code_like), $idx, $need_array);
            Test::More::like($got, qr/$pat/sm, "$name - status code ok");

        } elsif (defined $block->error_code) {
            Test::More::is($got,
                get_indexed_value($name, scalar($block->error_code), $idx, $need_array),
                "$name - status code ok");

        } else {
            Test::More::is($got, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;

    for my $kind (qw(like unlike)) {
        my $sec = "raw_response_headers_$kind";
        my $val = $block->$sec;
        next unless defined $val;
      SKIP: {
            Test::More::skip("$name - $sec - tests skipped due to $dry_run", 1) if $dry_run;
            my $pat = get_indexed_value($name, $val, $idx, $need_array);
            if ($kind eq 'like') {
                Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
            } else {
                Test::More::unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
            }
        }
    }
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $h = parse_headers(get_indexed_value($name, scalar($block->response_headers),
                                                $idx, $need_array));
        for my $key (sort keys %$h) {
            my $val = $h->{$key};
          SKIP: {
                Test::More::skip("$name - response_headers - tests skipped due to $dry_run", 1)
                    if $dry_run;

                if (!defined $val) {
                    Test::More::unlike($raw_headers // '', qr/^\s*\Q$key\E\s*:/ms,
                                       "$name - header $key not present in the raw headers");
                } else {
                    my $got = $res ? $res->header($key) : undef;
                    $got = '' unless defined $got;
                    Test::More::is($got, subst_ports($val), "$name - header $key ok");
                }
            }
        }

    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(get_indexed_value($name, scalar($block->response_headers_like),
                                                $idx, $need_array));
        for my $key (sort keys %$h) {
            my $val = $h->{$key} // '';
            my $got = $res ? $res->header($key) : undef;
            $got = '' unless defined $got;
          SKIP: {
                Test::More::skip("$name - response_headers_like - tests skipped due to $dry_run", 1)
                    if $dry_run;
                Test::More::like($got, qr/^$val$/, "$name - header $key like ok");
            }
        }
    }
}

sub run_body_filter {
    my ($name, $filter, $content) = @_;

    return $filter->($content) if ref $filter eq 'CODE';

    bail_out("$name - the --- response_body_filters section only supports "
             . "subroutine reference values and string values") if ref $filter;

    my %builtin = (
        md5_hex  => \&Digest::MD5::md5_hex,
        sha1_hex => \&Digest::SHA::sha1_hex,
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $f = $builtin{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in the "
                    . "--- response_body_filters section");
    return $f->($content);
}

sub transform_response_body {
    my ($block, $res, $idx) = @_;
    return unless defined $res;
    my $content = $res->content;
    return unless defined $content;

    my $filters = $block->response_body_filters;
    return unless defined $filters;
    my $name = $block->name;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }

    if (ref $filters->[0] eq 'ARRAY') {
        for (@$filters) {
            ref $_ eq 'ARRAY' or bail_out("$name - the --- response_body_filters "
                . "two-dimensional array only be like [[uc], [lc]] not [[uc], lc]");
        }
        $filters = $filters->[$idx]
            or bail_out("$name - the ---response_body_filters two-dimensional array "
                        . "unmatch the specified request($idx)");
    }

    $content = run_body_filter($name, $_, $content) for @$filters;
    $res->content($content);
}

sub check_response_body {
    my ($block, $res, $dry_run, $idx, $rep_idx, $need_array) = @_;
    my $name = $block->name;

    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gm;
        $content =~ s/^Connection: TE, close\r\n//gm;
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $expected;
        if (scalar($block->response_body_eval)) {
            Test::More::diag("$name - response_body_eval is DEPRECATED. Use response_body eval instead.");
            $expected = eval get_indexed_value($name, scalar($block->response_body_eval),
                                               $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, scalar($block->response_body), $idx, $need_array);
        }

        if (scalar($block->charset)) {
            Encode::from_to($expected, 'UTF-8', scalar($block->charset));
        }

        $expected = subst_ports($expected) if defined $expected && !ref $expected;

      SKIP: {
            Test::More::skip("$name - response_body - tests skipped due to $dry_run", 1) if $dry_run;
            if (ref $expected) {
                Test::More::like($content, $expected,
                    "$name - response_body - like (repeated req $rep_idx, req $idx)");
            } else {
                str_is($content, $expected,
                    "$name - response_body - response is expected (repeated req $rep_idx, req $idx)");
            }
        }

    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $sec = "response_body_$type";
        my $pat = subst_ports(get_indexed_value($name, scalar($block->$sec), $idx, $need_array));
        (my $summary = $content // '') =~ s/^\s+|\s+$//g;
        $summary =~ s/\n/ /g;
        $summary =~ s/\s{2,}/ /g;

      SKIP: {
            Test::More::skip("$name - response_body_$type - tests skipped due to $dry_run", 1)
                if $dry_run;
            my $cmp = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
            $cmp->($content, qr/$pat/s,
                   "$name - response_body_$type - response is expected ($summary)");
        }
    }

    for my $check (@Test::Nginx::Harness::Settings::ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $idx, $rep_idx, $dry_run);
    }
}

# pattern section value => list of patterns (strings or qr//)
sub pattern_list {
    my ($pats) = @_;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub contains {
    my ($val, $needle) = @_;
    return 0 unless defined $val;
    return scalar grep { defined && !ref && index($_, $needle) >= 0 } @$val
        if ref $val eq 'ARRAY';
    return index("$val", $needle) >= 0;
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

sub expect_patterns {
    my (%a) = @_;
    my ($name, $pats, $lines, $dry_run, $section, $file, $suffix) =
        @a{qw(name pats lines dry_run section file suffix)};

    my @pending = @{ pattern_list($pats) };
    for my $line (@$lines) {
        for my $pat (@pending) {
            next unless defined $pat;
            if (line_matches($line, $pat)) {
              SKIP: {
                    Test::More::skip("$name - $section - tests skipped due to $dry_run", 1) if $dry_run;
                    Test::More::pass("$name - pattern \"$pat\" matches a line in $file$suffix");
                }
                undef $pat;
            }
        }
    }

    for my $pat (grep { defined } @pending) {
      SKIP: {
            Test::More::skip("$name - $section - tests skipped due to $dry_run", 1) if $dry_run;
            Test::More::fail("$name - pattern \"$pat\" should match a line in $file$suffix");
        }
    }
}

sub forbid_patterns {
    my (%a) = @_;
    my ($name, $pats, $lines, $dry_run, $section, $file, $suffix) =
        @a{qw(name pats lines dry_run section file suffix)};

    my @pats = grep { defined } @{ pattern_list($pats) };
    my %found;

    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@pats) {
            next unless line_matches($line, $pat);

            # a second hit changes the number of tests
            no_ending() if $found{$pat}++;

          SKIP: {
                Test::More::skip("$name - $section - tests skipped due to $dry_run ($line)", 1)
                    if $dry_run;
                my @more = @$lines[$i + 1 .. min($i + 9, $#$lines - 1)];
                Test::More::fail("$name - pattern \"" . fmt_str($pat)
                    . "\" should not match any line in $file but matches line \""
                    . fmt_str($line) . "\"$suffix\n" . join('', @more));
            }
        }
    }

    for my $pat (@pats) {
        next if $found{$pat};
      SKIP: {
            Test::More::skip("$name - $section - tests skipped due to $dry_run", 1) if $dry_run;
            Test::More::pass("$name - pattern \"" . fmt_str($pat)
                             . "\" does not match a line in $file$suffix");
        }
    }
}

sub check_error_log {
    my ($block, $res, $dry_run, $rep_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;
    my $get = sub { $lines ||= error_log_lines() || [] };

    my %warn_on = map { $_ => 1 } ('[alert', '[crit', '[emerg',
                                   'writing a global lua variable');

    my $grep = $block->grep_error_log;
    if (defined $grep) {
        $grep = $grep->[$rep_idx] if ref $grep eq 'ARRAY';
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined $grep) {
        my $expected = $block->grep_error_log_out;
        defined $expected
            or bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined");
        $expected = $expected->[$rep_idx] if ref $expected eq 'ARRAY';

      SKIP: {
            Test::More::skip("$name - error_log - tests skipped due to $dry_run", 1) if $dry_run;
            my $out = '';
            for my $line (@{ $get->() }) {
                my $m;
                if (ref $grep) {
                    $m = $& if $line =~ /$grep/;
                } else {
                    $m = $grep if index($line, $grep) >= 0;
                }
                $out .= "$m\n" if defined $m && $m !~ /\n/;
            }
            if (ref $expected eq 'Regexp') {
                Test::More::like($out, $expected, "$name - grep_error_log_out (req $rep_idx)");
            } else {
                str_is($out, $expected, "$name - grep_error_log_out (req $rep_idx)");
            }
        }
    }

    for my $sec (qw(error_log no_error_log)) {
        my $pats = $block->$sec;
        next unless defined $pats;
        for my $k (keys %warn_on) {
            delete $warn_on{$k} if contains($pats, $k);
        }
        my %args = (name => $name, pats => $pats, lines => $get->(),
                    dry_run => $dry_run, section => $sec, file => 'error.log',
                    suffix => " (req $rep_idx)");
        $sec eq 'error_log' ? expect_patterns(%args) : forbid_patterns(%args);
    }

    if (!$dry_run) {
        for my $k (sort keys %warn_on) {
            for my $line (@{ $get->() }) {
                warn "WARNING: $name - " . fmt_str($line) . "\n"
                    if index($line, $k eq 'writing a global lua variable' ? $k : "$k]") >= 0;
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            no_ending();
            chomp(my $l = $line);
            Test::More::fail("$name - $l\n");
        }
    }
}

sub check_access_log {
    my ($block, $dry_run, $rep_idx) = @_;
    my $name = $block->name;
    my $lines;

    for my $sec (qw(access_log no_access_log)) {
        my $pats = $block->$sec;
        next unless defined $pats;
        $lines ||= access_log_lines();
        my %args = (name => $name, pats => $pats, lines => $lines,
                    dry_run => $dry_run, section => $sec, file => 'access.log',
                    suffix => " (req $rep_idx)");
        $sec eq 'access_log' ? expect_patterns(%args) : forbid_patterns(%args);
    }
}

# run for the previous block once its nginx has been stopped
sub check_shutdown_error_log {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my $lines = error_log_lines() || [];

    if (defined $block->no_shutdown_error_log) {
        forbid_patterns(name => $name, pats => scalar($block->no_shutdown_error_log),
                        lines => $lines, dry_run => $dry_run,
                        section => 'no_shutdown_error_log', file => 'error.log',
                        suffix => '');
    }

    expect_patterns(name => $name, pats => scalar($block->shutdown_error_log),
                    lines => $lines, dry_run => $dry_run,
                    section => 'shutdown_error_log', file => 'error.log',
                    suffix => '');

    for my $line (@$lines) {
        if ($line =~ /\bAssertion .*? failed\.$/) {
            no_ending();
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
}

1;
