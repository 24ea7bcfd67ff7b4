package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is the transport a service balances.
type Protocol string

// The protocols a Service may name.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Scheduler names how a backend is chosen for a new connection. The names are Keepalived's
// lb_algo values (which are IPVS's scheduler names).
type Scheduler string

// Schedulers every data plane understands. Other Keepalived names are mapped by Effective.
const (
	// RoundRobin ignores weights except that weight 0 takes a backend out.
	RoundRobin Scheduler = "rr"
	// WeightedRoundRobin spreads each backend's share evenly over the cycle (smooth WRR, as
	// nginx and IPVS wrr do) rather than sending a weight's worth in a burst.
	WeightedRoundRobin Scheduler = "wrr"
	// LeastConnection picks the backend with the fewest active connections.
	LeastConnection Scheduler = "lc"
	// WeightedLeastConnection picks the backend with the lowest active connections / weight.
	WeightedLeastConnection Scheduler = "wlc"
	// SourceHash maps the client IP to a backend through a weighted bucket table (IPVS sh).
	SourceHash Scheduler = "sh"
	// MaglevHash maps the client IP to a backend through a Maglev lookup table (IPVS mh): a
	// change of one backend moves only about that backend's share of clients.
	MaglevHash Scheduler = "mh"
	// Failover sends everything to the backend with the highest weight (IPVS fo).
	Failover Scheduler = "fo"
)

// Effective returns the scheduler a data plane that implements only the constants above runs
// for name, and whether that is a fallback. sed, nq and twos fall back to wlc (all pick by
// load over weight); lblc, lblcr and dh (destination-address schedulers, meaningless when the
// destination is one listen address) fall back to sh; ovf falls back to fo. The empty name is
// wlc, Keepalived's default lb_algo. An unknown name returns ok false.
func Effective(name Scheduler) (s Scheduler, fallback, ok bool) {
	switch name {
	case "":
		return WeightedLeastConnection, false, true
	case RoundRobin, WeightedRoundRobin, LeastConnection, WeightedLeastConnection, SourceHash, MaglevHash, Failover:
		return name, false, true
	case "sed", "nq", "twos":
		return WeightedLeastConnection, true, true
	case "lblc", "lblcr", "dh":
		return SourceHash, true, true
	case "ovf":
		return Failover, true, true
	}
	return "", false, false
}

// Backend is one real server as the pool wants it now.
type Backend struct {
	Addr netip.AddrPort
	// Weight 0 inhibits: no new connections, established ones stay. Negative is invalid.
	Weight int
	// UThreshold and LThreshold are Keepalived's uthreshold and lthreshold, IPVS's upper and
	// lower connection thresholds (0: none). A backend whose connections reach UThreshold is
	// overloaded: it gets no new connection, others take them, until its connections fall
	// below LThreshold, or below three quarters of UThreshold when LThreshold is 0. The
	// userspace data plane and IPVS enforce them; nftables has no such thing.
	UThreshold, LThreshold int
}

