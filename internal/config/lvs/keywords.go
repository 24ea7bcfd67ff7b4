package lvs

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Keyword tables for virtual_server_group, virtual_server, sorry_server and real_server, after
// Keepalived's check_parser.c. Messages are Keepalived's own; checkers are in check_keywords.go.

// lvsSchedulerNames are the schedulers Keepalived 2.2.7 accepts for lb_algo / lvs_sched.
var lvsSchedulerNames = []string{"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"}

// AddTopKeywords adds virtual_server_group and virtual_server to t, filling s.
func AddTopKeywords(t *syntax.Table, s *Section) {
	t.Keywords["virtual_server_group"] = syntax.Keyword{Values: s.vsgKeyword}
	t.Keywords["virtual_server"] = syntax.Keyword{Block: s.vsKeyword}
	t.Keywords["SSL"] = syntax.Keyword{Block: lvsSSLKeyword}
}

// lvsSSLKeyword reads the SSL block (the client certificate of SSL_GET checkers). The model has no
// place for it yet: the keywords are checked and their values dropped.
func lvsSSLKeyword(p *syntax.Parser, l syntax.Line) *syntax.Table {
	t := &syntax.Table{Keywords: map[string]syntax.Keyword{}}
	for _, k := range []struct{ kw, what string }{{"password", "password"}, {"ca", "cafile"}, {"certificate", "certfile"}, {"key", "keyfile"}} {
		what := k.what
		seen := false
		t.Keywords[k.kw] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "SSL %s missing", what)
				return
			}
			if seen {
				p.Diags.Warnf(l.Pos, "SSL %s already specified - replacing", what)
			}
			seen = true
		}}
	}
	return t
}

// vsgKeyword reads "virtual_server_group NAME { ... }". Its body is free-form lines, so it is a
// values block; to report an empty or inconsistent group at its closing brace, as Keepalived
// does, it reads the body itself and leaves the engine only the '}' to skip.
func (s *Section) vsgKeyword(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
	if _, ok := p.Need(l, 1); !ok {
		return nil
	}
	g := &VirtualServerGroup{Pos: l.Pos, Name: l.Words[1], Ranges: []VSGRange{}, Fwmarks: []VSGFwmark{}}
	var v4, v6, noFamily bool
	each := func(p *syntax.Parser, l syntax.Line) {
		if l.Words[0] == "fwmark" {
			if _, ok := p.Need(l, 1); !ok {
				return
			}
			mark, ok := p.Unsigned(l.Pos, l.Words[1], 0, lvsMaxUint32)
			if !ok {
				p.Diags.Warnf(l.Pos, "(%s): fwmark '%s' must be in [0, %d] - ignoring", g.Name, l.Words[1], uint64(lvsMaxUint32))
				return
			}
			f := VSGFwmark{Pos: l.Pos, Mark: uint32(mark)}
			if len(l.Words) > 2 {
				switch l.Words[2] {
				case "inet":
					v4 = true
				case "inet6":
					v6 = true
				default:
					p.Diags.Warnf(l.Pos, "(%s): fwmark '%d' family %s unknown - ignoring", g.Name, mark, l.Words[2])
					return
				}
				f.Family = l.Words[2]
			} else {
				noFamily = true
			}
			g.Fwmarks = append(g.Fwmarks, f)
			return
		}
		if r, ok := lvsVSGRange(p, g, l); ok {
			g.Ranges = append(g.Ranges, r)
			if r.First.Is4() {
				v4 = true
			} else {
				v6 = true
			}
		}
	}
	end := p.ReadValues(l.Pos, each)
	switch {
	case len(g.Ranges) == 0 && len(g.Fwmarks) == 0:
		p.Diags.Warnf(end, "virtual server group %s has no entries - removing", g.Name)
	case v4 && v6 && noFamily:
		p.Diags.Warnf(end, "virtual server group %s cannot have IPv4, IPv6 and fwmark without family - removing", g.Name)
	default:
		s.Groups = append(s.Groups, g)
	}
	return nil
}

