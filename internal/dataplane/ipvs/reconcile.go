package ipvs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// Reconcile implements dataplane.Dataplane: it reads each of vigil's virtual services and its
// destinations back from the kernel (IPVS keeps no generation counter to skip this, so it costs
// two netlink requests per service) and puts back what differs from the last state applied,
// with the calls Apply would make: a missing service is created with its destinations, changed
// settings are updated in place, and each destination that is missing, extra, or has another
// weight or forwarding method is added, removed or updated. It returns one Repair per service
// missing, per service whose settings changed, and per destination that differed. It also
// tries again to remove the services an Apply replaced but could not remove.
func (d *Dataplane) Reconcile(ctx context.Context) []dataplane.Repair {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	var out []dataplane.Repair
	for _, name := range slices.Sorted(maps.Keys(d.services)) {
		if ctx.Err() != nil {
			return out
		}
		out = append(out, d.reconcileService(name, d.services[name])...)
	}
	stale := d.stale[:0]
	for _, id := range d.stale {
		err := d.c.RemoveService(id)
		if isMissing(err) {
			continue
		}
		out = append(out, dataplane.Repair{Drift: fmt.Sprintf("IPVS service %s replaced by Apply but still there", serviceKey(id)), Err: err})
		if err != nil {
			stale = append(stale, id)
		}
	}
	d.stale = stale
	return out
}

// reconcileService is Reconcile for one service: it returns a Repair per difference, and keeps
// what could not be put back as the service's NotServing.
func (d *Dataplane) reconcileService(name string, rec *owned) []dataplane.Repair {
	var out []dataplane.Repair
	var failed []string
	repaired := func(drift string, err error) {
		out = append(out, dataplane.Repair{Service: name, Drift: drift, Err: err})
		if err != nil {
			failed = append(failed, drift+": not repaired: "+err.Error())
		}
	}
	defer func() { rec.notServing = strings.Join(failed, "; ") }()
	want := virtual(rec.svc)
	// Apply checked both with this very state.
	fwd, _ := d.forwardingOf(rec.svc)
	dests, _ := destinations(rec.svc, fwd)

	k, err := d.c.Service(rec.id)
	switch {
	case isMissing(err):
		err := d.createService(name, want)
		for _, ch := range destChanges(nil, dests) {
			if err != nil {
				break
			}
			err = d.change(want, ch)
		}
		repaired(fmt.Sprintf("IPVS service %s missing", serviceKey(want)), err)
		return out
	case err != nil:
		repaired(fmt.Sprintf("IPVS service %s could not be read", serviceKey(want)), err)
		return out
	}
	if diff := virtualDiff(k.Service, want); diff != "" {
		repaired(fmt.Sprintf("IPVS service %s %s", serviceKey(want), diff), d.updateService(want))
	}
	have, err := d.c.Destinations(want)
	if err != nil {
		repaired(fmt.Sprintf("IPVS destinations of %s could not be read", serviceKey(want)), err)
		return out
	}
	for _, ch := range destChanges(have, dests) {
		repaired(ch.drift, d.change(want, ch))
	}
	return out
}
