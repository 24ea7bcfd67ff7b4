package pool

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// AdminState is what an operator says of a real server, beside its checks' verdict (HAProxy's
// administrative state). The checks run whatever it is, and their verdict is reported.
type AdminState uint8

const (
	// AdminReady lets the checks decide (the zero value).
	AdminReady AdminState = iota
	// AdminDrain gives the server no new connections or flows while its established ones
	// finish: it stays in the set at weight 0 while it passes its checks. It counts out of the
	// live weight, as HAProxy counts a draining server out of its backend's capacity.
	AdminDrain
	// AdminMaint takes the server out of the set, as a failed server leaves it: established
	// connections drain, or are reset with shutdown_sessions.
	AdminMaint
)

var adminNames = [...]string{AdminReady: "ready", AdminDrain: "drain", AdminMaint: "maint"}

func (a AdminState) String() string {
	if int(a) < len(adminNames) {
		return adminNames[a]
	}
	return fmt.Sprintf("AdminState(%d)", uint8(a))
}

// ParseAdminState reads "ready", "drain" or "maint".
func ParseAdminState(s string) (AdminState, error) {
	for i, n := range adminNames {
		if s == n {
			return AdminState(i), nil
		}
	}
	return 0, fmt.Errorf("admin state %q unknown, expected ready, drain or maint", s)
}

// MarshalText names the state in JSON.
func (a AdminState) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads a state's name.
func (a *AdminState) UnmarshalText(b []byte) error {
	v, err := ParseAdminState(string(b))
	if err == nil {
		*a = v
	}
	return err
}

