package vrrpd

import (
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The VRRP section's top-level keywords (vrrp_script, track_file, vrrp_track_process,
// vrrp_instance, vrrp_sync_group, static_*, garp_group, linkbeat_interfaces, track_group, and the
// blocks vigil accepts but does not act on: bfd_instance, interface_up_down_delays) and the body
// of vrrp_sync_group. The tracked objects' bodies are in track_keywords.go, vrrp_instance's in
// instance*.go, the address, route and rule lines in addresses.go.
//
// Keepalived resolves track_script/track_file/track_process names while it reads the instance,
// so only objects defined earlier in the file are found; vigil does the same, and reports a
// missing one at the line that names it.
//
// Keywords vigil reads but does not do are refused at their line ("vigil does not support X"):
// the instance's in instanceUnsupported, a sync group's track_bfd, and the top-level
// bfd_instance and interface_up_down_delays (their bodies skipped).

// whyBFD is why vigil refuses bfd_instance and track_bfd.
const whyBFD = "vigil has no BFD; track the peer with a vrrp_script or track_interface"

// vrrpState is the state of one parse that the VRRP tables share.
type vrrpState struct {
	s            *Section
	g            *globaldefs.Defs
	bfdInstances map[string]bool
	// nextRulePrio4/6 are the preferences given to rules that name none (Keepalived counts
	// down from 16384 per family).
	nextRulePrio4, nextRulePrio6 int
}

// AddTopKeywords adds the VRRP section's top-level keywords to t: they fill s, and g where
// Keepalived keeps a setting in global_defs (lvs_sync_daemon_interface, the skipped blocks).
func AddTopKeywords(t *syntax.Table, s *Section, g *globaldefs.Defs) {
	st := &vrrpState{s: s, g: g, bfdInstances: map[string]bool{}, nextRulePrio4: 16384, nextRulePrio6: 16384}
	// Keepalived takes these blocks' names unchecked: without one, `keepalived -t` stops
	// ("missing a parameter", exit 2), so vigil's complaint is an error.
	named := func(p *syntax.Parser, l syntax.Line, what string) (string, bool) {
		return p.Need(l, 1)
	}
	t.Keywords["vrrp_script"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		name, ok := named(p, l, "vrrp_script")
		if !ok {
			return nil
		}
		s := &Script{Pos: l.Pos, Name: name, Interval: syntax.Seconds(1), Rise: 1, Fall: 1}
		return st.scriptTable(s)
	}}
	trackFile := func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		name, ok := named(p, l, "track_file")
		if !ok {
			return nil
		}
		return st.trackFileTable(&TrackFile{Pos: l.Pos, Name: name, Weight: 1})
	}
	t.Keywords["track_file"] = syntax.Keyword{Block: trackFile}
	t.Keywords["vrrp_track_file"] = syntax.Keyword{Block: trackFile}
	t.Keywords["vrrp_track_process"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		name, ok := named(p, l, "vrrp_track_process")
		if !ok {
			return nil
		}
		return st.trackProcessTable(&TrackProcess{Pos: l.Pos, Name: name, Quorum: 1, QuorumMax: 65535})
	}}
	t.Keywords["vrrp_instance"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if len(l.Words) != 2 {
			p.Diags.Warnf(l.Pos, "vrrp_instance must have a name")
			return nil
		}
		for _, o := range s.Instances {
			if o.Name == l.Words[1] {
				p.Diags.Warnf(l.Pos, "vrrp instance %s already defined", l.Words[1])
				return nil
			}
		}
		v := &Instance{Pos: l.Pos, Name: l.Words[1], UnicastTTL: -1}
		s.Instances = append(s.Instances, v)
		return st.instanceTable(v)
	}}
	t.Keywords["vrrp_sync_group"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "vrrp_sync_group must have a name - skipping")
			return nil
		}
		for _, o := range s.SyncGroups {
			if o.Name == l.Words[1] {
				p.Diags.Warnf(l.Pos, "vrrp sync group %s already defined", l.Words[1])
				return nil
			}
		}
		g := &SyncGroup{Pos: l.Pos, Name: l.Words[1]}
		s.SyncGroups = append(s.SyncGroups, g)
		return st.syncGroupTable(g)
	}}
	static := &s.Static
	t.Keywords["static_ipaddress"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if a := parseVirtualIP(p, l, static); a != nil {
				static.IPAddresses = append(static.IPAddresses, a)
			}
		}
	}}
	t.Keywords["static_routes"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if r := parseRoute(p, l, true); r != nil {
				static.Routes = append(static.Routes, r)
			}
		}
	}}
	t.Keywords["static_rules"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if r := st.parseRule(p, l); r != nil {
				static.Rules = append(static.Rules, r)
			}
		}
	}}
	t.Keywords["linkbeat_interfaces"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) > 1 {
				p.Diags.Warnf(l.Pos, "extra characters %s in linkbeat interface", l.Words[1])
			}
			static.LinkbeatInterfaces = append(static.LinkbeatInterfaces, l.Words[0])
		}
	}}
	t.Keywords["garp_group"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		gg := &GarpGroup{Pos: l.Pos}
		static.GarpGroups = append(static.GarpGroups, gg)
		return garpGroupTable(gg, func(p *syntax.Parser, end syntax.Pos) {
			// Keepalived numbers only the groups with an interfaces block, from 1.
			n := 0
			if gg.aggregate {
				for _, o := range static.GarpGroups {
					if o.aggregate {
						n++
					}
				}
			}
			p.Diags.Warnf(end, "garp group %d does not have any delay set - removing", n)
			static.GarpGroups = static.GarpGroups[:len(static.GarpGroups)-1]
		})
	}}
	t.Keywords["track_group"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "track_group must have a name - skipping")
			return nil
		}
		for _, o := range static.TrackGroups {
			if o.Name == l.Words[1] {
				p.Diags.Warnf(l.Pos, "track_group %s already defined", l.Words[1])
				return nil
			}
		}
		tg := &TrackGroup{Pos: l.Pos, Name: l.Words[1]}
		static.TrackGroups = append(static.TrackGroups, tg)
		return &syntax.Table{Keywords: map[string]syntax.Keyword{
			"group": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
				if tg.Group != nil {
					p.Diags.Warnf(l.Pos, "Group list already specified for sync group %s", tg.Name)
					return nil
				}
				tg.Group = []string{}
				return func(p *syntax.Parser, l syntax.Line) { tg.Group = append(tg.Group, l.Words...) }
			}},
		}}
	}}
	t.Keywords["bfd_instance"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if len(l.Words) >= 2 {
			st.bfdInstances[l.Words[1]] = true
		}
		g.Refuse(p, l, whyBFD)
		if len(l.Words) < 2 {
			return nil
		}
		return bfdInstanceTable(l.Words[1])
	}}
	t.Keywords["interface_up_down_delays"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		g.Refuse(p, l, "vigil acts on link changes as netlink reports them, without debouncing")
		return nil
	}}
}

