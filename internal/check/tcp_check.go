package check

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/config/syntax"
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
	// SendProxy, when set, writes a PROXY protocol header first on the connection, naming the
	// probe's own address and the target (send_proxy, vigil's).
	SendProxy ProxyVersion `json:"send_proxy,omitempty"`
	// Steps, when set, are a dialogue the target must hold (vigil's send, send_hex, expect,
	// expect_regex, expect_hex, in file order); without them a connection is enough.
	Steps []TCPStep `json:"steps,omitempty"`
}

// TCPKind is TCP_CHECK's block, with vigil's dialogue keywords.
var TCPKind = Kind{Name: "TCP_CHECK", JSON: "tcp", Shared: Timing | Connection, Block: func(b *Block) Options {
	o := &TCPOptions{}
	k := b.Keywords
	k["send_proxy"] = sendProxyKeyword(func(v ProxyVersion) { o.SendProxy = v })
	// step reads one step; a step that cannot be read is an error, since the dialogue
	// without it would not be the one written.
	step := func(kind StepKind, read func(p *syntax.Parser, l syntax.Line, text string, st *TCPStep) bool) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 || l.Words[1] == "" {
				p.Diags.Errorf(l.Pos, "%s: missing its argument", l.Words[0])
				return
			}
			// A hex string may be written in several words; anything else is one (quoted).
			hex := l.Words[0] == "send_hex" || l.Words[0] == "expect_hex"
			if !hex && len(l.Words) > 2 {
				p.Diags.Errorf(l.Pos, "%s: one string expected, %d words given (quote it)", l.Words[0], len(l.Words)-1)
				return
			}
			text := restOfLine(l)
			st := TCPStep{Kind: kind, Keyword: l.Words[0], Text: text}
			if read(p, l, text, &st) {
				o.Steps = append(o.Steps, st)
			}
		}}
	}
	escaped := func(p *syntax.Parser, l syntax.Line, text string, st *TCPStep) bool {
		data, err := cEscapes(text)
		if err == nil && len(data) == 0 {
			err = errors.New("empty string")
		}
		if err != nil {
			p.Diags.Errorf(l.Pos, "%s %q: %v", l.Words[0], text, err)
			return false
		}
		st.Data = data
		return true
	}
	hexed := func(p *syntax.Parser, l syntax.Line, text string, st *TCPStep) bool {
		data, _, err := ParseHexPattern(text, false)
		if err != nil {
			p.Diags.Errorf(l.Pos, "%s: %v", l.Words[0], err)
			return false
		}
		st.Data = data
		return true
	}
	k["send"] = step(StepSend, escaped)
	k["send_hex"] = step(StepSend, hexed)
	k["expect"] = step(StepExpect, escaped)
	k["expect_hex"] = step(StepExpect, hexed)
	k["expect_regex"] = step(StepExpectRegex, func(p *syntax.Parser, l syntax.Line, text string, st *TCPStep) bool {
		re, ok := compileRegexp(p, l, "expect_regex", text)
		st.Regex = re
		return ok
	})
	return o
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
//
// With vigil's dialogue steps or send_proxy the checker talks: it writes the PROXY header and
// the sends, and waits for each expectation, all within the probe's deadline (the check's
// connect_timeout), then resets the connection.
type TCPChecker struct {
	opts     TCPOptions
	target   probe.Endpoint
	addr     string
	key      string
	halfOpen bool
	talks    bool
	okReason string
}

