package vrrpd

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The VRRP keyword tables: vrrp_script, track_file, vrrp_track_process, vrrp_instance,
// vrrp_sync_group, static_*, garp_group, linkbeat_interfaces, track_group, and the blocks vigil
// accepts but does not act on (bfd_instance, interface_up_down_delays).
//
// Keepalived resolves track_script/track_file/track_process names while it reads the instance,
// so only objects defined earlier in the file are found; vigil does the same, and reports a
// missing one at the line that names it.
//
// Instance keywords accepted but not acted upon by vigil (stored for dump-config only):
// use_ipvlan, vrf, old_unicast_checksum, linkbeat_use_polling, kernel_rx_buf_size, debug,
// track_bfd (and top-level bfd_instance, interface_up_down_delays, skipped as a whole).

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
	named := func(p *syntax.Parser, l syntax.Line, what string) (string, bool) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "%s must have a name - skipping", what)
			return "", false
		}
		return l.Words[1], true
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
		g.Accept(p, l)
		return nil
	}}
	t.Keywords["interface_up_down_delays"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		g.Accept(p, l)
		return nil
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

// scriptTable is the body of vrrp_script.
func (st *vrrpState) scriptTable(s *Script) *syntax.Table {
	kw := map[string]syntax.Keyword{
		"script": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				return
			}
			// Like Keepalived, only the first word (a quoted string when the script has
			// arguments) is the command; further words are ignored.
			s.Script = &syntax.Script{Pos: l.Pos, Command: l.Words[1], Args: strings.Fields(l.Words[1])}
		}},
		"interval": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, w, 0, 4294)
			if !ok {
				p.Diags.Warnf(l.Pos, "(%s): vrrp script interval '%s' must be between 1 and %d - ignoring", s.Name, w, 4294)
				return
			}
			if v == 0 {
				p.Diags.Warnf(l.Pos, "(%s): vrrp script interval must be greater than 0, setting to 1", s.Name)
				v = 1
			}
			s.Interval = syntax.Seconds(v)
		}},
		"timeout": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, w, 0, 4294)
			if !ok {
				p.Diags.Warnf(l.Pos, "(%s): vrrp script timeout '%s' invalid - ignoring", s.Name, w)
				return
			}
			if v == 0 {
				p.Diags.Warnf(l.Pos, "(%s): vrrp script timeout must be greater than 0, setting to 1", s.Name)
				v = 1
			}
			s.Timeout = syntax.Seconds(v)
		}},
		"weight": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Int(l.Pos, w, -253, 253)
			if !ok {
				p.Diags.Warnf(l.Pos, "vrrp_script %s weight %s must be in [-253, 253]", s.Name, w)
				v = 0
			}
			s.Weight = int(v)
			if len(l.Words) >= 3 {
				if l.Words[2] == "reverse" {
					s.WeightReverse = true
				} else {
					p.Diags.Warnf(l.Pos, "vrrp_script %s unknown weight option %s", s.Name, l.Words[2])
				}
			}
		}},
		"rise": {Scalar: func(p *syntax.Parser, l syntax.Line) { s.Rise = scriptCount(p, l, s.Name, "rise") }},
		"fall": {Scalar: func(p *syntax.Parser, l syntax.Line) { s.Fall = scriptCount(p, l, s.Name, "fall") }},
		"user": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if w, ok := p.Need(l, 1); ok {
				s.User, s.UserPos = w, l.Pos
				if len(l.Words) >= 3 {
					s.Group = l.Words[2]
				}
			}
		}},
		"init_fail": {Scalar: func(p *syntax.Parser, l syntax.Line) { s.InitFail = true }},
	}
	return &syntax.Table{Keywords: kw, Close: func(p *syntax.Parser, end syntax.Pos) {
		if s.Script == nil || len(s.Script.Args) == 0 {
			p.Diags.Warnf(end, "No script set for vrrp_script %s - removing", s.Name)
			return
		}
		if s.Timeout == 0 {
			s.Timeout = s.Interval
		}
		st.s.Scripts = append(st.s.Scripts, s)
	}}
}

func scriptCount(p *syntax.Parser, l syntax.Line, name, what string) int {
	w, ok := p.Need(l, 1)
	if !ok {
		return 1
	}
	v, ok := p.Unsigned(l.Pos, w, 1, 2147483647)
	if !ok {
		p.Diags.Warnf(l.Pos, "(%s): vrrp script %s value '%s' invalid, defaulting to 1", name, what, w)
		return 1
	}
	return int(v)
}

// trackFileTable is the body of track_file / vrrp_track_file.
func (st *vrrpState) trackFileTable(f *TrackFile) *syntax.Table {
	kw := map[string]syntax.Keyword{
		"file": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "track file file name missing")
				return
			}
			if f.File != "" {
				p.Diags.Warnf(l.Pos, "File already set for track file %s - ignoring %s", f.Name, l.Words[1])
				return
			}
			f.File = l.Words[1]
		}},
		"weight": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "No weight specified for track file %s - ignoring", f.Name)
				return
			}
			if f.Weight != 1 {
				p.Diags.Warnf(l.Pos, "Weight already set for track file %s - ignoring %s", f.Name, l.Words[1])
				return
			}
			v, ok := p.Int(l.Pos, l.Words[1], -254, 254)
			if !ok {
				p.Diags.Warnf(l.Pos, "Weight (%s) for track_file %s must be between [-254..254] inclusive. Ignoring...", l.Words[1], f.Name)
				v = 1
			}
			f.Weight, f.weightSet = int(v), true
			if len(l.Words) >= 3 {
				if l.Words[2] == "reverse" {
					f.WeightReverse = true
				} else {
					p.Diags.Warnf(l.Pos, "track_file %s unknown weight option %s", f.Name, l.Words[2])
				}
			}
		}},
		"init_file": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			f.InitFile, f.InitValue, f.InitOverwrite = true, 0, false
			for _, w := range l.Words[1:] {
				switch {
				case w != "" && (w[0] == '-' || (w[0] >= '0' && w[0] <= '9')):
					v, ok := p.Int(l.Pos, w, -2147483648, 2147483647)
					if !ok {
						p.Diags.Warnf(l.Pos, "Track file %s init value %s is invalid", f.Name, w)
						v = 0
					} else if v < -254 || v > 254 {
						p.Diags.Warnf(l.Pos, "Track file %s init value %d is outside sensible range [%d, %d]", f.Name, v, -254, 254)
					}
					f.InitValue = int(v)
				case w == "overwrite":
					f.InitOverwrite = true
				default:
					p.Diags.Warnf(l.Pos, "Unknown track file init option %s", w)
				}
			}
		}},
	}
	return &syntax.Table{Keywords: kw, Close: func(p *syntax.Parser, end syntax.Pos) {
		if f.File == "" {
			p.Diags.Warnf(end, "No file set for track_file %s - ignoring", f.Name)
			return
		}
		st.s.TrackFiles = append(st.s.TrackFiles, f)
	}}
}

