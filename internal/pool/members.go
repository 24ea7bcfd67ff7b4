package pool

import (
	"fmt"
	"slices"
	"time"
)

// Members found by discovery (dynamic_real_servers) join and leave a running service one at a
// time, between reloads: AddServer and RemoveServer are Reconfigure's adding and removing of
// one server, with the reason said by the caller ("found in DNS", "gone from DNS and
// drained"). Quorum is recomputed from the servers there are, as a reload does.

// AddServer adds real server spec at now. It starts as a server a reload adds: up, unless an
// alpha check waits for its first pass, and in the set at once when up. An ID the service has
// already is refused, and so is a spec that does not validate.
func (s *Service) AddServer(spec ServerSpec, why string, now time.Time) ([]Event, error) {
	if s.stopped {
		return nil, fmt.Errorf("pool %q: add after stop", s.spec.Name)
	}
	if s.servers[spec.ID] != nil {
		return nil, fmt.Errorf("pool %q: real server %q: listed twice", s.spec.Name, spec.ID)
	}
	next := s.spec
	next.Servers = append(slices.Clip(s.spec.Servers), spec)
	if err := next.Validate(); err != nil {
		return nil, err
	}
	s.specGen++
	s.begin(now)
	s.setSpec(next)
	r := newServer(s.spec.Servers[len(s.spec.Servers)-1], now)
	s.servers[r.spec.ID] = r
	s.order = append(s.order, r)
	script, state := "", "down until its alpha checks pass"
	if r.alive {
		state = "up"
		if s.spec.InitNotifies {
			script = spec.NotifyUp
		}
	}
	s.emit(ServerAdded, r, -1, why+": "+state, script)
	s.recount()
	s.evalQuorum()
	s.all = true
	return s.commit(), nil
}

// RemoveServer takes real server id out of the service at now: it leaves the set, with its
// notify_down when it was up and in it, as a server a reload removes.
func (s *Service) RemoveServer(id, why string, now time.Time) ([]Event, error) {
	r, err := s.serverOf(id, ServerRef{}, "removal")
	if err != nil {
		return nil, err
	}
	s.specGen++
	s.begin(now)
	next := s.spec
	next.Servers = slices.DeleteFunc(slices.Clone(s.spec.Servers), func(sp ServerSpec) bool { return sp.ID == id })
	s.setSpec(next)
	delete(s.servers, id)
	s.order = slices.DeleteFunc(s.order, func(x *server) bool { return x == r })
	s.gone = map[string]*server{id: r}
	script := ""
	if _, in := s.desired[id]; r.alive && in {
		script = r.spec.NotifyDown
	}
	s.emit(ServerRemoved, r, -1, why, script)
	s.stopRamp(r)
	s.recount()
	s.evalQuorum()
	s.all = true
	return s.commit(), nil
}
