package supervisor

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/ctsync"
	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/fdbudget"
	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// Options are what the command line says, beside the configuration file.
type Options struct {
	Logger  *slog.Logger
	Version string
	// Dataplane overrides global_defs dataplane (--dataplane).
	Dataplane string
	// VRRPOnly (-P) runs no load-balancing half and no BGP; CheckOnly (-C) no VRRP half.
	VRRPOnly, CheckOnly bool
	// StatusListen overrides global_defs status_listen; "off" serves no status page.
	StatusListen string
	// OpenDataplane, when set, opens the data plane in place of the real one (tests).
	OpenDataplane func(name string) (dataplane.Dataplane, error)
	// FileLimit is the descriptors vigil may hold, which the budget shares out: cmd/vigil
	// raises RLIMIT_NOFILE's soft limit to the hard one at start and gives it here. 0 reads
	// the soft limit as it is.
	FileLimit int
}

// Vigil is a supervisor with vigil's parts built from a configuration and wired together.
type Vigil struct {
	*Supervisor
	opts    Options
	metrics *status.Metrics
	hub     *status.Hub

	budget  fdbudget.Budget
	lb      *lb.Half       // nil with -P
	vrrp    *vrrp.Manager  // nil without VRRP instances, or with -C
	bgp     *bgp.Speaker   // nil without a bgp block, or with -P
	status  *status.Server // nil with status_listen off
	scripts *scriptRunner
	// announcer carries out the BGP policy (nil without BGP).
	announcer *bgpAnnouncer
	// ctsync runs conntrackd and tells it of the VRRP transitions (nil without
	// conntrack_sync); ipvsSync follows lvs_sync_daemon's instance with the kernel's IPVS sync
	// daemon (nil without it, or without the ipvs data plane).
	ctsync   *ctsync.Daemon
	ipvsSync *ipvsSyncFollower
	// control carries out the operators' commands and keeps the state file (control.go).
	control *controller

	mu         sync.Mutex
	cfg        *config.Config // in force
	lastReload *status.Reload
}

