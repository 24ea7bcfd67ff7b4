package pool

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// randomSpec builds a small service exercising every option.
func randomSpec(rng *rand.Rand) ServiceSpec {
	spec := ServiceSpec{
		Name:       "prop",
		Quorum:     rng.IntN(8),
		Hysteresis: rng.IntN(4),
		QuorumUp:   "qup", QuorumDown: "qdown",
		Omega:     rng.IntN(2) == 0,
		HASuspend: rng.IntN(4) == 0,
	}
	if rng.IntN(3) == 0 {
		spec.PanicThreshold = 1 + rng.IntN(100)
	}
	if rng.IntN(2) == 0 {
		spec.Sorry = &SorrySpec{ID: "sorry", Weight: rng.IntN(3), Inhibit: rng.IntN(2) == 0}
	}
	if rng.IntN(2) == 0 {
		spec.Passive = PassiveSpec{ConsecutiveFailures: 1 + rng.IntN(3), MaxEjectionPercent: rng.IntN(101)}
	}
	n := rng.IntN(6)
	for i := range n {
		checks := ""
		for range rng.IntN(4) {
			if rng.IntN(3) == 0 {
				checks += "a"
			} else {
				checks += "c"
			}
		}
		rs := srv(fmt.Sprintf("rs%d", i), rng.IntN(5), checks)
		rs.InhibitOnFailure = rng.IntN(3) == 0
		rs.Rise = rng.IntN(3)
		if rng.IntN(3) == 0 {
			rs.SlowStart = time.Duration(1+rng.IntN(20)) * time.Second
		}
		spec.Servers = append(spec.Servers, rs)
	}
	return spec
}

// mutate changes a spec the way a reload might.
func mutate(rng *rand.Rand, spec ServiceSpec) ServiceSpec {
	out := spec
	out.Servers = nil
	for _, rs := range spec.Servers {
		switch rng.IntN(6) {
		case 0: // removed
			continue
		case 1:
			rs.Weight = rng.IntN(5)
		case 2:
			rs.Checks = append(append([]CheckSpec(nil), rs.Checks...), CheckSpec{Name: rs.ID + "-new", Alpha: rng.IntN(2) == 0})
		case 3:
			if len(rs.Checks) > 0 {
				rs.Checks = append([]CheckSpec(nil), rs.Checks[1:]...)
			}
		}
		out.Servers = append(out.Servers, rs)
	}
	if rng.IntN(3) == 0 {
		out.Servers = append(out.Servers, srv(fmt.Sprintf("new%d", rng.IntN(1000)), 1+rng.IntN(3), "ca"[rng.IntN(2):]))
	}
	if rng.IntN(4) == 0 {
		out.Quorum = rng.IntN(8)
	}
	if rng.IntN(4) == 0 {
		out.Passive = PassiveSpec{ConsecutiveFailures: rng.IntN(3), MaxEjectionPercent: rng.IntN(101)}
	}
	if rng.IntN(4) == 0 {
		if out.Sorry == nil {
			out.Sorry = &SorrySpec{ID: "sorry2"}
		} else {
			out.Sorry = nil
		}
	}
	if out.Validate() != nil {
		return spec
	}
	return out
}

// op is one random input, recorded so that a run can be replayed.
type op struct {
	kind  int
	obs   Observation
	fail  Failure
	local bool
	spec  ServiceSpec
	dt    time.Duration
	// SetAdmin (kind 4) of ids (all: none) to admin; SetWeight (kind 5) of ids[0] to weight;
	// ObserveFailure (kind 6) of fail.
	ids    []string
	admin  AdminState
	weight int
}

