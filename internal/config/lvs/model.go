package lvs

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The LVS side of the model: virtual_server_group, virtual_server, real_server and sorry_server.
// After Parse every value here is the effective one: defaults applied and values inherited from
// the enclosing block exactly where Keepalived inherits them (see finishLVS). Optional values
// that Keepalived leaves to each checker when unset are pointers (null in JSON).

// Section is what the LVS keywords fill, in the order of the file; config.Config holds the
// same lists (VirtualServerGroups, VirtualServers) once Finish has run.
type Section struct {
	Groups         []*VirtualServerGroup
	VirtualServers []*VirtualServer
	// TrackFile finds a track_file block (a VRRP-section block) read so far, for FILE_CHECK:
	// like Keepalived, only those defined before the checker are known. Nil knows none.
	TrackFile func(name string) (weight int, reverse bool, ok bool)
}

// trackFile is TrackFile, or none when it is not set.
func (s *Section) trackFile(name string) (weight int, reverse bool, ok bool) {
	if s.TrackFile == nil {
		return 0, false, false
	}
	return s.TrackFile(name)
}

// VirtualServerGroup is a virtual_server_group block: the addresses and firewall marks that one
// `virtual_server group NAME` serves together.
type VirtualServerGroup struct {
	Pos  syntax.Pos `json:"pos"`
	Name string     `json:"name"`
	// Ranges are the "IP PORT", "IP-LASTBYTE PORT", "IP-IP PORT" and "IP/LEN PORT" lines.
	Ranges []VSGRange `json:"ranges"`
	// Fwmarks are the "fwmark N [inet|inet6]" lines.
	Fwmarks []VSGFwmark `json:"fwmarks"`
}

// MaxGroupMembers bounds the addresses and firewall marks a virtual_server_group is served
// on: each is a listener of the userspace data plane, or a kernel service with every real
// server in it. A larger group is not served, and says so.
const MaxGroupMembers = 256

// Addresses lists every address and port the group's address lines name, ranges expanded, in
// file order; false when there are more than limit (the list then stops at limit).
func (g *VirtualServerGroup) Addresses(limit int) ([]netip.AddrPort, bool) {
	var out []netip.AddrPort
	for _, r := range g.Ranges {
		for a := r.First; a.IsValid() && !r.Last.Less(a); a = a.Next() {
			if len(out) == limit {
				return out, false
			}
			out = append(out, netip.AddrPortFrom(a, r.Port))
		}
	}
	return out, true
}

// VSGRange is one address line of a virtual_server_group: every address from First to Last
// (equal for a single address) on Port (0: any port, only valid with persistence).
type VSGRange struct {
	Pos   syntax.Pos `json:"pos"`
	First netip.Addr `json:"first"`
	Last  netip.Addr `json:"last"`
	Port  uint16     `json:"port"`
}

// VSGFwmark is one "fwmark N [FAMILY]" line of a virtual_server_group.
type VSGFwmark struct {
	Pos  syntax.Pos `json:"pos"`
	Mark uint32     `json:"mark"`
	// Family is "inet", "inet6" or "" when not given.
	Family string `json:"family"`
}

// Forwarding is an LVS forwarding method (lb_kind / lvs_method) with its tunnel options.
type Forwarding struct {
	// Method is "NAT", "DR" or "TUN".
	Method string `json:"method"`
	// TunnelType is "ipip" (the default for TUN), "gue" or "gre"; empty unless Method is TUN.
	TunnelType string `json:"tunnel_type,omitempty"`
	// TunnelPort is the UDP port of a gue tunnel.
	TunnelPort uint16 `json:"tunnel_port,omitempty"`
	// TunnelChecksum is "nocsum" (the default), "csum" or "remcsum".
	TunnelChecksum string `json:"tunnel_checksum,omitempty"`
}

// Virtual server kinds: how the service is identified.
const (
	VSKindAddress = "address" // virtual_server IP PORT
	VSKindFwmark  = "fwmark"  // virtual_server fwmark N
	VSKindGroup   = "group"   // virtual_server group NAME
)

