package probe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vigil-lb/vigil/internal/clock"
)

var schedEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// schedFake is a checker whose verdicts are scripted per call; after the script it repeats the
// last verdict. With block set, Check waits for a release or for its context.
type schedFake struct {
	key string

	mu       sync.Mutex
	script   []bool
	calls    int
	running  int
	waiting  int // inside the blocking wait
	waitCtx  context.Context
	maxRun   int
	ctxCause []error
	block    bool
	hang     bool // ignore ctx while blocked
	release  chan struct{}
}

func newSchedFake(key string, script ...bool) *schedFake {
	return &schedFake{key: key, script: script, release: make(chan struct{})}
}

func (f *schedFake) Kind() string   { return "FAKE" }
func (f *schedFake) Target() string { return f.key }
func (f *schedFake) Key() string    { return f.key }

func (f *schedFake) Check(ctx context.Context) Result {
	f.mu.Lock()
	i := f.calls
	f.calls++
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	block, hang, release := f.block, f.hang, f.release
	healthy := true
	if len(f.script) > 0 {
		healthy = f.script[min(i, len(f.script)-1)]
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.ctxCause = append(f.ctxCause, context.Cause(ctx))
		f.mu.Unlock()
	}()
	if block {
		f.setWaiting(1, ctx)
		defer f.setWaiting(-1, nil)
		if hang {
			<-release
		} else {
			select {
			case <-release:
			case <-ctx.Done():
				return Result{Reason: "", Weight: -1}
			}
		}
	}
	return Result{Healthy: healthy, Weight: -1, Reason: fmt.Sprintf("call %d", i)}
}

func (f *schedFake) setWaiting(d int, ctx context.Context) {
	f.mu.Lock()
	f.waiting += d
	f.waitCtx = ctx
	f.mu.Unlock()
}

// Waiting is 1 while a probe is blocked and will stay blocked: not released, and its context
// not done unless the fake ignores it.
func (f *schedFake) Waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiting == 0 {
		return 0
	}
	select {
	case <-f.release:
		return 0
	default:
	}
	if !f.hang && f.waitCtx.Err() != nil {
		return 0
	}
	return f.waiting
}

func (f *schedFake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *schedFake) Running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}

// schedHarness runs a Scheduler on a fake clock, without jitter and with a fixed seed.
type schedHarness struct {
	t       *testing.T
	clk     *clock.Fake
	s       *Scheduler
	mu      sync.Mutex
	reports []Report
	stop    context.CancelFunc
	done    chan struct{}
	fakes   []*schedFake // blocking checkers whose probes may stay in flight across settle
}

func newSchedHarness(t *testing.T, maxInFlight int) *schedHarness {
	t.Helper()
	h := &schedHarness{t: t, clk: clock.NewFake(schedEpoch), done: make(chan struct{})}
	h.s = NewScheduler(h.clk, maxInFlight, nil, func(r Report) {
		h.mu.Lock()
		h.reports = append(h.reports, r)
		h.mu.Unlock()
	})
	h.s.rng = rand.New(rand.NewPCG(1, 2))
	h.s.jitter = 0
	return h
}

func (h *schedHarness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() {
		defer close(h.done)
		if err := h.s.Run(ctx); err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}()
	h.t.Cleanup(func() {
		h.shutdown()
		goleak.VerifyNone(h.t)
	})
}

// idleNow reports whether the loop waits with nothing to start.
func (s *Scheduler) boxBusy() bool {
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	return s.box.busy
}

func (s *Scheduler) idleNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle && len(s.wake) == 0 && len(s.done) == 0 && (len(s.ready) == 0 || s.inFlight == s.maxInFlight)
}

func (h *schedHarness) shutdown() {
	h.stop()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return within 5s of cancel")
	}
}

