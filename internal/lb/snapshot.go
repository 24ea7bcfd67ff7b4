package lb

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/status"
)

// probeSample is one probe as a job's recent probes keep it: 8 bytes and no pointer, where a
// status.Probe (its time.Time) takes 40 with one. At 60 probes for each of 20,000 checks that
// is 9.6 MB instead of 48 MB (19 MB at 16 bytes, before), and none of it for the collector to
// scan. From the low bits: when, in milliseconds since probeEpoch (41 bits, until 2089);
// whether it was healthy (1 bit); its latency (22 bits: microseconds up to 2.1 s, beyond that
// milliseconds, with the top bit set, up to 35 minutes).
type probeSample uint64

const (
	sampleAtBits      = 41
	sampleLatencyBits = 22
	sampleHealthy     = probeSample(1) << sampleAtBits
	sampleLatencyMs   = 1 << (sampleLatencyBits - 1) // the latency is in milliseconds
)

// probeEpoch is where a sample's time counts from.
var probeEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

func newProbeSample(at time.Time, latency time.Duration, healthy bool) probeSample {
	ms := min(max(at.UnixMilli()-probeEpoch, 0), 1<<sampleAtBits-1)
	us := min(max((latency+time.Microsecond-1)/time.Microsecond, 0), math.MaxInt32)
	lat := int64(us)
	if lat >= sampleLatencyMs {
		lat = sampleLatencyMs | min((lat+999)/1000, sampleLatencyMs-1)
	}
	p := probeSample(ms) | probeSample(lat)<<(sampleAtBits+1)
	if healthy {
		p |= sampleHealthy
	}
	return p
}

// probe is the sample as the status page shows it.
func (p probeSample) probe() status.Probe {
	lat := int64(p >> (sampleAtBits + 1))
	latency := time.Duration(lat) * time.Microsecond
	if lat&sampleLatencyMs != 0 {
		latency = time.Duration(lat&^sampleLatencyMs) * time.Millisecond
	}
	return status.Probe{
		At:      time.UnixMilli(probeEpoch + int64(p&(1<<sampleAtBits-1))),
		Latency: latency,
		Healthy: p&sampleHealthy != 0,
	}
}

// recentProbes returns r's samples as the status page shows them, oldest first.
func recentProbes(r *status.Ring[probeSample]) []status.Probe {
	items := r.Items()
	if items == nil {
		return nil
	}
	out := make([]status.Probe, len(items))
	for i, p := range items {
		out[i] = p.probe()
	}
	return out
}

// DataplaneStats are the data plane's counters for every service (its connections against the
// caps among them), for the metrics.
func (d *Half) DataplaneStats() []dataplane.ServiceStats { return byVirtualServer(d.dp.Stats()) }

// byVirtualServer merges the stats of a virtual_server_group's data plane services into one
// entry named for the virtual server, with each backend's counts summed over them; the stats
// of other services pass as they are.
func byVirtualServer(stats []dataplane.ServiceStats) []dataplane.ServiceStats {
	var out []dataplane.ServiceStats
	at := map[string]int{}
	for _, ss := range stats {
		owner := ownerOf(ss.Name)
		if owner == ss.Name {
			out = append(out, ss)
			continue
		}
		i, seen := at[owner]
		if !seen {
			at[owner] = len(out)
			ss.Name, ss.Listen, ss.Fwmark = owner, netip.AddrPort{}, 0
			ss.Backends, ss.Departed = mergeBackends(nil, ss.Backends), mergeBackends(nil, ss.Departed)
			out = append(out, ss)
			continue
		}
		m := &out[i]
		m.Backends, m.Departed = mergeBackends(m.Backends, ss.Backends), mergeBackends(m.Departed, ss.Departed)
		m.Refused += ss.Refused
		m.RefusedOverloaded += ss.RefusedOverloaded
		m.RefusedFull += ss.RefusedFull
		m.RefusedDescriptors += ss.RefusedDescriptors
		m.Conns += ss.Conns
		m.MaxConn += ss.MaxConn
		m.Paused += ss.Paused
		m.Total += ss.Total
		m.BytesIn += ss.BytesIn
		m.BytesOut += ss.BytesOut
		if m.NotServing == "" {
			m.NotServing = ss.NotServing
		}
	}
	return out
}

// mergeBackends adds each of add's counts to the entry in into for the same backend (and the
// same sorry and draining standing), or appends it.
func mergeBackends(into, add []dataplane.BackendStats) []dataplane.BackendStats {
	for _, b := range add {
		i := slices.IndexFunc(into, func(x dataplane.BackendStats) bool {
			return x.Addr == b.Addr && x.Sorry == b.Sorry && x.Draining == b.Draining
		})
		if i < 0 {
			into = append(into, b)
			continue
		}
		m := &into[i]
		m.Active += b.Active
		m.Total += b.Total
		m.BytesIn += b.BytesIn
		m.BytesOut += b.BytesOut
		m.DialFailures += b.DialFailures
		m.Overloaded = m.Overloaded || b.Overloaded
		m.ConsecutiveFailures = max(m.ConsecutiveFailures, b.ConsecutiveFailures)
	}
	return into
}

