package lb

import (
	"context"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/pool"
)

// Passive health: the userspace data plane reports each connection to a real server that
// failed (dataplane.BackendFailure) on the connection's own goroutine; the half queues it and
// hands it to the server's pool from a goroutine of its own, under its lock, as it hands a
// check's verdict. The pool decides whether to eject; the data plane only observes.

// failureQueue bounds the failures waiting for the half. A failure that finds it full is
// dropped: the data plane's count goes on, so the next failure of the run carries it.
const failureQueue = 1024

// backendFailed is the data plane's Options.OnBackendFailure: it never blocks.
func (d *Half) backendFailed(f dataplane.BackendFailure) {
	select {
	case d.failures <- f:
	default:
		d.log.Debug("passive health: failure dropped, the half is behind", "vs", f.Service, "rs", f.Backend, "failures_in_a_row", f.Consecutive)
	}
}

// passiveLoop hands queued failures to their pools until ctx ends.
func (d *Half) passiveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-d.failures:
			d.observeFailure(f)
		}
	}
}

// observeFailure hands one failure to its pool and acts on what the pool decided.
func (d *Half) observeFailure(f dataplane.BackendFailure) {
	d.mu.Lock()
	defer d.mu.Unlock()
	svc := d.services[ownerOf(f.Service)]
	if svc == nil {
		return // removed by a reload while the connection failed
	}
	id := f.Backend.String()
	if _, real := svc.addrs[id]; !real {
		return // a backend a reload removed, still draining
	}
	evs, err := svc.pool.ObserveFailure(pool.Failure{Server: id, Ref: svc.pool.Ref(id), Consecutive: f.Consecutive, Kind: f.Kind, Reason: f.Err}, d.clk.Now())
	if err != nil {
		d.log.Debug("passive health", "vs", svc.name, "rs", id, "err", err)
		return
	}
	d.handleEventsLocked(svc, evs, true)
}

// passiveSpec is a virtual server's passive_health block as its pool takes it (off without
// one).
func passiveSpec(vs *lvs.VirtualServer) pool.PassiveSpec {
	ph := vs.PassiveHealth
	if ph == nil {
		return pool.PassiveSpec{}
	}
	return pool.PassiveSpec{ConsecutiveFailures: int(ph.ConsecutiveFailures), MaxEjectionPercent: int(ph.MaxEjectionPercent)}
}

// usesRedispatch says whether vs sets any of the keywords only the userspace data plane
// acts on: passive_health, connect_attempt_timeout, connect_retries other than the default.
func usesRedispatch(vs *lvs.VirtualServer) bool {
	return vs.PassiveHealth != nil || vs.ConnectAttemptTimeout > 0 || vs.ConnectRetries != lvs.DefaultConnectRetries
}
