package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// The observers of the load-balancing half's bus. Each runs on its own goroutine (the bus's),
// outside the half's lock; none may block for long.

// metricsObserver keeps the per-virtual-server series in step with the half's events and
// keeps each virtual server's latest state, from which a scrape makes the per-real-server
// series (realServers): a stored series per real server cost more than the server itself.
type metricsObserver struct {
	m *status.Metrics

	mu sync.Mutex
	// states are each virtual server's latest state (never changed once sent); those of a
	// server a reload removed also say which series to delete.
	states map[string]*lb.State
}

func newMetricsObserver(m *status.Metrics) *metricsObserver {
	o := &metricsObserver{m: m, states: map[string]*lb.State{}}
	m.SetRealServerSource(adminStates, o.realServers)
	return o
}

// adminStates are the operator's states in the order realServers indexes them.
var adminStates = []string{pool.AdminReady.String(), pool.AdminDrain.String(), pool.AdminMaint.String()}

func (o *metricsObserver) observe(ev lb.Event) {
	m := o.m
	switch {
	case ev.Pool != nil:
		switch ev.Pool.Kind {
		case pool.ServerUp:
			m.Transitions.WithLabelValues(ev.VS, ev.Pool.Server, "up").Inc()
		case pool.ServerDown:
			m.Transitions.WithLabelValues(ev.VS, ev.Pool.Server, "down").Inc()
		case pool.ServerEjected:
			m.PassiveEjections.WithLabelValues(ev.VS, ev.Pool.Server, ev.Pool.Cause).Inc()
		case pool.EjectionRefused:
			m.PassiveRefusals.WithLabelValues(ev.VS, ev.Pool.Server, ev.Pool.Cause).Inc()
		}
	case ev.State != nil:
		st := ev.State
		m.PoolUp.WithLabelValues(ev.VS).Set(float64(st.Up))
		m.PoolSize.WithLabelValues(ev.VS).Set(float64(st.Total))
		m.QuorumUp.WithLabelValues(ev.VS).Set(gauge(st.QuorumUp))
		m.Serving.WithLabelValues(ev.VS).Set(gauge(st.Serving))
		o.mu.Lock()
		old := o.states[ev.VS]
		o.states[ev.VS] = st
		o.mu.Unlock()
		if old != nil {
			now := make(map[string]bool, len(st.Servers))
			for _, s := range st.Servers {
				now[s.ID] = true
			}
			for _, s := range old.Servers {
				if !now[s.ID] {
					o.forget(ev.VS, s.ID)
				}
			}
		}
	case ev.Note != nil && ev.Note.Kind == lb.NoteRepair:
		m.Repairs.WithLabelValues("dataplane", repairOutcome(ev.Note.Failed)).Inc()
	case ev.Gone:
		o.forget(ev.VS, "")
		o.mu.Lock()
		delete(o.states, ev.VS)
		o.mu.Unlock()
	}
}

// realServers yields every real server of the latest states, for a scrape.
func (o *metricsObserver) realServers(yield func(status.RealServerSample)) {
	o.mu.Lock()
	states := make([]*lb.State, 0, len(o.states))
	names := make([]string, 0, len(o.states))
	for vs, st := range o.states {
		states = append(states, st)
		names = append(names, vs)
	}
	o.mu.Unlock()
	for i, st := range states {
		for _, s := range st.Servers {
			yield(status.RealServerSample{VirtualServer: names[i], RealServer: s.ID, Up: s.Up, Weight: s.Weight, Admin: int(s.Admin)})
		}
	}
}

// forget drops the series of a real server (rs) or a whole virtual server (rs "").
func (o *metricsObserver) forget(vs, rs string) {
	m := o.m
	l := prometheus.Labels{"virtual_server": vs}
	if rs != "" {
		l["real_server"] = rs
	} else {
		m.PoolUp.DeletePartialMatch(l)
		m.PoolSize.DeletePartialMatch(l)
		m.QuorumUp.DeletePartialMatch(l)
		m.Serving.DeletePartialMatch(l)
	}
	m.Transitions.DeletePartialMatch(l)
	m.PassiveEjections.DeletePartialMatch(l)
	m.PassiveRefusals.DeletePartialMatch(l)
}

func repairOutcome(failed bool) string {
	if failed {
		return "failed"
	}
	return "repaired"
}

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// hubObserver puts the half's events and notes on the event stream, and its real servers'
// states on their timelines.
func hubObserver(hub *status.Hub) func(lb.Event) {
	return func(ev lb.Event) {
		if ev.State != nil {
			marks := make([]status.ServerMark, len(ev.State.Servers))
			for i, s := range ev.State.Servers {
				marks[i] = status.ServerMark{Name: s.ID, Up: s.Up, AdminState: s.Admin.String()}
			}
			hub.ServerStates(ev.VS, marks)
		}
		if ev.Gone {
			hub.ForgetVirtualServer(ev.VS)
		}
		switch {
		case ev.Pool != nil:
			subject := ev.VS
			if ev.Pool.Server != "" {
				subject += " " + ev.Pool.Server
			}
			hub.Publish(ev.Pool.Kind.String(), subject, ev.Pool.Reason)
		case ev.Note != nil:
			hub.Publish(ev.Note.Kind, ev.VS, ev.Note.Message)
		}
	}
}

