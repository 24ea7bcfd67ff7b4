package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
)

// Lock discipline. Scheduler.mu guards the schedule: jobs, probes, the due heap, the ready
// queues, the slots in flight and the parked workers. A method named …Locked is called with mu
// held and returns with it held, and never lets go of it in between, so that what its caller
// saw under the lock still holds after the call. The probes' own work runs without mu: Run's
// loop lets go of it around the first steps of its own batch of polled probes, a worker around
// Check or a batch of first steps, and the poller takes it only to report what a round
// finished. The other locks are taken under mu, never the other way round: the poller's
// (probePoller.mu: add, cancel) and the mailbox's (schedMailbox.mu); the socket pool's
// (SocketPool.mu) is taken last, under any of them or none.

// Job is one checker of one real server, with Keepalived's timing.
type Job struct {
	// ID names the job for reports and for Remove and Update; unique within a Scheduler.
	ID string
	// Checker runs the probe.
	Checker Checker
	// Interval is delay_loop: the time from the start of one probe to the start of the next.
	Interval time.Duration
	// Timeout bounds each probe (connect_timeout, misc_timeout); 0 means Interval.
	Timeout time.Duration
	// Retry is how many more probes follow a failure while the checker is up before the
	// failure is reported (Keepalived's retry, nb_get_retry). Keepalived's defaults (1; 0 for
	// MISC_CHECK, 3 for DNS_CHECK) are the config layer's to fill in: here 0 means none.
	Retry int
	// DelayBeforeRetry separates those probes; 0 means Keepalived's default, 1s.
	DelayBeforeRetry time.Duration
	// Warmup bounds the random delay before the first probe (Keepalived's warmup); 0 means
	// Interval, as in Keepalived; negative means no delay.
	Warmup time.Duration
	// DownInterval, when set, replaces Interval while the checker is down (vigil extension).
	DownInterval time.Duration
	// TransitionInterval, when set, is the delay after a probe that changed the checker's state,
	// to confirm the change sooner (vigil extension).
	TransitionInterval time.Duration
	// StartDown makes the checker start down (Keepalived's alpha), so that a failure of the
	// first probe is reported at once, without retries.
	StartDown bool
	// Tag is the caller's, handed back in every Report of the job (the daemon keeps its record
	// of the job there, to find it without a lookup by ID).
	Tag any
}

// Report is the outcome of one probe for one job. Every probe is reported except a failure
// that will be retried: retries are applied here, and consumers must not count them again.
type Report struct {
	JobID  string
	Tag    any // Job.Tag
	Result Result
	// At is when the probe finished.
	At time.Time
	// Up is the checker's state after this result: a success sets it, a failure clears it
	// once the retries are used up.
	Up bool
	// Retries is how many retries failed before a reported failure (0 when there were none).
	Retries int
	// Coalesced counts earlier reports of this job that the sink never saw because it was
	// slow: only the newest report of a job waits for the sink.
	Coalesced int
}

// JobStatus is a job as the scheduler sees it, for status pages.
type JobStatus struct {
	ID, Kind, Target string
	Up               bool
	HasRun           bool
	Last             Result
	LastAt           time.Time
	NextDue          time.Time // zero while a probe is in flight or waiting for a slot
	InFlight         bool
	Retrying         int // retries done since the last reported result
	SharedWith       int // other jobs that share this job's probe
}

// SchedulerStats are counters for metrics.
type SchedulerStats struct {
	Jobs, Probes, InFlight, Waiting int
	Started, Discarded, Coalesced   uint64
}

// jitterFraction spreads every interval over ±5% so that checks started together drift apart.
const jitterFraction = 0.05

// defaultDelayBeforeRetry is Keepalived's.
const defaultDelayBeforeRetry = time.Second

