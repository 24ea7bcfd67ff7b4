package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// probePoller finishes the probes the scheduler's loop started itself (pollProbe) on one
// goroutine: their sockets sit in one epoll set of its own, and that set's descriptor sits in
// Go's netpoller, so that waiting blocks no thread. A round reads every socket that is ready,
// moves each probe on, fails the ones whose deadline passed and reports the finished ones to
// the scheduler under one taking of its lock.
//
// Why not a goroutine per probe, as the net package would have it: each then costs a goroutine
// woken twice, a context with a timer, an os.File registered with the netpoller and removed
// again, and the scheduler's lock taken to report, which together cost more CPU than the
// probe's own system calls (bench/checks). Here a probe costs its socket's system calls and a
// share of a round; and since rounds are at least pollRoundGap apart, a busy poller wakes at
// most a thousand times a second whatever the number of probes, at the price of reading a
// response up to that much after it came (Result.Latency includes it). Most answers on a near
// network never reach the poller: the loop reads them right after sending its batch.
type probePoller struct {
	s    *Scheduler
	epfd int
	file *os.File // epfd, registered with the netpoller
	rc   syscall.RawConn

	mu        sync.Mutex
	slots     []*pollProbe // by slot; nil when free
	free      []int32
	nextGen   int32
	deadlines dueHeap[*pollProbe]
	armed     int64 // the read deadline set on file, Unix nanoseconds; 0 when none
	closed    bool

	// The poller goroutine's own.
	events   []unix.EpollEvent
	buf      []byte
	woken    []polledEvent
	finished []polledResult
}

type polledEvent struct {
	pp *pollProbe
	ev uint32
}

type polledResult struct {
	pp  *pollProbe
	res Result
}

// pollRoundGap is the least time between the starts of two of the poller's rounds.
const pollRoundGap = time.Millisecond

// pollEvents bounds the events one epoll_wait returns; more wait for the next call.
const pollEvents = 256

func newProbePoller(s *Scheduler) (*probePoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("set epoll non-blocking", err)
	}
	file := os.NewFile(uintptr(epfd), "check poller")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	return &probePoller{
		s: s, epfd: epfd, file: file, rc: rc,
		events: make([]unix.EpollEvent, pollEvents),
		buf:    make([]byte, maxHTTPHeader),
	}, nil
}

// errPollerClosed refuses probes once the scheduler shuts down.
var errPollerClosed = errors.New("check poller closed")

// add registers a started probe, to end by deadline at the latest.
func (pl *probePoller) add(pp *pollProbe, deadline time.Time) error {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed {
		return errPollerClosed
	}
	var slot int32
	if n := len(pl.free); n > 0 {
		slot = pl.free[n-1]
		pl.free = pl.free[:n-1]
	} else {
		slot = int32(len(pl.slots))
		pl.slots = append(pl.slots, nil)
	}
	pl.nextGen++
	pp.slot, pp.gen = slot, pl.nextGen
	ev := unix.EpollEvent{Events: pp.events(), Fd: slot, Pad: pp.gen}
	if err := rawEpollCtl(pl.epfd, unix.EPOLL_CTL_ADD, pp.fd, &ev); err != nil {
		pl.free = append(pl.free, slot)
		return os.NewSyscallError("epoll_ctl", err)
	}
	pp.watching, pp.epfd = ev.Events, pl.epfd
	pl.slots[slot] = pp
	at := deadline.UnixNano()
	pl.deadlines.push(pp, at)
	pl.armLocked(at)
	return nil
}

// cancel ends pp at the poller's next round; its result is discarded by the scheduler.
func (pl *probePoller) cancel(pp *pollProbe) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pp.heapIndex < 0 || pl.slots[pp.slot] != pp {
		return // finished already
	}
	pp.cancelled = true
	now := time.Now().UnixNano()
	pl.deadlines.reschedule(pp.heapIndex, now)
	pl.armLocked(now)
}

// armLocked makes the poller wake by at at the latest. A deadline later than the one set is
// left for the round that wakes at the earlier one to set, so that the common case (probes
// finishing in the order they started) moves no timer.
func (pl *probePoller) armLocked(at int64) {
	if pl.armed != 0 && pl.armed <= at {
		return
	}
	pl.armed = at
	_ = pl.file.SetReadDeadline(time.Unix(0, at))
}

// run is the poller's goroutine, until ctx ends; it then ends every probe left, their results
// discarded.
func (pl *probePoller) run(ctx context.Context) {
	defer pl.s.workers.Done()
	stop := context.AfterFunc(ctx, func() {
		pl.mu.Lock()
		pl.closed = true
		pl.armLocked(1)
		pl.mu.Unlock()
	})
	defer stop()
	defer pl.file.Close()
	for ctx.Err() == nil {
		n, err := pl.wait()
		if ctx.Err() != nil {
			pl.closeAll(true)
			return
		}
		if err != nil {
			pl.s.log.Error("check poller failed; its probes fail, and workers run every probe from now on", "err", err)
			pl.s.mu.Lock()
			pl.s.poller = nil
			pl.s.mu.Unlock()
			pl.closeAll(false)
			return
		}
		start := time.Now()
		pl.round(n, start)
		if n > 0 {
			if gap := pollRoundGap - time.Since(start); gap > 0 {
				time.Sleep(gap)
			}
		}
	}
	pl.closeAll(true)
}

