package pool

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDrainKeepsAnUpServerAtWeightZeroAndFollowsItsChecks(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 2, "c"), srv("b", 1, "c")}}
	r := run(t, spec, "a:2 b:1", []step{
		{do: "a=drain", want: "a:0 b:1", ev: "admin-changed"},
		// The checks keep running: a drained server that fails leaves as any failed server.
		{do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{do: "a0+", want: "a:0 b:1", ev: "server-up", scripts: "up a"},
		{do: "a=drain", want: "a:0 b:1", ev: ""},
		{do: "a=ready", want: "a:2 b:1", ev: "admin-changed"},
	})
	if a, _ := r.s.Admin("a"); a.State != AdminReady || a.By != "op" || a.Reason != "test" {
		t.Errorf("admin of a after ready: %+v", a)
	}
}

func TestMaintTakesAServerOutWhateverInhibitAndItsChecksKeepReporting(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{inhibit(srv("a", 2, "c")), srv("b", 1, "c")}}
	r := run(t, spec, "a:2 b:1", []step{
		{do: "a=maint", want: "b:1", ev: "admin-changed"},
		{do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{do: "a0+", want: "b:1", ev: "server-up", scripts: "up a"},
		// Drain after maint: back in at weight 0, established connections welcome.
		{do: "a=drain", want: "a:0 b:1", ev: "admin-changed"},
		// inhibit_on_failure keeps a drained server that fails at weight 0, as any other.
		{do: "a0-", want: "a:0 b:1", ev: "server-down", scripts: "down a"},
		{do: "a=ready", want: "a:0 b:1", ev: "admin-changed"},
		{do: "a0+", want: "a:2 b:1", ev: "server-up", scripts: "up a"},
	})
	ss := r.s.Snapshot().Servers[0]
	if !ss.Up || ss.Admin.State != AdminReady {
		t.Errorf("snapshot of a: up %v admin %+v", ss.Up, ss.Admin)
	}
}

func TestDrainAndMaintCountOutOfCapacitySoQuorumAndSorryServerFollow(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Quorum: 3, QuorumUp: "qup", QuorumDown: "qdown", Sorry: &SorrySpec{ID: "sorry"},
		Servers: []ServerSpec{srv("a", 2, "c"), srv("b", 1, "c")}}
	r := run(t, spec, "a:2 b:1", []step{
		// The drained server keeps its connections while the sorry server takes new ones.
		{do: "a=drain", want: "a:0 sorry:1", ev: "admin-changed quorum-lost sorry-on", scripts: "qdown"},
		{do: "a=ready", want: "a:2 b:1", ev: "admin-changed quorum-gained sorry-off", scripts: "qup"},
		{do: "*=maint", want: "sorry:1", ev: "admin-changed admin-changed quorum-lost sorry-on", scripts: "qdown"},
		{do: "*=ready", want: "a:2 b:1", ev: "admin-changed admin-changed quorum-gained sorry-off", scripts: "qup"},
	})
	if st := r.s.Snapshot(); st.LiveWeight != 3 || !st.QuorumUp {
		t.Errorf("after ready: live %d quorum %v", st.LiveWeight, st.QuorumUp)
	}
}

func TestPanicIsDecidedAmongReadyServersAndKeepsTheOperatorsChoices(t *testing.T) {
	spec := ServiceSpec{Name: "vs", PanicThreshold: 50, Servers: []ServerSpec{
		srv("a", 1, "c"), srv("b", 1, "c"), srv("c", 1, "c"), srv("d", 1, "c")}}
	run(t, spec, "a:1 b:1 c:1 d:1", []step{
		{do: "c=maint", want: "a:1 b:1 d:1", ev: "admin-changed"},
		{do: "d=drain", want: "a:1 b:1 d:0", ev: "admin-changed"},
		// One of the two ready servers passes: 50%, not fewer.
		{do: "a0-", want: "b:1 d:0", ev: "server-down", scripts: "down a"},
		// None of the ready ones passes: panic keeps them in; c stays out, d at weight 0.
		{do: "b0-", want: "a:1 b:1 d:0", ev: "server-down quorum-lost panic-on", scripts: "down b"},
		// c is back: one of three ready servers passes, still panic.
		{do: "c=ready", want: "a:1 b:1 c:1 d:0", ev: "admin-changed quorum-gained"},
		{do: "d=ready", want: "c:1 d:1", ev: "admin-changed panic-off"},
	})
}