// Build makes the parts cfg asks for and wires their observers. It opens nothing that a later
// failure would leave open except the data plane's handle (closed by Run, or Close).
func Build(cfg *config.Config, opts Options) (*Vigil, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger
	v := &Vigil{opts: opts, metrics: status.NewMetrics(), hub: status.NewHub(200, time.Now), cfg: cfg}
	warnHalves(cfg, opts, log)
	listen := statusListen(cfg, opts.StatusListen)
	conns := 0
	if listen != "off" {
		conns = statusConns
	}
	v.budget = budget(cfg, opts, fileLimit(opts, log), conns)
	log.Info("descriptor budget", v.budget.LogAttrs()...)
	if v.budget.Problem != "" {
		log.Warn(v.budget.Problem)
	}
	v.metrics.SetCapacitySource(v.capacity)
	var parts []Part
	var handler *status.Handler
	if listen != "off" {
		handler = status.NewHandler(v, v.hub, v.metrics.Handler())
		v.status = status.NewServer(listen, handler, status.ServerOptions{Logger: log, MaxConns: conns})
		parts = append(parts, &statusPart{srv: v.status, listen: listen, log: log})
	}
	if !opts.VRRPOnly {
		h, err := lb.New(cfg, lb.Options{Logger: log, Version: opts.Version, Dataplane: opts.Dataplane,
			OpenDataplane: opts.OpenDataplane, Metrics: v.metrics, MaxConn: v.budget.MaxConn})
		if err != nil {
			return nil, err
		}
		v.lb = h
		parts = append(parts, &lbPart{h: h})
		v.scripts = newScriptRunner(notify.NewRunner(notify.RunnerOptions{ScriptSecurity: cfg.Global.EnableScriptSecurity, Logger: log}), log)
		events := h.Events()
		events.Subscribe("metrics", newMetricsObserver(v.metrics).observe)
		events.Subscribe("events", hubObserver(v.hub))
		events.Subscribe("scripts", v.scripts.observe)
	}
	var announcer *bgpAnnouncer
	if runsBGP(cfg, opts) {
		sp, err := bgp.New(bgpConfig(cfg.BGP), log.With("part", "bgp"))
		if err != nil {
			v.closeLB()
			return nil, fmt.Errorf("BGP: %w", err)
		}
		v.bgp = sp
		v.metrics.SetBGPSource(v.bgpStatus)
		announcer = &bgpAnnouncer{routes: sp, log: log}
		v.announcer = announcer
		if v.lb != nil {
			v.lb.Events().Subscribe("bgp", announcer.observe)
		}
		sp.Subscribe(func(c bgp.Change) {
			sc := bgpChange(c)
			v.hub.PublishBGPChange(sc)
			v.metrics.ObserveBGPChange(sc)
		})
	}
	v.ctsync = newConntrackSync(cfg, opts, v.dataplaneName(), v.hub, log)
	v.ipvsSync = newIPVSSyncFollower(cfg, opts, v.dataplaneName(), log)
	if runsVRRP(cfg, opts) {
		runner := notify.NewRunner(notify.RunnerOptions{ScriptSecurity: cfg.Global.EnableScriptSecurity, Logger: log})
		m, err := vrrp.NewManager(cfg, vrrp.ManagerOptions{
			Logger: log.With("half", "vrrp"), Runner: runner, RealtimePriority: cfg.Global.VRRPRTPriority,
			ReconcileInterval: cfg.Global.ReconcileInterval.D(),
			OnEvent: func(ev vrrp.Event) {
				v.vrrpChanged(ev.Instance, ev.From.String(), ev.To.String(), ev.Priority)
				if announcer != nil {
					announcer.vrrpChanged(ev.Instance, ev.To.String())
				}
				if v.ctsync != nil {
					v.ctsync.Transition(ev.Instance, ev.To.String())
				}
				if v.ipvsSync != nil {
					v.ipvsSync.vrrpChanged(ev.Instance, ev.To.String())
				}
			},
			OnRepair: v.vrrpRepaired,
		})
		if err != nil {
			v.closeLB()
			return nil, fmt.Errorf("VRRP: %w", err)
		}
		v.vrrp = m
		v.metrics.SetVRRPSource(func() []status.VRRPInstance { return vrrpStatus(m.Snapshot()) })
		if v.lb != nil {
			v.lb.Events().Subscribe("vrrp", vrrpPools(m)) // track_virtual_server
		}
	}
	// The operators' commands, on the halves just built: what the state file holds is put
	// back before anything runs, so that a server in maintenance never takes a connection.
	v.control = newController(v, cfg)
	v.control.restore()
	if handler != nil {
		handler.Control(v.control, v.statusToken)
	}
	// Start order: status, lb, ctsync, ipvs-sync, vrrp, bgp, control; stop in reverse (package
	// doc).
	if v.ctsync != nil {
		parts = append(parts, &ctsyncPart{d: v.ctsync, block: cfg.Global.ConntrackSync, log: log})
	}
	if v.ipvsSync != nil {
		parts = append(parts, &ipvsSyncPart{f: v.ipvsSync})
	}
	if v.vrrp != nil {
		parts = append(parts, &vrrpPart{m: v.vrrp})
	}
	if v.bgp != nil {
		parts = append(parts, &bgpPart{sp: v.bgp, block: cfg.BGP, log: log})
	}
	if path := cfg.Global.ControlSocket; path != "" {
		sock := control.NewSocket(path, v.control, control.SocketOptions{Logger: log, MaxConns: control.DefaultSocketConns})
		parts = append(parts, &controlPart{sock: sock, stateDir: cfg.Global.StateDir, log: log})
	}
	v.Supervisor = New(log, v.runs(cfg), parts...)
	v.Supervisor.runs = v.runs
	v.Supervisor.record = v.recordReload
	v.Supervisor.afterBind = v.afterBind
	return v, nil
}

func (v *Vigil) closeLB() {
	if v.lb != nil {
		_ = v.lb.Close()
	}
}

// Close releases what Build opened, for a Vigil that is never run (Run releases it when it
// returns): the data plane's handle, the VRRP half's netlink handle.
func (v *Vigil) Close() {
	v.closeLB()
	if v.vrrp != nil {
		v.vrrp.Close()
	}
	if v.scripts != nil {
		v.scripts.wait(0)
	}
}

