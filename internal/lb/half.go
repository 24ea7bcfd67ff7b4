package lb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/bus"
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/dataplane/ipvs"
	"github.com/vigil-lb/vigil/internal/dataplane/nftables"
	"github.com/vigil-lb/vigil/internal/dataplane/userspace"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/status"
)

// Options are the half's settings that do not come from the configuration file.
type Options struct {
	Logger  *slog.Logger
	Version string
	// Dataplane overrides global_defs dataplane: userspace, nftables, ipvs or auto.
	Dataplane string
	// OpenDataplane, when set, opens the data plane New chose (userspace, nftables or ipvs)
	// in place of the real one; tests give one that opens nothing.
	OpenDataplane func(name string) (dataplane.Dataplane, error)
	// MaxInFlight bounds the probes running at once (default: MaxInFlight(cfg)).
	MaxInFlight int
	// MaxConn caps the userspace data plane's connections and UDP flows together (0: no cap);
	// the supervisor sets it from the descriptor budget. The kernel data planes' connections
	// cost no descriptor and are not capped.
	MaxConn int
	// Metrics records each probe (check results, durations, lateness); nil keeps them in a
	// registry of the half's own. Everything else observers learn from Events.
	Metrics *status.Metrics
}

// Half is the load-balancing half: checks, pools and the data plane. It decides and applies;
// what it decided is published on Events for the observers that subscribe.
type Half struct {
	log     *slog.Logger
	opts    Options
	clk     clock.Clock
	runner  *notify.Runner
	pingers *pingers
	sched   *probe.Scheduler
	dp      dataplane.Dataplane
	dpName  string
	metrics *status.Metrics
	events  *bus.Bus[Event]

	// life ends when Run's context ends: data plane calls run under it.
	life       context.Context
	lifeCancel context.CancelFunc

	mu       sync.Mutex
	cfg      *config.Config
	services map[string]*service
	order    []string // service names in configuration order
	jobs     map[string]*jobRef
	// checkKinds are the metrics of each check kind, looked up once.
	checkKinds map[string]*status.CheckKindMetrics
	// listened is set by Listen: from then on pools are applied to the data plane and their
	// state is published.
	listened bool
	// dpNotServing is the data plane's NotServing per service, as last read (Apply, Reconcile).
	dpNotServing map[string]string
	wake         chan struct{} // a pool's next change moved earlier
	reconcileNow chan struct{} // an address changed: read the data plane back now
	// failures are the data plane's failed connections on their way to the pools
	// (passive.go).
	failures chan dataplane.BackendFailure
	// localSince is when each address of this node was first seen there, for the self
	// probes; owned by the reconcile loop.
	localSince map[netip.Addr]time.Time
	// discCtx is Run's, once it runs: the discoverers (discovery.go) ask under it; discWG
	// counts them.
	discCtx context.Context
	discWG  sync.WaitGroup
}

// service is one virtual_server at run time.
type service struct {
	name  string
	vs    *lvs.VirtualServer
	spec  pool.ServiceSpec
	pool  *pool.Service
	addrs map[string]netip.AddrPort // backend ID → address, the sorry server's included
	// thresholds are the real servers' uthreshold and lthreshold by backend ID (none: 0).
	thresholds map[string]thresholds
	// steers are the data plane services without their backends: one, or one per member of a
	// virtual_server_group (each named with groupMemberSep); none when the data plane cannot
	// serve this virtual server (a fwmark one on the userspace balancer), and unsteered then
	// says why.
	steers    []*dataplane.Service
	unsteered string
	jobIDs    []string
	applied   bool
	// applyErr is the last Apply's error, empty once one succeeded.
	applyErr string
	// serving and servingReason are what the status shows and VRRP tracks (serving.go);
	// servingKnown is false until the first computation.
	serving       bool
	servingReason string
	servingKnown  bool
	// probeErr is the last self probe's failure (self_probe), at probeFailedAt; empty when it
	// connected, or when no probe could run for self_probe's hold since.
	probeErr      string
	probeFailedAt time.Time
	probeFails    int // self probes failed in a row
	// disc finds members in DNS (dynamic_real_servers, discovery.go); nil without a block.
	disc *discoverer
}

