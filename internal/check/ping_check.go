package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/probe"
)

// Pinger sends one ICMP echo request and waits for its reply; *icmp.Pinger is the one to use,
// shared by every PING_CHECK of an address family.
type Pinger interface {
	Ping(ctx context.Context, dst netip.Addr) (time.Duration, error)
}

// SourcedPinger is a Pinger that also picks, per request, the source address and the outgoing
// interface; *icmp.Pinger is one.
type SourcedPinger interface {
	Pinger
	PingFrom(ctx context.Context, dst, src netip.Addr, ifIndex int) (time.Duration, error)
}

// PingOptions configure a PING_CHECK.
type PingOptions struct {
	// Addr is the address pinged.
	Addr netip.Addr `json:"-"`
	// Pinger sends the echo requests; it must serve Addr's family. A fwmark is the Pinger's:
	// give marked checks a Pinger opened with that mark.
	Pinger Pinger `json:"-"`
	// BindAddr, when valid, is the source address of the requests (bindto).
	BindAddr netip.Addr `json:"-"`
	// BindIf, when set, is the interface the requests leave by (bind_if); it is looked up at
	// each probe, so it may appear after the checker is built.
	BindIf string `json:"-"`
}

// PingKind is PING_CHECK's block, which has no keyword of its own.
var PingKind = Kind{Name: "PING_CHECK", JSON: "ping", Shared: Timing | Connection, Block: func(*Block) Options { return &PingOptions{} }}

// New builds the PING_CHECK of the connection's address (connect_ip, else the real server's)
// on env's shared ICMP socket for its family.
func (o PingOptions) New(env Env) (probe.Checker, error) {
	o.Addr = env.Conn.Addr.Addr()
	if env.Pinger != nil {
		p, err := env.Pinger(o.Addr)
		if err != nil {
			return nil, fmt.Errorf("PING_CHECK: %w", err)
		}
		o.Pinger = p
	}
	return NewPing(o), nil
}

// PingChecker is Keepalived's PING_CHECK: healthy when an echo reply comes back before the
// deadline. Unlike Keepalived, which opens a socket per checker, every PING_CHECK of a family
// shares one socket: bindto and bind_if are applied per request, and a fwmark needs a Pinger
// of its own.
type PingChecker struct {
	addr   netip.Addr
	pinger Pinger
	src    netip.Addr
	bindIf string
	target string
	key    string
}

// NewPing returns a PING_CHECK of opts.Addr.
func NewPing(opts PingOptions) *PingChecker {
	a := opts.Addr.Unmap()
	key := "PING_CHECK " + a.String()
	if opts.BindAddr.IsValid() {
		key += " bind=" + opts.BindAddr.Unmap().String()
	}
	if opts.BindIf != "" {
		key += " if=" + opts.BindIf
	}
	return &PingChecker{addr: a, pinger: opts.Pinger, src: opts.BindAddr.Unmap(), bindIf: opts.BindIf, target: a.String(), key: key}
}

// Kind returns "PING_CHECK".
func (c *PingChecker) Kind() string { return "PING_CHECK" }

// Target returns the address pinged.
func (c *PingChecker) Target() string { return c.target }

// Key returns "PING_CHECK <addr>[ bind=<src>][ if=<ifname>]".
func (c *PingChecker) Key() string { return c.key }

// Check sends one echo request.
func (c *PingChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	if c.pinger == nil {
		return probeResult(start, false, "ping: no pinger for "+c.target)
	}
	var rtt time.Duration
	var err error
	if c.src.IsValid() || c.bindIf != "" {
		sp, ok := c.pinger.(SourcedPinger)
		if !ok {
			return probeResult(start, false, "ping: the pinger cannot choose a source address or interface")
		}
		ifIndex := 0
		if c.bindIf != "" {
			ifi, ierr := net.InterfaceByName(c.bindIf)
			if ierr != nil {
				return probeResult(start, false, "ping: bind_if "+c.bindIf+": "+ierr.Error())
			}
			ifIndex = ifi.Index
		}
		rtt, err = sp.PingFrom(ctx, c.addr, c.src, ifIndex)
	} else {
		rtt, err = c.pinger.Ping(ctx, c.addr)
	}
	if err != nil {
		reason := err.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && !strings.Contains(reason, "timeout") {
			reason = "ping: timeout: " + reason
		}
		return probeResult(start, false, reason)
	}
	return probeResult(start, true, "echo reply in "+rtt.Round(time.Microsecond).String())
}
