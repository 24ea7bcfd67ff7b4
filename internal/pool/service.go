package pool

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// WeightOp says how an Observation changes its check's share of the server's weight.
type WeightOp int

const (
	// WeightKeep leaves the check's share alone (the zero value: most checks).
	WeightKeep WeightOp = iota
	// WeightSet asks for the server's weight to be Value: MISC_CHECK with misc_dynamic, exit
	// status 2..255 meaning weight status-2. Precisely, as Keepalived does it, the check's
	// share becomes Value minus the configured weight, so with one dynamic check the
	// server's weight is Value.
	WeightSet
	// WeightAdd makes the check's share Value, added to the configured weight: FILE_CHECK
	// (the file's number times its weight), or misc_dynamic's exit status 0 with Value 0.
	WeightAdd
)

// WeightUpdate is a weight a check asks for. Its zero value asks for nothing.
type WeightUpdate struct {
	Op    WeightOp
	Value int
}

// Observation is one verdict of one check of one real server, after the check's retries.
type Observation struct {
	Server string
	// Ref, when set (Service.Ref of Server), finds the server without a lookup by its ID.
	Ref ServerRef
	// Check indexes ServerSpec.Checks.
	Check   int
	Healthy bool
	// Weight applies only when Healthy: a failed verdict clears the check's share of the
	// weight, as Keepalived does.
	Weight WeightUpdate
	// Reason says what the check saw ("connect: connection refused").
	Reason string
	// Started is when the probe behind the verdict started (zero: unknown). A pass from a
	// probe that started before a passive ejection does not end it (ObserveFailure).
	Started time.Time
}

// StopReason says why a service stops; it decides which scripts Keepalived would run.
type StopReason int

const (
	// StopShutdown: the daemon exits. notify_down and quorum_down run only with omega.
	StopShutdown StopReason = iota
	// StopRemoved: a reload removed the virtual server. Keepalived runs notify_down for the
	// live servers, and quorum_down if quorum was up, whatever omega says.
	StopRemoved
)

// rampSteps is how many steps slow start takes from weight ~1 to full: bounded, so a large
// weight does not make the data plane rewrite the weight thousands of times.
const rampSteps = 10

type check struct {
	spec        CheckSpec
	up          bool
	hasRun      bool
	streak      int // successes in a row while down (for Rise)
	lastHealthy bool
	lastReason  string
	lastAt      time.Time
	since       time.Time
	share       int64 // this check's share of the server's weight (dynamic weights)
	// The last weight the check asked for, to recompute share if the configured weight
	// changes on reload (WeightSet is relative to it).
	weightOp    WeightOp
	weightValue int
}

type server struct {
	spec   ServerSpec
	checks []check
	failed int // checks not up
	alive  bool
	since  time.Time
	share  int64 // sum of the checks' shares

	ramping   bool
	rampStart time.Time
	rampStep  int

	// admin is the operator's say (admin.go): drain, maint, a weight override; holds are
	// the agent's and discovery's words (holds.go), agentPct the weight the agent asked for
	// in percent of the configured weight (-1: none).
	admin    Admin
	holds    [numHolders]hold
	agentPct int

	lastEv  int    // index in the current call's events of the last event naming this server
	lastGen uint64 // call the lastEv belongs to

	// Passive health (passive.go): ejected since ejectedAt for what the data plane saw
	// (ejectedWhy), only ever while alive; ejectRefused once a refusal of this run of
	// failures was said.
	ejected      bool
	ejectedAt    time.Time
	ejectedWhy   string
	ejectRefused bool
}

// effective is the server's weight before clamping: the operator's override, else the
// agent's percentage of the configured weight, else the configured weight plus the checks'
// shares.
func (r *server) effective() int64 {
	switch {
	case r.admin.HasWeight:
		return int64(r.admin.Weight)
	case r.agentPct >= 0:
		return int64(r.spec.Weight) * int64(r.agentPct) / 100
	}
	return int64(r.spec.Weight) + r.share
}

