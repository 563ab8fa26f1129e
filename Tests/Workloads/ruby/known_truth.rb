# Known-truth Ruby workload for tandem's live tests and for scripts/ruby-layouts/walk_ruby.py.
#
# Every round, at a fixed call depth, runs the same loop for 5, 2 and 3 units of work in a
# top-level method (alpha), an instance method (Calc#beta) and a method of a module (Gamma.gamma):
# by design about 50 / 20 / 30 % of the innermost Ruby frames. The truth the tests use is
# measured: each method's thread CPU time, summed, printed every 0.2 s as
# `truth alpha=NS beta=NS gamma=NS`. Each method also prints its own location once at start
# (`where LABEL PATH LINE`, from caller_locations), for the layout check.
# usage: ruby known_truth.rb COMM   (runs until killed; prints "ready" once named)

UNIT = 20_000
DEPTH = 12

def alpha(units)
  total = 0
  i = 0
  limit = units * UNIT
  while i < limit
    total = (total + i * 7) & 0xFFFF
    i += 1
  end
  total
end

class Calc
  def beta(units)
    total = 0
    i = 0
    limit = units * UNIT
    while i < limit
      total = (total + i * 7) & 0xFFFF
      i += 1
    end
    total
  end
end

module Gamma
  def self.gamma(units)
    total = 0
    i = 0
    limit = units * UNIT
    while i < limit
      total = (total + i * 7) & 0xFFFF
      i += 1
    end
    total
  end
end

def clock
  Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond)
end

def descend(depth, calc, spent)
  return descend(depth - 1, calc, spent) if depth > 0
  start = clock
  total = alpha(5)
  after_alpha = clock
  total += calc.beta(2)
  after_beta = clock
  total += Gamma.gamma(3)
  spent[0] += after_alpha - start
  spent[1] += after_beta - after_alpha
  spent[2] += clock - after_beta
  total
end

comm = ARGV[0] || "tandem-rb"
Process.setproctitle(comm)
begin
  File.write("/proc/self/comm", comm[0, 15])
rescue SystemCallError
  nil
end
$stdout.sync = true
puts "ready"
calc = Calc.new
spent = [0, 0, 0]
next_report = Process.clock_gettime(Process::CLOCK_MONOTONIC)
loop do
  descend(DEPTH, calc, spent)
  now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  if now >= next_report
    next_report += 0.2
    puts "truth alpha=#{spent[0]} beta=#{spent[1]} gamma=#{spent[2]}"
  end
end