// Scheduler runs Jobs on time: one timer heap driven by one goroutine, probes on at most
// maxInFlight goroutines, one probe per job at a time, results handed to a sink. The probes of
// a PolledChecker have no goroutine of their own: the timer's goroutine starts them on sockets
// from the Scheduler's SocketPool, and those that must wait for their socket are finished by
// the poller (scheduler_poller.go).
//
// The sink is called from one goroutine of the Scheduler's own, in order, never with the
// scheduler's lock held, so a slow sink never delays a probe. While the sink is busy, reports
// wait in a mailbox that keeps only the newest report per job (Report.Coalesced counts the
// ones replaced), so a stuck consumer costs memory bounded by the number of jobs and the newest
// state of every job still arrives once it catches up.
type Scheduler struct {
	clk         clock.Clock
	epoch       time.Time // origin of the heap's integer due times
	maxInFlight int
	log         *slog.Logger
	box         schedMailbox

	mu     sync.Mutex
	rng    *rand.Rand
	jitter float64
	jobs   map[string]*schedJob
	probes map[schedKey]*schedProbe
	due    dueHeap[*schedProbe]
	ready  []*schedProbe // due, waiting for a free slot, oldest first
	// readyLoop are the due probes the loop starts itself (loopBatchLocked).
	readyLoop []*schedProbe
	loopBatch []loopRun // the loop's own batch (loopBatchLocked), kept for its backing array
	// poller finishes the probes the loop started; nil if it could not be made, and then
	// workers run every probe.
	poller   *probePoller
	sockets  SocketPool // lent to polled probes; closed when Run returns
	readBufs sync.Pool  // *[]byte scratch for startLoopRuns' reads
	inFlight int
	// Workers stay parked between probes rather than exiting, so that a steady load does not
	// create a goroutine per probe.
	idleWorkers int
	handoff     chan schedTask
	done        chan schedDone // results left by workers that found the lock taken
	armed       time.Time      // due time the loop's timer is set for; zero when none
	idle        bool           // the loop waits for its timer or a wake (tests wait for this)
	running     bool
	closing     bool
	runCtx      context.Context
	// probeCtx parents every probe's context: runCtx's values without its cancellation, so
	// that a probe's context is not registered with (and then removed from) runCtx's set of
	// children, a map behind a lock that every probe took twice. Shutdown cancels the probes
	// in flight one by one instead.
	probeCtx  context.Context
	wake      chan struct{}
	workers   sync.WaitGroup
	lateness  latenessHistogram
	onLate    func(time.Duration) // observer of each probe's lateness; nil: none
	started   uint64
	discarded uint64
}

type schedJob struct {
	job   Job
	probe *schedProbe
	// boxIndex is 1 + the index of the job's report waiting in the mailbox, 0 when none; the
	// mailbox's lock guards it.
	boxIndex int
}

// schedTiming is every field of a Job that decides when its probe runs.
type schedTiming struct {
	interval, timeout, delayBeforeRetry, warmup, downInterval, transitionInterval time.Duration
	retry                                                                         int
}

// schedKey identifies a shared probe: same probe, same timing.
type schedKey struct {
	key    string
	timing schedTiming
}

// schedState is the retry state of one probe, Keepalived's is_up, has_run and retry_it.
type schedState struct {
	Up, HasRun bool
	RetryIt    int
}

type schedProbe struct {
	key     schedKey
	checker Checker
	jobs    []*schedJob // in order of joining
	state   schedState
	last    Result
	lastAt  time.Time
	due     time.Time
	index   int  // in the heap; -1 when not there (setHeapIndex)
	queued  bool // in the ready queue
	removed bool
	run     *schedRun
}

type schedRun struct {
	checker Checker
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time
	discard bool
	// polled is the probe when the loop started it and the poller finishes it; cancel is then
	// noCancel and the poller cancels it (cancelRunLocked).
	polled *polled
}

// NewScheduler returns a Scheduler that reads time from clk, runs at most maxInFlight probes
// at once (at least 1) and hands every report to sink (nil drops them). Call Run to start it.
func NewScheduler(clk clock.Clock, maxInFlight int, logger *slog.Logger, sink func(Report)) *Scheduler {
	if maxInFlight < 1 {
		maxInFlight = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		clk:         clk,
		epoch:       clk.Now(),
		maxInFlight: maxInFlight,
		log:         logger,
		rng:         rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		jitter:      jitterFraction,
		jobs:        map[string]*schedJob{},
		probes:      map[schedKey]*schedProbe{},
		wake:        make(chan struct{}, 1),
		handoff:     make(chan schedTask, maxInFlight),
		done:        make(chan schedDone, maxInFlight),
	}
	s.box.init(sink)
	s.readBufs.New = func() any { b := make([]byte, readBufSize); return &b }
	return s
}

