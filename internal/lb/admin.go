package lb

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
)

// The operators' admin states (pool's admin.go) through the half: names resolved as the status
// API gives them, the change made in the pool and applied to the data plane before the call
// returns, and published on the bus as any pool event is.

// SetAdmin puts real server rs of virtual server vs (every real server of vs when rs is empty)
// in state st, in the name of by, for reason. The data plane has the result when it returns.
func (d *Half) SetAdmin(vs, rs string, st pool.AdminState, by, reason string) (control.Reply, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	svc, ids, err := d.resolveLocked(vs, rs)
	if err != nil {
		return control.Reply{}, err
	}
	evs, err := svc.pool.SetAdmin(ids, st, by, reason, d.clk.Now())
	if err != nil {
		return control.Reply{}, err
	}
	d.handleEventsLocked(svc, evs, true)
	changed := countAdminChanged(evs)
	var msg string
	switch {
	case rs == "" && changed == 0:
		msg = fmt.Sprintf("%s: every one of its %d real servers was already %s", svc.name, len(ids), st)
	case rs == "":
		msg = fmt.Sprintf("%s: %s, %d of its %d real servers changed", svc.name, st, changed, len(ids))
	case changed == 0:
		msg = fmt.Sprintf("%s of %s was already %s", ids[0], svc.name, st)
	default:
		msg = fmt.Sprintf("%s of %s: %s", ids[0], svc.name, st)
	}
	if held := heldElsewhere(svc, ids, st); held != "" {
		msg += "; but " + held
	}
	if err := d.appliedErrLocked(svc); err != nil {
		msg += "; but the data plane has not applied it: " + err.Error()
	}
	return control.Reply{Changed: changed > 0, Message: msg}, nil
}

// heldElsewhere says which of ids another word holds in a more restrictive state than st (an
// agent's, discovery's): the operator's word is recorded, and the other stands until its
// holder lifts it.
func heldElsewhere(svc *service, ids []string, st pool.AdminState) string {
	var held []string
	for _, id := range ids {
		if inForce, by, ok := svc.pool.InForce(id); ok && by != "" && inForce > st {
			held = append(held, fmt.Sprintf("%s stays in %s, held there by %s", id, inForce, by))
		}
	}
	if len(held) == 0 {
		return ""
	}
	return strings.Join(held, ", ") + " (the most restrictive word stands)"
}

// SetWeight overrides real server rs's weight with w, or clears the override with
// control.ResetWeight. The data plane has the result when it returns.
func (d *Half) SetWeight(vs, rs string, w int, by, reason string) (control.Reply, error) {
	if rs == "" {
		return control.Reply{}, control.Errorf(control.Invalid, "weight: a real server is needed")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	svc, ids, err := d.resolveLocked(vs, rs)
	if err != nil {
		return control.Reply{}, err
	}
	evs, err := svc.pool.SetWeight(ids[0], w, by, reason, d.clk.Now())
	if err != nil {
		return control.Reply{}, control.Errorf(control.Invalid, "%v", err)
	}
	d.handleEventsLocked(svc, evs, true)
	a, _ := svc.pool.Admin(ids[0])
	what := fmt.Sprintf("weight %d", a.Weight)
	if !a.HasWeight {
		what = "the configured weight"
	}
	msg := fmt.Sprintf("%s of %s: %s", ids[0], svc.name, what)
	if len(evs) == 0 {
		msg = fmt.Sprintf("%s of %s already had %s", ids[0], svc.name, what)
	}
	if err := d.appliedErrLocked(svc); err != nil {
		msg += "; but the data plane has not applied it: " + err.Error()
	}
	return control.Reply{Changed: len(evs) > 0, Message: msg}, nil
}

// HasVirtualServer says whether name names a virtual server as SetAdmin resolves it.
func (d *Half) HasVirtualServer(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.virtualServerLocked(name)
	return err == nil
}

// AdminStates are the admin states of every real server an operator touched, for the state
// file, in configuration order.
func (d *Half) AdminStates() []control.RealServerState {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []control.RealServerState
	for _, name := range d.order {
		for _, s := range d.services[name].pool.Snapshot().Servers {
			if s.Admin.Touched() {
				out = append(out, control.RealServerState{VirtualServer: name, RealServer: s.ID, Admin: s.Admin})
			}
		}
	}
	return out
}

// RestoreAdmin puts back the admin states saved before a restart. It returns what it
// restored and what it dropped (a virtual or real server no longer configured), each as
// "VS RS", for the log.
func (d *Half) RestoreAdmin(saved []control.RealServerState) (restored, dropped []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	byVS := map[string]map[string]pool.Admin{}
	for _, s := range saved {
		if byVS[s.VirtualServer] == nil {
			byVS[s.VirtualServer] = map[string]pool.Admin{}
		}
		byVS[s.VirtualServer][s.RealServer] = s.Admin
	}
	now := d.clk.Now()
	for _, name := range slices.Sorted(maps.Keys(byVS)) {
		svc := d.services[name]
		if svc == nil {
			for rs := range byVS[name] {
				dropped = append(dropped, name+" "+rs)
			}
			continue
		}
		evs, gone := svc.pool.RestoreAdmin(byVS[name], now)
		for _, rs := range gone {
			dropped = append(dropped, name+" "+rs)
		}
		for rs, a := range byVS[name] {
			if got, ok := svc.pool.Admin(rs); ok && got == a {
				restored = append(restored, fmt.Sprintf("%s %s %s", name, rs, describeAdmin(a)))
			}
		}
		d.handleEventsLocked(svc, evs, true)
	}
	slices.Sort(restored)
	slices.Sort(dropped)
	return restored, dropped
}

func describeAdmin(a pool.Admin) string {
	s := a.State.String()
	if a.HasWeight {
		s += fmt.Sprintf(" weight %d", a.Weight)
	}
	return s
}

func countAdminChanged(evs []pool.Event) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == pool.AdminChanged {
			n++
		}
	}
	return n
}

