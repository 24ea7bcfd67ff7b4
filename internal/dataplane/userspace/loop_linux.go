//go:build linux

package userspace

import (
	"container/heap"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Why an event loop: with a goroutine per connection, a new connection cost a goroutine (and
// the growth of its stack), the netpoller's registration of both sockets, net.Dialer's
// bookkeeping (getsockname, getpeername, SO_ERROR, TCP_NODELAY and keep-alive options on each
// socket), TCP_INQ on each, and a shutdown per direction: about 1.8 times HAProxy's CPU per
// new connection (bench/userspace, connect and close modes). Here, as in HAProxy, a few
// goroutines (one per GOMAXPROCS) each own an epoll set of their own in which every socket of
// their connections is registered once, edge-triggered; a connection costs accept4, socket,
// connect, two epoll_ctl, its reads and writes, one shutdown (the second end's close makes
// the other redundant) and two closes, and no goroutine.
//
// Each loop's epoll descriptor sits in Go's netpoller (as the checker's poller does,
// internal/probe), so a loop with nothing to do parks its goroutine, not a thread, and wakes
// for the next event, its next timer (the read deadline) or a command another goroutine posts
// (an eventfd). Everything about a connection is the loop's: only commands (a backend's
// connections cut, a listener stopped, the balancer closed) cross from other goroutines.
//
// A listening socket is registered in every loop with EPOLLEXCLUSIVE: the kernel wakes one of
// them per connection, and the connection stays on that loop.

// loopEvents bounds the events one epoll_wait returns; acceptBatch the connections one
// listener event accepts before the loop looks at its other sockets (the listener is
// level-triggered: what is left is reported again).
const (
	loopEvents  = 256
	acceptBatch = 32
)

// evloop is one event loop: an epoll set, the connections whose sockets are in it, their
// timers, and the goroutine that runs them.
type evloop struct {
	bal  *Balancer
	epfd int
	file *os.File // epfd in the netpoller
	rc   syscall.RawConn
	wake int // eventfd: a command was posted

	mu   sync.Mutex
	cmds []func()
	// woken: the eventfd was written and the loop has not yet read the commands.
	woken bool
	// ended: the loop returned; post runs nothing more.
	ended bool

	// The loop goroutine's own.
	items  []loopItem
	free   []int32
	timers connHeap
	armed  int64 // the read deadline set on file, unix nanoseconds; 0 when none
	events []unix.EpollEvent
	buf    []byte
	run    []func()
	conns  map[*loopConn]struct{}
	lns    map[*listener]*loopListener
	stop   bool
}

// loopItem is what an epoll event's data names: a connection's socket, a listener, or the
// eventfd. gen tells a stale event (its socket closed and the slot reused in the same round).
type loopItem struct {
	gen  uint32
	conn *loopConn
	side int
	ln   *loopListener
	wake bool
}

func newEvloop(b *Balancer) (*evloop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, os.NewSyscallError("set epoll non-blocking", err)
	}
	file := os.NewFile(uintptr(epfd), "balancer loop")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		unix.Close(wake)
		return nil, err
	}
	lp := &evloop{bal: b, epfd: epfd, file: file, rc: rc, wake: wake,
		events: make([]unix.EpollEvent, loopEvents),
		buf:    make([]byte, max(b.opts.CopyBuffer, 2)),
		conns:  make(map[*loopConn]struct{}),
		lns:    make(map[*listener]*loopListener),
	}
	if _, err := lp.add(wake, unix.EPOLLIN|unix.EPOLLET, loopItem{wake: true}); err != nil {
		file.Close()
		unix.Close(wake)
		return nil, err
	}
	return lp, nil
}

