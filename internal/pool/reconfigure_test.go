package pool

import (
	"strings"
	"testing"
	"time"
)

func (r *runner) reconfigure(spec ServiceSpec, want, ev, wantScripts string) []Event {
	t := r.t
	t.Helper()
	r.now = r.now.Add(time.Second)
	before := r.s.Desired()
	evs, err := r.s.Reconfigure(spec, r.now)
	if err != nil {
		t.Fatalf("Reconfigure: %v", err)
	}
	checkReplay(t, "Reconfigure", before, evs, r.s.Desired())
	if got := show(r.s.Desired()); want != "?" && got != want {
		t.Errorf("after Reconfigure: desired %q, want %q\n%s", got, want, dump(evs))
	}
	if got := kinds(evs); ev != "?" && got != ev {
		t.Errorf("after Reconfigure: events %q, want %q\n%s", got, ev, dump(evs))
	}
	if got := scripts(evs); got != wantScripts {
		t.Errorf("after Reconfigure: scripts %q, want %q\n%s", got, wantScripts, dump(evs))
	}
	return evs
}

func TestReconfigureKeepsUnchangedServerState(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "cc"), srv("c", 1, "c")}}
	spec.Servers[1].Rise = 3
	r := run(t, spec, "a:1 b:1 c:1", []step{
		{do: "a0-", want: "b:1 c:1", ev: "server-down", scripts: "down a"},
		{do: "b1-", want: "c:1", ev: "server-down", scripts: "down b"},
		{do: "b1+", want: "c:1", ev: ""},
	})
	since := r.s.Snapshot().Servers[0].Since
	r.reconfigure(spec, "c:1", "reconfigured", "")
	st := r.s.Snapshot()
	if a := st.Servers[0]; a.Up || !a.Since.Equal(since) {
		t.Fatalf("a after reload: %+v, want down since %v", a, since)
	}
	// b's rise counter survived: two more successes, not three.
	r.step(0, step{do: "b1+", want: "c:1", ev: ""})
	r.step(1, step{do: "b1+", want: "b:1 c:1", ev: "server-up", scripts: "up b"})
}

func TestReconfigureStartsNewServersPerAlpha(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c")}}
	r := run(t, spec, "a:1", nil)
	spec.Servers = append(spec.Servers, srv("b", 2, "a"), srv("c", 3, "c"))
	r.reconfigure(spec, "a:1 c:3", "reconfigured server-added server-added", "")
	r.step(0, step{do: "b0+", want: "a:1 b:2 c:3", ev: "server-up", scripts: "up b"})
}

func TestReconfigureRemovedServerRunsNotifyDownIfItWasIn(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c"), srv("c", 1, "c")}}
	r := run(t, spec, "a:1 b:1 c:1", []step{
		{do: "b0-", want: "a:1 c:1", ev: "server-down", scripts: "down b"},
	})
	spec.Servers = spec.Servers[2:]
	evs := r.reconfigure(spec, "c:1", "reconfigured server-removed server-removed", "down a")
	for _, e := range evs {
		if e.Kind == ServerRemoved && e.Server == "a" && (len(e.Changes) != 1 || e.Changes[0] != (Change{ID: "a"})) {
			t.Fatalf("removal of a not carried by its event: %s", dump(evs))
		}
	}
}

func TestReconfigureAppliesNewWeightAndKeepsDynamicWeight(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 5, "cc"), srv("b", 1, "c")}}
	r := run(t, spec, "a:5 b:1", []step{
		{do: "a0+w8", want: "a:8 b:1", ev: "weight-changed"},
		{do: "a1+d2", want: "a:10 b:1", ev: "weight-changed"},
	})
	// misc_dynamic asked for 8 whatever the configured weight; the file's share stays +2.
	spec.Servers[0].Weight = 20
	r.reconfigure(spec, "a:10 b:1", "reconfigured", "")
	spec.Servers[0].Checks = spec.Servers[0].Checks[1:]
	r.reconfigure(spec, "a:22 b:1", "reconfigured weight-changed", "")
}

