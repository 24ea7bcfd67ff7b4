package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/status"
)

// A virtual server is served when what the data plane installed for it is in place (its
// listener open, its kernel rules or IPVS service there, as the data plane last found them)
// and a real server or the sorry server can take a new connection. Servers that pass their
// checks do not make a virtual server served: this is what the status shows, what
// vigil_virtual_server_serving exports and what track_virtual_server follows.

// servingLocked says whether svc is served now, and if not, why.
func (d *Daemon) servingLocked(svc *service) (bool, string) {
	switch {
	case svc.steer == nil:
		return false, svc.unsteered
	case !d.listened:
		return false, "not started yet"
	case svc.applyErr != "":
		return false, "data plane: " + svc.applyErr
	case d.dpNotServing[svc.name] != "":
		return false, "data plane: " + d.dpNotServing[svc.name]
	}
	for _, b := range svc.pool.Desired().Backends {
		if b.Weight > 0 {
			if svc.probeErr != "" {
				return false, "self probe: " + svc.probeErr
			}
			return true, ""
		}
	}
	up, total, _ := svc.pool.Counts()
	why := fmt.Sprintf("no real server can take a connection (%d of %d up", up, total)
	if svc.spec.Sorry == nil {
		why += ", no sorry server"
	}
	return false, why + ")"
}

// updateServingLocked recomputes whether svc is served. A change is logged, published on the
// event stream, exported and reported to the VRRP half.
func (d *Daemon) updateServingLocked(svc *service) {
	ok, why := d.servingLocked(svc)
	if svc.servingKnown && ok == svc.serving && why == svc.servingReason {
		return
	}
	flipped := !svc.servingKnown || ok != svc.serving
	svc.servingKnown, svc.serving, svc.servingReason = true, ok, why
	d.metrics.Serving.WithLabelValues(svc.name).Set(boolGauge(ok))
	if !flipped || !d.listened {
		return
	}
	if ok {
		d.log.Info("virtual server serving", "vs", svc.name)
		d.hub.Publish("serving", svc.name, "serving")
	} else {
		d.log.Warn("virtual server not serving", "vs", svc.name, "reason", why)
		d.hub.Publish("not serving", svc.name, why)
	}
	d.reportPoolLocked(svc)
}

// reportPoolLocked tells Options.PoolHealth whether svc can take traffic: its pool has quorum
// and it is served. Repeating a state is harmless: the VRRP half ignores a report that changes
// nothing. Nothing is reported before Listen, so that the VRRP half does not start from a
// service that merely has not been applied yet.
func (d *Daemon) reportPoolLocked(svc *service) {
	if d.opts.PoolHealth != nil && d.listened {
		d.opts.PoolHealth(svc.name, svc.pool.Desired().QuorumUp && svc.serving)
	}
}

// flagMastersLocked sets Problem on every MASTER instance in list that tracks a virtual server
// that is not served: it holds the address and serves nothing behind it.
func (d *Daemon) flagMastersLocked(list []status.VRRPInstance) {
	tracked := map[string][]string{}
	for _, v := range d.cfg.VRRPInstances {
		for _, t := range v.TrackVirtualServers {
			tracked[v.Name] = append(tracked[v.Name], t.Name)
		}
	}
	for i := range list {
		in := &list[i]
		if in.State != "MASTER" {
			continue
		}
		var problems []string
		if in.Problem != "" {
			problems = append(problems, in.Problem)
		}
		for _, name := range tracked[in.Name] {
			svc := d.services[name]
			switch {
			case svc == nil:
				problems = append(problems, "tracked virtual server "+name+" is not running here")
			case !svc.serving:
				problems = append(problems, "tracked virtual server "+name+" is not serving: "+svc.servingReason)
			}
		}
		in.Problem = strings.Join(problems, "; ")
	}
}

// reconcileInterval is global_defs reconcile_interval, or its default.
func (d *Daemon) reconcileInterval() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if iv := d.cfg.Global.ReconcileInterval.D(); iv > 0 {
		return iv
	}
	return 2 * time.Second
}