// vsgRange reads one address line of a virtual_server_group: "IP [PORT]", "IP-END [PORT]"
// (END the last byte of IPv4 or last hex group of IPv6, or a whole address) or "IP/LEN [PORT]".
func lvsVSGRange(p *syntax.Parser, g *VirtualServerGroup, l syntax.Line) (VSGRange, bool) {
	s := l.Words[0]
	port := ""
	if len(l.Words) >= 2 {
		port = l.Words[1]
	}
	a, pn, ok := p.AddrPort(l.Pos, s, port)
	if !ok {
		suffix := ""
		if port != "" && strings.Trim(port, "0") != "" {
			suffix = "/port/" + port
		}
		p.Diags.Warnf(l.Pos, "Invalid virtual server group IP address %s %s - skipping", s, suffix)
		return VSGRange{}, false
	}
	r := VSGRange{Pos: l.Pos, First: a, Last: a, Port: pn}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		bits, err := strconv.ParseUint(s[i+1:], 10, 8)
		if err != nil || bits == 0 || bits > uint64(a.BitLen()) {
			p.Diags.Warnf(l.Pos, "Invalid netmask - %s - skipping", s)
			return VSGRange{}, false
		}
		pf := netip.PrefixFrom(a, int(bits))
		if pf.Masked().Addr() != a {
			p.Diags.Warnf(l.Pos, "Address mask bits not empty - %s - skipping", s)
			return VSGRange{}, false
		}
		r.Last = lvsLastInPrefix(pf)
		return r, true
	}
	i := strings.IndexByte(s, '-')
	if i < 0 {
		return r, true
	}
	end := s[i+1:]
	if (a.Is4() && strings.Contains(end, ".")) || (a.Is6() && strings.Contains(end, ":")) {
		e, err := netip.ParseAddr(end)
		if err != nil || e.Zone() != "" {
			p.Diags.Warnf(l.Pos, "Invalid range end %s - skipping", s)
			return VSGRange{}, false
		}
		if e.Is4() != a.Is4() {
			p.Diags.Warnf(l.Pos, "Range address families do not match %s - skipping", s)
			return VSGRange{}, false
		}
		if e.Less(a) {
			p.Diags.Warnf(l.Pos, "Address range end is less than address range start - %s - skipping", s)
			return VSGRange{}, false
		}
		r.Last = e
		return r, true
	}
	base := 10
	limit := uint64(255)
	if a.Is6() {
		base, limit = 16, 0xffff
	}
	// strtoul semantics: leading digits are the number, anything after them is extra.
	n := 0
	for n < len(end) && lvsDigitIn(end[n], base) {
		n++
	}
	if n < len(end) {
		p.Diags.Warnf(l.Pos, "Virtual server group range '%s' has extra characters at end '%s'", s, end[n:])
		return VSGRange{}, false
	}
	v, err := strconv.ParseUint(end, base, 64)
	if err != nil && n > 0 {
		v = limit + 1 // out of range for strtoul too
	}
	if v > limit {
		p.Diags.Warnf(l.Pos, "Virtual server group range '%s' end '%s' too large", s, end)
		return VSGRange{}, false
	}
	b := a.AsSlice()
	var start uint64
	if a.Is4() {
		start = uint64(b[3])
		b[3] = byte(v)
	} else {
		start = uint64(b[14])<<8 | uint64(b[15])
		b[14], b[15] = byte(v>>8), byte(v)
	}
	if start >= v {
		p.Diags.Warnf(l.Pos, "Address range end is not greater than address range start - %s - skipping", s)
		return VSGRange{}, false
	}
	r.Last, _ = netip.AddrFromSlice(b)
	return r, true
}

