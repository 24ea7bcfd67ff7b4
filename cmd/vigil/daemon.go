package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/daemon"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// Keepalived's paths for SIGUSR1 (state) and SIGUSR2 (statistics) dumps.
const (
	dumpDataPath  = "/tmp/keepalived.data"
	dumpStatsPath = "/tmp/keepalived.stats"
)

func newLogger(o options, cfg *config.Config, stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if o.logDetail {
		level = slog.LevelDebug
	}
	format := o.logFormat
	if format == "" && cfg != nil {
		format = cfg.Global.LogFormat
	}
	hopts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(stderr, hopts))
}

// logDiagnostics logs what the configuration test found; it reports whether the configuration
// is usable.
func logDiagnostics(log *slog.Logger, diags *config.Diagnostics) bool {
	for _, d := range diags.List {
		if d.Severity == config.Error {
			log.Error(d.Message, "at", d.Pos.String())
		} else {
			log.Warn(d.Message, "at", d.Pos.String())
		}
	}
	return !diags.HasErrors()
}

func runDaemon(o options, stdout, stderr io.Writer) int {
	cfg, diags, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	base, closeLog, err := newLoggerFor(o, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	defer closeLog()
	startup, log := holdStartup(base)
	if !logDiagnostics(log, diags) {
		startup.fail("configuration is not usable", "file", o.configFile, "errors", countErrors(diags))
		return 1
	}
	return serve(o, cfg, startup, log, nil)
}

func countErrors(diags *config.Diagnostics) int {
	n := 0
	for _, d := range diags.List {
		if d.Severity == config.Error {
			n++
		}
	}
	return n
}

// halves are what one vigil process runs: the checker half (the daemon: checks, pools, data
// plane, status) and, when the configuration has VRRP instances, the VRRP half.
type halves struct {
	checker  *daemon.Daemon
	vrrp     *vrrp.Manager // nil when no VRRP instance runs
	bgp      *bgp.Speaker  // nil without a bgp block
	bgpBlock *bgpd.BGP     // the bgp block the speaker runs
	vrrpOnly bool
	// running is what the halves run, for the reload guard: the virtual servers of the
	// checker half and the VRRP half's instances (none without it).
	running *config.Config
}

// runningWith is the part of cfg the halves would run.
func (h *halves) runningWith(cfg *config.Config) *config.Config {
	c := *h.checkerConfig(cfg)
	if h.vrrp == nil {
		c.VRRPInstances = nil
	}
	return &c
}

// checkerConfig is the part of cfg the checker half runs: all of it, or with -P none of its
// virtual servers.
func (h *halves) checkerConfig(cfg *config.Config) *config.Config {
	if !h.vrrpOnly {
		return cfg
	}
	c := *cfg
	c.VirtualServers, c.VirtualServerGroups = nil, nil
	return &c
}

// serve runs both halves until SIGTERM or SIGINT; SIGHUP reloads the configuration file. log's
// records are held by startup until every port and listener is bound: if one cannot be, the
// reason is the first line printed and serve returns 1. Then started, if set, runs (the demo
// prints its instructions) and the held records follow.
func serve(o options, cfg *config.Config, startup *startupLog, log *slog.Logger, started func()) int {
	h := &halves{vrrpOnly: o.vrrpOnly}
	dopts := daemon.Options{Logger: log, Version: version, Dataplane: o.dataplane}
	if runsVRRP(o, cfg) {
		runner := notify.NewRunner(notify.RunnerOptions{ScriptSecurity: cfg.Global.EnableScriptSecurity, Logger: log})
		m, err := vrrp.NewManager(cfg, vrrp.ManagerOptions{
			Logger: log.With("half", "vrrp"), Runner: runner, RealtimePriority: cfg.Global.VRRPRTPriority,
			OnEvent: func(ev vrrp.Event) {
				if h.checker != nil {
					h.checker.VRRPStateChanged(ev.Instance, ev.From.String(), ev.To.String(), ev.Priority)
				}
			},
			ReconcileInterval: cfg.Global.ReconcileInterval.D(),
			OnRepair: func(r vrrp.Repair) {
				if h.checker != nil {
					h.checker.VRRPRepaired(r.Instance, r.Drift, r.Err)
				}
			},
		})
		if err != nil {
			startup.fail("cannot start VRRP", "err", err)
			return 1
		}
		h.vrrp = m
		dopts.VRRP = func() []status.VRRPInstance { return vrrpStatus(m.Snapshot()) }
		if !o.vrrpOnly {
			dopts.PoolHealth = m.PoolHealth // track_virtual_server: pool quorum → VRRP
		}
	}
	if (o.checkOnly || o.vrrpOnly) && cfg.TracksVirtualServers() {
		log.Warn("track_virtual_server needs both halves in one process (run without -P/-C): the tracked pools have no effect")
	}
	if o.checkOnly {
		for _, vs := range cfg.VirtualServers {
			if vs.Announce != nil && vs.Announce.OnlyWhileMaster != "" {
				log.Warn("announce only_while_master needs the VRRP half in this process (run without -C): the address is never announced", "vs", vs.Name(), "vrrp_instance", vs.Announce.OnlyWhileMaster)
			}
		}
	}
	if runsBGP(o, cfg) {
		sp, err := bgp.New(bgpConfig(cfg.BGP), log.With("part", "bgp"))
		if err != nil {
			startup.fail("cannot start BGP", "err", err)
			return 1
		}
		h.bgp, h.bgpBlock = sp, cfg.BGP
		withBGP(&dopts, sp)
	}
	d, err := daemon.New(h.checkerConfig(cfg), dopts)
	if err != nil {
		startup.fail("cannot start", "err", err)
		return 1
	}
	h.checker = d
	h.running = h.runningWith(cfg)
	// Bind everything before anything runs: a port or address vigil cannot have is the first
	// line printed and a non-zero exit, not a warning among others.
	if err := d.Listen(); err != nil {
		startup.fail("cannot start: cannot bind", "err", err)
		return 1
	}
	if h.bgp != nil {
		// Before the speaker runs, so that its first session changes are heard too.
		defer watchBGP(h.bgp, d)()
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			startup.fail("cannot start: pid file", "err", err)
			return 1
		}
		defer os.Remove(o.pidFile)
	}
	if started != nil {
		started()
	}
	startup.release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	sd := startSystemd(ctx, log, func() { d.Snapshot() })
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				switch s {
				case syscall.SIGHUP:
					reloadNotifying(sd, o, h, log)
				case syscall.SIGUSR1:
					dumpToFile(log, dumpDataPath, writeStateDump, d.Snapshot())
				case syscall.SIGUSR2:
					dumpToFile(log, dumpStatsPath, writeStatsDump, d.Snapshot())
				default:
					log.Info("stopping", "signal", s.String())
					cancel()
				}
			}
		}
	}()
	log.Info("vigil started", "version", version, "config", o.configFile, "virtual_servers", len(cfg.VirtualServers), "vrrp_instances", len(cfg.VRRPInstances))
	// Everything runs until a signal (or a failure); then the parts stop in order: BGP first
	// (withdraw the routes and wait, so routers move traffic away while it is still served),
	// then VRRP (masters send priority 0 and give their addresses up, so a peer takes over at
	// once), then the checker half and its data plane.
	code := 0
	failed := func(part string, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("stopped", "part", part, "err", err)
			code = 1
		}
	}
	type part struct {
		name string
		run  func(context.Context) error
		stop context.CancelFunc
		done chan error
	}
	var parts []*part
	start := func(name string, run func(context.Context) error) {
		pctx, stop := context.WithCancel(context.Background())
		p := &part{name: name, run: run, stop: stop, done: make(chan error, 1)}
		parts = append(parts, p)
		go func() { p.done <- run(pctx) }()
	}
	if h.bgp != nil {
		start("bgp", h.bgp.Run)
	}
	if h.vrrp != nil {
		start("vrrp", h.vrrp.Run)
	}
	start("checker", d.Run)
	early := make(chan *part, len(parts))
	for _, p := range parts {
		go func() {
			err := <-p.done
			p.done <- err // put it back for the ordered stop below
			early <- p
		}()
	}
	select {
	case <-ctx.Done():
	case p := <-early: // a part ended on its own: stop everything
		log.Error("a part of vigil stopped early; stopping the rest", "part", p.name)
		code = 1
	}
	for _, p := range parts {
		p.stop()
		failed(p.name, <-p.done)
	}
	log.Info("vigil stopped")
	return code
}

