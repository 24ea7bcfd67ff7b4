package pool

import (
	"fmt"
	"math"
	"time"
)

// Holds: besides an operator (admin.go), two things may hold a real server in drain or maint,
// each with its own word that only it lifts: the server's agent (AGENT_CHECK, HAProxy's agent
// protocol), and discovery, which drains a member gone from DNS before it is removed
// (dynamic_real_servers). The state in force is the most restrictive of the operator's and
// the holds' (ready < drain < maint): an operator's maint stands whatever the agent says, and
// an agent's drain stands whatever the operator says; each lifts only its own word. HAProxy
// differs: its agent and its CLI write one state, and the last to speak wins, so an agent that
// answers "ready" every inter undoes an operator's maint within one interval.

// Holder is who, besides an operator, holds a real server in a state.
type Holder uint8

const (
	// HolderAgent is the server's agent (AGENT_CHECK).
	HolderAgent Holder = iota
	// HolderDNS is discovery (dynamic_real_servers): a member gone from DNS, drained before
	// it is removed.
	HolderDNS
	numHolders
)

var holderNames = [numHolders]string{HolderAgent: "agent", HolderDNS: "dns"}

func (h Holder) String() string {
	if h < numHolders {
		return holderNames[h]
	}
	return fmt.Sprintf("Holder(%d)", uint8(h))
}

// hold is one holder's word on a server: ready (the zero value) says nothing.
type hold struct {
	state AdminState
	why   string
	since time.Time
}

// Hold is one holder's word as the status shows it.
type Hold struct {
	By     string     `json:"by"`
	State  AdminState `json:"state"`
	Reason string     `json:"reason,omitempty"`
	Since  time.Time  `json:"since"`
}

// adminState is the state in force: the most restrictive of the operator's and the holds'.
func (r *server) adminState() AdminState {
	st := r.admin.State
	for _, h := range r.holds {
		st = max(st, h.state)
	}
	return st
}

// heldBy says who holds the server in the state in force: "" for the operator (or nobody),
// else the holder whose word it is (the operator's first when they agree).
func (r *server) heldBy() (Holder, bool) {
	st := r.adminState()
	if st == AdminReady || r.admin.State == st {
		return 0, false
	}
	for h := range r.holds {
		if r.holds[h].state == st {
			return Holder(h), true
		}
	}
	return 0, false
}

// InForce returns real server id's admin state in force and, when it is not the operator's
// word, who holds it there ("agent", "dns"); false for an unknown server.
func (s *Service) InForce(id string) (st AdminState, heldBy string, ok bool) {
	r := s.servers[id]
	if r == nil {
		return 0, "", false
	}
	if h, held := r.heldBy(); held {
		heldBy = h.String()
	}
	return r.adminState(), heldBy, true
}

// Hold puts real server id in state st by holder h's word, at now; why says what h saw. A
// holder's ready lifts its own word only. The server's state in force, and with it the set,
// quorum and panic, follows the most restrictive word. A word that changes nothing is not an
// event.
func (s *Service) Hold(id string, h Holder, st AdminState, why string, now time.Time) ([]Event, error) {
	if h >= numHolders || int(st) >= len(adminNames) {
		return nil, fmt.Errorf("pool %q: hold %d in state %d unknown", s.spec.Name, h, st)
	}
	r, err := s.serverOf(id, ServerRef{}, "hold")
	if err != nil {
		return nil, err
	}
	if r.holds[h].state == st {
		return nil, nil
	}
	s.begin(now)
	s.setHold(r, h, st, why)
	s.evalQuorum()
	return s.commit(), nil
}

// setHold changes h's word on r within the call in progress.
func (s *Service) setHold(r *server, h Holder, st AdminState, why string) {
	before := r.adminState()
	s.changeAdmin(r, func() { r.holds[h] = hold{state: st, why: why, since: s.now} },
		func() string { return holdReason(r, h, st, before, why) })
}

// holdReason says what a holder's word did, once done: "drain by agent: drain", with what
// stands when the word is not the state in force.
func holdReason(r *server, h Holder, st, before AdminState, why string) string {
	what := adminReason(st.String(), h.String(), why)
	switch now := r.adminState(); {
	case now != st && r.admin.State == now:
		what += fmt.Sprintf(" (%s by %s stands)", now, orDash(r.admin.By))
	case now != st:
		if by, ok := r.heldBy(); ok {
			what += fmt.Sprintf(" (%s by %s stands)", now, by)
		}
	case now == before:
		what += " (already " + now.String() + ")"
	}
	return what
}

// AgentWord is what a real server's agent said of it beside its health (AGENT_CHECK): a
// state, a weight, both or neither. What the agent did not say is left as it said it before,
// as HAProxy does.
type AgentWord struct {
	// State is ready, drain or maint, when HasState.
	State    AdminState
	HasState bool
	// WeightPercent, when HasWeight, makes the server's weight that percentage of its
	// configured weight (rounded down), in place of the configured weight and the dynamic
	// checks' shares; an operator's weight override still comes first.
	WeightPercent int
	HasWeight     bool
	// Said is the agent's answer as it wrote it.
	Said string
}

// Agent applies what real server id's agent said, at now (ref, when current, finds the server
// without a lookup). Its state is the agent's hold (see Hold); its weight replaces the
// configured weight until it says another.
func (s *Service) Agent(id string, ref ServerRef, w AgentWord, now time.Time) ([]Event, error) {
	r, err := s.serverOf(id, ref, "agent")
	if err != nil {
		return nil, err
	}
	if w.HasWeight && (w.WeightPercent < 0 || w.WeightPercent > math.MaxInt32) {
		return nil, fmt.Errorf("pool %q: real server %q: agent weight %d%% outside 0..%d%%", s.spec.Name, id, w.WeightPercent, math.MaxInt32)
	}
	stateChanges := w.HasState && r.holds[HolderAgent].state != w.State
	weightChanges := w.HasWeight && r.agentPct != w.WeightPercent
	if !stateChanges && !weightChanges {
		return nil, nil
	}
	s.begin(now)
	if weightChanges {
		before := realWeight(r.effective())
		oldLive := r.live()
		r.agentPct = w.WeightPercent
		s.live += r.live() - oldLive
		after := realWeight(r.effective())
		why := fmt.Sprintf("agent asked for %d%% of weight %d: weight %d (was %d)", w.WeightPercent, r.spec.Weight, after, before)
		if r.admin.HasWeight {
			why = fmt.Sprintf("agent asked for %d%% of weight %d; the operator's weight %d stands", w.WeightPercent, r.spec.Weight, r.admin.Weight)
		}
		s.emit(WeightChanged, r, -1, why+": "+quoteSaid(w.Said), "")
		s.touch(r)
	}
	if stateChanges {
		s.setHold(r, HolderAgent, w.State, quoteSaid(w.Said))
	}
	s.evalQuorum()
	return s.commit(), nil
}

func quoteSaid(said string) string { return fmt.Sprintf("%q", said) }

// holdsStatus is the holds in force on r, for the status.
func (r *server) holdsStatus() []Hold {
	var out []Hold
	for h := range r.holds {
		if hd := r.holds[h]; hd.state != AdminReady {
			out = append(out, Hold{By: Holder(h).String(), State: hd.state, Reason: hd.why, Since: hd.since})
		}
	}
	return out
}
