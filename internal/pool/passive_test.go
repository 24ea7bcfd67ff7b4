package pool

import (
	"strings"
	"testing"
	"time"
)

// passive is a service of servers (each with one check) and passive health.
func passive(failures, maxPercent, panic int, servers ...ServerSpec) ServiceSpec {
	return ServiceSpec{Name: "vs", Servers: servers, PanicThreshold: panic,
		Passive: PassiveSpec{ConsecutiveFailures: failures, MaxEjectionPercent: maxPercent}}
}

func TestPassiveEjection(t *testing.T) {
	three := []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c"), srv("c", 1, "c")}
	for _, tc := range []struct {
		name    string
		spec    ServiceSpec
		initial string
		steps   []step
	}{
		{"ejects at the Nth failure in a row, at weight 0, once", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!1", want: "a:1 b:1 c:1", ev: ""},
			{do: "a!2", want: "a:1 b:1 c:1", ev: ""},
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "a!4", want: "a:0 b:1 c:1", ev: ""},
		}},
		{"the next passing verdict readmits, even one that repeats the last", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a0+", want: "a:1 b:1 c:1", ev: ""},
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "a0+", want: "a:1 b:1 c:1", ev: "server-readmitted"},
			{do: "a0+", want: "a:1 b:1 c:1", ev: ""},
		}},
		{"a pass from a probe started before the ejection does not readmit", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "a0+early", want: "a:0 b:1 c:1", ev: ""},
			{do: "a0+", want: "a:1 b:1 c:1", ev: "server-readmitted"},
		}},
		{"a failing verdict hands the server to its checks", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "a0-", want: "b:1 c:1", ev: "server-down", scripts: "down a"},
			{do: "a0+", want: "a:1 b:1 c:1", ev: "server-up", scripts: "up a"},
			// The data plane's count went on meanwhile: the next failure ejects again.
			{do: "a!4", want: "a:0 b:1 c:1", ev: "server-ejected"},
		}},
		{"inhibit_on_failure keeps it at 0 when its checks then fail", passive(3, 50, 0, inhibit(srv("a", 4, "c")), srv("b", 1, "c")), "a:4 b:1", []step{
			{do: "a!3", want: "a:0 b:1", ev: "server-ejected"},
			{do: "a0-", want: "a:0 b:1", ev: "server-down", scripts: "down a"},
		}},
		{"a server its checks took out is not ejected", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a0-", want: "b:1 c:1", ev: "server-down", scripts: "down a"},
			{do: "a!3", want: "b:1 c:1", ev: ""},
		}},
		{"off without consecutive failures", passive(0, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!30", want: "a:1 b:1 c:1", ev: ""},
		}},
		{"max_ejection_percent caps, says so once a run, and weighs again", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "b!3", want: "a:0 b:1 c:1", ev: "ejection-refused"},
			{do: "b!4", want: "a:0 b:1 c:1", ev: ""},
			{do: "b!1", want: "a:0 b:1 c:1", ev: ""},
			{do: "b!3", want: "a:0 b:1 c:1", ev: "ejection-refused"},
			{do: "a0+", want: "a:1 b:1 c:1", ev: "server-readmitted"},
			{do: "b!4", want: "a:1 b:0 c:1", ev: "server-ejected"},
		}},
		{"a percentage below one server still ejects one", passive(3, 10, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "b!3", want: "a:0 b:1 c:1", ev: "ejection-refused"},
		}},
		{"max_ejection_percent 0 ejects none", passive(3, 0, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:1 b:1 c:1", ev: "ejection-refused"},
		}},
		{"never the last server in service", passive(3, 100, 0, srv("a", 1, "c"), srv("b", 1, "c")), "a:1 b:1", []step{
			{do: "a!3", want: "a:0 b:1", ev: "server-ejected"},
			{do: "b!3", want: "a:0 b:1", ev: "ejection-refused"},
		}},
		{"never below the panic threshold", passive(3, 100, 50, three[0], three[1], three[2], srv("d", 1, "c")), "a:1 b:1 c:1 d:1", []step{
			{do: "a!3", want: "a:0 b:1 c:1 d:1", ev: "server-ejected"},
			{do: "b!3", want: "a:0 b:0 c:1 d:1", ev: "server-ejected"},
			{do: "c!3", want: "a:0 b:0 c:1 d:1", ev: "ejection-refused"},
		}},
		{"panic counts the ejected as unusable and puts them back", passive(3, 50, 50, three...), "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "b0-", want: "a:1 b:1 c:1", ev: "server-down panic-on", scripts: "down b"},
			{do: "b0+", want: "a:0 b:1 c:1", ev: "server-up panic-off", scripts: "up b"},
		}},
		{"quorum follows the checks, not ejections", ServiceSpec{Name: "vs", Quorum: 2, Servers: []ServerSpec{srv("a", 1, "c"), srv("b", 1, "c")},
			Passive: PassiveSpec{ConsecutiveFailures: 3, MaxEjectionPercent: 50}}, "a:1 b:1", []step{
			{do: "a!3", want: "a:0 b:1", ev: "server-ejected"},
		}},
		{"a server an operator drained or took out is not ejected", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a=drain", want: "a:0 b:1 c:1", ev: "admin-changed"},
			{do: "a!3", want: "a:0 b:1 c:1", ev: ""},
			{do: "b=maint", want: "a:0 c:1", ev: "admin-changed"},
			{do: "b!3", want: "a:0 c:1", ev: ""},
		}},
		{"an operator's drain ends an ejection, and ready does not bring it back", passive(3, 50, 0, three...), "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "a=drain", want: "a:0 b:1 c:1", ev: "admin-changed"},
			{do: "b!3", want: "a:0 b:0 c:1", ev: "server-ejected"}, // the cap counts a no more
			{do: "a=ready", want: "a:1 b:0 c:1", ev: "admin-changed"},
		}},
		{"panic among the ready servers, the drained ones aside", passive(3, 100, 50, three[0], three[1], three[2], srv("d", 1, "c")), "a:1 b:1 c:1 d:1", []step{
			{do: "d=maint", want: "a:1 b:1 c:1", ev: "admin-changed"},
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "b!3", want: "a:0 b:1 c:1", ev: "ejection-refused"},
		}},
		{"max_ejection_percent among the ready servers, the drained ones aside", passive(3, 50, 0, three[0], three[1], three[2], srv("d", 1, "c")), "a:1 b:1 c:1 d:1", []step{
			{do: "d=maint", want: "a:1 b:1 c:1", ev: "admin-changed"},
			{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"},
			{do: "b!3", want: "a:0 b:1 c:1", ev: "ejection-refused"}, // 50% of 3 ready: one
		}},
		{"failures are ignored while checks are suspended", ServiceSpec{Name: "vs", HASuspend: true, Servers: three,
			Passive: PassiveSpec{ConsecutiveFailures: 3, MaxEjectionPercent: 50}}, "a:1 b:1 c:1", []step{
			{do: "a!3", want: "a:1 b:1 c:1", ev: ""},
			{do: "local", want: "a:1 b:1 c:1", ev: "checks-resumed"},
			{do: "a!4", want: "a:0 b:1 c:1", ev: "server-ejected"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.spec, tc.initial, tc.steps) })
	}
}

