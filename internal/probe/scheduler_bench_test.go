package probe_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/testenv"
)

type benchTrivialChecker struct{ key string }

func (c benchTrivialChecker) Kind() string   { return "TRIVIAL" }
func (c benchTrivialChecker) Target() string { return c.key }
func (c benchTrivialChecker) Key() string    { return c.key }
func (c benchTrivialChecker) Check(context.Context) probe.Result {
	return probe.Result{Healthy: true, Weight: -1}
}

// measureScheduler runs s on the real clock: a warmup interval, over which the first probes
// spread, then VIGIL_BENCH_SECONDS (default 4) measured. It reports checks/s, the process CPU
// per check and how late checks started (p50, p99, max), and returns the stats at the end.
func measureScheduler(b *testing.B, s *probe.Scheduler) probe.SchedulerStats {
	seconds := 4
	if v, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	time.Sleep(1200 * time.Millisecond) // the warmup spreads first probes over the first second
	s.ResetLateness()
	startStats, startCPU, start := s.Stats(), testenv.CPUTime(), time.Now()
	b.ResetTimer()
	time.Sleep(time.Duration(seconds) * time.Second)
	b.StopTimer()
	cpu, elapsed, stats, late := testenv.CPUTime()-startCPU, time.Since(start), s.Stats(), s.Lateness()
	cancel()
	<-done
	checks := stats.Started - startStats.Started
	if checks == 0 {
		b.Fatal("no checks ran")
	}
	b.ReportMetric(float64(checks)/elapsed.Seconds(), "checks/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(checks), "cpu-ns/check")
	b.ReportMetric(float64(late.P50.Microseconds()), "late-p50-µs")
	b.ReportMetric(float64(late.P99.Microseconds()), "late-p99-µs")
	b.ReportMetric(float64(late.Max.Microseconds()), "late-max-µs")
	return stats
}

// BenchmarkSchedulerTenThousandJobs runs 10,000 trivial checks at a 1s interval on the real
// clock for VIGIL_BENCH_SECONDS (default 4) after a warmup interval, and reports the process
// CPU time per check and how late checks started (p50, p99, max). b.N is not used: the load is
// fixed by the job count and interval.
func BenchmarkSchedulerTenThousandJobs(b *testing.B) {
	const jobs = 10000
	var reports atomic.Int64
	s := probe.NewScheduler(clock.Real(), 1000, nil, func(probe.Report) { reports.Add(1) })
	for i := range jobs {
		id := "rs" + strconv.Itoa(i)
		if err := s.Add(probe.Job{ID: id, Checker: benchTrivialChecker{key: id}, Interval: time.Second}); err != nil {
			b.Fatal(err)
		}
	}
	stats := measureScheduler(b, s)
	b.ReportMetric(float64(stats.Coalesced), "coalesced")
}

// BenchmarkSchedulerTCP runs VIGIL_BENCH_TCP_JOBS (default 2,000) TCP_CHECKs at a 1s interval,
// each of its own listener on 127.0.0.1, through the scheduler on the real clock for
// VIGIL_BENCH_SECONDS (default 4) after a warmup interval, and reports the process CPU per
// check: the probe's system calls, the kernel's work on both ends of loopback and the
// scheduler's and the runtime's work around each probe. b.N is not used.
func BenchmarkSchedulerTCP(b *testing.B) {
	jobs := 2000
	if v, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_TCP_JOBS")); err == nil && v > 0 {
		jobs = v
	}
	var reports, failed atomic.Int64
	s := probe.NewScheduler(clock.Real(), 512, nil, func(r probe.Report) {
		reports.Add(1)
		if !r.Result.Healthy {
			failed.Add(1)
		}
	})
	for i := range jobs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		id := "rs" + strconv.Itoa(i)
		c := check.NewTCP(check.TCPOptions{ConnOptions: check.ConnOptions{Addr: netip.MustParseAddrPort(ln.Addr().String())}})
		if err := s.Add(probe.Job{ID: id, Checker: c, Interval: time.Second, Timeout: time.Second}); err != nil {
			b.Fatal(err)
		}
	}
	measureScheduler(b, s)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d reports failed", n, reports.Load())
	}
}
