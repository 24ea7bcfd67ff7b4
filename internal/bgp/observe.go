package bgp

import (
	"context"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// ChangeKind says what a Change is about.
type ChangeKind string

// The kinds of change.
const (
	// PrefixChange: a prefix entered GoBGP's RIB (offered to the neighbors) or left it.
	PrefixChange ChangeKind = "prefix"
	// SessionChange: a BGP session changed state.
	SessionChange ChangeKind = "session"
)

// Change is one change the speaker made or saw, as its subscribers hear it.
type Change struct {
	Kind ChangeKind
	// At is when the speaker made or heard of the change, on its clock.
	At time.Time
	// Prefix is the prefix of a PrefixChange, and Key the daemon's key (virtual server) whose
	// Announce, Withdraw or Remove caused it; Key is empty when none did (the speaker stopped).
	Prefix netip.Prefix
	Key    string
	// Peer and AS are the neighbor of a SessionChange.
	Peer netip.Addr
	AS   uint32
	// From and To are the states before and after. A PrefixChange goes between Withdrawn and
	// Announced: what the neighbors are offered, not what the daemon asks for (a pending
	// change is no change here). A SessionChange goes between GoBGP's session states (IDLE,
	// CONNECT, ACTIVE, OPENSENT, OPENCONFIRM, ESTABLISHED).
	From, To string
	// Why is the daemon's reason for a PrefixChange ("quorum lost", "shutting down"), or what
	// the speaker knows of a SessionChange's cause (often nothing: GoBGP does not say).
	Why string
}

// Subscribe has fn called with every change from now on, in order, until the returned
// function is called. fn runs on a goroutine of the speaker's Run, never with the speaker's
// lock held: it may call the speaker. A slow fn delays the changes after it, never the
// speaker itself; changes wait for it in memory. Changes happen only while Run runs, and
// Run returns only after fn has heard all of them.
func (s *Speaker) Subscribe(fn func(Change)) (unsubscribe func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[int]func(Change){}
	}
	s.nextSub++
	id := s.nextSub
	s.subs[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

// emitLocked queues c for the subscribers; it is dropped when Run's delivery is not running.
func (s *Speaker) emitLocked(c Change) {
	if s.wake == nil {
		return
	}
	c.At = s.clk.Now()
	s.queue = append(s.queue, c)
	select {
	case s.wake <- struct{}{}:
	default: // the delivery goroutine is already due to look
	}
}

// startDelivery starts the goroutine that hands queued changes to the subscribers. The
// returned function delivers what is left and waits for the goroutine to end.
func (s *Speaker) startDelivery() (finish func()) {
	wake, quit, done := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.wake = wake
	s.mu.Unlock()
	go func() {
		defer close(done)
		for {
			select {
			case <-wake:
				s.deliver()
			case <-quit:
				s.deliver()
				return
			}
		}
	}()
	return func() {
		s.mu.Lock()
		s.wake = nil // later changes (a late session event) are dropped
		s.mu.Unlock()
		close(quit)
		<-done
	}
}

// deliver hands every queued change to every subscriber, without the lock.
func (s *Speaker) deliver() {
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		subs := make([]func(Change), 0, len(s.subs))
		for id := 1; id <= s.nextSub; id++ { // in order of subscription
			if fn, ok := s.subs[id]; ok {
				subs = append(subs, fn)
			}
		}
		s.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, c := range q {
			for _, fn := range subs {
				fn(c)
			}
		}
	}
}

// watchSessions has GoBGP report every session state change to the subscribers until ctx
// ends. GoBGP's peer events carry the new state only, so the speaker remembers the last one.
func (s *Speaker) watchSessions(ctx context.Context, srv *server.BgpServer) error {
	return srv.WatchEvent(ctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}},
		func(r *api.WatchEventResponse) {
			pe := r.GetPeer()
			if pe == nil || pe.Peer == nil || pe.Peer.State == nil {
				return
			}
			if pe.Type != api.WatchEventResponse_PeerEvent_STATE && pe.Type != api.WatchEventResponse_PeerEvent_INIT {
				return
			}
			peer, err := netip.ParseAddr(pe.Peer.State.NeighborAddress)
			if err != nil {
				return
			}
			to := pe.Peer.State.SessionState.String()
			s.mu.Lock()
			defer s.mu.Unlock()
			from, known := s.sessions[peer]
			s.sessions[peer] = to
			if pe.Type == api.WatchEventResponse_PeerEvent_INIT {
				return // where a session stood when the watch began: no change
			}
			if !known {
				from = "IDLE" // GoBGP starts every added neighbor in IDLE
			}
			if from == to {
				return
			}
			why := ""
			if s.closing {
				why = "vigil is shutting down"
			}
			s.emitLocked(Change{Kind: SessionChange, Peer: peer, AS: pe.Peer.State.PeerAsn, From: from, To: to, Why: why})
		})
}

// cause is what made reconcile add or delete a prefix: a key and its reason.
type cause struct{ key, why string }

// causesOf maps each prefix the planner's actions touch to the last action's key and reason.
func causesOf(acts []action) map[netip.Prefix]cause {
	if len(acts) == 0 {
		return nil
	}
	out := make(map[netip.Prefix]cause, len(acts))
	for _, a := range acts {
		out[a.route.Prefix] = cause{key: a.key, why: a.why}
	}
	return out
}

// causeLocked says why reconcile moved pfx into (in) or out of the RIB: the actions' cause
// when they name pfx, otherwise the first key by name that explains it (announced for an
// add, not announced for a delete), e.g. the routes wanted before Run when it starts.
func (s *Speaker) causeLocked(causes map[netip.Prefix]cause, pfx netip.Prefix, in bool, keys []string) cause {
	if c, ok := causes[pfx]; ok {
		return c
	}
	for _, k := range keys {
		if p := s.plan.prefixes[k]; p.route.Prefix == pfx && p.announced == in {
			return cause{key: k, why: p.why}
		}
	}
	return cause{}
}

// awaitSessionsIdle waits at most limit for the watch to report every session IDLE, so that
// the subscribers hear the sessions close before the watch ends.
func (s *Speaker) awaitSessionsIdle(limit time.Duration) {
	idle := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, st := range s.sessions {
			if st != api.PeerState_IDLE.String() {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(limit); !idle() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}