// post runs fn on the loop, soon; false when the loop has ended (fn will not run).
func (lp *evloop) post(fn func()) bool {
	lp.mu.Lock()
	if lp.ended {
		lp.mu.Unlock()
		return false
	}
	lp.cmds = append(lp.cmds, fn)
	wake := !lp.woken
	lp.woken = true
	lp.mu.Unlock()
	if wake {
		one := uint64(1)
		_, _ = unix.Write(lp.wake, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
	return true
}

// add registers fd for events with it in the epoll set and returns its slot.
func (lp *evloop) add(fd int, events uint32, it loopItem) (int32, error) {
	var slot int32
	if n := len(lp.free); n > 0 {
		slot = lp.free[n-1]
		lp.free = lp.free[:n-1]
	} else {
		slot = int32(len(lp.items))
		lp.items = append(lp.items, loopItem{})
	}
	it.gen = lp.items[slot].gen + 1
	lp.items[slot] = it
	ev := unix.EpollEvent{Events: events, Fd: slot, Pad: int32(it.gen)}
	if err := rawEpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		lp.release(slot)
		return -1, os.NewSyscallError("epoll_ctl add", err)
	}
	return slot, nil
}

// release frees a slot whose descriptor was closed or taken out of the set.
func (lp *evloop) release(slot int32) {
	if slot < 0 {
		return
	}
	lp.items[slot] = loopItem{gen: lp.items[slot].gen + 1}
	lp.free = append(lp.free, slot)
}

// loop runs the loop until the balancer stops it; it then ends what is left.
func (lp *evloop) loop() {
	defer lp.bal.wg.Done()
	defer lp.file.Close()
	defer unix.Close(lp.wake)
	for !lp.stop {
		n, err := lp.wait()
		if err != nil {
			lp.bal.log.Error("userspace data plane: event loop failed; its connections are reset", "err", err)
			break
		}
		now := time.Now().UnixNano()
		for _, ev := range lp.events[:n] {
			if int(ev.Fd) >= len(lp.items) {
				continue
			}
			it := lp.items[ev.Fd]
			if it.gen != uint32(ev.Pad) {
				continue
			}
			switch {
			case it.conn != nil:
				lp.ready(it.conn, it.side, ev.Events, now)
			case it.ln != nil:
				lp.accept(it.ln, now)
			case it.wake:
				var b [8]byte
				_, _ = unix.Read(lp.wake, b[:])
			}
		}
		lp.commands()
		lp.expire(time.Now().UnixNano())
	}
	lp.end()
}

// wait returns the number of events in lp.events once there is one, a command is posted or
// the next timer is due (then 0).
func (lp *evloop) wait() (int, error) {
	if n, err := lp.poll(); n > 0 || err != nil {
		return n, err
	}
	lp.mu.Lock()
	pending := len(lp.cmds) > 0
	lp.mu.Unlock()
	if pending {
		return 0, nil
	}
	at := int64(0)
	if len(lp.timers) > 0 {
		at = lp.timers[0].heapAt
	}
	if at != lp.armed {
		lp.armed = at
		if at == 0 {
			_ = lp.file.SetReadDeadline(time.Time{})
		} else {
			_ = lp.file.SetReadDeadline(time.Unix(0, at))
		}
	}
	var n int
	var werr error
	err := lp.rc.Read(func(uintptr) bool {
		n, werr = lp.poll()
		return n > 0 || werr != nil
	})
	switch {
	case werr != nil:
		return 0, werr
	case err == nil:
		return n, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		lp.armed = 0 // a deadline past is no deadline: set the next one
		return 0, nil
	}
	return 0, fmt.Errorf("wait for the loop's sockets: %w", err)
}

// poll reads the events ready now, without waiting.
func (lp *evloop) poll() (int, error) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(lp.epfd), uintptr(unsafe.Pointer(&lp.events[0])), uintptr(len(lp.events)), 0, 0, 0)
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, os.NewSyscallError("epoll_wait", e)
	}
}

// commands runs the commands posted since the last round.
func (lp *evloop) commands() {
	lp.mu.Lock()
	run := lp.cmds
	lp.cmds = lp.run[:0]
	lp.woken = false
	lp.mu.Unlock()
	for i, fn := range run {
		fn()
		run[i] = nil
	}
	lp.run = run[:0]
}

// expire handles the connections whose timer is due: a connect past its timeout, a
// connection idle both ways for the service's idle timeout.
func (lp *evloop) expire(now int64) {
	for len(lp.timers) > 0 && lp.timers[0].heapAt <= now {
		c := heap.Pop(&lp.timers).(*loopConn)
		switch c.state {
		case connDialing:
			if c.deadline > now {
				lp.schedule(c, c.deadline)
				continue
			}
			lp.dialFailed(c, os.ErrDeadlineExceeded)
		case connProxying:
			if due := c.last + int64(c.s.idleTimeout()); due > now {
				lp.schedule(c, due)
				continue
			}
			lp.fail(c)
		}
	}
}

// schedule makes c's timer due at at (or earlier, if it is due earlier already).
func (lp *evloop) schedule(c *loopConn, at int64) {
	if c.heapIdx >= 0 {
		if at < c.heapAt {
			c.heapAt = at
			heap.Fix(&lp.timers, c.heapIdx)
		}
		return
	}
	c.heapAt = at
	heap.Push(&lp.timers, c)
}