func randomOps(rng *rand.Rand, spec ServiceSpec, n int) []op {
	var ops []op
	cur := spec
	for range n {
		o := op{dt: time.Duration(rng.IntN(3000)) * time.Millisecond}
		switch k := rng.IntN(100); {
		case k >= 76 && k < 84 && len(cur.Servers) > 0:
			o.kind = 4
			o.admin = AdminState(rng.IntN(3))
			if rng.IntN(4) != 0 {
				o.ids = []string{cur.Servers[rng.IntN(len(cur.Servers))].ID}
			}
			if k >= 81 {
				o.kind = 5
				o.ids = []string{cur.Servers[rng.IntN(len(cur.Servers))].ID}
				o.weight = rng.IntN(7) - 2 // a third clear the override
			}
		case k < 80 && len(cur.Servers) > 0:
			rs := cur.Servers[rng.IntN(len(cur.Servers))]
			if len(rs.Checks) == 0 {
				o.kind = 1
				break
			}
			if rng.IntN(4) == 0 {
				o.kind = 6
				o.fail = Failure{Server: rs.ID, Consecutive: 1 + rng.IntN(4), Kind: "timeout", Reason: "random"}
				break
			}
			o.obs = Observation{Server: rs.ID, Check: rng.IntN(len(rs.Checks)), Healthy: rng.IntN(3) != 0, Reason: "random"}
			if rng.IntN(4) == 0 {
				o.obs.Started = t0 // a probe that started long ago
			}
			switch rng.IntN(8) {
			case 0:
				o.obs.Weight = WeightUpdate{Op: WeightSet, Value: rng.IntN(10)}
			case 1:
				o.obs.Weight = WeightUpdate{Op: WeightAdd, Value: rng.IntN(10) - 5}
			}
		case k < 88:
			o.kind = 1 // tick
		case k < 94:
			o.kind = 2
			o.local = rng.IntN(3) != 0
		default:
			o.kind = 3
			cur = mutate(rng, cur)
			o.spec = cur
		}
		ops = append(ops, o)
	}
	return ops
}

func TestRandomObservationsKeepInvariants(t *testing.T) {
	seeds := 250
	if testing.Short() {
		seeds = 50
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 99))
		spec := randomSpec(rng)
		ops := randomOps(rng, spec, 150)
		first := runOps(t, seed, spec, ops, true, false)
		if second := runOps(t, seed, spec, ops, false, false); first != second {
			t.Fatalf("seed %d: two runs of the same inputs differ", seed)
		}
		// Observe's shortcut for a result that changes nothing must be just that.
		if full := runOps(t, seed, spec, ops, false, true); first != full {
			t.Fatalf("seed %d: Observe's shortcut and its full transaction differ:\n%s\n---\n%s", seed, first, full)
		}
		if t.Failed() {
			return
		}
	}
}

// runOps plays ops and returns a transcript of every event and of the state after each op, to
// compare runs; full makes every Observe run its whole transaction and find its server by ID,
// while the other runs pass a ServerRef, taken at New and again after some reloads (so that
// some are stale).
func runOps(t *testing.T, seed int, spec ServiceSpec, ops []op, check, full bool) string {
	t.Helper()
	now := t0
	s, evs, err := New(spec, now)
	if err != nil {
		t.Fatalf("seed %d: New: %v", seed, err)
	}
	s.fullObserve = full
	refs := map[string]ServerRef{}
	takeRefs := func(spec ServiceSpec) {
		if full {
			return
		}
		for _, rs := range spec.Servers {
			refs[rs.ID] = s.Ref(rs.ID)
		}
	}
	takeRefs(spec)
	var transcript strings.Builder
	transcript.WriteString(dump(evs))
	cur := spec
	if check {
		checkReplay(t, fmt.Sprintf("seed %d New", seed), Desired{}, evs, s.Desired())
		checkInvariants(t, fmt.Sprintf("seed %d New", seed), s, &cur)
	}
	for i, o := range ops {
		now = now.Add(o.dt)
		before := s.Desired()
		switch o.kind {
		case 0:
			obs := o.obs
			obs.Ref = refs[obs.Server]
			evs, err = s.Observe(obs, now)
		case 1:
			evs = s.Tick(now)
		case 2:
			evs = s.SetAddressLocal(o.local, now)
		case 4:
			evs, err = s.SetAdmin(o.ids, o.admin, "prop", "random", now)
		case 5:
			evs, err = s.SetWeight(o.ids[0], o.weight, "prop", "random", now)
		case 6:
			f := o.fail
			f.Ref = refs[f.Server]
			evs, err = s.ObserveFailure(f, now)
		case 3:
			evs, err = s.Reconfigure(o.spec, now)
			cur = o.spec
			if i%2 == 1 {
				takeRefs(cur)
			}
		}
		label := fmt.Sprintf("seed %d op %d %+v", seed, i, o)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		transcript.WriteString(dump(evs))
		fmt.Fprintf(&transcript, "%+v\n%+v\n", s.Snapshot(), s.Desired())
		if check {
			checkReplay(t, label, before, evs, s.Desired())
			checkInvariants(t, label, s, &cur)
			checkScripts(t, label, evs, &cur)
		}
		if t.Failed() {
			return transcript.String()
		}
	}
	before := s.Desired()
	evs = s.Stop(StopShutdown, now)
	if check {
		checkReplay(t, fmt.Sprintf("seed %d Stop", seed), before, evs, s.Desired())
		if d := s.Desired(); len(d.Backends) != 0 || d.SorryActive || d.QuorumUp || d.Panic {
			t.Errorf("seed %d: after Stop: %+v", seed, d)
		}
	}
	transcript.WriteString(dump(evs))
	return transcript.String()
}