// trackProcessTable is the body of vrrp_track_process.
func (st *vrrpState) trackProcessTable(t *TrackProcess) *syntax.Table {
	delay := func(prefix string, fork, term bool) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Decimal(l.Pos, w, 1, 3600*1e6)
			if !ok {
				p.Diags.Warnf(l.Pos, "%sdelay (%s) for vrrp_track_process %s must be between [0.000001..3600] inclusive. Ignoring...", prefix, w, t.Name)
				return
			}
			if fork {
				t.ForkDelay = syntax.Micros(v)
			}
			if term {
				t.TerminateDelay = syntax.Micros(v)
			}
		}}
	}
	weightSet := false
	kw := map[string]syntax.Keyword{
		"process": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			if t.Process != "" {
				p.Diags.Warnf(l.Pos, "Process already set for track process %s - ignoring %s", t.Name, w)
				return
			}
			t.Process = w
			if len(l.Words) > 2 {
				t.Params = append([]string(nil), l.Words[2:]...)
				if t.ParamMatch == "" {
					t.ParamMatch = "exact"
				}
				t.FullCommand = true
			}
		}},
		"param_match": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			switch {
			case len(l.Words) == 1:
				t.ParamMatch = "exact"
			case l.Words[1] == "initial", l.Words[1] == "partial":
				t.ParamMatch = l.Words[1]
			default:
				p.Diags.Warnf(l.Pos, "Invalid param_match type %s - ignoring", l.Words[1])
				return
			}
			t.FullCommand = true
		}},
		"weight": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "No weight specified for track process %s - ignoring", t.Name)
				return
			}
			if weightSet && t.Weight != 0 {
				p.Diags.Warnf(l.Pos, "Weight already set for track process %s - ignoring %s", t.Name, l.Words[1])
				return
			}
			v, ok := p.Int(l.Pos, l.Words[1], -254, 254)
			if !ok {
				p.Diags.Warnf(l.Pos, "Weight (%s) for vrrp_track_process %s must be between [-254..254] inclusive. Ignoring...", l.Words[1], t.Name)
				return
			}
			if len(l.Words) >= 3 {
				if l.Words[2] == "reverse" {
					t.WeightReverse = true
				} else {
					p.Diags.Warnf(l.Pos, "vrrp_track_process %s unknown weight option %s", t.Name, l.Words[2])
				}
			}
			t.Weight, weightSet = int(v), true
		}},
		"quorum": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, w, 1, 65535)
			if !ok {
				p.Diags.Warnf(l.Pos, "Quorum (%s) for vrrp_track_process %s must be between [1..65535] inclusive. Ignoring...", w, t.Name)
				return
			}
			if int(v) > t.QuorumMax {
				p.Diags.Warnf(l.Pos, "Quorum is greater than quorum_max - ignoring")
				return
			}
			t.Quorum = int(v)
		}},
		"quorum_max": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, w, 0, 65535)
			if !ok {
				p.Diags.Warnf(l.Pos, "quorum_max (%s) for vrrp_track_process %s must be between [0..65535] inclusive. Ignoring...", w, t.Name)
				return
			}
			if (v != 0 || t.Quorum > 1) && int(v) < t.Quorum {
				p.Diags.Warnf(l.Pos, "quorum_max is less than quorum - ignoring")
				return
			}
			t.QuorumMax = int(v)
			if v == 0 {
				t.Quorum = 0
			} else if t.Quorum == 0 {
				t.Quorum = 1
			}
		}},
		"delay":           delay("", true, true),
		"fork_delay":      delay("fork_", true, false),
		"terminate_delay": delay("terminate_", false, true),
		"full_command":    {Scalar: func(p *syntax.Parser, l syntax.Line) { t.FullCommand = true }},
	}
	return &syntax.Table{Keywords: kw, Close: func(p *syntax.Parser, end syntax.Pos) {
		if t.Process == "" {
			p.Diags.Warnf(end, "track process '%s' process name not specified", t.Name)
			return
		}
		st.s.TrackProcesses = append(st.s.TrackProcesses, t)
	}}
}

// trackKind describes one kind of tracked object for the shared reference reader.
type trackKind struct {
	// noun as Keepalived words it in "(%s) track %s %s not found, ignoring...".
	notFound, duplicate, unknownOpt, noWeight, badWeight, badWeightOpt string
	// clamp254 maps a weight of +/-254 to +/-253 with a warning (track_script).
	clamp254 bool
	// dropOnBadOpt drops the entry when the word after the weight is unknown (track_file).
	dropOnBadOpt bool
	lookup       func(name string) (weight int, reverse bool, ok bool)
}

// trackRef reads one line of a track_script/track_file/track_process/track_bfd block:
// "NAME [weight N [reverse|noreverse]]".
func trackRef(p *syntax.Parser, l syntax.Line, owner string, list []*TrackRef, k trackKind) []*TrackRef {
	name := l.Words[0]
	weight, reverse, ok := k.lookup(name)
	if !ok {
		p.Diags.Warnf(l.Pos, k.notFound, owner, name)
		return list
	}
	for _, r := range list {
		if r.Name == name {
			p.Diags.Warnf(l.Pos, k.duplicate, owner, name)
			return list
		}
	}
	if len(l.Words) >= 2 {
		if l.Words[1] != "weight" {
			p.Diags.Warnf(l.Pos, k.unknownOpt, owner, l.Words[1])
			return list
		}
		if len(l.Words) == 2 {
			p.Diags.Warnf(l.Pos, k.noWeight, owner, name)
			return list
		}
		v, ok := p.Int(l.Pos, l.Words[2], -254, 254)
		switch {
		case !ok:
			p.Diags.Warnf(l.Pos, k.badWeight, owner, name)
		case k.clamp254 && (v == 254 || v == -254):
			p.Diags.Warnf(l.Pos, "(%s) weight for %s cannot be +/-254. Setting to +/-253", owner, name)
			if v > 0 {
				weight = 253
			} else {
				weight = -253
			}
		default:
			weight = int(v)
		}
		if len(l.Words) >= 4 {
			switch l.Words[3] {
			case "reverse":
				reverse = true
			case "noreverse":
				reverse = false
			default:
				p.Diags.Warnf(l.Pos, k.badWeightOpt, owner, name, l.Words[3])
				if k.dropOnBadOpt {
					return list
				}
			}
		}
	}
	return append(list, &TrackRef{Pos: l.Pos, Name: name, Weight: weight, WeightReverse: reverse})
}

