package lb

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/probe"
)

// thresholds are a real server's uthreshold and lthreshold.
type thresholds struct{ upper, lower int }

// planned is one virtual server as the new configuration wants it.
type planned struct {
	name       string
	vs         *lvs.VirtualServer
	spec       pool.ServiceSpec
	addrs      map[string]netip.AddrPort
	thresholds map[string]thresholds
	// steers are the data plane services that serve the virtual server, without their
	// backends: one, or one per member of a virtual_server_group; none when the data plane
	// cannot serve it, and unsteered then says why.
	steers    []*dataplane.Service
	unsteered string
	jobs      []plannedJob
	// dynamic is the virtual server's dynamic_real_servers, nil without one.
	dynamic *dynamicPlan
}

type plannedJob struct {
	job    probe.Job
	server string
	check  int
}

func (p *planned) jobIDs() []string {
	ids := make([]string, len(p.jobs))
	for i, j := range p.jobs {
		ids[i] = j.job.ID
	}
	return ids
}

type plan struct {
	list     []*planned
	byName   map[string]*planned
	order    []string
	warnings []config.Diagnostic
}

func jobID(vs, rs string, i int) string { return fmt.Sprintf("%s|%s|%d", vs, rs, i) }

// plan turns a configuration into services, pool specs and jobs, validating everything before
// anything runs, so that a reload either applies whole or not at all. Each problem is a
// *syntax.PosError; on error the plan is incomplete and must not be run, but its warnings hold
// (Validate reports both).
func (d *Half) plan(cfg *config.Config) (*plan, error) {
	f := &checkerFactory{cfg: cfg, runner: d.runner, pingers: d.pingers}
	out := &plan{byName: map[string]*planned{}}
	groups := lvs.GroupsByName(cfg.VirtualServerGroups)
	// servedBy is which virtual server each address (or firewall mark) is served for: two
	// cannot share one, and a group's addresses may collide with another's.
	servedBy := map[string]string{}
	var problems []error
	for _, vs := range cfg.VirtualServers {
		name := vs.Name()
		if _, dup := out.byName[name]; dup {
			problems = append(problems, syntax.ErrorAt(vs.Pos, "virtual server %s defined twice", name))
			continue
		}
		problems = append(problems, f.notifyScripts(vs)...)
		if vs.MaxConn > 0 && d.dpName != "userspace" {
			f.warnings = append(f.warnings, config.Diagnostic{Pos: vs.Pos, Severity: config.Warning,
				Message: "maxconn: the " + d.dpName + " data plane's connections cost vigil no descriptor and are not capped; maxconn applies to the userspace data plane"})
		}
		if usesRedispatch(vs) && d.dpName != "userspace" {
			f.warnings = append(f.warnings, config.Diagnostic{Pos: vs.Pos, Severity: config.Warning,
				Message: "passive_health, connect_retries, connect_attempt_timeout: the " + d.dpName + " data plane forwards the client's own connection and sees no connect fail; they apply to the userspace data plane"})
		}
		p := &planned{name: name, vs: vs, addrs: map[string]netip.AddrPort{}, thresholds: map[string]thresholds{}}
		p.spec = pool.ServiceSpec{
			Name: name, Quorum: int(vs.Quorum), Hysteresis: int(vs.Hysteresis), QuorumUp: vs.QuorumUp,
			QuorumDown: vs.QuorumDown, Omega: vs.Omega, HASuspend: vs.HASuspend, PanicThreshold: int(vs.PanicThreshold),
			Passive: passiveSpec(vs),
		}
		for _, rs := range vs.RealServers {
			spec, jobs, errs := d.planServer(f, name, rs, p.addrs, p.thresholds)
			problems = append(problems, errs...)
			p.jobs = append(p.jobs, jobs...)
			p.spec.Servers = append(p.spec.Servers, spec)
		}
		if vs.Dynamic != nil {
			// Members found in DNS are real servers like the others: a reload keeps them,
			// with checks made from the block's template as it now reads.
			dp, err := planDynamic(vs)
			if err != nil {
				problems = append(problems, err)
			}
			p.dynamic = dp
			members := d.membersLocked(name)
			for _, addr := range members {
				if _, static := p.addrs[addr.String()]; static {
					continue
				}
				spec, jobs, errs := d.planServer(f, name, vs.Dynamic.Member(addr), p.addrs, p.thresholds)
				problems = append(problems, errs...)
				p.jobs = append(p.jobs, jobs...)
				p.spec.Servers = append(p.spec.Servers, spec)
			}
			if len(members) == 0 {
				// Without a member yet, the block's checkers are built for one that is not
				// there, so that -t and a start refuse them at their lines rather than the
				// first member's arrival.
				_, _, errs := d.planServer(f, name, vs.Dynamic.Member(standIn(vs)), map[string]netip.AddrPort{}, map[string]thresholds{})
				problems = append(problems, errs...)
			}
		}
		if ss := vs.SorryServer; ss != nil {
			addr := netip.AddrPortFrom(ss.Address, ss.Port)
			id := "sorry " + addr.String()
			p.addrs[id] = addr
			p.spec.Sorry = &pool.SorrySpec{ID: id, Inhibit: ss.Inhibit}
		}
		if err := p.spec.Validate(); err != nil {
			problems = append(problems, syntax.ErrorAt(vs.Pos, "virtual server %s: %v", name, err))
			continue
		}
		p.steers, p.unsteered = d.steersFor(vs, name, groups[vs.Group])
		for _, s := range p.steers {
			key := steerKey(s)
			if other, taken := servedBy[key]; taken {
				problems = append(problems, syntax.ErrorAt(vs.Pos, "virtual server %s: %s is served for virtual server %s already", name, key, other))
				continue
			}
			servedBy[key] = name
		}
		if p.unsteered != "" {
			f.warnings = append(f.warnings, config.Diagnostic{Pos: vs.Pos, Severity: config.Warning,
				Message: "virtual server " + name + " is " + p.unsteered + "; its checks run"})
		}
		out.list = append(out.list, p)
		out.byName[name] = p
		out.order = append(out.order, name)
	}
	f.securityViolation()
	out.warnings = f.warnings
	if len(problems) > 0 {
		return out, joinProblems(problems)
	}
	return out, nil
}

