package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Why the TCP probes open their sockets by hand rather than through net.Dialer: a dial through
// the net package costs ten system calls (socket, connect, epoll_ctl add, getsockopt, getpeername,
// getsockname, TCP_NODELAY, SO_LINGER, epoll_ctl del, close) and a dozen allocations, and the
// checker benchmark (bench/checks) spends most of its CPU in system calls. A probe needs five:
// socket, setsockopt, connect, a poll with a zero timeout, close. On a near network (loopback, a
// LAN) the handshake has usually finished by the time connect returns, since the kernel handles
// the SYN-ACK as the connect call releases the socket; only when it has not does the probe wait:
// in the scheduler's poller (Connect, Open), or in Go's netpoller (os.NewFile) for a probe on a
// goroutine (Dial), so no probe ever blocks a thread.

// Endpoint is where a probe's TCP socket connects, with the options that stay on the socket,
// and the socket address made once for connect rather than per probe.
type Endpoint struct {
	addr   netip.AddrPort
	opts   SocketOptions
	family int
	sa     rawSockaddr
	// zoned: the address has an IPv6 zone, whose interface index is looked up per probe (the
	// interface may come and go).
	zoned bool
	// pooled: the probe sets no sticky socket option (bind, interface, mark), so its socket may
	// come from and go back to a SocketPool.
	pooled bool
}

// SocketOptions are the options that stay on a probe's socket once set: the source address and
// port (Keepalived's bindto and bind_port), the interface (bind_if) and the mark (fwmark).
type SocketOptions struct {
	// BindAddr, when valid, is the source address.
	BindAddr netip.Addr
	// BindPort, when non-zero, is the source port.
	BindPort uint16
	// BindIf, when set, pins the socket to an interface with SO_BINDTODEVICE.
	BindIf string
	// Fwmark, when non-zero, marks every packet with SO_MARK.
	Fwmark uint32
}

// NewEndpoint returns where a probe connects to addr with the socket options o.
func NewEndpoint(addr netip.AddrPort, o SocketOptions) Endpoint {
	t := Endpoint{addr: addr, opts: o}
	t.pooled = !o.BindAddr.IsValid() && o.BindPort == 0 && o.BindIf == "" && o.Fwmark == 0
	a := addr.Addr()
	if a.Is4() || a.Is4In6() {
		t.family = unix.AF_INET
		t.sa.setInet4(a.Unmap().As4(), addr.Port())
		return t
	}
	t.family = unix.AF_INET6
	t.zoned = a.Zone() != ""
	t.sa.setInet6(a.As16(), addr.Port(), 0)
	return t
}

// sockaddr returns the address to connect to.
func (t *Endpoint) sockaddr() *rawSockaddr {
	if !t.zoned {
		return &t.sa
	}
	sa := new(rawSockaddr)
	var scope uint32
	if ifi, err := net.InterfaceByName(t.addr.Addr().Zone()); err == nil {
		scope = uint32(ifi.Index)
	}
	sa.setInet6(t.addr.Addr().As16(), t.addr.Port(), scope)
	return sa
}

// Socket is a probe's non-blocking TCP socket, connected or connecting. Its reads and writes
// are raw system calls (rawsys.go) for the probes the poller moves on; a probe that runs on a
// goroutine talks over Conn instead.
type Socket struct {
	fd     int // -1 once closed
	family int
	// pool is where the socket goes back once the probe is done (Close); nil: it is closed.
	pool *SocketPool
	// file owns fd once the probe had to wait in the netpoller; nil before.
	file *os.File
	// The poller's: the epoll set fd is registered in and the events it waits for there; 0 when
	// it is not registered.
	epfd     int
	watching uint32
}

// tcpSockaddr converts ap for connect and bind; IPv4-mapped IPv6 addresses become IPv4, as
// net.Dial treats them.
func tcpSockaddr(ap netip.AddrPort) (unix.Sockaddr, int) {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6
}