// live is what the server adds to the live weight: nothing unless it is up and ready (a
// drained or maintained server is out of the pool's capacity).
func (r *server) live() int64 {
	if !r.alive || r.adminState() != AdminReady {
		return 0
	}
	return int64(realWeight(r.effective()))
}

// realWeight clamps an effective weight to what a data plane takes, as Keepalived does.
func realWeight(w int64) int {
	if w < 0 {
		return 0
	}
	if w > MaxWeight {
		return MaxWeight
	}
	return int(w)
}

// Service is the pool of one virtual service: the single owner of which backends are in.
// It is not safe for concurrent use; the daemon serialises calls per service.
type Service struct {
	spec       ServiceSpec
	quorum     int64
	hysteresis int64
	notes      []string

	servers map[string]*server
	order   []*server

	up           int   // servers alive
	live         int64 // sum of the real weights of live servers
	pendingAlpha int   // alpha checks still waiting for their first result
	// ready counts the servers an operator left to their checks (AdminReady), readyUp those
	// of them alive: panic is decided among them.
	ready, readyUp int
	// ejected counts the servers passive health ejected (passive.go): alive and ready.
	ejected int

	quorumUp    bool
	panic       bool
	sorryActive bool
	suspended   bool
	stopped     bool

	ramping map[*server]struct{}
	desired map[string]int
	// fullObserve makes Observe run its whole transaction even for a result that changes
	// nothing; tests compare the two ways.
	fullObserve bool
	// specGen counts Reconfigures: a ServerRef from before the last one is not used.
	specGen uint64
	// sorted is desired as a slice sorted by ID, as of the last Desired call; pending are
	// the IDs changed since, applied by the next Desired call.
	sorted  []Backend
	pending map[string]struct{}

	// The call in progress.
	gen       uint64
	now       time.Time
	events    []Event
	touched   []*server
	all       bool
	defaultEv int
	panicEv   int
	sorryEv   int
	gone      map[string]*server
}

// New builds the pool of spec as it stands at start-up, at time now. The events say what
// start-up decided (and which scripts Keepalived runs then); ServiceStarted carries the
// initial desired set as Changes.
func New(spec ServiceSpec, now time.Time) (*Service, []Event, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	s := &Service{
		servers: make(map[string]*server, len(spec.Servers)),
		ramping: make(map[*server]struct{}),
		desired: make(map[string]int, len(spec.Servers)+1),
		pending: make(map[string]struct{}),
	}
	s.setSpec(spec)
	s.suspended = spec.HASuspend
	for i := range s.spec.Servers {
		r := newServer(s.spec.Servers[i], now)
		s.servers[r.spec.ID] = r
		s.order = append(s.order, r)
	}
	s.recount()
	// Keepalived's start-up rule (set_quorum_states): quorum is up only if the live weight
	// reaches quorum+hysteresis.
	s.quorumUp = s.live >= s.quorum+s.hysteresis

	s.begin(now)
	s.defaultEv = s.emit(ServiceStarted, nil, -1, s.startReason(), "")
	if s.suspended {
		s.emit(ChecksSuspended, nil, -1, "virtual address not yet local: checks suspended (ha_suspend)", "")
	}
	if spec.InitNotifies {
		for _, r := range s.order {
			if r.alive {
				s.emit(ServerUp, r, -1, "up at start-up (rs_init_notifies)", r.spec.NotifyUp)
			}
		}
	}
	if !s.quorumUp {
		// Keepalived runs quorum_down at start-up only when it has a sorry server to put in.
		script := ""
		if s.spec.Sorry != nil {
			script = s.spec.QuorumDown
		}
		s.emit(QuorumLost, nil, -1, fmt.Sprintf("starting with quorum down: live weight %d < %d+%d", s.live, s.quorum, s.hysteresis), script)
	}
	s.all = true
	return s, s.commit(), nil
}

func (s *Service) startReason() string {
	alpha := 0
	for _, r := range s.order {
		if !r.alive {
			alpha++
		}
	}
	return fmt.Sprintf("started with %d real servers, %d up, %d waiting for their first check (alpha)", len(s.order), s.up, alpha)
}