// VirtualServer is a virtual_server block.
type VirtualServer struct {
	Pos syntax.Pos `json:"pos"`
	// Kind is VSKindAddress, VSKindFwmark or VSKindGroup; exactly the matching one of Address
	// and Port, Fwmark, Group is meaningful.
	Kind    string     `json:"kind"`
	Address netip.Addr `json:"address,omitzero"`
	Port    uint16     `json:"port"`
	Fwmark  uint32     `json:"fwmark"`
	Group   string     `json:"group,omitempty"`
	// Family is "inet" or "inet6": from ip_family, the address, the group or the real servers.
	Family string `json:"ip_family"`
	// Protocol is "TCP", "UDP", "SCTP", or "" for a firewall-mark service.
	Protocol string `json:"protocol"`
	// Scheduler is lb_algo / lvs_sched (default "wlc").
	Scheduler string `json:"lb_algo"`
	// SchedulerFlags are the flags given as keywords: "ops", "flag-1", "flag-2", "flag-3",
	// "sh-port", "sh-fallback", "mh-port", "mh-fallback".
	SchedulerFlags []string   `json:"lb_flags"`
	Forwarding     Forwarding `json:"lvs_method"`
	// PersistenceTimeout is 0 when the service is not persistent.
	PersistenceTimeout syntax.Duration `json:"persistence_timeout"`
	// PersistenceNetmask is the IPv4 persistence_granularity (a netmask, not necessarily solid).
	PersistenceNetmask netip.Addr `json:"persistence_netmask,omitzero"`
	// PersistencePrefixLen is the IPv6 persistence_granularity (0: not set).
	PersistencePrefixLen int    `json:"persistence_prefix_len,omitempty"`
	PersistenceEngine    string `json:"persistence_engine,omitempty"`
	HASuspend            bool   `json:"ha_suspend"`
	VirtualHost          string `json:"virtualhost,omitempty"`
	Alpha                bool   `json:"alpha"`
	Omega                bool   `json:"omega"`
	// Quorum is the minimum total weight of live real servers (default 1, reduced to the total
	// weight of the real servers when it exceeds it).
	Quorum     uint32 `json:"quorum"`
	Hysteresis uint32 `json:"hysteresis"`
	QuorumUp   string `json:"quorum_up,omitempty"`
	QuorumDown string `json:"quorum_down,omitempty"`
	// QuorumUpPos and QuorumDownPos are where the scripts were written (not in the JSON form).
	QuorumUpPos, QuorumDownPos syntax.Pos `json:"-"`
	// Weight is the default weight of real servers that set none (default 1).
	Weight           uint32       `json:"weight"`
	InhibitOnFailure bool         `json:"inhibit_on_failure"`
	SMTPAlert        bool         `json:"smtp_alert"`
	SorryServer      *SorryServer `json:"sorry_server"`
	// DelayLoop (default 60 s) and ConnectTimeout (default 5 s) are inherited by real servers.
	DelayLoop      syntax.Duration `json:"delay_loop"`
	ConnectTimeout syntax.Duration `json:"connect_timeout"`
	// Retry, DelayBeforeRetry and Warmup are inherited by real servers; nil leaves each
	// checker its own default.
	Retry            *uint32          `json:"retry"`
	DelayBeforeRetry *syntax.Duration `json:"delay_before_retry"`
	Warmup           *syntax.Duration `json:"warmup"`

	// Rise is a vigil extension: successes in a row before a failed real server is re-admitted
	// (default 1, as Keepalived). Inherited by real servers.
	Rise uint32 `json:"rise"`
	// SlowStart is a vigil extension: the time over which a re-admitted real server's weight
	// ramps up to its configured weight (0: at once). Inherited by real servers.
	SlowStart syntax.Duration `json:"slow_start"`
	// DownDelayLoop is a vigil extension: the check interval while a real server is down (0:
	// the checker's delay_loop). Inherited by real servers.
	DownDelayLoop syntax.Duration `json:"down_delay_loop"`
	// TransitionDelayLoop is a vigil extension: the check interval while a real server is
	// between states, counting retries or rises (0: the checker's delay_loop). Inherited by
	// real servers.
	TransitionDelayLoop syntax.Duration `json:"transition_delay_loop"`
	// PanicThreshold is a vigil extension: when fewer than this percentage of the real servers'
	// weight is alive, every real server is kept in the pool (0: off).
	PanicThreshold uint32 `json:"panic_threshold"`
	// MaxConn is a vigil extension: the connections and UDP flows the userspace data plane
	// holds at once for this virtual server (0: no cap of its own; global_defs maxconn still
	// holds).
	MaxConn uint32 `json:"maxconn"`
	// ShutdownSessions is a vigil extension: reset established connections to a real server
	// that leaves the pool.
	ShutdownSessions bool `json:"shutdown_sessions"`
	// ConnectAttemptTimeout is a vigil extension: how long the userspace data plane waits for
	// one connect to a real server before it tries another (0: derived from the server's
	// recent connect times, see the userspace data plane).
	ConnectAttemptTimeout syntax.Duration `json:"connect_attempt_timeout"`
	// ConnectRetries is a vigil extension: how many more real servers the userspace data plane
	// tries for a new connection when a connect fails (default 2; 0: none, the client's
	// connection is closed at the first failure).
	ConnectRetries uint32 `json:"connect_retries"`
	// PassiveHealth is a vigil extension: eject a real server whose connections fail in the
	// userspace data plane (nil when absent: off).
	PassiveHealth *PassiveHealth `json:"passive_health"`
	// Announce is a vigil extension: announce the address over BGP while the pool has quorum
	// (see BGP); nil when absent.
	Announce *bgpd.Announce `json:"announce"`
	// SelfProbe is a vigil extension: while the virtual address is on this node, connect to it
	// through the node's own data plane every reconcile_interval, with this timeout; a
	// failure makes the virtual server not served (0: off). SelfProbeHold is how long a
	// failure stands once the address has left the node and no probe can run (30 s).
	SelfProbe     syntax.Duration `json:"self_probe"`
	SelfProbeHold syntax.Duration `json:"self_probe_hold"`

	RealServers []*RealServer `json:"real_servers"`
	// Dynamic is a vigil extension: real servers found in DNS (dynamic_real_servers), beside
	// RealServers; nil when absent.
	Dynamic *DynamicRealServers `json:"dynamic_real_servers,omitempty"`

	// group is the virtual_server_group a group virtual server was linked to (Finish).
	group *VirtualServerGroup

	// Values as written, before defaults; nil when the keyword was absent.
	protoSet bool
	fwdSet   bool
	smtpSet  *bool
	rise     *uint32
	retries  *uint32
	slow     *syntax.Duration
	downDL   *syntax.Duration
	transDL  *syntax.Duration
	endPos   syntax.Pos
}