func (j Job) timing() schedTiming {
	t := schedTiming{
		interval: j.Interval, timeout: j.Timeout, delayBeforeRetry: j.DelayBeforeRetry,
		warmup: j.Warmup, downInterval: j.DownInterval, transitionInterval: j.TransitionInterval,
		retry: max(j.Retry, 0),
	}
	if t.timeout <= 0 {
		t.timeout = t.interval
	}
	if t.delayBeforeRetry <= 0 {
		t.delayBeforeRetry = defaultDelayBeforeRetry
	}
	if t.warmup == 0 {
		t.warmup = t.interval
	} else if t.warmup < 0 {
		t.warmup = 0
	}
	return t
}

func (j Job) validate() error {
	switch {
	case j.ID == "":
		return errors.New("check job: empty ID")
	case j.Checker == nil:
		return fmt.Errorf("check job %s: no checker", j.ID)
	case j.Interval <= 0:
		return fmt.Errorf("check job %s: interval %v, want > 0", j.ID, j.Interval)
	}
	return nil
}

// Add schedules job; its first probe comes after a random part of its warmup.
func (s *Scheduler) Add(job Job) error {
	if err := job.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[job.ID]; ok {
		return fmt.Errorf("check job %s: already scheduled", job.ID)
	}
	s.addLocked(job, nil)
	return nil
}

// addLocked attaches job to the probe it shares or to a new one; carry, when not nil, is the
// state of the job's previous probe (a reload that changed its timing).
func (s *Scheduler) addLocked(job Job, carry *schedState) {
	k := schedKey{key: job.Checker.Key(), timing: job.timing()}
	p := s.probes[k]
	if p == nil {
		p = &schedProbe{key: k, checker: job.Checker, index: -1, state: schedState{Up: !job.StartDown}}
		if carry != nil {
			p.state = schedState{Up: carry.Up, HasRun: carry.HasRun}
		}
		p.due = s.clk.Now()
		if w := k.timing.warmup; w > 0 {
			p.due = p.due.Add(time.Duration(s.rng.Int64N(int64(w))))
		}
		s.probes[k] = p
		s.due.push(p, s.at(p.due))
		s.wakeIfEarlierLocked(p.due)
	}
	j := &schedJob{job: job, probe: p}
	p.jobs = append(p.jobs, j)
	s.jobs[job.ID] = j
}

// Remove stops job id. A probe in flight for it alone is cancelled and its result discarded,
// not reported as a failure. Removing an unknown id is not an error.
func (s *Scheduler) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(id)
}

func (s *Scheduler) removeLocked(id string) *schedProbe {
	j := s.jobs[id]
	if j == nil {
		return nil
	}
	delete(s.jobs, id)
	s.box.drop(j)
	p := j.probe
	for i, pj := range p.jobs {
		if pj == j {
			p.jobs = append(p.jobs[:i], p.jobs[i+1:]...)
			break
		}
	}
	if len(p.jobs) > 0 {
		return p
	}
	p.removed = true
	release(p.checker)
	delete(s.probes, p.key)
	if p.index >= 0 {
		s.due.remove(p.index)
	}
	if p.run != nil {
		p.run.discard = true
		s.cancelRunLocked(p.run)
	}
	return p
}

// Update replaces the job with job.ID, as a reload does. A job whose probe (Checker.Key) and
// timing are unchanged keeps its schedule, its probe in flight and its retry state; otherwise
// it starts again like a new job, keeping only whether its checker was up.
func (s *Scheduler) Update(job Job) error {
	if err := job.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.jobs[job.ID]
	if old == nil {
		return fmt.Errorf("check job %s: not scheduled", job.ID)
	}
	k := schedKey{key: job.Checker.Key(), timing: job.timing()}
	if old.probe.key == k {
		old.job = job
		if r, ok := old.probe.checker.(Releaser); ok && old.probe.checker != job.Checker {
			r.Release()
		}
		old.probe.checker = job.Checker // same probe; used from the next run on
		return nil
	}
	carry := old.probe.state
	s.removeLocked(job.ID)
	s.addLocked(job, &carry)
	return nil
}

