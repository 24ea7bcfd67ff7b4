package vrrp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/track"
	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
)

// ManagerOptions are what a Manager needs besides the configuration.
type ManagerOptions struct {
	// Logger receives the instances' logs; nil discards them.
	Logger *slog.Logger
	// Runner runs notify scripts and vrrp_scripts; nil runs none (and vrrp_scripts never
	// report).
	Runner *notify.Runner
	// Clock drives the timers; nil is the real clock.
	Clock clock.Clock
	// OnEvent, if set, is called with every state change, from the instance's goroutine: it
	// must not block.
	OnEvent func(Event)
	// RealtimePriority is vrrp_rt_priority: 1-99 makes the process's threads SCHED_RR at that
	// priority while Run runs (see rt.go); 0 does not.
	RealtimePriority int
	// ReconcileInterval is how often a master reads back its virtual addresses, routes and
	// rules and puts back what is missing (reconcile.go); 0 is DefaultReconcileInterval. The
	// kernel's change events make it read back at once in between.
	ReconcileInterval time.Duration
	// OnRepair, if set, is called with every virtual address, route or rule a master put back,
	// and with every new reason one could not be, from the instance's goroutine: it must not
	// block.
	OnRepair func(Repair)
	// Uptime is how long the host has been up, for vrrp_delay_after_boot; nil reads
	// /proc/uptime.
	Uptime func() (time.Duration, error)
}

// Manager runs the vrrp_instances of a configuration in the process's network namespace.
type Manager struct {
	opts ManagerOptions
	log  *slog.Logger
	host *netif.Host
	user *notify.User

	reload  sync.Mutex // serialises Reload
	mu      sync.Mutex
	specs   []*spec                           // the configuration in force, in order
	cfg     *config.Config                    // the configuration in force
	insts   map[string]*runningInst           // by instance name, while Run runs
	last    map[string]trackUpdate            // last known state of each tracked object
	trackrs map[string]*runningTrack          // by tracked object key
	groups  map[string]map[string]bool        // sync group → members whose own fault is up
	members map[string]map[string]*syncMember // sync group → running member by name
	groupSt map[string]fsm.State              // sync group → state last notified
	// resigned are the operators' resignations by instance name (resign.go).
	resigned map[string]Resignation
	ctx      context.Context         // Run's, nil before Run
	started  bool                    // the instances run (after vrrp_startup_delay)
	fifo     atomic.Pointer[fifoSet] // notify fifos, while Run runs
	// poolPending holds pool reports (PoolHealth) not yet delivered; poolWake signals them.
	poolPending map[string]trackUpdate
	poolWake    chan struct{}
	wg          sync.WaitGroup
	rt          realtimeThreads // vrrp_rt_priority
	// timerOnly leaves the kernel's change events unwatched: masters read back on their timer
	// only. For tests of the periodic read-back.
	timerOnly bool
}

type runningInst struct {
	in     *instance
	cancel context.CancelFunc
	done   chan struct{}
}

type runningTrack struct {
	id     string // configuration the tracker runs with
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager checks cfg's instances and returns a Manager for them. What vigil cannot run (an
// instance with IPVLAN or IPv6 over VRRPv2, a script that is missing or, with
// enable_script_security, insecure, a script user that does not exist) is an error at its
// line; Validate says the same without opening anything.
func NewManager(cfg *config.Config, opts ManagerOptions) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.ReconcileInterval <= 0 {
		opts.ReconcileInterval = DefaultReconcileInterval
	}
	if opts.Uptime == nil {
		opts.Uptime = hostUptime
	}
	host, err := netif.Open()
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, log: opts.Logger, host: host, insts: map[string]*runningInst{},
		last: map[string]trackUpdate{}, trackrs: map[string]*runningTrack{}, groups: map[string]map[string]bool{},
		members: map[string]map[string]*syncMember{}, groupSt: map[string]fsm.State{}, poolWake: make(chan struct{}, 1),
		resigned: map[string]Resignation{}}
	specs, user, err := m.build(cfg)
	if err != nil {
		host.Close()
		return nil, err
	}
	m.specs, m.cfg, m.user = specs, cfg, user
	return m, nil
}

