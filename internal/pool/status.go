package pool

import "time"

// ServiceStatus is a service's state for people and status pages.
type ServiceStatus struct {
	Name        string `json:"name"`
	QuorumUp    bool   `json:"quorum_up"`
	Quorum      int64  `json:"quorum"`
	Hysteresis  int64  `json:"hysteresis"`
	LiveWeight  int64  `json:"live_weight"`
	Up          int    `json:"up"`
	Total       int    `json:"total"`
	Panic       bool   `json:"panic"`
	SorryActive bool   `json:"sorry_active"`
	Suspended   bool   `json:"suspended"`
	Stopped     bool   `json:"stopped"`
	// Notes say which configured values Keepalived's rules adjusted (quorum, hysteresis).
	Notes   []string       `json:"notes,omitempty"`
	Servers []ServerStatus `json:"servers"`
}

// ServerStatus is one real server's state.
type ServerStatus struct {
	ID    string    `json:"id"`
	Up    bool      `json:"up"`
	Since time.Time `json:"since"`
	// Weight is the configured weight, EffectiveWeight the weight after dynamic checks.
	Weight          int  `json:"weight"`
	EffectiveWeight int  `json:"effective_weight"`
	InSet           bool `json:"in_set"`
	// DesiredWeight is its weight in the desired set (slow start, inhibit, sorry, panic).
	DesiredWeight int  `json:"desired_weight"`
	SlowStart     bool `json:"slow_start"`
	// Ejected (vigil) says passive health took the server out of the set since EjectedSince,
	// for what EjectedReason says, until its next check verdict.
	Ejected       bool          `json:"ejected,omitempty"`
	EjectedSince  time.Time     `json:"ejected_since,omitzero"`
	EjectedReason string        `json:"ejected_reason,omitempty"`
	Checks        []CheckStatus `json:"checks"`
	// Admin is the operator's say: drain, maint, a weight override, who and why.
	Admin Admin `json:"admin"`
	// AdminState is the state in force: the most restrictive of the operator's and of the
	// holds' (holds.go); HeldBy names the holder whose word it is, empty when it is the
	// operator's or nobody's.
	AdminState AdminState `json:"admin_state"`
	HeldBy     string     `json:"held_by,omitempty"`
	// Holds are the words of the server's agent and of discovery that are not ready.
	Holds []Hold `json:"holds,omitempty"`
	// AgentWeightPercent is the weight the agent asked for, in percent of Weight; nil
	// without one.
	AgentWeightPercent *int `json:"agent_weight_percent,omitempty"`
}

// CheckStatus is one check's last verdict and the state it led to.
type CheckStatus struct {
	Name        string    `json:"name,omitempty"`
	Alpha       bool      `json:"alpha"`
	Up          bool      `json:"up"`
	Since       time.Time `json:"since"`
	HasRun      bool      `json:"has_run"`
	LastHealthy bool      `json:"last_healthy"`
	LastReason  string    `json:"last_reason,omitempty"`
	LastAt      time.Time `json:"last_at,omitzero"`
	// Streak counts successes in a row of a check that is down, towards Rise.
	Streak      int   `json:"streak"`
	WeightShare int64 `json:"weight_share"`
}

// Counts returns how many real servers are up, how many there are and whether the service has
// quorum: what Snapshot says of the service as a whole, without building the per-server part.
func (s *Service) Counts() (up, total int, quorumUp bool) {
	return s.up, len(s.order), s.quorumUp
}

// Stopped says whether Stop has run: the set is empty for good.
func (s *Service) Stopped() bool { return s.stopped }

// Snapshot returns the state of the service and of each of its servers, in spec order.
func (s *Service) Snapshot() ServiceStatus {
	st := ServiceStatus{
		Name: s.spec.Name, QuorumUp: s.quorumUp, Quorum: s.quorum, Hysteresis: s.hysteresis,
		LiveWeight: s.live, Up: s.up, Total: len(s.order), Panic: s.panic,
		SorryActive: s.sorryActive, Suspended: s.suspended, Stopped: s.stopped,
		Notes:   append([]string(nil), s.notes...),
		Servers: make([]ServerStatus, 0, len(s.order)),
	}
	for _, r := range s.order {
		w, in := s.desired[r.spec.ID]
		ss := ServerStatus{
			ID: r.spec.ID, Up: r.alive, Since: r.since, Weight: r.spec.Weight,
			EffectiveWeight: realWeight(r.effective()), InSet: in, DesiredWeight: w,
			SlowStart: r.ramping, Checks: make([]CheckStatus, len(r.checks)), Admin: r.admin,
			AdminState: r.adminState(), Holds: r.holdsStatus(),
		}
		if h, ok := r.heldBy(); ok {
			ss.HeldBy = h.String()
		}
		if r.agentPct >= 0 {
			pct := r.agentPct
			ss.AgentWeightPercent = &pct
		}
		if r.ejected {
			ss.Ejected, ss.EjectedSince, ss.EjectedReason = true, r.ejectedAt, r.ejectedWhy
		}
		for i, c := range r.checks {
			ss.Checks[i] = CheckStatus{
				Name: c.spec.Name, Alpha: c.spec.Alpha, Up: c.up, Since: c.since, HasRun: c.hasRun,
				LastHealthy: c.lastHealthy, LastReason: c.lastReason, LastAt: c.lastAt,
				Streak: c.streak, WeightShare: c.share,
			}
		}
		st.Servers = append(st.Servers, ss)
	}
	return st
}