// Snapshot returns every job's status, sorted by ID.
func (s *Scheduler) Snapshot() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, 0, len(s.jobs))
	for id, j := range s.jobs {
		p := j.probe
		st := JobStatus{
			ID: id, Kind: j.job.Checker.Kind(), Target: j.job.Checker.Target(),
			Up: p.state.Up, HasRun: p.state.HasRun, Last: p.last, LastAt: p.lastAt,
			InFlight: p.run != nil, Retrying: p.state.RetryIt, SharedWith: len(p.jobs) - 1,
		}
		if p.index >= 0 {
			st.NextDue = p.due
		}
		out = append(out, st)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// Stats returns the scheduler's counters.
func (s *Scheduler) Stats() SchedulerStats {
	s.mu.Lock()
	st := SchedulerStats{
		Jobs: len(s.jobs), Probes: len(s.probes), InFlight: s.inFlight, Waiting: len(s.ready) + len(s.readyLoop),
		Started: s.started, Discarded: s.discarded,
	}
	s.mu.Unlock()
	st.Coalesced = s.box.coalescedTotal()
	return st
}

// Lateness summarises how late probes started against their due time since the last
// ResetLateness: the scheduler's own delay plus any wait for a free slot.
func (s *Scheduler) Lateness() LatenessSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lateness.summary()
}

// ObserveLateness makes fn see how late each probe starts (for a metrics histogram). fn runs
// with the scheduler's lock held: it must be quick and must not call the scheduler. Set it
// before Run.
func (s *Scheduler) ObserveLateness(fn func(time.Duration)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onLate = fn
}

// ResetLateness forgets the lateness seen so far.
func (s *Scheduler) ResetLateness() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lateness = latenessHistogram{}
}

// Run drives the schedule until ctx ends, then cancels the probes in flight (discarding their
// results), waits for them and for the sink, and returns. Run may be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("check scheduler: Run called twice")
	}
	s.running = true
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	s.runCtx = runCtx
	s.probeCtx = context.WithoutCancel(runCtx)
	if pl, err := newProbePoller(s); err != nil {
		s.log.Error("check poller unavailable; every probe runs on a worker goroutine", "err", err)
	} else {
		s.poller = pl
		s.workers.Add(1)
		go pl.run(runCtx)
	}
	s.mu.Unlock()

	deliverDone := make(chan struct{})
	go func() {
		defer close(deliverDone)
		s.box.deliver(runCtx)
	}()

	timer := s.clk.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		s.idle = false
		now := s.clk.Now()
		for nowAt := s.at(now); len(s.due) > 0 && s.due[0].at <= nowAt; {
			p := s.due.pop()
			p.queued = true
			if s.poller != nil && polledChecker(p.checker) != nil {
				s.readyLoop = append(s.readyLoop, p)
			} else {
				s.ready = append(s.ready, p)
			}
		}
		s.drainLocked()
		s.dispatchLocked(now)
		if len(s.readyLoop) > 0 {
			// The loop starts the first batch itself, without the lock: its first steps are
			// system calls (startLoopRuns). Workers start the rest.
			if batch := s.loopBatchLocked(s.loopBatch[:0]); len(batch) > 0 {
				s.mu.Unlock()
				s.startLoopRuns(batch)
				s.mu.Lock()
				s.finishLoopRunsLocked(batch)
				clear(batch)
				s.loopBatch = batch[:0]
			}
			s.handOffLoopBatchesLocked()
			now = s.clk.Now()
			s.dispatchLocked(now) // the slots the loop's probes held
		}
		wait := time.Duration(-1)
		s.armed = time.Time{}
		if len(s.due) > 0 {
			wait = max(s.due[0].item.due.Sub(now), dispatchSlack(s.due[0].item.key.timing.interval))
			s.armed = now.Add(wait)
		}
		s.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		s.mu.Lock()
		s.idle = true
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			s.shutdown()
			<-deliverDone
			return nil
		case <-timer.C():
		case <-s.wake:
		}
	}
}