func (st *vrrpState) scriptKind() trackKind {
	return trackKind{
		notFound:     "(%s) track script %s not found, ignoring...",
		duplicate:    "(%s) duplicate track_script %s - ignoring",
		unknownOpt:   "(%s) unknown track script option %s - ignoring",
		noWeight:     "(%s) weight without value specified for track script %s - ignoring",
		badWeight:    "(%s) track script %s: weight must be between [-253..253] inclusive, ignoring...",
		badWeightOpt: "(%s) unknown track_script %s weight option %s - ignoring",
		clamp254:     true,
		lookup: func(name string) (int, bool, bool) {
			for _, s := range st.s.Scripts {
				if s.Name == name {
					return s.Weight, s.WeightReverse, true
				}
			}
			return 0, false, false
		},
	}
}

func (st *vrrpState) fileKind() trackKind {
	return trackKind{
		notFound:     "(%s) track file %s not found, ignoring...",
		duplicate:    "(%s) duplicate track_file %s - ignoring",
		unknownOpt:   "(%s) unknown track file option %s - ignoring",
		noWeight:     "(%s) weight without value specified for track file %s - ignoring",
		badWeight:    "(%s) weight for track file %s must be in [-254..254] inclusive. Ignoring...",
		badWeightOpt: "(%s) unknown track file %s weight option %s - ignoring",
		dropOnBadOpt: true,
		lookup:       st.s.TrackFileWeight,
	}
}

func (st *vrrpState) processKind() trackKind {
	return trackKind{
		notFound:     "(%s) track process %s not found, ignoring...",
		duplicate:    "(%s) duplicate track_process %s - ignoring",
		unknownOpt:   "(%s) unknown track process option %s - ignoring",
		noWeight:     "(%s) weight without value specified for track process %s - ignoring",
		badWeight:    "(%s) weight for track process %s must be in [-254..254] inclusive. Ignoring...",
		badWeightOpt: "(%s) unknown track_process %s weight option %s - ignoring",
		lookup: func(name string) (int, bool, bool) {
			for _, t := range st.s.TrackProcesses {
				if t.Name == name {
					return t.Weight, t.WeightReverse, true
				}
			}
			return 0, false, false
		},
	}
}

func (st *vrrpState) bfdKind() trackKind {
	return trackKind{
		notFound:     "(%s) track bfd %s not found, ignoring...",
		duplicate:    "(%s) duplicate track_bfd %s - ignoring",
		unknownOpt:   "(%s) unknown track bfd %s option - ignoring",
		noWeight:     "(%s) weight without value specified for track bfd %s - ignoring",
		badWeight:    "(%s) weight for track bfd %s must be in [-253..253] inclusive. Ignoring...",
		badWeightOpt: "(%s) unknown track bfd %s weight option %s - ignoring",
		lookup: func(name string) (int, bool, bool) {
			return 0, false, st.bfdInstances[name]
		},
	}
}

// trackInterface reads one line of track_interface: "IFNAME [weight N [reverse]]". Whether the
// interface exists is this host's matter: the VRRP half's build warns of a missing one (and so
// does vigil -t).
func trackInterface(p *syntax.Parser, l syntax.Line, owner string, list []*TrackedInterface) []*TrackedInterface {
	name := l.Words[0]
	for _, t := range list {
		if t.Name == name {
			p.Diags.Warnf(l.Pos, "(%s) duplicate track_interface %s - ignoring", owner, name)
			return list
		}
	}
	t := &TrackedInterface{Pos: l.Pos, Name: name}
	if len(l.Words) >= 2 {
		if l.Words[1] != "weight" {
			p.Diags.Warnf(l.Pos, "(%s) unknown track_interface %s option %s - ignoring", owner, name, l.Words[1])
			return list
		}
		if len(l.Words) == 2 {
			p.Diags.Warnf(l.Pos, "(%s) weight without value specified for track_interface %s - ignoring", owner, name)
			return list
		}
		v, ok := p.Int(l.Pos, l.Words[2], -254, 254)
		switch {
		case !ok:
			p.Diags.Warnf(l.Pos, "(%s) weight %s for %s must be between [-253..253] inclusive. Ignoring...", owner, l.Words[2], name)
		case v == 254 || v == -254:
			p.Diags.Warnf(l.Pos, "(%s) weight for %s cannot be +/-254. Setting to +/-253", owner, name)
			t.Weight = int(v/254) * 253
		default:
			t.Weight = int(v)
		}
		if len(l.Words) >= 4 {
			if l.Words[3] == "reverse" {
				t.WeightReverse = true
			} else {
				p.Diags.Warnf(l.Pos, "(%s) unknown track_interace %s weight option %s - ignoring", owner, name, l.Words[3])
			}
		}
	}
	return append(list, t)
}

// notifyKeyword reads a notify script keyword of an instance or group, reporting a repeat the
// way Keepalived does ("(VI_1) notify_master script already specified - ignoring X").
func notifyKeyword(dst **syntax.Script, prefix func() string, what string) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		if *dst != nil {
			p.Diags.Warnf(l.Pos, "%s %s already specified - ignoring %s", prefix(), what, w)
			return
		}
		*dst = syntax.ReadScript(l)
	}}
}