// Service is the whole desired state of one virtual service. Apply replaces the previous state
// of the service with the same Name at once.
type Service struct {
	// Name identifies the service across Apply calls (the daemon uses the virtual_server's
	// "ip port" or "fwmark N" text).
	Name string
	// Protocol is the transport balanced. For a fwmark service it is what IPVS records with
	// the service; the nftables data plane translates only marked packets of this protocol.
	Protocol Protocol
	// Listen is the virtual address and port; it must be the zero AddrPort when Fwmark is set.
	Listen netip.AddrPort
	// Fwmark, when non-zero, makes this a firewall-mark service (Keepalived's virtual_server
	// fwmark N): it takes packets carrying that mark (set by the administrator's own rules)
	// whatever their destination, instead of packets to Listen. The address family is the
	// backends' (and sorry server's), which must then all share one; IPv4 when there are none.
	// The userspace data plane refuses such services.
	Fwmark uint32
	// Scheduler is an lb_algo name; see Effective for the ones that fall back.
	Scheduler Scheduler
	// Persistence, when > 0, sends a client IP back to the same backend for new connections
	// while it has connections there and for this long after its last one opened or closed
	// (persistence_timeout, with IPVS's template semantics). The affinity is dropped when that
	// backend leaves the set or drops to weight 0.
	Persistence time.Duration
	// PersistenceGranularity, when > 0, is the prefix length that groups clients for
	// persistence (persistence_granularity): with 24, every IPv4 client of a /24 shares one
	// affinity. 0 is the whole address. Applied to IPv6 clients too, up to 128.
	PersistenceGranularity int
	// Backends in the pool's order; an address appears at most once.
	Backends []Backend
	// Sorry gets new connections when no backend has weight > 0 (sorry_server). Its Weight is
	// ignored.
	Sorry *Backend
	// ShutdownSessions resets established connections to a backend the moment it leaves the
	// set (HAProxy's on-marked-down shutdown-sessions); otherwise they drain. It does not apply
	// to weight 0, which never cuts established connections.
	ShutdownSessions bool
	// Forwarding is lb_kind: "NAT" (the default when empty), "DR" or "TUN". Only IPVS can do DR
	// and TUN; the userspace and nftables data planes always act as NAT.
	Forwarding string
	// IdleTimeout closes a connection (TCP) or forgets a flow (UDP) after this long without
	// traffic; 0 takes the data plane's default.
	IdleTimeout time.Duration
	// HashPort makes sh and mh hash the client's source port with its address (Keepalived's
	// sh-port / mh-port flags), spreading one client's connections instead of pinning them.
	HashPort bool
	// MaxConn caps the connections (TCP) and flows (UDP) the service holds at once (0: no cap
	// of its own; the data plane's global one still holds). At the cap the userspace data plane
	// stops accepting, so that new connections wait in the listen backlog, and refuses new UDP
	// flows. The kernel data planes, whose connections cost vigil no descriptor, ignore it.
	MaxConn int
	// ConnectAttempts is how many backends a new connection tries before it is refused, the
	// scheduler's pick first (connect_retries plus one; 0: the data plane's default, 1: no
	// redispatch). ConnectTimeout bounds each of those connects (connect_attempt_timeout; 0:
	// the data plane's own, which the userspace data plane derives from the backend's recent
	// connect times). Only the userspace data plane, which makes the connection to the
	// backend itself, uses them; the kernel data planes forward the client's own.
	ConnectAttempts int
	ConnectTimeout  time.Duration
}

// Validate reports the first thing wrong with s, naming the service and the value.
func (s Service) Validate() error {
	if s.Name == "" {
		return errors.New("service: empty name")
	}
	if s.Protocol != TCP && s.Protocol != UDP {
		return fmt.Errorf("service %s: protocol %q, expected tcp or udp", s.Name, s.Protocol)
	}
	if s.Fwmark != 0 {
		if s.Listen.IsValid() {
			return fmt.Errorf("service %s: fwmark %d with listen address %s, expected one or the other", s.Name, s.Fwmark, s.Listen)
		}
		if err := s.oneFamily(); err != nil {
			return err
		}
	} else if !s.Listen.IsValid() {
		return fmt.Errorf("service %s: listen address not set", s.Name)
	}
	if _, _, ok := Effective(s.Scheduler); !ok {
		return fmt.Errorf("service %s: scheduler %q unknown, expected rr wrr lc wlc sh mh fo sed nq twos lblc lblcr dh ovf", s.Name, s.Scheduler)
	}
	if s.PersistenceGranularity < 0 || s.PersistenceGranularity > 128 {
		return fmt.Errorf("service %s: persistence granularity /%d, expected 0..128", s.Name, s.PersistenceGranularity)
	}
	if s.MaxConn < 0 {
		return fmt.Errorf("service %s: maxconn %d, expected >= 0", s.Name, s.MaxConn)
	}
	if s.ConnectAttempts < 0 || s.ConnectTimeout < 0 {
		return fmt.Errorf("service %s: connect attempts %d, connect timeout %v, expected >= 0", s.Name, s.ConnectAttempts, s.ConnectTimeout)
	}
	if s.Persistence < 0 || s.IdleTimeout < 0 {
		return fmt.Errorf("service %s: negative persistence %v or idle timeout %v", s.Name, s.Persistence, s.IdleTimeout)
	}
	seen := make(map[netip.AddrPort]bool, len(s.Backends))
	for _, b := range s.Backends {
		if !b.Addr.IsValid() || b.Addr.Port() == 0 {
			return fmt.Errorf("service %s: backend %q: address and port required", s.Name, b.Addr)
		}
		if b.Weight < 0 {
			return fmt.Errorf("service %s: backend %s: weight %d, expected >= 0", s.Name, b.Addr, b.Weight)
		}
		if b.UThreshold < 0 || b.LThreshold < 0 {
			return fmt.Errorf("service %s: backend %s: thresholds %d/%d, expected >= 0", s.Name, b.Addr, b.UThreshold, b.LThreshold)
		}
		if seen[b.Addr] {
			return fmt.Errorf("service %s: backend %s listed twice", s.Name, b.Addr)
		}
		seen[b.Addr] = true
	}
	if s.Sorry != nil && (!s.Sorry.Addr.IsValid() || s.Sorry.Addr.Port() == 0) {
		return fmt.Errorf("service %s: sorry server %q: address and port required", s.Name, s.Sorry.Addr)
	}
	return nil
}