func TestSlowStartRampsAServerBackFromMaintOrDrain(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 10, "c"), srv("b", 1, "c")}}
	spec.Servers[0].SlowStart = 10 * time.Second
	r := run(t, spec, "a:10 b:1", []step{
		{at: 1 * time.Second, do: "a=maint", want: "b:1", ev: "admin-changed"},
		{at: 2 * time.Second, do: "a=ready", want: "a:1 b:1", ev: "admin-changed"},
		{at: 5 * time.Second, do: "tick", want: "a:3 b:1", ev: "weight-changed"},
		{at: 12 * time.Second, do: "tick", want: "a:10 b:1", ev: "weight-changed"},
		// A drained server that comes back up does not ramp at weight 0; it ramps once ready.
		{at: 13 * time.Second, do: "a0-", want: "b:1", ev: "server-down", scripts: "down a"},
		{at: 14 * time.Second, do: "a=drain", want: "b:1", ev: "admin-changed"},
		{at: 15 * time.Second, do: "a0+", want: "a:0 b:1", ev: "server-up", scripts: "up a"},
	})
	if _, ok := r.s.NextChange(r.now); ok || r.s.Snapshot().Servers[0].SlowStart {
		t.Error("a drained server is ramping")
	}
	r.step(0, step{at: 16 * time.Second, do: "a=ready", want: "a:1 b:1", ev: "admin-changed"})
	if !r.s.Snapshot().Servers[0].SlowStart {
		t.Error("a server back from drain does not ramp")
	}
}

func TestAlphaServerInMaintStaysDownUntilItsFirstSuccess(t *testing.T) {
	spec := ServiceSpec{Name: "vs", PanicThreshold: 100, Servers: []ServerSpec{srv("a", 1, "a"), srv("b", 1, "c")}}
	run(t, spec, "b:1", []step{
		{do: "a=maint", want: "b:1", ev: "admin-changed"},
		{do: "a=ready", want: "b:1", ev: "admin-changed"},
		// The pending alpha check holds panic off, whatever the admin state did.
		{do: "a0+", want: "a:1 b:1", ev: "server-up", scripts: "up a"},
	})
}

func TestWeightOverrideWinsOverTheFileAndDynamicChecksUntilCleared(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Quorum: 2, QuorumDown: "qdown", QuorumUp: "qup",
		Servers: []ServerSpec{srv("a", 5, "cc"), srv("b", 1, "c")}}
	r := run(t, spec, "a:5 b:1", []step{
		{do: "a:w7", want: "a:7 b:1", ev: "admin-changed"},
		{do: "a0+w10", want: "a:7 b:1", ev: ""},
		{do: "a:w-", want: "a:10 b:1", ev: "admin-changed"},
		{do: "a:w-", want: "a:10 b:1", ev: ""},
		// Weight 0: in the set, no new connections, and out of the live weight.
		{do: "a:w0", want: "a:0 b:1", ev: "admin-changed quorum-lost", scripts: "qdown"},
		{do: "a:w0", want: "a:0 b:1", ev: ""},
		// A drained server keeps its override for when it is ready again.
		{do: "a:w3", want: "a:3 b:1", ev: "admin-changed quorum-gained", scripts: "qup"},
		{do: "a=drain", want: "a:0 b:1", ev: "admin-changed quorum-lost", scripts: "qdown"},
		{do: "a=ready", want: "a:3 b:1", ev: "admin-changed quorum-gained", scripts: "qup"},
	})
	if a, _ := r.s.Admin("a"); !a.HasWeight || a.Weight != 3 {
		t.Errorf("admin of a: %+v", a)
	}
	if _, err := r.s.SetWeight("a", MaxWeight+1, "op", "", r.now); err == nil {
		t.Error("a weight above MaxWeight was taken")
	}
}