func newServer(spec ServerSpec, now time.Time) *server {
	r := &server{spec: spec, since: now, lastEv: -1, checks: make([]check, len(spec.Checks)), agentPct: -1}
	for i, c := range spec.Checks {
		r.checks[i] = check{spec: c, up: !c.Alpha, since: now}
		if c.Alpha {
			r.failed++
		}
	}
	r.alive = r.failed == 0
	return r
}

func (s *Service) setSpec(spec ServiceSpec) {
	spec.Servers = slices.Clone(spec.Servers)
	for i := range spec.Servers {
		spec.Servers[i].Checks = slices.Clone(spec.Servers[i].Checks)
	}
	if spec.Sorry != nil {
		sorry := *spec.Sorry
		spec.Sorry = &sorry
	}
	s.spec = spec
	s.quorum, s.hysteresis, s.notes = quorumOf(&s.spec)
}

// recount recomputes the counters Observe keeps up to date one server at a time.
func (s *Service) recount() {
	s.up, s.live, s.pendingAlpha, s.ready, s.readyUp, s.ejected = 0, 0, 0, 0, 0, 0
	for _, r := range s.order {
		if r.alive {
			s.up++
		}
		if r.ejected {
			s.ejected++
		}
		if r.adminState() == AdminReady {
			s.ready++
			if r.alive {
				s.readyUp++
			}
		}
		s.live += r.live()
		for i := range r.checks {
			if !r.checks[i].hasRun && !r.checks[i].up {
				s.pendingAlpha++
			}
		}
	}
}

// Observe applies one check verdict at time now and returns what it changed. An observation
// for an unknown server or check is refused with an error; one that arrives while checks are
// suspended (ha_suspend) is stale and ignored. Its cost does not grow with the pool's size
// unless it flips quorum, panic or the sorry server.
func (s *Service) Observe(o Observation, now time.Time) ([]Event, error) {
	r, err := s.serverOf(o.Server, o.Ref, "observation")
	if err != nil {
		return nil, err
	}
	if o.Check < 0 || o.Check >= len(r.checks) {
		return nil, fmt.Errorf("pool %q: real server %q: observation for check #%d, server has %d checks", s.spec.Name, o.Server, o.Check, len(r.checks))
	}
	if s.suspended {
		return nil, nil
	}
	c := &r.checks[o.Check]
	if !s.fullObserve && !r.ejected && c.unchangedBy(o) {
		// Most results repeat the last one: with nothing to change, the transaction would
		// derive the same state and emit nothing, at the cost of a few map lookups per
		// probe that showed in the checker benchmark's profile.
		c.lastHealthy, c.lastReason, c.lastAt = o.Healthy, o.Reason, now
		return nil, nil
	}
	s.begin(now)
	oldEff, oldLive, oldAlive := r.effective(), r.live(), r.alive

	first := !c.hasRun
	if first && !c.up {
		s.pendingAlpha--
	}
	c.hasRun = true
	c.lastHealthy, c.lastReason, c.lastAt = o.Healthy, o.Reason, now

	switch {
	case !o.Healthy:
		c.weightOp, c.weightValue = WeightKeep, 0
	case o.Weight.Op == WeightSet || o.Weight.Op == WeightAdd:
		c.weightOp, c.weightValue = o.Weight.Op, o.Weight.Value
	}
	share := shareOf(c.weightOp, c.weightValue, r.spec.Weight)
	r.share += share - c.share
	c.share = share

	flipped := false
	if o.Healthy {
		if !c.up {
			c.streak++
			if c.streak >= r.spec.rise() {
				c.up, c.since, c.streak = true, now, 0
				r.failed--
				flipped = true
			}
		}
	} else {
		c.streak = 0
		if c.up {
			c.up, c.since = false, now
			r.failed++
			flipped = true
		}
	}
	if newEff := r.effective(); realWeight(newEff) != realWeight(oldEff) {
		s.emit(WeightChanged, r, o.Check, fmt.Sprintf("%s asked for weight %d (was %d)", checkLabel(r, o.Check), realWeight(newEff), realWeight(oldEff)), "")
	}
	r.alive = r.failed == 0
	switch {
	case r.alive && !oldAlive:
		r.since = now
		s.up++
		if r.adminState() == AdminReady {
			s.readyUp++
		}
		s.emit(ServerUp, r, o.Check, fmt.Sprintf("%s passed: %s; all %d checks pass", checkLabel(r, o.Check), o.Reason, len(r.checks)), r.spec.NotifyUp)
		s.startRamp(r, now)
	case !r.alive && oldAlive:
		r.since = now
		s.up--
		if r.adminState() == AdminReady {
			s.readyUp--
		}
		s.emit(ServerDown, r, o.Check, fmt.Sprintf("%s failed: %s", checkLabel(r, o.Check), o.Reason), r.spec.NotifyDown)
		s.stopRamp(r)
	case first && !flipped && c.up == o.Healthy && (c.spec.Alpha || !o.Healthy):
		// Keepalived's has_run rule: a first result that agrees with the state the check
		// started in still runs the server's notify script for its current state.
		script, state := r.spec.NotifyDown, "down"
		if r.alive {
			script, state = r.spec.NotifyUp, "up"
		}
		s.emit(ServerConfirmed, r, o.Check, fmt.Sprintf("first result of %s confirms server %s: %s", checkLabel(r, o.Check), state, o.Reason), script)
	}
	s.endEjection(r, o.Check, r.alive, o.Started, o.Reason)
	s.live += r.live() - oldLive
	s.touch(r)
	s.evalQuorum()
	return s.commit(), nil
}