// instanceTable is the body of vrrp_instance.
func (st *vrrpState) instanceTable(v *Instance) *syntax.Table {
	name := "(" + v.Name + ")"
	pfx := func() string { return name }
	setFamily := func(a netip.Addr) bool {
		f := "inet"
		if a.Is6() {
			f = "inet6"
		}
		if v.Family == "" {
			v.Family = f
			return true
		}
		return v.Family == f
	}
	flag := func(dst *bool) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { *dst = true }}
	}
	tfOpt := func(dst *bool, set *bool, what string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			b, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "%s invalid %s %s specified", name, what, w) })
			if ok {
				*dst = b
				if set != nil {
					*set = true
				}
			}
		}}
	}
	garpUint := func(lo, hi uint64, bad, zero string, set func(uint64)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Unsigned(l.Pos, w, lo, hi)
			if !ok {
				p.Diags.Warnf(l.Pos, bad, v.Name, w)
				return
			}
			if n == 0 && zero != "" {
				p.Diags.Warnf(l.Pos, zero, v.Name)
				n = 1
			}
			set(n)
		}}
	}
	const uintMax = 4294967295
	kw := map[string]syntax.Keyword{
		"state": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			switch w {
			case "MASTER":
				v.State = "MASTER"
			case "BACKUP":
				if v.State == "MASTER" {
					p.Diags.Warnf(l.Pos, "%s state previously set as MASTER - ignoring BACKUP", name)
				} else {
					v.State = "BACKUP"
				}
			default:
				p.Diags.Warnf(l.Pos, "%s unknown state '%s', defaulting to BACKUP", name, w)
				v.State = "BACKUP"
			}
			v.set.state = true
		}},
		"interface": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			if len(w) >= 16 {
				p.Diags.Warnf(l.Pos, "Interface name '%s' too long - ignoring", w)
				return
			}
			// Whether an interface exists is this host's matter (the VRRP half, and so
			// `vigil -t`, warn of a missing one), but "lo" is the loopback on every Linux
			// host, and Keepalived refuses loopbacks.
			if w == "lo" {
				p.Diags.Warnf(l.Pos, "%s cannot use a loopback interface (%s) for vrrp - ignoring", name, w)
				v.Interface = ""
				return
			}
			v.Interface, v.InterfacePos = w, l.Pos
		}},
		"vrf": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if w, ok := p.Need(l, 1); ok {
				v.VRF = w
			}
		}},
		"virtual_router_id": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Unsigned(l.Pos, w, 1, 255)
			if !ok {
				p.Diags.Warnf(l.Pos, "(%s): VRID '%s' not valid - must be between 1 & 255", v.Name, w)
				return
			}
			v.VirtualRouterID = int(n)
		}},
		"priority": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Unsigned(l.Pos, w, 1, 255)
			if !ok {
				p.Diags.Warnf(l.Pos, "%s Priority not valid! must be between 1 & 255. Using default 100", name)
				n = 100
			}
			v.Priority, v.set.priority = int(n), true
		}},
		"advert_int": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Decimal(l.Pos, w, 10000, 255*1e6)
			if !ok || n == 0 {
				p.Diags.Warnf(l.Pos, "%s Advert interval (%s) not valid! Must be > 0 - ignoring", name, w)
				return
			}
			v.AdvertInt = syntax.Micros(n)
		}},
		"version": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Int(l.Pos, w, 2, 3)
			if !ok {
				p.Diags.Warnf(l.Pos, "(%s): Version must be either 2 or 3", v.Name)
				return
			}
			if (v.Version != 0 && v.Version != int(n)) || (n == 2 && v.Family == "inet6") {
				p.Diags.Warnf(l.Pos, "%s vrrp_version %d conflicts with configured or deduced version %d; ignoring.", name, n, v.Version)
				return
			}
			v.Version, v.set.version = int(n), true
		}},
		"native_ipv6": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v.Family == "inet" {
				p.Diags.Warnf(l.Pos, "%s Cannot specify native_ipv6 with IPv4 addresses", name)
				return
			}
			v.NativeIPv6, v.Family, v.Version = true, "inet6", 3
		}},
		"use_vmac": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			v.UseVMAC = true
			if len(l.Words) >= 2 {
				if len(l.Words[1]) >= 16 {
					p.Diags.Warnf(l.Pos, "VMAC interface name '%s' too long or invalid characters - ignoring", l.Words[1])
				} else {
					v.VMACName = l.Words[1]
				}
			}
		}},
		"use_vmac_addr": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) >= 2 {
				v.VMACAddr = l.Words[1]
			}
		}},
		"vmac_xmit_base":        flag(&v.VMACXmitBase),
		"use_ipvlan":            flag(&v.UseIPVLAN),
		"unicast_fault_no_peer": flag(&v.UnicastFaultNoPeer),
		"check_unicast_src": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			v.CheckUnicastSrc, v.set.checkUnicastSrc = true, true
		}},
		"old_unicast_checksum": flag(&v.OldUnicastChecksum),
		"dont_track_primary":   flag(&v.DontTrackPrimary),
		"promote_secondaries":  flag(&v.PromoteSecondaries),
		"linkbeat_use_polling": flag(&v.LinkbeatUsePolling),
		"track_src_ip":         flag(&v.TrackSrcIP),
		"mcast_src_ip": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			st.srcIP(p, l, v, &v.McastSrcIP, setFamily)
		}},
		"unicast_src_ip": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			v.set.unicastConfigured = true
			st.srcIP(p, l, v, &v.UnicastSrcIP, setFamily)
		}},
		"mcast_dst_ip": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			a, ok := unmap(syntax.SockAddr(w))
			if !ok {
				p.Diags.Warnf(l.Pos, "%s malformed mcast dest address %s. Skipping...", name, w)
				return
			}
			if !setFamily(a) {
				p.Diags.Warnf(l.Pos, "%s mcast dest address %s MUST match VRRP instance family. Skipping...", name, w)
				return
			}
			if (a.Is4() && !a.IsMulticast()) || (a.Is6() && !a.IsLinkLocalMulticast()) {
				ll := ""
				if a.Is6() {
					ll = " link-local"
				}
				p.Diags.Warnf(l.Pos, "%s mcast_dst_ip %s not%s multicast. Skipping...", name, w, ll)
				return
			}
			v.McastDstIP = a
		}},
		"unicast_ttl": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Unsigned(l.Pos, w, 0, 255)
			if !ok {
				p.Diags.Warnf(l.Pos, "(%s): TTL '%s' not valid - must be between 0 & 255", v.Name, w)
				return
			}
			v.UnicastTTL = int(n)
		}},
		"unicast_peer": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			v.set.unicastConfigured = true
			return func(p *syntax.Parser, l syntax.Line) { st.unicastPeer(p, l, v, setFamily) }
		}},
		"track_interface": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				v.TrackInterfaces = trackInterface(p, l, v.Name, v.TrackInterfaces)
			}
		}},
		"track_script": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				v.TrackScripts = trackRef(p, l, v.Name, v.TrackScripts, st.scriptKind())
			}
		}},
		"track_file": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				v.TrackFiles = trackRef(p, l, v.Name, v.TrackFiles, st.fileKind())
			}
		}},
		"track_process": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				v.TrackProcesses = trackRef(p, l, v.Name, v.TrackProcesses, st.processKind())
			}
		}},
		"track_bfd": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) { v.TrackBFDs = trackRef(p, l, v.Name, v.TrackBFDs, st.bfdKind()) }
		}},
		"virtual_ipaddress": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				a := parseVirtualIP(p, l, nil)
				if a == nil {
					return
				}
				if !setFamily(a.Prefix.Addr()) {
					p.Diags.Warnf(l.Pos, "(%s): address family must match VRRP instance [%s] - ignoring", v.Name, l.Words[0])
					return
				}
				v.VirtualIPAddresses = append(v.VirtualIPAddresses, a)
			}
		}},
		"virtual_ipaddress_excluded": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				if a := parseVirtualIP(p, l, nil); a != nil {
					v.VirtualIPAddressesExcluded = append(v.VirtualIPAddressesExcluded, a)
				}
			}
		}},
		"virtual_routes": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				if r := parseRoute(p, l, false); r != nil {
					v.VirtualRoutes = append(v.VirtualRoutes, r)
				}
			}
		}},
		"virtual_rules": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) {
				if r := st.parseRule(p, l); r != nil {
					v.VirtualRules = append(v.VirtualRules, r)
				}
			}
		}},
		"accept":    {Scalar: func(p *syntax.Parser, l syntax.Line) { v.Accept = new(true) }},
		"no_accept": {Scalar: func(p *syntax.Parser, l syntax.Line) { v.Accept = new(false) }},
		"skip_check_adv_addr": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			b, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "%s invalid skip_check_adv_addr %s specified", name, w) })
			if ok {
				// Like Keepalived, "skip_check_adv_addr false" still sets it.
				_ = b
				v.SkipCheckAdvAddr, v.set.skipCheckAdv = true, true
			}
		}},
		"strict_mode": tfOpt(&v.StrictMode, &v.set.strict, "strict_mode"),
		"preempt":     {Scalar: func(p *syntax.Parser, l syntax.Line) { v.Nopreempt = false }},
		"nopreempt":   flag(&v.Nopreempt),
		"preempt_delay": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Decimal(l.Pos, w, 0, 1000*1e6)
			if !ok {
				p.Diags.Warnf(l.Pos, "%s Preempt_delay not valid! must be between 0-%d", name, 1000)
				v.PreemptDelay = 0
				return
			}
			v.PreemptDelay = syntax.Micros(n)
		}},
		"debug": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, ok := p.Unsigned(l.Pos, w, 0, 4)
			if !ok {
				p.Diags.Warnf(l.Pos, "%s Debug value '%s' not valid; must be between 0-4", name, w)
				return
			}
			v.Debug = int(n)
		}},
		"notify_backup":              notifyKeyword(&v.NotifyBackup, pfx, "notify_backup script"),
		"notify_master":              notifyKeyword(&v.NotifyMaster, pfx, "notify_master script"),
		"notify_fault":               notifyKeyword(&v.NotifyFault, pfx, "notify_fault script"),
		"notify_stop":                notifyKeyword(&v.NotifyStop, pfx, "notify_stop script"),
		"notify_deleted":             notifyKeyword(&v.NotifyDeleted, pfx, "notify_deleted"),
		"notify":                     notifyKeyword(&v.Notify, pfx, "notify script"),
		"notify_master_rx_lower_pri": notifyKeyword(&v.NotifyMasterRxLowerPri, pfx, "notify_master_rx_lower_pri script"),
		"smtp_alert": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			b, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "Invalid vrrp_instance smtp_alert parameter %s", w) })
			if ok {
				v.SMTPAlert, v.set.smtpAlert = b, true
			}
		}},
		"notify_priority_changes": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			b, ok := syntax.OptBool(l, func(w string) {
				p.Diags.Warnf(l.Pos, "%s Invalid value '%s' for notify_priority_changes specified", name, w)
			})
			if ok {
				v.NotifyPriorityChanges, v.set.notifyPrio = b, true
			}
		}},
		"lvs_sync_daemon_interface": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			p.Diags.Warnf(l.Pos, "%s Specifying lvs_sync_daemon_interface against a vrrp is deprecated.", name)
			// Keepalived pads with "%*s" of len(name)-2; a negative width pads to its magnitude.
			pad := len(v.Name) - 2
			if pad < 0 {
				pad = -pad
			}
			p.Diags.Warnf(l.Pos, "      %sPlease use global lvs_sync_daemon", strings.Repeat(" ", pad))
			w, ok := p.Need(l, 1)
			if !ok {
				return
			}
			g := st.g
			if g.LVSSyncDaemon != nil {
				p.Diags.Warnf(l.Pos, "%s lvs_sync_daemon_interface has already been specified as %s - ignoring", name, g.LVSSyncDaemon.Interface)
				return
			}
			v.LVSSyncDaemonInterface = w
			g.LVSSyncDaemon = &globaldefs.LVSSyncDaemon{Pos: l.Pos, Interface: w, VRRPInstance: v.Name, SyncID: -1}
		}},
		"garp_master_delay": garpUint(0, uintMax/1000000, "(%s): garp_master_delay '%s' invalid - ignoring", "",
			func(n uint64) { v.GarpMasterDelay, v.set.garpDelay = syntax.Seconds(n), true }),
		"garp_master_refresh": garpUint(0, uintMax, "(%s): Invalid garp_master_refresh '%s' - ignoring", "",
			func(n uint64) { v.GarpMasterRefresh, v.set.garpRefresh = syntax.Seconds(n), true }),
		"garp_master_repeat": garpUint(0, uintMax, "(%s): garp_master_repeat '%s' invalid - ignoring",
			"(%s): garp_master_repeat must be greater than 0, setting to 1",
			func(n uint64) { v.GarpMasterRepeat, v.set.garpRepeat = int(n), true }),
		"garp_master_refresh_repeat": garpUint(0, uintMax, "(%s): garp_master_refresh_repeat '%s' invalid - ignoring",
			"(%s): garp_master_refresh_repeat must be greater than 0, setting to 1",
			func(n uint64) { v.GarpMasterRefreshRepeat, v.set.garpRefreshRepeat = int(n), true }),
		"garp_lower_prio_delay": garpUint(0, uintMax/1000000, "(%s): garp_lower_prio_delay '%s' invalid - ignoring", "",
			func(n uint64) { v.GarpLowerPrioDelay, v.set.lowerPrioDelay = syntax.Seconds(n), true }),
		"garp_lower_prio_repeat": garpUint(0, 2147483647, "(%s): Invalid garp_lower_prio_repeat '%s'", "",
			func(n uint64) { v.GarpLowerPrioRepeat, v.set.lowerPrioRepeat = int(n), true }),
		"down_timer_adverts": garpUint(1, 100, "(%s): Invalid down_timer_adverts [1:100] '%s'", "",
			func(n uint64) { v.DownTimerAdverts, v.set.downTimer = int(n), true }),
		"garp_extra_if":           {Scalar: func(p *syntax.Parser, l syntax.Line) { st.garpExtraIf(p, l, v) }},
		"vmac_garp_intvl":         {Scalar: func(p *syntax.Parser, l syntax.Line) { st.garpExtraIf(p, l, v) }},
		"lower_prio_no_advert":    tfOpt(&v.LowerPrioNoAdvert, &v.set.lowerPrioNoAdvert, "lower_prio_no_advert"),
		"higher_prio_send_advert": tfOpt(&v.HigherPrioSendAdvert, &v.set.higherPrioSendAdvert, "higher_prio_send_advert"),
		"kernel_rx_buf_size": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) == 2 {
				if n, ok := p.Unsigned(l.Pos, l.Words[1], 0, uintMax); ok {
					v.KernelRxBufSize = int(n)
					return
				}
			}
			p.Diags.Warnf(l.Pos, "%s invalid kernel_rx_buf_size specified", name)
		}},
		"authentication": {Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
			if v.Authentication == nil {
				v.Authentication = &Authentication{Pos: l.Pos}
			}
			a := v.Authentication
			return &syntax.Table{Keywords: map[string]syntax.Keyword{
				"auth_type": {Scalar: func(p *syntax.Parser, l syntax.Line) {
					w, ok := p.Need(l, 1)
					if !ok {
						return
					}
					if w == "PASS" || w == "AH" {
						a.Type = w
						return
					}
					p.Diags.Warnf(l.Pos, "%s unknown authentication type '%s'", name, w)
				}},
				"auth_pass": {Scalar: func(p *syntax.Parser, l syntax.Line) {
					w, ok := p.Need(l, 1)
					if !ok {
						return
					}
					if len(w) > 8 {
						p.Diags.Warnf(l.Pos, "Truncating auth_pass to 8 characters")
						w = w[:8]
					}
					a.Pass = w
				}},
			}}
		}},
	}
	kw["track_virtual_server"] = trackVirtualServerKeyword(&v.TrackVirtualServers, func() string { return v.Name })
	return &syntax.Table{Keywords: kw, Close: func(p *syntax.Parser, end syntax.Pos) {
		// Keepalived's end-of-instance checks report at the closing brace.
		if v.set.unicastConfigured && (v.UseVMAC || v.UseIPVLAN) {
			if v.Interface == "" {
				p.Diags.Warnf(end, "(%s): Cannot use VMAC/ipvlan with unicast and no interface - clearing use_vmac", v.Name)
				v.UseVMAC, v.UseIPVLAN, v.VMACName = false, false, ""
			} else if !v.VMACXmitBase {
				p.Diags.Warnf(end, "%s unicast with use_vmac requires vmac_xmit_base - setting", name)
				v.VMACXmitBase = true
			}
		}
		if len(v.UnicastPeers) == 0 && v.UnicastTTL != -1 {
			p.Diags.Warnf(end, "(%s): Cannot use unicast_ttl without unicast peers - resetting", v.Name)
			v.UnicastTTL = 0
		}
	}}
}

