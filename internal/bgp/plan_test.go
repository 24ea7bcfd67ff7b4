package bgp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func route(addr string) Route { return Route{Prefix: netip.MustParsePrefix(addr + "/32")} }

// step is one input to the planner at an offset from t0, and the actions it must produce,
// written "announce KEY" or "withdraw KEY".
type step struct {
	at   time.Duration
	do   string // "announce KEY ADDR", "withdraw KEY", "tick", "shutdown"
	want []string
}

func runSteps(t *testing.T, pl *planner, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := t0.Add(s.at)
		f := strings.Fields(s.do)
		var acts []action
		switch f[0] {
		case "announce":
			addr := "192.0.2.1"
			if len(f) > 2 {
				addr = f[2]
			}
			acts = pl.announce(now, f[1], route(addr), "quorum gained")
		case "withdraw":
			var prefix netip.Prefix
			if len(f) > 2 {
				prefix = route(f[2]).Prefix
			}
			acts = pl.withdraw(now, f[1], prefix, "quorum lost")
		case "tick":
			acts = pl.tick(now)
		case "shutdown":
			acts = pl.withdrawAll(now, "shutting down")
		default:
			t.Fatalf("step %d: unknown %q", i, s.do)
		}
		got := make([]string, 0, len(acts))
		for _, a := range acts {
			got = append(got, a.op.String()+" "+a.key)
		}
		if !slices.Equal(got, s.want) && (len(got) != 0 || len(s.want) != 0) {
			t.Fatalf("step %d (%s at %v): actions %q, want %q", i, s.do, s.at, got, s.want)
		}
	}
}

func TestHoldDownDecisions(t *testing.T) {
	s := time.Second
	tests := []struct {
		name     string
		holdDown time.Duration
		steps    []step
		final    map[string]PrefixState
	}{
		{"first announce is immediate", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
		}, map[string]PrefixState{"a": Announced}},
		{"withdraw within hold-down waits for its end", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{2 * s, "withdraw a", nil},
			{4999 * time.Millisecond, "tick", nil},
			{5 * s, "tick", []string{"withdraw a"}},
		}, map[string]PrefixState{"a": Withdrawn}},
		{"withdraw within hold-down is cancelled by recovery", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{2 * s, "withdraw a", nil},
			{3 * s, "announce a", nil},
			{5 * s, "tick", nil},
			{60 * s, "tick", nil},
		}, map[string]PrefixState{"a": Announced}},
		{"withdraw after hold-down is immediate", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{5 * s, "withdraw a", []string{"withdraw a"}},
		}, map[string]PrefixState{"a": Withdrawn}},
		{"announce soon after withdraw waits for hold-down", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{10 * s, "withdraw a", []string{"withdraw a"}},
			{11 * s, "announce a", nil},
			{15 * s, "tick", []string{"announce a"}},
		}, map[string]PrefixState{"a": Announced}},
		{"announce soon after withdraw is cancelled by a new failure", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{10 * s, "withdraw a", []string{"withdraw a"}},
			{11 * s, "announce a", nil},
			{12 * s, "withdraw a", nil},
			{15 * s, "tick", nil},
		}, map[string]PrefixState{"a": Withdrawn}},
		{"a flapping pool changes the route at most once per hold-down", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{1 * s, "withdraw a", nil},
			{2 * s, "announce a", nil},
			{3 * s, "withdraw a", nil},
			{5 * s, "tick", []string{"withdraw a"}},
			{6 * s, "announce a", nil},
			{7 * s, "withdraw a", nil},
			{8 * s, "announce a", nil},
			{10 * s, "tick", []string{"announce a"}},
		}, map[string]PrefixState{"a": Announced}},
		{"zero hold-down follows the pool at once", 0, []step{
			{0, "announce a", []string{"announce a"}},
			{0, "withdraw a", []string{"withdraw a"}},
			{0, "announce a", []string{"announce a"}},
		}, map[string]PrefixState{"a": Announced}},
		{"withdraw of an unknown key records it withdrawn", 5 * s, []step{
			{0, "withdraw z 192.0.2.9", nil},
			{0, "announce z 192.0.2.9", []string{"announce z"}},
		}, map[string]PrefixState{"z": Announced}},
		{"withdraw naming a new address drops the old one at once", 5 * s, []step{
			{0, "announce a 192.0.2.1", []string{"announce a"}},
			{1 * s, "withdraw a 192.0.2.2", []string{"withdraw a"}},
			{2 * s, "announce a 192.0.2.2", []string{"announce a"}},
		}, map[string]PrefixState{"a": Announced}},
		{"repeated announce while announced does nothing", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{1 * s, "announce a", nil},
		}, map[string]PrefixState{"a": Announced}},
		{"a new address under a key replaces the old at once", 5 * s, []step{
			{0, "announce a 192.0.2.1", []string{"announce a"}},
			{1 * s, "announce a 192.0.2.2", []string{"withdraw a", "announce a"}},
		}, map[string]PrefixState{"a": Announced}},
		{"hold-down is per prefix", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{4 * s, "announce b", []string{"announce b"}},
			{6 * s, "withdraw a", []string{"withdraw a"}},
			{6 * s, "withdraw b", nil},
			{9 * s, "tick", []string{"withdraw b"}},
		}, map[string]PrefixState{"a": Withdrawn, "b": Withdrawn}},
		{"shutdown withdraws past hold-down and cancels pending announces", 5 * s, []step{
			{0, "announce a", []string{"announce a"}},
			{0, "announce b", []string{"announce b"}},
			{10 * s, "withdraw b", []string{"withdraw b"}},
			{11 * s, "announce b", nil},
			{12 * s, "shutdown", []string{"withdraw a"}},
			{20 * s, "tick", nil},
		}, map[string]PrefixState{"a": Withdrawn, "b": Withdrawn}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := newPlanner(tc.holdDown, 0)
			runSteps(t, pl, tc.steps)
			got := map[string]PrefixState{}
			for _, st := range pl.status() {
				got[st.Key] = st.State
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.final) {
				t.Errorf("final states %v, want %v", got, tc.final)
			}
		})
	}
}