// planServer plans one real server of virtual server vs: its address and thresholds (into
// addrs and thresholds), its pool spec and its checkers' jobs, or why a checker cannot run.
func (d *Half) planServer(f *checkerFactory, vs string, rs *lvs.RealServer, addrs map[string]netip.AddrPort, ths map[string]thresholds) (pool.ServerSpec, []plannedJob, []error) {
	addr := netip.AddrPortFrom(rs.Address, rs.Port)
	id := addr.String()
	addrs[id] = addr
	if rs.UThreshold > 0 || rs.LThreshold > 0 {
		ths[id] = thresholds{int(rs.UThreshold), int(rs.LThreshold)}
		if d.dpName == "nftables" {
			f.warnings = append(f.warnings, config.Diagnostic{Pos: rs.Pos, Severity: config.Warning,
				Message: "uthreshold/lthreshold: the nftables data plane has no connection thresholds; they are not enforced (dataplane userspace and ipvs enforce them)"})
		}
	}
	spec := pool.ServerSpec{ID: id, Weight: int(rs.Weight), InhibitOnFailure: rs.InhibitOnFailure, Rise: int(rs.Rise),
		SlowStart: rs.SlowStart.D(), NotifyUp: rs.NotifyUp, NotifyDown: rs.NotifyDown}
	var jobs []plannedJob
	var problems []error
	for _, c := range rs.Checkers {
		ck, err := f.build(rs, c)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		i := len(spec.Checks)
		spec.Checks = append(spec.Checks, pool.CheckSpec{Name: checkName(spec.Checks, ck), Alpha: c.Alpha})
		jobs = append(jobs, plannedJob{job: jobFor(jobID(vs, id, i), ck, c), server: id, check: i})
	}
	return spec, jobs, problems
}

