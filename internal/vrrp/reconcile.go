package vrrp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
	"golang.org/x/sys/unix"
)

// A master's kernel state is read back, not assumed.
//
// A master adds its virtual addresses, routes and rules when it takes over, and anyone with root
// can take them away again (ip addr del, ip route del, a network manager, an ifdown script):
// the node would go on advertising as master while it no longer answers for the addresses.
// So while an instance is MASTER it reads back what it holds every ReconcileInterval, and at
// once when the Manager hears the kernel drop one of its addresses, routes or rules, and puts
// back what is missing. A re-added address is announced again as on takeover, since neighbours
// may have learned another MAC for it meanwhile. Entries Keepalived does not track (no_track,
// and a route that names no interface) are left alone until the next takeover, as Keepalived
// leaves them. (Over the others Keepalived leaves MASTER and comes back; vigil repairs in place,
// with no election and no gap.)
//
// The read-back runs on the instance's goroutine, so it never races a state change: a backup or
// faulted instance never adds anything. A repair that fails (the interface is down or gone) is
// kept in InstanceStatus.NotInPlace, logged and reported once per distinct error, and tried
// again at the periodic read-backs only, so that events cannot make it spin. Repairs that keep
// being undone (another program removing the address each time) back off likewise: each one
// doubles the time events wait after it, up to the interval.

// DefaultReconcileInterval is how often a master reads back its kernel state when
// ManagerOptions.ReconcileInterval is 0.
const DefaultReconcileInterval = 2 * time.Second

// eventHoldoff is the least time events wait after a repair before the next read-back.
const eventHoldoff = 100 * time.Millisecond

// Repair is one virtual address, route or rule a master found missing, and what putting it
// back did.
type Repair struct {
	// Instance is the vrrp_instance's name.
	Instance string
	// Drift is what was missing, as ip(8) would name it: "address 192.0.2.100/24 dev eth0",
	// "route 198.51.100.0/24 via 192.0.2.254 dev eth0", "rule from 192.0.2.0/24 pref 100 table 7".
	Drift string
	// Err is why it could not be read back or put back; nil when it was put back.
	Err error
}

// heldSpec is what a master reads back and puts back: its virtual addresses, routes and rules
// without no_track.
type heldSpec struct {
	vips   []netif.Address
	routes []netif.Route
	rules  []netif.Rule
}

// heldItem is one entry of a heldSpec with how to read it back and put it back.
type heldItem struct {
	drift string // "address 192.0.2.100/24 dev eth0"
	kind  string // "address", "route" or "rule": also the log key
	what  string // the entry as ip(8) prints it
	has   func() (bool, error)
	add   func() error
}

// heldItems lists what the instance holds as master, in the order it adds it: addresses first,
// since a route may take its source from one, rules last.
func (in *instance) heldItems() []heldItem {
	h := in.conf().held
	items := make([]heldItem, 0, len(h.vips)+len(h.routes)+len(h.rules))
	item := func(kind, what string, has func() (bool, error), add func() error) {
		items = append(items, heldItem{drift: kind + " " + what, kind: kind, what: what, has: has, add: add})
	}
	for _, a := range h.vips {
		item("address", a.String(), func() (bool, error) { return in.host.HasAddress(a.Link, a.Prefix.Addr()) },
			func() error { return in.host.AddAddress(a) })
	}
	for _, r := range h.routes {
		item("route", r.String(), func() (bool, error) { return in.host.HasRoute(r) }, func() error { return in.host.AddRoute(r) })
	}
	for _, r := range h.rules {
		item("rule", r.String(), func() (bool, error) { return in.host.HasRule(r) }, func() error { return in.host.AddRule(r) })
	}
	return items
}

// reconcileState is the read-back state of the run goroutine.
type reconcileState struct {
	timer   clock.Timer
	due     time.Time         // when timer fires; zero while it is stopped
	last    time.Time         // when the last read-back ran
	holdoff time.Duration     // how long after last events wait
	failing map[string]string // drift → the error last reported for it
}

// armReconcile makes the next read-back happen d from now.
func (in *instance) armReconcile(d time.Duration) {
	in.recon.timer.Reset(d)
	in.recon.due = in.clk.Now().Add(d)
}

// stopReconcile stops the read-back of an instance that leaves MASTER: what it held is no
// longer its business.
func (in *instance) stopReconcile() {
	in.recon.timer.Stop()
	in.recon.due, in.recon.holdoff = time.Time{}, 0
	in.publishNotInPlace(nil)
}

// suspectDrift tells the instance that the kernel dropped something it may hold; it never
// blocks, and several calls before the instance looks make one read-back.
func (in *instance) suspectDrift() {
	select {
	case in.drift <- struct{}{}:
	default:
	}
}

// driftSuspected reads back at once, unless a recent repair or failure holds events back: then
// the read-back is brought forward to the end of the hold-off.
func (in *instance) driftSuspected(ctx context.Context) {
	if in.m.State() != fsm.Master {
		return
	}
	at := in.recon.last.Add(in.recon.holdoff)
	if wait := at.Sub(in.clk.Now()); wait > 0 {
		if in.recon.due.IsZero() || in.recon.due.After(at) {
			in.armReconcile(wait)
		}
		return
	}
	in.reconcile(ctx)
}