// dispatchLocked starts ready probes on idle workers, or new ones, while slots are free.
func (s *Scheduler) dispatchLocked(now time.Time) {
	for s.inFlight < s.maxInFlight {
		p, r := s.nextReadyLocked(now)
		if p == nil {
			return
		}
		s.inFlight++
		s.startWorkerLocked(p, r)
	}
}

// startWorkerLocked runs r on an idle worker, or a new one; the caller has counted its slot.
func (s *Scheduler) startWorkerLocked(p *schedProbe, r *schedRun) {
	s.handOffLocked(schedTask{p: p, r: r})
}

// handOffLocked gives t to an idle worker, or a new one.
func (s *Scheduler) handOffLocked(t schedTask) {
	if s.idleWorkers > 0 {
		s.idleWorkers--
		s.handoff <- t // buffered: never blocks, at most idleWorkers queued
		return
	}
	s.workers.Add(1)
	go s.work(t)
}

// loopRunBatch is how many probes the loop starts itself in a round, outside the lock; more due
// at once go to workers in batches of as many, so that every core shares them and the loop
// stays free to keep the schedule.
const loopRunBatch = 64

// loopRun is a probe the loop (or a worker given a batch) starts without a goroutine of its own.
type loopRun struct {
	p       *schedProbe
	r       *schedRun
	checker PolledChecker
	start   time.Time // by the real clock: the poller's deadlines are
	pending Pending
	res     Result
	done    bool
}

// loopBatchLocked takes into batch the due probes of PolledCheckers, which the loop starts
// without a goroutine of their own, while slots are free and up to loopRunBatch, and returns
// it; each takes a slot and its start is recorded. Their first steps never wait (socket,
// connect, a request's write), and on a near network a TCP connect is over by then
// (tcp_connect.go), so a goroutine per probe would cost more than the probe: a
// goroutine woken, often an idle thread with it, a context and its timer, the lock taken again
// to report. A probe that must wait for its socket goes to the poller, under its timeout. A
// probe holds a slot until it ends, so maxInFlight still bounds the sockets open at once.
func (s *Scheduler) loopBatchLocked(batch []loopRun) []loopRun {
	if s.runCtx.Err() != nil {
		return batch
	}
	now := s.clk.Now()
	for len(batch) < loopRunBatch && s.inFlight < s.maxInFlight {
		p := s.popLoopLocked()
		if p == nil {
			break
		}
		s.inFlight++
		var pc PolledChecker
		if s.poller != nil {
			pc = polledChecker(p.checker)
		}
		if pc == nil { // an Update replaced the checker while the probe waited, or the poller failed
			s.startWorkerLocked(p, s.startRunLocked(p, now))
			continue
		}
		s.recordStartLocked(p, now)
		r := &schedRun{checker: p.checker, cancel: noCancel, started: now}
		p.run = r
		batch = append(batch, loopRun{p: p, r: r, checker: pc})
	}
	return batch
}

// handOffLoopBatchesLocked gives the due probes that the loop did not take into its own batch
// to workers, in batches of loopRunBatch, while slots are free: every core shares them and the
// loop stays free to keep the schedule.
func (s *Scheduler) handOffLoopBatchesLocked() {
	for len(s.readyLoop) > 0 && s.inFlight < s.maxInFlight && s.runCtx.Err() == nil {
		if batch := s.loopBatchLocked(nil); len(batch) > 0 {
			s.handOffLocked(schedTask{batch: batch})
		}
	}
}

// startLoopRuns runs the first steps of every probe of batch; call it without the lock. Then it
// reads the answers that came in the meantime: on a near network most of a batch's requests
// have their answer waiting by the time the batch is sent, and reading it here spares the probe
// the poller (an epoll registration, a wake-up, a round).
func (s *Scheduler) startLoopRuns(batch []loopRun) {
	waiting := false
	for i := range batch {
		t := &batch[i]
		t.start = time.Now()
		t.pending, t.res, t.done = t.checker.StartProbe(&s.sockets, t.start)
		waiting = waiting || !t.done
	}
	if !waiting {
		return
	}
	bp := s.readBufs.Get().(*[]byte)
	defer s.readBufs.Put(bp)
	for i := range batch {
		if t := &batch[i]; !t.done {
			t.res, t.done = tryReceive(t.pending, *bp)
		}
	}
}