func TestRepeatedCallsKeepTheReasonOfTheChange(t *testing.T) {
	pl := newPlanner(0, 0)
	pl.announce(t0, "a", route("192.0.2.1"), "quorum gained")
	pl.announce(t0.Add(time.Second), "a", route("192.0.2.1"), "sync")
	if st := pl.status()[0]; st.Reason != "quorum gained" || !st.Since.Equal(t0) {
		t.Fatalf("after a repeated announce: %+v", st)
	}
	pl.withdraw(t0.Add(2*time.Second), "a", netip.Prefix{}, "quorum lost")
	pl.withdraw(t0.Add(3*time.Second), "a", netip.Prefix{}, "sync")
	if st := pl.status()[0]; st.Reason != "quorum lost" || !st.Since.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after a repeated withdraw: %+v", st)
	}
}

func TestForgetDropsTheKeyPastHoldDown(t *testing.T) {
	pl := newPlanner(5*time.Second, 0)
	pl.announce(t0, "a", route("192.0.2.1"), "up")
	acts := pl.forget("a", "removed by reload")
	if len(acts) != 1 || acts[0].op != opWithdraw || acts[0].route.Prefix != route("192.0.2.1").Prefix {
		t.Fatalf("forget an announced key: %+v, want its withdrawal", acts)
	}
	if len(pl.status()) != 0 || len(pl.forget("a", "again")) != 0 {
		t.Fatal("forgotten key still known")
	}
	if _, ok := pl.nextDue(); ok {
		t.Fatal("forgotten key still due")
	}
}

func TestAttributeChangeReplacesAnnouncedRouteAtOnce(t *testing.T) {
	pl := newPlanner(5*time.Second, 0)
	pl.announce(t0, "a", route("192.0.2.1"), "up")
	med := uint32(10)
	r := route("192.0.2.1")
	r.MED = &med
	acts := pl.announce(t0.Add(time.Second), "a", r, "reload")
	if len(acts) != 1 || acts[0].op != opAnnounce || acts[0].route.MED == nil || *acts[0].route.MED != 10 {
		t.Fatalf("actions %+v, want one announce with MED 10", acts)
	}
	// The attribute change is no flap: the hold-down still counts from the first announce.
	pl.withdraw(t0.Add(2*time.Second), "a", netip.Prefix{}, "down")
	if acts := pl.tick(t0.Add(5 * time.Second)); len(acts) != 1 || acts[0].op != opWithdraw {
		t.Fatalf("tick at hold-down end: %+v, want a withdraw", acts)
	}
}

func TestWithdrawCapDefersTheExcessToLaterWindows(t *testing.T) {
	s := time.Second
	pl := newPlanner(10*s, 2)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		pl.announce(t0, k, route("192.0.2.1"), "up")
	}
	runSteps(t, pl, []step{
		{20 * s, "withdraw a", []string{"withdraw a"}},
		{20 * s, "withdraw b", []string{"withdraw b"}},
		{20 * s, "withdraw c", nil},
		{20 * s, "withdraw d", nil},
		{21 * s, "withdraw e", nil},
		{29 * s, "tick", nil},
		// a and b age out of the window at 30 s; c and d (due first, then by key) go.
		{30 * s, "tick", []string{"withdraw c", "withdraw d"}},
		{39 * s, "announce e", nil}, // recovery cancels the capped withdrawal
		{40 * s, "tick", nil},
	})
	byKey := map[string]PrefixStatus{}
	for _, st := range pl.status() {
		byKey[st.Key] = st
	}
	if byKey["e"].State != Announced || byKey["c"].State != Withdrawn {
		t.Fatalf("states %+v", byKey)
	}
}