// listenText is where svc is served, for the status and the log: an address, a firewall mark,
// a group's addresses and marks, or why the data plane does not serve it.
func listenText(svc *service) string {
	var parts []string
	for _, steer := range svc.steers {
		if steer.Fwmark != 0 {
			parts = append(parts, fmt.Sprintf("fwmark %d", steer.Fwmark))
		} else {
			parts = append(parts, steer.Listen.String())
		}
	}
	const shown = 4
	if len(parts) > shown {
		parts = append(parts[:shown], fmt.Sprintf("and %d more", len(parts)-shown))
	}
	text := strings.Join(parts, ", ")
	if svc.vs.Kind == lvs.VSKindGroup && len(parts) > 0 {
		text = "group " + svc.vs.Group + ": " + text
	}
	return text
}

// Snapshot is the half's part of the status: its virtual servers, the data plane's name and the
// version. The supervisor adds the VRRP instances, BGP, events and the last reload.
func (d *Half) Snapshot() status.Snapshot {
	jobs := map[string]probe.JobStatus{}
	for _, js := range d.sched.Snapshot() {
		jobs[js.ID] = js
	}
	conns := map[string]dataplane.BackendStats{}
	traffic := map[string]status.Traffic{}
	for _, ss := range byVirtualServer(d.dp.Stats()) {
		// The service's own totals, which go on when a backend leaves; active is what is open now.
		t := status.Traffic{TotalConns: ss.Total, BytesIn: ss.BytesIn, BytesOut: ss.BytesOut}
		// A server that left the set (down, in maintenance) still shows what it carried.
		for _, b := range ss.Departed {
			conns[ss.Name+"|"+b.Addr.String()] = b
		}
		for _, b := range ss.Backends {
			conns[ss.Name+"|"+b.Addr.String()] = b
			t.ActiveConns += b.Active
		}
		traffic[ss.Name] = t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	snap := status.Snapshot{Generated: d.clk.Now(), Version: d.opts.Version, Dataplane: d.dpName}
	for _, name := range d.order {
		svc := d.services[name]
		ps := svc.pool.Snapshot()
		vs := status.VirtualServer{
			Name: svc.name, Protocol: svc.vs.Protocol, Scheduler: svc.vs.Scheduler, Quorum: int(ps.Quorum),
			QuorumUp: ps.QuorumUp, SorryActive: ps.SorryActive, Panic: ps.Panic, UpCount: ps.Up, Total: ps.Total,
			Serving: svc.serving, ServingReason: svc.servingReason, Discovery: discoveryStatus(svc),
		}
		vs.Traffic = traffic[svc.name]
		if len(svc.steers) > 0 {
			vs.Listen = listenText(svc)
		} else {
			vs.Listen = svc.name + " (not steered by " + d.dpName + ")"
		}
		for _, s := range ps.Servers {
			rs := status.RealServer{Name: s.ID, Address: svc.addrs[s.ID].String(), Up: s.Up, Weight: s.Weight,
				EffectiveWeight: s.DesiredWeight, Since: s.Since, Ejected: s.Ejected, EjectedReason: s.EjectedReason}
			adminStatus(&rs, s)
			if svc.disc != nil {
				rs.Discovered = svc.disc.members[s.ID] != nil
			}
			if b, ok := conns[svc.name+"|"+svc.addrs[s.ID].String()]; ok {
				rs.ActiveConns, rs.TotalConns, rs.BytesIn, rs.BytesOut = b.Active, b.Total, b.BytesIn, b.BytesOut
			}
			for i, c := range s.Checks {
				sc := status.Check{Healthy: c.LastHealthy, Reason: c.LastReason, At: c.LastAt, Checked: c.HasRun}
				id := jobID(svc.name, s.ID, i)
				if js, ok := jobs[id]; ok {
					sc.Kind, sc.Target, sc.Latency = js.Kind, js.Target, js.Last.Latency
				}
				if ref := d.jobs[id]; ref != nil {
					sc.Recent = recentProbes(ref.recent)
				}
				if !c.LastHealthy && rs.Reason == "" {
					rs.Reason = c.LastReason
				}
				rs.Checks = append(rs.Checks, sc)
			}
			vs.RealServers = append(vs.RealServers, rs)
		}
		snap.VirtualServers = append(snap.VirtualServers, vs)
	}
	return snap
}
