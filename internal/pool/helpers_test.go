package pool

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// srv builds a server spec; checks is a string of 'c' (plain check) and 'a' (alpha check).
func srv(id string, weight int, checks string) ServerSpec {
	rs := ServerSpec{ID: id, Weight: weight, NotifyUp: "up " + id, NotifyDown: "down " + id}
	for i, c := range checks {
		rs.Checks = append(rs.Checks, CheckSpec{Name: fmt.Sprintf("%s-%d", id, i), Alpha: c == 'a'})
	}
	return rs
}

func inhibit(rs ServerSpec) ServerSpec { rs.InhibitOnFailure = true; return rs }

// step is one input to a Service and what must follow. do is one of:
//
//	"a0+" "a0-"           server a, check 0, healthy or failed
//	"a0+w7" "a0+d-3"      healthy, asking for weight 7 (WeightSet) or a share of -3 (WeightAdd)
//	"a0+early"            healthy, from a probe that started at t0 (before any ejection)
//	"a!3"                 the data plane's third failed connection in a row to server a
//	"tick"                Tick
//	"local" "notlocal"    SetAddressLocal
//	"stop" "remove"       Stop(StopShutdown), Stop(StopRemoved)
//	"a=drain" "*=maint"   SetAdmin of server a, or of every server, by "op" for "test"
//	"a:w7" "a:w-"         SetWeight of server a to 7, or clear its override
//	"a@drain 50%"         server a's agent says drain and 50% (Agent: ready, drain, maint, N%)
//	"a^drain"             discovery holds server a in drain (Hold by HolderDNS)
//
// want is the desired set ("a:1 b:0", "-" for empty); ev the kinds of the events, in order
// ("" for none, "?" to not check); scripts the scripts they name, in order.
type step struct {
	at      time.Duration // since t0; 0 means one second after the previous step
	do      string
	want    string
	ev      string
	scripts string
}

type runner struct {
	t   *testing.T
	s   *Service
	now time.Time
}

func start(t *testing.T, spec ServiceSpec) (*runner, []Event) {
	t.Helper()
	s, evs, err := New(spec, t0)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	checkReplay(t, "New", Desired{}, evs, s.Desired())
	return &runner{t: t, s: s, now: t0}, evs
}

func run(t *testing.T, spec ServiceSpec, initial string, steps []step) *runner {
	t.Helper()
	r, _ := start(t, spec)
	if got := show(r.s.Desired()); initial != "?" && got != initial {
		t.Fatalf("after New: desired %q, want %q", got, initial)
	}
	for i, st := range steps {
		r.step(i, st)
	}
	return r
}

func (r *runner) step(i int, st step) []Event {
	t := r.t
	t.Helper()
	if st.at != 0 {
		r.now = t0.Add(st.at)
	} else {
		r.now = r.now.Add(time.Second)
	}
	before := r.s.Desired()
	var evs []Event
	var err error
	switch st.do {
	case "tick":
		evs = r.s.Tick(r.now)
	case "local", "notlocal":
		evs = r.s.SetAddressLocal(st.do == "local", r.now)
	case "stop":
		evs = r.s.Stop(StopShutdown, r.now)
	case "remove":
		evs = r.s.Stop(StopRemoved, r.now)
	default:
		if id, st, ok := strings.Cut(st.do, "="); ok {
			evs, err = r.s.SetAdmin(adminIDs(id), parseAdmin(t, st), "op", "test", r.now)
			break
		}
		if id, w, ok := strings.Cut(st.do, ":w"); ok {
			evs, err = r.s.SetWeight(id, parseWeight(t, w), "op", "test", r.now)
			break
		}
		if id, said, ok := strings.Cut(st.do, "@"); ok {
			evs, err = r.s.Agent(id, ServerRef{}, parseAgent(t, said), r.now)
			break
		}
		if id, state, ok := strings.Cut(st.do, "^"); ok {
			evs, err = r.s.Hold(id, HolderDNS, parseAdmin(t, state), "gone from DNS", r.now)
			break
		}
		if id, n, ok := strings.Cut(st.do, "!"); ok {
			consecutive, cerr := strconv.Atoi(n)
			if cerr != nil {
				t.Fatalf("bad step %q: %v", st.do, cerr)
			}
			evs, err = r.s.ObserveFailure(Failure{Server: id, Consecutive: consecutive, Kind: "timeout", Reason: "saw " + st.do}, r.now)
			break
		}
		evs, err = r.s.Observe(parseObs(t, st.do), r.now)
	}
	label := fmt.Sprintf("step %d %q", i, st.do)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	checkReplay(t, label, before, evs, r.s.Desired())
	if got := show(r.s.Desired()); st.want != "?" && got != st.want {
		t.Errorf("%s: desired %q, want %q\nevents:\n%s", label, got, st.want, dump(evs))
	}
	if got := kinds(evs); st.ev != "?" && got != st.ev {
		t.Errorf("%s: events %q, want %q\n%s", label, got, st.ev, dump(evs))
	}
	if got := scripts(evs); st.scripts != "?" && got != st.scripts {
		t.Errorf("%s: scripts %q, want %q\n%s", label, got, st.scripts, dump(evs))
	}
	return evs
}

