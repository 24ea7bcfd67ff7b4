//go:build linux

package userspace

import (
	"container/heap"
	"net"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// A connection's states on its loop.
const (
	connDialing  = iota // the client accepted, a backend being connected to
	connProxying        // bytes move both ways
	connEnded           // both sockets closed
)

// Sides of a connection (indexes of fd, rd, hup) and directions (indexes of pend, done): a
// direction is named by the side it reads from.
const (
	sideClient = 0
	sideServer = 1
)

// loopConn is one proxied TCP connection on a loop. Only its loop touches it; reset, the one
// method other goroutines call (a backend's connections cut), posts to the loop.
type loopConn struct {
	lp    *evloop
	s     *service
	place slot
	// fd and slot are the client's and the backend's socket and their slots in the epoll set;
	// -1 when closed.
	fd   [2]int
	slot [2]int32
	// rd: the side may have bytes (or its end) to read; hup: the peer's FIN or an error came
	// with an event, so a short read does not mean drained.
	rd, hup [2]bool
	// done: the direction reading from that side met its end and passed it on.
	done [2]bool
	// pend is what a direction read but its destination did not take yet, in held (a buffer
	// borrowed from the balancer's pool while it is not empty).
	pend  [2][]byte
	held  [2]*[]byte
	state uint8
	// pick chooses the backend; b is the one being connected to, then the connection's.
	pick      picking
	b         *backend
	hold      affinityHold
	dialStart int64
	// deadline is the connect's timeout (dialing); last the unix nanoseconds bytes last moved
	// (proxying), from which the idle timeout counts.
	deadline, last int64
	// heapAt is when the connection's timer is due, heapIdx its place in the loop's heap (-1).
	heapAt  int64
	heapIdx int
	// replied: the backend's first byte came (passive health: it ends its run of failures).
	replied bool
}

var _ session = (*loopConn)(nil)

// reset ends the connection with a reset both ways, on its loop (session).
func (c *loopConn) reset() {
	c.lp.post(func() {
		if c.state != connEnded {
			c.lp.reset(c)
		}
	})
}

// start takes over an accepted client socket and starts connecting to a backend.
func (lp *evloop) start(s *service, fd int, client netip.AddrPort, place slot, now int64) {
	c := &loopConn{lp: lp, s: s, place: place, fd: [2]int{fd, -1}, slot: [2]int32{-1, -1}, heapIdx: -1}
	lp.conns[c] = struct{}{}
	slot, err := lp.add(fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, loopItem{conn: c, side: sideClient})
	if err != nil {
		s.bal.log.Warn("userspace data plane: cannot watch a connection", "vs", s.name, "err", err)
		s.refused.Add(1)
		lp.reset(c)
		return
	}
	c.slot[sideClient] = slot
	c.pick.start(s, client)
	lp.dial(c, now)
}

// dial connects to the next backend the choice names, or refuses the connection when none is
// left.
func (lp *evloop) dial(c *loopConn, now int64) {
	for {
		b, timeout := c.pick.next()
		if b == nil {
			c.pick.refuse()
			lp.reset(c)
			return
		}
		if c.s.bal.ctx.Err() != nil {
			b.release()
			lp.reset(c)
			return
		}
		fd, connected, err := connectBackend(b.addr)
		if err != nil {
			if !c.pick.failed(b, err) {
				c.pick.refuse()
				lp.reset(c)
				return
			}
			continue
		}
		c.b, c.fd[sideServer], c.dialStart, c.state = b, fd, now, connDialing
		slot, err := lp.add(fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, loopItem{conn: c, side: sideServer})
		if err != nil {
			rawClose(fd)
			c.fd[sideServer] = -1
			if !c.pick.failed(b, err) {
				c.pick.refuse()
				lp.reset(c)
				return
			}
			continue
		}
		c.slot[sideServer] = slot
		if connected {
			lp.connected(c, now)
			return
		}
		c.deadline = now + int64(timeout)
		lp.schedule(c, c.deadline)
		return
	}
}

// dialFailed handles a connect that failed with err: the next backend, or the refusal.
func (lp *evloop) dialFailed(c *loopConn, err error) {
	lp.closeSide(c, sideServer, false)
	if c.pick.failed(c.b, err) {
		c.b = nil
		lp.dial(c, time.Now().UnixNano())
		return
	}
	c.b = nil
	c.pick.refuse()
	lp.reset(c)
}

// connected admits the connection with its backend, whose connect just completed, and starts
// moving bytes.
func (lp *evloop) connected(c *loopConn, now int64) {
	b := c.b
	b.rtt.observe(time.Duration(now - c.dialStart))
	hold, ok := c.pick.admitted(b, c)
	if !ok {
		// The backend left the set meanwhile: connect again, from the current table.
		lp.closeSide(c, sideServer, true)
		c.b = nil
		lp.dial(c, now)
		return
	}
	c.hold, c.state, c.last = hold, connProxying, now
	c.rd[sideServer] = c.rd[sideServer] || c.hup[sideServer]
	lp.schedule(c, now+int64(c.s.idleTimeout()))
	lp.pump(c, sideClient, now) // the client may have sent its request already
	if c.state == connProxying {
		lp.pump(c, sideServer, now)
	}
}

// ready handles the events epoll reported on one side of c.
func (lp *evloop) ready(c *loopConn, side int, ev uint32, now int64) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.rd[side] = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.hup[side] = true
	}
	switch c.state {
	case connDialing:
		if side != sideServer {
			return // the client's bytes wait for the backend
		}
		if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			soErr, err := unix.GetsockoptInt(c.fd[sideServer], unix.SOL_SOCKET, unix.SO_ERROR)
			switch {
			case err != nil:
				lp.dialFailed(c, os.NewSyscallError("getsockopt", err))
			case soErr != 0:
				lp.dialFailed(c, os.NewSyscallError("connect", unix.Errno(soErr)))
			default:
				lp.dialFailed(c, os.NewSyscallError("connect", unix.ECONNRESET))
			}
			return
		}
		if ev&unix.EPOLLOUT != 0 {
			lp.connected(c, now)
		}
	case connProxying:
		// Bytes read from this side, and bytes waiting to be written to it.
		if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			lp.pump(c, side, now)
		}
		if c.state == connProxying && (ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0) && len(c.pend[1-side]) > 0 {
			lp.pump(c, 1-side, now)
		}
	}
}