// unchangedBy reports whether o changes nothing of c but its last result: a check that has run
// sees the same verdict again, asks for no weight, and (when failing) has no weight or
// streak left for a failure to reset.
func (c *check) unchangedBy(o Observation) bool {
	if !c.hasRun || o.Healthy != c.up || o.Weight.Op != WeightKeep {
		return false
	}
	return o.Healthy || (c.streak == 0 && c.weightOp == WeightKeep && c.weightValue == 0 && c.share == 0)
}

// ServerRef is a real server of a Service as Observe finds it without a lookup by ID: at
// thousands of observations a second over thousands of servers, the map lookup (a cache miss
// or two) showed in profiles. A Reconfigure retires every ref taken before it (Observe then
// looks the server up by ID as without one).
type ServerRef struct {
	r   *server
	gen uint64
}

// serverOf finds real server id, through ref when it is current, for an input (what, for the
// error) that names it: an error after Stop or for a server the pool does not have.
func (s *Service) serverOf(id string, ref ServerRef, what string) (*server, error) {
	if s.stopped {
		return nil, fmt.Errorf("pool %q: %s for %q after stop", s.spec.Name, what, id)
	}
	r := ref.r
	if r == nil || ref.gen != s.specGen || r.spec.ID != id {
		r = s.servers[id]
	}
	if r == nil {
		return nil, fmt.Errorf("pool %q: %s for unknown real server %q", s.spec.Name, what, id)
	}
	return r, nil
}

// Ref returns the ref of real server id; the zero ServerRef when there is none.
func (s *Service) Ref(id string) ServerRef {
	r := s.servers[id]
	if r == nil {
		return ServerRef{}
	}
	return ServerRef{r: r, gen: s.specGen}
}

// shareOf is a check's share of its server's weight, given what it last asked for.
func shareOf(op WeightOp, value, configured int) int64 {
	switch op {
	case WeightSet:
		return int64(value) - int64(configured)
	case WeightAdd:
		return int64(value)
	}
	return 0
}

func checkLabel(r *server, i int) string {
	if n := r.checks[i].spec.Name; n != "" {
		return fmt.Sprintf("check #%d (%s)", i, n)
	}
	return fmt.Sprintf("check #%d", i)
}

