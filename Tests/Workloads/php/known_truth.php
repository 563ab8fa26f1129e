<?php
// Known-truth PHP workload for tandem's live tests (Tests/EndToEndTests/PHPTests.swift).
//
// Every round, at a fixed depth of nested calls, runs the same loop for 5, 2 and 3 units of
// work in a plain function (alpha), a method (Calc::beta) and a static method of another
// class (Gamma::gamma): about alpha 50%, Calc::beta 20%, Gamma::gamma 30% of the innermost
// PHP frames. The truth the tests use is measured: each function's CPU time (getrusage),
// summed, printed every 0.2 s as `truth alpha=NS beta=NS gamma=NS`.
// usage: php known_truth.php   (runs until killed; prints "ready jit=on|off" first: whether
// opcache's JIT compiles this script; the test names the process by the name of the link it
// runs php through)

const UNIT = 100000;
const DEPTH = 8;

function alpha(int $units): int
{
    $total = 0;
    for ($i = 1, $end = $units * UNIT; $i <= $end; $i++) {
        $total = ($total + $i * 7) & 0xFFFF;
    }
    return $total;
}

class Calc
{
    public function beta(int $units): int
    {
        $total = 0;
        for ($i = 1, $end = $units * UNIT; $i <= $end; $i++) {
            $total = ($total + $i * 7) & 0xFFFF;
        }
        return $total;
    }
}

class Gamma
{
    public static function gamma(int $units): int
    {
        $total = 0;
        for ($i = 1, $end = $units * UNIT; $i <= $end; $i++) {
            $total = ($total + $i * 7) & 0xFFFF;
        }
        return $total;
    }
}

/** The process's CPU time (user and system) in nanoseconds. */
function nanoseconds(): int
{
    $usage = getrusage();
    return ($usage['ru_utime.tv_sec'] + $usage['ru_stime.tv_sec']) * 1000000000
        + ($usage['ru_utime.tv_usec'] + $usage['ru_stime.tv_usec']) * 1000;
}

$spent = [0, 0, 0];

function descend(int $depth, Calc $calc, array &$spent): int
{
    if ($depth > 0) {
        return descend($depth - 1, $calc, $spent);
    }
    $start = nanoseconds();
    $total = alpha(5);
    $afterAlpha = nanoseconds();
    $total += $calc->beta(2);
    $afterBeta = nanoseconds();
    $total += Gamma::gamma(3);
    $spent[0] += $afterAlpha - $start;
    $spent[1] += $afterBeta - $afterAlpha;
    $spent[2] += nanoseconds() - $afterBeta;
    return $total;
}

$status = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
echo "ready jit=", ($status['jit']['on'] ?? false) ? "on" : "off", "\n";
$calc = new Calc();
$nextReport = hrtime(true);
while (true) {
    descend(DEPTH, $calc, $spent);
    if (hrtime(true) >= $nextReport) {
        $nextReport += 200000000;
        printf("truth alpha=%d beta=%d gamma=%d\n", $spent[0], $spent[1], $spent[2]);
    }
}