// Admin is an operator's settings of one real server and who made them last.
type Admin struct {
	State AdminState `json:"state"`
	// Weight, when HasWeight, replaces the server's weight (the configured one and what its
	// dynamic checks ask for) until it is cleared; the checks' shares are kept meanwhile.
	Weight    int  `json:"weight"`
	HasWeight bool `json:"has_weight"`
	// By is who made the last change ("socket uid 0", "http from 192.0.2.9:41234"), Reason
	// why, Since when. Empty and zero for a server nobody touched.
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// Touched reports whether an operator changed anything of the server that is still in force.
func (a Admin) Touched() bool { return a.State != AdminReady || a.HasWeight }

// Admin returns real server id's settings, and false for an unknown server.
func (s *Service) Admin(id string) (Admin, bool) {
	r := s.servers[id]
	if r == nil {
		return Admin{}, false
	}
	return r.admin, true
}

// SetAdmin puts real servers ids (every real server of the service when ids is empty) in state
// st at now; by and reason say who asked and why. Each server whose state changes gets an
// AdminChanged event, which carries the change of the set; quorum, panic and the sorry server
// follow in the same call. A server already in st is left as it is, with its record. An unknown
// server refuses the whole call and changes nothing.
func (s *Service) SetAdmin(ids []string, st AdminState, by, reason string, now time.Time) ([]Event, error) {
	if int(st) >= len(adminNames) {
		return nil, fmt.Errorf("pool %q: admin state %d unknown", s.spec.Name, st)
	}
	rs, err := s.lookup(ids)
	if err != nil {
		return nil, err
	}
	s.begin(now)
	for _, r := range rs {
		if r.admin.State == st {
			continue
		}
		a := r.admin
		a.State, a.By, a.Reason, a.Since = st, by, reason, now
		s.setAdmin(r, a, adminReason(st.String(), by, reason))
	}
	s.evalQuorum()
	return s.commit(), nil
}

// SetWeight makes w (0..MaxWeight) real server id's weight, in place of the configured weight
// and what its dynamic checks ask for, until a SetWeight with w < 0 clears it. Weight 0 keeps
// an up server in the set taking no new connection, as Keepalived's weight 0 does.
func (s *Service) SetWeight(id string, w int, by, reason string, now time.Time) ([]Event, error) {
	if w > MaxWeight {
		return nil, fmt.Errorf("pool %q: real server %q: weight %d outside 0..%d", s.spec.Name, id, w, MaxWeight)
	}
	rs, err := s.lookup([]string{id})
	if err != nil {
		return nil, err
	}
	r := rs[0]
	a := r.admin
	switch {
	case w < 0 && !a.HasWeight, w >= 0 && a.HasWeight && a.Weight == w:
		return nil, nil
	}
	s.begin(now)
	before := realWeight(r.effective())
	a.HasWeight, a.Weight = w >= 0, max(w, 0)
	a.By, a.Reason, a.Since = by, reason, now
	what := fmt.Sprintf("weight %d (was %d)", w, before)
	if w < 0 {
		r2 := *r
		r2.admin = a
		what = fmt.Sprintf("weight override cleared: weight %d (was %d)", realWeight(r2.effective()), before)
	}
	s.setAdmin(r, a, adminReason(what, by, reason))
	s.evalQuorum()
	return s.commit(), nil
}

// RestoreAdmin puts back the settings saved before a restart, by real server ID, at now. Each
// server whose settings change gets an AdminChanged event saying so. It returns the IDs of
// saved servers the service no longer has, sorted; their settings are dropped.
func (s *Service) RestoreAdmin(saved map[string]Admin, now time.Time) ([]Event, []string) {
	if s.stopped {
		return nil, nil
	}
	var dropped []string
	s.begin(now)
	for _, r := range s.order {
		a, ok := saved[r.spec.ID]
		if !ok || a == r.admin || int(a.State) >= len(adminNames) || a.Weight < 0 || a.Weight > MaxWeight {
			continue
		}
		what := a.State.String()
		if a.HasWeight {
			what += fmt.Sprintf(", weight %d", a.Weight)
		}
		why := fmt.Sprintf("%s restored from the state file (set by %s at %s", what, orDash(a.By), a.Since.UTC().Format(time.RFC3339))
		if a.Reason != "" {
			why += ": " + a.Reason
		}
		s.setAdmin(r, a, why+")")
	}
	for id := range saved {
		if s.servers[id] == nil {
			dropped = append(dropped, id)
		}
	}
	slices.Sort(dropped)
	s.evalQuorum()
	return s.commit(), dropped
}

// setAdmin gives r the operator's settings a within the call in progress and emits the event
// that says why.
func (s *Service) setAdmin(r *server, a Admin, reason string) {
	s.changeAdmin(r, func() { r.admin = a }, func() string { return reason })
}

// changeAdmin makes change (to the operator's settings or a hold) within the call in progress,
// keeps the counters that follow the state in force, and emits the AdminChanged event that
// reason, called once the change is made, says why.
func (s *Service) changeAdmin(r *server, change func(), reason func() string) {
	oldLive := r.live()
	wasReady := r.adminState() == AdminReady
	change()
	ready := r.adminState() == AdminReady
	switch {
	case ready && !wasReady:
		s.ready++
		if r.alive {
			s.readyUp++
			s.startRamp(r, s.now) // back from drain or maint: slow start, as HAProxy does
		}
	case !ready && wasReady:
		s.ready--
		if r.alive {
			s.readyUp--
		}
		s.stopRamp(r)
		s.forgetEjection(r) // the operator's (or the agent's) word is the server's state now
	}
	s.live += r.live() - oldLive
	s.emit(AdminChanged, r, -1, reason(), "")
	s.touch(r)
}

// lookup finds the servers ids names (all of them when ids is empty), or says which is unknown.
func (s *Service) lookup(ids []string) ([]*server, error) {
	if s.stopped {
		return nil, fmt.Errorf("pool %q: stopped", s.spec.Name)
	}
	if len(ids) == 0 {
		return slices.Clone(s.order), nil
	}
	out := make([]*server, 0, len(ids))
	for _, id := range ids {
		r := s.servers[id]
		if r == nil {
			return nil, fmt.Errorf("pool %q: no real server %q", s.spec.Name, id)
		}
		out = append(out, r)
	}
	return out, nil
}

func adminReason(what, by, reason string) string {
	var b strings.Builder
	b.WriteString(what)
	b.WriteString(" by ")
	b.WriteString(orDash(by))
	if reason != "" {
		b.WriteString(": ")
		b.WriteString(reason)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