// Defaults of a virtual server's vigil keywords for the userspace data plane's redispatch and
// passive health.
const (
	DefaultConnectRetries      = 2
	DefaultConsecutiveFailures = 5
	DefaultMaxEjectionPercent  = 50
	maxConnectRetries          = 16
)

// PassiveHealth is a virtual server's passive_health block (vigil): the userspace data plane
// counts each real server's failed connections, and after ConsecutiveFailures in a row the
// pool ejects the server until its next check verdict, keeping at most MaxEjectionPercent of
// the real servers ejected at once (at least one; 0: none, failures are only reported).
type PassiveHealth struct {
	Pos                 syntax.Pos `json:"pos"`
	ConsecutiveFailures uint32     `json:"consecutive_failures"`
	MaxEjectionPercent  uint32     `json:"max_ejection_percent"`
}

// SorryServer is a virtual server's sorry_server: the backend used when no real server is alive.
type SorryServer struct {
	Pos     syntax.Pos `json:"pos"`
	Address netip.Addr `json:"address"`
	Port    uint16     `json:"port"`
	// Inhibit is sorry_server_inhibit: keep it in the pool with weight 0 rather than remove it.
	Inhibit    bool       `json:"inhibit"`
	Forwarding Forwarding `json:"lvs_method"`
	fwdSet     bool
}