func lvsLastInPrefix(pf netip.Prefix) netip.Addr {
	b := pf.Addr().AsSlice()
	for i := pf.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// vsKeyword reads "virtual_server IP [PORT]", "virtual_server fwmark N" or
// "virtual_server group NAME" and returns the table for its body.
func (s *Section) vsKeyword(p *syntax.Parser, l syntax.Line) *syntax.Table {
	if _, ok := p.Need(l, 1); !ok {
		return nil
	}
	vs := &VirtualServer{Pos: l.Pos, SchedulerFlags: []string{}, RealServers: []*RealServer{},
		Quorum: 1, Weight: 1,
		DelayLoop: syntax.Duration(60 * time.Second), ConnectTimeout: syntax.Duration(5 * time.Second)}
	switch l.Words[1] {
	case "group":
		if _, ok := p.Need(l, 2); !ok {
			return nil
		}
		vs.Kind, vs.Group = VSKindGroup, l.Words[2]
	case "fwmark":
		if _, ok := p.Need(l, 2); !ok {
			return nil
		}
		mark, ok := p.Unsigned(l.Pos, l.Words[2], 0, lvsMaxUint32)
		if !ok {
			p.Diags.Warnf(l.Pos, "virtual server fwmark '%s' must be in [0, %d] - ignoring", l.Words[2], uint64(lvsMaxUint32))
			return nil
		}
		vs.Kind, vs.Fwmark = VSKindFwmark, uint32(mark)
	default:
		port := ""
		if len(l.Words) >= 3 {
			port = l.Words[2]
		}
		a, pn, ok := p.AddrPort(l.Pos, l.Words[1], port)
		if !ok {
			if port != "" && strings.Trim(port, "0") != "" {
				p.Diags.Warnf(l.Pos, "Invalid virtual server IP address/port %s/%s - skipping", l.Words[1], port)
			} else {
				p.Diags.Warnf(l.Pos, "Invalid virtual server IP address %s - skipping", l.Words[1])
			}
			return nil
		}
		vs.Kind, vs.Address, vs.Port = VSKindAddress, a, pn
		vs.Family = lvsFamily(a)
	}
	s.VirtualServers = append(s.VirtualServers, vs)
	return vs.table(s)
}

func lvsFamily(a netip.Addr) string {
	if a.Is4() {
		return "inet"
	}
	return "inet6"
}

// lvsTimerKw installs a read_timer keyword for the virtual server with Keepalived's message.
func lvsTimerKw(min uint64, max uint64, msg string, set func(time.Duration)) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if d, ok, silent := p.Timer(l, 1, min, max); ok {
			set(d)
		} else if !silent {
			p.Diags.Warnf(l.Pos, msg, l.Words[1])
		}
	}}
}

