package probe

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

// probePoller finishes the probes the scheduler's loop started itself (Pending) on one
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
	slots     []*polled // by slot; nil when free
	free      []int32
	nextGen   int32
	deadlines dueHeap[*polled]
	armed     int64 // the read deadline set on file, Unix nanoseconds; 0 when none
	closed    bool

	// The poller goroutine's own.
	events   []unix.EpollEvent
	buf      []byte
	woken    []polledEvent
	finished []polledResult
}

type polledEvent struct {
	pd *polled
	ev uint32
}

type polledResult struct {
	pd  *polled
	res Result
}

// pollRoundGap is the least time between the starts of two of the poller's rounds.
const pollRoundGap = time.Millisecond

// pollEvents bounds the events one epoll_wait returns; more wait for the next call.
const pollEvents = 256

// readBufSize is the size of the scratch buffers polled probes read into: an answer of up to
// 16 KiB is read in one call.
const readBufSize = 16 << 10

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
		buf:    make([]byte, readBufSize),
	}, nil
}

// errPollerClosed refuses probes once the scheduler shuts down.
var errPollerClosed = errors.New("check poller closed")

// add registers a started probe, to end by deadline at the latest.
func (pl *probePoller) add(pd *polled, deadline time.Time) error {
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
	pd.slot, pd.gen = slot, pl.nextGen
	sock, want := pd.pending.Wait()
	ev := unix.EpollEvent{Events: want, Fd: slot, Pad: pd.gen}
	if err := rawEpollCtl(pl.epfd, unix.EPOLL_CTL_ADD, sock.fd, &ev); err != nil {
		pl.free = append(pl.free, slot)
		return os.NewSyscallError("epoll_ctl", err)
	}
	sock.watching, sock.epfd = want, pl.epfd
	pl.slots[slot] = pd
	at := deadline.UnixNano()
	pl.deadlines.push(pd, at)
	pl.armLocked(at)
	return nil
}

// cancel ends pd at the poller's next round; its result is discarded by the scheduler.
func (pl *probePoller) cancel(pd *polled) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pd.heapIndex < 0 || pl.slots[pd.slot] != pd {
		return // finished already
	}
	pd.cancelled = true
	now := time.Now().UnixNano()
	pl.deadlines.reschedule(pd.heapIndex, now)
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
			if pd := pl.slots[ev.Fd]; pd != nil && pd.gen == ev.Pad {
				woken = append(woken, polledEvent{pd, ev.Events})
			}
		}
	}
	var expired []expiredProbe
	for nowNs := now.UnixNano(); len(pl.deadlines) > 0 && pl.deadlines[0].at <= nowNs; {
		pd := pl.deadlines.pop()
		expired = append(expired, expiredProbe{pd, pd.cancelled})
	}
	pl.mu.Unlock()

	finished := pl.finished[:0]
	for _, w := range woken {
		pd := w.pd
		if pd.ended {
			continue // ended by an earlier event of this round
		}
		res, done := pd.pending.Ready(w.ev, pl.buf)
		if !done {
			done, res = pl.rewatch(pd)
		}
		if done {
			pd.ended = true
			finished = append(finished, polledResult{pd, res})
		}
	}
	for _, e := range expired {
		if !e.pd.ended {
			e.pd.ended = true
			finished = append(finished, polledResult{e.pd, expire(e.pd.pending, e.cancelled)})
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
		pl.releaseLocked(f.pd)
	}
	pl.rearmLocked(now.UnixNano())
	pl.mu.Unlock()

	s := pl.s
	s.mu.Lock()
	at := s.clk.Now()
	for _, f := range finished {
		s.completeLocked(f.pd.p, f.pd.r, f.res, at)
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
	pd        *polled
	cancelled bool
}

// expire ends a probe whose deadline passed or that was cancelled.
func expire(p Pending, cancelled bool) Result {
	if cancelled {
		return p.Fail("canceled")
	}
	return p.Expire()
}

// rewatch follows a probe that is still under way after an event: a new socket (another
// connection of the probe, which may have the old one's number) is registered, and a change of
// what it waits for is told to epoll.
func (pl *probePoller) rewatch(pd *polled) (done bool, res Result) {
	sock, want := pd.pending.Wait()
	if sock.watching == want {
		return false, Result{}
	}
	op := unix.EPOLL_CTL_MOD
	if sock.watching == 0 {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: want, Fd: pd.slot, Pad: pd.gen}
	if err := rawEpollCtl(pl.epfd, op, sock.fd, &ev); err != nil {
		return true, pd.pending.Fail("poll: " + os.NewSyscallError("epoll_ctl", err).Error())
	}
	sock.watching, sock.epfd = want, pl.epfd
	return false, Result{}
}

// releaseLocked frees a finished probe's slot and takes it off the deadline heap.
func (pl *probePoller) releaseLocked(pd *polled) {
	if pd.heapIndex >= 0 {
		pl.deadlines.remove(pd.heapIndex)
	}
	if pl.slots[pd.slot] == pd {
		pl.slots[pd.slot] = nil
		pl.free = append(pl.free, pd.slot)
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
	var left []*polled
	for _, pd := range pl.slots {
		if pd != nil {
			left = append(left, pd)
			pl.releaseLocked(pd)
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
	for _, pd := range left {
		var res Result
		if shutdown {
			res = expire(pd.pending, true)
		} else {
			res = pd.pending.Fail("poll: check poller failed")
		}
		pd.ended = true
		s.completeLocked(pd.p, pd.r, res, at)
		s.inFlight--
	}
	s.box.flush()
	s.dispatchLocked(at)
}
