package check

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
// the SYN-ACK as the connect call releases the socket; only when it has not does the probe hand
// the socket to Go's netpoller (os.NewFile) and wait there, so no probe ever blocks a thread.

// probeTarget is where a TCP_CHECK or HTTP_GET connects, with its options, and the socket
// address made once for connect rather than per probe.
type probeTarget struct {
	opts   ConnOptions
	family int
	sa     rawSockaddr
	// zoned: the address has an IPv6 zone, whose interface index is looked up per probe (the
	// interface may come and go).
	zoned bool
	// pooled: the probe sets no sticky socket option (bind, interface, mark), so its socket
	// comes from and goes back to probeSockets.
	pooled bool
}

func newProbeTarget(o ConnOptions) probeTarget {
	t := probeTarget{opts: o}
	t.pooled = !o.BindAddr.IsValid() && o.BindPort == 0 && o.BindIf == "" && o.Fwmark == 0
	a := o.Addr.Addr()
	if a.Is4() || a.Is4In6() {
		t.family = unix.AF_INET
		t.sa.setInet4(a.Unmap().As4(), o.Addr.Port())
		return t
	}
	t.family = unix.AF_INET6
	t.zoned = a.Zone() != ""
	t.sa.setInet6(a.As16(), o.Addr.Port(), 0)
	return t
}

// sockaddr returns the address to connect to.
func (t *probeTarget) sockaddr() *rawSockaddr {
	if !t.zoned {
		return &t.sa
	}
	sa := new(rawSockaddr)
	var scope uint32
	if ifi, err := net.InterfaceByName(t.opts.Addr.Addr().Zone()); err == nil {
		scope = uint32(ifi.Index)
	}
	sa.setInet6(t.opts.Addr.Addr().As16(), t.opts.Addr.Port(), scope)
	return sa
}

// probeSocket is a non-blocking TCP socket of a probe, connected or connecting.
type probeSocket struct {
	fd int
	// family and pooled say where the socket goes once the probe is done (release).
	family int
	pooled bool
	// file owns fd once the probe had to wait in the netpoller; nil before.
	file *os.File
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

// applySockopts sets bind_if (SO_BINDTODEVICE) and fwmark (SO_MARK) on fd.
func (o *ConnOptions) applySockopts(fd int) error {
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

// probeConnect opens a TCP connection to o.Addr with o's bind and socket options, set to be
// reset (SO_LINGER 0) when closed. With halfOpen the final ACK of the handshake is held back
// (TCP_QUICKACK off, as HAProxy does for its pure TCP checks), so a close right after connect
// resets the target's half-open connection before its application ever accepts it. The error
// is what failReason reports. The caller closes the socket.
func (t *probeTarget) probeConnect(ctx context.Context, halfOpen bool) (*probeSocket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, done, err := t.startConnect(halfOpen)
	if err != nil || done {
		return s, err
	}
	if err := s.waitConnected(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// startConnect opens the socket and starts the handshake without waiting: done once it has
// finished already (on a near network, usually). On error the socket is closed and nil.
func (t *probeTarget) startConnect(halfOpen bool) (s *probeSocket, done bool, err error) {
	s, done, err = t.openConnect(halfOpen)
	if err != nil || done {
		return s, done, err
	}
	done, err = s.connected()
	if err != nil {
		s.close()
		return nil, false, err
	}
	return s, done, nil
}

// openConnect opens the socket and calls connect: done when connect itself returned success,
// which a non-blocking TCP connect rarely does even when the handshake is over by then. On
// error the socket is closed and nil.
func (t *probeTarget) openConnect(halfOpen bool) (s *probeSocket, done bool, err error) {
	for {
		var reused bool
		s, reused, err = t.socket(halfOpen)
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
			s.close()
			return nil, false, os.NewSyscallError("connect", err)
		default:
			s.close()
			return nil, false, os.NewSyscallError("connect", err)
		}
	}
}

// socket returns a socket set up for a probe of t: an idle one from the pool when t sets no
// sticky option, else a new one.
func (t *probeTarget) socket(halfOpen bool) (s *probeSocket, reused bool, err error) {
	s = &probeSocket{family: t.family, pooled: t.pooled}
	if t.pooled {
		s.fd, reused, err = probeSockets.get(t.family)
	} else {
		s.fd, err = newProbeSocket(t.family)
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.setup(&t.opts, halfOpen); err != nil {
		s.close()
		return nil, false, err
	}
	return s, reused, nil
}

// setup sets the options a probe's socket needs beyond newProbeSocket's. TCP_QUICKACK is set on
// every use: a disconnect clears it.
func (s *probeSocket) setup(o *ConnOptions, halfOpen bool) error {
	if halfOpen {
		if err := rawSetsockoptInt(s.fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
			return os.NewSyscallError("setsockopt TCP_QUICKACK", err)
		}
	}
	if err := o.applySockopts(s.fd); err != nil {
		return err
	}
	if o.BindAddr.IsValid() || o.BindPort != 0 {
		local := o.BindAddr
		if !local.IsValid() {
			local = netip.IPv4Unspecified()
			if o.Addr.Addr().Is6() && !o.Addr.Addr().Is4In6() {
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
func (s *probeSocket) connected() (done bool, err error) {
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
func (s *probeSocket) waitConnected(ctx context.Context) error {
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

// close resets the probe's connection, if any, and gives the socket back to the pool or closes
// it.
func (s *probeSocket) close() {
	if s.file != nil {
		_ = s.file.Close()
		return
	}
	releaseSocket(s.fd, s.family, s.pooled)
}

// releaseSocket gives fd back to the pool when it came from there, else closes it.
func releaseSocket(fd, family int, pooled bool) {
	if pooled {
		probeSockets.put(fd, family)
		return
	}
	rawClose(fd)
}

// conn hands the connected socket to the netpoller as a net.Conn for a probe that talks over
// it (HTTP_GET, SSL_GET). Closing it resets the connection.
func (s *probeSocket) conn(remote netip.AddrPort) net.Conn {
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