type jobRef struct {
	svc     *service
	server  string
	check   int
	kind    string
	target  string
	metrics *status.CheckKindMetrics
	// poolRef finds the server in svc.pool without a lookup by ID.
	poolRef pool.ServerRef
	// removed: the job is gone (a reload); reports still on their way are dropped.
	removed bool
	// recent are the job's last probes (status.ProbeHistory), for the page's sparkline; a
	// reload that keeps the job keeps them.
	recent *status.Ring[probeSample]
}

// scheduleJobLocked records job j of svc (its pool, its kind's metrics) and adds it to the
// scheduler, or updates it there when a reload keeps it. The job carries its record as its Tag,
// so that a report finds it without a lookup by ID; a kept job keeps its record, updated.
func (d *Half) scheduleJobLocked(svc *service, j plannedJob) error {
	kind := j.job.Checker.Kind()
	m := d.checkKinds[kind]
	if m == nil {
		m = d.metrics.CheckKind(kind)
		d.checkKinds[kind] = m
	}
	fresh := jobRef{svc: svc, server: j.server, check: j.check, kind: kind, target: j.job.Checker.Target(), metrics: m, poolRef: svc.pool.Ref(j.server)}
	job := j.job
	ref := d.jobs[job.ID]
	if ref != nil {
		fresh.recent = ref.recent
		*ref = fresh
		job.Tag = ref
		if d.sched.Update(job) == nil {
			return nil
		}
	} else {
		fresh.recent = status.NewRing[probeSample](status.ProbeHistory)
		ref = &fresh
		d.jobs[job.ID] = ref
		job.Tag = ref
	}
	return d.sched.Add(job)
}

// New builds a daemon for cfg. It opens nothing that needs the network yet, except the data
// plane's handle; Run starts everything.
func New(cfg *config.Config, opts Options) (*Half, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = MaxInFlight(cfg)
	}
	if opts.Metrics == nil {
		opts.Metrics = status.NewMetrics()
	}
	d := &Half{
		log:        opts.Logger,
		opts:       opts,
		clk:        clock.Real(),
		pingers:    &pingers{},
		metrics:    opts.Metrics,
		events:     bus.New[Event](),
		services:   map[string]*service{},
		jobs:       map[string]*jobRef{},
		checkKinds: map[string]*status.CheckKindMetrics{},
		wake:       make(chan struct{}, 1),

		dpNotServing: map[string]string{},
		localSince:   map[netip.Addr]time.Time{},
		reconcileNow: make(chan struct{}, 1),
		failures:     make(chan dataplane.BackendFailure, failureQueue),
	}
	d.life, d.lifeCancel = context.WithCancel(context.Background())
	d.runner = notify.NewRunner(notify.RunnerOptions{ScriptSecurity: cfg.Global.EnableScriptSecurity, Logger: d.log})
	d.sched = probe.NewScheduler(d.clk, opts.MaxInFlight, d.log, d.onReport)
	d.sched.ObserveLateness(func(late time.Duration) { d.metrics.CheckLateness.Observe(late.Seconds()) })
	d.metrics.SetDiscoverySource(d.discoveries)
	us := userspace.Options{MaxConn: opts.MaxConn, OnBackendFailure: d.backendFailed}
	dp, name, err := chooseDataplane(cmp.Or(opts.Dataplane, cfg.Global.Dataplane), cfg.Global.DataplaneKeepOnStop, us, d.log, opts.OpenDataplane, nftablesOptions(&cfg.Global))
	if err != nil {
		return nil, err
	}
	d.dp, d.dpName = dp, name
	if err := d.load(cfg, d.clk.Now()); err != nil {
		_ = d.dp.Close()
		return nil, err
	}
	return d, nil
}