// afterBind hands every observer the half's first states before any part runs: the VRRP half
// starts with each tracked pool's state, not with "unknown".
func (v *Vigil) afterBind(ctx context.Context) error {
	if v.lb == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := v.lb.Events().Sync(ctx); err != nil {
		return fmt.Errorf("observers did not take the first states: %w", err)
	}
	return nil
}

// Run runs the parts (Supervisor.Run), then gives notify scripts still running 10 s to end.
// Meanwhile it watches the descriptors in use and warns near the limit (fdbudget.Watch).
func (v *Vigil) Run(ctx context.Context) error {
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		v.budget.Watch(wctx, 5*time.Second, time.Minute, fdbudget.InUse, v.opts.Logger)
	}()
	err := v.Supervisor.Run(ctx)
	stopWatch()
	<-watched
	if v.scripts != nil {
		v.scripts.wait(10 * time.Second)
	}
	return err
}

// Reload applies a configuration read again (Supervisor.Reload) and keeps it for the status.
func (v *Vigil) Reload(cfg *config.Config, diags *config.Diagnostics) error {
	if err := v.Supervisor.Reload(cfg, diags); err != nil {
		return err
	}
	v.mu.Lock()
	running := v.cfg.Global.MaxConn
	v.cfg = cfg
	v.mu.Unlock()
	// A real server or instance the reload removed took its admin state with it.
	v.control.save()
	v.settle()
	if cfg.Global.MaxConn != running {
		v.opts.Logger.Warn("maxconn changed: the descriptor budget is shared out at start; the data plane keeps its maxconn until vigil restarts",
			"running", v.budget.MaxConn, "configured", cfg.Global.MaxConn)
	}
	return nil
}

// runs is what the parts run of cfg: its virtual servers only with the load-balancing half,
// its VRRP instances only with the VRRP half.
func (v *Vigil) runs(cfg *config.Config) *config.Config {
	c := *cfg
	if v.lb == nil {
		c.VirtualServers, c.VirtualServerGroups = nil, nil
	}
	if v.vrrp == nil {
		c.VRRPInstances = nil
	}
	return &c
}

// settle waits, two seconds at most, until the half's observers have handled what it has
// published: once a reload or an operator's command returns, the metrics, the event stream and
// VRRP's tracking have it.
func (v *Vigil) settle() {
	if v.lb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := v.lb.Events().Sync(ctx); err != nil {
		v.opts.Logger.Warn("observers have not taken the last changes yet", "err", err)
	}
}

// statusToken is the status_token in force, which the write endpoints require.
func (v *Vigil) statusToken() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cfg.Global.StatusToken
}

// Control carries out an operator's command as the control socket and the write endpoints do.
func (v *Vigil) Control(c control.Command) (control.Reply, error) { return v.control.Execute(c) }

// StatusAddr is where the status server listens, once bound; nil without one.
func (v *Vigil) StatusAddr() net.Addr {
	if v.status == nil {
		return nil
	}
	return v.status.Addr()
}

// recordReload counts a reload's outcome, publishes it and keeps it for the status.
func (v *Vigil) recordReload(outcome, reason string) {
	v.metrics.Reloads.WithLabelValues(outcome).Inc()
	v.hub.Publish("reload", outcome, reason)
	v.mu.Lock()
	v.lastReload = &status.Reload{At: time.Now(), Outcome: outcome, Reason: reason}
	v.mu.Unlock()
}

// vrrpChanged records a VRRP instance's state change in the metrics and on the event stream.
func (v *Vigil) vrrpChanged(instance, from, to string, priority int) {
	v.hub.Publish("vrrp", instance, fmt.Sprintf("%s -> %s (priority %d)", from, to, priority))
	v.metrics.VRRPChanges.WithLabelValues(instance, to).Inc()
	for _, st := range []string{"INIT", "BACKUP", "MASTER", "FAULT", "STOP"} {
		v.metrics.VRRPState.WithLabelValues(instance, st).Set(gauge(st == to))
	}
}

