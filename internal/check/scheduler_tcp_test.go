package check

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vigil-lb/vigil/internal/clock"
)

// startRealScheduler runs a Scheduler on the real clock, for probes of real sockets; its reports
// arrive on the returned channel. Cleanup stops it and checks that no goroutine is left.
func startRealScheduler(t *testing.T, maxInFlight int, jobs ...Job) (*Scheduler, <-chan Report) {
	t.Helper()
	reports := make(chan Report, 16+len(jobs))
	s := NewScheduler(clock.Real(), maxInFlight, nil, func(r Report) { reports <- r })
	for _, j := range jobs {
		schedMust(t, s.Add(j))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
		goleak.VerifyNone(t)
	})
	return s, reports
}

func waitReport(t *testing.T, reports <-chan Report, within time.Duration) Report {
	t.Helper()
	select {
	case r := <-reports:
		return r
	case <-time.After(within):
		t.Fatalf("no report within %v", within)
		return Report{}
	}
}

func (s *Scheduler) idleWorkerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idleWorkers
}

// TestSchedulerRunsTCPChecksWithoutAWorker: a TCP_CHECK whose handshake ends (or fails) within
// connect is run and reported by the scheduler's loop; one whose handshake is still under way
// waits in the poller under its timeout. Neither takes a worker goroutine.
func TestSchedulerRunsTCPChecksWithoutAWorker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := addrPort(t, closed.Addr())
	closed.Close()

	for _, tc := range []struct {
		name       string
		target     func(t *testing.T) Job
		healthy    bool
		reason     string
		minLatency time.Duration
	}{
		{"listening target is up", func(t *testing.T) Job {
			return Job{Checker: NewTCP(TCPOptions{ConnOptions{Addr: addrPort(t, ln.Addr())}})}
		}, true, "connected", 0},
		{"refused connection is down at once", func(t *testing.T) Job {
			return Job{Checker: NewTCP(TCPOptions{ConnOptions{Addr: closedAddr}})}
		}, false, "connect: connection refused", 0},
		{"dropped SYN times out in the poller", func(t *testing.T) Job {
			return Job{Checker: NewTCP(TCPOptions{ConnOptions{Addr: stalledTCPAddr(t)}}), Timeout: 300 * time.Millisecond}
		}, false, "connect: timeout", 250 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, reports := startRealScheduler(t, 4)
			job := tc.target(t)
			job.ID, job.Interval, job.Warmup = "rs", time.Hour, -1
			schedMust(t, s.Add(job))
			r := waitReport(t, reports, 5*time.Second)
			wantProbe(t, r.Result, tc.healthy, tc.reason)
			if r.Result.Latency < tc.minLatency {
				t.Errorf("latency %v, want at least %v", r.Result.Latency, tc.minLatency)
			}
			if r.Up != tc.healthy {
				t.Errorf("up %t after the report, want %t", r.Up, tc.healthy)
			}
			deadline := time.Now().Add(2 * time.Second)
			for s.Stats().InFlight != 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if s.idleWorkerCount() > 0 {
				t.Error("a worker ran the probe")
			}
		})
	}
}