func (vs *VirtualServer) table(s *Section) *syntax.Table {
	k := make(map[string]syntax.Keyword, 96) // sized: this table is built once per block, and growth dominated load time
	t := &syntax.Table{Keywords: k, Close: func(p *syntax.Parser, end syntax.Pos) { vs.endPos = end; vs.close(p, end) }}

	k["ip_family"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		f := l.Words[1]
		if f != "inet" && f != "inet6" {
			p.Diags.Warnf(l.Pos, "unknown address family %s", f)
			return
		}
		if vs.Family != "" && vs.Family != f {
			p.Diags.Warnf(l.Pos, "Virtual server specified family %s conflicts with server family", f)
			return
		}
		vs.Family = f
	}}
	k["retry"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if v, ok := p.Unsigned(l.Pos, l.Words[1], 1, lvsMaxUint32); ok {
			r := uint32(v)
			vs.Retry = &r
		} else {
			p.Diags.Warnf(l.Pos, "retry value invalid - %s", l.Words[1])
		}
	}}
	k["delay_before_retry"] = lvsTimerKw(0, 0, "virtual server delay before retry '%s' invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); vs.DelayBeforeRetry = &v })
	k["warmup"] = lvsTimerKw(0, 0, "virtual server warmup '%s' invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); vs.Warmup = &v })
	k["connect_timeout"] = lvsTimerKw(1, lvsMaxUint32, "virtual server connect_timeout %s invalid - ignoring", func(d time.Duration) { vs.ConnectTimeout = syntax.Duration(d) })
	k["delay_loop"] = lvsTimerKw(1, 0, "virtual server delay loop '%s' invalid - ignoring", func(d time.Duration) { vs.DelayLoop = syntax.Duration(d) })
	k["inhibit_on_failure"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { vs.InhibitOnFailure = true }}
	algo := syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if !slices.Contains(lvsSchedulerNames, l.Words[1]) {
			p.Diags.Warnf(l.Pos, "Invalid lvs_scheduler '%s' - ignoring", l.Words[1])
			return
		}
		vs.Scheduler = l.Words[1]
	}}
	k["lb_algo"], k["lvs_sched"] = algo, algo
	flag := syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { vs.flag(p, l) }}
	for _, f := range []string{"hashed", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"} {
		k[f] = flag
	}
	fwd := syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if f, ok := lvsForwarding(p, l, vs.Forwarding, "virtual"); ok {
			vs.Forwarding, vs.fwdSet = f, true
		}
	}}
	k["lb_kind"], k["lvs_method"] = fwd, fwd
	k["persistence_engine"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		name := l.Words[1]
		if len(name) > 15 { // IP_VS_PENAME_MAXLEN - 1
			p.Diags.Warnf(l.Pos, "persistence_name too long, truncating - %s", name)
			name = name[:15]
		}
		vs.PersistenceEngine = name
	}}
	k["persistence_timeout"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			vs.PersistenceTimeout = syntax.Duration(360 * time.Second)
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 1, 86400*31)
		if !ok {
			p.Diags.Warnf(l.Pos, "persistence_timeout invalid")
			return
		}
		vs.PersistenceTimeout = syntax.Duration(time.Duration(v) * time.Second)
	}}
	k["persistence_granularity"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { vs.granularity(p, l) }}
	k["protocol"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		switch strings.ToUpper(l.Words[1]) {
		case "TCP", "UDP", "SCTP":
			vs.Protocol, vs.protoSet = strings.ToUpper(l.Words[1]), true
		default:
			p.Diags.Warnf(l.Pos, "Unknown protocol %s - ignoring", l.Words[1])
		}
	}}
	k["ha_suspend"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { vs.HASuspend = true }}
	k["smtp_alert"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "virtual_server smtp_alert"); ok {
			vs.smtpSet = &v
		}
	}}
	k["virtualhost"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "virtual server virtualhost missing")
			return
		}
		vs.VirtualHost = l.Words[1]
	}}
	k["snmp_name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) != 2 {
			p.Diags.Warnf(l.Pos, "virtual server snmp_name missing or extra parameters")
		}
	}}
	k["alpha"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { vs.Alpha = true }}
	k["omega"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { vs.Omega = true }}
	k["quorum_up"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		// Keepalived 2.2.7 says nothing of a repeated quorum_up; the last one is used.
		if _, ok := p.Need(l, 1); ok {
			vs.QuorumUp, vs.QuorumUpPos = lvsRest(l), l.Pos
		}
	}}
	k["quorum_down"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		// Keepalived 2.2.7 says nothing of a repeated quorum_down; the last one is used.
		if _, ok := p.Need(l, 1); ok {
			vs.QuorumDown, vs.QuorumDownPos = lvsRest(l), l.Pos
		}
	}}
	k["quorum"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 1, lvsMaxUint32)
		if !ok {
			p.Diags.Warnf(l.Pos, "Quorum %s must be in [1, %d]. Setting to 1.", l.Words[1], uint64(lvsMaxUint32))
			v = 1
		}
		vs.Quorum = uint32(v)
	}}
	k["hysteresis"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 0, lvsMaxUint32)
		if !ok {
			p.Diags.Warnf(l.Pos, "Hysteresis %s must be in [0, %d] - ignoring", l.Words[1], uint64(lvsMaxUint32))
			return
		}
		vs.Hysteresis = uint32(v)
	}}
	k["weight"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 1, 2147483647)
		if !ok {
			p.Diags.Warnf(l.Pos, "Virtual server weight %s is outside range 1-2147483647", l.Words[1])
			return
		}
		vs.Weight = uint32(v)
	}}
	k["sorry_server"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		port := ""
		if len(l.Words) >= 3 {
			port = l.Words[2]
		}
		a, pn, ok := p.AddrPort(l.Pos, l.Words[1], port)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid sorry server IP address %s - skipping", l.Words[1])
			return
		}
		vs.SorryServer = &SorryServer{Pos: l.Pos, Address: a, Port: pn, Forwarding: vs.Forwarding, fwdSet: vs.fwdSet}
	}}
	k["sorry_server_inhibit"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if vs.SorryServer == nil {
			p.Diags.Warnf(l.Pos, "Ignoring sorry_server inhibit used before or without sorry_server")
			return
		}
		vs.SorryServer.Inhibit = true
	}}
	k["sorry_server_lvs_method"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if vs.SorryServer == nil {
			p.Diags.Warnf(l.Pos, "sorry_server forwarding used without sorry_server")
			return
		}
		if f, ok := lvsForwarding(p, l, vs.SorryServer.Forwarding, "sorry"); ok {
			vs.SorryServer.Forwarding, vs.SorryServer.fwdSet = f, true
		}
	}}
	k["real_server"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table { return vs.rsKeyword(p, l, s) }}

	// vigil extensions.
	k["rise"] = lvsExtUint("rise", 1, lvsMaxUint32, func(v uint32) { vs.rise = &v })
	k["slow_start"] = lvsExtTimer("slow_start", 0, func(d syntax.Duration) { vs.slow = &d })
	k["down_delay_loop"] = lvsExtTimer("down_delay_loop", 1, func(d syntax.Duration) { vs.downDL = &d })
	k["transition_delay_loop"] = lvsExtTimer("transition_delay_loop", 1, func(d syntax.Duration) { vs.transDL = &d })
	k["panic_threshold"] = lvsExtUint("panic_threshold", 0, 100, func(v uint32) { vs.PanicThreshold = v })
	k["maxconn"] = lvsExtUint("maxconn", 1, math.MaxInt32, func(v uint32) { vs.MaxConn = v })
	k["shutdown_sessions"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "shutdown_sessions"); ok {
			vs.ShutdownSessions = v
		}
	}}
	k["connect_attempt_timeout"] = lvsExtTimer("connect_attempt_timeout", 1000, func(d syntax.Duration) { vs.ConnectAttemptTimeout = d })
	k["connect_retries"] = lvsExtUint("connect_retries", 0, maxConnectRetries, func(v uint32) { vs.retries = &v })
	k["passive_health"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table { return vs.passiveHealth(l) }}
	k["dynamic_real_servers"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table { return vs.dynamicKeyword(p, l, s) }}
	k["announce"] = bgpd.AnnounceKeyword(&vs.Announce)
	k["self_probe"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		vs.SelfProbe, vs.SelfProbeHold = syntax.Duration(time.Second), syntax.Duration(30*time.Second)
		for i, def := range []string{"timeout", "hold"} {
			if len(l.Words) < i+2 {
				break
			}
			d, ok, silent := p.Timer(l, i+1, 1000, 0)
			switch {
			case ok && i == 0:
				vs.SelfProbe = syntax.Duration(d)
			case ok:
				vs.SelfProbeHold = syntax.Duration(d)
			case !silent:
				p.Diags.Warnf(l.Pos, "self_probe %s '%s' invalid - using the default", def, l.Words[i+1])
			}
		}
	}}
	return t
}