// startupDelay is how long the instances wait before their first election: vrrp_startup_delay,
// or what is left of vrrp_delay_after_boot since the host booted, whichever is longer (Keepalived
// 2.4 takes the longer too).
func (m *Manager) startupDelay() time.Duration {
	g := &m.cfg.Global
	delay := g.VRRPStartupDelay.D()
	if after := g.VRRPDelayAfterBoot.D(); after > 0 {
		up, err := m.opts.Uptime()
		if err != nil {
			m.log.Warn("vrrp_delay_after_boot ignored: host uptime unknown", "error", err)
		} else if left := after - up; left > delay {
			delay = left
		}
	}
	return delay
}

// hostUptime reads the host's uptime from /proc/uptime.
func hostUptime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/uptime: empty")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/uptime: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// build runs build for NewManager and Reload with the Manager's runner, logging its warnings.
func (m *Manager) build(cfg *config.Config) ([]*spec, *notify.User, error) {
	b, err := build(cfg, m.opts.Runner, interfaceExists)
	for _, w := range b.warnings {
		m.log.Warn(w.Message, "at", w.Pos.String())
	}
	if err != nil {
		return nil, nil, err
	}
	return b.specs, b.user, nil
}

// Close releases the netlink handle NewManager opened, for a Manager whose Run is never called
// (Run releases it when it returns).
func (m *Manager) Close() {
	m.mu.Lock()
	ran := m.ctx != nil
	m.mu.Unlock()
	if !ran {
		m.host.Close()
	}
}

// Run runs the instances until ctx ends. Then every master resigns (priority 0), the virtual
// addresses are removed and notify_stop scripts run; Run returns when that is done.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return fmt.Errorf("vrrp: manager already running")
	}
	m.ctx = ctx
	m.setStaticRules(nil, m.cfg)
	m.syncTrackers()
	m.fifo.Store(openFifos(ctx, &m.cfg.Global, m.opts.Runner, m.user, m.log))
	delay := m.startupDelay()
	m.mu.Unlock()
	// vrrp_startup_delay: give the host's network time to settle before the first election.
	if delay > 0 {
		m.log.Info("vrrp startup delayed", "delay", delay)
		t := m.opts.Clock.NewTimer(delay)
		select {
		case <-ctx.Done():
		case <-t.C():
		}
		t.Stop()
	}
	m.mu.Lock()
	if ctx.Err() == nil {
		m.started = true
		for _, s := range m.specs {
			m.start(s)
		}
	}
	m.mu.Unlock()

	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.deliverPools(ctx)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.keepRealtime(ctx)
	}()
	m.watchDrift(ctx)
	linkDone := make(chan struct{})
	go func() {
		defer close(linkDone)
		if err := netif.WatchLinks(ctx, m.linkChanged); err != nil {
			m.log.Error("interface tracking stopped", "error", err)
		}
	}()
	<-ctx.Done()
	<-linkDone
	m.mu.Lock()
	for name, r := range m.insts {
		r.cancel()
		delete(m.insts, name)
	}
	for k, t := range m.trackrs {
		t.cancel()
		delete(m.trackrs, k)
	}
	m.setStaticRules(m.cfg, nil)
	m.mu.Unlock()
	m.wg.Wait()
	// After the instances: their STOP lines are written.
	if fs := m.fifo.Swap(nil); fs != nil {
		fs.close()
	}
	m.host.Close()
	return nil
}