func (st *vrrpState) garpExtraIf(p *syntax.Parser, l syntax.Line, v *Instance) {
	cmd := l.Words[0]
	if cmd == "vmac_garp_intvl" {
		p.Diags.Warnf(l.Pos, "Keyword \"vmac_garp_intvl\" is deprecated - please use \"garp_extra_if\"")
	}
	var delay uint64
	for _, w := range l.Words[1:] {
		if w == "all" {
			continue
		}
		n, ok := p.Unsigned(l.Pos, w, 1, 86400)
		if !ok {
			p.Diags.Warnf(l.Pos, "(%s): %s '%s' invalid - ignoring", v.Name, cmd, w)
			return
		}
		delay = n
	}
	if delay == 0 {
		p.Diags.Warnf(l.Pos, "(%s): %s specified without time - ignoring", v.Name, cmd)
		return
	}
	v.GarpExtraIf = syntax.Seconds(delay)
}

func (st *vrrpState) srcIP(p *syntax.Parser, l syntax.Line, v *Instance, dst *netip.Addr, setFamily func(netip.Addr) bool) {
	w, ok := p.Need(l, 1)
	if !ok {
		return
	}
	a, ok := unmap(syntax.SockAddr(w))
	if !ok {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] malformed src address[%s]. Skipping...", v.Name, w)
		return
	}
	if !setFamily(a) {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] and src address[%s] MUST be of the same family !!! Skipping...", v.Name, w)
		return
	}
	*dst = a
}