// oneFamily refuses a fwmark service whose backends (and sorry server) mix IPv4 and IPv6: the
// service has one address family, which is theirs.
func (s Service) oneFamily() error {
	var first netip.AddrPort
	check := func(a netip.AddrPort) error {
		if !first.IsValid() {
			first = a
			return nil
		}
		if a.Addr().Unmap().Is4() != first.Addr().Unmap().Is4() {
			return fmt.Errorf("service %s: fwmark %d: backends %s and %s differ in address family, expected one", s.Name, s.Fwmark, first, a)
		}
		return nil
	}
	for _, b := range s.Backends {
		if err := check(b.Addr); err != nil {
			return err
		}
	}
	if s.Sorry != nil {
		return check(s.Sorry.Addr)
	}
	return nil
}

// IPv6 reports whether the service is an IPv6 one: its listen address's family, or for a
// fwmark service its backends' (then its sorry server's); false when there is none.
func (s Service) IPv6() bool {
	if s.Listen.IsValid() {
		return !s.Listen.Addr().Unmap().Is4()
	}
	for _, b := range s.Backends {
		return !b.Addr.Addr().Unmap().Is4()
	}
	if s.Sorry != nil {
		return !s.Sorry.Addr.Addr().Unmap().Is4()
	}
	return false
}

// Equal reports whether a and b describe the same state, so that Apply can skip a no-op.
func (s Service) Equal(o Service) bool {
	if s.Name != o.Name || s.Protocol != o.Protocol || s.Listen != o.Listen || s.Fwmark != o.Fwmark || s.Scheduler != o.Scheduler ||
		s.Persistence != o.Persistence || s.ShutdownSessions != o.ShutdownSessions ||
		s.IdleTimeout != o.IdleTimeout || s.HashPort != o.HashPort || s.Forwarding != o.Forwarding || s.MaxConn != o.MaxConn ||
		s.PersistenceGranularity != o.PersistenceGranularity || s.ConnectAttempts != o.ConnectAttempts ||
		s.ConnectTimeout != o.ConnectTimeout || len(s.Backends) != len(o.Backends) {
		return false
	}
	if (s.Sorry == nil) != (o.Sorry == nil) || (s.Sorry != nil && s.Sorry.Addr != o.Sorry.Addr) {
		return false
	}
	for i := range s.Backends {
		if s.Backends[i] != o.Backends[i] {
			return false
		}
	}
	return true
}