// reconcileLoop reads back what the data plane installed every reconcile_interval, and at once
// when an address of the host changes (a listener may now bind; a VIP left), until ctx ends.
func (d *Daemon) reconcileLoop(ctx context.Context) {
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		err := netif.WatchAddresses(ctx, func(netif.AddrChange) {
			select {
			case d.reconcileNow <- struct{}{}:
			default:
			}
		})
		if err != nil {
			d.log.Warn("address changes are not watched; the data plane is read back only every reconcile_interval", "err", err)
		}
	}()
	defer func() { <-watchDone }()
	timer := d.clk.NewTimer(d.reconcileInterval())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		case <-d.reconcileNow:
			if !timer.Stop() {
				select {
				case <-timer.C():
				default:
				}
			}
		}
		d.reconcile(ctx)
		timer.Reset(d.reconcileInterval())
	}
}

// reconcile runs the data plane's Reconcile once: each repair is logged, counted and published,
// and every service's serving state is recomputed from what the data plane now says and what
// the self probes found.
func (d *Daemon) reconcile(ctx context.Context) {
	repairs := d.dp.Reconcile(ctx)
	probed := d.selfProbe(ctx)
	notServing := map[string]string{}
	for _, st := range d.dp.Stats() {
		if st.NotServing != "" {
			notServing[st.Name] = st.NotServing
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range repairs {
		outcome := "repaired"
		if r.Err != nil {
			outcome = "failed"
			d.log.Error("data plane drift not repaired", "vs", r.Service, "drift", r.Drift, "err", r.Err)
		} else {
			d.log.Warn("data plane drift repaired", "vs", r.Service, "drift", r.Drift)
		}
		d.metrics.Repairs.WithLabelValues("dataplane", outcome).Inc()
		d.hub.Publish("repair", r.Service, r.String())
	}
	d.dpNotServing = notServing
	now := d.clk.Now()
	for _, name := range d.order {
		svc := d.services[name]
		switch why, ran := probed[name]; {
		case ran && why != "":
			svc.probeErr, svc.probeFailedAt = why, now
		case ran:
			svc.probeErr = ""
		case svc.probeErr != "" && now.Sub(svc.probeFailedAt) > svc.vs.SelfProbeHold.D():
			// The address left, so no probe runs here; the failure that sent it away stands
			// for self_probe's hold, so that the node does not take it back at once.
			svc.probeErr = ""
		}
		d.updateServingLocked(svc)
	}
}

// selfProbe connects, through the node's own data plane, to the address of every virtual
// server with self_probe whose address is on this node now, and returns the outcome by virtual
// server: "" when it connected, else why not. A backup, whose virtual address is on the master,
// probes nothing (a connect would test the master) and has no entry.
func (d *Daemon) selfProbe(ctx context.Context) map[string]string {
	type probe struct {
		name    string
		addr    netip.AddrPort
		timeout time.Duration
	}
	var probes []probe
	d.mu.Lock()
	for _, name := range d.order {
		svc := d.services[name]
		if svc.vs.SelfProbe > 0 && svc.steer != nil && svc.steer.Listen.IsValid() && svc.steer.Protocol == dataplane.TCP {
			probes = append(probes, probe{name, svc.steer.Listen, svc.vs.SelfProbe.D()})
		}
	}
	d.mu.Unlock()
	if len(probes) == 0 {
		return nil
	}
	local := localAddrs()
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range probes {
		if !local[p.addr.Addr()] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			why := ""
			c, err := (&net.Dialer{Timeout: p.timeout}).DialContext(ctx, "tcp", p.addr.String())
			if err == nil {
				c.Close()
			} else {
				why = err.Error()
			}
			mu.Lock()
			out[p.name] = why
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// localAddrs is the set of addresses on this node's interfaces.
func localAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out
}

// RecordReload records the outcome of a reload: counted in vigil_reloads_total, published on
// the event stream, logged, and shown by the status API and page as the last reload. The part of
// vigil that decides a reload calls it once per reload.
func (d *Daemon) RecordReload(outcome, reason string) {
	d.metrics.Reloads.WithLabelValues(outcome).Inc()
	d.hub.Publish("reload", outcome, reason)
	d.mu.Lock()
	d.lastReload = &status.Reload{At: d.clk.Now(), Outcome: outcome, Reason: reason}
	d.mu.Unlock()
}

// VRRPRepaired records a repair the VRRP half made (or could not make) to a master's
// addresses, routes or rules: counted, and published on the event stream. The VRRP half logs
// it itself. It does not block.
func (d *Daemon) VRRPRepaired(instance, drift string, err error) {
	outcome, msg := "repaired", drift+": repaired"
	if err != nil {
		outcome, msg = "failed", drift+": not repaired: "+err.Error()
	}
	d.metrics.Repairs.WithLabelValues("vrrp", outcome).Inc()
	d.hub.Publish("repair", instance, msg)
}