// chooseDataplane returns the data plane a name asks for. "auto" takes IPVS when the kernel has
// it, else nftables when vigil may change the ruleset, else the userspace balancer, and logs why.
//
// keep leaves a kernel data plane's rules in place when vigil stops (dataplane_keep_on_stop); the
// userspace balancer's connections end with the process whatever it says. us are the userspace
// balancer's options: its cap (Options.MaxConn) and where its failed connections go (passive
// health). open, when not nil, opens the chosen one instead (Options.OpenDataplane).
func chooseDataplane(name string, keep bool, us userspace.Options, log *slog.Logger, open func(string) (dataplane.Dataplane, error), nft nftables.Options) (dataplane.Dataplane, string, error) {
	if name == "auto" {
		ipvsErr, nftErr := ipvs.Available(), nftables.Available()
		switch {
		case ipvsErr == nil:
			name = "ipvs"
		case nftErr == nil:
			name = "nftables"
		default:
			name = "userspace"
		}
		log.Info("data plane: auto choice", "chose", name, "ipvs", errText(ipvsErr), "nftables", errText(nftErr))
	}
	if err := checkDataplaneName(name); err != nil {
		return nil, "", err
	}
	if open != nil {
		name = cmp.Or(name, "userspace")
		dp, err := open(name)
		return dp, name, err
	}
	switch name {
	case "", "userspace":
		return userspace.New(log.With("dataplane", "userspace"), us), "userspace", nil
	case "nftables":
		nft.KeepOnClose = keep
		dp, err := nftables.New(log.With("dataplane", "nftables"), nft)
		if err != nil {
			return nil, "", fmt.Errorf("data plane nftables: %w", err)
		}
		return dp, "nftables", nil
	case "ipvs":
		dp, err := ipvs.New(log.With("dataplane", "ipvs"), ipvs.Options{KeepOnClose: keep})
		if err != nil {
			return nil, "", fmt.Errorf("data plane ipvs: %w", err)
		}
		return dp, "ipvs", nil
	}
	return nil, "", fmt.Errorf("data plane %q unknown: expected userspace, nftables, ipvs or auto", name)
}

// nftablesOptions are the nftables data plane's settings of global_defs: nftables_snat and
// nftables_flow_hash (connections kept across a failover).
func nftablesOptions(g *globaldefs.Defs) nftables.Options {
	o := nftables.Options{FlowHash: g.NFTablesFlowHash}
	switch g.NFTablesSNAT.Mode {
	case "none":
		o.NoMasquerade = true
	case "address":
		o.SNAT = g.NFTablesSNAT.Addr
	}
	return o
}

func errText(err error) string {
	if err == nil {
		return "available"
	}
	return err.Error()
}

// Events is the bus on which the half publishes what it decides (events.go). Subscribe before
// Listen to hear every virtual server's first state. The bus is closed when Run returns, after
// the last events (the pools' stop scripts) are handed over.
func (d *Half) Events() *bus.Bus[Event] { return d.events }

// Listen applies every virtual server to the data plane once, before anything runs, so that a
// port or address vigil cannot bind (a userspace listener) or kernel rules it cannot install
// stop it at start with one clear error naming the virtual server and its line. Then each
// virtual server's state is published. On error the half is closed and must not be run. Run
// calls Listen when it was not called.
func (d *Half) Listen() error {
	d.mu.Lock()
	if d.listened {
		d.mu.Unlock()
		return nil
	}
	d.listened = true
	var errs []error
	for _, name := range d.order {
		svc := d.services[name]
		if err := d.applyLocked(svc); err != nil {
			errs = append(errs, fmt.Errorf("virtual server %s at %s: %w", name, svc.vs.Pos, err))
		}
		d.updateServingLocked(svc)
		d.stateLocked(svc)
	}
	d.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		d.shutdown()
		return err
	}
	return nil
}