// finishLoopRunsLocked completes the probes of a started batch that ended and hands the others
// to the poller.
func (s *Scheduler) finishLoopRunsLocked(batch []loopRun) {
	now := s.clk.Now()
	for i := range batch {
		t := &batch[i]
		if !t.done {
			t.res, t.done = s.pollLocked(t)
		}
		if t.done {
			s.completeLocked(t.p, t.r, t.res, now)
			s.inFlight--
		}
	}
	s.box.flush()
}

// pollLocked hands a started probe that waits for its socket to the poller, to end within its
// timeout. It returns done when the probe ends here instead: its job was removed while it
// started, or the poller refused it.
func (s *Scheduler) pollLocked(t *loopRun) (Result, bool) {
	p, r := t.p, t.r
	if r.discard {
		return expire(t.pending, true), true
	}
	if s.poller == nil {
		return t.pending.Fail("poll: check poller failed"), true
	}
	pd := &polled{pending: t.pending, heapIndex: -1, p: p, r: r}
	r.polled = pd
	if err := s.poller.add(pd, t.start.Add(p.key.timing.timeout)); err != nil {
		return t.pending.Fail("poll: " + err.Error()), true
	}
	return Result{}, false
}

// cancelRunLocked cancels a run in flight; its result will be discarded.
func (s *Scheduler) cancelRunLocked(r *schedRun) {
	if r.polled != nil {
		if s.poller != nil { // else it failed, and ended every probe it held
			s.poller.cancel(r.polled)
		}
		return
	}
	r.cancel()
}

// popLoopLocked takes the oldest probe the loop starts itself that waits for a slot; nil when
// there is none.
func (s *Scheduler) popLoopLocked() *schedProbe { return popQueued(&s.readyLoop) }

// popQueued takes the oldest probe of the queue q that was not removed while it waited; nil
// when there is none.
func popQueued(q *[]*schedProbe) *schedProbe {
	for len(*q) > 0 {
		p := (*q)[0]
		(*q)[0] = nil
		*q = (*q)[1:]
		if len(*q) == 0 {
			*q = nil // let the backing array go
		}
		p.queued = false
		if !p.removed {
			return p
		}
	}
	return nil
}

// noCancel is the cancel of a probe the loop starts itself: the poller cancels those
// (cancelRunLocked).
func noCancel() {}

// drainLocked completes the probes whose workers found the lock taken and left their results
// in s.done; those workers wait for the handoff now.
func (s *Scheduler) drainLocked() {
	for {
		select {
		case d := <-s.done:
			s.completeLocked(d.p, d.r, d.res, d.at)
			s.inFlight--
			s.idleWorkers++
		default:
			s.box.flush()
			return
		}
	}
}