// NewTCP returns a TCP_CHECK of opts.Addr.
func NewTCP(opts TCPOptions) *TCPChecker {
	addr := opts.Addr.String()
	c := &TCPChecker{
		opts:     opts,
		target:   probe.NewEndpoint(opts.Addr, opts.socketOptions()),
		addr:     addr,
		key:      "TCP_CHECK " + addr + opts.keySuffix(),
		halfOpen: true,
		okReason: "connected",
		talks:    opts.SendProxy != ProxyNone || len(opts.Steps) > 0,
	}
	if c.talks {
		// The last ACK of the handshake rides on the first bytes sent; a server that speaks
		// first must have it at once.
		c.halfOpen = opts.SendProxy != ProxyNone || opts.Steps[0].Kind == StepSend
		c.okReason = okReason(opts.Steps)
		if opts.SendProxy != ProxyNone {
			c.key += " proxy=" + opts.SendProxy.String()
			c.okReason += " after a PROXY " + opts.SendProxy.String() + " header"
		}
		if len(opts.Steps) > 0 {
			h := fnv.New64a()
			for _, s := range opts.Steps {
				fmt.Fprintf(h, "%d\x00%x\x00%s\x00", s.Kind, s.Data, s.Regex)
			}
			c.key += fmt.Sprintf(" dialogue=%016x", h.Sum64())
		}
	}
	return c
}

// Kind returns "TCP_CHECK".
func (c *TCPChecker) Kind() string { return "TCP_CHECK" }

// Target returns the address probed, "192.0.2.10:80".
func (c *TCPChecker) Target() string { return c.addr }

// Key returns "TCP_CHECK <addr>[ bind=<addr:port>][ if=<ifname>][ mark=<n>][ proxy=v1|v2]
// [ dialogue=<hash of the steps>]".
func (c *TCPChecker) Key() string { return c.key }

// Check connects and resets the connection, on a socket of its own, after the dialogue when
// there is one.
func (c *TCPChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	s, err := c.target.Dial(ctx, nil, c.halfOpen)
	if err != nil {
		return probeResult(start, false, failReason(ctx, "connect", err))
	}
	if !c.talks {
		s.Close()
		return probeResult(start, true, c.okReason)
	}
	d, err := c.dialogue(s)
	if err != nil {
		s.Close()
		return probeResult(start, false, failReason(ctx, "send PROXY header", err))
	}
	conn := s.Conn(c.opts.Addr)
	stop := bindConn(ctx, conn)
	defer stop()
	defer conn.Close()
	buf := make([]byte, 4096)
	for !d.done() {
		if out := d.toSend(); out != nil {
			n, err := conn.Write(out)
			d.wrote(n)
			if err != nil {
				return probeResult(start, false, dialogueFailure(ctx, &d, err))
			}
			continue
		}
		n, err := conn.Read(buf)
		if n > 0 {
			if reason := d.feed(buf[:n]); reason != "" {
				return probeResult(start, false, reason)
			}
		}
		if err != nil && !d.done() {
			return probeResult(start, false, dialogueFailure(ctx, &d, err))
		}
	}
	return probeResult(start, true, c.okReason)
}

// dialogue starts a dialogue on s, with the PROXY header naming s's own address when asked.
func (c *TCPChecker) dialogue(s *probe.Socket) (dialogue, error) {
	var header []byte
	if c.opts.SendProxy != ProxyNone {
		local, err := s.LocalAddr()
		if err != nil {
			return dialogue{}, err
		}
		header = proxyHeader(c.opts.SendProxy, local, c.opts.Addr)
	}
	return newDialogue(c.opts.Steps, header), nil
}

// dialogueFailure says why a dialogue's read or write failed, in the words the poller's way
// uses too.
func dialogueFailure(ctx context.Context, d *dialogue, err error) string {
	if errors.Is(err, io.EOF) {
		return d.eof()
	}
	reason := failReason(ctx, d.step(), err)
	if strings.HasSuffix(reason, ": timeout") {
		return d.timeout()
	}
	return reason
}

// Pollable is true: a TCP_CHECK never needs a goroutine.
func (c *TCPChecker) Pollable() bool { return true }

