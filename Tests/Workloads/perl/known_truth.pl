# Known-truth Perl workload for tandem's live tests (Tests/EndToEndTests/PerlTests.swift).
#
# Every round, at a fixed depth of nested subs, runs the same loop for 5, 2 and 3 units of
# work in a main-package sub (alpha), a method (Calc::beta) and another package's sub
# (Gamma::gamma): about alpha 50%, Calc::beta 20%, Gamma::gamma 30% of the innermost Perl
# frames. The truth the tests use is measured: each sub's thread CPU time, summed, printed
# every 0.2 s as `truth alpha=NS beta=NS gamma=NS`.
# usage: perl known_truth.pl COMM   (runs until killed; prints "ready" once named)
use strict;
use warnings;
use Time::HiRes qw(clock_gettime CLOCK_THREAD_CPUTIME_ID CLOCK_MONOTONIC);

my $UNIT = 20000;
my $DEPTH = 8;

sub alpha {
    my ($units) = @_;
    my $total = 0;
    for my $i (1 .. $units * $UNIT) { $total = ($total + $i * 7) & 0xFFFF }
    return $total;
}

package Calc;
sub new { return bless {}, shift }
sub beta {
    my ($self, $units) = @_;
    my $total = 0;
    for my $i (1 .. $units * $UNIT) { $total = ($total + $i * 7) & 0xFFFF }
    return $total;
}

package Gamma;
sub gamma {
    my ($units) = @_;
    my $total = 0;
    for my $i (1 .. $units * $UNIT) { $total = ($total + $i * 7) & 0xFFFF }
    return $total;
}

package main;

my @spent = (0, 0, 0);
sub nanoseconds { return int(clock_gettime(CLOCK_THREAD_CPUTIME_ID) * 1e9) }

sub descend {
    my ($depth, $calc) = @_;
    return descend($depth - 1, $calc) if $depth > 0;
    my $start = nanoseconds();
    my $total = alpha(5);
    my $after_alpha = nanoseconds();
    $total += $calc->beta(2);
    my $after_beta = nanoseconds();
    $total += Gamma::gamma(3);
    $spent[0] += $after_alpha - $start;
    $spent[1] += $after_beta - $after_alpha;
    $spent[2] += nanoseconds() - $after_beta;
    return $total;
}

my $comm = shift @ARGV // 'tpl-truth';
# The process's name in the profile: prctl(PR_SET_NAME) (x86-64 system call 157).
syscall(157, 15, substr($comm, 0, 15), 0, 0, 0);
$| = 1;
print "ready\n";
my $calc = Calc->new;
my $next_report = clock_gettime(CLOCK_MONOTONIC);
while (1) {
    descend($DEPTH, $calc);
    if (clock_gettime(CLOCK_MONOTONIC) >= $next_report) {
        $next_report += 0.2;
        printf "truth alpha=%d beta=%d gamma=%d\n", @spent;
    }
}
