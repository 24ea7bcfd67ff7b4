package pool

import (
	"fmt"
	"slices"
	"time"
)

// Every public call that may change the desired set runs as one transaction: begin, change
// the state and emit the events that say why, commit. commit derives panic and the sorry
// server from the state, then recomputes the desired entry of every server the call touched
// (or of all of them after a service-wide flip) from the state alone, and attaches each
// difference to the event that explains it. The desired set is thus a function of the state,
// and no difference escapes without an event.

func (s *Service) begin(now time.Time) {
	s.gen++
	s.now = now
	s.events = nil
	s.touched = s.touched[:0]
	s.all = false
	s.defaultEv, s.panicEv, s.sorryEv = -1, -1, -1
	s.gone = nil
}

func (s *Service) emit(kind EventKind, r *server, check int, reason, script string) int {
	ev := Event{At: s.now, Kind: kind, Service: s.spec.Name, Check: check, Reason: reason, Script: script}
	if r != nil {
		ev.Server = r.spec.ID
	}
	s.events = append(s.events, ev)
	i := len(s.events) - 1
	if r != nil {
		r.lastEv, r.lastGen = i, s.gen
	}
	return i
}

func (s *Service) touch(r *server) { s.touched = append(s.touched, r) }

func (s *Service) commit() []Event {
	s.settle()
	if s.all {
		for _, r := range s.order {
			s.syncServer(r)
		}
		s.syncSorry()
		s.syncStale()
	} else {
		for _, r := range s.touched {
			s.syncServer(r)
		}
	}
	s.touched = s.touched[:0]
	s.gone = nil
	return s.events
}

// settle derives panic and the sorry server from the rest of the state.
func (s *Service) settle() {
	if p := s.panicNow(); p != s.panic {
		s.panic = p
		n, up, which := s.ready, s.readyUp, "real servers"
		if n != len(s.order) {
			which = "ready real servers" // the operator's drained and maintained ones aside
		}
		switch {
		case p && s.ejected > 0:
			s.panicEv = s.emit(PanicOn, nil, -1, fmt.Sprintf("PANIC: only %d of %d %s pass their checks and are not ejected (%d ejected), fewer than %d%%: keeping all %d in", up-s.ejected, n, which, s.ejected, s.spec.PanicThreshold, n), "")
		case p:
			s.panicEv = s.emit(PanicOn, nil, -1, fmt.Sprintf("PANIC: only %d of %d %s pass their checks, fewer than %d%%: keeping all %d in", up, n, which, s.spec.PanicThreshold, n), "")
		default:
			reason := fmt.Sprintf("%d of %d %s pass their checks, at least %d%%: leaving panic", up, n, which, s.spec.PanicThreshold)
			if s.stopped {
				reason = "service stopped: leaving panic"
			}
			s.panicEv = s.emit(PanicOff, nil, -1, reason, "")
		}
		s.all = true
	}
	sorry := s.spec.Sorry != nil && !s.quorumUp && !s.panic && !s.stopped
	if sorry != s.sorryActive {
		s.sorryActive = sorry
		id := ""
		if s.spec.Sorry != nil {
			id = s.spec.Sorry.ID
		}
		var reason string
		switch {
		case sorry:
			reason = fmt.Sprintf("quorum down: sorry server %s replaces the real servers", id)
		case s.stopped:
			reason = "service stopped"
		case s.panic:
			reason = "panic keeps the real servers in instead of the sorry server"
		case s.spec.Sorry == nil:
			reason = "sorry server no longer configured: real servers reinstated"
		default:
			reason = "quorum up: real servers back in, sorry server out"
		}
		kind := SorryOff
		if sorry {
			kind = SorryOn
		}
		s.sorryEv = s.emit(kind, nil, -1, reason, "")
		s.events[s.sorryEv].Server = id
		s.all = true
	}
}

// want is the desired entry of a real server, from the state alone. The operator's state comes
// before panic and the sorry server: a server in maintenance is out whatever else holds, and a
// drained one keeps its established connections (weight 0) while it is up, or follows its
// checks' failure (out, or weight 0 with inhibit_on_failure).
func (s *Service) want(r *server) (weight int, in bool) {
	switch {
	case s.stopped:
		return 0, false
	case r.adminState() == AdminMaint:
		return 0, false
	case r.adminState() == AdminDrain:
		return 0, r.alive || r.spec.InhibitOnFailure
	case s.panic:
		return realWeight(r.effective()), true
	case s.sorryActive:
		return 0, r.spec.InhibitOnFailure
	case r.ejected:
		return 0, true // no new connections; established ones stay
	case r.alive:
		return rampedWeight(r), true
	case r.spec.InhibitOnFailure:
		return 0, true
	}
	return 0, false
}

func (s *Service) wantSorry() (weight int, in bool) {
	switch {
	case s.spec.Sorry == nil || s.stopped:
		return 0, false
	case s.sorryActive:
		return s.spec.Sorry.weight(), true
	case s.spec.Sorry.Inhibit:
		return 0, true
	}
	return 0, false
}

func (s *Service) syncServer(r *server) {
	w, in := s.want(r)
	if s.set(r.spec.ID, w, in) {
		s.attach(s.causeOf(r), Change{ID: r.spec.ID, In: in, Weight: w})
	}
}

func (s *Service) syncSorry() {
	if s.spec.Sorry == nil {
		return
	}
	w, in := s.wantSorry()
	if s.set(s.spec.Sorry.ID, w, in) {
		s.attach(s.firstOf(s.sorryEv, s.defaultEv), Change{ID: s.spec.Sorry.ID, In: in, Weight: w})
	}
}

// syncStale removes entries whose server or sorry server is no longer configured.
func (s *Service) syncStale() {
	var stale []string
	for id := range s.desired {
		if s.servers[id] != nil || (s.spec.Sorry != nil && s.spec.Sorry.ID == id) {
			continue
		}
		stale = append(stale, id)
	}
	slices.Sort(stale)
	for _, id := range stale {
		s.set(id, 0, false)
		cause := -1
		if r := s.gone[id]; r != nil {
			cause = s.causeOf(r)
		} else {
			cause = s.firstOf(s.sorryEv, s.defaultEv)
		}
		s.attach(cause, Change{ID: id, In: false})
	}
}

// set makes the desired entry of id (w, in) and says whether that changed it.
func (s *Service) set(id string, w int, in bool) bool {
	old, had := s.desired[id]
	if had == in && (!in || old == w) {
		return false
	}
	if in {
		s.desired[id] = w
	} else {
		delete(s.desired, id)
	}
	s.pending[id] = struct{}{}
	return true
}

// causeOf picks the event that explains a change of r's entry: r's own last event in this
// call, else a panic flip, else a sorry flip, else the call's default event.
func (s *Service) causeOf(r *server) int {
	if r.lastGen == s.gen && r.lastEv >= 0 {
		return r.lastEv
	}
	return s.firstOf(s.panicEv, s.sorryEv, s.defaultEv)
}

func (s *Service) firstOf(evs ...int) int {
	for _, e := range evs {
		if e >= 0 {
			return e
		}
	}
	return -1
}

func (s *Service) attach(ev int, c Change) {
	if ev < 0 {
		ev = s.emit(Resynced, nil, -1, "desired state changed without a recorded cause (a vigil bug)", "")
		s.defaultEv = ev
	}
	s.events[ev].Changes = append(s.events[ev].Changes, c)
}