func (st *vrrpState) unicastPeer(p *syntax.Parser, l syntax.Line, v *Instance, setFamily func(netip.Addr) bool) {
	a, ok := unmap(syntax.SockAddr(l.Words[0]))
	if !ok {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] malformed unicast peer address[%s]. Skipping...", v.Name, l.Words[0])
		return
	}
	if !setFamily(a) {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] and unicast peer address[%s] MUST be of the same family !!! Skipping...", v.Name, l.Words[0])
		return
	}
	peer := &UnicastPeer{Pos: l.Pos, Addr: a, MinTTL: 0, MaxTTL: 255}
	for i := 1; i < len(l.Words); i += 2 {
		if i+1 >= len(l.Words) {
			p.Diags.Warnf(l.Pos, "(%s) %s is missing a value", v.Name, l.Words[i])
			break
		}
		n, ok := p.Unsigned(l.Pos, l.Words[i+1], 0, 255)
		if !ok {
			continue
		}
		switch l.Words[i] {
		case "min_ttl":
			peer.MinTTL = int(n)
		case "max_ttl":
			peer.MaxTTL = int(n)
		default:
			p.Diags.Warnf(l.Pos, "(%s) unknown unicast_peer option %s", v.Name, l.Words[i])
		}
		if l.Words[i] != "min_ttl" && l.Words[i] != "max_ttl" {
			break
		}
		v.CheckUnicastSrc = true
	}
	if peer.MinTTL > peer.MaxTTL {
		p.Diags.Warnf(l.Pos, "(%s) min_ttl %d > max_ttl %d - all packets will be discarded", v.Name, peer.MinTTL, peer.MaxTTL)
	}
	v.UnicastPeers = append(v.UnicastPeers, peer)
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
		"track_bfd": {Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
			return func(p *syntax.Parser, l syntax.Line) { g.TrackBFDs = trackRef(p, l, g.Name, g.TrackBFDs, st.bfdKind()) }
		}},
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