// RealServer is a real_server block.
type RealServer struct {
	Pos     syntax.Pos `json:"pos"`
	Address netip.Addr `json:"address"`
	// Port is the real server's port; for NAT or an address service with no port given it is
	// the virtual server's port; for a firewall-mark service other than NAT it is 0.
	Port uint16 `json:"port"`
	// Weight is the configured weight (default: the virtual server's weight, 1).
	Weight     uint32     `json:"weight"`
	Forwarding Forwarding `json:"lvs_method"`
	// UThreshold and LThreshold are the connection limits (0: none).
	UThreshold       uint32 `json:"uthreshold"`
	LThreshold       uint32 `json:"lthreshold"`
	InhibitOnFailure bool   `json:"inhibit_on_failure"`
	NotifyUp         string `json:"notify_up,omitempty"`
	NotifyDown       string `json:"notify_down,omitempty"`
	// NotifyUpPos and NotifyDownPos are where the scripts were written (not in the JSON form).
	NotifyUpPos, NotifyDownPos syntax.Pos `json:"-"`
	Alpha                      bool       `json:"alpha"`
	SMTPAlert                  bool       `json:"smtp_alert"`
	VirtualHost                string     `json:"virtualhost,omitempty"`
	// DelayLoop and ConnectTimeout are inherited from the virtual server when not set.
	DelayLoop      syntax.Duration `json:"delay_loop"`
	ConnectTimeout syntax.Duration `json:"connect_timeout"`
	// Retry, DelayBeforeRetry and Warmup come from the real server or else the virtual server;
	// nil leaves each checker its own default.
	Retry            *uint32          `json:"retry"`
	DelayBeforeRetry *syntax.Duration `json:"delay_before_retry"`
	Warmup           *syntax.Duration `json:"warmup"`

	// Rise, SlowStart, DownDelayLoop and TransitionDelayLoop are vigil extensions, as on
	// VirtualServer, inherited from it when not set.
	Rise                uint32          `json:"rise"`
	SlowStart           syntax.Duration `json:"slow_start"`
	DownDelayLoop       syntax.Duration `json:"down_delay_loop"`
	TransitionDelayLoop syntax.Duration `json:"transition_delay_loop"`

	Checkers []*Checker `json:"checkers"`

	hasPort        bool
	weightSet      bool
	fwdSet         bool
	alpha, inhibit *bool
	smtp           *bool
	delayLoop      *syntax.Duration
	connTimeout    *syntax.Duration
	rise           *uint32
	slow           *syntax.Duration
	downDL         *syntax.Duration
	transDL        *syntax.Duration
}

// Name renders the virtual server as Keepalived does in its messages: "[10.0.0.1]:tcp:80",
// "FWM 2" or "[GROUP]:0".
func (vs *VirtualServer) Name() string {
	switch vs.Kind {
	case VSKindGroup:
		return "[" + vs.Group + "]:0"
	case VSKindFwmark:
		return "FWM " + lvsItoa(uint64(vs.Fwmark))
	}
	return lvsTrio(vs.Address, vs.Protocol, vs.Port)
}

// Addresses are the addresses vs is served on: its own, or each of its group's (those of
// ranges included, each once, in file order); none for a firewall mark, or for a group over
// MaxGroupMembers.
func (vs *VirtualServer) Addresses() []netip.Addr {
	switch {
	case vs.Kind == VSKindAddress:
		return []netip.Addr{vs.Address}
	case vs.Kind != VSKindGroup || vs.group == nil:
		return nil
	}
	members, ok := vs.group.Addresses(MaxGroupMembers)
	if !ok {
		return nil
	}
	var out []netip.Addr
	for _, m := range members {
		if !slices.Contains(out, m.Addr()) {
			out = append(out, m.Addr())
		}
	}
	return out
}

// rsName renders a real server as Keepalived does: its address with the virtual server's
// protocol.
func (vs *VirtualServer) rsName(rs *RealServer) string {
	return lvsTrio(rs.Address, vs.Protocol, rs.Port)
}

// Finish is Keepalived's link_vsg_to_vs and validate_check_config: it links virtual servers
// to their groups, drops what Keepalived drops, applies defaults and inheritance, and reports
// what it changed at the position of the block concerned.
func (s *Section) Finish(diags *syntax.Diagnostics, global *globaldefs.Defs) {
	if s.Groups == nil {
		s.Groups = []*VirtualServerGroup{}
	}
	if s.VirtualServers == nil {
		s.VirtualServers = []*VirtualServer{}
	}
	groups := GroupsByName(s.Groups)
	globalSMTP := global.SMTPAlertChecker
	if globalSMTP == nil {
		globalSMTP = global.SMTPAlert
	}
	kept := s.VirtualServers[:0]
	for _, vs := range s.VirtualServers {
		var g *VirtualServerGroup
		if vs.Kind == VSKindGroup {
			g = groups[vs.Group]
			if g == nil || !vs.linkGroup(diags, g) {
				if g == nil {
					diags.Warnf(vs.Pos, "Virtual server group %s specified but not configured - ignoring virtual server %s", vs.Group, vs.Name())
				}
				continue
			}
			vs.group = g
		}
		if vs.validate(diags, g, globalSMTP) {
			kept = append(kept, vs)
		}
	}
	s.VirtualServers = kept
}