// Run starts the scheduler, the pools' clock and the reconcile loop, and blocks until ctx ends;
// then it stops checks, publishes the pools' stop events and closes the data plane and the bus.
func (d *Half) Run(ctx context.Context) error {
	if err := d.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopLife := context.AfterFunc(ctx, d.lifeCancel)
	defer stopLife()

	d.mu.Lock()
	d.discCtx = ctx
	for _, name := range d.order {
		d.startDiscoveryLocked(d.services[name])
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(4)
	go func() {
		defer wg.Done()
		d.passiveLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := d.sched.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("scheduler: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		d.tickPools(ctx)
	}()
	go func() {
		defer wg.Done()
		d.reconcileLoop(ctx)
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		cancel()
	}
	wg.Wait()
	d.discWG.Wait()
	d.shutdown()
	return err
}

// shutdown stops every pool (its stop events carry the scripts omega asks for), closes the
// data plane and sockets, and closes the bus once its subscribers have had every event.
func (d *Half) shutdown() {
	d.mu.Lock()
	now := d.clk.Now()
	for _, name := range d.order {
		svc := d.services[name]
		d.handleEventsLocked(svc, svc.pool.Stop(pool.StopShutdown, now), false)
	}
	d.mu.Unlock()
	if err := d.dp.Close(); err != nil {
		d.log.Warn("data plane close", "err", err)
	}
	d.pingers.close()
	d.events.Close()
}

// Reload applies a new configuration as a diff: unchanged real servers keep their checks'
// timers and counters and their place in the pool; changed ones are rebuilt; removed virtual
// servers stop and their connections drain. On error nothing changes.
func (d *Half) Reload(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next, err := d.plan(cfg)
	if err != nil {
		return err
	}
	now := d.clk.Now()
	// Removed services first, so that their listeners free addresses new ones may take.
	for _, name := range d.order {
		if _, ok := next.byName[name]; ok {
			continue
		}
		old := d.services[name]
		if old.disc != nil && old.disc.cancel != nil {
			old.disc.cancel()
		}
		d.handleEventsLocked(old, old.pool.Stop(pool.StopRemoved, now), false)
		d.removeJobsLocked(old.jobIDs)
		d.removeSteersLocked(name, old.steers, nil)
		delete(d.services, name)
		d.noteLocked(name, NoteService, "removed by reload", false)
		d.publishLocked(Event{VS: name, Gone: true})
	}
	for _, p := range next.list {
		if old, ok := d.services[p.name]; ok {
			evs, err := old.pool.Reconfigure(p.spec, now)
			if err != nil { // plan validated the spec; this is a bug, not bad input
				d.log.Error("pool reconfigure", "vs", p.name, "err", err)
				continue
			}
			stale := map[string]bool{}
			for _, id := range old.jobIDs {
				stale[id] = true
			}
			d.removeSteersLocked(p.name, old.steers, p.steers)
			old.vs, old.spec, old.addrs, old.thresholds, old.steers, old.unsteered = p.vs, p.spec, p.addrs, p.thresholds, p.steers, p.unsteered
			for _, j := range p.jobs {
				delete(stale, j.job.ID)
				if err := d.scheduleJobLocked(old, j); err != nil {
					d.log.Error("scheduler add", "job", j.job.ID, "err", err)
				}
			}
			var gone []string
			for id := range stale {
				gone = append(gone, id)
			}
			d.removeJobsLocked(gone)
			old.jobIDs = p.jobIDs()
			d.setDiscovererLocked(old, p)
			d.handleEventsLocked(old, evs, true)
			_ = d.applyLocked(old)
			d.updateServingLocked(old)
			d.stateLocked(old) // the configuration changed even if nothing else did
			continue
		}
		svc, err := d.startServiceLocked(p, now)
		if err != nil {
			d.log.Error("virtual server", "vs", p.name, "err", err)
			continue
		}
		_ = d.applyLocked(svc)
		d.updateServingLocked(svc)
		d.stateLocked(svc)
		d.noteLocked(p.name, NoteService, "added by reload", false)
	}
	d.order = next.order
	d.cfg = cfg
	d.poke()
	return nil
}

func (d *Half) removeJobsLocked(ids []string) {
	for _, id := range ids {
		d.sched.Remove(id)
		if ref := d.jobs[id]; ref != nil {
			ref.removed = true
		}
		delete(d.jobs, id)
	}
}

// load builds the first generation of services.
func (d *Half) load(cfg *config.Config, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next, err := d.plan(cfg)
	if err != nil {
		return err
	}
	for _, p := range next.list {
		if _, err := d.startServiceLocked(p, now); err != nil {
			return fmt.Errorf("virtual server %s: %w", p.name, err)
		}
	}
	d.order = next.order
	d.cfg = cfg
	return nil
}

func (d *Half) startServiceLocked(p *planned, now time.Time) (*service, error) {
	pl, evs, err := pool.New(p.spec, now)
	if err != nil {
		return nil, err
	}
	svc := &service{name: p.name, vs: p.vs, spec: p.spec, pool: pl, addrs: p.addrs, thresholds: p.thresholds, steers: p.steers, unsteered: p.unsteered}
	d.services[p.name] = svc
	for _, j := range p.jobs {
		if err := d.scheduleJobLocked(svc, j); err != nil {
			return nil, fmt.Errorf("check %s: %w", j.job.ID, err)
		}
	}
	svc.jobIDs = p.jobIDs()
	for _, note := range pl.Snapshot().Notes {
		d.log.Warn(note, "vs", p.name)
	}
	d.setDiscovererLocked(svc, p)
	d.logDiscovery(svc)
	d.handleEventsLocked(svc, evs, true)
	return svc, nil
}

// onReport is the scheduler's sink: a check's verdict goes to its pool.
func (d *Half) onReport(r probe.Report) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ref, _ := r.Tag.(*jobRef)
	if ref == nil {
		ref = d.jobs[r.JobID]
	}
	if ref == nil || ref.removed {
		return // removed by a reload while the probe ran
	}
	ref.metrics.Observe(r.Result.Healthy, r.Result.Latency)
	ref.recent.Push(newProbeSample(r.At, r.Result.Latency, r.Result.Healthy))
	obs := pool.Observation{Server: ref.server, Ref: ref.poolRef, Check: ref.check, Healthy: r.Up, Reason: r.Result.Reason,
		Started: r.At.Add(-r.Result.Latency)}
	if r.Up && r.Result.Weight >= 0 {
		obs.Weight = pool.WeightUpdate{Op: pool.WeightSet, Value: r.Result.Weight}
	}
	evs, err := ref.svc.pool.Observe(obs, r.At)
	if err != nil {
		d.log.Error("pool observe", "vs", ref.svc.name, "rs", ref.server, "err", err)
		return
	}
	if a := r.Result.Agent; a != nil {
		// The agent's word on the admin state and weight (AGENT_CHECK), as the agent's hold.
		more, err := ref.svc.pool.Agent(ref.server, ref.poolRef, agentWord(a), r.At)
		if err != nil {
			d.log.Error("pool agent", "vs", ref.svc.name, "rs", ref.server, "err", err)
		}
		evs = append(evs, more...)
	}
	d.handleEventsLocked(ref.svc, evs, true)
}

// agentWord is an agent's answer as the pool takes it.
func agentWord(a *probe.AgentWord) pool.AgentWord {
	w := pool.AgentWord{Said: a.Said}
	if st, err := pool.ParseAdminState(a.State); err == nil && a.State != "" {
		w.State, w.HasState = st, true
	}
	if a.WeightPercent >= 0 {
		w.WeightPercent, w.HasWeight = a.WeightPercent, true
	}
	return w
}

// lossLevel is the log level of what svc loses (servers, quorum, serving): a warning, unless
// its pool stopped (vigil stopping, or a reload that removed the virtual server), which takes
// them down on purpose: no warning at every Ctrl-C.
func (svc *service) lossLevel() slog.Level {
	if svc.pool.Stopped() {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// handleEventsLocked logs and publishes pool events and, when the desired set changed, applies
// it; then it publishes the virtual server's state.
func (d *Half) handleEventsLocked(svc *service, evs []pool.Event, apply bool) {
	changed := false
	for _, ev := range evs {
		msg := ev.Kind.String()
		if ev.Reason != "" {
			msg += ": " + ev.Reason
		}
		level := slog.LevelInfo
		switch ev.Kind {
		case pool.ServerDown, pool.QuorumLost, pool.PanicOn, pool.SorryOn, pool.ServerEjected, pool.EjectionRefused:
			level = svc.lossLevel()
		case pool.Resynced:
			level = slog.LevelError
		}
		d.log.Log(context.Background(), level, msg, "vs", svc.name, "rs", ev.Server, "event", ev.Kind.String())
		d.publishLocked(Event{VS: svc.name, Pool: &ev})
		if len(ev.Changes) > 0 {
			changed = true
		}
	}
	if changed && apply {
		_ = d.applyLocked(svc) // an error is logged, and shown as not serving
	}
	if len(evs) > 0 {
		d.updateServingLocked(svc)
		d.stateLocked(svc)
	}
	// Only a pool with a timed change ahead (slow start) needs the pool clock; waking it for
	// every report made it walk every pool thousands of times a second at scale.
	if _, ok := svc.pool.NextChange(d.clk.Now()); ok {
		d.poke()
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// applyLocked hands the pool's desired set to the data plane and returns its error. An Apply
// the data plane took but could not complete (ErrIncomplete: a listener that cannot bind yet)
// leaves the service applied and not serving until a retry or Reconcile puts it right.
func (d *Half) applyLocked(svc *service) error {
	desired := svc.pool.Desired()
	if len(svc.steers) == 0 || !d.listened {
		return nil
	}
	backends := make([]dataplane.Backend, 0, len(desired.Backends))
	for _, b := range desired.Backends {
		addr, ok := svc.addrs[b.ID]
		if !ok {
			d.log.Error("pool names an unknown backend", "vs", svc.name, "backend", b.ID)
			continue
		}
		th := svc.thresholds[b.ID]
		backends = append(backends, dataplane.Backend{Addr: addr, Weight: b.Weight, UThreshold: th.upper, LThreshold: th.lower})
	}
	ctx, cancel := context.WithTimeout(d.life, 5*time.Second)
	defer cancel()
	var failed error
	for _, steer := range svc.steers {
		want := *steer
		want.Backends = backends
		err := d.dp.Apply(ctx, want)
		switch {
		case err == nil:
			delete(d.dpNotServing, want.Name)
		case errors.Is(err, dataplane.ErrIncomplete):
			// The data plane logged it and retries; the status shows it until it is in place.
			d.dpNotServing[want.Name] = strings.TrimSuffix(err.Error(), ": "+dataplane.ErrIncomplete.Error())
		case failed == nil:
			failed = err
		}
	}
	if failed != nil {
		if svc.applyErr != failed.Error() {
			d.log.Error("data plane apply", "vs", svc.name, "err", failed)
			d.noteLocked(svc.name, NoteDataplane, failed.Error(), true)
		}
		svc.applyErr = failed.Error()
		return failed
	}
	svc.applyErr = ""
	if !svc.applied {
		d.log.Info("serving", "vs", svc.name, "listen", listenText(svc), "dataplane", d.dpName, "backends", len(backends))
	}
	svc.applied = true
	return d.notListeningErr(svc)
}

// removeSteersLocked removes from the data plane the services of virtual server vs in old that
// keep is without (all of them when keep is nil: vs is gone).
func (d *Half) removeSteersLocked(vs string, old, keep []*dataplane.Service) {
	for _, o := range old {
		if slices.ContainsFunc(keep, func(k *dataplane.Service) bool { return k.Name == o.Name }) {
			continue
		}
		delete(d.dpNotServing, o.Name)
		if !d.listened {
			continue
		}
		if err := d.dp.Remove(d.life, o.Name); err != nil {
			d.log.Warn("data plane remove", "vs", vs, "service", o.Name, "err", err)
		}
	}
}

// notListeningErr is what keeps an applied service from serving on the data plane's side, as an
// error, or nil: the first of its data plane services that is not in place.
func (d *Half) notListeningErr(svc *service) error {
	for _, steer := range svc.steers {
		if why := d.dpNotServing[steer.Name]; why != "" {
			return errors.New(why)
		}
	}
	return nil
}

// poke wakes the pool clock after its next change may have moved earlier.
func (d *Half) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// tickPools drives time-based pool changes (slow start) at the moments the pools ask for.
func (d *Half) tickPools(ctx context.Context) {
	timer := d.clk.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		now := d.clk.Now()
		var next time.Time
		for _, name := range d.order {
			svc := d.services[name]
			if t, ok := svc.pool.NextChange(now); ok {
				if !t.After(now) {
					d.handleEventsLocked(svc, svc.pool.Tick(now), true)
					if t2, ok := svc.pool.NextChange(now); ok {
						t = t2
					} else {
						continue
					}
				}
				if next.IsZero() || t.Before(next) {
					next = t
				}
			}
		}
		d.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			if !timer.Stop() {
				select {
				case <-timer.C():
				default:
				}
			}
		case <-timer.C():
		}
	}
}
