package probe

import (
	"time"

	"golang.org/x/sys/unix"
)

// PolledChecker is a Checker whose probe can run without a goroutine of its own. The
// scheduler's loop starts it (StartProbe): its first steps never wait (a socket from the
// scheduler's pool, connect, a request's write). A probe that did not end there waits for its
// socket in the scheduler's poller, which moves it on (Pending.Ready) each time epoll reports the
// socket ready, until it ends or its deadline passes (Pending.Expire). A Checker that is not a
// PolledChecker, or whose Pollable says no, runs its Check on a worker goroutine.
type PolledChecker interface {
	Checker
	// Pollable reports whether the probe can run this way; a checker that needs a goroutine
	// for part of its probe (a TLS handshake) says no.
	Pollable() bool
	// StartProbe takes the first steps of a probe that starts at start (by the real clock: its
	// Latency counts from there), on sockets from sockets. It never blocks. It returns done and
	// the result when the probe has ended already; otherwise the probe, waiting for its socket.
	StartProbe(sockets *SocketPool, start time.Time) (p Pending, res Result, done bool)
}

// Pending is a probe of a PolledChecker that waits for its socket. The engine calls its methods
// from one goroutine at a time, and none after one of them has ended the probe (Ready returning
// done, Expire, Fail): by then the probe has given its socket back.
type Pending interface {
	// Wait returns the socket the probe waits on and the epoll events it waits for:
	// unix.EPOLLOUT for a connect or a write, unix.EPOLLIN|unix.EPOLLRDHUP for an answer. Both
	// may change after Ready (another write, another connection).
	Wait() (*Socket, uint32)
	// Ready moves the probe on after epoll reported events on its socket; buf is scratch for
	// reads. It returns done with the result once the probe has ended.
	Ready(events uint32, buf []byte) (res Result, done bool)
	// Expire ends a probe whose deadline passed, saying what it was waiting for.
	Expire() Result
	// Fail ends the probe at once with reason: it was cancelled, or the poller failed.
	Fail(reason string) Result
}

// polledChecker returns c as a PolledChecker when its probe can run without a goroutine; nil
// when it cannot.
func polledChecker(c Checker) PolledChecker {
	if pc, ok := c.(PolledChecker); ok && pc.Pollable() {
		return pc
	}
	return nil
}

// tryReceive reads the answer of a probe that waits to read, if it has come already, without
// waiting: done when that ended the probe. A probe waiting for anything else is left as it is.
func tryReceive(p Pending, buf []byte) (Result, bool) {
	if _, ev := p.Wait(); ev&unix.EPOLLIN == 0 {
		return Result{}, false
	}
	return p.Ready(unix.EPOLLIN, buf)
}

// polled is a started probe in the poller's hands, with what the engine keeps about it.
type polled struct {
	pending Pending
	ended   bool // Ready, Expire or Fail ended it; only the poller's goroutine sets it
	// The poller's: where the probe is registered (its deadline is in the poller's heap).
	slot      int32
	gen       int32
	heapIndex int  // in the poller's deadline heap; -1 when not there
	cancelled bool // guarded by the poller's lock
	// The scheduler's: the probe and run this is.
	p *schedProbe
	r *schedRun
}

func (pd *polled) setHeapIndex(i int) { pd.heapIndex = i }
