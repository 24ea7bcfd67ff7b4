package vrrp

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
)

// An operator resigns an instance to hand its addresses over before maintaining this node
// (Keepalived's #950): a master sends priority 0, so that a backup takes over after its skew
// time, and the instance stays BACKUP, whatever its priority, until the operator says it is
// ready (fsm.Machine.Resign and Ready). The Manager keeps the resignations by instance name, so
// that an instance restarted by a reload, or started after vrrp_startup_delay, starts
// resigned; a reload that removes an instance forgets its resignation.

// ErrNoInstance is the error of a resignation that names no configured instance.
var ErrNoInstance = errors.New("no such vrrp instance")

// Resignation is an operator's resignation of an instance: who, why and since when.
type Resignation struct {
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// Resign resigns instance name (see above) and says whether it was not resigned already; r
// records who asked and why. An instance already resigned keeps its first record.
func (m *Manager) Resign(name string, r Resignation) (bool, error) {
	return m.setResigned(name, &r)
}

// Ready ends instance name's resignation and says whether it was resigned.
func (m *Manager) Ready(name string) (bool, error) {
	return m.setResigned(name, nil)
}

func (m *Manager) setResigned(name string, r *Resignation) (bool, error) {
	m.mu.Lock()
	if !m.configured(name) {
		m.mu.Unlock()
		return false, fmt.Errorf("%w %q", ErrNoInstance, name)
	}
	_, was := m.resigned[name]
	switch {
	case r != nil && was, r == nil && !was:
		m.mu.Unlock()
		return false, nil
	case r != nil:
		m.resigned[name] = *r
	default:
		delete(m.resigned, name)
	}
	var in *instance
	if ri := m.insts[name]; ri != nil {
		in = ri.in
	}
	m.mu.Unlock()
	if in != nil {
		in.wantResigned(r != nil)
	}
	return true, nil
}

// Resignations are the instances resigned now, by name, for the state file.
func (m *Manager) Resignations() map[string]Resignation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.resigned)
}

// RestoreResignations puts back the resignations saved before a restart, before Run. It
// returns the names it restored and those it dropped because no such instance is configured,
// each sorted.
func (m *Manager) RestoreResignations(saved map[string]Resignation) (restored, dropped []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range saved {
		if !m.configured(name) {
			dropped = append(dropped, name)
			continue
		}
		m.resigned[name] = r
		restored = append(restored, name)
		if ri := m.insts[name]; ri != nil {
			ri.in.wantResigned(true)
		}
	}
	slices.Sort(restored)
	slices.Sort(dropped)
	return restored, dropped
}

// configured says whether an instance is named name in the configuration in force; m.mu is held.
func (m *Manager) configured(name string) bool {
	return slices.ContainsFunc(m.specs, func(s *spec) bool { return s.name == name })
}

// forgetResignations drops the resignations of instances no longer configured; m.mu is held.
func (m *Manager) forgetResignations() {
	for name := range m.resigned {
		if !m.configured(name) {
			m.log.Info("resignation dropped: the instance is no longer configured", "instance", name)
			delete(m.resigned, name)
		}
	}
}

// wantResigned tells the instance what the operator wants; it never blocks.
func (in *instance) wantResigned(on bool) {
	in.resign.Store(on)
	select {
	case in.adminWake <- struct{}{}:
	default:
	}
}

// applyResigned brings the machine to what the operator wants; run's goroutine.
func (in *instance) applyResigned(apply func(fsm.Result)) {
	want := in.resign.Load()
	if want == in.m.Resigned() {
		return
	}
	if want {
		in.log.Info("vrrp instance resigned by an operator: priority 0 if master, BACKUP until ready", "state", in.m.State().String())
		apply(in.m.Resign(in.clk.Now()))
	} else {
		in.log.Info("vrrp instance ready again: back in the election", "state", in.m.State().String())
		apply(in.m.Ready(in.clk.Now()))
	}
	in.mu.Lock()
	in.status.Resigned = in.m.Resigned()
	in.mu.Unlock()
}