func TestPassiveEventsSayWhyAndWhichLimit(t *testing.T) {
	r := run(t, passive(3, 50, 0, srv("a", 1, "c"), srv("b", 1, "c"), srv("c", 1, "c")), "?", nil)
	evs := r.step(0, step{do: "a!3", want: "?", ev: "server-ejected"})
	if e := evs[0]; e.Server != "a" || e.Cause != "timeout" || !strings.Contains(e.Reason, "3 connections in a row failed (last: saw a!3)") {
		t.Errorf("ejection event %+v: want server a, cause timeout, and the failures in its reason", e)
	}
	evs = r.step(1, step{do: "b!3", want: "?", ev: "ejection-refused"})
	if e := evs[0]; e.Server != "b" || e.Cause != LimitMaxEjection || !strings.Contains(e.Reason, "2 of 3 real servers would be ejected, max_ejection_percent 50% allows 1") {
		t.Errorf("refusal event %+v: want server b, cause %s, and the numbers in its reason", e, LimitMaxEjection)
	}
	st := r.s.Snapshot()
	if a := st.Servers[0]; !a.Ejected || !a.Up || a.EjectedReason != "saw a!3" || a.DesiredWeight != 0 || !a.InSet {
		t.Errorf("snapshot of the ejected server: %+v", a)
	}
	if b := st.Servers[1]; b.Ejected {
		t.Errorf("snapshot of the refused server says ejected: %+v", b)
	}
}

func TestPassiveFailureRefusedForUnknownServerOrAfterStop(t *testing.T) {
	r, _ := start(t, passive(3, 50, 0, srv("a", 1, "c")))
	if _, err := r.s.ObserveFailure(Failure{Server: "nope", Consecutive: 3}, t0); err == nil || !strings.Contains(err.Error(), `"vs"`) {
		t.Errorf("failure of an unknown server: %v, want an error naming the service", err)
	}
	r.s.Stop(StopShutdown, t0)
	if _, err := r.s.ObserveFailure(Failure{Server: "a", Consecutive: 3}, t0); err == nil {
		t.Error("failure after stop was accepted")
	}
}

func TestPassiveEjectionAcrossReload(t *testing.T) {
	spec := passive(3, 50, 0, srv("a", 1, "c"), srv("b", 1, "c"), srv("c", 1, "c"))
	r := run(t, spec, "a:1 b:1 c:1", []step{{do: "a!3", want: "a:0 b:1 c:1", ev: "server-ejected"}})

	// A reload that changes the ejected server's weight keeps it ejected.
	changed := spec
	changed.Servers = []ServerSpec{srv("a", 2, "c"), srv("b", 1, "c"), srv("c", 1, "c")}
	evs, err := r.s.Reconfigure(changed, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := show(r.s.Desired()); got != "a:0 b:1 c:1" {
		t.Errorf("after a reload changing its weight: desired %q, want a still ejected\n%s", got, dump(evs))
	}
	// Turning passive health off readmits it.
	off := changed
	off.Passive = PassiveSpec{}
	before := r.s.Desired()
	evs, err = r.s.Reconfigure(off, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	checkReplay(t, "reload turning passive health off", before, evs, r.s.Desired())
	if got := show(r.s.Desired()); got != "a:2 b:1 c:1" || !strings.Contains(kinds(evs), "server-readmitted") {
		t.Errorf("after passive health was turned off: desired %q, events %q; want a readmitted at 2", got, kinds(evs))
	}
}

func TestPassiveSpecValidation(t *testing.T) {
	for _, p := range []PassiveSpec{{ConsecutiveFailures: -1}, {MaxEjectionPercent: -1}, {MaxEjectionPercent: 101}} {
		spec := ServiceSpec{Name: "vs", Passive: p}
		if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), "passive health") {
			t.Errorf("Validate(%+v) = %v, want a passive health error", p, err)
		}
	}
}