// bfdInstanceTable reads a bfd_instance's body only as far as Keepalived's BFD process needs to
// keep it: one without a neighbor address (all of them conditional lines of another host, say)
// is disabled with Keepalived's warning, at its closing brace.
func bfdInstanceTable(name string) *syntax.Table {
	neighbor := false
	mark := syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { neighbor = neighbor || len(l.Words) > 1 }}
	ignore := syntax.Keyword{Scalar: func(*syntax.Parser, syntax.Line) {}}
	kw := map[string]syntax.Keyword{"neighbor_ip": mark, "neighbour_ip": mark}
	for _, k := range []string{"source_ip", "min_rx", "min_tx", "idle_tx", "multiplier", "passive", "ttl",
		"hoplimit", "max_hops", "multihop", "weight", "vrrp", "checker"} {
		kw[k] = ignore
	}
	return &syntax.Table{Keywords: kw, Close: func(p *syntax.Parser, end syntax.Pos) {
		if !neighbor {
			p.Diags.Warnf(end, "Configuration error: BFD instance %s has no neighbor address set, disabling instance", name)
		}
	}}
}

func garpGroupTable(gg *GarpGroup, noDelay func(p *syntax.Parser, end syntax.Pos)) *syntax.Table {
	interval := func(name string, dst *syntax.Duration) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			s, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Decimal(l.Pos, s, 0, 4294967295)
			if !ok {
				p.Diags.Warnf(l.Pos, "garp_group %s '%s' invalid", name, s)
				return
			}
			*dst = syntax.Micros(v)
		}}
	}
	return &syntax.Table{Keywords: map[string]syntax.Keyword{
		"garp_interval": interval("garp_interval", &gg.GarpInterval),
		"gna_interval":  interval("gna_interval", &gg.GnaInterval),
		"interface": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if s, ok := p.Need(l, 1); ok {
				gg.Interfaces = append(gg.Interfaces, s)
			}
		}},
		"interfaces": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			gg.aggregate = true
			return func(p *syntax.Parser, l syntax.Line) { gg.Interfaces = append(gg.Interfaces, l.Words...) }
		}},
	}, Close: func(p *syntax.Parser, end syntax.Pos) {
		if gg.GarpInterval == 0 && gg.GnaInterval == 0 {
			noDelay(p, end)
		}
	}}
}

