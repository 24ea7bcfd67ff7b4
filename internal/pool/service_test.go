package pool

import (
	"strings"
	"testing"
	"time"
)

func TestServerIsUpOnlyWhenEveryCheckPasses(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 2, "cc"), srv("b", 1, "c")}}
	run(t, spec, "a:2 b:1", []step{
		{do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{do: "a1-", want: "b:1", ev: ""},
		{do: "a0+", want: "b:1", ev: ""},
		{do: "a1+", want: "a:2 b:1", ev: "server-up", scripts: "up a"},
		{do: "a1+", want: "a:2 b:1", ev: ""},
	})
}

func TestServerWithoutChecksIsAlwaysUp(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, ""), srv("b", 1, "a")}}
	r, _ := start(t, spec)
	if got := show(r.s.Desired()); got != "a:1" {
		t.Fatalf("desired %q, want a:1", got)
	}
	if _, err := r.s.Observe(Observation{Server: "a", Check: 0, Healthy: false}, t0); err == nil {
		t.Fatal("observation of a check the server does not have was accepted")
	}
}

func TestObserveRefusesUnknownServerOrCheck(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c")}}
	for _, o := range []Observation{
		{Server: "nope", Check: 0},
		{Server: "a", Check: 1},
		{Server: "a", Check: -1},
	} {
		r, _ := start(t, spec)
		_, err := r.s.Observe(o, t0)
		if err == nil || !strings.Contains(err.Error(), `"vs"`) {
			t.Errorf("Observe(%+v) = %v, want an error naming the service", o, err)
		}
		if got := show(r.s.Desired()); got != "a:1" {
			t.Errorf("refused observation changed the set to %q", got)
		}
	}
}

func TestAlphaCheckStartsDownUntilFirstSuccess(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "a"), srv("b", 1, "c")}}
	run(t, spec, "b:1", []step{
		// Keepalived runs notify_down on an alpha check's first failure, though nothing changed.
		{do: "a0-", want: "b:1", ev: "server-confirmed", scripts: "down a"},
		{do: "a0-", want: "b:1", ev: ""},
		{do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"},
	})
}

func TestAlphaFirstSuccessAddsServer(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 3, "aa")}}
	run(t, spec, "-", []step{
		{do: "a0+", want: "-", ev: ""},
		{do: "a1+", want: "a:3", ev: "server-up quorum-gained", scripts: "up a"},
	})
}

func TestAlphaFirstFailureRunsNotifyDownOncePerCheck(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "aa")}}
	run(t, spec, "-", []step{
		{do: "a0-", want: "-", ev: "server-confirmed", scripts: "down a"},
		{do: "a1-", want: "-", ev: "server-confirmed", scripts: "down a"},
		{do: "a1-", want: "-", ev: ""},
	})
}

func TestWithoutAlphaFirstSuccessRunsNothing(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c")}}
	run(t, spec, "a:1", []step{
		{do: "a0+", want: "a:1", ev: ""},
		{do: "a0-", want: "-", ev: "server-down quorum-lost", scripts: "down a"},
	})
}

func TestInhibitKeepsFailedServerAtWeightZero(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{inhibit(srv("a", 5, "c")), srv("b", 1, "c")}}
	run(t, spec, "a:5 b:1", []step{
		{do: "a0-", want: "a:0 b:1", ev: "server-down", scripts: "down a"},
		{do: "a0+", want: "a:5 b:1", ev: "server-up", scripts: "up a"},
	})
}

func TestInhibitAlphaServerStartsAtWeightZero(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{inhibit(srv("a", 5, "a")), srv("b", 1, "c")}}
	run(t, spec, "a:0 b:1", []step{
		{do: "a0+", want: "a:5 b:1", ev: "server-up", scripts: "up a"},
	})
}