// end resets every connection left and lets go of every listener: the balancer is closing.
func (lp *evloop) end() {
	lp.mu.Lock()
	lp.ended = true
	run := lp.cmds
	lp.cmds = nil
	lp.mu.Unlock()
	for _, fn := range run {
		fn() // listeners being detached, mostly
	}
	for c := range lp.conns {
		lp.reset(c)
	}
	for l, ll := range lp.lns {
		lp.detach(l, ll)
	}
}

// connHeap orders connections by their timer.
type connHeap []*loopConn

func (h connHeap) Len() int           { return len(h) }
func (h connHeap) Less(i, j int) bool { return h[i].heapAt < h[j].heapAt }
func (h connHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *connHeap) Push(x any) {
	c := x.(*loopConn)
	c.heapIdx = len(*h)
	*h = append(*h, c)
}
func (h *connHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIdx = -1
	return c
}

// The balancer's loops.

// eventLoops returns the balancer's loops, started at the first call, one per GOMAXPROCS.
func (b *Balancer) eventLoops() ([]*evloop, error) {
	b.loopMu.Lock()
	defer b.loopMu.Unlock()
	if b.loops != nil {
		return b.loops, nil
	}
	if b.ctx.Err() != nil {
		return nil, errClosed
	}
	n := b.opts.Loops
	var loops []*evloop
	for range n {
		lp, err := newEvloop(b)
		if err != nil {
			for _, lp := range loops {
				lp.file.Close()
				unix.Close(lp.wake)
			}
			return nil, err
		}
		loops = append(loops, lp)
	}
	for _, lp := range loops {
		b.wg.Add(1)
		go lp.loop()
	}
	b.loops = loops
	return loops, nil
}

// stopLoops ends the loops (Close, after every connection was told to reset).
func (b *Balancer) stopLoops() {
	b.loopMu.Lock()
	loops := b.loops
	b.loopMu.Unlock()
	for _, lp := range loops {
		lp.post(func() { lp.stop = true })
	}
}

// useLoops reports whether TCP services run on the event loops: unless Splice or PlainCopy
// asks for a goroutine per connection.
func (b *Balancer) useLoops() bool { return !b.opts.Splice && !b.opts.PlainCopy }

// Listeners.

// loopListener is one listening socket as one loop sees it.
type loopListener struct {
	s    *service
	l    *listener
	slot int32 // -1 while not in the epoll set (paused)
	// waiting: a goroutine waits for a place under the caps or for the end of a backoff, and
	// will post resume.
	waiting bool
	backoff time.Duration
}

// listenLoops opens l's socket for the loops: the listener net.Listen bound (with its
// options: SO_REUSEADDR, freebind, a dual-stack socket for a wildcard address) is duplicated
// and Go's own closed, so that the netpoller does not watch the socket too; TCP_NODELAY is set
// once on it, which accepted sockets inherit.
func listenLoops(l *listener, tl *net.TCPListener) error {
	rc, err := tl.SyscallConn()
	if err != nil {
		tl.Close()
		return err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		tl.Close()
		return err
	}
	tl.Close()
	if derr != nil {
		return os.NewSyscallError("dup listener", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("set listener non-blocking", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	l.lfd = fd
	return nil
}

// startLoops registers l with every loop; l.detach undoes it.
func (s *service) startLoops(l *listener) error {
	loops, err := s.bal.eventLoops()
	if err != nil {
		return err
	}
	l.detach = func() { s.bal.detachListener(l, loops) }
	for _, lp := range loops {
		lp.post(func() {
			ll := &loopListener{s: s, l: l, slot: -1}
			lp.lns[l] = ll
			lp.arm(ll)
		})
	}
	return nil
}

// detachListener takes l out of every loop, then closes its socket and says it is done.
func (b *Balancer) detachListener(l *listener, loops []*evloop) {
	var wg sync.WaitGroup
	for _, lp := range loops {
		wg.Add(1)
		if !lp.post(func() {
			defer wg.Done()
			if ll := lp.lns[l]; ll != nil {
				lp.detach(l, ll)
			}
		}) {
			wg.Done()
		}
	}
	wg.Wait()
	unix.Close(l.lfd)
	close(l.done)
}

// detach takes ll out of the loop.
func (lp *evloop) detach(l *listener, ll *loopListener) {
	if ll.slot >= 0 {
		_ = rawEpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, l.lfd, &unix.EpollEvent{})
		lp.release(ll.slot)
		ll.slot = -1
	}
	delete(lp.lns, l)
}

// arm puts the listener in the epoll set.
func (lp *evloop) arm(ll *loopListener) {
	if ll.slot >= 0 || lp.lns[ll.l] != ll {
		return
	}
	slot, err := lp.add(ll.l.lfd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, loopItem{ln: ll})
	if err != nil {
		ll.s.bal.log.Error("userspace data plane: cannot watch a listener", "vs", ll.s.name, "err", err)
		return
	}
	ll.slot = slot
}

// pause takes the listener out of the epoll set until resume: new connections wait in its
// backlog.
func (lp *evloop) pause(ll *loopListener) {
	if ll.slot >= 0 {
		_ = rawEpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, ll.l.lfd, &unix.EpollEvent{})
		lp.release(ll.slot)
		ll.slot = -1
	}
}

// waitForPlace pauses the listener while the service or the balancer is at its cap: a
// goroutine waits for a place (counted and logged as a pause, as the accept loop does) and
// hands it to the loop, which accepts with it.
func (lp *evloop) waitForPlace(ll *loopListener) {
	lp.pause(ll)
	if ll.waiting {
		return
	}
	ll.waiting = true
	s, l := ll.s, ll.l
	s.bal.wg.Add(1)
	go func() {
		defer s.bal.wg.Done()
		place, ok := s.waitPlace(l)
		if !lp.post(func() { lp.resume(ll, place, ok) }) && ok {
			place.release()
		}
	}()
}

// backOff pauses the listener for its backoff after an accept failed for want of descriptors.
func (lp *evloop) backOff(ll *loopListener) {
	lp.pause(ll)
	if ll.waiting {
		return
	}
	ll.waiting = true
	wait := ll.backoff
	ll.backoff = min(2*ll.backoff, time.Second)
	s, l := ll.s, ll.l
	s.bal.wg.Add(1)
	go func() {
		defer s.bal.wg.Done()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-l.stop:
		case <-s.bal.ctx.Done():
		}
		lp.post(func() { lp.resume(ll, slot{}, false) })
	}()
}

