package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config is one BGP speaker: vigil's own AS and router ID, the routers it peers with, and
// the damping that keeps a flapping pool from flapping the routes.
type Config struct {
	// LocalAS is vigil's autonomous system number; 0 is refused.
	LocalAS uint32
	// RouterID is the BGP identifier; it must be an IPv4 address.
	RouterID netip.Addr
	// ListenPort is the TCP port for incoming sessions; -1 means vigil only connects out,
	// 0 means the BGP port 179.
	ListenPort int32
	// Neighbors are the routers to announce to.
	Neighbors []Neighbor
	// HoldDown is the least time between announcing and withdrawing one prefix (either way
	// round). A change that comes sooner waits until the hold-down ends and is dropped if the
	// pool changes its mind meanwhile.
	HoldDown time.Duration
	// MaxWithdrawPerEvent caps how many prefixes may be withdrawn within one window
	// (HoldDown, or one second when HoldDown is shorter); further withdrawals wait for the
	// next window. 0 means no cap. Shutdown is not capped.
	MaxWithdrawPerEvent int
	// GracefulShutdownWait is how long Run keeps the sessions up after withdrawing
	// everything on shutdown, so that the routers move traffic away before vigil stops.
	GracefulShutdownWait time.Duration
}

// Neighbor is one BGP peer.
type Neighbor struct {
	// Address is the peer's address.
	Address netip.Addr
	// AS is the peer's autonomous system number; equal to LocalAS makes the session iBGP.
	AS uint32
	// Password enables TCP MD5 signatures (RFC 2385) when not empty.
	Password string
	// HoldTime and KeepaliveInterval are the BGP timers; zero means GoBGP's defaults
	// (90 s and a third of the hold time).
	HoldTime, KeepaliveInterval time.Duration
	// Port is the peer's TCP port; 0 means 179.
	Port uint32
	// LocalAddress is the source address of the session; the zero value lets the kernel choose.
	LocalAddress netip.Addr
}

// Route is what vigil announces for one virtual address.
type Route struct {
	// Prefix is the virtual address as a host route (/32 or /128); any masked prefix is accepted.
	Prefix netip.Prefix
	// Communities are standard communities written "AS:value", e.g. "65000:100".
	Communities []string
	// MED is the multi-exit discriminator, sent when not nil.
	MED *uint32
	// LocalPref is the local preference, sent when not nil (meaningful on iBGP sessions only).
	LocalPref *uint32
}

// Validate says what is wrong with the configuration, naming the field and value: every
// problem, joined, those of a neighbor each as a *NeighborError.
func (c Config) Validate() error {
	var errs []error
	if c.LocalAS == 0 {
		errs = append(errs, fmt.Errorf("bgp: local_as 0: expected an AS number from 1 to 4294967295"))
	}
	if !c.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("bgp: router_id %q: expected an IPv4 address", c.RouterID))
	}
	if c.ListenPort < -1 || c.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("bgp: listen port %d: expected -1 (do not listen) or 0 to 65535", c.ListenPort))
	}
	if c.HoldDown < 0 || c.GracefulShutdownWait < 0 || c.MaxWithdrawPerEvent < 0 {
		errs = append(errs, fmt.Errorf("bgp: hold_down %v, graceful shutdown wait %v, max_withdraw %d: expected values >= 0",
			c.HoldDown, c.GracefulShutdownWait, c.MaxWithdrawPerEvent))
	}
	seen := map[netip.Addr]bool{}
	for i, n := range c.Neighbors {
		if err := n.validate(seen); err != nil {
			errs = append(errs, &NeighborError{Index: i, Err: err})
		}
	}
	return errors.Join(errs...)
}

// NeighborError is what is wrong with Config.Neighbors[Index].
type NeighborError struct {
	Index int
	Err   error
}

func (e *NeighborError) Error() string { return e.Err.Error() }

// Unwrap returns the error without the neighbor's index.
func (e *NeighborError) Unwrap() error { return e.Err }

// validate says what is wrong with n; seen holds the addresses of the neighbors before it.
func (n Neighbor) validate(seen map[netip.Addr]bool) error {
	if !n.Address.IsValid() {
		return fmt.Errorf("bgp: neighbor with no address")
	}
	if seen[n.Address] {
		return fmt.Errorf("bgp: neighbor %s: configured twice", n.Address)
	}
	seen[n.Address] = true
	if n.AS == 0 {
		return fmt.Errorf("bgp: neighbor %s: remote_as 0: expected an AS number from 1 to 4294967295", n.Address)
	}
	if n.Port > 65535 {
		return fmt.Errorf("bgp: neighbor %s: port %d: expected 0 to 65535", n.Address, n.Port)
	}
	if n.HoldTime != 0 && n.HoldTime < 3*time.Second {
		return fmt.Errorf("bgp: neighbor %s: hold_time %v: expected 0 or at least 3s (RFC 4271)", n.Address, n.HoldTime)
	}
	if n.KeepaliveInterval < 0 || (n.HoldTime != 0 && n.KeepaliveInterval >= n.HoldTime) {
		return fmt.Errorf("bgp: neighbor %s: keepalive %v: expected less than hold_time %v", n.Address, n.KeepaliveInterval, n.HoldTime)
	}
	if n.LocalAddress.IsValid() && n.LocalAddress.Is4() != n.Address.Is4() {
		return fmt.Errorf("bgp: neighbor %s: local address %s is of the other address family", n.Address, n.LocalAddress)
	}
	return nil
}

// parseCommunities turns "AS:value" strings into the 32-bit values BGP carries.
func parseCommunities(cs []string) ([]uint32, error) {
	out := make([]uint32, 0, len(cs))
	for _, c := range cs {
		hi, lo, ok := strings.Cut(c, ":")
		a, errA := strconv.ParseUint(hi, 10, 16)
		b, errB := strconv.ParseUint(lo, 10, 16)
		if !ok || errA != nil || errB != nil {
			return nil, fmt.Errorf("community %q: expected AS:value with two numbers from 0 to 65535", c)
		}
		out = append(out, uint32(a)<<16|uint32(b))
	}
	return out, nil
}

// validate says what is wrong with a route before it reaches the planner.
func (r Route) validate() error {
	if !r.Prefix.IsValid() {
		return fmt.Errorf("prefix %q: expected an address with a prefix length, e.g. 192.0.2.10/32", r.Prefix)
	}
	if r.Prefix.Masked() != r.Prefix {
		return fmt.Errorf("prefix %s: host bits set; expected %s", r.Prefix, r.Prefix.Masked())
	}
	if r.Prefix.Addr().Is4In6() {
		return fmt.Errorf("prefix %s: IPv4-mapped IPv6 address; write it as IPv4", r.Prefix)
	}
	_, err := parseCommunities(r.Communities)
	return err
}

// equal reports whether two routes would be announced identically.
func (r Route) equal(o Route) bool {
	if r.Prefix != o.Prefix || len(r.Communities) != len(o.Communities) {
		return false
	}
	for i := range r.Communities {
		if r.Communities[i] != o.Communities[i] {
			return false
		}
	}
	return eqPtr(r.MED, o.MED) && eqPtr(r.LocalPref, o.LocalPref)
}

func eqPtr(a, b *uint32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