// scriptRunner runs the notify scripts the half's pool events carry (notify_up, notify_down,
// quorum_up, quorum_down), each without waiting for it.
type scriptRunner struct {
	runner *notify.Runner
	log    *slog.Logger
	// ctx ends scripts still running when vigil stops, after Wait's grace.
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

func newScriptRunner(runner *notify.Runner, log *slog.Logger) *scriptRunner {
	ctx, cancel := context.WithCancel(context.Background())
	return &scriptRunner{runner: runner, log: log, ctx: ctx, cancel: cancel}
}

func (s *scriptRunner) observe(ev lb.Event) {
	if ev.Pool == nil || ev.Pool.Script == "" {
		return
	}
	vs, command := ev.VS, ev.Pool.Script
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		out := s.runner.Run(s.ctx, notify.Script{Command: command, Timeout: 30 * time.Second})
		if !out.Success() {
			s.log.Warn("notify script failed", "vs", vs, "script", command, "outcome", out.String())
		}
	}()
}

// wait gives the scripts still running up to grace to end, then ends them.
func (s *scriptRunner) wait(grace time.Duration) {
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.cancel()
		<-done
	}
	s.cancel()
}

// bgpAnnouncer carries the BGP policy's decisions out on the speaker. It hears the half's
// states (whether each virtual server can serve) and the VRRP half's state changes (for
// only_while_master), from two goroutines.
type bgpAnnouncer struct {
	routes bgp.Router // the speaker
	log    *slog.Logger

	mu     sync.Mutex
	policy bgp.Policy
	// keys are the policy's keys of each virtual server announced: its name, or one per
	// address of a group.
	keys map[string][]string
}

func (a *bgpAnnouncer) observe(ev lb.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case ev.State != nil:
		st := ev.State
		anns := announcements(ev.VS, st.Config)
		why := "announce removed by reload"
		if len(anns) > 0 {
			why = "no longer in the virtual server's group"
		}
		for _, k := range a.keys[ev.VS] {
			if anns[k] == nil {
				a.apply(a.policy.Forget(k, why))
			}
		}
		keys := slices.Sorted(maps.Keys(anns))
		for _, k := range keys {
			a.apply(a.policy.SetPool(k, anns[k], st.CanServe(), poolWhy(st)))
		}
		if a.keys == nil {
			a.keys = map[string][]string{}
		}
		a.keys[ev.VS] = keys
	case ev.Gone:
		for _, k := range a.keys[ev.VS] {
			a.apply(a.policy.Forget(k, "removed by reload"))
		}
		delete(a.keys, ev.VS)
	}
}

func (a *bgpAnnouncer) vrrpChanged(instance, state string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apply(a.policy.SetVRRP(instance, state))
}

func (a *bgpAnnouncer) apply(ds []bgp.Decision) {
	if err := bgp.Apply(a.routes, ds); err != nil {
		a.log.Error("bgp", "err", err)
	}
}

// announcements are vs's announce block as the BGP policy takes it, by the policy's key: the
// virtual server's name (called name) for its address, or a name per address of a group (each
// address once, whatever its ports); none without the block.
func announcements(name string, vs *lvs.VirtualServer) map[string]*bgp.Announcement {
	a := vs.Announce
	if a == nil {
		return nil
	}
	out := map[string]*bgp.Announcement{}
	for _, addr := range vs.Addresses() {
		key := name
		if vs.Kind == lvs.VSKindGroup {
			key = lb.GroupMemberName(name, addr.String())
		}
		out[key] = &bgp.Announcement{
			Route:           bgp.Route{Prefix: netip.PrefixFrom(addr, addr.BitLen()), Communities: a.Communities, MED: a.MED, LocalPref: a.LocalPref},
			OnlyWhileMaster: a.OnlyWhileMaster,
		}
	}
	return out
}

// poolWhy says why a virtual server can or cannot serve, for the route's reason.
func poolWhy(st *lb.State) string {
	switch {
	case !st.QuorumUp:
		return fmt.Sprintf("quorum lost (%d/%d up)", st.Up, st.Total)
	case !st.Serving:
		return "not serving: " + st.ServingReason
	}
	return fmt.Sprintf("quorum met (%d/%d up), serving", st.Up, st.Total)
}

// vrrpPools tells the VRRP half whether each virtual server can serve (track_virtual_server).
func vrrpPools(m *vrrp.Manager) func(lb.Event) {
	return func(ev lb.Event) {
		if ev.State != nil {
			m.PoolHealth(ev.VS, ev.State.CanServe())
		}
	}
}