// Tick advances slow-start ramps to time now. Call it at NextChange.
func (s *Service) Tick(now time.Time) []Event {
	if s.stopped || len(s.ramping) == 0 {
		return nil
	}
	s.begin(now)
	for _, r := range s.rampingSorted() {
		before := rampedWeight(r)
		step := rampStepAt(r, now)
		if step >= rampSteps {
			r.ramping = false
			delete(s.ramping, r)
		} else {
			r.rampStep = step
		}
		if after := rampedWeight(r); after != before {
			reason := fmt.Sprintf("slow start: weight %d of %d (step %d/%d)", after, realWeight(r.effective()), step, rampSteps)
			if !r.ramping {
				reason = fmt.Sprintf("slow start over: full weight %d", after)
			}
			s.emit(WeightChanged, r, -1, reason, "")
			s.touch(r)
		}
	}
	return s.commit()
}

// NextChange returns when the desired state next changes by itself (a slow-start step), and
// false if it does not.
func (s *Service) NextChange(now time.Time) (time.Time, bool) {
	var next time.Time
	found := false
	if s.stopped {
		return next, false
	}
	for r := range s.ramping {
		t := rampStepTime(r, r.rampStep+1)
		if !found || t.Before(next) {
			next, found = t, true
		}
	}
	return next, found
}

// SetAddressLocal tells an ha_suspend service whether its virtual address is local. While it
// is not, checks are suspended: the daemon should not run them, the pool ignores stale
// results, and the desired state stays as it was (as Keepalived's does). An ha_suspend
// service starts suspended until told the address is local.
func (s *Service) SetAddressLocal(local bool, now time.Time) []Event {
	if !s.spec.HASuspend || s.stopped || s.suspended == !local {
		return nil
	}
	s.begin(now)
	s.suspended = !local
	if s.suspended {
		s.emit(ChecksSuspended, nil, -1, "virtual address is not local: checks suspended (ha_suspend)", "")
	} else {
		s.emit(ChecksResumed, nil, -1, "virtual address is local: checks resumed (ha_suspend)", "")
	}
	return s.commit()
}

// Suspended says whether checks should be paused (ha_suspend with the address not local).
func (s *Service) Suspended() bool { return s.suspended }

// Stop takes the service down: the desired set becomes empty, and the events name the scripts
// Keepalived would run for why. The Service accepts no observations afterwards.
func (s *Service) Stop(why StopReason, now time.Time) []Event {
	if s.stopped {
		return nil
	}
	s.begin(now)
	what := "shutting down"
	if why == StopRemoved {
		what = "virtual server removed from configuration"
	}
	for _, r := range s.order {
		if _, in := s.desired[r.spec.ID]; !r.alive || !in {
			continue
		}
		script := ""
		if why == StopRemoved || s.spec.Omega {
			script = r.spec.NotifyDown
		}
		s.emit(ServerDown, r, -1, what, script)
	}
	switch {
	case why == StopShutdown:
		// Keepalived runs quorum_down at shutdown with omega even if quorum was already down.
		script := ""
		if s.spec.Omega {
			script = s.spec.QuorumDown
		}
		s.emit(QuorumLost, nil, -1, what, script)
	case s.quorumUp:
		s.emit(QuorumLost, nil, -1, what, s.spec.QuorumDown)
	}
	s.quorumUp = false
	s.stopped = true
	for r := range s.ramping {
		r.ramping = false
	}
	clear(s.ramping)
	s.defaultEv = s.emit(ServiceStopped, nil, -1, what, "")
	s.all = true
	return s.commit()
}

// Desired returns the desired state now. Backends are sorted by ID; the slice is the
// caller's. Its cost is a copy of the set plus, for each backend changed since the last
// call, a binary search and an insertion.
func (s *Service) Desired() Desired {
	s.applyPending()
	return Desired{
		Backends:    slices.Clone(s.sorted),
		SorryActive: s.sorryActive,
		QuorumUp:    s.quorumUp,
		Panic:       s.panic,
	}
}

