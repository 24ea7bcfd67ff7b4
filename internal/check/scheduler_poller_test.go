package check

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
)

// runPolled runs one probe of c the way the scheduler runs a TCP_CHECK or plain HTTP_GET: started
// by its loop and finished by its poller, under a timeout of d.
func runPolled(t *testing.T, c Checker, d time.Duration) Result {
	t.Helper()
	reports := make(chan Report, 1)
	s := NewScheduler(clock.Real(), 4, nil, func(r Report) { reports <- r })
	schedMust(t, s.Add(Job{ID: "polled", Checker: c, Interval: time.Hour, Timeout: d, Warmup: -1}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the scheduler's Run did not return within 10s of its context ending")
		}
	}()
	r := waitReport(t, reports, d+probeLate+time.Second)
	if el := time.Since(start); el > d+probeLate {
		t.Errorf("%s run by the poller reported after %v, deadline was %v", c.Kind(), el, d)
	}
	if n := s.idleWorkerCount(); n != 0 {
		t.Errorf("%s run by the poller: %d worker goroutines ran, want none", c.Kind(), n)
	}
	return r.Result
}
