package pool

import (
	"fmt"
	"time"
)

// Reconfigure applies a reloaded spec at time now (SIGHUP). A spec that does not validate is
// refused and the running state stays. Servers are matched by ID: one whose spec is unchanged
// keeps its state, counters and slow start untouched; one whose spec changed keeps the state
// of every check still configured (matched by check name, or by position when unnamed), and a
// new check starts up unless it is alpha and the server is down; new servers start as at
// start-up (down until their alpha checks pass); removed servers leave, with notify_down if
// they were up and in the set. Quorum and hysteresis are recomputed and quorum re-evaluated
// from its current state. Turning ha_suspend off resumes checks; turning it on leaves them
// running until SetAddressLocal(false).
func (s *Service) Reconfigure(spec ServiceSpec, now time.Time) ([]Event, error) {
	s.specGen++
	if s.stopped {
		return nil, fmt.Errorf("pool %q: reconfigure after stop", s.spec.Name)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	s.begin(now)
	oldServers, oldOrder := s.servers, s.order
	s.setSpec(spec)
	s.defaultEv = s.emit(Reconfigured, nil, -1, fmt.Sprintf("configuration reloaded: %d real servers, quorum %d, hysteresis %d", len(s.spec.Servers), s.quorum, s.hysteresis), "")

	s.servers = make(map[string]*server, len(s.spec.Servers))
	s.order = make([]*server, 0, len(s.spec.Servers))
	for i := range s.spec.Servers {
		ns := s.spec.Servers[i]
		old := oldServers[ns.ID]
		var r *server
		switch {
		case old == nil:
			r = newServer(ns, now)
			script, state := "", "down until its alpha checks pass"
			if r.alive {
				state = "up"
				if s.spec.InitNotifies {
					script = ns.NotifyUp
				}
			}
			s.emit(ServerAdded, r, -1, "added by reload: "+state, script)
		case sameServerSpec(&old.spec, &ns):
			r = old
		default:
			r = s.migrate(old, ns, now)
		}
		s.servers[ns.ID] = r
		s.order = append(s.order, r)
	}
	s.gone = make(map[string]*server)
	for _, old := range oldOrder {
		if s.servers[old.spec.ID] != nil {
			continue
		}
		s.gone[old.spec.ID] = old
		script := ""
		if _, in := s.desired[old.spec.ID]; old.alive && in {
			script = old.spec.NotifyDown
		}
		s.emit(ServerRemoved, old, -1, "removed by reload", script)
		s.stopRamp(old)
	}
	if !s.spec.HASuspend && s.suspended {
		s.suspended = false
		s.emit(ChecksResumed, nil, -1, "ha_suspend no longer configured: checks resumed", "")
	}
	s.recount()
	if s.ejected > 0 && s.spec.Passive.ConsecutiveFailures <= 0 {
		s.readmitAll("passive health no longer configured: ejection over")
	}
	s.evalQuorum()
	s.all = true
	return s.commit(), nil
}

// migrate builds the new state of a server whose spec changed on reload.
func (s *Service) migrate(old *server, spec ServerSpec, now time.Time) *server {
	r := &server{spec: spec, since: old.since, lastEv: -1, checks: make([]check, len(spec.Checks)),
		admin: old.admin, holds: old.holds, agentPct: old.agentPct}
	byName := make(map[string]int, len(old.checks))
	for i := range old.checks {
		if n := old.checks[i].spec.Name; n != "" {
			byName[n] = i
		}
	}
	for i, cs := range spec.Checks {
		j, ok := -1, false
		if cs.Name != "" {
			j, ok = byName[cs.Name]
		} else if i < len(old.checks) && old.checks[i].spec.Name == "" {
			j, ok = i, true
		}
		if ok {
			c := old.checks[j]
			c.spec = cs
			c.share = shareOf(c.weightOp, c.weightValue, spec.Weight)
			r.checks[i] = c
		} else {
			// Keepalived: a new alpha checker on a server that is down starts down; on a
			// server that is up it starts up, since the server needs no further proof.
			r.checks[i] = check{spec: cs, up: !(cs.Alpha && !old.alive), since: now}
		}
		if !r.checks[i].up {
			r.failed++
		}
		r.share += r.checks[i].share
	}
	r.alive = r.failed == 0
	if r.alive && old.ejected && r.adminState() == AdminReady {
		r.ejected, r.ejectedAt, r.ejectedWhy = true, old.ejectedAt, old.ejectedWhy
	}
	r.ejectRefused = old.ejectRefused

	oldW, newW := realWeight(old.effective()), realWeight(r.effective())
	if oldW != newW {
		s.emit(WeightChanged, r, -1, fmt.Sprintf("reload: weight %d (was %d)", newW, oldW), "")
	}
	switch {
	case r.alive && !old.alive:
		r.since = now
		s.emit(ServerUp, r, -1, "reload removed its failing checks: all checks pass", spec.NotifyUp)
		s.startRamp(r, now)
	case !r.alive && old.alive:
		r.since = now
		s.emit(ServerDown, r, -1, "reload added checks that have yet to pass", spec.NotifyDown)
		s.stopRamp(old)
	case r.alive && old.ramping:
		delete(s.ramping, old)
		if spec.SlowStart > 0 {
			r.ramping, r.rampStart, r.rampStep = true, old.rampStart, old.rampStep
			if spec.SlowStart != old.spec.SlowStart {
				r.rampStep = rampStepAt(r, now)
			}
			if r.rampStep >= rampSteps {
				r.ramping = false
			} else {
				s.ramping[r] = struct{}{}
			}
		}
		if rampedWeight(r) != rampedWeight(old) && oldW == newW {
			s.emit(WeightChanged, r, -1, fmt.Sprintf("reload changed slow start to %v: weight %d", spec.SlowStart, rampedWeight(r)), "")
		}
	}
	return r
}