func TestAdminChangeNamesWhoAndWhy(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 5, "c"), srv("b", 1, "")}}
	r, _ := start(t, spec)
	evs, err := r.s.SetAdmin([]string{"a"}, AdminDrain, "socket uid 0", "kernel upgrade", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Server != "a" || evs[0].Reason != "drain by socket uid 0: kernel upgrade" {
		t.Errorf("events %s", dump(evs))
	}
	evs, _ = r.s.SetWeight("a", 2, "http from 192.0.2.9:4000", "", t0)
	if len(evs) != 1 || evs[0].Reason != "weight 2 (was 5) by http from 192.0.2.9:4000" {
		t.Errorf("events %s", dump(evs))
	}
	if a, _ := r.s.Admin("a"); a.State != AdminDrain || a.By != "http from 192.0.2.9:4000" || !a.Since.Equal(t0) {
		t.Errorf("admin %+v", a)
	}
}

func TestAdminChangeOfAnUnknownServerChangesNothing(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c")}}
	r, _ := start(t, spec)
	if _, err := r.s.SetAdmin([]string{"a", "nope"}, AdminMaint, "op", "", t0); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("SetAdmin of an unknown server: %v", err)
	}
	if _, err := r.s.SetWeight("nope", 1, "op", "", t0); err == nil {
		t.Fatal("SetWeight of an unknown server was taken")
	}
	if _, err := r.s.SetAdmin(nil, AdminState(9), "op", "", t0); err == nil {
		t.Fatal("an unknown admin state was taken")
	}
	if got := show(r.s.Desired()); got != "a:1 b:1" {
		t.Errorf("desired %q after refused changes", got)
	}
	r.s.Stop(StopShutdown, t0)
	if _, err := r.s.SetAdmin(nil, AdminMaint, "op", "", t0); err == nil {
		t.Error("SetAdmin after Stop was taken")
	}
}

func TestReloadKeepsTheAdminStateOfServersStillConfigured(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c"), srv("c", 1, "c")}}
	r := run(t, spec, "a:1 b:1 c:1", []step{
		{do: "a=drain", want: "a:0 b:1 c:1", ev: "admin-changed"},
		{do: "b=maint", want: "a:0 c:1", ev: "admin-changed"},
		{do: "c:w4", want: "a:0 c:4", ev: "admin-changed"},
	})
	// a unchanged, b's weight changed (its state is migrated), c removed, d new.
	next := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 2, "c"), srv("d", 1, "c")}}
	r.reconfigure(next, "a:0 d:1", "?", "down c")
	for id, want := range map[string]AdminState{"a": AdminDrain, "b": AdminMaint, "d": AdminReady} {
		if a, ok := r.s.Admin(id); !ok || a.State != want {
			t.Errorf("after reload: %s admin %+v, want %v", id, a, want)
		}
	}
	if _, ok := r.s.Admin("c"); ok {
		t.Error("a removed server kept its admin state")
	}
	r.reconfigure(spec, "a:0 c:1", "?", "down d")
	if a, _ := r.s.Admin("c"); a.Touched() {
		t.Errorf("a server added back has the admin state it had before: %+v", a)
	}
}

func TestRestoreAdminPutsBackSavedStatesAndDropsServersNoLongerThere(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 3, "c"), srv("c", 1, "c")}}
	r, _ := start(t, spec)
	set := t0.Add(-time.Hour)
	saved := map[string]Admin{
		"a":    {State: AdminDrain, By: "socket uid 0", Reason: "disk swap", Since: set},
		"b":    {State: AdminReady, HasWeight: true, Weight: 1, By: "socket uid 0", Since: set},
		"gone": {State: AdminMaint},
	}
	before := r.s.Desired()
	evs, dropped := r.s.RestoreAdmin(saved, t0)
	checkReplay(t, "RestoreAdmin", before, evs, r.s.Desired())
	if got := show(r.s.Desired()); got != "a:0 b:1 c:1" {
		t.Errorf("desired %q after restore", got)
	}
	if !slices.Equal(dropped, []string{"gone"}) {
		t.Errorf("dropped %v", dropped)
	}
	if kinds(evs) != "admin-changed admin-changed" || !strings.Contains(evs[0].Reason, "drain restored from the state file (set by socket uid 0 at") {
		t.Errorf("events:\n%s", dump(evs))
	}
	if a, _ := r.s.Admin("a"); a != saved["a"] {
		t.Errorf("a restored as %+v, want %+v", a, saved["a"])
	}
}
