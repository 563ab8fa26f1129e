// Spins for SECONDS (argv[1]) of CPU time in a known call chain:
// runtime.main -> main.main -> main.middle -> main.leaf, where leaf is frameless
// (no locals, no calls: Go gives it no frame pointer) and middle has a frame.
package main

import (
	"os"
	"strconv"
	"syscall"
)

var sink uint64

//go:noinline
func leaf(x uint64) uint64 {
	for i := uint64(0); i < 4000; i++ {
		x = x*6364136223846793005 + i
	}
	return x
}

//go:noinline
func middle(x uint64) uint64 { return leaf(x) ^ leaf(x+1) }

// cpuSeconds is the process's CPU time: the run's length does not depend on the machine's load.
func cpuSeconds() float64 {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return float64(usage.Utime.Sec+usage.Stime.Sec) + float64(usage.Utime.Usec+usage.Stime.Usec)/1e6
}

func main() {
	seconds := 5.0
	if len(os.Args) > 1 {
		seconds, _ = strconv.ParseFloat(os.Args[1], 64)
	}
	end := cpuSeconds() + seconds
	for cpuSeconds() < end {
		for i := 0; i < 100; i++ {
			sink = leaf(sink) + middle(sink)
		}
	}
}