// reconcile reads back what a master holds and puts back what is missing; then it arms the next
// periodic read-back. An instance that is not master does nothing and the timer stays off.
func (in *instance) reconcile(ctx context.Context) {
	if in.m.State() != fsm.Master {
		return
	}
	items := in.heldItems()
	repaired, failed, announce := false, false, false
	for _, it := range items {
		ok, err := it.has()
		if err == nil && ok {
			in.inPlace(it)
			continue
		}
		if err == nil {
			err = it.add()
		}
		if err == nil {
			// Read it back again: an entry the kernel accepts but that does not read back as
			// configured would otherwise be "repaired" at every read-back.
			if ok, err = it.has(); err == nil && !ok {
				err = errors.New("added, but the kernel does not show it as configured")
			}
		}
		if err != nil {
			in.notInPlace(it, err)
			failed = true
			continue
		}
		in.repaired(it)
		repaired = true
		announce = announce || it.kind == "address"
	}
	if announce {
		in.startGARP(ctx, in.conf().garp)
	}
	in.publishNotInPlace(items)
	in.recon.last = in.clk.Now()
	switch {
	case failed:
		in.recon.holdoff = in.interval
	case repaired:
		in.recon.holdoff = min(max(2*in.recon.holdoff, eventHoldoff), in.interval)
	default:
		in.recon.holdoff = 0
	}
	in.armReconcile(in.interval)
}

func (in *instance) inPlace(it heldItem) {
	if _, was := in.recon.failing[it.drift]; was {
		delete(in.recon.failing, it.drift)
		in.log.Info("virtual "+it.kind+" back in place", it.kind, it.what)
	}
}

func (in *instance) repaired(it heldItem) {
	delete(in.recon.failing, it.drift)
	in.mu.Lock()
	in.status.Repairs++
	in.mu.Unlock()
	in.log.Warn("virtual "+it.kind+" was missing; put back", it.kind, it.what)
	if in.onRepair != nil {
		in.onRepair(Repair{Instance: in.conf().name, Drift: it.drift})
	}
}

// notInPlace records that it is missing and why it could not be put back; a new error is
// logged and reported, the same one again only logged at debug.
func (in *instance) notInPlace(it heldItem, err error) {
	if in.recon.failing[it.drift] == err.Error() {
		in.log.Debug("virtual "+it.kind+" still not in place", it.kind, it.what, "error", err)
		return
	}
	in.recon.failing[it.drift] = err.Error()
	in.log.Error("virtual "+it.kind+" missing and not put back; retrying every interval", it.kind, it.what,
		"error", err, "interval", in.interval)
	if in.onRepair != nil {
		in.onRepair(Repair{Instance: in.conf().name, Drift: it.drift, Err: err})
	}
}

// publishNotInPlace sets InstanceStatus.NotInPlace from the failing entries among items,
// forgetting those a reload removed.
func (in *instance) publishNotInPlace(items []heldItem) {
	var parts []string
	keep := map[string]string{}
	for _, it := range items {
		if e, ok := in.recon.failing[it.drift]; ok {
			keep[it.drift] = e
			parts = append(parts, it.drift+": "+e)
		}
	}
	in.recon.failing = keep
	in.mu.Lock()
	in.status.NotInPlace = strings.Join(parts, "; ")
	in.mu.Unlock()
}

// holdsAddress, holdsRoute and holdsRule say whether a kernel change may concern what h holds.

func (h *heldSpec) holdsAddress(ip netip.Addr) bool {
	return slices.ContainsFunc(h.vips, func(a netif.Address) bool { return a.Prefix.Addr() == ip })
}

func (h *heldSpec) holdsRoute(dst netip.Prefix, table int) bool {
	return slices.ContainsFunc(h.routes, func(r netif.Route) bool {
		t := r.Table
		if t == 0 {
			t = unix.RT_TABLE_MAIN
		}
		return r.Dst.Masked() == dst && t == table
	})
}

func (h *heldSpec) holdsRule(family int) bool {
	return slices.ContainsFunc(h.rules, func(r netif.Rule) bool { return r.Family == family })
}

// watchDrift runs the watchers that tell masters at once when the kernel drops an address, a
// route or a rule they may hold (the periodic read-back finds the rest), until ctx ends.
func (m *Manager) watchDrift(ctx context.Context) {
	if m.timerOnly {
		return
	}
	watch := func(what string, run func(context.Context) error) {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := run(ctx); err != nil {
				m.log.Error("kernel changes no longer watched; masters still read back every interval",
					"watch", what, "interval", m.opts.ReconcileInterval, "error", err)
			}
		}()
	}
	watch("addresses", func(ctx context.Context) error {
		return netif.WatchAddresses(ctx, func(c netif.AddrChange) {
			if !c.Added {
				m.suspectDrift(func(h *heldSpec) bool { return h.holdsAddress(c.Addr) })
			}
		})
	})
	watch("routes", func(ctx context.Context) error {
		// A route replaced by another with the same key is reported as added.
		return netif.WatchRoutes(ctx, func(c netif.RouteChange) {
			m.suspectDrift(func(h *heldSpec) bool { return h.holdsRoute(c.Dst, c.Table) })
		})
	})
	watch("rules", func(ctx context.Context) error {
		return netif.WatchRules(ctx, func(c netif.RuleChange) {
			if !c.Added {
				m.suspectDrift(func(h *heldSpec) bool { return h.holdsRule(c.Family) })
			}
		})
	})
}

// suspectDrift tells every running instance for which holds is true.
func (m *Manager) suspectDrift(holds func(*heldSpec) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.insts {
		if holds(&r.in.conf().held) {
			r.in.suspectDrift()
		}
	}
}