func TestWithdrawCapReportsWhyAPrefixWaits(t *testing.T) {
	pl := newPlanner(0, 1)
	pl.announce(t0, "a", route("192.0.2.1"), "up")
	pl.announce(t0, "b", route("192.0.2.2"), "up")
	pl.withdraw(t0, "a", netip.Prefix{}, "down")
	pl.withdraw(t0, "b", netip.Prefix{}, "quorum lost: 0 < 1")
	st := pl.status()[1]
	if st.State != PendingWithdraw || !strings.Contains(st.Held, "withdraw cap") || st.Reason != "quorum lost: 0 < 1" {
		t.Fatalf("status %+v, want pending withdraw held by the cap", st)
	}
	// With no hold-down the window is one second.
	if due, ok := pl.nextDue(); !ok || !due.Equal(t0.Add(time.Second)) {
		t.Fatalf("next due %v %v, want t0+1s", due, ok)
	}
}

func TestPendingStatusNamesHoldDownAndDueTime(t *testing.T) {
	pl := newPlanner(5*time.Second, 0)
	pl.announce(t0, "a", route("192.0.2.1"), "up")
	pl.withdraw(t0.Add(time.Second), "a", netip.Prefix{}, "quorum lost")
	st := pl.status()[0]
	if st.State != PendingWithdraw || !strings.HasPrefix(st.Held, "hold-down") ||
		!st.Due.Equal(t0.Add(5*time.Second)) || !st.Since.Equal(t0.Add(time.Second)) {
		t.Fatalf("status %+v", st)
	}
	if due, ok := pl.nextDue(); !ok || !due.Equal(st.Due) {
		t.Fatalf("next due %v %v", due, ok)
	}
}

// TestRandomSequencesKeepHoldDownCapAndConvergence drives the planner with random inputs at
// random times, calling tick whenever a change falls due as the speaker's timer would, and
// checks the three promises: no prefix changes twice within the hold-down, no window holds
// more withdrawals than the cap, and once inputs stop every prefix ends as its pool wants.
func TestRandomSequencesKeepHoldDownCapAndConvergence(t *testing.T) {
	keys := []string{"a", "b", "c", "d"}
	for seed := range uint64(3000) {
		rng := rand.New(rand.NewPCG(seed, 7))
		holdDown := time.Duration(rng.IntN(4)) * time.Second
		maxW := rng.IntN(3)
		pl := newPlanner(holdDown, maxW)
		window := max(holdDown, time.Second)
		now := t0
		lastChange := map[string]time.Time{}
		var withdrawTimes []time.Time
		wanted := map[string]bool{}
		record := func(acts []action) {
			for _, a := range acts {
				if lc, ok := lastChange[a.key]; ok && now.Sub(lc) < holdDown {
					t.Fatalf("seed %d: %s %s at %v, %v after its last change (hold-down %v)",
						seed, a.op, a.key, now.Sub(t0), now.Sub(lc), holdDown)
				}
				lastChange[a.key] = now
				if a.op == opWithdraw {
					withdrawTimes = append(withdrawTimes, now)
				}
			}
		}
		advance := func(to time.Time) {
			for {
				due, ok := pl.nextDue()
				if !ok || due.After(to) {
					break
				}
				now = due
				record(pl.tick(now))
			}
			now = to
		}
		for range 40 {
			advance(now.Add(time.Duration(rng.IntN(2500)) * time.Millisecond))
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(2) == 0 {
				wanted[k] = true
				record(pl.announce(now, k, route("192.0.2.1"), "up"))
			} else {
				wanted[k] = false
				record(pl.withdraw(now, k, route("192.0.2.1").Prefix, "down"))
			}
		}
		advance(now.Add(time.Hour))
		for _, st := range pl.status() {
			if want := map[bool]PrefixState{true: Announced, false: Withdrawn}[wanted[st.Key]]; st.State != want {
				t.Fatalf("seed %d: %s ends %s, want %s", seed, st.Key, st.State, want)
			}
		}
		if maxW > 0 {
			for i := range withdrawTimes {
				n := 0
				for _, w := range withdrawTimes[i:] {
					if w.Sub(withdrawTimes[i]) < window {
						n++
					}
				}
				if n > maxW {
					t.Fatalf("seed %d: %d withdrawals within %v from %v, cap %d", seed, n, window, withdrawTimes[i].Sub(t0), maxW)
				}
			}
		}
	}
}