// vrrpRepaired records a repair of a master's addresses, routes or rules (the VRRP half logs
// it itself).
func (v *Vigil) vrrpRepaired(r vrrp.Repair) {
	msg := r.Drift + ": repaired"
	if r.Err != nil {
		msg = r.Drift + ": not repaired: " + r.Err.Error()
	}
	v.metrics.Repairs.WithLabelValues("vrrp", repairOutcome(r.Err != nil)).Inc()
	v.hub.Publish("repair", r.Instance, msg)
}

// Snapshot is the whole status: the half's virtual servers, the VRRP instances (each MASTER
// flagged when a virtual server it tracks is not served), BGP, the recent events and the last
// reload.
func (v *Vigil) Snapshot() status.Snapshot {
	var snap status.Snapshot
	if v.lb != nil {
		snap = v.lb.Snapshot()
	} else {
		snap = status.Snapshot{Generated: time.Now(), Version: v.opts.Version}
	}
	v.mu.Lock()
	cfg := v.cfg
	if v.lastReload != nil {
		r := *v.lastReload
		snap.LastReload = &r
	}
	v.mu.Unlock()
	if v.vrrp != nil {
		snap.VRRPInstances = vrrpStatus(v.vrrp.Snapshot())
		flagMasters(snap.VRRPInstances, cfg, snap.VirtualServers, v.lb != nil)
	}
	if v.bgp != nil {
		snap.BGP = v.bgpStatus()
	}
	snap.Events = v.hub.Recent()
	return snap
}

// flagMasters sets Problem on every MASTER instance that tracks a virtual server that is not
// served here: it holds the address and serves nothing behind it.
func flagMasters(list []status.VRRPInstance, cfg *config.Config, vss []status.VirtualServer, lbRuns bool) {
	if !lbRuns {
		return // -P: the virtual servers are served elsewhere
	}
	served := map[string]*status.VirtualServer{}
	for i := range vss {
		served[vss[i].Name] = &vss[i]
	}
	tracked := map[string][]string{}
	for _, in := range cfg.VRRPInstances {
		for _, t := range in.TrackVirtualServers {
			tracked[in.Name] = append(tracked[in.Name], t.Name)
		}
	}
	for i := range list {
		in := &list[i]
		if in.State != "MASTER" {
			continue
		}
		var problems []string
		if in.Problem != "" {
			problems = append(problems, in.Problem)
		}
		for _, name := range tracked[in.Name] {
			switch vs := served[name]; {
			case vs == nil:
				problems = append(problems, "tracked virtual server "+name+" is not running here")
			case !vs.Serving:
				problems = append(problems, "tracked virtual server "+name+" is not serving: "+vs.ServingReason)
			}
		}
		in.Problem = strings.Join(problems, "; ")
	}
}

// statusListen is where the status server listens: the override, else global_defs, else the
// default.
func statusListen(cfg *config.Config, override string) string {
	return cmp.Or(override, cfg.Global.StatusListen, status.DefaultListen)
}

// runsVRRP says whether the VRRP half runs for cfg.
func runsVRRP(cfg *config.Config, o Options) bool { return !o.CheckOnly && len(cfg.VRRPInstances) > 0 }

// runsBGP says whether the BGP speaker runs for cfg.
func runsBGP(cfg *config.Config, o Options) bool { return cfg.BGP != nil && !o.VRRPOnly }

// warnHalves says what a configuration asks for that the halves this process runs cannot do.
func warnHalves(cfg *config.Config, o Options, log *slog.Logger) {
	if (o.CheckOnly || o.VRRPOnly) && cfg.TracksVirtualServers() {
		log.Warn("track_virtual_server needs both halves in one process (run without -P/-C): the tracked pools have no effect")
	}
	if o.CheckOnly {
		for _, vs := range cfg.VirtualServers {
			if vs.Announce != nil && vs.Announce.OnlyWhileMaster != "" {
				log.Warn("announce only_while_master needs the VRRP half in this process (run without -C): the address is never announced", "vs", vs.Name(), "vrrp_instance", vs.Announce.OnlyWhileMaster)
			}
		}
	}
}