func TestDynamicWeight(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 5, "cc"), srv("b", 1, "c")}}
	run(t, spec, "a:5 b:1", []step{
		// misc_dynamic: exit status 12 asks for weight 10.
		{do: "a0+w10", want: "a:10 b:1", ev: "weight-changed"},
		{do: "a0+", want: "a:10 b:1", ev: ""},
		// FILE_CHECK: a share added to the weight, on top of the other check's.
		{do: "a1+d-3", want: "a:7 b:1", ev: "weight-changed"},
		// A failure clears the failing check's share, as Keepalived does.
		{do: "a0-", want: "b:1", ev: "weight-changed server-down", scripts: "down a"},
		{do: "a0+", want: "a:2 b:1", ev: "server-up", scripts: "up a"},
		// Clamped at 0, and still in the set (up, weight 0).
		{do: "a1+d-100", want: "a:0 b:1", ev: "weight-changed"},
		// Beyond IPVS's limit it is clamped too.
		{do: "a1+d2147483647", want: "a:2147483647 b:1", ev: "weight-changed"},
	})
}

func TestDynamicWeightOfDownServerAppliesWhenItComesUp(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 5, "cc"), srv("b", 1, "c")}}
	run(t, spec, "a:5 b:1", []step{
		{do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{do: "a1+w9", want: "b:1", ev: "weight-changed"},
		{do: "a0+", want: "a:9 b:1", ev: "server-up", scripts: "up a"},
	})
}

func quorumSpec(quorum, hysteresis int, sorry *SorrySpec) ServiceSpec {
	return ServiceSpec{
		Name: "vs", Quorum: quorum, Hysteresis: hysteresis, Sorry: sorry,
		QuorumUp: "qup", QuorumDown: "qdown",
		Servers: []ServerSpec{srv("a", 2, "c"), srv("b", 2, "c"), srv("c", 2, "c")},
	}
}

func TestQuorumLostWithoutSorryServerOnlyRunsScript(t *testing.T) {
	run(t, quorumSpec(4, 0, nil), "a:2 b:2 c:2", []step{
		{do: "a0-", want: "b:2 c:2", ev: "server-down", scripts: "down a"},
		{do: "b0-", want: "c:2", ev: "server-down quorum-lost", scripts: "down b, qdown"},
		{do: "b0+", want: "b:2 c:2", ev: "server-up quorum-gained", scripts: "up b, qup"},
	})
}

func TestHysteresisHoldsQuorumUntilBelowQuorumMinusHysteresis(t *testing.T) {
	// quorum 5 hysteresis 2: lost below 3, gained at 7. Weights 2+2+2 = 6.
	spec := quorumSpec(5, 2, nil)
	spec.Servers = append(spec.Servers, srv("d", 2, "c"))
	run(t, spec, "a:2 b:2 c:2 d:2", []step{
		{do: "a0-", want: "b:2 c:2 d:2", ev: "server-down", scripts: "down a"}, // 6
		{do: "b0-", want: "c:2 d:2", ev: "server-down", scripts: "down b"},     // 4: below quorum, not below 3
		{do: "c0-", want: "d:2", ev: "server-down quorum-lost", scripts: "down c, qdown"},
		{do: "c0+", want: "c:2 d:2", ev: "server-up", scripts: "up c"},     // 4
		{do: "b0+", want: "b:2 c:2 d:2", ev: "server-up", scripts: "up b"}, // 6 < 7
		{do: "a0+", want: "a:2 b:2 c:2 d:2", ev: "server-up quorum-gained", scripts: "up a, qup"},
	})
}

func TestStartUpQuorumNeedsQuorumPlusHysteresis(t *testing.T) {
	// 6 live at start, quorum 5 + hysteresis 2 = 7: starts down. No sorry server: no script.
	r := run(t, quorumSpec(5, 2, nil), "a:2 b:2 c:2", nil)
	if r.s.Desired().QuorumUp {
		t.Fatal("quorum up at start with live weight 6 < 5+2")
	}
}

func TestStartWithQuorumDownRunsQuorumDownOnlyWithSorryServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sorry   *SorrySpec
		want    string
		scripts string
	}{
		{"without sorry server", nil, "-", ""},
		{"with sorry server", &SorrySpec{ID: "s"}, "s:1", "qdown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := quorumSpec(0, 0, tc.sorry)
			for i := range spec.Servers {
				spec.Servers[i].Checks[0].Alpha = true
			}
			r, evs := start(t, spec)
			if got := show(r.s.Desired()); got != tc.want {
				t.Errorf("desired %q, want %q", got, tc.want)
			}
			if got := scripts(evs); got != tc.scripts {
				t.Errorf("scripts %q, want %q\n%s", got, tc.scripts, dump(evs))
			}
		})
	}
}