// parseVirtualIP reads one address line of virtual_ipaddress(_excluded), or of static_ipaddress
// when st is not nil (track_group names are then looked up in st). It returns nil when
// Keepalived would skip the address. An interface named with dev is not checked here: whether
// it exists is this host's matter, warned of by the VRRP half's build (and vigil -t).
func parseVirtualIP(p *syntax.Parser, l syntax.Line, st *Static) *VirtualIP {
	static := st != nil
	w := l.Words
	a := &VirtualIP{Pos: l.Pos}
	addr := w[0]
	bits := -1
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		maxBits := 32
		if strings.Contains(addr, ":") {
			maxBits = 128
		}
		n, ok := unsignedQuiet(addr[i+1:], 0, uint64(maxBits))
		if !ok {
			p.Diags.Warnf(l.Pos, "number '%s' outside range [0, %d]", addr[i+1:], maxBits)
			p.Diags.Warnf(l.Pos, "Invalid address prefix len %s for address %s - using %d", addr[i+1:], addr, maxBits)
		} else {
			bits = int(n)
		}
		addr = addr[:i]
	}
	// Like inet_pton, a ':' makes it IPv6 (an IPv4-mapped address stays IPv6).
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" || strings.Contains(addr, ":") != ip.Is6() {
		p.Diags.Warnf(l.Pos, "VRRP parsed invalid IP %s. skipping IP...", w[0])
		return nil
	}
	if bits < 0 {
		bits = ip.BitLen()
	}
	a.Prefix = netip.PrefixFrom(ip, bits)
	var missing string
	hasBrd := false
	for i := 1; i < len(w); i++ {
		opt := w[i]
		param := i+1 < len(w)
		needParam := func() (string, bool) {
			if !param {
				missing = opt
				return "", false
			}
			i++
			return w[i], true
		}
		switch opt {
		case "dev":
			s, ok := needParam()
			if !ok {
				break
			}
			if a.Dev != "" {
				p.Diags.Warnf(l.Pos, "Cannot specify ipaddress device more than once for %s", w[0])
				return nil
			}
			a.Dev = s
		case "scope":
			s, ok := needParam()
			if !ok {
				break
			}
			if !validScope(s) {
				p.Diags.Warnf(l.Pos, "Invalid scope '%s' specified for %s - ignoring", s, w[0])
			} else {
				a.Scope = s
			}
		case "broadcast", "brd":
			s, ok := needParam()
			if !ok {
				break
			}
			if ip.Is6() {
				p.Diags.Warnf(l.Pos, "VRRP is trying to assign a broadcast %s to the IPv6 address %s !!?? WTF... skipping VIP...", opt, w[0])
				return nil
			}
			if s != "+" && s != "-" {
				if b, err := netip.ParseAddr(s); err != nil || !b.Is4() {
					p.Diags.Warnf(l.Pos, "VRRP is trying to assign invalid broadcast %s. skipping VIP...", s)
					return nil
				}
			}
			a.Broadcast, hasBrd = s, true
		case "label":
			s, ok := needParam()
			if !ok {
				break
			}
			if len(s) >= 16 {
				p.Diags.Warnf(l.Pos, "Address label %s is longer than maximum length %d - removing address", s, 15)
				return nil
			}
			a.Label = s
		case "peer":
			s, ok := needParam()
			if !ok {
				break
			}
			if a.Peer.IsValid() {
				p.Diags.Warnf(l.Pos, "Peer %s - another peer has already been specified", s)
				continue
			}
			pa, ok := unmap(syntax.Addr(s))
			switch {
			case !ok:
				p.Diags.Warnf(l.Pos, "Invalid peer address %s", s)
			case pa.Is6() != ip.Is6():
				p.Diags.Warnf(l.Pos, "Peer address %s does not match address family", s)
			default:
				if a.Prefix.Bits() != ip.BitLen() {
					p.Diags.Warnf(l.Pos, "Cannot specify address prefix when specifying peer address - ignoring")
				}
				a.Peer = pa
			}
		case "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin":
			a.Flags = append(a.Flags, opt)
		case "no_track":
			a.NoTrack = true
		case "preferred_lft":
			s, ok := needParam()
			if !ok {
				break
			}
			if s != "forever" {
				if _, ok := unsignedQuiet(s, 0, 4294967295); !ok {
					p.Diags.Warnf(l.Pos, "preferred_lft %s is invalid", s)
					continue
				}
			}
			a.PreferredLft = s
		case "track_group":
			if !static {
				p.Diags.Warnf(l.Pos, "Unknown configuration entry '%s' for ip address - ignoring", opt)
				continue
			}
			s, ok := needParam()
			if !ok {
				break
			}
			if a.TrackGroup != "" {
				p.Diags.Warnf(l.Pos, "track_group %s is a duplicate", s)
				missing = "-"
				break
			}
			found := false
			for _, tg := range st.TrackGroups {
				found = found || tg.Name == s
			}
			if !found {
				p.Diags.Warnf(l.Pos, "track_group %s not found", s)
				continue
			}
			a.TrackGroup = s
		case "use_vmac":
			if static {
				p.Diags.Warnf(l.Pos, "Unknown configuration entry '%s' for ip address - ignoring", opt)
				continue
			}
			a.UseVMAC = true
		default:
			p.Diags.Warnf(l.Pos, "Unknown configuration entry '%s' for ip address - ignoring", opt)
		}
		if missing != "" {
			break
		}
	}
	if missing == "-" {
		// A duplicate track_group ends the options, as in Keepalived.
		missing = ""
	}
	if missing != "" {
		p.Diags.Warnf(l.Pos, "No %s parameter specified for %s", missing, w[0])
		return nil
	}
	if hasBrd && a.Peer.IsValid() {
		p.Diags.Warnf(l.Pos, "Cannot specify broadcast and peer addresses - ignoring broadcast address")
		a.Broadcast = ""
	} else if (a.Broadcast == "+" || a.Broadcast == "-") && a.Prefix.Bits() > 30 {
		p.Diags.Warnf(l.Pos, "Address prefix length %d too long for broadcast", a.Prefix.Bits())
	}
	if ip.Is6() {
		if a.Scope != "" {
			p.Diags.Warnf(l.Pos, "Cannot specify scope for IPv6 addresses (%s) - ignoring scope", w[0])
			a.Scope = ""
		}
		if a.Label != "" {
			p.Diags.Warnf(l.Pos, "Cannot specify label for IPv6 addresses (%s) - ignoring label", w[0])
			a.Label = ""
		}
	}
	if a.TrackGroup != "" && a.Dev == "" {
		p.Diags.Warnf(l.Pos, "Static route cannot have track_group if interface not specified")
		a.TrackGroup = ""
	}
	return a
}

// unsignedQuiet is syntax's Unsigned without its complaint, for callers with their own message.
func unsignedQuiet(s string, min, max uint64) (uint64, bool) {
	var quiet syntax.Diagnostics
	q := &syntax.Parser{Diags: &quiet}
	return q.Unsigned(syntax.Pos{}, s, min, max)
}

