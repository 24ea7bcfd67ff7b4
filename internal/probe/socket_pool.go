package probe

import (
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Why polled probes (TCP_CHECK, HTTP_GET) reuse their sockets: creating a socket (a file, an
// inode, a dentry) and releasing it when it is closed cost about a seventh of the checker's CPU
// at 20,000 probes a second (bench/checks, perf), on top of the connection's own work. Linux lets
// a TCP socket be disconnected, connect with AF_UNSPEC, which resets an open connection as the
// close with SO_LINGER 0 did, and then connected again from a new ephemeral port. So a probe
// without bind, interface or mark options takes an idle socket of its family from its
// scheduler's pool and gives it back disconnected. A socket the kernel will not disconnect is closed instead, and one
// that will not connect again is replaced by a new one (Endpoint.Open).

// SocketPool holds disconnected TCP sockets, non-blocking and set to reset (SO_LINGER 0), ready
// for a probe's connect. A Scheduler has one of its own, lends it to the probes it starts
// (PolledChecker.StartProbe) and closes it when Run returns. The zero value is an empty pool; a
// nil *SocketPool pools nothing: a probe opens a socket of its own and closes it after.
type SocketPool struct {
	mu     sync.Mutex
	idle   [2][]int // AF_INET's, AF_INET6's
	closed bool
}

func familyIndex(family int) int {
	if family == unix.AF_INET6 {
		return 1
	}
	return 0
}

// maxIdleSockets bounds the idle sockets kept per family: enough for the probes of a few rounds,
// a small share of the open-file limit.
const maxIdleSockets = 512

// get returns an idle socket of family, reused, or else a new one.
func (p *SocketPool) get(family int) (fd int, reused bool, err error) {
	p.mu.Lock()
	if q := p.idle[familyIndex(family)]; len(q) > 0 {
		fd = q[len(q)-1]
		p.idle[familyIndex(family)] = q[:len(q)-1]
		p.mu.Unlock()
		return fd, true, nil
	}
	p.mu.Unlock()
	fd, err = newProbeSocket(family)
	return fd, false, err
}

// put disconnects fd, resetting any connection it has, and keeps it for another probe; a socket
// that will not disconnect, one more than the pool keeps, or one given back to a nil or closed
// pool is closed.
func (p *SocketPool) put(fd, family int) {
	if p == nil {
		rawClose(fd)
		return
	}
	if rawDisconnect(fd) != nil {
		rawClose(fd)
		return
	}
	// The disconnect leaves ECONNRESET pending on the socket; reading it clears it, so that the
	// next probe's poll does not take it for its own handshake's failure.
	_, _ = rawGetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	p.mu.Lock()
	if q := p.idle[familyIndex(family)]; !p.closed && len(q) < maxIdleSockets {
		p.idle[familyIndex(family)] = append(q, fd)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	rawClose(fd)
}

// Close closes the idle sockets; a socket given back afterwards is closed rather than kept.
func (p *SocketPool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = [2][]int{}, true
	p.mu.Unlock()
	for _, q := range idle {
		for _, fd := range q {
			rawClose(fd)
		}
	}
}

// newProbeSocket opens a non-blocking TCP socket set to be reset rather than closed gracefully
// (SO_LINGER 0), so that probes leave no TIME_WAIT behind.
func newProbeSocket(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := rawSetLingerZero(fd); err != nil {
		rawClose(fd)
		return -1, os.NewSyscallError("setsockopt SO_LINGER", err)
	}
	return fd, nil
}

// rawDisconnect dissolves fd's association (connect with AF_UNSPEC): a TCP connection is reset.
func rawDisconnect(fd int) error {
	sa := unix.RawSockaddrInet4{Family: unix.AF_UNSPEC}
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	return errnoErr(e)
}