func checkInvariants(t *testing.T, label string, s *Service, spec *ServiceSpec) {
	t.Helper()
	st := s.Snapshot()
	d := s.Desired()
	in := make(map[string]int, len(d.Backends))
	for _, b := range d.Backends {
		in[b.ID] = b.Weight
	}
	var live int64
	up, pending, ready, readyUp, ejected := 0, 0, 0, 0, 0
	for i, rs := range st.Servers {
		sp := &spec.Servers[i]
		allUp := true
		for _, c := range rs.Checks {
			allUp = allUp && c.Up
			if !c.HasRun && !c.Up {
				pending++
			}
		}
		if rs.Up != allUp {
			t.Errorf("%s: server %s up=%v but its checks all up=%v", label, rs.ID, rs.Up, allUp)
		}
		if rs.Ejected {
			ejected++
			if !rs.Up || rs.Admin.State != AdminReady {
				t.Errorf("%s: server %s ejected while down or %s", label, rs.ID, rs.Admin.State)
			}
		}
		if rs.Up {
			up++
		}
		if rs.Admin.State == AdminReady {
			ready++
			if rs.Up {
				readyUp++
				live += int64(rs.EffectiveWeight)
			}
		}
		if rs.Admin.HasWeight && rs.EffectiveWeight != rs.Admin.Weight {
			t.Errorf("%s: server %s effective weight %d, its override %d", label, rs.ID, rs.EffectiveWeight, rs.Admin.Weight)
		}
		w, ok := in[rs.ID]
		switch {
		case rs.Admin.State == AdminMaint:
			if ok {
				t.Errorf("%s: server %s in maintenance is in the set at %d", label, rs.ID, w)
			}
		case rs.Admin.State == AdminDrain:
			if ok != (rs.Up || sp.InhibitOnFailure) || w != 0 {
				t.Errorf("%s: drained server %s (up %v, inhibit %v) is in=%v at %d", label, rs.ID, rs.Up, sp.InhibitOnFailure, ok, w)
			}
			if rs.SlowStart {
				t.Errorf("%s: drained server %s ramps", label, rs.ID)
			}
		case d.Panic:
			if !ok || w != rs.EffectiveWeight {
				t.Errorf("%s: panic but server %s is in=%v at %d, effective %d", label, rs.ID, ok, w, rs.EffectiveWeight)
			}
		case d.SorryActive:
			if ok != sp.InhibitOnFailure || w != 0 {
				t.Errorf("%s: sorry active but server %s is in=%v at %d (inhibit %v)", label, rs.ID, ok, w, sp.InhibitOnFailure)
			}
		case !rs.Up:
			// Never a down server, unless inhibited at weight 0.
			if ok && (!sp.InhibitOnFailure || w != 0) {
				t.Errorf("%s: down server %s in the set at %d", label, rs.ID, w)
			}
			if !ok && sp.InhibitOnFailure {
				t.Errorf("%s: inhibited server %s left the set", label, rs.ID)
			}
		case rs.Ejected:
			if !ok || w != 0 {
				t.Errorf("%s: ejected server %s is in=%v at %d, want in at 0", label, rs.ID, ok, w)
			}
		default:
			if !ok {
				t.Errorf("%s: up server %s not in the set", label, rs.ID)
			}
			if rs.SlowStart {
				if w > rs.EffectiveWeight || (rs.EffectiveWeight > 0 && w < 1) {
					t.Errorf("%s: ramping server %s at %d of %d", label, rs.ID, w, rs.EffectiveWeight)
				}
			} else if w != rs.EffectiveWeight {
				t.Errorf("%s: up server %s at %d, effective %d", label, rs.ID, w, rs.EffectiveWeight)
			}
		}
	}
	if up != st.Up || live != st.LiveWeight {
		t.Errorf("%s: counted %d up, live %d; service says %d, %d", label, up, live, st.Up, st.LiveWeight)
	}
	// Quorum consistent with the weights, given hysteresis.
	if st.QuorumUp && (live == 0 || live < st.Quorum-st.Hysteresis) {
		t.Errorf("%s: quorum up with live weight %d, quorum %d-%d", label, live, st.Quorum, st.Hysteresis)
	}
	if !st.QuorumUp && live >= st.Quorum+st.Hysteresis {
		t.Errorf("%s: quorum down with live weight %d, quorum %d+%d", label, live, st.Quorum, st.Hysteresis)
	}
	// Panic is decided among the servers the operator left to their checks, ejected ones
	// counted out.
	wantPanic := spec.PanicThreshold > 0 && ready > 0 && pending == 0 && (readyUp-ejected)*100 < spec.PanicThreshold*ready
	if d.Panic != wantPanic {
		t.Errorf("%s: panic %v, want %v (%d of %d ready up, %d pending, threshold %d)", label, d.Panic, wantPanic, readyUp, ready, pending, spec.PanicThreshold)
	}
	// Sorry exactly when expected.
	wantSorry := spec.Sorry != nil && !st.QuorumUp && !d.Panic
	if d.SorryActive != wantSorry {
		t.Errorf("%s: sorry active %v, want %v", label, d.SorryActive, wantSorry)
	}
	extra := len(d.Backends) - len(st.Servers)
	if spec.Sorry != nil {
		w, ok := in[spec.Sorry.ID]
		switch {
		case wantSorry:
			if !ok || w != spec.Sorry.weight() {
				t.Errorf("%s: sorry active but sorry server in=%v at %d", label, ok, w)
			}
		case spec.Sorry.Inhibit:
			if !ok || w != 0 {
				t.Errorf("%s: inhibited sorry server in=%v at %d, want 0", label, ok, w)
			}
		case ok:
			t.Errorf("%s: sorry server in the set while not needed", label)
		}
	}
	for id := range in {
		if _, known := s.servers[id]; !known && (spec.Sorry == nil || id != spec.Sorry.ID) {
			t.Errorf("%s: unknown backend %s in the set (%d extra)", label, id, extra)
		}
	}
}