// passiveHealth reads a passive_health block, every keyword of which has a default.
func (vs *VirtualServer) passiveHealth(l syntax.Line) *syntax.Table {
	ph := &PassiveHealth{Pos: l.Pos, ConsecutiveFailures: DefaultConsecutiveFailures, MaxEjectionPercent: DefaultMaxEjectionPercent}
	vs.PassiveHealth = ph
	return &syntax.Table{Keywords: map[string]syntax.Keyword{
		"consecutive_failures": lvsExtUint("consecutive_failures", 1, 1000000, func(v uint32) { ph.ConsecutiveFailures = v }),
		"max_ejection_percent": lvsExtUint("max_ejection_percent", 0, 100, func(v uint32) { ph.MaxEjectionPercent = v }),
	}}
}

// lvsExtUint is a vigil extension keyword taking an unsigned number in [min, max].
func lvsExtUint(name string, min, max uint64, set func(uint32)) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if v, ok := p.Unsigned(l.Pos, l.Words[1], min, max); ok {
			set(uint32(v))
		} else {
			p.Diags.Warnf(l.Pos, "%s '%s' invalid - ignoring", name, l.Words[1])
		}
	}}
}

// lvsExtTimer is a vigil extension keyword taking seconds (at least minMicros microseconds).
func lvsExtTimer(name string, minMicros uint64, set func(syntax.Duration)) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if d, ok, silent := p.Timer(l, 1, minMicros, 0); ok {
			set(syntax.Duration(d))
		} else if !silent {
			p.Diags.Warnf(l.Pos, "%s '%s' invalid - ignoring", name, l.Words[1])
		}
	}}
}

