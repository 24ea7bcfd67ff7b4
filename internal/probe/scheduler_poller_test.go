package probe

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connectFake is a PolledChecker of a loopback listener, for the engine's tests: its probe
// connects on a socket from the scheduler's pool and passes ("connected"); with answer set it
// then waits for the target to send a byte ("answered"), so that against a listener that never
// writes it stays in the poller until its deadline ("timeout") or a cancellation. Its Check, which
// the scheduler calls only on a worker, connects and passes ("checked").
type connectFake struct {
	key    string
	target Endpoint
	answer bool
	checks atomic.Int32
}

func newConnectFake(key string, ln net.Listener, answer bool) *connectFake {
	return &connectFake{key: key, target: NewEndpoint(netip.MustParseAddrPort(ln.Addr().String()), SocketOptions{}), answer: answer}
}

func (f *connectFake) Kind() string   { return "FAKE_POLLED" }
func (f *connectFake) Target() string { return f.key }
func (f *connectFake) Key() string    { return f.key }
func (f *connectFake) Pollable() bool { return true }

func (f *connectFake) Check(ctx context.Context) Result {
	f.checks.Add(1)
	s, err := f.target.Dial(ctx, nil, false)
	if err != nil {
		return Result{Weight: -1, Reason: "check: " + err.Error()}
	}
	s.Close()
	return Result{Healthy: true, Weight: -1, Reason: "checked"}
}

func (f *connectFake) StartProbe(sockets *SocketPool, _ time.Time) (Pending, Result, bool) {
	s, connected, err := f.target.Connect(sockets, false)
	if err != nil {
		return nil, Result{Weight: -1, Reason: err.Error()}, true
	}
	p := &fakePending{sock: s, connected: connected, answer: f.answer}
	if connected && !f.answer {
		return nil, p.end(true, "connected"), true
	}
	return p, Result{}, false
}

// fakePending is a connectFake's probe in the poller.
type fakePending struct {
	sock              *Socket
	connected, answer bool
}

func (p *fakePending) Wait() (*Socket, uint32) {
	if p.connected {
		return p.sock, unix.EPOLLIN | unix.EPOLLRDHUP
	}
	return p.sock, unix.EPOLLOUT
}

func (p *fakePending) Ready(ev uint32, buf []byte) (Result, bool) {
	if !p.connected {
		if err := p.sock.ConnectError(); err != nil {
			return p.Fail(err.Error()), true
		}
		p.connected = ev&unix.EPOLLOUT != 0
		if p.connected && !p.answer {
			return p.end(true, "connected"), true
		}
		return Result{}, false
	}
	switch n, err := p.sock.Read(buf); {
	case err == unix.EAGAIN:
		return Result{}, false
	case err != nil || n == 0:
		return p.Fail("closed"), true
	}
	return p.end(true, "answered"), true
}

func (p *fakePending) Expire() Result            { return p.Fail("timeout") }
func (p *fakePending) Fail(reason string) Result { return p.end(false, reason) }

func (p *fakePending) end(healthy bool, reason string) Result {
	p.sock.Close()
	return Result{Healthy: healthy, Weight: -1, Reason: reason}
}

// silentListener listens on loopback and never accepts: a connection to it is established by the
// kernel, and never answered.
func silentListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestTryReceiveReadsOnlyAProbeWaitingToRead: after starting its batch the loop reads the answers
// that came meanwhile, and leaves a probe still connecting or sending as it is.
func TestTryReceiveReadsOnlyAProbeWaitingToRead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		connected bool
		wantReady bool
	}{
		{"waiting to write", false, false},
		{"waiting to read", true, true},
	} {
		p := &readyCounter{fakePending: fakePending{sock: &Socket{fd: -1}, connected: tc.connected}}
		tryReceive(p, nil)
		if got := p.ready > 0; got != tc.wantReady {
			t.Errorf("%s: Ready called %t, want %t", tc.name, got, tc.wantReady)
		}
	}
}

// readyCounter counts the calls of Ready and does nothing else.
type readyCounter struct {
	fakePending
	ready int
}

func (p *readyCounter) Ready(uint32, []byte) (Result, bool) {
	p.ready++
	return Result{}, false
}

// TestFailedPollerHandsItsProbesToWorkers: when epoll itself fails, the probes the poller held
// fail once, and from then on workers run the polled checkers' Check as they run every other
// kind.
func TestFailedPollerHandsItsProbesToWorkers(t *testing.T) {
	ln := silentListener(t)
	s, reports := startRealScheduler(t, 4)
	held := newConnectFake("held", ln, true)
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
	wantResult(t, r.Result, false, "poll: check poller failed")

	after := newConnectFake("after", ln, false)
	schedMust(t, s.Add(Job{ID: "after", Checker: after, Interval: time.Hour, Warmup: -1}))
	r = waitReport(t, reports, 5*time.Second)
	if r.JobID != "after" {
		t.Fatalf("report of %s, want the new job's", r.JobID)
	}
	wantResult(t, r.Result, true, "checked")
	if s.idleWorkerCount() == 0 || after.checks.Load() != 1 {
		t.Errorf("%d idle workers, %d calls of Check: no worker ran the probe after the poller failed", s.idleWorkerCount(), after.checks.Load())
	}
	if held.checks.Load() != 0 {
		t.Error("the held probe's Check ran too")
	}
}