// resume puts a paused listener back and, with a place, accepts with it.
func (lp *evloop) resume(ll *loopListener, place slot, havePlace bool) {
	ll.waiting = false
	if lp.lns[ll.l] != ll {
		if havePlace {
			place.release()
		}
		return
	}
	lp.arm(ll)
	if havePlace {
		lp.acceptOne(ll, place, time.Now().UnixNano())
	}
}

// tryPlace takes a place under the service's cap and the balancer's without waiting.
func (s *service) tryPlace() (slot, bool) {
	vs := s.gate.Load()
	if !vs.tryTake() {
		return slot{}, false
	}
	all := s.bal.gate
	if !all.tryTake() {
		vs.put()
		return slot{}, false
	}
	return slot{vs: vs, all: all}, true
}

// accept takes the connections waiting on a listener, each under the caps.
func (lp *evloop) accept(ll *loopListener, now int64) {
	for range acceptBatch {
		place, ok := ll.s.tryPlace()
		if !ok {
			lp.waitForPlace(ll)
			return
		}
		if !lp.acceptOne(ll, place, now) {
			return
		}
	}
}

// acceptOne accepts one connection holding place, and reports whether another may wait.
func (lp *evloop) acceptOne(ll *loopListener, place slot, now int64) bool {
	s := ll.s
	var rsa unix.RawSockaddrAny
	for {
		size := uint32(unix.SizeofSockaddrAny)
		r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(ll.l.lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			ll.backoff = 0
			s.conns.Add(1)
			lp.start(s, int(r), clientAddr(&rsa), place, now)
			return true
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			place.release()
			return false
		}
		place.release()
		if outOfDescriptors(e) {
			s.refusedDescriptors.Add(1)
		}
		ll.backoff = max(ll.backoff, 5*time.Millisecond)
		s.caps.warn("accept", "accept failed", "vs", s.name, "err", os.NewSyscallError("accept4", e), "retry_in", ll.backoff)
		lp.backOff(ll)
		return false
	}
}

// Raw system calls on the loop's non-blocking sockets. None blocks; made with RawSyscall, as
// the checker's probes make theirs (internal/probe/rawsys.go), so that sysmon never hands the
// loop's P to another thread in the middle of a connect or a write on loopback, which run
// both ends' network work.

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func rawRead(fd int, p []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

func rawWrite(fd int, p []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

func rawClose(fd int) { _, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

func rawShutdownWrite(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0)
}

// rawResetClose closes fd with a reset (SO_LINGER 0).
func rawResetClose(fd int) {
	l := unix.Linger{Onoff: 1, Linger: 0}
	_, _, _ = unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER, uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0)
	rawClose(fd)
}