func (s *Service) applyPending() {
	if len(s.pending) == 0 {
		return
	}
	byID := func(b Backend, id string) int { return strings.Compare(b.ID, id) }
	if len(s.pending) > len(s.sorted)/8+16 {
		s.sorted = s.sorted[:0]
		for id, w := range s.desired {
			s.sorted = append(s.sorted, Backend{ID: id, Weight: w})
		}
		slices.SortFunc(s.sorted, func(a, b Backend) int { return strings.Compare(a.ID, b.ID) })
	} else {
		for id := range s.pending {
			i, found := slices.BinarySearchFunc(s.sorted, id, byID)
			w, in := s.desired[id]
			switch {
			case in && found:
				s.sorted[i].Weight = w
			case in:
				s.sorted = slices.Insert(s.sorted, i, Backend{ID: id, Weight: w})
			case found:
				s.sorted = slices.Delete(s.sorted, i, i+1)
			}
		}
	}
	clear(s.pending)
}

func (s *Service) evalQuorum() {
	if s.stopped {
		return
	}
	if s.quorumUp {
		threshold := s.quorum - s.hysteresis
		if s.live == 0 || s.live < threshold {
			s.quorumUp = false
			s.emit(QuorumLost, nil, -1, fmt.Sprintf("lost quorum: live weight %d < %d-%d=%d", s.live, s.quorum, s.hysteresis, threshold), s.spec.QuorumDown)
		}
		return
	}
	if threshold := s.quorum + s.hysteresis; s.live >= threshold {
		s.quorumUp = true
		s.emit(QuorumGained, nil, -1, fmt.Sprintf("gained quorum: live weight %d >= %d+%d=%d", s.live, s.quorum, s.hysteresis, threshold), s.spec.QuorumUp)
	}
}

// panicNow decides panic among the servers the operator left to their checks: one drained or
// in maintenance is neither a failure nor a candidate.
func (s *Service) panicNow() bool {
	n := s.ready
	p := s.spec.PanicThreshold
	return !s.stopped && p > 0 && n > 0 && s.pendingAlpha == 0 && (s.readyUp-s.ejected)*100 < p*n
}

// Slow start.

func (s *Service) startRamp(r *server, now time.Time) {
	if r.spec.SlowStart <= 0 || r.adminState() != AdminReady {
		return
	}
	r.ramping, r.rampStart, r.rampStep = true, now, 0
	s.ramping[r] = struct{}{}
}

func (s *Service) stopRamp(r *server) {
	r.ramping = false
	delete(s.ramping, r)
}

func (s *Service) rampingSorted() []*server {
	rs := make([]*server, 0, len(s.ramping))
	for r := range s.ramping {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *server) int { return strings.Compare(a.spec.ID, b.spec.ID) })
	return rs
}

// rampedWeight is the weight a live server gets now: its real weight, or during slow start
// step k of rampSteps, k/rampSteps of it but at least 1.
func rampedWeight(r *server) int {
	full := realWeight(r.effective())
	if !r.ramping || full == 0 {
		return full
	}
	return max(1, int(int64(full)*int64(r.rampStep)/rampSteps))
}

// rampStepAt is the slow-start step at now: floor(elapsed*rampSteps/SlowStart).
func rampStepAt(r *server, now time.Time) int {
	e, d := now.Sub(r.rampStart), r.spec.SlowStart
	if e <= 0 {
		return 0
	}
	if e >= d {
		return rampSteps
	}
	if e <= math.MaxInt64/rampSteps {
		return int(e * rampSteps / d)
	}
	return int(e / (d / rampSteps))
}

// rampStepTime is when step k begins: the first instant with rampStepAt >= k.
func rampStepTime(r *server, k int) time.Time {
	d := r.spec.SlowStart
	q, rem := d/rampSteps, d%rampSteps
	k64 := time.Duration(k)
	return r.rampStart.Add(q*k64 + (rem*k64+rampSteps-1)/rampSteps)
}
