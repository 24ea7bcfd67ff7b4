package supervisor

import (
	"context"
	"time"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// The status package's view of the other parts.

// bgpStatusTimeout bounds how long the status page, API, a metrics scrape or a dump waits
// for the BGP server's list of sessions. GoBGP answers from memory, so this is only a guard.
const bgpStatusTimeout = time.Second

// bgpStatus is the speaker's state in the status package's terms, waiting at most
// bgpStatusTimeout for the session list (GoBGP's ListPeer stops handing out sessions when its
// context ends, so a late answer is cut short rather than waited for).
func (v *Vigil) bgpStatus() *status.BGP {
	ctx, cancel := context.WithTimeout(context.Background(), bgpStatusTimeout)
	defer cancel()
	return bgpStatus(v.bgp.Snapshot(ctx))
}

// bgpStatus turns the speaker's view into the status page's; times are in UTC, as the rest
// of the document's.
func bgpStatus(st bgp.Status) *status.BGP {
	out := &status.BGP{Sessions: make([]status.BGPSession, 0, len(st.Sessions)),
		Prefixes: make([]status.BGPPrefix, 0, len(st.Prefixes))}
	for _, s := range st.Sessions {
		bs := status.BGPSession{AS: s.AS, State: s.State, EstablishedSince: s.Since.UTC()}
		if s.Peer.IsValid() {
			bs.Peer = s.Peer.String()
		}
		out.Sessions = append(out.Sessions, bs)
	}
	for _, p := range st.Prefixes {
		bp := status.BGPPrefix{VirtualServer: p.Key, State: string(p.State), Reason: p.Reason, Held: p.Held,
			Since: p.Since.UTC(), Due: p.Due.UTC(), InRIB: p.InRIB, Error: p.Error}
		if p.Prefix.IsValid() {
			bp.Prefix = p.Prefix.String()
		}
		out.Prefixes = append(out.Prefixes, bp)
	}
	return out
}

// bgpChange turns a change of the speaker into the status package's terms.
func bgpChange(c bgp.Change) status.BGPChange {
	out := status.BGPChange{Session: c.Kind == bgp.SessionChange, VirtualServer: c.Key, From: c.From, To: c.To,
		Reason: c.Why}
	switch {
	case out.Session && c.Peer.IsValid():
		out.Subject = c.Peer.String()
	case !out.Session && c.Prefix.IsValid():
		out.Subject = c.Prefix.String()
	}
	return out
}

// bgpConfig turns the bgp block into the speaker's settings.
func bgpConfig(b *bgpd.BGP) bgp.Config {
	c := bgp.Config{LocalAS: b.LocalAS, RouterID: b.RouterID, ListenPort: b.ListenPort, HoldDown: b.HoldDown.D(),
		MaxWithdrawPerEvent: b.MaxWithdraw, GracefulShutdownWait: b.GracefulShutdownWait.D()}
	for _, n := range b.Neighbors {
		c.Neighbors = append(c.Neighbors, bgp.Neighbor{Address: n.Address, AS: n.RemoteAS, Password: n.Password,
			HoldTime: n.HoldTime.D(), KeepaliveInterval: n.Keepalive.D(), Port: n.Port, LocalAddress: n.SourceAddress})
	}
	return c
}

// vrrpStatus turns the VRRP half's view into the status page's.
func vrrpStatus(in []vrrp.InstanceStatus) []status.VRRPInstance {
	out := make([]status.VRRPInstance, 0, len(in))
	for _, s := range in {
		vi := status.VRRPInstance{Name: s.Name, Interface: s.Interface, VRID: s.VRID, State: s.State, Priority: s.Priority,
			EffectivePriority: s.EffectivePriority, Transitions: s.Transitions, Since: s.Since, Repairs: s.Repairs,
			Dropped: s.Dropped}
		if s.NotInPlace != "" {
			vi.Problem = "not in place: " + s.NotInPlace
		}
		if s.MasterAddr.IsValid() {
			vi.MasterAddress = s.MasterAddr.String()
		}
		vi.AdminState = status.AdminReady
		if r := s.Resignation; r != nil {
			vi.AdminState, vi.AdminBy, vi.AdminReason, vi.AdminSince = status.AdminResigned, r.By, r.Reason, r.Since
		}
		for _, p := range s.VIPs {
			vi.VirtualAddresses = append(vi.VirtualAddresses, p.String())
		}
		out = append(out, vi)
	}
	return out
}