// pump moves bytes in the direction that reads from side src until its source is drained,
// its destination full, or it ends.
func (lp *evloop) pump(c *loopConn, src int, now int64) {
	dst := 1 - src
	for {
		if p := c.pend[src]; len(p) > 0 {
			n, e := rawWrite(c.fd[dst], p)
			switch e {
			case 0:
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return // EPOLLOUT on dst will call again
			default:
				lp.fail(c)
				return
			}
			c.pend[src] = p[n:]
			if len(c.pend[src]) > 0 {
				continue
			}
			c.pend[src] = nil
			c.s.bal.bufs.Put(c.held[src])
			c.held[src] = nil
		}
		if c.done[src] || !c.rd[src] {
			return
		}
		n, e := rawRead(c.fd[src], lp.buf)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.rd[src] = false
			return
		default:
			lp.fail(c)
			return
		}
		if n == 0 {
			lp.srcEnded(c, src)
			return
		}
		if src == sideServer && !c.replied {
			// Before the bytes are passed on: the client never sees an answer before the
			// backend's run of failures is ended (tcpSession.arrived).
			c.replied = true
			c.b.backendReplied()
		}
		if !lp.forward(c, src, lp.buf[:n]) {
			return
		}
		c.last = now
		if src == sideServer {
			c.b.bytesOut.Add(uint64(n))
		} else {
			c.b.bytesIn.Add(uint64(n))
		}
		if n < len(lp.buf) && !c.hup[src] {
			// A short read drained the socket: with edge-triggered events, bytes that come
			// later bring a new event, and so does the peer's FIN (EPOLLRDHUP). Only when the
			// FIN or an error came with an event already read must the reads go on.
			c.rd[src] = false
			return
		}
	}
}

// forward writes p, read from side src, to the other side; what it does not take waits in a
// buffer borrowed from the pool. It reports false when the connection failed.
func (lp *evloop) forward(c *loopConn, src int, p []byte) bool {
	dst := 1 - src
	for len(p) > 0 {
		n, e := rawWrite(c.fd[dst], p)
		switch e {
		case 0:
			p = p[n:]
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
		default:
			lp.fail(c)
			return false
		}
		break
	}
	if len(p) > 0 {
		held := c.s.bal.bufs.Get().(*[]byte)
		c.held[src] = held
		c.pend[src] = (*held)[:copy(*held, p)]
	}
	return true
}

