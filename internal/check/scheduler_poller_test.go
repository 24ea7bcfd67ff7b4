package check

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// TestHTTPProbeWhoseAnswerCameAlreadyEndsWithoutThePoller: the loop reads an answer that is
// waiting once its batch is sent (tryReceive), and the probe ends there; one that is not there
// yet is left for the poller, unchanged.
func TestHTTPProbeWhoseAnswerCameAlreadyEndsWithoutThePoller(t *testing.T) {
	buf := make([]byte, maxHTTPHeader)
	answering := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: rawHTTPServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")}, URLs: []URL{{Path: "/"}}})
	p, res, done := answering.StartProbe(nil, time.Now())
	if done {
		t.Fatalf("the probe ended before its answer could come: %+v", res)
	}
	h := p.(*httpPending)
	pfd := []unix.PollFd{{Fd: int32(h.sock.FD()), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
		t.Fatalf("no answer within 5s: %d %v", n, err)
	}
	res, done = tryReceive(p, buf)
	if !done {
		t.Fatal("an answer that had come was not read")
	}
	wantProbe(t, res, true, "url /: ok")
	if h.sock.FD() != -1 {
		t.Error("the probe's socket was left open")
	}

	silent := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: silentTCPServer(t)}, URLs: []URL{{Path: "/"}}})
	p, res, done = silent.StartProbe(nil, time.Now())
	if done {
		t.Fatalf("the probe of a silent server ended at once: %+v", res)
	}
	h = p.(*httpPending)
	defer h.sock.Close()
	if _, done = tryReceive(p, buf); done || !h.receiving || h.sock.FD() < 0 {
		t.Errorf("a probe with no answer yet: done %t, receiving %t, fd %d; want it left waiting", done, h.receiving, h.sock.FD())
	}
}

// TestFailedPollerHandsItsProbesToWorkers: when epoll itself fails, the probes the poller held
// fail once, and from then on workers run TCP_CHECKs and HTTP_GETs as they run every other kind.
func TestFailedPollerHandsItsProbesToWorkers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s, reports := startRealScheduler(t, 4)
	held := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: silentTCPServer(t)}, URLs: []URL{{Path: "/"}}})
	schedMust(t, s.Add(Job{ID: "held", Checker: held, Interval: time.Hour, Timeout: time.Minute, Warmup: -1}))
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().InFlight != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the probe was not in flight within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	pl := s.poller
	s.mu.Unlock()
	// Break epoll under the poller: its descriptor becomes /dev/null, on which epoll_wait fails.
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	if err := unix.Dup2(null, pl.epfd); err != nil {
		t.Fatal(err)
	}
	pl.mu.Lock()
	pl.armLocked(1)
	pl.mu.Unlock()
	r := waitReport(t, reports, 5*time.Second)
	wantProbe(t, r.Result, false, "url /: poll: check poller failed")

	schedMust(t, s.Add(Job{ID: "after", Checker: NewTCP(TCPOptions{ConnOptions{Addr: addrPort(t, ln.Addr())}}), Interval: time.Hour, Warmup: -1}))
	r = waitReport(t, reports, 5*time.Second)
	if r.JobID != "after" {
		t.Fatalf("report of %s, want the new job's", r.JobID)
	}
	wantProbe(t, r.Result, true, "connected")
	if s.idleWorkerCount() == 0 {
		t.Error("no worker ran the probe after the poller failed")
	}
}