func parseObs(t *testing.T, do string) Observation {
	t.Helper()
	i := strings.IndexAny(do, "+-")
	if i < 2 {
		t.Fatalf("bad step %q", do)
	}
	check, err := strconv.Atoi(do[i-1 : i])
	if err != nil {
		t.Fatalf("bad step %q: %v", do, err)
	}
	o := Observation{Server: do[:i-1], Check: check, Healthy: do[i] == '+', Reason: "saw " + do}
	if rest := do[i+1:]; rest == "early" {
		o.Started = t0
	} else if rest != "" {
		v, err := strconv.Atoi(rest[1:])
		if err != nil {
			t.Fatalf("bad step %q: %v", do, err)
		}
		switch rest[0] {
		case 'w':
			o.Weight = WeightUpdate{Op: WeightSet, Value: v}
		case 'd':
			o.Weight = WeightUpdate{Op: WeightAdd, Value: v}
		default:
			t.Fatalf("bad step %q", do)
		}
	}
	return o
}

func show(d Desired) string {
	if len(d.Backends) == 0 {
		return "-"
	}
	parts := make([]string, len(d.Backends))
	for i, b := range d.Backends {
		parts[i] = fmt.Sprintf("%s:%d", b.ID, b.Weight)
	}
	return strings.Join(parts, " ")
}

func kinds(evs []Event) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = e.Kind.String()
	}
	return strings.Join(parts, " ")
}

func scripts(evs []Event) string {
	var parts []string
	for _, e := range evs {
		if e.Script != "" {
			parts = append(parts, e.Script)
		}
	}
	return strings.Join(parts, ", ")
}

func dump(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s server=%q check=%d script=%q reason=%q changes=%v\n", e.Kind, e.Server, e.Check, e.Script, e.Reason, e.Changes)
	}
	return b.String()
}

// checkReplay asserts the package's promise: the Changes of a call's events, applied in
// order to the Desired before it, give the Desired after it; no event is Resynced; every
// change is carried by an event with a reason.
func checkReplay(t *testing.T, label string, before Desired, evs []Event, after Desired) {
	t.Helper()
	set := make(map[string]int, len(before.Backends))
	for _, b := range before.Backends {
		set[b.ID] = b.Weight
	}
	for _, e := range evs {
		if e.Kind == Resynced {
			t.Errorf("%s: unexplained change: %s", label, dump([]Event{e}))
		}
		if len(e.Changes) > 0 && e.Reason == "" {
			t.Errorf("%s: event %s changes the set without a reason", label, e.Kind)
		}
		for _, c := range e.Changes {
			if c.In {
				set[c.ID] = c.Weight
			} else {
				delete(set, c.ID)
			}
		}
	}
	var got []Backend
	for id, w := range set {
		got = append(got, Backend{ID: id, Weight: w})
	}
	slices.SortFunc(got, func(a, b Backend) int { return strings.Compare(a.ID, b.ID) })
	if show(Desired{Backends: got}) != show(after) {
		t.Errorf("%s: replaying the events' changes gives %q, Desired is %q\n%s", label, show(Desired{Backends: got}), show(after), dump(evs))
	}
}

func adminIDs(id string) []string {
	if id == "*" {
		return nil
	}
	return []string{id}
}

func parseAdmin(t *testing.T, s string) AdminState {
	t.Helper()
	a, err := ParseAdminState(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// parseWeight reads a SetWeight step's weight: a number, or "-" to clear the override.
func parseWeight(t *testing.T, s string) int {
	t.Helper()
	if s == "-" {
		return -1
	}
	w, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad weight %q: %v", s, err)
	}
	return w
}

// parseAgent reads an agent step's words: a state and a percentage, either or both.
func parseAgent(t *testing.T, said string) AgentWord {
	t.Helper()
	w := AgentWord{Said: said}
	for _, word := range strings.Fields(said) {
		if pct, ok := strings.CutSuffix(word, "%"); ok {
			v, err := strconv.Atoi(pct)
			if err != nil {
				t.Fatalf("bad agent word %q: %v", word, err)
			}
			w.WeightPercent, w.HasWeight = v, true
			continue
		}
		w.State, w.HasState = parseAdmin(t, word), true
	}
	return w
}
