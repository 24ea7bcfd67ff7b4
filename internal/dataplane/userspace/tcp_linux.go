//go:build linux

package userspace

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readyLoop is one direction of a connection moved through a buffer by a readiness loop that
// costs one read and one write(2) per burst of data, where Read and Write through Go's
// netpoller cost one more read that can only say EAGAIN.
//
// The loop runs inside a single RawConn.Read, so the runtime's readiness flag is never reset
// between bursts: after a read that drained the socket the callback returns false and the
// goroutine parks until the next edge. What the loop must know without another call is that
// the socket is drained and whether the peer's FIN came with the last data (a FIN already
// queued brings no new edge). With TCP_INQ (Linux 4.18) each recvmsg(2) says how many bytes
// are left, and says 1 once a FIN is queued. Without it, recvmmsg(2) with two messages does:
// the first takes the data, the second reports EAGAIN (drained), 0 (FIN) or more data.
type readyLoop struct {
	// buf is borrowed from pool for one callback: every burst is written out before the
	// callback returns, so a parked direction holds no buffer.
	pool *sync.Pool
	held *[]byte
	buf  []byte
	iov  [2]unix.Iovec
	msgs [2]unix.Mmsghdr

	// inq: the source reports with each read how many bytes it still holds (TCP_INQ), and
	// hdr, iovAll and cbuf are that read's message; without it, msgs and iov make recvmmsg's.
	inq    bool
	hdr    unix.Msghdr
	iovAll unix.Iovec
	cbuf   [64]byte

	srcRaw, dstRaw syscall.RawConn
	// out is what the write callback still has to send.
	out []byte
	// eof: the source sent FIN. err: a system call failed (not EAGAIN).
	eof bool
	err error

	counter *atomic.Uint64
	// sess and dir say whose bytes move, for sess.moved.
	sess *tcpSession
	dir  int

	readFn, writeFn func(uintptr) bool
}

// newReadyLoop returns nil when a side does not expose its descriptor.
// Unless noInq, it asks the source for TCP_INQ and uses recvmmsg only if that fails.
func newReadyLoop(dst, src *net.TCPConn, pool *sync.Pool, counter *atomic.Uint64, sess *tcpSession, dir int, noInq bool) *readyLoop {
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return nil
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return nil
	}
	l := &readyLoop{pool: pool, srcRaw: srcRaw, dstRaw: dstRaw, counter: counter, sess: sess, dir: dir}
	if !noInq {
		var serr error
		if err := srcRaw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_TCP, unix.TCP_INQ, 1)
		}); err == nil && serr == nil {
			l.inq = true
		}
	}
	l.hdr.Iov = &l.iovAll
	l.hdr.SetIovlen(1)
	l.hdr.Control = &l.cbuf[0]
	for i := range l.msgs {
		l.msgs[i].Hdr.Iov = &l.iov[i]
		l.msgs[i].Hdr.SetIovlen(1)
	}
	l.readFn = l.read
	l.writeFn = l.write
	return l
}

// read is the RawConn.Read callback: it moves bursts until the source is drained (false: wait
// for the next edge), ends (eof) or fails (err).
func (l *readyLoop) read(fd uintptr) bool {
	l.borrow()
	var done bool
	if l.inq {
		done = l.moveInq(fd)
	} else {
		done = l.move(fd)
	}
	l.pool.Put(l.held)
	l.held, l.buf, l.out = nil, nil, nil
	l.iov[0].Base, l.iov[1].Base, l.iovAll.Base = nil, nil, nil
	return done
}

// borrow takes a buffer from the pool and points the two messages at its halves.
func (l *readyLoop) borrow() {
	l.held = l.pool.Get().(*[]byte)
	l.buf = *l.held
	half := len(l.buf) / 2
	l.iov[0].Base = &l.buf[0]
	l.iov[0].SetLen(half)
	l.iov[1].Base = &l.buf[half]
	l.iov[1].SetLen(len(l.buf) - half)
	l.iovAll.Base = &l.buf[0]
	l.iovAll.SetLen(len(l.buf))
}