// appliedErrLocked is why the data plane does not have svc's pool as decided, or nil.
func (d *Half) appliedErrLocked(svc *service) error {
	if svc.applyErr != "" {
		return fmt.Errorf("%s", svc.applyErr)
	}
	return nil
}

// resolveLocked finds the virtual server vs names and the real servers rs names in it (all of
// them when rs is empty), in their pool's IDs.
func (d *Half) resolveLocked(vs, rs string) (*service, []string, error) {
	svc, err := d.virtualServerLocked(vs)
	if err != nil {
		return nil, nil, err
	}
	if rs == "" {
		var ids []string
		for _, s := range svc.spec.Servers {
			ids = append(ids, s.ID)
		}
		if len(ids) == 0 {
			return nil, nil, control.Errorf(control.NotFound, "virtual server %s has no real servers", svc.name)
		}
		return svc, ids, nil
	}
	id, err := svc.realServer(rs)
	if err != nil {
		return nil, nil, err
	}
	return svc, []string{id}, nil
}

// virtualServerLocked finds a virtual server by its name ("[192.0.2.1]:tcp:80", "FWM 5"), by
// "fwmark N", or by a bare IP:PORT where one virtual server alone has it.
func (d *Half) virtualServerLocked(name string) (*service, error) {
	if svc := d.services[name]; svc != nil {
		return svc, nil
	}
	var match []*service
	if ap, err := netip.ParseAddrPort(name); err == nil {
		for _, n := range d.order {
			svc := d.services[n]
			if svc.vs.Kind == lvs.VSKindAddress && svc.vs.Address == ap.Addr().Unmap() && svc.vs.Port == ap.Port() {
				match = append(match, svc)
			}
		}
	} else if mark, ok := strings.CutPrefix(strings.ToLower(name), "fwmark "); ok {
		if svc := d.services["FWM "+strings.TrimSpace(mark)]; svc != nil {
			match = append(match, svc)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, control.Errorf(control.NotFound, "no virtual server %q; virtual servers: %s", name, listNames(d.order))
	}
	var names []string
	for _, svc := range match {
		names = append(names, svc.name)
	}
	return nil, control.Errorf(control.Ambiguous, "%q names %d virtual servers: %s; name one of them", name, len(match), strings.Join(names, ", "))
}

// realServer finds a real server of svc by its name (IP:PORT, as the status API names it), or
// by its bare IP where one real server alone has it, and returns its pool ID.
func (svc *service) realServer(name string) (string, error) {
	var ids []string
	for _, s := range svc.spec.Servers {
		ids = append(ids, s.ID)
	}
	if svc.spec.Sorry != nil && (name == svc.spec.Sorry.ID || "sorry "+name == svc.spec.Sorry.ID) {
		return "", control.Errorf(control.Invalid, "%s is the sorry server of %s: it follows quorum, not an admin state", name, svc.name)
	}
	if slices.Contains(ids, name) {
		return name, nil
	}
	if ap, err := netip.ParseAddrPort(name); err == nil {
		if id := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(); slices.Contains(ids, id) {
			return id, nil
		}
	} else if a, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		var match []string
		for _, id := range ids {
			if svc.addrs[id].Addr() == a.Unmap() {
				match = append(match, id)
			}
		}
		switch len(match) {
		case 1:
			return match[0], nil
		case 0:
		default:
			return "", control.Errorf(control.Ambiguous, "%q names %d real servers of %s: %s; name one with its port", name, len(match), svc.name, strings.Join(match, ", "))
		}
	}
	return "", control.Errorf(control.NotFound, "virtual server %s has no real server %q; its real servers: %s", svc.name, name, listNames(ids))
}

// listNames lists names for an error, the first ten of them.
func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}

// adminStatus fills rs's admin fields from the pool's s: the state in force and who holds it
// there (the operator, or the agent or discovery with what they said), the operator's weight
// override, and the agent's word.
func adminStatus(rs *status.RealServer, s pool.ServerStatus) {
	rs.AdminState = s.AdminState.String()
	rs.AdminReason, rs.AdminBy, rs.AdminSince = s.Admin.Reason, s.Admin.By, s.Admin.Since
	for _, h := range s.Holds {
		if h.By == s.HeldBy {
			rs.AdminReason, rs.AdminBy, rs.AdminSince = h.Reason, h.By, h.Since
		}
		if h.By == pool.HolderAgent.String() {
			rs.AgentState = h.State.String()
		}
	}
	if s.Admin.HasWeight {
		w := s.Admin.Weight
		rs.WeightOverride = &w
	}
	rs.AgentWeightPercent = s.AgentWeightPercent
}