func TestReconfigureMigratesCheckStateByName(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "cc"), srv("b", 1, "c")}}
	r := run(t, spec, "a:1 b:1", []step{
		{do: "a1-", want: "b:1", ev: "server-down", scripts: "down a"},
	})
	// Reorder a's checks: the failing one (a-1) keeps failing at its new position.
	spec.Servers[0].Checks = []CheckSpec{spec.Servers[0].Checks[1], spec.Servers[0].Checks[0]}
	r.reconfigure(spec, "b:1", "reconfigured", "")
	r.step(0, step{do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"})
	// Removing a failing check brings the server up, with notify_up.
	r.step(1, step{do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"})
	spec.Servers[0].Checks = spec.Servers[0].Checks[1:]
	r.reconfigure(spec, "a:1 b:1", "reconfigured server-up", "up a")
}

func TestReconfigureNewAlphaCheckStartsUpOnlyOnAnUpServer(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c")}}
	r := run(t, spec, "a:1 b:1", []step{
		{do: "b0-", want: "a:1", ev: "server-down", scripts: "down b"},
	})
	spec.Servers[0].Checks = append(spec.Servers[0].Checks, CheckSpec{Name: "new", Alpha: true})
	spec.Servers[1].Checks = append(spec.Servers[1].Checks, CheckSpec{Name: "new", Alpha: true})
	r.reconfigure(spec, "a:1", "reconfigured", "")
	// b needs both its old check and the new alpha one to pass.
	r.step(0, step{do: "b0+", want: "a:1", ev: ""})
	r.step(1, step{do: "b1+", want: "a:1 b:1", ev: "server-up", scripts: "up b"})
}

func TestReconfigureKeepsPendingAlphaCheckDown(t *testing.T) {
	// Keepalived would let b's alpha check, which never ran, come up on reload.
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "ca")}}
	r := run(t, spec, "a:1", []step{
		{do: "b0+", want: "a:1", ev: ""},
	})
	spec.Servers[1].Weight = 2
	r.reconfigure(spec, "a:1", "reconfigured weight-changed", "")
	r.step(0, step{do: "b1+", want: "a:1 b:2", ev: "server-up", scripts: "up b"})
}

func TestReconfigureQuorumAndSorryServer(t *testing.T) {
	spec := quorumSpec(0, 0, nil)
	r := run(t, spec, "a:2 b:2 c:2", []step{
		{do: "a0-", want: "b:2 c:2", ev: "server-down", scripts: "down a"},
	})
	// Raising quorum above the live weight loses it; the new sorry server goes in.
	spec.Quorum = 5
	spec.Sorry = &SorrySpec{ID: "s"}
	r.reconfigure(spec, "s:1", "reconfigured quorum-lost sorry-on", "qdown")
	// Removing the sorry server reinstates the live servers.
	spec.Sorry = nil
	r.reconfigure(spec, "b:2 c:2", "reconfigured sorry-off", "")
	spec.Quorum = 4
	r.reconfigure(spec, "b:2 c:2", "reconfigured quorum-gained", "qup")
}

func TestReconfigureRefusesBadSpecAndKeepsState(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c")}}
	r := run(t, spec, "a:1 b:1", []step{
		{do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
	})
	bad := spec
	bad.Servers = []ServerSpec{srv("b", 1, "c"), srv("b", 1, "c")}
	if _, err := r.s.Reconfigure(bad, r.now); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("Reconfigure(bad) = %v", err)
	}
	if got := show(r.s.Desired()); got != "b:1" {
		t.Fatalf("refused reload changed the set to %q", got)
	}
	r.step(0, step{do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"})
}

func TestReconfigureKeepsSlowStartRamp(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 10, "c"), srv("b", 1, "c")}}
	spec.Servers[0].SlowStart = 10 * time.Second
	r := run(t, spec, "a:10 b:1", []step{
		{at: 1 * time.Second, do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{at: 2 * time.Second, do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"},
		{at: 5 * time.Second, do: "tick", want: "a:3 b:1", ev: "weight-changed"},
	})
	// An unrelated change (notify script) keeps the ramp where it is.
	spec.Servers[0].NotifyUp = "other"
	r.reconfigure(spec, "a:3 b:1", "reconfigured", "")
	if next, ok := r.s.NextChange(r.now); !ok || !next.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("NextChange = %v %v, want t0+6s", next.Sub(t0), ok)
	}
	// Turning slow start off gives the full weight at once.
	spec.Servers[0].SlowStart = 0
	r.reconfigure(spec, "a:10 b:1", "reconfigured weight-changed", "")
	if _, ok := r.s.NextChange(r.now); ok {
		t.Fatal("still ramping with slow start off")
	}
}