func TestSorryServerReplacesPoolWhenQuorumLost(t *testing.T) {
	spec := quorumSpec(5, 0, &SorrySpec{ID: "s"})
	spec.Servers[2] = inhibit(spec.Servers[2])
	run(t, spec, "a:2 b:2 c:2", []step{
		// Quorum lost: live servers out (inhibited ones to 0), sorry server in at weight 1.
		{do: "a0-", want: "c:0 s:1", ev: "server-down quorum-lost sorry-on", scripts: "down a, qdown"},
		{do: "b0-", want: "c:0 s:1", ev: "server-down", scripts: "down b"},
		// A server coming back below quorum stays out: the sorry server holds the VS.
		{do: "b0+", want: "c:0 s:1", ev: "server-up", scripts: "up b"},
		{do: "a0+", want: "a:2 b:2 c:2", ev: "server-up quorum-gained sorry-off", scripts: "up a, qup"},
	})
}

func TestSorryServerInhibitStaysAtWeightZero(t *testing.T) {
	run(t, quorumSpec(6, 0, &SorrySpec{ID: "s", Inhibit: true, Weight: 3}), "a:2 b:2 c:2 s:0", []step{
		{do: "a0-", want: "s:3", ev: "server-down quorum-lost sorry-on", scripts: "down a, qdown"},
		{do: "a0+", want: "a:2 b:2 c:2 s:0", ev: "server-up quorum-gained sorry-off", scripts: "up a, qup"},
	})
}

func TestEmptyPoolUsesSorryServer(t *testing.T) {
	r, evs := start(t, ServiceSpec{Name: "vs", Sorry: &SorrySpec{ID: "s"}, QuorumDown: "qdown"})
	if got := show(r.s.Desired()); got != "s:1" {
		t.Fatalf("desired %q, want s:1", got)
	}
	if d := r.s.Desired(); !d.SorryActive || d.QuorumUp {
		t.Fatalf("desired %+v, want sorry active and quorum down", d)
	}
	if got := kinds(evs); got != "service-started quorum-lost sorry-on" {
		t.Fatalf("events %q", got)
	}
}

func TestQuorumAboveTotalWeightIsLowered(t *testing.T) {
	// Lowered to quorum 6 (the total weight), hysteresis 5. Keepalived's start-up rule then
	// wants 6+5 = 11: a fully healthy pool starts with quorum down.
	r := run(t, quorumSpec(100, 50, nil), "a:2 b:2 c:2", nil)
	st := r.s.Snapshot()
	if st.Quorum != 6 || st.Hysteresis != 5 || len(st.Notes) != 2 {
		t.Fatalf("quorum %d hysteresis %d notes %q, want 6, 5 and two notes", st.Quorum, st.Hysteresis, st.Notes)
	}
	if st.QuorumUp {
		t.Fatal("quorum up at start with live weight 6 < 6+5")
	}
	r = run(t, quorumSpec(100, 0, nil), "a:2 b:2 c:2", []step{
		{do: "a0-", want: "b:2 c:2", ev: "server-down quorum-lost", scripts: "down a, qdown"},
	})
}

func TestRiseNeedsSuccessesInARow(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "a")}}
	spec.Servers[0].Rise = 3
	spec.Servers[1].Rise = 2
	run(t, spec, "a:1", []step{
		{do: "a0-", want: "-", ev: "server-down quorum-lost", scripts: "down a"},
		{do: "a0+", want: "-", ev: ""},
		{do: "a0+", want: "-", ev: ""},
		{do: "a0-", want: "-", ev: ""},
		{do: "a0+", want: "-", ev: ""},
		{do: "a0+", want: "-", ev: ""},
		{do: "a0+", want: "a:1", ev: "server-up quorum-gained", scripts: "up a"},
		// Rise applies to an alpha check's start too; its first success confirms nothing.
		{do: "b0+", want: "a:1", ev: ""},
		{do: "b0+", want: "a:1 b:1", ev: "server-up", scripts: "up b"},
	})
}