// StartProbe runs the part of a TCP_CHECK that never waits: done with the result when the
// handshake ended (or failed) within connect and the poll that follows it, as it usually does
// on a near network; otherwise a probe waiting for the handshake.
func (c *TCPChecker) StartProbe(sockets *probe.SocketPool, start time.Time) (probe.Pending, probe.Result, bool) {
	if c.talks {
		return c.startTalk(sockets, start)
	}
	s, done, err := c.target.Connect(sockets, c.halfOpen)
	switch {
	case err != nil:
		return nil, probeResult(start, false, failReason(context.Background(), "connect", err)), true
	case done:
		s.Close()
		return nil, probeResult(start, true, c.okReason), true
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

// startTalk opens the connection of a TCP_CHECK that talks and writes what it can at once.
func (c *TCPChecker) startTalk(sockets *probe.SocketPool, start time.Time) (probe.Pending, probe.Result, bool) {
	s, _, err := c.target.Open(sockets, c.halfOpen)
	if err != nil {
		return nil, probeResult(start, false, failReason(context.Background(), "connect", err)), true
	}
	t := &tcpTalk{c: c, sock: s, start: start}
	if t.d, err = c.dialogue(s); err != nil {
		return nil, t.Fail(failReason(context.Background(), "send PROXY header", err)), true
	}
	if res, done := t.advance(nil); done {
		return nil, res, true
	}
	return t, probe.Result{}, false
}

// tcpTalk is a TCP_CHECK dialogue under way in the scheduler's poller.
type tcpTalk struct {
	c     *TCPChecker
	sock  *probe.Socket
	d     dialogue
	start time.Time
	// talked: a write or a read went through, so the handshake is over.
	talked bool
}

// Wait is for the socket to take the rest of a send, or for the server's bytes.
func (t *tcpTalk) Wait() (*probe.Socket, uint32) {
	if t.d.toSend() != nil {
		return t.sock, unix.EPOLLOUT
	}
	return t.sock, unix.EPOLLIN | unix.EPOLLRDHUP
}

// Ready moves the dialogue on.
func (t *tcpTalk) Ready(_ uint32, buf []byte) (probe.Result, bool) { return t.advance(buf) }

// advance writes and reads as far as the socket allows without waiting. With no buffer (the
// probe's start) it only writes.
func (t *tcpTalk) advance(buf []byte) (probe.Result, bool) {
	for !t.d.done() {
		if out := t.d.toSend(); out != nil {
			n, again, err := sockCall(t.sock.Write, out)
			switch {
			case again:
				return probe.Result{}, false
			case err != nil:
				return t.Fail(t.failure("write", err)), true
			}
			t.talked = true
			t.d.wrote(n)
			continue
		}
		if buf == nil {
			return probe.Result{}, false
		}
		n, again, err := sockCall(t.sock.Read, buf)
		switch {
		case again:
			return probe.Result{}, false
		case err != nil:
			return t.Fail(t.failure("read", err)), true
		case n == 0:
			return t.Fail(t.d.eof()), true
		}
		t.talked = true
		if reason := t.d.feed(buf[:n]); reason != "" {
			return t.Fail(reason), true
		}
	}
	t.sock.Close()
	return probeResult(t.start, true, t.c.okReason), true
}

// failure says why a system call of the dialogue failed: a handshake that failed shows as the
// first one's error.
func (t *tcpTalk) failure(call string, err error) string {
	step := t.d.step()
	if !t.talked && handshakeErrno(err) {
		step = "connect"
	}
	return failReason(context.Background(), step, os.NewSyscallError(call, err))
}

// Expire fails the dialogue at its step, or at connect when the handshake is not over.
func (t *tcpTalk) Expire() probe.Result {
	if !t.talked {
		if _, err := unix.Getpeername(t.sock.FD()); err != nil {
			return t.Fail("connect: timeout")
		}
	}
	return t.Fail(t.d.timeout())
}

// Fail resets the connection and fails the probe with reason.
func (t *tcpTalk) Fail(reason string) probe.Result {
	t.sock.Close()
	return probeResult(t.start, false, reason)
}