// BackendStats are the counters of one backend of one service. Counters survive Apply calls
// that keep the backend. When a backend is removed and added back after its last connection
// closed, the userspace data plane goes on from its counts (ServiceStats.Departed holds them
// meanwhile); the kernel data planes start again from zero.
type BackendStats struct {
	Addr   netip.AddrPort `json:"addr"`
	Weight int            `json:"weight"`
	// Sorry is true for the sorry server's entry.
	Sorry bool `json:"sorry,omitempty"`
	// Draining is true for a backend that left the set and still has connections.
	Draining bool `json:"draining,omitempty"`
	// Active connections (TCP) or flows (UDP) now.
	Active int64 `json:"active"`
	// Total connections or flows ever sent to it.
	Total uint64 `json:"total"`
	// BytesIn were sent by clients to the backend, BytesOut by the backend to clients.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// DialFailures counts connections to it that failed to open.
	DialFailures uint64 `json:"dial_failures"`
	// Overloaded is true while its connections have reached its uthreshold and not yet fallen
	// back below its lthreshold: it gets no new connection.
	Overloaded bool `json:"overloaded,omitempty"`
	// ConsecutiveFailures counts its connections that failed since it last answered one
	// (passive health; see BackendFailure), and ConnectTimeout is how long the next connect
	// to it may take. The userspace data plane only.
	ConsecutiveFailures int64         `json:"consecutive_failures,omitempty"`
	ConnectTimeout      time.Duration `json:"connect_timeout_ns,omitempty"`
}

