package pool

import (
	"strings"
	"testing"
	"time"
)

func TestTheMostRestrictiveWordOfOperatorAndAgentIsInForce(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 10, "c"), srv("b", 1, "c")}}
	r := run(t, spec, "a:10 b:1", []step{
		{do: "a@drain", want: "a:0 b:1", ev: "admin-changed"},
		// The operator's ready lifts the operator's word only: the agent's drain stands.
		{do: "a=ready", want: "a:0 b:1", ev: ""},
		{do: "a=maint", want: "b:1", ev: "admin-changed"},
		// The agent's ready lifts its drain; the operator's maint stands.
		{do: "a@ready", want: "b:1", ev: "admin-changed"},
		{do: "a@ready", want: "b:1", ev: ""},
		{do: "a=ready", want: "a:10 b:1", ev: "admin-changed"},
		{do: "a@maint", want: "b:1", ev: "admin-changed"},
		{do: "a@drain", want: "a:0 b:1", ev: "admin-changed"},
		{do: "a@ready", want: "a:10 b:1", ev: "admin-changed"},
	})
	ss := r.s.Snapshot().Servers[0]
	if ss.AdminState != AdminReady || len(ss.Holds) != 0 || ss.HeldBy != "" {
		t.Errorf("after both said ready: %+v", ss)
	}
}

func TestAgentHoldIsNamedInTheStatusAndItsEvents(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 10, "c"), srv("b", 1, "c")}}
	r, _ := start(t, spec)
	evs, err := r.s.Agent("a", ServerRef{}, AgentWord{State: AdminDrain, HasState: true, Said: "drain"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != AdminChanged || evs[0].Reason != `drain by agent: "drain"` {
		t.Fatalf("events:\n%s", dump(evs))
	}
	ss := r.s.Snapshot().Servers[0]
	if ss.AdminState != AdminDrain || ss.HeldBy != "agent" || ss.Admin.State != AdminReady ||
		len(ss.Holds) != 1 || ss.Holds[0].By != "agent" || ss.Holds[0].Reason != `"drain"` || !ss.Holds[0].Since.Equal(t0) {
		t.Errorf("snapshot: %+v", ss)
	}
	evs, _ = r.s.SetAdmin([]string{"a"}, AdminMaint, "op", "disk", t0)
	if ss := r.s.Snapshot().Servers[0]; ss.AdminState != AdminMaint || ss.HeldBy != "" {
		t.Errorf("after the operator's maint: %+v", ss)
	}
	evs, _ = r.s.Agent("a", ServerRef{}, AgentWord{State: AdminReady, HasState: true, Said: "ready"}, t0)
	if len(evs) != 1 || !strings.Contains(evs[0].Reason, "(maint by op stands)") {
		t.Errorf("the agent's ready under the operator's maint:\n%s", dump(evs))
	}
}

func TestAgentPercentageWeighsTheConfiguredWeightUnderTheOperatorsOverride(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Quorum: 5, QuorumUp: "qup", QuorumDown: "qdown",
		Servers: []ServerSpec{srv("a", 10, "c"), srv("b", 1, "c")}}
	run(t, spec, "a:10 b:1", []step{
		{do: "a@50%", want: "a:5 b:1", ev: "weight-changed"},
		// Rounded down, as HAProxy does: 75% of 10 is 7.
		{do: "a@ready 75%", want: "a:7 b:1", ev: "weight-changed"},
		// 0%: in the set, no new connections, and out of the live weight.
		{do: "a@0%", want: "a:0 b:1", ev: "weight-changed quorum-lost", scripts: "qdown"},
		{do: "a@100%", want: "a:10 b:1", ev: "weight-changed quorum-gained", scripts: "qup"},
		// A dynamic check's weight gives way to the agent's percentage.
		{do: "a0+w3", want: "a:10 b:1", ev: ""},
		// The operator's override comes first.
		{do: "a:w2", want: "a:2 b:1", ev: "admin-changed quorum-lost", scripts: "qdown"},
		{do: "a@40%", want: "a:2 b:1", ev: "weight-changed"},
		{do: "a:w-", want: "a:4 b:1", ev: "admin-changed quorum-gained", scripts: "qup"},
		// A state word alone leaves the percentage as it was.
		{do: "a@drain", want: "a:0 b:1", ev: "admin-changed quorum-lost", scripts: "qdown"},
		{do: "a@ready", want: "a:4 b:1", ev: "admin-changed quorum-gained", scripts: "qup"},
	})
}

func TestAgentWordOfAnUnknownServerOrOutOfRangeIsRefused(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 10, "c")}}
	r, _ := start(t, spec)
	if _, err := r.s.Agent("nope", ServerRef{}, AgentWord{State: AdminDrain, HasState: true}, t0); err == nil {
		t.Error("an agent word for an unknown server was taken")
	}
	if _, err := r.s.Agent("a", ServerRef{}, AgentWord{WeightPercent: -1, HasWeight: true}, t0); err == nil {
		t.Error("a negative agent weight was taken")
	}
	if _, err := r.s.Hold("a", numHolders, AdminDrain, "", t0); err == nil {
		t.Error("an unknown holder was taken")
	}
}