// GroupsByName indexes groups by name; of two with one name, the first counts, as Keepalived
// links a virtual server to the first.
func GroupsByName(groups []*VirtualServerGroup) map[string]*VirtualServerGroup {
	out := make(map[string]*VirtualServerGroup, len(groups))
	for _, g := range groups {
		if _, dup := out[g.Name]; !dup {
			out[g.Name] = g
		}
	}
	return out
}

// linkGroup checks the families of a group and its virtual server; false drops the server.
func (vs *VirtualServer) linkGroup(diags *syntax.Diagnostics, g *VirtualServerGroup) bool {
	v4, v6, noFamily := false, false, false
	for _, r := range g.Ranges {
		if r.First.Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	for _, f := range g.Fwmarks {
		switch f.Family {
		case "inet":
			v4 = true
		case "inet6":
			v6 = true
		default:
			noFamily = true
		}
	}
	gf := ""
	if v4 != v6 {
		gf = "inet6"
		if v4 {
			gf = "inet"
		}
	}
	switch {
	case v4 && v6 && vs.Family != "":
		diags.Warnf(vs.Pos, "%s: virtual server group with IPv4 & IPv6 doesn't match virtual server %s - ignoring", g.Name, vs.Name())
		return false
	case (v4 && vs.Family == "inet6") || (v6 && vs.Family == "inet"):
		diags.Warnf(vs.Pos, "%s: address family doesn't match virtual server %s - ignoring", g.Name, vs.Name())
		return false
	case gf != "":
		vs.Family = gf
	case vs.Family == "" && noFamily:
		diags.Warnf(vs.Pos, "%s: Virtual server %s address family cannot be determined, defaulting to IPv4", g.Name, vs.Name())
		vs.Family = "inet"
	}
	if vs.Family == "" {
		vs.Family = "inet"
	}
	return true
}

// validate applies validate_check_config to one virtual server; false drops it.
func (vs *VirtualServer) validate(diags *syntax.Diagnostics, g *VirtualServerGroup, globalSMTP *bool) bool {
	at := vs.Pos
	if len(vs.RealServers) == 0 && vs.Dynamic == nil {
		diags.Warnf(at, "Virtual server %s has no real servers - ignoring", vs.Name())
		return false
	}
	hasFwmarks := vs.Kind == VSKindFwmark || (g != nil && len(g.Fwmarks) > 0)
	hasRanges := vs.Kind == VSKindAddress || (g != nil && len(g.Ranges) > 0)
	if vs.HASuspend && hasFwmarks {
		diags.Warnf(at, "Virtual server %s: cannot use ha_suspend with fwmarks - clearing ha_suspend", vs.Name())
		vs.HASuspend = false
	}
	if hasRanges {
		if vs.Protocol == "" {
			diags.Warnf(at, "Virtual server %s: no protocol set - defaulting to UDP", vs.Name())
			vs.Protocol = "UDP"
		}
		if i := slices.Index(vs.SchedulerFlags, "ops"); i >= 0 && vs.Protocol != "UDP" {
			diags.Warnf(at, "Virtual server %s: one packet scheduling requires UDP - resetting", vs.Name())
			vs.SchedulerFlags = slices.Delete(vs.SchedulerFlags, i, i+1)
		}
		if vs.PersistenceTimeout == 0 && vs.Kind == VSKindAddress && vs.Port == 0 {
			diags.Warnf(at, "Virtual server %s: zero port only valid for persistent services - setting", vs.Name())
			vs.PersistenceTimeout = syntax.Duration(360 * time.Second)
		}
	}
	if vs.PersistenceTimeout == 0 && g != nil {
		for _, r := range g.Ranges {
			if r.Port == 0 {
				diags.Warnf(at, "Virtual server %s: zero port only valid for persistent services - setting", vs.Name())
				vs.PersistenceTimeout = syntax.Duration(360 * time.Second)
				break
			}
		}
	}
	if vs.protoSet && vs.Protocol != "" && ((g != nil && len(g.Ranges) == 0 && len(g.Fwmarks) > 0) || vs.Kind == VSKindFwmark) {
		diags.Warnf(at, "Warning: Virtual server %s: protocol specified for fwmark - protocol will be ignored", vs.Name())
		vs.Protocol = ""
	}
	if vs.Scheduler == "" {
		diags.Warnf(at, "Virtual server %s: no scheduler set, setting default 'wlc'", vs.Name())
		vs.Scheduler = "wlc"
	}
	// smtp_alert: the block's own, else global_defs smtp_alert_checker, else smtp_alert, else
	// off for virtual servers and on for real servers (Keepalived keeps that asymmetry).
	vs.SMTPAlert = derefOr(vs.smtpSet, derefOr(globalSMTP, false))

	vs.Rise = derefOr(vs.rise, 1)
	vs.ConnectRetries = derefOr(vs.retries, DefaultConnectRetries)
	vs.SlowStart = derefOr(vs.slow, 0)
	vs.DownDelayLoop = derefOr(vs.downDL, 0)
	vs.TransitionDelayLoop = derefOr(vs.transDL, 0)

	setNAT := func() {
		if !vs.fwdSet {
			diags.Warnf(at, "Virtual server %s: no forwarding method set, setting default NAT", vs.Name())
			vs.Forwarding, vs.fwdSet = Forwarding{Method: "NAT"}, true
		}
	}
	var weightSum uint64
	kept := vs.RealServers[:0]
	for _, rs := range vs.RealServers {
		dup := slices.ContainsFunc(kept, func(r *RealServer) bool { return r.Address == rs.Address && r.Port == rs.Port })
		if dup {
			diags.Warnf(rs.Pos, "VS %s: real server %s is duplicated - removing second rs", vs.Name(), vs.rsName(rs))
			continue
		}
		kept = append(kept, rs)
		if !rs.fwdSet {
			setNAT()
		}
		vs.inherit(rs, globalSMTP)
		weightSum += uint64(rs.Weight)

		if ss := vs.SorryServer; ss != nil && ss.Address == rs.Address && ss.Port == rs.Port && ss.Inhibit != rs.InhibitOnFailure {
			verb := "clear"
			if rs.InhibitOnFailure {
				verb = "sett"
			}
			diags.Warnf(at, "Virtual server %s: real server %s matches sorry server, but inhibit setting differs, %sing on sorry server", vs.Name(), vs.rsName(rs), verb)
			ss.Inhibit = rs.InhibitOnFailure
		}
	}
	vs.RealServers = kept
	if d := vs.Dynamic; d != nil {
		if !d.Template.fwdSet {
			setNAT()
		}
		vs.inherit(d.Template, globalSMTP)
	}
	if ss := vs.SorryServer; ss != nil && !ss.fwdSet {
		setNAT()
		ss.Forwarding, ss.fwdSet = vs.Forwarding, true
	}
	if uint64(vs.Quorum) > weightSum && vs.Dynamic == nil {
		// With members found in DNS the pool lowers quorum to the weight there is, as it
		// comes and goes.
		diags.Warnf(at, "Warning - quorum %d for %s exceeds total weight of real servers %d, reducing quorum to %d", vs.Quorum, vs.Name(), weightSum, weightSum)
		vs.Quorum = uint32(weightSum)
	}
	if vs.Hysteresis >= vs.Quorum {
		// Keepalived computes quorum - 1 in unsigned arithmetic: a quorum of 0 wraps.
		h := vs.Quorum - 1
		diags.Warnf(at, "Virtual server %s: hysteresis %d >= quorum %d; setting hysteresis to %d", vs.Name(), vs.Hysteresis, vs.Quorum, h)
		vs.Hysteresis = h
	}
	vs.fixPorts(diags, g)
	if !vs.fwdSet {
		vs.Forwarding = Forwarding{Method: "NAT"}
	}
	for _, rs := range vs.RealServers {
		rs.resolveCheckers(vs)
	}
	if d := vs.Dynamic; d != nil {
		d.Template.resolveCheckers(vs)
	}
	return true
}

// inherit gives rs what a real server inherits from its virtual server (and global_defs'
// smtp_alert) where it set none itself, as validate_check_config does.
func (vs *VirtualServer) inherit(rs *RealServer, globalSMTP *bool) {
	if !rs.fwdSet {
		rs.Forwarding, rs.fwdSet = vs.Forwarding, true
	}
	rs.Alpha = derefOr(rs.alpha, vs.Alpha)
	rs.InhibitOnFailure = derefOr(rs.inhibit, vs.InhibitOnFailure)
	if rs.Retry == nil {
		rs.Retry = vs.Retry
	}
	rs.ConnectTimeout = derefOr(rs.connTimeout, vs.ConnectTimeout)
	rs.DelayLoop = derefOr(rs.delayLoop, vs.DelayLoop)
	if rs.Warmup == nil {
		rs.Warmup = vs.Warmup
	}
	if rs.DelayBeforeRetry == nil {
		rs.DelayBeforeRetry = vs.DelayBeforeRetry
	}
	if !rs.weightSet {
		rs.Weight = vs.Weight
	}
	rs.SMTPAlert = derefOr(rs.smtp, derefOr(globalSMTP, true))
	rs.Rise = derefOr(rs.rise, vs.Rise)
	rs.SlowStart = derefOr(rs.slow, vs.SlowStart)
	rs.DownDelayLoop = derefOr(rs.downDL, vs.DownDelayLoop)
	rs.TransitionDelayLoop = derefOr(rs.transDL, vs.TransitionDelayLoop)
}

// fixPorts reconciles real and sorry server ports with the service, as Keepalived does: with
// NAT a real server may use any port; otherwise it must use the service's port, or none for a
// firewall mark.
func (vs *VirtualServer) fixPorts(diags *syntax.Diagnostics, g *VirtualServerGroup) {
	ss := vs.SorryServer
	if g != nil {
		if len(g.Fwmarks) > 0 {
			for _, rs := range vs.RealServers {
				if rs.Forwarding.Method != "NAT" && rs.Port != 0 {
					diags.Warnf(rs.Pos, "WARNING - fwmark virtual server %s, real server %s has port specified - port will be ignored", vs.Name(), vs.rsName(rs))
				}
			}
			if ss != nil && ss.Forwarding.Method != "NAT" && ss.Port != 0 {
				diags.Warnf(ss.Pos, "WARNING - fwmark virtual server %s, sorry server has port specified - port will be ignored", vs.Name())
			}
		}
		for _, r := range g.Ranges {
			entry := fmt.Sprintf("%s,%d", r.First, r.Port)
			if r.First != r.Last {
				entry = fmt.Sprintf("%s-%s,%d", r.First, r.Last, r.Port)
			}
			for _, rs := range vs.RealServers {
				if rs.Forwarding.Method != "NAT" && rs.Port != 0 && rs.Port != r.Port {
					diags.Warnf(rs.Pos, "virtual server %s:[%s] and real server %s ports don't match", vs.Name(), entry, vs.rsName(rs))
				}
			}
			if ss != nil && ss.Forwarding.Method != "NAT" && ss.Port != 0 && ss.Port != r.Port {
				diags.Warnf(ss.Pos, "WARNING - virtual server %s, sorry server has port specified - port will be ignored", vs.Name())
			}
		}
		return
	}
	fwmark := vs.Kind == VSKindFwmark
	for _, rs := range vs.RealServers {
		switch {
		case rs.Forwarding.Method == "NAT":
			if !fwmark && rs.Port == 0 {
				rs.Port = vs.Port
			}
		case fwmark:
			if rs.Port != 0 {
				diags.Warnf(rs.Pos, "WARNING - fwmark virtual server %s, real server %s has port specified - clearing", vs.Name(), vs.rsName(rs))
				rs.Port = 0
			}
		case rs.Port == 0:
			rs.Port = vs.Port
		case rs.Port != vs.Port:
			diags.Warnf(rs.Pos, "WARNING - virtual server %s and real server %s ports don't match - resetting", vs.Name(), vs.rsName(rs))
			rs.Port = vs.Port
		}
	}
	if ss != nil && ss.Forwarding.Method != "NAT" {
		switch {
		case fwmark:
			if ss.Port != 0 {
				diags.Warnf(ss.Pos, "WARNING - virtual server %s, sorry server has port specified - clearing", vs.Name())
				ss.Port = 0
			}
		case ss.Port == 0:
			ss.Port = vs.Port
		case ss.Port != vs.Port:
			diags.Warnf(ss.Pos, "WARNING - virtual server %s and sorry server ports don't match - resetting", vs.Name())
			ss.Port = vs.Port
		}
	}
}

// resolveCheckers expands legacy SMTP host blocks into checkers of their own and gives every
// checker its effective timing and connection, as validate_check_config does: the checker's own
// value, else the real server's (itself inherited from the virtual server), else the kind's
// default.
func (rs *RealServer) resolveCheckers(vs *VirtualServer) {
	var out []*Checker
	for _, c := range rs.Checkers {
		out = append(out, c)
		if c.hosts == nil {
			continue
		}
		for _, h := range c.hosts() {
			// The options are shared: nothing changes them once the section is read.
			dup := *c
			dup.Pos, dup.conn, dup.hosts = h.pos, h, nil
			out = append(out, &dup)
		}
		c.hosts = nil
	}
	if out == nil {
		out = []*Checker{}
	}
	rs.Checkers = out
	for _, c := range rs.Checkers {
		c.resolve(vs, rs)
	}
}

func (c *Checker) resolve(vs *VirtualServer, rs *RealServer) {
	c.DelayLoop = derefOr(c.delayLoop, rs.DelayLoop)
	defRetry, defDBR := uint32(1), syntax.Duration(time.Second)
	if c.kind.Defaults != nil {
		r, d := c.kind.Defaults(c.DelayLoop.D())
		defRetry, defDBR = r, syntax.Duration(d)
	}
	c.Alpha = derefOr(c.alpha, rs.Alpha)
	c.Retry = derefOr(c.retry, derefOr(rs.Retry, defRetry))
	if c.kind.NoRetry {
		// FILE_CHECK takes none of the common options, and Keepalived acts on the first value
		// it reads: no retry, whatever the real or virtual server says.
		c.Retry = 0
	}
	c.Warmup = derefOr(c.warmup, derefOr(rs.Warmup, c.DelayLoop))
	c.DelayBeforeRetry = derefOr(c.dbr, derefOr(rs.DelayBeforeRetry, defDBR))
	c.Rise = rs.Rise
	c.DownDelayLoop, c.TransitionDelayLoop = rs.DownDelayLoop, rs.TransitionDelayLoop
	if c.DownDelayLoop == 0 {
		c.DownDelayLoop = c.DelayLoop
	}
	if c.TransitionDelayLoop == 0 {
		c.TransitionDelayLoop = c.DelayLoop
	}
	if cr := c.conn; cr != nil {
		conn := &Connection{Address: cr.addr, Port: cr.port, BindAddress: cr.bind, BindPort: cr.bindPort,
			BindIf: cr.bindIf, Fwmark: cr.fwmark, Timeout: derefOr(cr.timeout, rs.ConnectTimeout)}
		if !conn.Address.IsValid() {
			conn.Address = rs.Address
		}
		if conn.Port == 0 {
			conn.Port = rs.Port
		}
		c.Connection = conn
	}
	if c.resolveOptions != nil {
		c.resolveOptions(check.Server{VirtualHost: cmp.Or(rs.VirtualHost, vs.VirtualHost), DelayLoop: vs.DelayLoop.D()})
	}
}

func lvsItoa(v uint64) string { return strconv.FormatUint(v, 10) }

func derefOr[T any](v *T, def T) T {
	if v != nil {
		return *v
	}
	return def
}

// lvsTrio renders an address, protocol and port as Keepalived's inet_sockaddrtotrio does:
// "[10.0.0.1]:tcp:80".
func lvsTrio(a netip.Addr, proto string, port uint16) string {
	if proto == "" {
		proto = "none"
	}
	return fmt.Sprintf("[%s]:%s:%d", a, strings.ToLower(proto), port)
}