// settle waits until the loop waits on its timer with nothing to do, all probes except the
// expected blocked ones have finished, and the sink has every report.
func (h *schedHarness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := h.s
		blocked := 0
		for _, f := range h.fakes {
			blocked += f.Waiting()
		}
		s.mu.Lock()
		quiet := s.idle && len(s.wake) == 0 && len(s.done) == 0 && (s.armed.IsZero() || h.clk.PendingAt(s.armed)) && (len(s.ready) == 0 || s.inFlight == s.maxInFlight) && s.inFlight == blocked
		s.mu.Unlock()
		if quiet && s.box.empty() && len(s.box.signal) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("scheduler did not settle within 5s: %+v", s.Stats())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// at advances the fake clock to epoch+d, settling at every timer on the way so each probe
// sees the time it ran at.
func (h *schedHarness) at(d time.Duration) {
	h.t.Helper()
	target := schedEpoch.Add(d)
	for {
		h.settle()
		next, ok := h.clk.NextDue()
		if !ok || next.After(target) {
			break
		}
		h.clk.Set(next)
	}
	h.clk.Set(target)
	h.settle()
}

func (h *schedHarness) takeReports() []Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.reports
	h.reports = nil
	return r
}

// brief renders reports as "id@offset:ok|fail[/retries]" for compact comparisons.
func brief(rs []Report) []string {
	var out []string
	for _, r := range rs {
		v := "fail"
		if r.Result.Healthy {
			v = "ok"
		}
		if r.Retries > 0 {
			v += fmt.Sprintf("/%d", r.Retries)
		}
		out = append(out, fmt.Sprintf("%s@%v:%s", r.JobID, r.At.Sub(schedEpoch), v))
	}
	return out
}

