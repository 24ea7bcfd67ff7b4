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
	steer      *dataplane.Service
	// unsteered says why steer is nil.
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
		p.steer, p.unsteered = d.steerFor(vs, name)
		out.list = append(out.list, p)
		out.byName[name] = p
		out.order = append(out.order, name)
	}
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

// steerFor returns what the data plane serves for vs, or nil and why it cannot serve it.
func (d *Half) steerFor(vs *lvs.VirtualServer, name string) (*dataplane.Service, string) {
	switch {
	case vs.Kind == lvs.VSKindFwmark && d.dpName == "userspace":
		d.log.Warn("the userspace data plane cannot serve fwmark virtual servers (use dataplane nftables or ipvs); checks run, traffic is not steered", "vs", name)
		return nil, "not steered: the userspace data plane cannot serve fwmark virtual servers (use dataplane nftables or ipvs)"
	case vs.Kind != lvs.VSKindAddress && vs.Kind != lvs.VSKindFwmark:
		d.log.Warn("the data plane cannot serve virtual_server groups yet; checks run, traffic is not steered", "vs", name, "dataplane", d.dpName)
		return nil, "not steered: no data plane serves virtual_server groups yet"
	}
	proto := dataplane.TCP
	switch strings.ToUpper(vs.Protocol) {
	case "UDP":
		proto = dataplane.UDP
	case "", "TCP":
	default:
		d.log.Warn("the data plane serves TCP and UDP only; checks run, traffic is not steered", "vs", name, "protocol", vs.Protocol, "dataplane", d.dpName)
		return nil, "not steered: the data plane serves TCP and UDP only, not " + vs.Protocol
	}
	var listen netip.AddrPort
	if vs.Kind == lvs.VSKindAddress {
		listen = netip.AddrPortFrom(vs.Address, vs.Port)
	}
	return &dataplane.Service{
		Name: name, Protocol: proto, Listen: listen, Fwmark: vs.Fwmark,
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