// checkScripts: server transitions name the server's own script.
func checkScripts(t *testing.T, label string, evs []Event, spec *ServiceSpec) {
	t.Helper()
	for _, e := range evs {
		var rs *ServerSpec
		for i := range spec.Servers {
			if spec.Servers[i].ID == e.Server {
				rs = &spec.Servers[i]
			}
		}
		switch e.Kind {
		case ServerUp:
			if rs == nil || e.Script != rs.NotifyUp {
				t.Errorf("%s: %s for %s names script %q", label, e.Kind, e.Server, e.Script)
			}
		case ServerDown:
			if rs == nil || e.Script != rs.NotifyDown {
				t.Errorf("%s: %s for %s names script %q", label, e.Kind, e.Server, e.Script)
			}
		case QuorumGained:
			if e.Script != spec.QuorumUp {
				t.Errorf("%s: quorum gained names %q", label, e.Script)
			}
		case QuorumLost:
			if e.Script != spec.QuorumDown {
				t.Errorf("%s: quorum lost names %q", label, e.Script)
			}
		}
	}
}

func TestDesiredMatchesStateAcrossSmallAndLargeBatchesOfChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	spec := ServiceSpec{Name: "big", Sorry: &SorrySpec{ID: "zz-sorry"}, Quorum: 150}
	for i := range 300 {
		rs := srv(fmt.Sprintf("rs%03d", rng.IntN(100000)*1000+i), 1+rng.IntN(3), "c")
		rs.InhibitOnFailure = i%4 == 0
		spec.Servers = append(spec.Servers, rs)
	}
	s, _, err := New(spec, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	for round := range 60 {
		// Batches from 1 to 200 changes between two Desired calls, so both the incremental
		// and the rebuilding path run, and quorum (150 of ~600) flips now and then.
		for range 1 + rng.IntN(200) {
			now = now.Add(time.Millisecond)
			rs := spec.Servers[rng.IntN(len(spec.Servers))]
			if _, err := s.Observe(Observation{Server: rs.ID, Healthy: rng.IntN(2) == 0}, now); err != nil {
				t.Fatal(err)
			}
		}
		var want []Backend
		for id, w := range s.desired {
			want = append(want, Backend{ID: id, Weight: w})
		}
		slices.SortFunc(want, func(a, b Backend) int { return strings.Compare(a.ID, b.ID) })
		if got := s.Desired().Backends; !slices.Equal(got, want) {
			t.Fatalf("round %d: Desired has %d backends, state has %d", round, len(got), len(want))
		}
	}
}
