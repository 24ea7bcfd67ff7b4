package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rtLatency measures what the machine allows any real-time program, like cyclictest: a thread
// at SCHED_FIFO 90 sleeps 1 ms again and again for dur with spinners busy loops running, and
// the time it wakes late is its latency. A soak's false failovers are the implementation's
// fault only if its gaps exceed what this shows.
func rtLatency(dur time.Duration, spinners int) error {
	var spin []*exec.Cmd
	defer func() {
		for _, c := range spin {
			c.Process.Kill()
			c.Wait()
		}
	}()
	for i := 0; i < spinners; i++ {
		c := exec.Command("sh", "-c", "while :; do :; done")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			return err
		}
		spin = append(spin, c)
	}
	runtime.LockOSThread() // and never unlocked: the thread ends with the program
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 90}, 0); err != nil {
		return fmt.Errorf("SCHED_FIFO 90: %w", err)
	}
	var lat []time.Duration
	var late []string
	ts := unix.Timespec{Nsec: int64(time.Millisecond)}
	load0 := loadavg()
	for end := time.Now().Add(dur); time.Now().Before(end); {
		t0 := time.Now()
		unix.ClockNanosleep(unix.CLOCK_MONOTONIC, 0, &ts, nil)
		l := time.Since(t0) - time.Millisecond
		lat = append(lat, l)
		if l > 10*time.Millisecond {
			late = append(late, fmt.Sprintf("%s %.1f ms", time.Now().UTC().Format("15:04:05.000"), float64(l.Microseconds())/1000))
		}
	}
	slices.Sort(lat)
	q := func(p float64) string {
		return fmt.Sprintf("%.2f", float64(lat[int(p*float64(len(lat)-1))].Microseconds())/1000)
	}
	fmt.Printf("| SCHED_FIFO 90, 1 ms sleeps | %v | %d | %d | %s | %s | %s | %s | %s | %d |\n", dur, spinners, len(lat),
		q(0.5), q(0.99), q(0.999), q(0.9999), q(1), len(late))
	fmt.Printf("  load average at start: %s; at end: %s\n", load0, loadavg())
	for _, l := range late[:min(len(late), 10)] {
		fmt.Printf("  late: %s\n", l)
	}
	return nil
}

const latencyHeader = "| thread | duration | spinners | wakeups | late p50 ms | p99 | p99.9 | p99.99 | max | late > 10 ms |\n|---|---|---|---|---|---|---|---|---|---|\n"