// flag handles the scheduler flag keywords. Like Keepalived, sh-* and mh-* flags are checked
// against the scheduler set so far, so lb_algo must come first.
func (vs *VirtualServer) flag(p *syntax.Parser, l syntax.Line) {
	f := l.Words[0]
	add := func() {
		if !slices.Contains(vs.SchedulerFlags, f) {
			vs.SchedulerFlags = append(vs.SchedulerFlags, f)
		}
	}
	switch {
	case f == "ops", f == "flag-1", f == "flag-2", f == "flag-3":
		add()
	case vs.Scheduler == "sh":
		if f == "sh-port" || f == "sh-fallback" {
			add()
		}
	case vs.Scheduler == "mh":
		if f == "mh-port" || f == "mh-fallback" {
			add()
		}
	default:
		p.Diags.Warnf(l.Pos, "%s only applies to sh scheduler - ignoring", f)
	}
}

// granularity reads persistence_granularity: a netmask for IPv4, a prefix length for IPv6. The
// family is the virtual server's so far, else guessed from a '.' in the value.
func (vs *VirtualServer) granularity(p *syntax.Parser, l syntax.Line) {
	if _, ok := p.Need(l, 1); !ok {
		return
	}
	s := l.Words[1]
	f := vs.Family
	if f == "" {
		f = "inet6"
		if strings.Contains(s, ".") {
			f = "inet"
		}
	}
	if f == "inet6" {
		v, ok := p.Unsigned(l.Pos, s, 1, 128)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid IPv6 persistence_granularity specified - %s", s)
			return
		}
		vs.PersistencePrefixLen = int(v)
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			p.Diags.Warnf(l.Pos, "Invalid IPv4 persistence_granularity specified - %s", s)
			return
		}
		vs.PersistenceNetmask = a
	}
	if vs.Family == "" {
		vs.Family = f
	}
	if vs.PersistenceTimeout == 0 {
		vs.PersistenceTimeout = syntax.Duration(360 * time.Second)
	}
}

// forwarding reads "NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]" for a
// virtual, real or sorry server (who). prev is kept on any error, as Keepalived does.
func lvsForwarding(p *syntax.Parser, l syntax.Line, prev Forwarding, who string) (Forwarding, bool) {
	if _, ok := p.Need(l, 1); !ok {
		return prev, false
	}
	var f Forwarding
	switch l.Words[1] {
	case "NAT", "DR", "TUN":
		f.Method = l.Words[1]
	default:
		p.Diags.Warnf(l.Pos, "PARSER : unknown [%s] routing method for %s server.", l.Words[1], who)
		return prev, false
	}
	tunType, csum := "ipip", "nocsum"
	var port uint64
	w := l.Words
	for i := 2; i < len(w); i++ {
		switch w[i] {
		case "type":
			if i+1 == len(w) {
				p.Diags.Warnf(l.Pos, "Missing tunnel type for %s server.", who)
				return prev, false
			}
			switch w[i+1] {
			case "ipip", "gue", "gre":
				tunType = w[i+1]
			default:
				p.Diags.Warnf(l.Pos, "Unknown tunnel type %s for %s server.", w[i+1], who)
				return prev, false
			}
			i++
		case "port":
			if i+1 == len(w) {
				p.Diags.Warnf(l.Pos, "Missing port for %s server gue tunnel.", who)
				return prev, false
			}
			v, ok := p.Unsigned(l.Pos, w[i+1], 1, 65535)
			if !ok {
				p.Diags.Warnf(l.Pos, "Invalid gue tunnel port %s for %s server.", w[i+1], who)
				return prev, false
			}
			port = v
			i++
		case "nocsum", "csum", "remcsum":
			csum = w[i]
		default:
			p.Diags.Warnf(l.Pos, "Invalid tunnel option %s for %s server.", w[i], who)
			return prev, false
		}
	}
	if (tunType == "gue") != (port != 0) {
		p.Diags.Warnf(l.Pos, "gue tunnels require port, otherwise cannot have port.")
		return prev, false
	}
	if tunType == "ipip" && csum != "nocsum" {
		p.Diags.Warnf(l.Pos, "ipip tunnels do not support checksum option.")
		return prev, false
	}
	if tunType == "gre" && csum == "remcsum" {
		p.Diags.Warnf(l.Pos, "gre tunnels do not support remote checksum option.")
		return prev, false
	}
	if f.Method == "TUN" {
		f.TunnelType, f.TunnelPort, f.TunnelChecksum = tunType, uint16(port), csum
	}
	return f, true
}

