package vrrp

import (
	"context"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// Pool tracking (track_virtual_server, a vigil extension): an instance tracks a virtual
// server's pool directly. The checker half reports each pool's quorum through PoolHealth; the
// tracked object "vs:NAME" is up while the pool named NAME (lvs.VirtualServer.Name) has
// quorum, and weighs on the instance as a vrrp_script would. Before the first report the
// state is unknown and has no effect, like a vrrp_script that has not run yet.

// poolKind is the trackRef kind of a tracked virtual server.
const poolKind = "vs"

// poolTracks are the instance's track_virtual_server entries as tracked objects.
func poolTracks(v *vrrpd.Instance) []trackRef {
	var out []trackRef
	for _, t := range v.TrackVirtualServers {
		out = append(out, trackRef{kind: poolKind, name: t.Name, weight: t.Weight, reverse: t.WeightReverse})
	}
	return out
}

// PoolHealth records whether the pool of the virtual server named vs (its
// lvs.VirtualServer.Name) has quorum, for the instances that track it. It never blocks:
// the instances hear of it from the Manager's own goroutine, and of only the latest state
// when reports come faster than they are delivered. It may be called before Run; the
// instances then start with the state it gave.
func (m *Manager) PoolHealth(vs string, up bool) {
	u := trackUpdate{key: poolKind + ":" + vs, up: up}
	m.mu.Lock()
	if !m.started {
		m.last[u.key] = u
		m.mu.Unlock()
		return
	}
	if m.poolPending == nil {
		m.poolPending = map[string]trackUpdate{}
	}
	m.poolPending[u.key] = u
	m.mu.Unlock()
	select {
	case m.poolWake <- struct{}{}:
	default:
	}
}

// deliverPools hands pool reports to the instances until ctx ends.
func (m *Manager) deliverPools(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.poolWake:
		}
		m.mu.Lock()
		pending := m.poolPending
		m.poolPending = nil
		m.mu.Unlock()
		for _, u := range pending {
			m.dispatch(u)
		}
	}
}

// forgetPools drops the reported state of virtual servers that are no longer configured, so
// that one added again later is unknown until the checker half reports it; m.mu is held.
func (m *Manager) forgetPools() {
	known := map[string]bool{}
	for _, vs := range m.cfg.VirtualServers {
		known[poolKind+":"+vs.Name()] = true
	}
	for k := range m.last {
		if strings.HasPrefix(k, poolKind+":") && !known[k] {
			delete(m.last, k)
		}
	}
	for k := range m.poolPending {
		if !known[k] {
			delete(m.poolPending, k)
		}
	}
}