// start runs an instance for s; m.mu is held.
func (m *Manager) start(s *spec) {
	in := newInstance(s, m.opts, m.host, m.user)
	_, resigned := m.resigned[s.name]
	in.resign.Store(resigned)
	in.groupFault = m.groupFault
	in.fifos = &m.fifo
	if s.group != "" {
		in.groupWant, in.groupState = m.groupWant, m.groupStateChanged
		if m.members[s.group] == nil {
			m.members[s.group] = map[string]*syncMember{}
		}
		m.members[s.group][s.name] = &syncMember{in: in, state: fsm.Init}
	}
	if s.group != "" {
		// Joining a group that is in fault: start in fault with it.
		for member := range m.groups[s.group] {
			in.syncFault = in.syncFault || member != s.name
		}
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := &runningInst{in: in, cancel: cancel, done: in.done}
	m.insts[s.name] = r
	initial := m.initialTracks(s)
	in.lastTracks = func(s *spec) map[string]trackUpdate {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.initialTracks(s)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(r.done)
		in.run(ctx, initial)
	}()
}

// initialTracks is what is known of the objects s tracks; m.mu is held.
func (m *Manager) initialTracks(s *spec) map[string]trackUpdate {
	initial := map[string]trackUpdate{}
	for _, t := range s.tracks {
		if u, ok := m.last[t.key()]; ok {
			initial[t.key()] = u
		} else if t.kind == "interface" {
			ls, err := m.host.Link(t.name)
			initial[t.key()] = trackUpdate{key: t.key(), up: err == nil && ls.Up}
		}
	}
	return initial
}

// stop stops a running instance and waits for it to resign.
func (m *Manager) stop(r *runningInst) {
	r.cancel()
	<-r.done
}

// groupFault spreads one member's own fault to its whole sync group.
func (m *Manager) groupFault(in *instance, fault bool) {
	g := in.conf().group
	if g == "" {
		return
	}
	m.mu.Lock()
	set := m.groups[g]
	if set == nil {
		set = map[string]bool{}
		m.groups[g] = set
	}
	if fault {
		set[in.conf().name] = true
	} else {
		delete(set, in.conf().name)
	}
	var targets []*instance
	for _, r := range m.insts {
		if r.in.conf().group == g && r.in != in {
			targets = append(targets, r.in)
		}
	}
	any := len(set) > 0
	if !fault && len(set) == 0 {
		delete(m.groups, g)
	}
	ctx := m.ctx
	m.mu.Unlock()
	for _, t := range targets {
		select {
		case t.sync <- any:
		case <-t.done:
		case <-ctx.Done():
		}
	}
}

// syncMember is what the Manager knows of a running sync group member.
type syncMember struct {
	in    *instance
	want  bool // its master down timer ran out
	state fsm.State
}

// groupWant records whether in wants master. When every member of its group wants master or
// is master already (vrrp_sync_can_goto_master), the other backups are told to go master and
// it returns true: in goes master too.
func (m *Manager) groupWant(in *instance, want bool) bool {
	m.mu.Lock()
	group := m.members[in.conf().group]
	me := group[in.conf().name]
	if me == nil || me.in != in {
		m.mu.Unlock()
		return false
	}
	me.want = want
	if !want {
		m.mu.Unlock()
		return false
	}
	var targets []*instance
	for _, o := range group {
		if o == me {
			continue
		}
		if !o.want && o.state != fsm.Master {
			m.mu.Unlock()
			return false
		}
		if o.state != fsm.Master {
			targets = append(targets, o.in)
		}
	}
	ctx := m.ctx
	m.mu.Unlock()
	m.log.Info("vrrp sync group going MASTER", "group", in.conf().group, "by", in.conf().name)
	m.force(ctx, targets, fsm.Master)
	return true
}

// groupStateChanged records in's new state. A member leaving MASTER for BACKUP takes the
// group's other masters with it (vrrp_sync_backup); faults spread through groupFault. It
// returns the group's notify scripts when the group's state changed: FAULT when any member is
// in fault, MASTER or BACKUP once every member is.
func (m *Manager) groupStateChanged(in *instance, from, to fsm.State) []notifyJob {
	m.mu.Lock()
	name := in.conf().group
	group := m.members[name]
	me := group[in.conf().name]
	if me == nil || me.in != in {
		m.mu.Unlock()
		return nil
	}
	me.state = to
	var targets []*instance
	if from == fsm.Master && to == fsm.Backup {
		for _, o := range group {
			if o != me && o.state == fsm.Master {
				targets = append(targets, o.in)
			}
		}
	}
	if to == fsm.Stop {
		delete(group, in.conf().name)
		if len(group) == 0 {
			delete(m.members, name)
			delete(m.groupSt, name)
			// Keepalived's notify_shutdown ends with each group's STOP.
			if fs := m.fifo.Load(); fs != nil {
				fs.group(name, fsm.Stop.String())
			}
		}
	}
	count := map[fsm.State]int{}
	for _, o := range group {
		count[o.state]++
	}
	gs, known := m.groupSt[name]
	next := gs
	switch {
	case to == fsm.Stop:
	case count[fsm.Fault] > 0:
		next = fsm.Fault
	case count[fsm.Master] == len(group):
		next = fsm.Master
	case count[fsm.Backup] == len(group):
		next = fsm.Backup
	}
	var jobs []notifyJob
	if to != fsm.Stop && (!known || next != gs) && next != fsm.Init {
		m.groupSt[name] = next
		n := groupNotify(m.cfg, name)
		var s *syntax.Script
		switch next {
		case fsm.Master:
			s = n.master
		case fsm.Backup:
			s = n.backup
		case fsm.Fault:
			s = n.fault
		}
		if s != nil {
			jobs = append(jobs, notifyJob{script: s})
		}
		if n.generic != nil {
			jobs = append(jobs, notifyJob{script: n.generic, args: notify.GroupArgs(name, next.String())})
		}
		m.log.Info("vrrp sync group state changed", "group", name, "state", next.String())
		if fs := m.fifo.Load(); fs != nil {
			fs.group(name, next.String())
		}
	}
	ctx := m.ctx
	m.mu.Unlock()
	if len(targets) > 0 {
		m.log.Info("vrrp sync group going BACKUP", "group", name, "by", in.conf().name)
		m.force(ctx, targets, fsm.Backup)
	}
	return jobs
}

// groupNotify is sync group name's notify scripts in cfg (the configuration in force, so that
// a reload changes them without restarting the members).
func groupNotify(cfg *config.Config, name string) notifySpec {
	for _, g := range cfg.VRRPSyncGroups {
		if g.Name == name {
			return notifySpec{master: g.NotifyMaster, backup: g.NotifyBackup, fault: g.NotifyFault,
				stop: g.NotifyStop, generic: g.Notify}
		}
	}
	return notifySpec{}
}

// force tells each target to go to st; it gives up on a target that has stopped.
func (m *Manager) force(ctx context.Context, targets []*instance, st fsm.State) {
	for _, t := range targets {
		select {
		case t.force <- st:
		case <-t.done:
		case <-ctx.Done():
		}
	}
}

func (m *Manager) dispatch(u trackUpdate) {
	m.mu.Lock()
	m.last[u.key] = u
	var targets []*instance
	for _, r := range m.insts {
		for _, t := range r.in.conf().tracks {
			if t.key() == u.key {
				targets = append(targets, r.in)
				break
			}
		}
	}
	ctx := m.ctx
	m.mu.Unlock()
	for _, in := range targets {
		in.track(ctx, u)
	}
}

func (m *Manager) linkChanged(ls netif.LinkState) {
	m.mu.Lock()
	prev, known := m.last["interface:"+ls.Name]
	var all []*instance
	if ls.Up && known && !prev.up {
		for _, r := range m.insts {
			all = append(all, r.in)
		}
	}
	m.mu.Unlock()
	m.dispatch(trackUpdate{key: "interface:" + ls.Name, up: ls.Up})
	for _, in := range all {
		in.linkCameUp(ls.Name)
	}
}

// syncTrackers starts the vrrp_script and track_file watchers the instances use and stops
// the others; m.mu is held and m.ctx set.
func (m *Manager) syncTrackers() {
	want := map[string]string{}
	for _, s := range m.specs {
		for _, t := range s.tracks {
			if t.kind != "interface" {
				want[t.key()] = ""
			}
		}
	}
	for _, sc := range m.cfg.VRRPScripts {
		k := "script:" + sc.Name
		if _, ok := want[k]; ok {
			b, _ := json.Marshal(sc)
			want[k] = string(stripPosJSON(b))
		}
	}
	for _, f := range m.cfg.VRRPTrackFiles {
		k := "file:" + f.Name
		if _, ok := want[k]; ok {
			b, _ := json.Marshal(f)
			want[k] = string(stripPosJSON(b))
		}
	}
	m.processTrackerIDs(want)
	m.forgetPools()
	for k, t := range m.trackrs {
		if id, ok := want[k]; !ok || id != t.id {
			t.cancel()
			delete(m.trackrs, k)
			delete(m.last, k)
		}
	}
	for _, sc := range m.cfg.VRRPScripts {
		k := "script:" + sc.Name
		if id, ok := want[k]; ok && m.trackrs[k] == nil {
			if m.opts.Runner == nil || sc.Script == nil {
				continue
			}
			runner := track.NewScript(sc, m.opts.Runner, m.user, m.opts.Clock, m.log)
			m.runTracker(k, id, func(ctx context.Context) {
				runner.Run(ctx, func(up bool) { m.dispatch(trackUpdate{key: k, up: up}) })
			})
		}
	}
	for _, f := range m.cfg.VRRPTrackFiles {
		k := "file:" + f.Name
		if id, ok := want[k]; ok && m.trackrs[k] == nil {
			w := track.NewFile(f, m.opts.Clock, 0, m.log)
			m.runTracker(k, id, func(ctx context.Context) {
				w.Run(ctx, func(v int) { m.dispatch(trackUpdate{key: k, value: v}) })
			})
		}
	}
	m.startProcessTrackers(want)
}

func (m *Manager) runTracker(key, id string, run func(context.Context)) {
	ctx, cancel := context.WithCancel(m.ctx)
	t := &runningTrack{id: id, cancel: cancel, done: make(chan struct{})}
	m.trackrs[key] = t
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(t.done)
		run(ctx)
	}()
}