// reload reads the configuration file again. A file that cannot be read, has errors, or has
// complaints and would remove running blocks (config.RefuseReload) is refused and the running
// configuration stays. Every outcome is recorded once (daemon.RecordReload): counted, on the
// event stream, on the page and in `vigil status`.
func reload(o options, h *halves, log *slog.Logger) {
	refuse := func(reason string) {
		log.Error("reload refused: the running configuration stays", "file", o.configFile, "reason", reason)
		h.checker.RecordReload("refused", reason)
	}
	cfg, diags, err := loadConfig(o)
	if err != nil {
		refuse(err.Error())
		return
	}
	if !logDiagnostics(log, diags) {
		for _, d := range diags.List {
			if d.Severity == config.Error {
				refuse(fmt.Sprintf("%d error(s), the first at %s: %s", countErrors(diags), d.Pos, d.Message))
				return
			}
		}
	}
	if err := config.RefuseReload(h.running, h.runningWith(cfg), diags, cfg.Global.ReloadRemoveDespiteComplaints); err != nil {
		refuse(err.Error())
		return
	}
	if err := h.checker.Reload(h.checkerConfig(cfg)); err != nil {
		refuse(err.Error())
		return
	}
	if !sameBGPBlock(h.bgpBlock, cfg.BGP) {
		log.Warn("the bgp block changed: announcements follow the new file, but the BGP speaker keeps its sessions and settings until vigil restarts")
	}
	if h.vrrp != nil {
		if err := h.vrrp.Reload(cfg); err != nil {
			// The checker half has the new file already; the VRRP half keeps the old one.
			refuse("the VRRP half refused it and keeps its running instances (the checker half applied it): " + err.Error())
			return
		}
	}
	h.running = h.runningWith(cfg)
	summary := fmt.Sprintf("%d virtual server(s), %d vrrp instance(s), %d warning(s)", len(cfg.VirtualServers), len(cfg.VRRPInstances), len(diags.List))
	log.Info("reloaded", "file", o.configFile, "virtual_servers", len(cfg.VirtualServers), "vrrp_instances", len(cfg.VRRPInstances))
	h.checker.RecordReload("applied", summary)
}