// moveInq is move with TCP_INQ: one recvmsg per burst, whose control message says how many
// bytes the socket still holds. The kernel reports at least 1 once the peer's FIN is in, so 0
// means drained with no FIN pending: wait for the next edge. (The reset caveat of move holds
// here too: a reset that came with the data also reports 0.)
func (l *readyLoop) moveInq(fd uintptr) bool {
	for {
		l.hdr.SetControllen(len(l.cbuf))
		l.hdr.Flags = 0
		n, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&l.hdr)), 0)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			l.err = errno
			return true
		}
		if n == 0 {
			l.eof = true
			return true
		}
		left := 1 // no hint: read again, which costs at most an EAGAIN
		if h := (*unix.Cmsghdr)(unsafe.Pointer(&l.cbuf[0])); int(l.hdr.Controllen) >= unix.CmsgLen(4) &&
			int(h.Len) >= unix.CmsgLen(4) && h.Level == unix.SOL_TCP && h.Type == unix.TCP_CM_INQ {
			left = int(*(*int32)(unsafe.Pointer(&l.cbuf[unix.CmsgLen(0)])))
		}
		l.out = l.buf[:n]
		l.sess.arrived(l.dir)
		if err := l.dstRaw.Write(l.writeFn); err != nil || l.err != nil {
			if l.err == nil {
				l.err = err
			}
			return true
		}
		l.counter.Add(uint64(n))
		l.sess.moved(l.dir, time.Now().UnixNano())
		if left == 0 {
			return false
		}
	}
}

// move is read's work with a buffer held.
func (l *readyLoop) move(fd uintptr) bool {
	half := len(l.buf) / 2
	for {
		l.msgs[0].Len, l.msgs[1].Len = 0, 0
		r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&l.msgs[0])), 2, 0, 0, 0)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			l.err = errno
			return true
		}
		n1, n2 := int(l.msgs[0].Len), int(l.msgs[1].Len)
		if n1 == 0 { // FIN with nothing before it
			l.eof = true
			return true
		}
		data := l.buf[:n1]
		if r == 2 && n2 > 0 {
			if n1 < half { // data arrived between the two messages
				copy(l.buf[n1:], l.buf[half:half+n2])
			}
			data = l.buf[:n1+n2]
		}
		l.out = data
		l.sess.arrived(l.dir)
		if err := l.dstRaw.Write(l.writeFn); err != nil || l.err != nil {
			if l.err == nil {
				l.err = err
			}
			return true
		}
		l.counter.Add(uint64(len(data)))
		l.sess.moved(l.dir, time.Now().UnixNano())
		switch {
		case r == 2 && n2 == 0: // the second message met the FIN
			l.eof = true
			return true
		case r == 1:
			// The second message found nothing (EAGAIN): drained, wait for the next edge.
			// Caveat: an error there (a reset that came with the data) looks the same; the
			// kernel keeps it for the next call, which comes with the next edge, a write in
			// the other direction, or the idle timeout.
			return false
		}
		// Both messages filled: there may be more.
	}
}

// write is the RawConn.Write callback: false waits until dst is writable again.
func (l *readyLoop) write(fd uintptr) bool {
	for len(l.out) > 0 {
		n, _, errno := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&l.out[0])), uintptr(len(l.out)))
		switch errno {
		case 0:
			l.out = l.out[n:]
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			l.err = errno
			return true
		}
	}
	return true
}

// pipeReady is pipeCopy through a readyLoop. It reports false, having done nothing, when the
// connections do not expose descriptors.
func (s *service) pipeReady(sess *tcpSession, dir int, dst, src *net.TCPConn, counter *atomic.Uint64) bool {
	l := newReadyLoop(dst, src, &s.bal.bufs, counter, sess, dir, s.bal.opts.noInq)
	if l == nil {
		return false
	}
	other := &sess.progress[1-dir]
	for {
		idle := s.idleTimeout()
		src.SetReadDeadline(time.Now().Add(idle))
		err := l.srcRaw.Read(l.readFn)
		if l.eof && l.err == nil {
			sess.progress[dir].Store(0)
			dst.CloseWrite()
			return true
		}
		if l.err != nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		// The deadline was set when the loop started, not at the last burst: idle only if
		// neither direction moved for that long.
		if time.Since(time.Unix(0, sess.progress[dir].Load())) < idle || time.Since(time.Unix(0, other.Load())) < idle {
			continue
		}
		break
	}
	sess.progress[dir].Store(0)
	s.fail(sess)
	return true
}

// serverReset reports whether the backend reset c: the kernel moves a socket that received a
// reset to TCP_CLOSE, while one whose client side failed stays established (and one the
// session already closed has no descriptor to ask).
func serverReset(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	reset := false
	_ = rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO)
		reset = err == nil && info.State == tcpClose
	})
	return reset
}

// tcpClose is TCP_CLOSE of the kernel's tcp_states.h, as tcpi_state reports it.
const tcpClose = 7