func TestSchedStepFollowsKeepalivedRetryRules(t *testing.T) {
	timing := schedTiming{interval: 10 * time.Second, delayBeforeRetry: time.Second, retry: 2}
	type step struct {
		healthy bool
		report  bool
		up      bool
		retryIt int
		next    time.Duration
	}
	tests := []struct {
		name  string
		start schedState
		steps []step
	}{
		{"successes are all reported", schedState{Up: true}, []step{
			{true, true, true, 0, 10 * time.Second},
			{true, true, true, 0, 10 * time.Second},
		}},
		{"failure while up is retried twice then reported", schedState{Up: true, HasRun: true}, []step{
			{false, false, true, 1, time.Second},
			{false, false, true, 2, time.Second},
			{false, true, false, 0, 10 * time.Second},
		}},
		{"success during retries resets the count", schedState{Up: true, HasRun: true}, []step{
			{false, false, true, 1, time.Second},
			{true, true, true, 0, 10 * time.Second},
			{false, false, true, 1, time.Second},
			{false, false, true, 2, time.Second},
			{true, true, true, 0, 10 * time.Second},
		}},
		{"failure while down is reported at once", schedState{Up: false, HasRun: true}, []step{
			{false, true, false, 0, 10 * time.Second},
			{false, true, false, 0, 10 * time.Second},
		}},
		{"success while down is reported and sets up", schedState{Up: false, HasRun: true}, []step{
			{true, true, true, 0, 10 * time.Second},
			{false, false, true, 1, time.Second},
		}},
		{"checker starting down (alpha) reports its first failure at once", schedState{}, []step{
			{false, true, false, 0, 10 * time.Second},
		}},
		{"checker starting up reports its first failure at once, as Keepalived does", schedState{Up: true}, []step{
			{false, true, false, 0, 10 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.start
			for i, s := range tt.steps {
				out := schedStep(st, timing, s.healthy)
				if out.report != s.report || out.state.Up != s.up || out.state.RetryIt != s.retryIt || out.next != s.next || !out.state.HasRun {
					t.Fatalf("step %d (healthy=%v): got report=%v up=%v retryIt=%d next=%v hasRun=%v, want report=%v up=%v retryIt=%d next=%v",
						i, s.healthy, out.report, out.state.Up, out.state.RetryIt, out.next, out.state.HasRun, s.report, s.up, s.retryIt, s.next)
				}
				st = out.state
			}
		})
	}
}

func TestSchedStepReportsRetriesUsedAndRetryZeroReportsAtOnce(t *testing.T) {
	for retry := 0; retry <= 4; retry++ {
		timing := schedTiming{interval: 10 * time.Second, delayBeforeRetry: time.Second, retry: retry}
		st := schedState{Up: true, HasRun: true}
		unreported := 0
		for {
			out := schedStep(st, timing, false)
			st = out.state
			if out.report {
				if out.retries != retry || unreported != retry || st.Up {
					t.Fatalf("retry %d: reported after %d silent failures with Retries=%d up=%v", retry, unreported, out.retries, st.Up)
				}
				break
			}
			unreported++
			if unreported > retry {
				t.Fatalf("retry %d: %d failures without a report", retry, unreported)
			}
		}
	}
}

func TestSchedStepPerStateIntervals(t *testing.T) {
	timing := schedTiming{interval: 10 * time.Second, delayBeforeRetry: time.Second, downInterval: 30 * time.Second, transitionInterval: 2 * time.Second}
	up := schedState{Up: true, HasRun: true}
	down := schedState{HasRun: true}
	tests := []struct {
		name    string
		st      schedState
		healthy bool
		want    time.Duration
	}{
		{"up and healthy uses Interval", up, true, 10 * time.Second},
		{"going down uses TransitionInterval", up, false, 2 * time.Second},
		{"staying down uses DownInterval", down, false, 30 * time.Second},
		{"coming up uses TransitionInterval", down, true, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := schedStep(tt.st, timing, tt.healthy).next; got != tt.want {
			t.Errorf("%s: next = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRetriesRunDelayBeforeRetryApartAndOnlyTheLastFailureIsReported(t *testing.T) {
	h := newSchedHarness(t, 4)
	f := newSchedFake("a", true, false, false, false, true)
	schedMust(t, h.s.Add(Job{ID: "a", Checker: f, Interval: 10 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Warmup: -1}))
	h.start()
	h.at(40 * time.Second)
	got := brief(h.takeReports())
	want := []string{"a@0s:ok", "a@12s:fail/2", "a@22s:ok", "a@32s:ok"}
	if !slices.Equal(got, want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
	if f.Calls() != 6 {
		t.Fatalf("calls = %d, want 6 (0s, 10s, 11s, 12s, 22s, 32s)", f.Calls())
	}
}

func TestFirstProbesSpreadOverWarmup(t *testing.T) {
	h := newSchedHarness(t, 10)
	const n = 1000
	for i := range n {
		schedMust(t, h.s.Add(Job{ID: fmt.Sprint(i), Checker: newSchedFake(fmt.Sprint(i)), Interval: 10 * time.Second}))
	}
	var perSecond [10]int
	for _, st := range h.s.Snapshot() {
		off := st.NextDue.Sub(schedEpoch)
		if off < 0 || off >= 10*time.Second {
			t.Fatalf("job %s first due at +%v, want within the 10s warmup", st.ID, off)
		}
		perSecond[off/time.Second]++
	}
	for sec, c := range perSecond {
		if c < n/10/2 || c > n/10*2 {
			t.Fatalf("second %d has %d of %d first probes; want about %d (counts %v)", sec, c, n, n/10, perSecond)
		}
	}
}

func TestJitterSpreadsIntervalsWithinFivePercent(t *testing.T) {
	h := newSchedHarness(t, 10)
	h.s.jitter = jitterFraction
	f := newSchedFake("a")
	schedMust(t, h.s.Add(Job{ID: "a", Checker: f, Interval: 10 * time.Second, Warmup: -1}))
	h.start()
	h.at(200 * time.Second)
	rs := h.takeReports()
	if len(rs) < 18 {
		t.Fatalf("%d reports in 200s at 10s interval", len(rs))
	}
	distinct := map[time.Duration]bool{}
	for i := 1; i < len(rs); i++ {
		gap := rs[i].At.Sub(rs[i-1].At)
		distinct[gap] = true
		if gap < 9500*time.Millisecond || gap > 10500*time.Millisecond {
			t.Fatalf("gap %v outside 10s±5%%", gap)
		}
	}
	if len(distinct) < 5 {
		t.Fatalf("only %d distinct gaps: jitter not applied", len(distinct))
	}
}

func TestJobsWithTheSameProbeShareOneRunAndBothGetTheResult(t *testing.T) {
	h := newSchedHarness(t, 4)
	shared := newSchedFake("same")
	schedMust(t, h.s.Add(Job{ID: "a", Checker: shared, Interval: 10 * time.Second, Warmup: -1}))
	schedMust(t, h.s.Add(Job{ID: "b", Checker: newSchedFake("same"), Interval: 10 * time.Second, Warmup: -1}))
	other := newSchedFake("same")
	schedMust(t, h.s.Add(Job{ID: "c", Checker: other, Interval: 5 * time.Second, Warmup: -1})) // other timing
	h.start()
	h.at(25 * time.Second)
	if shared.Calls() != 3 {
		t.Fatalf("shared probe ran %d times in 25s at 10s, want 3", shared.Calls())
	}
	if other.Calls() != 6 {
		t.Fatalf("probe with other timing ran %d times, want 6", other.Calls())
	}
	counts := map[string]int{}
	for _, r := range h.takeReports() {
		counts[r.JobID]++
	}
	if counts["a"] != 3 || counts["b"] != 3 || counts["c"] != 6 {
		t.Fatalf("reports per job %v, want a:3 b:3 c:6", counts)
	}
	snap := h.s.Snapshot()
	if snap[0].SharedWith != 1 || snap[2].SharedWith != 0 {
		t.Fatalf("SharedWith a=%d c=%d, want 1 and 0", snap[0].SharedWith, snap[2].SharedWith)
	}

	h.s.Remove("a")
	h.at(35 * time.Second)
	for _, r := range h.takeReports() {
		if r.JobID == "a" {
			t.Fatalf("report for removed job: %+v", r)
		}
	}
	if shared.Calls() != 4 {
		t.Fatalf("shared probe stopped when one of its jobs was removed (calls %d, want 4)", shared.Calls())
	}
}

func TestCancelledProbeIsNotReportedAsFailure(t *testing.T) {
	tests := []struct {
		name   string
		cancel func(h *schedHarness)
	}{
		{"Remove", func(h *schedHarness) { h.s.Remove("a") }},
		{"Update to another probe", func(h *schedHarness) {
			schedMust(t, h.s.Update(Job{ID: "a", Checker: newSchedFake("other"), Interval: 10 * time.Second, Warmup: -1}))
		}},
		{"Update to another interval", func(h *schedHarness) {
			schedMust(t, h.s.Update(Job{ID: "a", Checker: newSchedFake("a"), Interval: 20 * time.Second, Warmup: -1}))
		}},
		{"shutdown", func(h *schedHarness) { h.shutdown() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSchedHarness(t, 4)
			f := newSchedFake("a")
			f.block = true
			h.fakes = append(h.fakes, f)
			schedMust(t, h.s.Add(Job{ID: "a", Checker: f, Interval: 10 * time.Second, Retry: 0, Warmup: -1}))
			h.start()
			h.settle()
			tt.cancel(h)
			deadline := time.Now().Add(5 * time.Second)
			for f.Calls() == 0 || f.Running() > 0 {
				if time.Now().After(deadline) {
					t.Fatal("probe not cancelled within 5s")
				}
				time.Sleep(time.Millisecond)
			}
			if tt.name != "shutdown" {
				h.settle()
			}
			for _, r := range h.takeReports() {
				if r.JobID == "a" && !r.Result.Healthy {
					t.Fatalf("cancelled probe reported as failure: %+v", r)
				}
			}
			if h.s.Stats().Discarded != 1 {
				t.Fatalf("Discarded = %d, want 1", h.s.Stats().Discarded)
			}
		})
	}
}

func TestTimeoutIsAFailureAfterRetries(t *testing.T) {
	h := newSchedHarness(t, 4)
	f := newSchedFake("a")
	h.fakes = append(h.fakes, f)
	schedMust(t, h.s.Add(Job{ID: "a", Checker: f, Interval: 10 * time.Second, Timeout: 3 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: -1}))
	h.start()
	// The first probe (at 0s) succeeds; from then on every probe runs into its timeout.
	h.at(time.Second)
	if rs := h.takeReports(); len(rs) != 1 || !rs[0].Result.Healthy {
		t.Fatalf("first probe: %+v, want one success", rs)
	}
	f.mu.Lock()
	f.block = true // never released
	f.mu.Unlock()
	// The probe at 10s times out at 13s; its retry is due at 10s+1s, already past, so it starts
	// at 13s and times out at 16s: then the failure is reported.
	h.at(15 * time.Second)
	if rs := h.takeReports(); len(rs) != 0 {
		t.Fatalf("reported before the retry failed: %+v", rs)
	}
	h.at(18 * time.Second)
	rs := h.takeReports()
	if len(rs) != 1 || rs[0].Result.Healthy || !strings.Contains(rs[0].Result.Reason, "timed out after 3s") || rs[0].Retries != 1 {
		t.Fatalf("reports %+v, want one failure \"timed out after 3s\" after 1 retry", rs)
	}
}

func TestInFlightProbesNeverExceedTheBound(t *testing.T) {
	h := newSchedHarness(t, 3)
	var fakes []*schedFake
	for i := range 10 {
		f := newSchedFake(fmt.Sprint(i))
		f.block = true
		h.fakes = append(h.fakes, f)
		fakes = append(fakes, f)
		schedMust(t, h.s.Add(Job{ID: fmt.Sprint(i), Checker: f, Interval: time.Minute, Timeout: 50 * time.Second, Warmup: -1}))
	}
	h.start()
	h.settle()
	running := 0
	for _, f := range fakes {
		running += f.Running()
	}
	if running != 3 || h.s.Stats().Waiting != 7 {
		t.Fatalf("running %d waiting %d, want 3 and 7", running, h.s.Stats().Waiting)
	}
	for _, f := range fakes {
		close(f.release)
	}
	h.settle()
	for i, f := range fakes {
		if f.Calls() != 1 || f.maxRun > 1 {
			t.Fatalf("fake %d: %d calls, %d at once", i, f.Calls(), f.maxRun)
		}
	}
	if got := len(h.takeReports()); got != 10 {
		t.Fatalf("%d reports, want 10", got)
	}
	if l := h.s.Lateness(); l.Count != 10 {
		t.Fatalf("lateness count %d, want 10", l.Count)
	}
}

func TestHungCheckerDelaysNoOtherJobBeyondItsSlot(t *testing.T) {
	h := newSchedHarness(t, 2)
	hung := newSchedFake("hung")
	hung.block, hung.hang = true, true
	h.fakes = append(h.fakes, hung)
	schedMust(t, h.s.Add(Job{ID: "hung", Checker: hung, Interval: time.Second, Timeout: 100 * time.Millisecond, Warmup: -1}))
	quick := newSchedFake("quick")
	schedMust(t, h.s.Add(Job{ID: "quick", Checker: quick, Interval: time.Second, Warmup: -1}))
	h.start()
	h.at(10 * time.Second)
	if quick.Calls() != 11 {
		t.Fatalf("quick checker ran %d times in 10s beside a hung one, want 11", quick.Calls())
	}
	if l := h.s.Lateness(); l.Max != 0 {
		t.Fatalf("quick probes started late by up to %v", l.Max)
	}
	if hung.Calls() != 1 {
		t.Fatalf("hung checker started %d probes, want 1 (one at a time)", hung.Calls())
	}
	close(hung.release)
	h.settle()
}

func TestUpdateOfUnchangedJobKeepsScheduleAndRetryState(t *testing.T) {
	h := newSchedHarness(t, 4)
	f := newSchedFake("a", true, false, false, false)
	job := Job{ID: "a", Checker: f, Interval: 10 * time.Second, Retry: 3, DelayBeforeRetry: 2 * time.Second, Warmup: -1}
	schedMust(t, h.s.Add(job))
	h.start()
	h.at(10 * time.Second) // 0s ok, 10s fail (retry 1)
	before := h.s.Snapshot()[0]
	job.Checker = newSchedFake("a") // a new checker object with the same key, as after a reload
	schedMust(t, h.s.Update(job))
	after := h.s.Snapshot()[0]
	if before.Retrying != 1 || after.Retrying != 1 || !after.NextDue.Equal(before.NextDue) {
		t.Fatalf("before %+v after %+v: want retry 1 and the same next due", before, after)
	}
	if err := h.s.Update(Job{ID: "zzz", Checker: f, Interval: time.Second}); err == nil {
		t.Fatal("Update of an unknown job succeeded")
	}
	if err := h.s.Add(job); err == nil {
		t.Fatal("Add of a duplicate ID succeeded")
	}
}

func TestSlowSinkGetsNewestReportPerJob(t *testing.T) {
	clk := clock.NewFake(schedEpoch)
	gate := make(chan struct{})
	var mu sync.Mutex
	var got []Report
	s := NewScheduler(clk, 4, nil, func(r Report) {
		<-gate
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	})
	s.jitter = 0
	f := newSchedFake("a", true, true, false)
	schedMust(t, s.Add(Job{ID: "a", Checker: f, Interval: time.Second, Warmup: -1}))
	h := &schedHarness{t: t, clk: clk, s: s, done: make(chan struct{})}
	h.start()
	// The first report is with the sink (blocked); the next three pile up and coalesce.
	for i := 1; i <= 3; i++ {
		deadline := time.Now().Add(5 * time.Second)
		for f.Calls() < i || f.Running() > 0 || !s.idleNow() || !s.boxBusy() {
			if time.Now().After(deadline) {
				t.Fatal("probe did not run")
			}
			time.Sleep(100 * time.Microsecond)
		}
		clk.Advance(time.Second)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Calls() < 4 || f.Running() > 0 || !s.idleNow() {
		if time.Now().After(deadline) {
			t.Fatal("probe did not run")
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(gate)
	h.settle()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[1].Coalesced != 2 || got[1].Result.Reason != "call 3" {
		t.Fatalf("sink got %+v, want the first report then call 3 with Coalesced 2", got)
	}
	if s.Stats().Coalesced != 2 {
		t.Fatalf("Stats().Coalesced = %d", s.Stats().Coalesced)
	}
}

func TestAddRefusesIncompleteJobs(t *testing.T) {
	s := NewScheduler(clock.NewFake(schedEpoch), 1, nil, nil)
	for _, j := range []Job{
		{Checker: newSchedFake("a"), Interval: time.Second},
		{ID: "a", Interval: time.Second},
		{ID: "a", Checker: newSchedFake("a")},
	} {
		if err := s.Add(j); err == nil {
			t.Errorf("Add(%+v) succeeded", j)
		}
	}
}

func TestLatenessHistogramQuantilesWithinABucket(t *testing.T) {
	var h latenessHistogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	s := h.summary()
	if s.Count != 1000 || s.Max != time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	for _, c := range []struct {
		got, want time.Duration
	}{{s.P50, 500 * time.Microsecond}, {s.P99, 990 * time.Microsecond}} {
		if c.got < c.want || float64(c.got) > float64(c.want)*1.2 {
			t.Fatalf("quantile %v, want within [%v, +20%%]", c.got, c.want)
		}
	}
	var empty latenessHistogram
	if empty.summary() != (LatenessSummary{}) {
		t.Fatal("empty histogram has a summary")
	}
}

func schedMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type schedPanicker struct{ schedFake }

func (p *schedPanicker) Check(context.Context) Result { panic("boom") }

func TestPanickingCheckerFailsItsProbeOnly(t *testing.T) {
	h := newSchedHarness(t, 2)
	schedMust(t, h.s.Add(Job{ID: "p", Checker: &schedPanicker{schedFake{key: "p"}}, Interval: time.Second, Warmup: -1}))
	schedMust(t, h.s.Add(Job{ID: "ok", Checker: newSchedFake("ok"), Interval: time.Second, Warmup: -1}))
	h.start()
	h.at(2 * time.Second)
	var failed, ok int
	for _, r := range h.takeReports() {
		switch {
		case r.JobID == "p" && !r.Result.Healthy && strings.Contains(r.Result.Reason, "panicked: boom"):
			failed++
		case r.JobID == "ok" && r.Result.Healthy:
			ok++
		}
	}
	if failed != 3 || ok != 3 {
		t.Fatalf("panicking job failed %d times, healthy job ok %d times; want 3 and 3", failed, ok)
	}
}

func TestShutdownAbandonsACheckerThatIgnoresCancellationAfterGrace(t *testing.T) {
	h := newSchedHarness(t, 2)
	hung := newSchedFake("hung")
	hung.block, hung.hang = true, true
	h.fakes = append(h.fakes, hung)
	schedMust(t, h.s.Add(Job{ID: "hung", Checker: hung, Interval: time.Second, Timeout: time.Hour, Warmup: -1}))
	h.start()
	h.settle()
	h.stop()
	graceEnd := h.clk.Now().Add(shutdownGrace)
	deadline := time.Now().Add(5 * time.Second)
	for !h.clk.PendingAt(graceEnd) {
		if time.Now().After(deadline) {
			t.Fatal("shutdown did not arm its grace timer")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-h.done:
		t.Fatal("Run returned before the grace ended")
	default:
	}
	h.clk.Advance(shutdownGrace)
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the grace")
	}
	close(hung.release) // let the abandoned goroutine end before goleak looks
	deadline = time.Now().Add(5 * time.Second)
	for hung.Running() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func TestRemovingOneJobDuringASharedProbeStillReportsToTheOther(t *testing.T) {
	h := newSchedHarness(t, 2)
	f := newSchedFake("same")
	f.block = true
	h.fakes = append(h.fakes, f)
	schedMust(t, h.s.Add(Job{ID: "a", Checker: f, Interval: 10 * time.Second, Warmup: -1}))
	schedMust(t, h.s.Add(Job{ID: "b", Checker: f, Interval: 10 * time.Second, Warmup: -1}))
	h.start()
	h.settle()
	h.s.Remove("a")
	if f.Waiting() != 1 {
		t.Fatal("removing one of two jobs cancelled their shared probe")
	}
	close(f.release)
	h.settle()
	got := brief(h.takeReports())
	if !slices.Equal(got, []string{"b@0s:ok"}) {
		t.Fatalf("reports %v, want only b@0s:ok", got)
	}
}

func TestUpdateThatChangesTimingKeepsWhetherTheCheckerWasUp(t *testing.T) {
	h := newSchedHarness(t, 2)
	f := newSchedFake("a", false)
	schedMust(t, h.s.Add(Job{ID: "a", Checker: f, Interval: 10 * time.Second, Warmup: -1}))
	h.start()
	h.at(time.Second) // failed once with retry 0: down
	if h.s.Snapshot()[0].Up {
		t.Fatal("checker up after a failure with retry 0")
	}
	schedMust(t, h.s.Update(Job{ID: "a", Checker: f, Interval: 20 * time.Second, Warmup: -1}))
	if st := h.s.Snapshot()[0]; st.Up || !st.HasRun {
		t.Fatalf("after a timing change: %+v, want still down and has run", st)
	}
}

func TestResultOfAWorkerThatFindsTheLockTakenIsCompletedAndItsSlotReused(t *testing.T) {
	h := newSchedHarness(t, 1)
	a, b := newSchedFake("a"), newSchedFake("b")
	a.block = true
	h.fakes = append(h.fakes, a)
	schedMust(t, h.s.Add(Job{ID: "a", Checker: a, Interval: time.Minute, Warmup: -1}))
	schedMust(t, h.s.Add(Job{ID: "b", Checker: b, Interval: time.Minute, Warmup: -1}))
	h.start()
	h.settle() // a holds the only slot, b waits for it

	// With the lock held here, a's worker cannot take it: it must leave its result behind.
	h.s.mu.Lock()
	close(a.release)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.s.done) == 0 {
		if time.Now().After(deadline) {
			h.s.mu.Unlock()
			t.Fatal("the worker left no result while the lock was taken")
		}
		time.Sleep(100 * time.Microsecond)
	}
	h.s.mu.Unlock()
	h.settle()

	got := brief(h.takeReports())
	slices.Sort(got)
	if want := []string{"a@0s:ok", "b@0s:ok"}; !slices.Equal(got, want) {
		t.Fatalf("reports %v, want %v: a's result completed and b run in the freed slot", got, want)
	}
	if st := h.s.Stats(); st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v, want nothing in flight or waiting", st)
	}
}

func TestSchedHeapPopsInDueOrderAfterRemovals(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h dueHeap[*schedProbe]
	want := map[*schedProbe]int64{}
	for range 2000 {
		switch op := rng.IntN(3); {
		case op < 2 || len(h) == 0:
			p := &schedProbe{index: -1}
			at := rng.Int64N(1000)
			h.push(p, at)
			want[p] = at
		default:
			p := h[rng.IntN(len(h))].item
			h.remove(p.index)
			if p.index != -1 {
				t.Fatalf("removed probe keeps index %d", p.index)
			}
			delete(want, p)
		}
		for i, e := range h {
			if e.item.index != i {
				t.Fatalf("entry %d records index %d", i, e.item.index)
			}
		}
	}
	last := int64(-1)
	for len(h) > 0 {
		at := h[0].at
		p := h.pop()
		if at < last || want[p] != at {
			t.Fatalf("popped due %d after %d (pushed with %d)", at, last, want[p])
		}
		last = at
		delete(want, p)
	}
	if len(want) != 0 {
		t.Fatalf("%d probes never popped", len(want))
	}
}

// verdictFake answers its results in turn, then repeats the last.
type verdictFake struct {
	mu      sync.Mutex
	results []Result
	calls   int
}

func (f *verdictFake) Kind() string   { return "FAKE" }
func (f *verdictFake) Target() string { return "v" }
func (f *verdictFake) Key() string    { return "v" }

func (f *verdictFake) Check(context.Context) Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.results[min(f.calls, len(f.results)-1)]
	f.calls++
	return r
}

func TestNoVerdictKeepsTheCheckAsItIsAndCountsNoRetry(t *testing.T) {
	h := newSchedHarness(t, 4)
	none := Result{NoVerdict: true, Weight: -1, Reason: "agent not reached"}
	f := &verdictFake{results: []Result{
		{Healthy: true, Weight: -1}, none, none, // up, and staying up: no retry run
		{Weight: -1}, {Weight: -1}, // down after one retry
		none, none, // staying down
		{Healthy: true, Weight: -1},
	}}
	schedMust(t, h.s.Add(Job{ID: "a", Checker: f, Interval: 10 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: -1}))
	h.start()
	h.at(75 * time.Second)
	got := brief(h.takeReports())
	want := []string{"a@0s:ok", "a@10s:ok", "a@20s:ok", "a@31s:fail/1", "a@41s:fail", "a@51s:fail", "a@1m1s:ok", "a@1m11s:ok"}
	if !slices.Equal(got, want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
}