// srcEnded passes on the end of the direction reading from side src: a shutdown of the other
// side's write half, or, when the other direction ended already, the close of both sockets,
// which sends the FIN that shutdown would have.
func (lp *evloop) srcEnded(c *loopConn, src int) {
	c.done[src] = true
	if c.done[1-src] {
		lp.finish(c, false)
		return
	}
	rawShutdownWrite(c.fd[1-src])
}

// fail ends the connection after a read or write failed or it went idle, with a reset both
// ways. A backend that reset the connection before its first byte failed it, as much as one
// that refused the connect.
func (lp *evloop) fail(c *loopConn) {
	if !c.replied && c.b != nil && fdReset(c.fd[sideServer]) {
		c.s.backendFailed(c.b, dataplane.FailureReset, "connection to "+c.b.dialAddr+" reset by the backend before its first byte")
	}
	lp.finish(c, true)
}

// reset ends the connection with a reset both ways (refused, cut, or the balancer closing).
func (lp *evloop) reset(c *loopConn) {
	if c.state == connDialing && c.b != nil {
		// Connecting: the backend's place under its thresholds is given back, as a failed
		// connect's is, without counting a failure.
		c.b.release()
		c.b = nil
	}
	lp.finish(c, true)
}

// finish closes both sockets (with a reset when abort) and gives back what the connection
// held: its backend, persistence hold, places under the caps and buffers.
func (lp *evloop) finish(c *loopConn, abort bool) {
	if c.state == connEnded {
		return
	}
	proxying := c.state == connProxying
	c.state = connEnded
	lp.closeSide(c, sideClient, abort)
	lp.closeSide(c, sideServer, abort)
	for i := range c.held {
		if c.held[i] != nil {
			c.s.bal.bufs.Put(c.held[i])
			c.held[i], c.pend[i] = nil, nil
		}
	}
	if c.heapIdx >= 0 {
		heap.Remove(&lp.timers, c.heapIdx)
	}
	delete(lp.conns, c)
	if proxying {
		c.b.unregister(c)
		c.s.releaseAffinity(c.hold, c.b)
	}
	c.place.release()
	c.s.conns.Add(-1)
}

// closeSide closes one side's socket, if open (with a reset when abort).
func (lp *evloop) closeSide(c *loopConn, side int, abort bool) {
	fd := c.fd[side]
	if fd < 0 {
		return
	}
	if abort {
		rawResetClose(fd)
	} else {
		rawClose(fd)
	}
	lp.release(c.slot[side])
	c.fd[side], c.slot[side] = -1, -1
	c.rd[side], c.hup[side] = false, false
}

// connectBackend opens a non-blocking socket to ap with TCP_NODELAY and starts connecting:
// connected when connect completed at once.
func connectBackend(ap netip.AddrPort) (fd int, connected bool, err error) {
	a := ap.Addr()
	family := unix.AF_INET6
	if a.Is4() || a.Is4In6() {
		family = unix.AF_INET
	}
	r, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, false, os.NewSyscallError("socket", e)
	}
	fd = int(r)
	one := int32(1)
	_, _, _ = unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, uintptr(unsafe.Pointer(&one)), 4, 0)
	port := ap.Port()
	if family == unix.AF_INET {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		sa.Port = htons(port)
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		sa.Port = htons(port)
		if z := a.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				sa.Scope_id = uint32(ifi.Index)
			}
		}
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet6)
	}
	switch e {
	case 0:
		return fd, true, nil
	case unix.EINPROGRESS, unix.EINTR:
		return fd, false, nil
	}
	rawClose(fd)
	return -1, false, os.NewSyscallError("connect", e)
}

// htons puts port in network byte order as a sockaddr's port field holds it.
func htons(port uint16) uint16 {
	var b [2]byte
	b[0], b[1] = byte(port>>8), byte(port)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// clientAddr is an accepted socket's peer, IPv4-mapped addresses as IPv4.
func clientAddr(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// fdReset reports whether the backend reset the connection on fd (see serverReset).
func fdReset(fd int) bool {
	if fd < 0 {
		return false
	}
	info, err := unix.GetsockoptTCPInfo(fd, unix.SOL_TCP, unix.TCP_INFO)
	return err == nil && info.State == tcpClose
}