// syncGroupTable is the body of vrrp_sync_group.
func (st *vrrpState) syncGroupTable(g *SyncGroup) *syntax.Table {
	pfx := func() string { return "vrrp group " + g.Name + ":" }
	tfPtr := func(dst **bool, bad string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			b, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, bad, w) })
			if ok {
				*dst = new(b)
			}
		}}
	}
	kw := map[string]syntax.Keyword{
		"group": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			if g.groupSet {
				p.Diags.Warnf(l.Pos, "Group list already specified for sync group %s", g.Name)
				return nil
			}
			g.groupSet = true
			g.Group = []string{}
			return func(p *syntax.Parser, l syntax.Line) { g.Group = append(g.Group, l.Words...) }
		}},
		"track_interface": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				g.TrackInterfaces = trackInterface(p, l, g.Name, g.TrackInterfaces)
			}
		}},
		"track_script": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				g.TrackScripts = trackRef(p, l, g.Name, g.TrackScripts, st.scriptKind())
			}
		}},
		"track_file": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				g.TrackFiles = trackRef(p, l, g.Name, g.TrackFiles, st.fileKind())
			}
		}},
		"track_process": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				g.TrackProcesses = trackRef(p, l, g.Name, g.TrackProcesses, st.processKind())
			}
		}},
		"track_bfd": syntax.Unsupported(syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) { g.TrackBFDs = trackRef(p, l, g.Name, g.TrackBFDs, st.bfdKind()) }
		}}, whyBFD),
		"notify_backup": notifyKeyword(&g.NotifyBackup, pfx, "notify_backup script"),
		"notify_master": notifyKeyword(&g.NotifyMaster, pfx, "notify_master script"),
		"notify_fault":  notifyKeyword(&g.NotifyFault, pfx, "notify_fault script"),
		"notify_stop":   notifyKeyword(&g.NotifyStop, pfx, "notify_stop script"),
		"notify":        notifyKeyword(&g.Notify, pfx, "notify script"),
		"smtp_alert":    tfPtr(&g.SMTPAlert, "Invalid vrrp_group smtp_alert parameter %s"),
		"global_tracking": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			p.Diags.Warnf(l.Pos, "(%s) global_tracking is deprecated. Use track_interface/script/file on the sync group", g.Name)
			g.GlobalTracking, g.SyncGroupTrackingWeight = true, true
		}},
		"sync_group_tracking_weight": {Scalar: func(p *syntax.Parser, l syntax.Line) { g.SyncGroupTrackingWeight = true }},
		"notify_priority_changes": tfPtr(&g.NotifyPriorityChanges,
			"("+g.Name+") Invalid value '%s' for sync group notify_priority_changes specified"),
	}
	kw["track_virtual_server"] = trackVirtualServerKeyword(&g.TrackVirtualServers, func() string { return g.Name })
	return &syntax.Table{Keywords: kw}
}

// TrackFileWeight finds the track_file block called name among those read so far, as
// Keepalived finds it while reading (a track_file block later in the file is not known yet):
// its weight and whether that is reversed. FILE_CHECK looks its track_file up with it too.
func (s *Section) TrackFileWeight(name string) (weight int, reverse bool, ok bool) {
	for _, f := range s.TrackFiles {
		if f.Name == name {
			return f.Weight, f.WeightReverse, true
		}
	}
	return 0, false, false
}