// SetDeviceAndMark sets bind_if (SO_BINDTODEVICE) and fwmark (SO_MARK) on fd; binding to
// BindAddr and BindPort is the caller's.
func (o *SocketOptions) SetDeviceAndMark(fd int) error {
	if o.BindIf != "" {
		if err := unix.BindToDevice(fd, o.BindIf); err != nil {
			return fmt.Errorf("bind to device %q: %w", o.BindIf, err)
		}
	}
	if o.Fwmark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(o.Fwmark)); err != nil {
			return fmt.Errorf("set fwmark %d: %w", o.Fwmark, err)
		}
	}
	return nil
}

// Dial opens a TCP connection to t with its bind and socket options, set to be reset
// (SO_LINGER 0) when closed, and waits for the handshake in the netpoller until ctx ends. With
// halfOpen the final ACK of the handshake is held back (TCP_QUICKACK off, as HAProxy does for
// its pure TCP checks), so a close right after connect resets the target's half-open connection
// before its application ever accepts it. The socket comes from pool when t allows it (pool may
// be nil). The caller closes the socket.
func (t *Endpoint) Dial(ctx context.Context, pool *SocketPool, halfOpen bool) (*Socket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, done, err := t.Connect(pool, halfOpen)
	if err != nil || done {
		return s, err
	}
	if err := s.waitConnected(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Connect opens the socket and starts the handshake without waiting: done once it has finished
// already (on a near network, usually). On error the socket is closed and nil.
func (t *Endpoint) Connect(pool *SocketPool, halfOpen bool) (s *Socket, done bool, err error) {
	s, done, err = t.Open(pool, halfOpen)
	if err != nil || done {
		return s, done, err
	}
	done, err = s.connected()
	if err != nil {
		s.Close()
		return nil, false, err
	}
	return s, done, nil
}

// Open opens the socket and calls connect: done when connect itself returned success, which a
// non-blocking TCP connect rarely does even when the handshake is over by then. On error the
// socket is closed and nil.
func (t *Endpoint) Open(pool *SocketPool, halfOpen bool) (s *Socket, done bool, err error) {
	for {
		var reused bool
		s, reused, err = t.socket(pool, halfOpen)
		if err != nil {
			return nil, false, err
		}
		switch err := rawConnect(s.fd, t.sockaddr()); err {
		case nil:
			return s, true, nil
		case unix.EINPROGRESS, unix.EINTR:
			return s, false, nil
		case unix.EISCONN, unix.EALREADY, unix.EINVAL:
			if reused {
				// The kernel did not take the reused socket back to its unconnected state:
				// drop it and connect from a new one.
				rawClose(s.fd)
				continue
			}
			if err == unix.EALREADY {
				return s, false, nil
			}
			s.Close()
			return nil, false, os.NewSyscallError("connect", err)
		default:
			s.Close()
			return nil, false, os.NewSyscallError("connect", err)
		}
	}
}

// socket returns a socket set up for a probe of t: an idle one from pool when t sets no sticky
// option, else a new one.
func (t *Endpoint) socket(pool *SocketPool, halfOpen bool) (s *Socket, reused bool, err error) {
	s = &Socket{family: t.family}
	if t.pooled && pool != nil {
		s.pool = pool
		s.fd, reused, err = pool.get(t.family)
	} else {
		s.fd, err = newProbeSocket(t.family)
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.setup(t, halfOpen); err != nil {
		s.Close()
		return nil, false, err
	}
	return s, reused, nil
}

// setup sets the options a probe's socket needs beyond newProbeSocket's. TCP_QUICKACK is set on
// every use: a disconnect clears it.
func (s *Socket) setup(t *Endpoint, halfOpen bool) error {
	if halfOpen {
		if err := rawSetsockoptInt(s.fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
			return os.NewSyscallError("setsockopt TCP_QUICKACK", err)
		}
	}
	o := &t.opts
	if err := o.SetDeviceAndMark(s.fd); err != nil {
		return err
	}
	if o.BindAddr.IsValid() || o.BindPort != 0 {
		local := o.BindAddr
		if !local.IsValid() {
			local = netip.IPv4Unspecified()
			if t.addr.Addr().Is6() && !t.addr.Addr().Is4In6() {
				local = netip.IPv6Unspecified()
			}
		}
		la, _ := tcpSockaddr(netip.AddrPortFrom(local, o.BindPort))
		if err := unix.Bind(s.fd, la); err != nil {
			return os.NewSyscallError("bind "+netip.AddrPortFrom(local, o.BindPort).String(), err)
		}
	}
	return nil
}

// connected polls the socket without waiting: done once the handshake has finished, an error
// once it has failed.
func (s *Socket) connected() (done bool, err error) {
	re, err := rawPollOut(s.fd)
	if err != nil {
		return false, os.NewSyscallError("poll", err)
	}
	if re&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) == 0 {
		return re&unix.POLLOUT != 0, nil
	}
	soErr, err := rawGetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return false, os.NewSyscallError("getsockopt SO_ERROR", err)
	}
	if soErr != 0 {
		return false, os.NewSyscallError("connect", syscall.Errno(soErr))
	}
	return false, errors.New("connection closed during the handshake")
}

// waitConnected hands the socket to the netpoller and waits until the handshake ends or ctx
// does.
func (s *Socket) waitConnected(ctx context.Context) error {
	s.file = os.NewFile(uintptr(s.fd), "tcp probe")
	rc, err := s.file.SyscallConn()
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.file.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.file.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var cerr error
	err = rc.Write(func(uintptr) bool {
		var done bool
		done, cerr = s.connected()
		return done || cerr != nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return cerr
}

// ConnectError returns the error the handshake left on the socket (SO_ERROR), nil when there is
// none.
func (s *Socket) ConnectError() error {
	soErr, err := rawGetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return os.NewSyscallError("getsockopt SO_ERROR", err)
	case soErr != 0:
		return os.NewSyscallError("connect", unix.Errno(soErr))
	}
	return nil
}

// Read reads from the socket without waiting: the error is the system call's unix.Errno,
// unix.EAGAIN when there is nothing to read yet.
func (s *Socket) Read(p []byte) (int, error) { return rawRead(s.fd, p) }

// Write writes to the socket without waiting: the error is the system call's unix.Errno,
// unix.EAGAIN when the socket takes nothing more yet (or its handshake is not over).
func (s *Socket) Write(p []byte) (int, error) { return rawWrite(s.fd, p) }

// FD is the socket's descriptor, for a socket option the engine does not set; -1 once closed.
func (s *Socket) FD() int { return s.fd }

// Close resets the probe's connection, if any, and gives the socket back to its pool or closes
// it. Closing a closed socket does nothing.
func (s *Socket) Close() {
	switch {
	case s.fd < 0:
		return
	case s.file != nil:
		_ = s.file.Close()
	default:
		if s.watching != 0 && s.pool != nil {
			// A pooled socket lives on: it must leave the poller's epoll set, which a close
			// would have done.
			_ = rawEpollCtl(s.epfd, unix.EPOLL_CTL_DEL, s.fd, &unix.EpollEvent{})
		}
		s.pool.put(s.fd, s.family)
	}
	s.fd, s.watching = -1, 0
}

// Conn hands the connected socket to the netpoller as a net.Conn for a probe that talks over it
// on a goroutine. Closing it resets the connection.
func (s *Socket) Conn(remote netip.AddrPort) net.Conn {
	if s.file == nil {
		s.file = os.NewFile(uintptr(s.fd), "tcp probe")
	}
	return &probeConn{File: s.file, remote: net.TCPAddrFromAddrPort(remote)}
}

// probeConn is a connected socket as a net.Conn: an os.File, whose reads, writes and deadlines
// go through the netpoller like a net.TCPConn's, without the net package's bookkeeping.
type probeConn struct {
	*os.File
	remote *net.TCPAddr
}

var _ net.Conn = (*probeConn)(nil)

// LocalAddr is not tracked: the probes never need it.
func (c *probeConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *probeConn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the socket's own address and port, which connect gave it: what a PROXY
// protocol header names as the source.
func (s *Socket) LocalAddr() (netip.AddrPort, error) {
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return netip.AddrPort{}, os.NewSyscallError("getsockname", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("getsockname: address of type %T", sa)
}
