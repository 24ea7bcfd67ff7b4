package testenv

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time, user and system, that the process has used so far; 0 when it cannot
// be read. Benchmarks whose work happens on goroutines and in the kernel report CPU per
// operation from it (cpu-ns/op, cpu-ns/check), which wall time per operation does not show.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