// sameBGPBlock compares two bgp blocks by what they configure (not where they were written).
func sameBGPBlock(a, b *bgpd.BGP) bool {
	strip := func(x *bgpd.BGP) string {
		if x == nil {
			return "null"
		}
		c := *x
		c.Pos = config.Pos{}
		var ns []bgpd.Neighbor
		for _, n := range x.Neighbors {
			n2 := *n
			n2.Pos = config.Pos{}
			ns = append(ns, n2)
		}
		c.Neighbors = nil
		b, _ := json.Marshal(struct {
			B bgpd.BGP
			N []bgpd.Neighbor
		}{c, ns})
		return string(b)
	}
	return strip(a) == strip(b)
}

// bgpConfig turns the bgp block into the speaker's settings.
func bgpConfig(b *bgpd.BGP) bgp.Config {
	c := bgp.Config{LocalAS: b.LocalAS, RouterID: b.RouterID, ListenPort: b.ListenPort, HoldDown: b.HoldDown.D(),
		MaxWithdrawPerEvent: b.MaxWithdraw, GracefulShutdownWait: b.GracefulShutdownWait.D()}
	for _, n := range b.Neighbors {
		c.Neighbors = append(c.Neighbors, bgp.Neighbor{Address: n.Address, AS: n.RemoteAS, Password: n.Password,
			HoldTime: n.HoldTime.D(), KeepaliveInterval: n.Keepalive.D(), Port: n.Port, LocalAddress: n.SourceAddress})
	}
	return c
}

// vrrpStatus turns the VRRP half's view into the status page's.
func vrrpStatus(in []vrrp.InstanceStatus) []status.VRRPInstance {
	out := make([]status.VRRPInstance, 0, len(in))
	for _, s := range in {
		vi := status.VRRPInstance{Name: s.Name, Interface: s.Interface, VRID: s.VRID, State: s.State, Priority: s.Priority,
			EffectivePriority: s.EffectivePriority, Transitions: s.Transitions, Since: s.Since, Repairs: s.Repairs}
		if s.NotInPlace != "" {
			vi.Problem = "not in place: " + s.NotInPlace
		}
		if s.MasterAddr.IsValid() {
			vi.MasterAddress = s.MasterAddr.String()
		}
		for _, p := range s.VIPs {
			vi.VirtualAddresses = append(vi.VirtualAddresses, p.String())
		}
		out = append(out, vi)
	}
	return out
}