// TestRemovingAJobWhileThePollerHoldsItsProbeDiscardsIt: a TCP_CHECK waiting for its handshake
// and an HTTP_GET waiting for its answer, both in the poller: the probe ends at once, its slot is
// freed and nothing is reported.
func TestRemovingAJobWhileThePollerHoldsItsProbeDiscardsIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		checker func(t *testing.T) Checker
	}{
		{"TCP handshake", func(t *testing.T) Checker { return NewTCP(TCPOptions{ConnOptions{Addr: stalledTCPAddr(t)}}) }},
		{"HTTP answer", func(t *testing.T) Checker {
			return mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: silentTCPServer(t)}, URLs: []URL{{Path: "/"}}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, reports := startRealScheduler(t, 4)
			schedMust(t, s.Add(Job{ID: "rs", Checker: tc.checker(t), Interval: time.Hour, Timeout: time.Minute, Warmup: -1}))
			deadline := time.Now().Add(5 * time.Second)
			for s.Stats().InFlight != 1 {
				if time.Now().After(deadline) {
					t.Fatal("the probe was not in flight within 5s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			s.Remove("rs")
			deadline = time.Now().Add(2 * time.Second)
			for s.Stats().InFlight != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the removed job's probe still held its slot 2s after Remove")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if st := s.Stats(); st.Discarded != 1 {
				t.Errorf("discarded %d probes, want 1", st.Discarded)
			}
			select {
			case r := <-reports:
				t.Errorf("removed job reported %+v", r)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestTCPCheckWaitingForASlotRunsOnceOneFrees: TCP probes hold slots too, so maxInFlight bounds
// them; one that found every slot taken runs as soon as a worker's probe ends.
func TestTCPCheckWaitingForASlotRunsOnceOneFrees(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s, reports := startRealScheduler(t, 1)
	slow := newSchedFake("slow")
	slow.block = true
	schedMust(t, s.Add(Job{ID: "slow", Checker: slow, Interval: time.Hour, Timeout: time.Minute, Warmup: -1}))
	deadline := time.Now().Add(5 * time.Second)
	for slow.Waiting() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the slow probe did not start within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tcp := NewTCP(TCPOptions{ConnOptions{Addr: addrPort(t, ln.Addr())}})
	schedMust(t, s.Add(Job{ID: "tcp", Checker: tcp, Interval: time.Hour, Warmup: -1}))
	select {
	case r := <-reports:
		t.Fatalf("report %+v while the only slot was taken", r)
	case <-time.After(200 * time.Millisecond):
	}
	if st := s.Stats(); st.Waiting != 1 {
		t.Errorf("%d probes waiting for a slot, want 1", st.Waiting)
	}
	close(slow.release)
	got := map[string]Report{}
	for range 2 {
		r := waitReport(t, reports, 2*time.Second)
		got[r.JobID] = r
	}
	if r, ok := got["tcp"]; !ok {
		t.Error("the TCP check was not reported once the slot was free")
	} else {
		wantProbe(t, r.Result, true, "connected")
	}
}

// TestTCPChecksBeyondWhatTheLoopRunsInARoundGoToWorkers: all are run and reported, the
// overflow started by workers in batches.
func TestTCPChecksBeyondWhatTheLoopRunsInARoundGoToWorkers(t *testing.T) {
	const n = 3*loopRunBatch + 50
	var jobs []Job
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		jobs = append(jobs, Job{
			ID: fmt.Sprintf("rs%d", i), Checker: NewTCP(TCPOptions{ConnOptions{Addr: addrPort(t, ln.Addr())}}),
			Interval: time.Hour, Warmup: -1,
		})
	}
	s, reports := startRealScheduler(t, 2*n, jobs...)
	seen := map[string]bool{}
	for range n {
		r := waitReport(t, reports, 10*time.Second)
		if !r.Result.Healthy {
			t.Errorf("%s: %s", r.JobID, r.Result.Reason)
		}
		seen[r.JobID] = true
	}
	if len(seen) != n {
		t.Errorf("%d jobs reported, want %d", len(seen), n)
	}
	if s.idleWorkerCount() == 0 {
		t.Errorf("no worker ran any of %d TCP checks due at once; the loop runs at most %d a round", n, loopRunBatch)
	}
}

// TestDispatchSlackIsATenthOfTheJitterWithinBounds: the loop's rounds are at most a tenth of a
// probe's jitter apart (so probes start at most that late), between 1 and 10 ms.
func TestDispatchSlackIsATenthOfTheJitterWithinBounds(t *testing.T) {
	for _, tc := range []struct{ interval, want time.Duration }{
		{time.Second, 5 * time.Millisecond},
		{time.Hour, 10 * time.Millisecond},
		{100 * time.Millisecond, time.Millisecond},
		{time.Millisecond, time.Millisecond},
		{2 * time.Second, 10 * time.Millisecond},
		{1500 * time.Millisecond, 7500 * time.Microsecond},
	} {
		if got := dispatchSlack(tc.interval); got != tc.want {
			t.Errorf("dispatchSlack(%v) = %v, want %v", tc.interval, got, tc.want)
		}
	}
}