// MaxInFlight bounds the probes running at once by the size of the configuration at start:
// one slot per 8 checkers, at least 512 and at most 16,384 (each running probe holds a socket,
// which the descriptor budget reserves). A fixed 512 capped 20,000 HTTP_GETs a second at about
// 8,500 when each took 60 ms.
func MaxInFlight(cfg *config.Config) int {
	checks := 0
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.RealServers {
			checks += len(rs.Checkers)
		}
	}
	return min(max(512, checks/8), 16384)
}

// fileCheckPoll is how often a FILE_CHECK reads its file.
const fileCheckPoll = time.Second

// jobFor turns a checker block's timing into a scheduler job.
func jobFor(id string, ck probe.Checker, c *lvs.Checker) probe.Job {
	j := probe.Job{
		ID: id, Checker: ck, Interval: c.DelayLoop.D(), Retry: int(c.Retry), DelayBeforeRetry: c.DelayBeforeRetry.D(),
		Warmup: c.Warmup.D(), DownInterval: c.DownDelayLoop.D(), TransitionInterval: c.TransitionDelayLoop.D(), StartDown: c.Alpha,
	}
	if own, ok := c.Options.(check.OwnTimeout); ok {
		j.Timeout = own.ProbeTimeout()
	} else if c.Connection != nil {
		j.Timeout = c.Connection.Timeout.D()
	}
	if j.Interval <= 0 {
		j.Interval = 60 * time.Second
	}
	if c.Kind == lvs.CheckFile {
		// Keepalived watches a FILE_CHECK's file with inotify and acts at once; reading a
		// small file every fileCheckPoll is as prompt in practice, whatever delay_loop says.
		j.Interval = min(j.Interval, fileCheckPoll)
		if j.DownInterval > 0 {
			j.DownInterval = min(j.DownInterval, fileCheckPoll)
		}
		if j.TransitionInterval > 0 {
			j.TransitionInterval = min(j.TransitionInterval, fileCheckPoll)
		}
	}
	if j.Warmup <= 0 {
		j.Warmup = j.Interval
	}
	return j
}

// groupMemberSep joins a virtual server's name and a group member's address in the name of
// the data plane service that serves that member: "[web]:0 @ 192.0.2.10:80".
const groupMemberSep = " @ "

// GroupMemberName names the part of group virtual server vs that serves member (an address,
// an address and port, "fwmark N"): its data plane service, its BGP route.
func GroupMemberName(vs, member string) string { return vs + groupMemberSep + member }

// ownerOf is the virtual server a data plane service serves: its own name, or the group's
// for a group member's service.
func ownerOf(dpService string) string {
	if i := strings.LastIndex(dpService, groupMemberSep); i >= 0 {
		return dpService[:i]
	}
	return dpService
}