func TestSlowStartRampsWeightInTenSteps(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 100, "c"), srv("b", 1, "c")}}
	spec.Servers[0].SlowStart = 100 * time.Second
	r := run(t, spec, "a:100 b:1", []step{
		{at: 1 * time.Second, do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{at: 10 * time.Second, do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"},
	})
	next, ok := r.s.NextChange(t0.Add(10 * time.Second))
	if !ok || !next.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("NextChange = %v %v, want t0+20s", next.Sub(t0), ok)
	}
	for i, st := range []step{
		{at: 19 * time.Second, do: "tick", want: "a:1 b:1", ev: ""},
		{at: 20 * time.Second, do: "tick", want: "a:10 b:1", ev: "weight-changed"},
		{at: 65 * time.Second, do: "tick", want: "a:50 b:1", ev: "weight-changed"},
		{at: 109 * time.Second, do: "tick", want: "a:90 b:1", ev: "weight-changed"},
		{at: 110 * time.Second, do: "tick", want: "a:100 b:1", ev: "weight-changed"},
	} {
		r.step(i, st)
	}
	if _, ok := r.s.NextChange(t0.Add(110 * time.Second)); ok {
		t.Fatal("NextChange reports a change after the ramp ended")
	}
	if !r.s.Desired().QuorumUp || r.s.Snapshot().LiveWeight != 101 {
		t.Fatalf("live weight %d, want 101: quorum counts a ramping server's full weight", r.s.Snapshot().LiveWeight)
	}
}

func TestSlowStartDoesNotApplyAtStartUpAndStopsWhenServerFails(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 10, "c"), srv("b", 1, "c")}}
	spec.Servers[0].SlowStart = 10 * time.Second
	r := run(t, spec, "a:10 b:1", []step{
		{at: 1 * time.Second, do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{at: 2 * time.Second, do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"},
		{at: 5 * time.Second, do: "tick", want: "a:3 b:1", ev: "weight-changed"},
		{at: 6 * time.Second, do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{at: 30 * time.Second, do: "tick", want: "b:1", ev: ""},
	})
	if _, ok := r.s.NextChange(t0.Add(30 * time.Second)); ok {
		t.Fatal("a failed server still ramps")
	}
}

func TestSlowStartStepTimesAreExact(t *testing.T) {
	r := &server{spec: ServerSpec{SlowStart: 7 * time.Nanosecond}, rampStart: t0}
	for k := 1; k <= rampSteps; k++ {
		at := rampStepTime(r, k)
		if got := rampStepAt(r, at); got < k {
			t.Errorf("step %d begins at %v but rampStepAt there is %d", k, at.Sub(t0), got)
		}
		if got := rampStepAt(r, at.Add(-1)); got >= k {
			t.Errorf("step %d begins at %v but rampStepAt just before is %d", k, at.Sub(t0), got)
		}
	}
}

func panicSpec(threshold int, sorry *SorrySpec) ServiceSpec {
	spec := ServiceSpec{Name: "vs", PanicThreshold: threshold, Sorry: sorry, QuorumDown: "qdown", QuorumUp: "qup"}
	for _, id := range []string{"a", "b", "c", "d"} {
		spec.Servers = append(spec.Servers, srv(id, 1, "c"))
	}
	return spec
}

func TestPanicThresholdKeepsPoolWhenEveryServerFails(t *testing.T) {
	// 50%: panic when fewer than 2 of 4 are up.
	run(t, panicSpec(50, nil), "a:1 b:1 c:1 d:1", []step{
		{do: "a0-", want: "b:1 c:1 d:1", ev: "server-down", scripts: "down a"},
		{do: "b0-", want: "c:1 d:1", ev: "server-down", scripts: "down b"},
		{do: "c0-", want: "a:1 b:1 c:1 d:1", ev: "server-down panic-on", scripts: "down c"},
		{do: "d0-", want: "a:1 b:1 c:1 d:1", ev: "server-down quorum-lost", scripts: "down d, qdown"},
		{do: "d0+", want: "a:1 b:1 c:1 d:1", ev: "server-up quorum-gained", scripts: "up d, qup"},
		{do: "c0+", want: "c:1 d:1", ev: "server-up panic-off", scripts: "up c"},
	})
}

func TestPanicWinsOverSorryServer(t *testing.T) {
	spec := panicSpec(50, &SorrySpec{ID: "s"})
	spec.Quorum = 3
	run(t, spec, "a:1 b:1 c:1 d:1", []step{
		{do: "a0-", want: "b:1 c:1 d:1", ev: "server-down", scripts: "down a"},
		{do: "b0-", want: "s:1", ev: "server-down quorum-lost sorry-on", scripts: "down b, qdown"},
		{do: "c0-", want: "a:1 b:1 c:1 d:1", ev: "server-down panic-on sorry-off", scripts: "down c"},
		{do: "c0+", want: "s:1", ev: "server-up panic-off sorry-on", scripts: "up c"},
	})
}

func TestPanicWaitsForAlphaChecksToReport(t *testing.T) {
	spec := panicSpec(50, nil)
	for i := range spec.Servers {
		spec.Servers[i].Checks[0].Alpha = true
	}
	run(t, spec, "-", []step{
		{do: "a0+", want: "a:1", ev: "server-up quorum-gained", scripts: "up a, qup"},
		{do: "b0-", want: "a:1", ev: "server-confirmed", scripts: "down b"},
		{do: "c0-", want: "a:1", ev: "server-confirmed", scripts: "down c"},
		{do: "d0-", want: "a:1 b:1 c:1 d:1", ev: "server-confirmed panic-on", scripts: "down d"},
	})
}

func TestShutdownScripts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		omega   bool
		do      string
		scripts string
	}{
		{"shutdown without omega runs nothing", false, "stop", ""},
		{"shutdown with omega runs notify_down and quorum_down", true, "stop", "down b, down c, qdown"},
		{"removal runs notify_down and quorum_down without omega", false, "remove", "down b, down c, qdown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := quorumSpec(0, 0, nil)
			spec.Omega = tc.omega
			spec.Servers[0] = inhibit(spec.Servers[0])
			r := run(t, spec, "a:2 b:2 c:2", []step{
				{do: "a0-", want: "a:0 b:2 c:2", ev: "server-down", scripts: "down a"},
				{do: tc.do, want: "-", ev: "server-down server-down quorum-lost service-stopped", scripts: tc.scripts},
			})
			if _, err := r.s.Observe(Observation{Server: "b", Check: 0, Healthy: true}, r.now); err == nil {
				t.Fatal("observation after stop accepted")
			}
			if evs := r.s.Stop(StopShutdown, r.now); evs != nil {
				t.Fatalf("second stop: %s", dump(evs))
			}
		})
	}
}