// close is Keepalived's vs_end_handler: settle the family with the sorry server and, for a
// firewall-mark service, with the real servers.
func (vs *VirtualServer) close(p *syntax.Parser, end syntax.Pos) {
	if ss := vs.SorryServer; ss != nil && ss.Forwarding.Method != "TUN" {
		if vs.Family == "" {
			vs.Family = lvsFamily(ss.Address)
		} else if vs.Family != lvsFamily(ss.Address) {
			p.Diags.Warnf(end, "Address family of virtual server and sorry server %s don't match - skipping sorry server.", ss.Address)
			vs.SorryServer = nil
		}
	}
	if vs.Family == "" && vs.Kind != VSKindGroup {
		if vs.SorryServer != nil {
			vs.Family = lvsFamily(vs.SorryServer.Address)
		}
		mixed := false
		for _, rs := range vs.RealServers {
			if vs.Family == "" {
				vs.Family = lvsFamily(rs.Address)
			} else if vs.Family != lvsFamily(rs.Address) {
				mixed = true
				break
			}
		}
		if mixed || vs.Family == "" {
			vs.Family = "inet"
		}
	}
}

// rsKeyword reads "real_server IP [PORT]" and returns the table for its body.
func (vs *VirtualServer) rsKeyword(p *syntax.Parser, l syntax.Line, s *Section) *syntax.Table {
	if _, ok := p.Need(l, 1); !ok {
		return nil
	}
	port := ""
	if len(l.Words) >= 3 {
		port = l.Words[2]
	}
	a, pn, ok := p.AddrPort(l.Pos, l.Words[1], port)
	if !ok {
		shown := port
		if len(l.Words) < 3 {
			shown = "(null)"
		}
		p.Diags.Warnf(l.Pos, "Invalid real server ip address/port %s/%s - skipping", l.Words[1], shown)
		return nil
	}
	rs := &RealServer{Pos: l.Pos, Address: a, Port: pn, hasPort: pn != 0,
		Forwarding: vs.Forwarding, fwdSet: vs.fwdSet, Checkers: []*Checker{}}
	vs.RealServers = append(vs.RealServers, rs)
	return rs.table(vs, s)
}

