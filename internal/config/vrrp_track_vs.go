package config

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// track_virtual_server is a vigil extension (Keepalived runs its checker and VRRP halves as
// separate processes, so a VRRP instance there cannot see a pool): in a vrrp_instance or a
// vrrp_sync_group,
//
//	track_virtual_server {
//	    192.0.2.10 80 [TCP|UDP|SCTP] [weight N [reverse|noreverse]]
//	    fwmark 5 [weight N [reverse|noreverse]]
//	    group NAME [weight N [reverse|noreverse]]
//	}
//
// names virtual servers as their virtual_server lines do. The virtual server is "up" while its
// pool has quorum. Weights mean what they mean for track_script: none (or 0) puts the instance
// in FAULT while the pool is below quorum; a positive weight is added to the priority while the
// pool has quorum, a negative one while it has not; reverse negates both.
//
// Unlike track_script, the virtual servers may come after the instance in the file (they
// usually do), so references are resolved once the whole file is read.

// TrackedVirtualServer is one entry of a track_virtual_server block (a vigil extension).
type TrackedVirtualServer struct {
	Pos syntax.Pos `json:"pos"`
	// Ref is the reference as written ("192.0.2.10 80", "fwmark 5", "group web").
	Ref string `json:"ref"`
	// Name is the virtual server's name (lvs.VirtualServer.Name) once resolved: what the checker
	// half reports the pool's health under.
	Name          string `json:"name"`
	Weight        int    `json:"weight"`
	WeightReverse bool   `json:"weight_reverse"`
	// FromSyncGroup names the vrrp_sync_group the entry was written in, when it was copied
	// from there into the member instance.
	FromSyncGroup string `json:"from_sync_group,omitempty"`

	kind, group string
	addr        netip.Addr
	port        uint16
	proto       string // upper case; "" matches any protocol
	fwmark      uint32
}

// trackVirtualServerKeyword is the track_virtual_server block of an instance or sync group
// named owner.
func trackVirtualServerKeyword(dst *[]*TrackedVirtualServer, owner func() string) syntax.Keyword {
	return syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if t := parseTrackedVirtualServer(p, l, owner()); t != nil {
				*dst = append(*dst, t)
			}
		}
	}}
}

// parseTrackedVirtualServer reads one line "REF [weight N [reverse|noreverse]]"; nil (with a
// warning) when the line is malformed.
func parseTrackedVirtualServer(p *syntax.Parser, l syntax.Line, owner string) *TrackedVirtualServer {
	w := l.Words
	t := &TrackedVirtualServer{Pos: l.Pos}
	n := 0 // words of the reference
	switch strings.ToLower(w[0]) {
	case "fwmark":
		if len(w) < 2 {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server fwmark without a mark - ignoring", owner)
			return nil
		}
		m, err := strconv.ParseUint(w[1], 0, 32)
		if err != nil {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server fwmark %s is not a valid mark - ignoring", owner, w[1])
			return nil
		}
		t.kind, t.fwmark, n = lvs.VSKindFwmark, uint32(m), 2
	case "group":
		if len(w) < 2 {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server group without a name - ignoring", owner)
			return nil
		}
		t.kind, t.group, n = lvs.VSKindGroup, w[1], 2
	default:
		a, err := netip.ParseAddr(w[0])
		if err != nil {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s: expected an address and port, fwmark N or group NAME - ignoring", owner, w[0])
			return nil
		}
		if len(w) < 2 {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s without a port - ignoring", owner, w[0])
			return nil
		}
		port, err := strconv.ParseUint(w[1], 10, 16)
		if err != nil {
			p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s port %s is not a valid port - ignoring", owner, w[0], w[1])
			return nil
		}
		t.kind, t.addr, t.port, n = lvs.VSKindAddress, a.Unmap(), uint16(port), 2
		if len(w) > 2 {
			switch pr := strings.ToUpper(w[2]); pr {
			case "TCP", "UDP", "SCTP":
				t.proto, n = pr, 3
			}
		}
	}
	t.Ref = strings.Join(w[:n], " ")
	rest := w[n:]
	if len(rest) == 0 {
		return t
	}
	if rest[0] != "weight" {
		p.Diags.Warnf(l.Pos, "(%s) unknown track_virtual_server %s option %s - ignoring", owner, t.Ref, rest[0])
		return nil
	}
	if len(rest) == 1 {
		p.Diags.Warnf(l.Pos, "(%s) weight without value specified for track_virtual_server %s - ignoring", owner, t.Ref)
		return nil
	}
	v, ok := p.Int(l.Pos, rest[1], -254, 254)
	switch {
	case !ok:
		p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s: weight must be between [-253..253] inclusive, ignoring...", owner, t.Ref)
		return nil
	case v == 254 || v == -254:
		p.Diags.Warnf(l.Pos, "(%s) weight for %s cannot be +/-254. Setting to +/-253", owner, t.Ref)
		t.Weight = int(v/254) * 253
	default:
		t.Weight = int(v)
	}
	if len(rest) >= 3 {
		switch rest[2] {
		case "reverse":
			t.WeightReverse = true
		case "noreverse":
		default:
			p.Diags.Warnf(l.Pos, "(%s) unknown track_virtual_server %s weight option %s - ignoring", owner, t.Ref, rest[2])
			return nil
		}
	}
	if len(rest) > 3 {
		p.Diags.Warnf(l.Pos, "(%s) track_virtual_server %s: extra words after the weight: %s - ignoring", owner, t.Ref, strings.Join(rest[3:], " "))
		return nil
	}
	return t
}

// matches reports whether vs is the virtual server t refers to.
func (t *TrackedVirtualServer) matches(vs *lvs.VirtualServer) bool {
	if vs.Kind != t.kind {
		return false
	}
	switch t.kind {
	case lvs.VSKindFwmark:
		return vs.Fwmark == t.fwmark
	case lvs.VSKindGroup:
		return vs.Group == t.group
	}
	return vs.Address.Unmap() == t.addr && vs.Port == t.port && (t.proto == "" || strings.EqualFold(vs.Protocol, t.proto))
}

// finishTrackVirtualServers resolves every track_virtual_server entry against the virtual
// servers that survived validation, copies a sync group's entries into its members, and drops
// weights Keepalived would drop for a tracked script (a sync group member without
// sync_group_tracking_weight, an address owner). It runs after finishVRRP and finishLVS.
func (c *Config) finishTrackVirtualServers(diags *syntax.Diagnostics) {
	resolve := func(owner string, list []*TrackedVirtualServer) []*TrackedVirtualServer {
		var out []*TrackedVirtualServer
		for _, t := range list {
			var found []*lvs.VirtualServer
			for _, vs := range c.VirtualServers {
				if t.matches(vs) {
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
	byName := map[string]*VRRPInstance{}
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
		sg := c.syncGroup(v.SyncGroup)
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