func TestShutdownWithOmegaRunsQuorumDownEvenIfAlreadyDown(t *testing.T) {
	spec := quorumSpec(6, 0, nil)
	spec.Omega = true
	run(t, spec, "a:2 b:2 c:2", []step{
		{do: "a0-", want: "b:2 c:2", ev: "server-down quorum-lost", scripts: "down a, qdown"},
		{do: "stop", want: "-", ev: "server-down server-down quorum-lost service-stopped", scripts: "down b, down c, qdown"},
	})
}

func TestRemovalWithQuorumDownSkipsQuorumDown(t *testing.T) {
	spec := quorumSpec(6, 0, &SorrySpec{ID: "s"})
	run(t, spec, "a:2 b:2 c:2", []step{
		{do: "a0-", want: "s:1", ev: "server-down quorum-lost sorry-on", scripts: "down a, qdown"},
		// The live servers are out of the set (the sorry server holds it): no notify_down.
		{do: "remove", want: "-", ev: "service-stopped sorry-off", scripts: ""},
	})
}

func TestHASuspendIgnoresObservationsWhileAddressNotLocal(t *testing.T) {
	spec := ServiceSpec{Name: "vs", HASuspend: true, Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c")}}
	r := run(t, spec, "a:1 b:1", []step{
		{do: "a0-", want: "a:1 b:1", ev: ""},
		{do: "local", want: "a:1 b:1", ev: "checks-resumed"},
		{do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{do: "notlocal", want: "b:1", ev: "checks-suspended"},
		{do: "notlocal", want: "b:1", ev: ""},
		{do: "a0+", want: "b:1", ev: ""},
		{do: "b0-", want: "b:1", ev: ""},
	})
	if !r.s.Suspended() {
		t.Fatal("not suspended with the address gone")
	}
	r.step(0, step{do: "local", want: "b:1", ev: "checks-resumed"})
	r.step(1, step{do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"})
}

func TestHASuspendServiceStartsSuspended(t *testing.T) {
	spec := ServiceSpec{Name: "vs", HASuspend: true, Servers: []ServerSpec{srv("a", 1, "c")}}
	r, evs := start(t, spec)
	if got := kinds(evs); got != "service-started checks-suspended" || !r.s.Suspended() {
		t.Fatalf("events %q, suspended %v", got, r.s.Suspended())
	}
}

func TestHASuspendIsIgnoredWithoutHASuspend(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c")}}
	run(t, spec, "a:1", []step{
		{do: "notlocal", want: "a:1", ev: ""},
		{do: "a0-", want: "-", ev: "server-down quorum-lost", scripts: "down a"},
	})
}

func TestInitNotifiesRunNotifyUpForServersUpAtStart(t *testing.T) {
	spec := ServiceSpec{Name: "vs", InitNotifies: true, Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "a")}}
	_, evs := start(t, spec)
	if got := scripts(evs); got != "up a" {
		t.Fatalf("scripts %q, want %q\n%s", got, "up a", dump(evs))
	}
}

func TestEventsSayWhichCheckSawWhat(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "cc"), srv("b", 1, "c")}}
	r, _ := start(t, spec)
	evs, err := r.s.Observe(Observation{Server: "a", Check: 1, Healthy: false, Reason: "connect: connection refused"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("events:\n%s", dump(evs))
	}
	e := evs[0]
	if e.Service != "vs" || e.Server != "a" || e.Check != 1 || !e.At.Equal(t0) ||
		!strings.Contains(e.Reason, "a-1") || !strings.Contains(e.Reason, "connection refused") {
		t.Fatalf("event does not say who saw what: %+v", e)
	}
	if len(e.Changes) != 1 || e.Changes[0] != (Change{ID: "a"}) {
		t.Fatalf("changes %v, want a removed", e.Changes)
	}
}

func TestValidateRefusesBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec ServiceSpec
		want string
	}{
		{"empty ID", ServiceSpec{Servers: []ServerSpec{{}}}, "empty ID"},
		{"duplicate", ServiceSpec{Servers: []ServerSpec{srv("a", 1, ""), srv("a", 1, "")}}, "listed twice"},
		{"negative weight", ServiceSpec{Servers: []ServerSpec{srv("a", -1, "")}}, "weight -1"},
		{"sorry is real", ServiceSpec{Servers: []ServerSpec{srv("a", 1, "")}, Sorry: &SorrySpec{ID: "a"}}, "also a real server"},
		{"panic over 100", ServiceSpec{PanicThreshold: 101}, "panic threshold"},
		{"negative quorum", ServiceSpec{Quorum: -1}, "quorum -1"},
		{"check names", ServiceSpec{Servers: []ServerSpec{{ID: "a", Checks: []CheckSpec{{Name: "x"}, {Name: "x"}}}}}, "used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := New(tc.spec, t0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSnapshotReportsChecks(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{inhibit(srv("a", 4, "ca")), srv("b", 1, "c")}}
	r := run(t, spec, "a:0 b:1", []step{
		{do: "a0-", want: "a:0 b:1", ev: ""},
	})
	st := r.s.Snapshot()
	a := st.Servers[0]
	if a.ID != "a" || a.Up || !a.InSet || a.DesiredWeight != 0 || a.EffectiveWeight != 4 || len(a.Checks) != 2 {
		t.Fatalf("server a: %+v", a)
	}
	if c := a.Checks[0]; c.Up || !c.HasRun || c.LastHealthy || c.LastReason != "saw a0-" || c.Name != "a-0" {
		t.Fatalf("check 0: %+v", c)
	}
	if c := a.Checks[1]; c.Up || c.HasRun || !c.Alpha {
		t.Fatalf("check 1: %+v", c)
	}
	if st.Up != 1 || st.Total != 2 || st.LiveWeight != 1 || !st.QuorumUp {
		t.Fatalf("service: %+v", st)
	}
}