func TestAHeldServerCountsOutOfPanicAndEndsItsEjection(t *testing.T) {
	spec := ServiceSpec{Name: "vs", PanicThreshold: 50, Passive: PassiveSpec{ConsecutiveFailures: 3, MaxEjectionPercent: 50},
		Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c"), srv("c", 1, "c"), srv("d", 1, "c")}}
	r := run(t, spec, "a:1 b:1 c:1 d:1", []step{
		{do: "a!3", want: "a:0 b:1 c:1 d:1", ev: "server-ejected"},
		// The agent's drain ends the ejection: the agent's word is the server's state now.
		{do: "a@drain", want: "a:0 b:1 c:1 d:1", ev: "admin-changed"},
		{do: "c^drain", want: "a:0 b:1 c:0 d:1", ev: "admin-changed"},
		// Of the two ready servers one passes: 50%, not fewer: no panic.
		{do: "b0-", want: "a:0 c:0 d:1", ev: "server-down", scripts: "down b"},
	})
	if ss := r.s.Snapshot().Servers[0]; ss.Ejected {
		t.Error("a held server is still ejected")
	}
}

func TestReloadKeepsHoldsAndTheAgentsWeight(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 10, "c"), srv("b", 1, "c")}}
	r := run(t, spec, "a:10 b:1", []step{
		{do: "a@maint 50%", want: "b:1", ev: "weight-changed admin-changed"},
		{do: "b^drain", want: "b:0", ev: "admin-changed quorum-lost"},
	})
	next := ServiceSpec{Name: "vs", Servers: []ServerSpec{srv("a", 20, "c"), srv("b", 1, "c")}}
	r.reconfigure(next, "b:0", "?", "")
	// The agent's 50% now weighs the new configured weight.
	r.step(0, step{do: "a@ready", want: "a:10 b:0", ev: "admin-changed quorum-gained"})
}

func TestMembersJoinAndLeaveBetweenReloadsWithQuorumRecounted(t *testing.T) {
	spec := ServiceSpec{Name: "vs", Quorum: 2, QuorumUp: "qup", QuorumDown: "qdown"}
	r, _ := start(t, spec)
	if st := r.s.Snapshot(); st.QuorumUp || st.Total != 0 {
		t.Fatalf("an empty pool: %+v", st)
	}
	add := func(id, want, ev string) {
		t.Helper()
		r.now = r.now.Add(time.Second)
		before := r.s.Desired()
		evs, err := r.s.AddServer(srv(id, 1, "c"), "found in DNS", r.now)
		if err != nil {
			t.Fatal(err)
		}
		checkReplay(t, "add "+id, before, evs, r.s.Desired())
		if got := show(r.s.Desired()); got != want || kinds(evs) != ev {
			t.Errorf("add %s: desired %q events %q, want %q %q\n%s", id, got, kinds(evs), want, ev, dump(evs))
		}
	}
	remove := func(id, want, ev, script string) {
		t.Helper()
		r.now = r.now.Add(time.Second)
		before := r.s.Desired()
		evs, err := r.s.RemoveServer(id, "gone from DNS and drained", r.now)
		if err != nil {
			t.Fatal(err)
		}
		checkReplay(t, "remove "+id, before, evs, r.s.Desired())
		if got := show(r.s.Desired()); got != want || kinds(evs) != ev || scripts(evs) != script {
			t.Errorf("remove %s: desired %q events %q scripts %q, want %q %q %q\n%s", id, got, kinds(evs), scripts(evs), want, ev, script, dump(evs))
		}
	}
	// With one member of weight 1 the quorum of 2 is lowered to the total weight, 1.
	add("a", "a:1", "server-added quorum-gained")
	add("b", "a:1 b:1", "server-added")
	if _, err := r.s.AddServer(srv("a", 1, "c"), "again", r.now); err == nil {
		t.Error("a member added twice was taken")
	}
	// Quorum is 2 with two members: draining one loses it; removing it lowers quorum to 1.
	r.step(0, step{do: "b^drain", want: "a:1 b:0", ev: "admin-changed quorum-lost", scripts: "qdown"})
	remove("b", "a:1", "server-removed quorum-gained", "down b, qup")
	remove("a", "-", "server-removed quorum-lost", "down a, qdown")
	if _, err := r.s.RemoveServer("a", "again", r.now); err == nil {
		t.Error("a member removed twice was taken")
	}
	if st := r.s.Snapshot(); st.Total != 0 || len(st.Servers) != 0 {
		t.Errorf("after removing every member: %+v", st)
	}
	// A member added back starts afresh: no hold.
	add("b", "b:1", "server-added quorum-gained")
	if ss := r.s.Snapshot().Servers[0]; ss.AdminState != AdminReady {
		t.Errorf("a member added back: %+v", ss)
	}
}