func (s *Scheduler) shutdown() {
	s.mu.Lock()
	s.drainLocked()
	s.closing = true
	for _, p := range s.probes {
		release(p.checker)
		if p.run != nil {
			p.run.discard = true
			s.cancelRunLocked(p.run)
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	t := s.clk.NewTimer(shutdownGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C():
		// A checker that ignores its context must not hold the daemon's shutdown forever.
		s.mu.Lock()
		var hung []string
		for _, p := range s.probes {
			if p.run != nil {
				hung = append(hung, p.checker.Kind()+" "+p.checker.Target())
			}
		}
		s.mu.Unlock()
		s.log.Error("checks still running at shutdown; abandoning them", "checks", hung)
	}
	s.sockets.Close()
}

// dispatchSlack is the least the loop sleeps between two rounds of starting probes, given the
// interval of the probe due first: every probe due by the time it wakes starts in that round.
// With thousands of probes a second spread evenly, waking for each costs more CPU than the
// probes (a futex wake-up per probe); and even with one probe per round, each round costs the
// Go runtime a timer, a thread woken and parked again, the larger part of a TCP_CHECK's CPU
// outside the kernel. So a round waits for a tenth of the probe's ±5% jitter (5 ms at 1 s, up
// to 10 ms, at least 1 ms): probes start up to that much late, a small part of the spread the
// jitter puts between them anyway. (At 1,000 TCP_CHECKs a second, 1 ms rounds cost 80-90 µs per
// probe, 4 ms rounds 66-74 and 10 ms rounds 57-68: BenchmarkSchedulerTCP.)
func dispatchSlack(interval time.Duration) time.Duration {
	return min(max(time.Duration(float64(interval)*jitterFraction/10), minDispatchSlack), maxDispatchSlack)
}

const (
	minDispatchSlack = time.Millisecond
	maxDispatchSlack = 10 * time.Millisecond
)

// shutdownGrace bounds how long Run waits for probes that ignore their cancelled context.
const shutdownGrace = 5 * time.Second

// nextReadyLocked takes the oldest probe waiting for a slot and starts its run.
func (s *Scheduler) nextReadyLocked(now time.Time) (*schedProbe, *schedRun) {
	p := popQueued(&s.ready)
	if p == nil {
		return nil, nil
	}
	return p, s.startRunLocked(p, now)
}

// startRunLocked starts a run of p for a worker.
func (s *Scheduler) startRunLocked(p *schedProbe, now time.Time) *schedRun {
	s.recordStartLocked(p, now)
	ctx, cancel := s.clk.WithTimeout(s.probeCtx, p.key.timing.timeout)
	r := &schedRun{checker: p.checker, ctx: ctx, cancel: cancel, started: now}
	p.run = r
	return r
}

// recordStartLocked counts a probe starting now and how late it is.
func (s *Scheduler) recordStartLocked(p *schedProbe, now time.Time) {
	late := now.Sub(p.due)
	s.lateness.record(late)
	if s.onLate != nil {
		s.onLate(late)
	}
	s.started++
}

// schedTask is a worker's next piece of work: one probe's run, or a batch of probes to start
// the way the loop starts them (loopBatchLocked).
type schedTask struct {
	p     *schedProbe
	r     *schedRun
	batch []loopRun
}

// work runs probes, holding a slot while it does; between probes it parks until the loop hands
// it another or Run ends.
func (s *Scheduler) work(t schedTask) {
	defer s.workers.Done()
	p, r := t.p, t.r
	for {
		if t.batch != nil {
			s.startLoopRuns(t.batch)
			s.mu.Lock()
			s.finishLoopRunsLocked(t.batch)
			t.batch = nil
			if s.closing {
				s.mu.Unlock()
				return
			}
			s.idleWorkers++
			s.dispatchLocked(s.clk.Now())
			s.mu.Unlock()
		} else {
			res := s.check(r)
			if !res.Healthy && res.Reason == "" && errors.Is(context.Cause(r.ctx), context.DeadlineExceeded) {
				res.Reason = "timed out after " + p.key.timing.timeout.String()
			}
			r.cancel()
			if !s.mu.TryLock() {
				// Whoever holds the lock, or the loop, completes this probe: hundreds of workers
				// queueing on one lock, each woken in turn, held the schedule back more than the
				// work done under it.
				s.done <- schedDone{p: p, r: r, res: res, at: s.clk.Now()} // never blocks: one per slot
				s.poke()
			} else {
				var exit bool
				p, r, exit = s.completeAndNextLocked(p, r, res)
				s.mu.Unlock()
				if exit {
					return
				}
				if p != nil {
					continue
				}
			}
		}
		select {
		case t = <-s.handoff:
			p, r = t.p, t.r
		case <-s.runCtx.Done():
			return
		}
	}
}

// completeAndNextLocked completes a worker's probe and returns the next probe for it, which
// keeps the slot; when there is none the slot is given back and the worker parks, or exits when
// the scheduler is closing.
func (s *Scheduler) completeAndNextLocked(p *schedProbe, r *schedRun, res Result) (next *schedProbe, nextRun *schedRun, exit bool) {
	now := s.clk.Now()
	s.drainLocked()
	s.completeLocked(p, r, res, now)
	s.box.flush()
	if len(s.readyLoop) > 0 {
		s.poke() // the loop runs them, and this probe's slot is about to be free
	}
	if s.closing {
		p = nil
	} else {
		p, r = s.nextReadyLocked(now)
	}
	if p == nil {
		s.inFlight--
		exit = s.closing
		if !exit {
			s.idleWorkers++
			s.dispatchLocked(now) // the slots of the results drained above
		}
		return nil, nil, exit
	}
	s.dispatchLocked(now)
	return p, r, false
}

// schedDone is a finished probe waiting to be completed under the lock.
type schedDone struct {
	p   *schedProbe
	r   *schedRun
	res Result
	at  time.Time
}

// poke wakes the loop.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// check runs one probe; a checker that panics fails its probe instead of the daemon.
func (s *Scheduler) check(r *schedRun) (res Result) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("checker panicked", "check", r.checker.Kind(), "target", r.checker.Target(), "panic", v)
			res = Result{Weight: -1, Reason: fmt.Sprintf("checker panicked: %v", v)}
		}
	}()
	return r.checker.Check(r.ctx)
}