func (rs *RealServer) table(vs *VirtualServer, s *Section) *syntax.Table {
	k := make(map[string]syntax.Keyword, 64) // sized: built once per real server (10,000s in big files)
	t := &syntax.Table{Keywords: k, Close: func(p *syntax.Parser, end syntax.Pos) {
		// rs_end_handler: a real server of the other family can only be reached by tunnel.
		if rs.Forwarding.Method == "TUN" && rs.fwdSet {
			return
		}
		if vs.Family == "" {
			vs.Family = lvsFamily(rs.Address)
		} else if vs.Family != lvsFamily(rs.Address) {
			p.Diags.Warnf(end, "Address family of virtual server and real server %s don't match - skipping real server.", rs.Address)
			vs.RealServers = slices.DeleteFunc(vs.RealServers, func(r *RealServer) bool { return r == rs })
		}
	}}
	k["weight"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 0, 2147483647)
		if !ok {
			p.Diags.Warnf(l.Pos, "Real server weight %s is outside range 0-2147483647", l.Words[1])
			return
		}
		rs.Weight, rs.weightSet = uint32(v), true
	}}
	k["lvs_method"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if f, ok := lvsForwarding(p, l, rs.Forwarding, "real"); ok {
			rs.Forwarding, rs.fwdSet = f, true
		}
	}}
	threshold := func(name string, set func(uint32)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if _, ok := p.Need(l, 1); !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, l.Words[1], 0, lvsMaxUint32)
			if !ok {
				p.Diags.Warnf(l.Pos, "Invalid real_server %s '%s' - ignoring", name, l.Words[1])
				return
			}
			set(uint32(v))
		}}
	}
	k["uthreshold"] = threshold("uthreshold", func(v uint32) { rs.UThreshold = v })
	k["lthreshold"] = threshold("lthreshold", func(v uint32) { rs.LThreshold = v })
	k["inhibit_on_failure"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "inhibit_on_failure"); ok {
			rs.inhibit = &v
		}
	}}
	k["notify_up"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if rs.NotifyUp != "" {
			p.Diags.Warnf(l.Pos, "(%s) notify_up script already specified - ignoring %s", vs.groupOrNull(), l.Words[1])
			return
		}
		rs.NotifyUp, rs.NotifyUpPos = lvsRest(l), l.Pos
	}}
	k["notify_down"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if rs.NotifyDown != "" {
			p.Diags.Warnf(l.Pos, "(%s) notify_down script already specified - ignoring %s", vs.groupOrNull(), l.Words[1])
			return
		}
		rs.NotifyDown, rs.NotifyDownPos = lvsRest(l), l.Pos
	}}
	k["alpha"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "alpha"); ok {
			rs.alpha = &v
		}
	}}
	k["retry"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if v, ok := p.Unsigned(l.Pos, l.Words[1], 1, lvsMaxUint32); ok {
			r := uint32(v)
			rs.Retry = &r
		} else {
			p.Diags.Warnf(l.Pos, "retry value invalid - %s", l.Words[1])
		}
	}}
	k["delay_before_retry"] = lvsTimerKw(0, 0, "real server delay_before_retry '%s' invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); rs.DelayBeforeRetry = &v })
	k["warmup"] = lvsTimerKw(0, 0, "real server warmup '%s' invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); rs.Warmup = &v })
	k["connect_timeout"] = lvsTimerKw(1, lvsMaxUint32, "real server connect_timeout %s invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); rs.connTimeout = &v })
	k["delay_loop"] = lvsTimerKw(1, 0, "real server delay_loop '%s' invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); rs.delayLoop = &v })
	k["smtp_alert"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "real_server smtp_alert"); ok {
			rs.smtp = &v
		}
	}}
	k["virtualhost"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "real server virtualhost missing")
			return
		}
		rs.VirtualHost = l.Words[1]
	}}
	k["snmp_name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) != 2 {
			p.Diags.Warnf(l.Pos, "real server snmp_name missing or extra parameters")
		}
	}}

	// vigil extensions.
	k["rise"] = lvsExtUint("rise", 1, lvsMaxUint32, func(v uint32) { rs.rise = &v })
	k["slow_start"] = lvsExtTimer("slow_start", 0, func(d syntax.Duration) { rs.slow = &d })
	k["down_delay_loop"] = lvsExtTimer("down_delay_loop", 1, func(d syntax.Duration) { rs.downDL = &d })
	k["transition_delay_loop"] = lvsExtTimer("transition_delay_loop", 1, func(d syntax.Duration) { rs.transDL = &d })

	lvsAddCheckerKeywords(k, s, vs, rs)
	return t
}

func lvsDigitIn(c byte, base int) bool {
	if base == 16 {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	return c >= '0' && c <= '9'
}

// groupOrNull is the group name as Keepalived prints it in script messages: C's "(null)" for a
// virtual server that is not a group.
func (vs *VirtualServer) groupOrNull() string {
	if vs.Group == "" {
		return "(null)"
	}
	return vs.Group
}

// lvsMaxUint32 is UINT_MAX, the bound Keepalived prints in most of its LVS ranges.
const lvsMaxUint32 = math.MaxUint32

// lvsOptBool reads an optional true/false word after a keyword as syntax.OptBool does, and
// reports a bad word in the checker half's words: "Invalid <what> parameter WORD".
func lvsOptBool(p *syntax.Parser, l syntax.Line, what string) (bool, bool) {
	return syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "Invalid %s parameter %s", what, w) })
}

// lvsRest joins the words after the keyword, for scripts and names that may contain spaces.
func lvsRest(l syntax.Line) string {
	if len(l.Words) < 2 {
		return ""
	}
	return strings.Join(l.Words[1:], " ")
}