func stripPosJSON(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, _ := json.Marshal(stripPos(v))
	return out
}

// Reload switches to cfg. Instances whose configuration (and the scripts they track) did not
// change keep running untouched. Changed ones keep their state and take the new
// configuration in place (priority, advert_int, addresses, routes, tracking, notify
// scripts...) unless their identity changed (interface, VRID, family, version, unicast mode,
// source address, multicast group, sync group): those restart, a master resigning first.
// Removed ones stop, new ones start. A cfg with an instance vigil cannot run is refused and
// the running configuration stays.
func (m *Manager) Reload(cfg *config.Config) error {
	m.reload.Lock()
	defer m.reload.Unlock()
	specs, user, err := m.build(cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.user = user
	old := map[string]*spec{}
	for _, s := range m.specs {
		old[s.name] = s
	}
	if m.ctx != nil && m.ctx.Err() == nil {
		m.setStaticRules(m.cfg, cfg)
	}
	m.specs, m.cfg = specs, cfg
	m.forgetResignations()
	if m.ctx == nil || !m.started {
		if m.ctx != nil && m.ctx.Err() == nil {
			m.syncTrackers()
			m.reloadFifos(cfg)
		}
		m.mu.Unlock()
		return nil
	}
	if m.ctx.Err() != nil {
		m.mu.Unlock()
		return fmt.Errorf("vrrp: reload after shutdown")
	}
	m.reloadFifos(cfg)
	keep := map[string]bool{}
	var updates []*spec
	for _, s := range specs {
		o := old[s.name]
		if o == nil {
			continue
		}
		switch reloadActionFor(o, s) {
		case reloadKeep:
			keep[s.name] = true
		case reloadUpdate:
			keep[s.name] = true
			updates = append(updates, s)
		}
	}
	var stopping []*runningInst
	for name, r := range m.insts {
		if !keep[name] {
			stopping = append(stopping, r)
			delete(m.insts, name)
		}
	}
	m.mu.Unlock()
	for _, r := range stopping {
		m.stop(r)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return nil
	}
	m.syncTrackers()
	for _, s := range specs {
		if !keep[s.name] {
			m.start(s)
		}
	}
	for _, s := range updates {
		if r := m.insts[s.name]; r != nil {
			r.in.updateTo(s)
		}
	}
	return nil
}

// Snapshot returns the state of every instance, sorted by name.
func (m *Manager) Snapshot() []InstanceStatus {
	m.mu.Lock()
	var out []InstanceStatus
	if m.started {
		for _, r := range m.insts {
			out = append(out, r.in.snapshot())
		}
	} else {
		for _, s := range m.specs {
			out = append(out, newInstance(s, m.opts, m.host, m.user).snapshot())
		}
	}
	for i := range out {
		if r, ok := m.resigned[out[i].Name]; ok {
			out[i].Resignation = &r
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