// wait returns the number of events in pl.events once there is one or the read deadline set
// by armLocked passes (then 0).
func (pl *probePoller) wait() (int, error) {
	var n int
	var werr error
	err := pl.rc.Read(func(uintptr) bool {
		for {
			var err error
			n, err = unix.EpollWait(pl.epfd, pl.events, 0)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				n, werr = 0, os.NewSyscallError("epoll_wait", err)
				return true
			}
			return n > 0
		}
	})
	switch {
	case werr != nil:
		return 0, werr
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("wait for check sockets: %w", err)
	}
	return n, nil
}

// round moves on the probes whose sockets are ready, fails the ones past their deadline and
// reports what finished.
func (pl *probePoller) round(n int, now time.Time) {
	pl.mu.Lock()
	woken := pl.woken[:0]
	for _, ev := range pl.events[:n] {
		if int(ev.Fd) < len(pl.slots) {
			if pp := pl.slots[ev.Fd]; pp != nil && pp.gen == ev.Pad {
				woken = append(woken, polledEvent{pp, ev.Events})
			}
		}
	}
	var expired []expiredProbe
	for nowNs := now.UnixNano(); len(pl.deadlines) > 0 && pl.deadlines[0].at <= nowNs; {
		pp := pl.deadlines.pop()
		expired = append(expired, expiredProbe{pp, pp.cancelled})
	}
	pl.mu.Unlock()

	finished := pl.finished[:0]
	for _, w := range woken {
		pp := w.pp
		if pp.fd < 0 {
			continue // ended by an earlier event of this round
		}
		res, done := pp.onEvent(w.ev, pl.buf)
		if !done {
			done, res = pl.rewatch(pp)
		}
		if done {
			finished = append(finished, polledResult{pp, res})
		}
	}
	for _, e := range expired {
		if e.pp.fd >= 0 {
			finished = append(finished, polledResult{e.pp, e.pp.expire(e.cancelled)})
		}
	}
	clear(woken)
	pl.woken = woken[:0]
	if len(finished) == 0 {
		pl.mu.Lock()
		pl.rearmLocked(now.UnixNano())
		pl.mu.Unlock()
		return
	}

	pl.mu.Lock()
	for _, f := range finished {
		pl.releaseLocked(f.pp)
	}
	pl.rearmLocked(now.UnixNano())
	pl.mu.Unlock()

	s := pl.s
	s.mu.Lock()
	at := s.clk.Now()
	for _, f := range finished {
		s.completeLocked(f.pp.p, f.pp.r, f.res, at)
		s.inFlight--
	}
	s.box.flush()
	if len(s.readyLoop) > 0 {
		s.poke() // the loop runs those itself, in the slots just freed
	}
	s.dispatchLocked(at)
	s.mu.Unlock()
	clear(finished)
	pl.finished = finished[:0]
}

// expiredProbe is a probe whose deadline passed, and whether that was a cancellation.
type expiredProbe struct {
	pp        *pollProbe
	cancelled bool
}

// rewatch follows a probe that is still under way after an event: a new socket (the next URL
// of an HTTP_GET, which may have the old one's number) is registered, and a change of what it
// waits for is told to epoll.
func (pl *probePoller) rewatch(pp *pollProbe) (done bool, res Result) {
	want := pp.events()
	if pp.watching == want {
		return false, Result{}
	}
	op := unix.EPOLL_CTL_MOD
	if pp.watching == 0 {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: want, Fd: pp.slot, Pad: pp.gen}
	if err := rawEpollCtl(pl.epfd, op, pp.fd, &ev); err != nil {
		return true, pp.fail("poll: " + os.NewSyscallError("epoll_ctl", err).Error())
	}
	pp.watching, pp.epfd = want, pl.epfd
	return false, Result{}
}

// releaseLocked frees a finished probe's slot and takes it off the deadline heap.
func (pl *probePoller) releaseLocked(pp *pollProbe) {
	if pp.heapIndex >= 0 {
		pl.deadlines.remove(pp.heapIndex)
	}
	if pl.slots[pp.slot] == pp {
		pl.slots[pp.slot] = nil
		pl.free = append(pl.free, pp.slot)
	}
}

// rearmLocked sets the read deadline for the earliest probe left, after a round: the one set
// may have passed, or belonged to a probe that finished.
func (pl *probePoller) rearmLocked(nowNs int64) {
	if pl.closed {
		return // the deadline in the past that wakes the poller to stop stays
	}
	if len(pl.deadlines) == 0 {
		if pl.armed != 0 {
			pl.armed = 0
			_ = pl.file.SetReadDeadline(time.Time{})
		}
		return
	}
	if next := pl.deadlines[0].at; pl.armed == 0 || pl.armed <= nowNs || next < pl.armed {
		pl.armed = next
		_ = pl.file.SetReadDeadline(time.Unix(0, next))
	}
}

// closeAll ends every probe left when the poller stops: the scheduler discards their results
// when it is shutting down; when the poller failed instead, they fail, so that their jobs are
// scheduled again (on workers).
func (pl *probePoller) closeAll(shutdown bool) {
	pl.mu.Lock()
	pl.closed = true
	var left []*pollProbe
	for _, pp := range pl.slots {
		if pp != nil {
			left = append(left, pp)
			pl.releaseLocked(pp)
		}
	}
	pl.mu.Unlock()
	if len(left) == 0 {
		return
	}
	s := pl.s
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.clk.Now()
	for _, pp := range left {
		var res Result
		if shutdown {
			res = pp.expire(true)
		} else {
			res = pp.fail("poll: check poller failed")
		}
		s.completeLocked(pp.p, pp.r, res, at)
		s.inFlight--
	}
	s.box.flush()
	s.dispatchLocked(at)
}

func (pp *pollProbe) setHeapIndex(i int) { pp.heapIndex = i }
