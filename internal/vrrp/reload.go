package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
)

// identity is what makes an instance the same virtual router across a reload: its interface,
// VRID, family, version, unicast mode, source address, multicast group and sync group. An
// instance whose identity is unchanged keeps its state and takes the rest of its new
// configuration in place, as Keepalived does (vrrp_exist and clear_diff_vrrp match on the
// interface, VRID, family, unicast mode and source address; vigil also restarts on a version
// change, whose packets another router would read differently, and on a sync group change).
func (s *spec) identity() string {
	id := fmt.Sprintf("%s|%d|%t|%d|%t|%v|%s", s.ifname, s.vrid, s.ipv6, s.fsm.Version, s.unicast, s.srcIP, s.group)
	if !s.unicast {
		id += "|" + fmt.Sprint(s.dsts)
	}
	// The VMAC carries the addresses and the adverts: turning it on or off, renaming it
	// (names follow the order of instances) or moving adverts to the base interface means
	// another interface, so a restart.
	if s.vmac != nil {
		id += fmt.Sprintf("|vmac %s %t %s", s.vmac.name, s.vmac.xmitBase, s.vmac.mac)
		if s.vmac.group != nil {
			id += fmt.Sprintf(" group %d", *s.vmac.group)
		}
	}
	// AH adverts travel on another socket (IP protocol 51).
	if s.expect.AuthType == packet.AuthAH {
		id += "|ah"
	}
	return id
}

// reloadAction says what a reload does to a running instance configured as old when the new
// configuration has it as s: keep it untouched, update it in place, or restart it.
type reloadAction int

const (
	reloadKeep reloadAction = iota
	reloadUpdate
	reloadRestart
)

func (a reloadAction) String() string {
	return [...]string{"keep", "update", "restart"}[a]
}

func reloadActionFor(old, s *spec) reloadAction {
	switch {
	case old.identity() != s.identity():
		return reloadRestart
	case old.key != s.key:
		return reloadUpdate
	}
	return reloadKeep
}

// reconfigure applies ns, a configuration with the instance's identity, without leaving the
// current state (Keepalived's restore_vrrp_state): a master keeps the addresses it keeps,
// drops the ones removed, adds the new ones (and announces them), and advertises its new
// priority at once; a backup restarts its master down timer. A lower priority lets a better
// backup preempt as it would at any time; nothing here resigns with priority 0.
func (in *instance) reconfigure(ctx context.Context, ns *spec, apply func(fsm.Result)) {
	old := in.conf()
	cfg := ns.fsm
	cfg.Addr = in.src
	now := in.clk.Now()
	in.cur.Store(ns)
	var known map[string]trackUpdate
	if in.lastTracks != nil {
		known = in.lastTracks(ns)
	}
	in.setTracks(known)
	total, _ := in.tracked()
	before := in.m.Priority()
	r, err := in.m.Reconfigure(now, cfg, total)
	if err != nil {
		// newSpec checked the values and the identity is unchanged: this is a bug, not a
		// configuration error. Keep running as before.
		in.cur.Store(old)
		in.log.Error("vrrp reload not applied", "error", err)
		return
	}
	in.log.Info("vrrp configuration reloaded in place", "state", in.m.State().String(), "priority", int(in.m.Priority()))
	if in.m.State() == fsm.Master {
		in.swapVIPs(ctx, old, ns)
		in.armReconcile(0)
	}
	vips := make([]netip.Prefix, 0, len(ns.vips))
	for _, v := range ns.vips {
		vips = append(vips, v.Prefix)
	}
	in.mu.Lock()
	in.status.Priority = int(ns.fsm.Priority)
	in.status.Version = int(ns.fsm.Version)
	in.status.VIPs = vips
	in.mu.Unlock()
	apply(r)
	if p := in.m.Priority(); p != before {
		in.priorityChanged(in.m.State(), int(p))
	}
	in.refault(apply)
}

// swapVIPs moves a master's addresses and routes from old's to ns's: the ones in both stay
// (no gap for traffic), the others are removed or added. New addresses, or a periodic
// refresh, are announced again as on becoming master.
func (in *instance) swapVIPs(ctx context.Context, old, ns *spec) {
	in.stopGARP()
	in.swapRules(old, ns)
	for _, r := range old.routes {
		if !slices.Contains(ns.routes, r) {
			if err := in.host.DeleteRoute(r); err != nil {
				in.log.Error("virtual route not removed", "route", r.String(), "error", err)
			}
		}
	}
	for _, a := range old.vips {
		if !slices.Contains(ns.vips, a) {
			if err := in.host.DeleteAddress(a); err != nil {
				in.log.Error("virtual address not removed", "address", a.String(), "error", err)
			}
		}
	}
	added := false
	for _, a := range ns.vips {
		if slices.Contains(old.vips, a) {
			continue
		}
		added = true
		if err := in.host.AddAddress(a); err != nil {
			in.log.Error("virtual address not added", "address", a.String(), "error", err)
		}
	}
	// Routes may have gone with a removed address without the kernel saying so: add all.
	for _, r := range ns.routes {
		if err := in.host.AddRoute(r); err != nil {
			in.log.Error("virtual route not added", "route", r.String(), "error", err)
		}
	}
	if added || ns.garp.refresh > 0 {
		in.startGARP(ctx, ns.garp)
	}
}

// updateTo hands ns to the instance, replacing an update it has not read yet (it may be
// waiting for its interface). It never blocks: only Reload sends, one at a time, and the
// channel holds one.
func (in *instance) updateTo(ns *spec) {
	select {
	case <-in.update:
	default:
	}
	select {
	case in.update <- ns:
	default:
	}
}
