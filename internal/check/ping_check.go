package check

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"
)

// Pinger sends one ICMP echo request and waits for its reply; *icmp.Pinger is the one to use,
// shared by every PING_CHECK of an address family.
type Pinger interface {
	Ping(ctx context.Context, dst netip.Addr) (time.Duration, error)
}

// PingOptions configure a PING_CHECK.
type PingOptions struct {
	// Addr is the address pinged.
	Addr netip.Addr
	// Pinger sends the echo requests; it must serve Addr's family.
	Pinger Pinger
}

// PingChecker is Keepalived's PING_CHECK: healthy when an echo reply comes back before the
// deadline. Unlike Keepalived, which opens a socket per checker, every PING_CHECK of a family
// shares one socket, so bind and fwmark options do not apply.
type PingChecker struct {
	addr   netip.Addr
	pinger Pinger
	target string
	key    string
}

// NewPing returns a PING_CHECK of opts.Addr.
func NewPing(opts PingOptions) *PingChecker {
	a := opts.Addr.Unmap()
	return &PingChecker{addr: a, pinger: opts.Pinger, target: a.String(), key: "PING_CHECK " + a.String()}
}

// Kind returns "PING_CHECK".
func (c *PingChecker) Kind() string { return "PING_CHECK" }

// Target returns the address pinged.
func (c *PingChecker) Target() string { return c.target }

// Key returns "PING_CHECK <addr>".
func (c *PingChecker) Key() string { return c.key }

// Check sends one echo request.
func (c *PingChecker) Check(ctx context.Context) Result {
	start := time.Now()
	if c.pinger == nil {
		return probeResult(start, false, "ping: no pinger for "+c.target)
	}
	rtt, err := c.pinger.Ping(ctx, c.addr)
	if err != nil {
		reason := err.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && !strings.Contains(reason, "timeout") {
			reason = "ping: timeout: " + reason
		}
		return probeResult(start, false, reason)
	}
	r := probeResult(start, true, "echo reply in "+rtt.Round(time.Microsecond).String())
	return r
}
