package probe

import (
	"context"
	"fmt"
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

// wantResult checks a result's verdict and reason.
func wantResult(t *testing.T, r Result, healthy bool, reason string) {
	t.Helper()
	if r.Healthy != healthy || r.Reason != reason {
		t.Errorf("result healthy=%t reason %q, want healthy=%t reason %q", r.Healthy, r.Reason, healthy, reason)
	}
}

// TestSchedulerRunsPolledProbesWithoutAWorker: a probe that ends (or fails) within its first
// steps is run and reported by the scheduler's loop; one that must wait for its socket waits in
// the poller under its timeout. Neither takes a worker goroutine.
func TestSchedulerRunsPolledProbesWithoutAWorker(t *testing.T) {
	listening := silentListener(t)
	refused := silentListener(t)
	refused.Close()

	for _, tc := range []struct {
		name       string
		checker    func() *connectFake
		timeout    time.Duration
		healthy    bool
		reason     string
		minLatency time.Duration
	}{
		{"probe that ends at once is reported by the loop", func() *connectFake { return newConnectFake("rs", listening, false) }, 0, true, "connected", 0},
		{"probe that fails at once is reported by the loop", func() *connectFake { return newConnectFake("rs", refused, false) }, 0, false, "connect: connection refused", 0},
		{"probe without an answer times out in the poller", func() *connectFake { return newConnectFake("rs", listening, true) }, 300 * time.Millisecond, false, "timeout", 250 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, reports := startRealScheduler(t, 4)
			c := tc.checker()
			start := time.Now()
			schedMust(t, s.Add(Job{ID: "rs", Checker: c, Interval: time.Hour, Timeout: tc.timeout, Warmup: -1}))
			r := waitReport(t, reports, 5*time.Second)
			wantResult(t, r.Result, tc.healthy, tc.reason)
			if el := time.Since(start); el < tc.minLatency {
				t.Errorf("reported after %v, want at least %v", el, tc.minLatency)
			}
			if r.Up != tc.healthy {
				t.Errorf("up %t after the report, want %t", r.Up, tc.healthy)
			}
			deadline := time.Now().Add(2 * time.Second)
			for s.Stats().InFlight != 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if s.idleWorkerCount() > 0 || c.checks.Load() > 0 {
				t.Error("a worker ran the probe")
			}
		})
	}
}

// TestRemovingAJobWhileThePollerHoldsItsProbeDiscardsIt: a probe waiting for its answer in the
// poller ends at once, its slot is freed and nothing is reported.
func TestRemovingAJobWhileThePollerHoldsItsProbeDiscardsIt(t *testing.T) {
	s, reports := startRealScheduler(t, 4)
	schedMust(t, s.Add(Job{ID: "rs", Checker: newConnectFake("rs", silentListener(t), true), Interval: time.Hour, Timeout: time.Minute, Warmup: -1}))
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
}

// TestPolledProbeWaitingForASlotRunsOnceOneFrees: polled probes hold slots too, so maxInFlight
// bounds them; one that found every slot taken runs as soon as a worker's probe ends.
func TestPolledProbeWaitingForASlotRunsOnceOneFrees(t *testing.T) {
	ln := silentListener(t)
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
	schedMust(t, s.Add(Job{ID: "polled", Checker: newConnectFake("polled", ln, false), Interval: time.Hour, Warmup: -1}))
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
	if r, ok := got["polled"]; !ok {
		t.Error("the polled probe was not reported once the slot was free")
	} else {
		wantResult(t, r.Result, true, "connected")
	}
}

// TestPolledProbesBeyondWhatTheLoopRunsInARoundGoToWorkers: all are run and reported, the
// overflow started by workers in batches.
func TestPolledProbesBeyondWhatTheLoopRunsInARoundGoToWorkers(t *testing.T) {
	const n = 3*loopRunBatch + 50
	ln := silentListener(t)
	var jobs []Job
	var fakes []*connectFake
	for i := range n {
		id := fmt.Sprintf("rs%d", i)
		f := newConnectFake(id, ln, false)
		fakes = append(fakes, f)
		jobs = append(jobs, Job{ID: id, Checker: f, Interval: time.Hour, Warmup: -1})
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
		t.Errorf("no worker started any of %d polled probes due at once; the loop starts at most %d a round", n, loopRunBatch)
	}
	for _, f := range fakes {
		if f.checks.Load() > 0 {
			t.Fatalf("%s: Check ran; a worker given a batch starts its probes as the loop does", f.key)
		}
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
