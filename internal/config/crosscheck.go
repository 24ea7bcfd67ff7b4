package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// The checks across sections: what one section's block says of another's, once the whole
// file is read.

// finishBGP checks announce blocks against the bgp block once everything is read.
func (c *Config) finishBGP(diags *syntax.Diagnostics) {
	for _, vs := range c.VirtualServers {
		if vs.Announce == nil {
			continue
		}
		if c.BGP == nil {
			diags.Warnf(vs.Announce.Pos, "announce without a bgp block - nothing will be announced")
		}
		if len(vs.Addresses()) == 0 {
			diags.Warnf(vs.Announce.Pos, "announce: only virtual servers with addresses (an address, or a group's) can be announced - %s ignored", fmt.Sprint(vs.Name()))
			vs.Announce = nil
			continue
		}
		// An unknown instance is an error, not a warning: ignoring the condition would
		// announce from a node that is not master and pull traffic to it.
		if a := vs.Announce; a.OnlyWhileMaster != "" && !slices.ContainsFunc(c.VRRPInstances, func(in *vrrpd.Instance) bool { return in.Name == a.OnlyWhileMaster }) {
			diags.Errorf(a.OnlyWhileMasterPos, "announce: only_while_master %s: no vrrp_instance of that name", a.OnlyWhileMaster)
		}
	}
}

// finishConntrackSync checks that conntrack_sync's instance names a vrrp_instance: following
// none, conntrackd would never be told to commit, and a failover would lose every connection.
func (c *Config) finishConntrackSync(diags *syntax.Diagnostics) {
	cs := c.Global.ConntrackSync
	if cs == nil || cs.Instance == "" {
		return
	}
	if !slices.ContainsFunc(c.VRRPInstances, func(in *vrrpd.Instance) bool { return in.Name == cs.Instance }) {
		diags.Errorf(cs.InstancePos, "conntrack_sync: instance %s: no vrrp_instance of that name", cs.Instance)
	}
}

// tracks reports whether vs is the virtual server t names.
func tracks(t *vrrpd.TrackedVirtualServer, vs *lvs.VirtualServer) bool {
	r := t.Target()
	if vs.Kind != r.Kind {
		return false
	}
	switch r.Kind {
	case lvs.VSKindFwmark:
		return vs.Fwmark == r.Fwmark
	case lvs.VSKindGroup:
		return vs.Group == r.Group
	}
	return vs.Address.Unmap() == r.Addr && vs.Port == r.Port && (r.Proto == "" || strings.EqualFold(vs.Protocol, r.Proto))
}

// finishTrackVirtualServers resolves every track_virtual_server entry against the virtual
// servers that survived validation, copies a sync group's entries into its members, and drops
// weights Keepalived would drop for a tracked script (a sync group member without
// sync_group_tracking_weight, an address owner). It runs after the VRRP and LVS sections' Finish.
func (c *Config) finishTrackVirtualServers(diags *syntax.Diagnostics, vr *vrrpd.Section) {
	resolve := func(owner string, list []*vrrpd.TrackedVirtualServer) []*vrrpd.TrackedVirtualServer {
		var out []*vrrpd.TrackedVirtualServer
		for _, t := range list {
			var found []*lvs.VirtualServer
			for _, vs := range c.VirtualServers {
				if tracks(t, vs) {
					found = append(found, vs)
				}
			}
			switch len(found) {
			case 0:
				diags.Warnf(t.Pos, "(%s) track virtual_server %s not found, ignoring...", owner, t.Ref)
				continue
			case 1:
			default:
				names := make([]string, len(found))
				for i, vs := range found {
					names[i] = vs.Name()
				}
				diags.Warnf(t.Pos, "(%s) track virtual_server %s matches %s; name the protocol - ignoring", owner, t.Ref, strings.Join(names, ", "))
				continue
			}
			t.Name = found[0].Name()
			dup := false
			for _, o := range out {
				dup = dup || o.Name == t.Name
			}
			if dup {
				diags.Warnf(t.Pos, "(%s) duplicate track_virtual_server %s - ignoring", owner, t.Ref)
				continue
			}
			out = append(out, t)
		}
		return out
	}
	byName := map[string]*vrrpd.Instance{}
	for _, v := range c.VRRPInstances {
		v.TrackVirtualServers = resolve(v.Name, v.TrackVirtualServers)
		byName[v.Name] = v
	}
	for _, g := range c.VRRPSyncGroups {
		g.TrackVirtualServers = resolve(g.Name, g.TrackVirtualServers)
		for _, m := range g.Members {
			v := byName[m]
			if v == nil {
				continue
			}
		next:
			for _, t := range g.TrackVirtualServers {
				for _, o := range v.TrackVirtualServers {
					if o.Name == t.Name {
						diags.Warnf(g.Pos, "(%s) track_virtual_server %s is configured on VRRP instance and sync group. Remove vrrp instance or sync group config", m, t.Ref)
						continue next
					}
				}
				cp := *t
				cp.FromSyncGroup = g.Name
				v.TrackVirtualServers = append(v.TrackVirtualServers, &cp)
			}
		}
	}
	for _, v := range c.VRRPInstances {
		sg := vr.SyncGroup(v.SyncGroup)
		noWeight := sg != nil && !sg.SyncGroupTrackingWeight
		why := "SYNC group"
		if !noWeight && v.Priority == 255 {
			noWeight, why = true, "address_owner"
		}
		if !noWeight {
			continue
		}
		kept := v.TrackVirtualServers[:0]
		for _, t := range v.TrackVirtualServers {
			if t.Weight != 0 {
				diags.Warnf(t.Pos, "(%s) ignoring tracked virtual_server %s with weights due to %s", v.Name, t.Ref, why)
				continue
			}
			kept = append(kept, t)
		}
		v.TrackVirtualServers = kept
	}
}

// TracksVirtualServers reports whether any VRRP instance tracks a virtual server's pool, which
// needs both halves in one process.
func (c *Config) TracksVirtualServers() bool {
	for _, v := range c.VRRPInstances {
		if len(v.TrackVirtualServers) > 0 {
			return true
		}
	}
	return false
}
