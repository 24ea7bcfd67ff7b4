package vrrpd

import (
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The tracked objects: the bodies of vrrp_script, track_file and vrrp_track_process, and the
// lines of an instance's or sync group's track_script, track_file, track_process, track_bfd
// and track_interface blocks that name them.

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
		// Milliseconds since Keepalived 2.3.2 (0.001 to 4294 s); 0 still reads as 1 s.
		"interval": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v, ok := scriptMillis(p, l, "(%s): vrrp script interval '%s' must be between 0.001 and 4294 - ignoring",
				"(%s): vrrp script interval must be greater than 0, setting to 1", s.Name); ok {
				s.Interval = v
			}
		}},
		"timeout": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v, ok := scriptMillis(p, l, "(%s): vrrp script timeout '%s' invalid - ignoring",
				"(%s): vrrp script timeout must be greater than 0, setting to 1", s.Name); ok {
				s.Timeout = v
			}
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

// scriptMillis reads a vrrp_script interval or timeout as Keepalived 2.3.2 does: seconds with up
// to three decimals, rounded to the millisecond; 0 is 1 s.
func scriptMillis(p *syntax.Parser, l syntax.Line, bad, zero, name string) (syntax.Duration, bool) {
	w, ok := p.Need(l, 1)
	if !ok {
		return 0, false
	}
	v, ok := p.Decimal(l.Pos, w, 0, 4294*1e6)
	if !ok {
		p.Diags.Warnf(l.Pos, bad, name, w)
		return 0, false
	}
	ms := (v + 500) / 1000
	if ms == 0 {
		p.Diags.Warnf(l.Pos, zero, name)
		ms = 1000
	}
	return syntax.Duration(time.Duration(ms) * time.Millisecond), true
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
