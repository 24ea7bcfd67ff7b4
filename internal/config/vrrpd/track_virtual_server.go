package vrrpd

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// track_virtual_server is a vigil extension (Keepalived runs its checker and VRRP halves as
// separate processes, so a VRRP instance there cannot see a pool): in a vrrp_instance or a
// vrrp_sync_group,
//
//	track_virtual_server {
//	    192.0.2.10 80 [TCP|UDP|SCTP] [weight N [reverse|noreverse]]
//	    fwmark 5 [weight N [reverse|noreverse]]
//	    group NAME [weight N [reverse|noreverse]]
//	}
//
// names virtual servers as their virtual_server lines do. The virtual server is "up" while its
// pool has quorum. Weights mean what they mean for track_script: none (or 0) puts the instance
// in FAULT while the pool is below quorum; a positive weight is added to the priority while the
// pool has quorum, a negative one while it has not; reverse negates both.
//
// Unlike track_script, the virtual servers may come after the instance in the file (they
// usually do), so references are resolved once the whole file is read.

// TrackedVirtualServer is one entry of a track_virtual_server block (a vigil extension).
type TrackedVirtualServer struct {
	Pos syntax.Pos `json:"pos"`
	// Ref is the reference as written ("192.0.2.10 80", "fwmark 5", "group web").
	Ref string `json:"ref"`
	// Name is the virtual server's name (lvs.VirtualServer.Name) once resolved: what the checker
	// half reports the pool's health under.
	Name          string `json:"name"`
	Weight        int    `json:"weight"`
	WeightReverse bool   `json:"weight_reverse"`
	// FromSyncGroup names the vrrp_sync_group the entry was written in, when it was copied
	// from there into the member instance.
	FromSyncGroup string `json:"from_sync_group,omitempty"`

	target VirtualServerRef
}

// VirtualServerRef is the virtual server a track_virtual_server line names, as its
// virtual_server line would name it.
type VirtualServerRef struct {
	// Kind is "address", "fwmark" or "group": the words of lvs's VSKind constants, which
	// package config compares it with (this package knows no LVS type).
	Kind   string
	Addr   netip.Addr
	Port   uint16
	Proto  string // upper case; "" matches any protocol
	Fwmark uint32
	Group  string
}

// The kinds of VirtualServerRef.
const (
	refAddress = "address"
	refFwmark  = "fwmark"
	refGroup   = "group"
)

// Target returns the virtual server t names, for package config to resolve.
func (t *TrackedVirtualServer) Target() VirtualServerRef { return t.target }

// trackVirtualServerKeyword is the track_virtual_server block of an instance or sync group
// named owner.
func trackVirtualServerKeyword(dst *[]*TrackedVirtualServer, owner func() string) syntax.Keyword {
	return syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if t := parseTrackedVirtualServer(p, l, owner()); t != nil {
				*dst = append(*dst, t)
			}
		}
	}}
}

// parseTrackedVirtualServer reads one line "REF [weight N [reverse|noreverse]]"; nil (with a
// warning) when the line is malformed.
func parseTrackedVirtualServer(p *syntax.Parser, l syntax.Line, owner string) *TrackedVirtualServer {
	w := l.Words
	t := &TrackedVirtualServer{Pos: l.Pos}
	n := 0 // words of the reference
	switch strings.ToLower(w[0]) {
	case "fwmark":
		if len(w) < 2 {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server fwmark without a mark - ignoring", owner)
			return nil
		}
		m, err := strconv.ParseUint(w[1], 0, 32)
		if err != nil {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server fwmark %s is not a valid mark - ignoring", owner, w[1])
			return nil
		}
		t.target.Kind, t.target.Fwmark, n = refFwmark, uint32(m), 2
	case "group":
		if len(w) < 2 {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server group without a name - ignoring", owner)
			return nil
		}
		t.target.Kind, t.target.Group, n = refGroup, w[1], 2
	default:
		a, err := netip.ParseAddr(w[0])
		if err != nil {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s: expected an address and port, fwmark N or group NAME - ignoring", owner, w[0])
			return nil
		}
		if len(w) < 2 {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s without a port - ignoring", owner, w[0])
			return nil
		}
		port, err := strconv.ParseUint(w[1], 10, 16)
		if err != nil {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s port %s is not a valid port - ignoring", owner, w[0], w[1])
			return nil
		}
		t.target.Kind, t.target.Addr, t.target.Port, n = refAddress, a.Unmap(), uint16(port), 2
		if len(w) > 2 {
			switch pr := strings.ToUpper(w[2]); pr {
			case "TCP", "UDP", "SCTP":
				t.target.Proto, n = pr, 3
			}
		}
	}
	t.Ref = strings.Join(w[:n], " ")
	rest := w[n:]
	if len(rest) == 0 {
		return t
	}
	if rest[0] != "weight" {
		p.Diags.Warnf(l.Pos, "(%s) unknown track_virtual_server %s option %s - ignoring", owner, t.Ref, rest[0])
		return nil
	}
	if len(rest) == 1 {
		p.Diags.Warnf(l.Pos, "(%s) weight without value specified for track_virtual_server %s - ignoring", owner, t.Ref)
		return nil
	}
	v, ok := p.Int(l.Pos, rest[1], -254, 254)
	switch {
	case !ok:
		p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s: weight must be between [-253..253] inclusive, ignoring...", owner, t.Ref)
		return nil
	case v == 254 || v == -254:
		p.Diags.Warnf(l.Pos, "(%s) weight for %s cannot be +/-254. Setting to +/-253", owner, t.Ref)
		t.Weight = int(v/254) * 253
	default:
		t.Weight = int(v)
	}
	if len(rest) >= 3 {
		switch rest[2] {
		case "reverse":
			t.WeightReverse = true
		case "noreverse":
		default:
			p.Diags.Warnf(l.Pos, "(%s) unknown track_virtual_server %s weight option %s - ignoring", owner, t.Ref, rest[2])
			return nil
		}
	}
	if len(rest) > 3 {
		p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s: extra words after the weight: %s - ignoring", owner, t.Ref, strings.Join(rest[3:], " "))
		return nil
	}
	return t
}