func (s *Scheduler) completeLocked(p *schedProbe, r *schedRun, res Result, now time.Time) {
	p.run = nil
	// Once Run's context is done every probe is being cancelled by it, before shutdown marks
	// the runs: none of those results is a verdict.
	if r.discard || p.removed || s.closing || s.runCtx.Err() != nil {
		s.discarded++
		return
	}
	if res.NoVerdict {
		// Nothing said of health: the check stays as it is, up or down, counting no retry.
		res.Healthy = p.state.Up
	}
	out := schedStep(p.state, p.key.timing, res.Healthy)
	p.state = out.state
	p.last, p.lastAt = res, now
	if out.report {
		for _, j := range p.jobs {
			s.box.put(j, Report{JobID: j.job.ID, Tag: j.job.Tag, Result: res, At: now, Up: out.state.Up, Retries: out.retries})
		}
	}
	d := out.next
	if s.jitter > 0 {
		d = time.Duration(float64(d) * (1 + s.jitter*(2*s.rng.Float64()-1)))
	}
	p.due = r.started.Add(d)
	if p.due.Before(now) {
		p.due = now
	}
	s.due.push(p, s.at(p.due))
	s.wakeIfEarlierLocked(p.due)
}

// at is t as the heap orders it: nanoseconds since the scheduler's epoch.
func (s *Scheduler) at(t time.Time) int64 { return int64(t.Sub(s.epoch)) }

// wakeIfEarlierLocked pokes the loop when due comes before the time its timer is set for.
func (s *Scheduler) wakeIfEarlierLocked(due time.Time) {
	if !s.armed.IsZero() && !due.Before(s.armed) {
		return
	}
	s.idle = false
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedOutcome is what one probe result does to a probe's state.
type schedOutcome struct {
	state   schedState
	report  bool
	retries int
	next    time.Duration // until the next probe, before jitter
}

// schedStep applies Keepalived's retry rules (check_tcp.c tcp_epilog, check_misc.c): a success
// is reported, clears the retry count and sets the checker up. A failure while up is retried
// Retry times, DelayBeforeRetry apart, unreported, and reported when the last retry fails too,
// setting the checker down. A failure while down is reported at once, and so is the very first
// result of a checker that has never run: Keepalived starts retry_it at retry ("for non alpha
// mode, one failure is enough initially", check_data.c).
func schedStep(st schedState, t schedTiming, healthy bool) schedOutcome {
	wasUp, hadRun := st.Up, st.HasRun
	st.HasRun = true
	var out schedOutcome
	switch {
	case healthy:
		st.Up, st.RetryIt = true, 0
		out.report = true
	case st.Up && hadRun && st.RetryIt < t.retry:
		st.RetryIt++
		out.state, out.next = st, t.delayBeforeRetry
		return out
	default:
		out.retries = st.RetryIt
		st.Up, st.RetryIt = false, 0
		out.report = true
	}
	out.state = st
	out.next = t.interval
	if !st.Up && t.downInterval > 0 {
		out.next = t.downInterval
	}
	if st.Up != wasUp && t.transitionInterval > 0 {
		out.next = t.transitionInterval
	}
	return out
}

func (p *schedProbe) setHeapIndex(i int) { p.index = i }
