package check

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/probe"
)

// ConnOptions are the connection options every Keepalived network checker shares:
// connect_ip/connect_port (Addr), bindto, bind_port, bind_if and fwmark.
type ConnOptions struct {
	// Addr is where the probe goes (the real server's address unless connect_ip/connect_port say
	// otherwise).
	Addr netip.AddrPort
	// BindAddr, when valid, is the source address (bindto).
	BindAddr netip.Addr
	// BindPort, when non-zero, is the source port (bind_port).
	BindPort uint16
	// BindIf, when set, pins the socket to an interface with SO_BINDTODEVICE (bind_if).
	BindIf string
	// Fwmark, when non-zero, marks every packet of the probe with SO_MARK (fwmark).
	Fwmark uint32
}

// socketOptions are the options that stay on the probe's socket.
func (o ConnOptions) socketOptions() probe.SocketOptions {
	return probe.SocketOptions{BindAddr: o.BindAddr, BindPort: o.BindPort, BindIf: o.BindIf, Fwmark: o.Fwmark}
}

// keySuffix renders the options that change what a probe sends, for Key.
func (o ConnOptions) keySuffix() string {
	var b strings.Builder
	if o.BindAddr.IsValid() || o.BindPort != 0 {
		b.WriteString(" bind=")
		if o.BindAddr.IsValid() {
			b.WriteString(netip.AddrPortFrom(o.BindAddr, o.BindPort).String())
		} else {
			b.WriteString(":" + strconv.Itoa(int(o.BindPort)))
		}
	}
	if o.BindIf != "" {
		b.WriteString(" if=" + o.BindIf)
	}
	if o.Fwmark != 0 {
		b.WriteString(" mark=" + strconv.FormatUint(uint64(o.Fwmark), 10))
	}
	return b.String()
}

// dialer builds the net.Dialer that applies the bind and socket options for network ("tcp" or
// "udp"). The dialer is reusable and safe for concurrent use.
func (o ConnOptions) dialer(network string) *net.Dialer {
	d := &net.Dialer{KeepAlive: -1}
	if o.BindAddr.IsValid() || o.BindPort != 0 {
		ip := net.IP(nil)
		if o.BindAddr.IsValid() {
			ip = net.IP(o.BindAddr.Unmap().AsSlice())
		}
		if network == "udp" {
			d.LocalAddr = &net.UDPAddr{IP: ip, Port: int(o.BindPort), Zone: o.BindAddr.Zone()}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: ip, Port: int(o.BindPort), Zone: o.BindAddr.Zone()}
		}
	}
	if o.BindIf != "" || o.Fwmark != 0 {
		so := o.socketOptions()
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = so.SetDeviceAndMark(int(fd)) }); err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

// probeResult builds a Result that leaves the weight alone.
func probeResult(start time.Time, healthy bool, reason string) probe.Result {
	return probe.Result{Healthy: healthy, Weight: -1, Reason: reason, Latency: time.Since(start)}
}

// failReason says why step failed, in words a person reads in a log: a probe that ran out of time
// says "timeout" whatever layer noticed it first.
func failReason(ctx context.Context, step string, err error) string {
	if errors.Is(ctx.Err(), context.Canceled) {
		return step + ": canceled"
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return step + ": timeout"
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return step + ": " + se.Err.Error()
	}
	var pe *os.PathError // a probe socket's reads and writes (probeConn)
	if errors.As(err, &pe) {
		return step + ": " + pe.Err.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return step + ": " + oe.Err.Error()
	}
	return step + ": " + err.Error()
}