// validScope reports whether s names an address scope (iproute2's rt_scopes or a number).
func validScope(s string) bool {
	switch s {
	case "global", "universe", "site", "link", "host", "nowhere":
		return true
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// isRouteType reports whether s is an iproute2 route type, which may precede the destination.
func isRouteType(s string) bool {
	switch s {
	case "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable",
		"prohibit", "throw", "nat":
		return true
	}
	return false
}

// routeOptionArgs tells how many words follow a route option keyword (Keepalived's
// vrrp_iproute.c); options not listed here are not options but the destination.
func routeOptionArgs(s string) (int, bool) {
	switch s {
	case "inet", "inet6", "onlink", "quickack", "fastopen_no_cookie", "no_track":
		return 0, true
	case "src", "as", "via", "gw", "or", "from", "tos", "dsfield", "table", "protocol", "proto",
		"scope", "metric", "priority", "preference", "dev", "oif", "expires", "mtu", "hoplimit",
		"advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "ssthresh", "realms",
		"rto_min", "initcwnd", "initrwnd", "features", "congctl", "pref", "ttl-propagate",
		"track_group", "vrf":
		return 1, true
	}
	return 0, false
}

// parseRoute reads one line of virtual_routes or static_routes: "[to] [TYPE] DEST [options]
// [nexthop ...]". The destination and the common attributes are parsed; the whole line is kept
// in Words for the rest. Interfaces named are not checked here (this host's matter: the VRRP
// half's build warns of a missing dev, and so does vigil -t).
func parseRoute(p *syntax.Parser, l syntax.Line, static bool) *VirtualRoute {
	w := l.Words
	r := &VirtualRoute{Pos: l.Pos, Words: append([]string(nil), w...)}
	for i := 0; i < len(w); i++ {
		opt := w[i]
		if opt == "nexthop" {
			break
		}
		n, isOpt := routeOptionArgs(opt)
		if !isOpt {
			if opt == "to" && i+1 < len(w) {
				i++
			}
			if isRouteType(w[i]) && i+1 < len(w) {
				r.Type = w[i]
				i++
			}
			dest := w[i]
			if dest != "default" {
				if _, ok := syntax.Prefix(dest); !ok {
					p.Diags.Warnf(l.Pos, "unknown route keyword %s", dest)
					return nil
				}
			}
			r.Dest = dest
			continue
		}
		val := ""
		if n == 1 {
			if i+1 >= len(w) {
				break
			}
			val = w[i+1]
			if val == "lock" && i+2 < len(w) {
				i++
				val = w[i+1]
			}
		}
		switch opt {
		case "src":
			a, ok := unmap(syntax.Addr(val))
			if !ok {
				p.Diags.Warnf(l.Pos, "invalid route src address %s", val)
				return nil
			}
			r.Src = a
		case "or":
			p.Diags.Warnf(l.Pos, "\"or\" for routes is deprecated. Please use \"nexthop\"")
		case "gw", "via":
			if opt == "gw" {
				p.Diags.Warnf(l.Pos, "\"gw\" for routes is deprecated. Please use \"via\"")
			}
			a, ok := unmap(syntax.Addr(val))
			if !ok {
				p.Diags.Warnf(l.Pos, "invalid route via address %s", val)
				return nil
			}
			r.Via = a
		case "dev", "oif":
			r.Dev = val
		case "table":
			r.Table = val
		case "metric", "preference", "priority":
			r.Metric = val
		case "scope":
			r.Scope = val
		case "no_track":
			r.NoTrack = true
		case "track_group":
			r.TrackGroup = val
		}
		i += n
	}
	if r.Dest == "" {
		p.Diags.Warnf(l.Pos, "Route must have a destination")
		return nil
	}
	if !r.NoTrack && r.Dev == "" {
		p.Diags.Warnf(l.Pos, "Warning - cannot track route %s with no interface specified, not tracking", r.Dest)
		r.NoTrack = true
	}
	if r.TrackGroup != "" && r.Dev == "" {
		p.Diags.Warnf(l.Pos, "Static route cannot have track group if no oif specified")
		r.TrackGroup = ""
	}
	_ = static
	return r
}

// parseRule reads one line of virtual_rules or static_rules (iproute2 "ip rule" syntax). The
// selectors are checked as Keepalived checks them; a rule without a preference gets the next one
// down from 16384 per address family, with Keepalived's warning.
func (st *vrrpState) parseRule(p *syntax.Parser, l syntax.Line) *VirtualRule {
	w := l.Words
	r := &VirtualRule{Pos: l.Pos, Words: append([]string(nil), w...)}
	family := ""
	addr := func(kind, s string) bool {
		ip := strings.SplitN(s, "/", 2)
		a, ok := unmap(syntax.Addr(ip[0]))
		if !ok || strings.Contains(ip[0], ":") != a.Is6() {
			p.Diags.Warnf(l.Pos, "VRRP parsed invalid IP %s. skipping IP...", s)
			p.Diags.Warnf(l.Pos, "Invalid rule %s address %s", kind, s)
			return false
		}
		f := "inet"
		if a.Is6() {
			f = "inet6"
		}
		if family != "" && family != f {
			p.Diags.Warnf(l.Pos, "rule specification has mixed IPv4 and IPv6")
			return false
		}
		family = f
		return true
	}
	for i := 0; i < len(w); i++ {
		val := ""
		if i+1 < len(w) {
			val = w[i+1]
		}
		switch w[i] {
		case "inet", "inet6":
			family = w[i]
		case "from":
			if val != "all" && !addr("from", val) {
				return nil
			}
			r.From = val
			i++
		case "to":
			if val != "all" && !addr("to", val) {
				return nil
			}
			r.To = val
			i++
		case "table", "lookup":
			r.Table = val
			i++
		case "priority", "preference", "pref", "order":
			if _, ok := unsignedQuiet(val, 0, 4294967295); !ok {
				p.Diags.Warnf(l.Pos, "Invalid rule preference %s specified", val)
				return nil
			}
			r.Priority = val
			i++
		case "no_track":
			r.NoTrack = true
		case "tos", "dsfield", "fwmark", "realms", "suppress_prefixlength", "sup_pl",
			"suppress_ifgroup", "sup_group", "iif", "dev", "oif", "tun_id", "uidrange", "protocol",
			"ipproto", "sport", "dport", "track_group", "goto", "type":
			i++
		}
	}
	if r.Priority == "" {
		next := &st.nextRulePrio4
		if family == "inet6" {
			next = &st.nextRulePrio6
		}
		r.Priority = strconv.Itoa(*next)
		p.Diags.Warnf(l.Pos, "Rule has no preference specified - setting to %d. This is probably not what you want.", *next)
		*next--
	}
	return r
}

// unmap takes what syntax.Addr or syntax.SockAddr return and reads an IPv4-mapped IPv6 address
// as the IPv4 address: the VRRP half compares families that way.
func unmap(a netip.Addr, ok bool) (netip.Addr, bool) { return a.Unmap(), ok }

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
