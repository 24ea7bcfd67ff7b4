package lb

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/pool"
)

// A virtual server is served when what the data plane installed for it is in place (its
// listener open, its kernel rules or IPVS service there, as the data plane last found them)
// and a real server or the sorry server can take a new connection. Servers that pass their
// checks do not make a virtual server served: this is what the status shows, what
// vigil_virtual_server_serving exports and what track_virtual_server follows.

// servingLocked says whether svc is served now, and if not, why.
func (d *Half) servingLocked(svc *service) (bool, string) {
	switch {
	case len(svc.steers) == 0:
		return false, svc.unsteered
	case svc.pool.Stopped():
		// Its servers' checks may still say up; nothing is sent to them any more.
		return false, "stopped: vigil is stopping, or a reload removed the virtual server"
	case !d.listened:
		return false, "not started yet"
	case svc.applyErr != "":
		return false, "data plane: " + svc.applyErr
	}
	if err := d.notListeningErr(svc); err != nil {
		return false, "data plane: " + err.Error()
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
	out, held := 0, 0
	for _, s := range svc.pool.Snapshot().Servers {
		switch {
		case s.AdminState == pool.AdminReady:
		case s.HeldBy != "":
			held++
		default:
			out++
		}
	}
	if out > 0 {
		why += fmt.Sprintf(", %d drained or in maintenance by an operator", out)
	}
	if held > 0 {
		why += fmt.Sprintf(", %d drained or in maintenance by their agent or by discovery", held)
	}
	if svc.spec.Sorry == nil {
		why += ", no sorry server"
	}
	return false, why + ")"
}

// updateServingLocked recomputes whether svc is served. A change is logged and noted; the
// caller publishes the state.
func (d *Half) updateServingLocked(svc *service) {
	ok, why := d.servingLocked(svc)
	if svc.servingKnown && ok == svc.serving && why == svc.servingReason {
		return
	}
	flipped := !svc.servingKnown || ok != svc.serving
	svc.servingKnown, svc.serving, svc.servingReason = true, ok, why
	d.stateLocked(svc)
	if !flipped || !d.listened {
		return
	}
	if ok {
		d.log.Info("virtual server serving", "vs", svc.name)
		d.noteLocked(svc.name, NoteServing, "serving", false)
	} else {
		d.log.Log(context.Background(), svc.lossLevel(), "virtual server not serving", "vs", svc.name, "reason", why)
		d.noteLocked(svc.name, NoteNotServing, why, false)
	}
}

// reconcileInterval is global_defs reconcile_interval, or its default.
func (d *Half) reconcileInterval() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if iv := d.cfg.Global.ReconcileInterval.D(); iv > 0 {
		return iv
	}
	return 2 * time.Second
}

// reconcileLoop reads back what the data plane installed every reconcile_interval, and at once
// when an address of the host changes (a listener may now bind; a VIP left), until ctx ends.
func (d *Half) reconcileLoop(ctx context.Context) {
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
func (d *Half) reconcile(ctx context.Context) {
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
		if r.Err != nil {
			d.log.Error("data plane drift not repaired", "vs", r.Service, "drift", r.Drift, "err", r.Err)
		} else {
			d.log.Warn("data plane drift repaired", "vs", r.Service, "drift", r.Drift)
		}
		d.noteLocked(ownerOf(r.Service), NoteRepair, r.String(), r.Err != nil)
	}
	d.dpNotServing = notServing
	now := d.clk.Now()
	for _, name := range d.order {
		svc := d.services[name]
		switch why, ran := probed[name]; {
		case ran && why != "":
			if svc.probeFails++; svc.probeFails >= selfProbeFall {
				svc.probeErr, svc.probeFailedAt = why, now
			}
		case ran:
			svc.probeErr, svc.probeFails = "", 0
		case svc.probeErr != "" && now.Sub(svc.probeFailedAt) > svc.vs.SelfProbeHold.D():
			// The address left, so no probe runs here; the failure that sent it away stands
			// for self_probe's hold, so that the node does not take it back at once.
			svc.probeErr, svc.probeFails = "", 0
		}
		d.updateServingLocked(svc)
	}
}

// selfProbe connects, through the node's own data plane, to the address of every virtual
// server with self_probe whose address is on this node now, and returns the outcome by virtual
// server: "" when it connected, else why not. A backup, whose virtual address is on the master,
// probes nothing (a connect would test the master) and has no entry.
func (d *Half) selfProbe(ctx context.Context) map[string]string {
	type probe struct {
		name    string
		addr    netip.AddrPort
		timeout time.Duration
	}
	var probes []probe
	d.mu.Lock()
	for _, name := range d.order {
		svc := d.services[name]
		if svc.vs.SelfProbe == 0 {
			continue
		}
		// A group's first address stands for it: its services share the real servers.
		for _, steer := range svc.steers {
			if steer.Listen.IsValid() && steer.Protocol == dataplane.TCP {
				probes = append(probes, probe{name, steer.Listen, svc.vs.SelfProbe.D()})
				break
			}
		}
	}
	d.mu.Unlock()
	if len(probes) == 0 {
		return nil
	}
	local := localAddrs()
	now := time.Now()
	for a := range d.localSince {
		if !local[a] {
			delete(d.localSince, a)
		}
	}
	for a := range local {
		if _, ok := d.localSince[a]; !ok {
			d.localSince[a] = now
		}
	}
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range probes {
		// An address that just arrived (a takeover) is not probed yet: neighbours, the
		// backends among them, may still send its packets to the old holder until the
		// gratuitous ARP reaches them, and a probe then would send the address away again.
		if since, ok := d.localSince[p.addr.Addr()]; !ok || now.Sub(since) < selfProbeSettle {
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

// selfProbeSettle is how long an address must have been on this node before it is probed.
const selfProbeSettle = time.Second

// selfProbeFall is how many self probes in a row must fail before a virtual server is not
// served: one lost SYN must not move the address.
const selfProbeFall = 2

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