// bindConn applies ctx's deadline to conn and, if ctx is cancelled before the returned stop is
// called, unblocks any pending I/O at once.
func bindConn(ctx context.Context, conn net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// TCPOptions configure a TCP_CHECK.
type TCPOptions struct {
	ConnOptions `json:"-"`
}

// TCPKind is TCP_CHECK's block.
var TCPKind = Kind{Name: "TCP_CHECK", JSON: "tcp", Shared: Timing | Connection, Block: func(b *Block) Options {
	return &TCPOptions{}
}}

// New builds the TCP_CHECK.
func (o TCPOptions) New(env Env) (probe.Checker, error) {
	o.ConnOptions = env.Conn
	return NewTCP(o), nil
}

// TCPChecker is Keepalived's TCP_CHECK: the target is healthy when a TCP connection to it is
// established. The connection is then reset (SO_LINGER 0) rather than closed gracefully, so
// that thousands of probes leave no TIME_WAIT sockets behind, and, as HAProxy does for its TCP
// checks, the last ACK of the handshake is held back (TCP_QUICKACK off) so that the reset
// reaches the target while its connection is still half-open: the target's kernel answered the
// SYN, which is all TCP_CHECK asks, and its application is spared an accept and a close per
// probe.
type TCPChecker struct {
	opts     TCPOptions
	target   probe.Endpoint
	addr     string
	key      string
	halfOpen bool
}

// NewTCP returns a TCP_CHECK of opts.Addr.
func NewTCP(opts TCPOptions) *TCPChecker {
	addr := opts.Addr.String()
	return &TCPChecker{
		opts:     opts,
		target:   probe.NewEndpoint(opts.Addr, opts.socketOptions()),
		addr:     addr,
		key:      "TCP_CHECK " + addr + opts.keySuffix(),
		halfOpen: true,
	}
}

// Kind returns "TCP_CHECK".
func (c *TCPChecker) Kind() string { return "TCP_CHECK" }

// Target returns the address probed, "192.0.2.10:80".
func (c *TCPChecker) Target() string { return c.addr }

// Key returns "TCP_CHECK <addr>[ bind=<addr:port>][ if=<ifname>][ mark=<n>]".
func (c *TCPChecker) Key() string { return c.key }

// Check connects and resets the connection, on a socket of its own.
func (c *TCPChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	s, err := c.target.Dial(ctx, nil, c.halfOpen)
	if err != nil {
		return probeResult(start, false, failReason(ctx, "connect", err))
	}
	s.Close()
	return probeResult(start, true, "connected")
}

// Pollable is true: a TCP_CHECK never needs a goroutine.
func (c *TCPChecker) Pollable() bool { return true }

// StartProbe runs the part of a TCP_CHECK that never waits: done with the result when the
// handshake ended (or failed) within connect and the poll that follows it, as it usually does
// on a near network; otherwise a probe waiting for the handshake.
func (c *TCPChecker) StartProbe(sockets *probe.SocketPool, start time.Time) (probe.Pending, probe.Result, bool) {
	s, done, err := c.target.Connect(sockets, c.halfOpen)
	switch {
	case err != nil:
		return nil, probeResult(start, false, failReason(context.Background(), "connect", err)), true
	case done:
		s.Close()
		return nil, probeResult(start, true, "connected"), true
	}
	return &tcpPending{sock: s, start: start}, probe.Result{}, false
}

// tcpPending is a TCP_CHECK whose handshake is under way, in the scheduler's poller.
type tcpPending struct {
	sock  *probe.Socket
	start time.Time
}

// Wait is for the socket to become writable: the handshake is over.
func (t *tcpPending) Wait() (*probe.Socket, uint32) { return t.sock, unix.EPOLLOUT }

// Ready ends the probe once the handshake has ended, well or not.
func (t *tcpPending) Ready(ev uint32, _ []byte) (probe.Result, bool) {
	if err := t.sock.ConnectError(); err != nil {
		return t.Fail(failReason(context.Background(), "connect", err)), true
	}
	switch {
	case ev&unix.EPOLLOUT != 0:
		t.sock.Close()
		return probeResult(t.start, true, "connected"), true
	case ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0:
		return t.Fail("connect: connection closed during the handshake"), true
	}
	return probe.Result{}, false
}

// Expire fails the probe: the handshake did not end in time.
func (t *tcpPending) Expire() probe.Result { return t.Fail("connect: timeout") }

// Fail resets the connection and fails the probe with reason.
func (t *tcpPending) Fail(reason string) probe.Result {
	t.sock.Close()
	return probeResult(t.start, false, reason)
}