// steersFor returns what the data plane serves for vs (g is its virtual_server_group, nil
// unless vs is a group's), or none and why it cannot serve it. A group is served whole or
// not at all: each of its addresses and firewall marks is a service of its own, with the
// same real servers, as Keepalived makes an IPVS service of each.
func (d *Half) steersFor(vs *lvs.VirtualServer, name string, g *lvs.VirtualServerGroup) ([]*dataplane.Service, string) {
	unsteered := func(why string) ([]*dataplane.Service, string) {
		d.log.Warn(why+"; checks run, traffic is not steered", "vs", name, "dataplane", d.dpName)
		return nil, "not steered: " + why
	}
	one := func(svc *dataplane.Service, why string) ([]*dataplane.Service, string) {
		if svc == nil {
			return unsteered(why)
		}
		return []*dataplane.Service{svc}, ""
	}
	switch vs.Kind {
	case lvs.VSKindAddress:
		return one(d.steerFor(vs, name, netip.AddrPortFrom(vs.Address, vs.Port), 0))
	case lvs.VSKindFwmark:
		return one(d.steerFor(vs, name, netip.AddrPort{}, vs.Fwmark))
	case lvs.VSKindGroup:
	default:
		return unsteered("virtual server kind " + vs.Kind + " unknown")
	}
	if g == nil {
		return unsteered("virtual_server_group " + vs.Group + " not found")
	}
	addrs, ok := g.Addresses(lvs.MaxGroupMembers)
	if !ok || len(addrs)+len(g.Fwmarks) > lvs.MaxGroupMembers {
		return unsteered(fmt.Sprintf("virtual_server_group %s has more than %d addresses and firewall marks", g.Name, lvs.MaxGroupMembers))
	}
	var out []*dataplane.Service
	seen := map[netip.AddrPort]bool{}
	for _, a := range addrs {
		if seen[a] { // written twice in the group: one service
			continue
		}
		seen[a] = true
		if a.Port() == 0 {
			return unsteered(fmt.Sprintf("virtual_server_group %s: %s with port 0 (every port) is not served", g.Name, a.Addr()))
		}
		svc, why := d.steerFor(vs, GroupMemberName(name, a.String()), a, 0)
		if svc == nil {
			return unsteered(why)
		}
		out = append(out, svc)
	}
	marks := map[uint32]bool{}
	for _, f := range g.Fwmarks {
		if marks[f.Mark] {
			continue
		}
		marks[f.Mark] = true
		svc, why := d.steerFor(vs, GroupMemberName(name, fmt.Sprintf("fwmark %d", f.Mark)), netip.AddrPort{}, f.Mark)
		if svc == nil {
			return unsteered(why)
		}
		out = append(out, svc)
	}
	return out, ""
}

// steerKey names what s takes traffic on: its protocol and address, or its firewall mark.
func steerKey(s *dataplane.Service) string {
	if s.Fwmark != 0 {
		return fmt.Sprintf("fwmark %d", s.Fwmark)
	}
	return fmt.Sprintf("%s %s", strings.ToUpper(string(s.Protocol)), s.Listen)
}

// steerFor returns the data plane service named name that serves vs on listen, or on packets
// with fwmark when it is not 0; nil and why when the data plane cannot.
func (d *Half) steerFor(vs *lvs.VirtualServer, name string, listen netip.AddrPort, fwmark uint32) (*dataplane.Service, string) {
	if fwmark != 0 && d.dpName == "userspace" {
		return nil, "the userspace data plane cannot serve fwmark virtual servers (use dataplane nftables or ipvs)"
	}
	proto := dataplane.TCP
	switch strings.ToUpper(vs.Protocol) {
	case "UDP":
		proto = dataplane.UDP
	case "", "TCP":
	default:
		return nil, "the data plane serves TCP and UDP only, not " + vs.Protocol
	}
	return &dataplane.Service{
		Name: name, Protocol: proto, Listen: listen, Fwmark: fwmark,
		Scheduler: dataplane.Scheduler(vs.Scheduler), Persistence: vs.PersistenceTimeout.D(), ShutdownSessions: vs.ShutdownSessions,
		PersistenceGranularity: persistenceBits(vs), Forwarding: vs.Forwarding.Method,
		HashPort: slices.Contains(vs.SchedulerFlags, "sh-port") || slices.Contains(vs.SchedulerFlags, "mh-port"),
		MaxConn:  int(vs.MaxConn), ConnectAttempts: int(vs.ConnectRetries) + 1, ConnectTimeout: vs.ConnectAttemptTimeout.D(),
	}, ""
}

// persistenceBits is persistence_granularity as a prefix length: IPv6 gives one; an IPv4 netmask
// counts its leading ones (IPVS applies the mask; a non-contiguous mask is rounded down to its
// prefix). 0 means the whole address.
func persistenceBits(vs *lvs.VirtualServer) int {
	if vs.PersistencePrefixLen > 0 {
		return vs.PersistencePrefixLen
	}
	if m := vs.PersistenceNetmask; m.Is4() {
		b := m.As4()
		return bits.LeadingZeros32(^binary.BigEndian.Uint32(b[:]))
	}
	return 0
}