// ServiceStats are the counters of one service.
type ServiceStats struct {
	Name     string         `json:"name"`
	Protocol Protocol       `json:"protocol"`
	Listen   netip.AddrPort `json:"listen"`
	// Fwmark is the service's firewall mark (then Listen is zero).
	Fwmark uint32 `json:"fwmark,omitempty"`
	// Scheduler is the one running (after Effective's fallback).
	Scheduler Scheduler      `json:"scheduler"`
	Backends  []BackendStats `json:"backends"`
	// Refused counts connections or flows dropped because no backend (nor sorry server) could
	// take them, whatever the reason; the counts below say why for some of them.
	Refused uint64 `json:"refused"`
	// RefusedOverloaded counts those refused because every backend that could take them was
	// overloaded (UThreshold).
	RefusedOverloaded uint64 `json:"refused_overloaded,omitempty"`
	// RefusedFull counts UDP flows refused because a connection cap (the service's MaxConn or
	// the data plane's) was reached: TCP connections wait in the listen backlog instead.
	RefusedFull uint64 `json:"refused_full,omitempty"`
	// RefusedDescriptors counts connections refused, and accepts that failed, for want of a
	// file descriptor (EMFILE, ENFILE).
	RefusedDescriptors uint64 `json:"refused_descriptors,omitempty"`
	// Conns are the connections and flows the service holds now against the caps.
	Conns int64 `json:"conns"`
	// MaxConn is the service's own cap (0: none).
	MaxConn int `json:"maxconn,omitempty"`
	// Paused counts the times the service stopped accepting because a cap (its own or the
	// data plane's) was reached.
	Paused uint64 `json:"paused,omitempty"`
	// NotServing is empty when everything Apply installed for the service was in place when
	// the data plane last looked (its listener open, its kernel rules or IPVS service there);
	// otherwise it says what is missing, e.g. "listen tcp 192.0.2.10:80: address already in
	// use (retrying)".
	NotServing string `json:"not_serving,omitempty"`
	// Total, BytesIn and BytesOut are the service's totals. The userspace data plane keeps
	// the counts of backends that left in them, so that they only grow while the service
	// exists; the kernel data planes sum their backends' counters now (SumBackends).
	Total    uint64 `json:"total"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Departed are the counts of backends that left the set and have no connection left,
	// by address (Active 0), so that a server that is down still shows what it carried; the
	// userspace data plane only. They are not in Backends, nor summed again in the totals.
	Departed []BackendStats `json:"departed,omitempty"`
}

// SumBackends sets the service's totals to the sum of its backends' counts now: for a data
// plane whose counters go with a backend that leaves.
func (s *ServiceStats) SumBackends() {
	s.Total, s.BytesIn, s.BytesOut = 0, 0, 0
	for _, b := range s.Backends {
		s.Total += b.Total
		s.BytesIn += b.BytesIn
		s.BytesOut += b.BytesOut
	}
}

// Kinds of BackendFailure: what a connection to a backend met.
const (
	// FailureTimeout: the connect was not answered within its timeout (a silent host).
	FailureTimeout = "timeout"
	// FailureRefused: the backend refused the connect (TCP reset; for UDP an ICMP port
	// unreachable).
	FailureRefused = "refused"
	// FailureUnreachable: the network said the backend cannot be reached (ICMP host or
	// network unreachable, no ARP answer).
	FailureUnreachable = "unreachable"
	// FailureReset: the backend reset an established connection before its first byte.
	FailureReset = "reset"
	// FailureError: any other error of the connect.
	FailureError = "error"
)

// BackendFailure is one connection to a backend that failed, as a data plane that makes the
// connections saw it (passive health): the userspace balancer reports each one through its
// Options.OnBackendFailure, and the load-balancing half hands it to the pool, which decides.
// Failures of the data plane's own (out of descriptors, shutting down) are not reported.
type BackendFailure struct {
	Service string
	Backend netip.AddrPort
	// Kind is one of the Failure constants.
	Kind string
	// Consecutive counts the backend's failed connections in a row, this one included: the
	// backend's first byte on a connection (TCP), or its first datagram on a flow (UDP),
	// starts the count again.
	Consecutive int
	// Err says what was seen ("dial tcp 192.0.2.21:80: i/o timeout").
	Err string
}

// ErrIncomplete is wrapped by an Apply error when the data plane took the new state but part of
// it is not in place yet (a listener that could not bind, say). The data plane keeps trying on
// its own and at every Reconcile; Stats' NotServing says what is missing meanwhile.
var ErrIncomplete = errors.New("not all in place yet")

// Repair is one difference Reconcile found between what Apply asked for and what is in place,
// and what became of it.
type Repair struct {
	// Service is the service concerned; empty for the data plane as a whole (a kernel table
	// someone deleted, say).
	Service string
	// Drift says what was found, e.g. "listener not open", "nftables table vigil missing",
	// "IPVS destination 198.51.100.2:80 weight 0, want 3".
	Drift string
	// Err is nil when the drift was put right; otherwise it says why not, and the service is
	// not serving until a later Reconcile or Apply succeeds.
	Err error
}

func (r Repair) String() string {
	s := r.Drift
	if r.Service != "" {
		s = r.Service + ": " + s
	}
	if r.Err != nil {
		return s + ": not repaired: " + r.Err.Error()
	}
	return s + ": repaired"
}

// Dataplane applies the pool's decisions. Methods are safe for concurrent use.
type Dataplane interface {
	// Apply creates the service or replaces its whole state atomically: a new connection sees
	// either the old state or the new one, never a mix. From the moment Apply returns no new
	// connection goes to a backend that left or has weight 0. Applying an identical service is a
	// no-op. On error the previous state of the service stays in force, except for an error
	// that wraps ErrIncomplete: then the new state is taken and what is missing is retried.
	Apply(ctx context.Context, svc Service) error
	// Remove stops the service: it stops listening; established connections drain, or are reset
	// if the service had ShutdownSessions. Removing an unknown name is not an error.
	Remove(ctx context.Context, name string) error
	// Stats returns a snapshot of every service's counters, sorted by name.
	Stats() []ServiceStats
	// Reconcile reads back what the data plane installed (its listeners, the kernel's tables
	// and services) and compares it with what Apply asked for. It puts back what drifted and
	// returns one Repair per difference found, nil when everything was in place; afterwards
	// Stats' NotServing says which services are still not in place. The daemon calls it
	// periodically and when the host's addresses change.
	Reconcile(ctx context.Context) []Repair
	// Close removes every service and releases everything; established connections are reset
	// after the implementation's drain period. Close waits for its goroutines to end.
	Close() error
}
