package main

import (
	"context"
	"time"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/daemon"
	"github.com/vigil-lb/vigil/internal/status"
)

// bgpStatusTimeout bounds how long the status page, API, a metrics scrape or a dump waits
// for the BGP server's list of sessions. GoBGP answers from memory, so this is only a guard.
const bgpStatusTimeout = time.Second

// withBGP makes the checker half announce through sp and show sp's state on the status
// page, in the API and in the metrics.
func withBGP(o *daemon.Options, sp *bgp.Speaker) {
	o.BGP = sp
	o.BGPStatus = bgpStatusSource(sp, bgpStatusTimeout)
}

// bgpStatusSource gives sp's state in the status package's terms, waiting at most timeout
// for the session list (GoBGP's ListPeer stops handing out sessions when its context ends,
// so a late answer is cut short rather than waited for).
func bgpStatusSource(sp *bgp.Speaker, timeout time.Duration) func() *status.BGP {
	return func() *status.BGP {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return bgpStatus(sp.Snapshot(ctx))
	}
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

// bgpChangeSink hears the BGP speaker's changes. The checker half is one
// (daemon.Daemon.BGPChanged): it publishes each change on the event stream, so that the live
// page shows it at once, and counts it in the metrics.
type bgpChangeSink interface {
	BGPChanged(status.BGPChange)
}

// watchBGP hands every change of sp to sink until the returned function is called. sink is
// called from the speaker's delivery goroutine, one change at a time, in order.
func watchBGP(sp *bgp.Speaker, sink bgpChangeSink) (stop func()) {
	return sp.Subscribe(func(c bgp.Change) { sink.BGPChanged(bgpChange(c)) })
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
