package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/clock"
)

// recorder is a subscriber that keeps every change it hears.
type recorder struct {
	mu  sync.Mutex
	got []Change
}

func (r *recorder) hear(c Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, c)
}

// of returns the changes of one kind heard so far.
func (r *recorder) of(kind ChangeKind) []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Change
	for _, c := range r.got {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// prefixLine is a prefix change in a form a test can compare whole.
func prefixLine(c Change) string {
	return fmt.Sprintf("%s %s %s→%s %q at +%v", c.Key, c.Prefix, c.From, c.To, c.Why, c.At.Sub(t0))
}

// TestSubscriberHearsAnnounceWithdrawAnnounceWithReasonsAndSessionChanges drives one speaker
// on a fake clock toward a GoBGP router: the subscriber hears each prefix enter and leave the
// RIB once, when it really does (a withdraw held back by hold-down is heard when it happens,
// not when asked for), with the daemon's reasons, and hears the session come up and close.
func TestSubscriberHearsAnnounceWithdrawAnnounceWithReasonsAndSessionChanges(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1")
	clk := clock.NewFake(t0)
	rec := &recorder{}
	var sp *Speaker
	snapshots := 0 // the subscriber may call the speaker: it is not called with the lock held
	rn := startSpeakersOn(t, r, []string{"127.0.0.1"}, func(c *Config) { c.HoldDown = 5 * time.Second }, clk,
		func(s *Speaker) {
			sp = s
			s.Subscribe(func(c Change) {
				sp.Snapshot(t.Context())
				snapshots++
				rec.hear(c)
			})
		})[0]
	pfx := netip.MustParsePrefix(vip)
	hasRoute := func() bool { return len(r.paths(t, vip)) == 1 }
	waitPrefix := func(n int, what string) {
		t.Helper()
		testenv.WaitFor(t, 2*time.Second, what, func() bool { return len(rec.of(PrefixChange)) >= n })
	}

	testenv.WaitFor(t, 2*time.Second, "subscriber hears the session established", func() bool {
		ss := rec.of(SessionChange)
		return len(ss) > 0 && ss[len(ss)-1].To == "ESTABLISHED"
	})
	ss := rec.of(SessionChange)
	if first := ss[0]; first.From != "IDLE" || first.Peer != netip.MustParseAddr("127.0.0.2") || first.AS != routerAS {
		t.Errorf("first session change %+v, want from IDLE with peer 127.0.0.2 AS %d", first, routerAS)
	}
	for i := 1; i < len(ss); i++ {
		if ss[i].From != ss[i-1].To {
			t.Errorf("session changes %d and %d do not chain: %+v then %+v", i-1, i, ss[i-1], ss[i])
		}
	}

	sp.Announce("vs1", Route{Prefix: pfx}, "quorum gained")
	waitPrefix(1, "subscriber hears the announce")
	testenv.WaitFor(t, time.Second, "router has "+vip, hasRoute)

	// Within the hold-down: pending, nothing is offered differently, nothing is heard.
	clk.Advance(time.Second)
	sp.Withdraw("vs1", pfx, "quorum lost")
	if st := sp.Snapshot(t.Context()).Prefixes; st[0].State != PendingWithdraw || !st[0].InRIB {
		t.Fatalf("prefix after an early withdraw %+v, want pending and still in the RIB", st[0])
	}
	clk.Advance(4 * time.Second) // the hold-down ends: the withdrawal happens now
	waitPrefix(2, "subscriber hears the withdrawal")
	testenv.WaitFor(t, time.Second, "router drops "+vip, func() bool { return !hasRoute() })

	sp.Announce("vs1", Route{Prefix: pfx}, "quorum gained again")
	clk.Advance(5 * time.Second)
	waitPrefix(3, "subscriber hears the second announce")
	testenv.WaitFor(t, time.Second, "router has "+vip+" again", hasRoute)

	// Shutdown withdraws and closes the session; Run returns once the subscriber heard it.
	rn.cancel()
	select {
	case <-rn.done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancel")
	}
	var lines []string
	for _, c := range rec.of(PrefixChange) {
		lines = append(lines, prefixLine(c))
	}
	want := []string{
		`vs1 192.0.2.10/32 withdrawn→announced "quorum gained" at +0s`,
		`vs1 192.0.2.10/32 announced→withdrawn "quorum lost" at +5s`,
		`vs1 192.0.2.10/32 withdrawn→announced "quorum gained again" at +10s`,
		`vs1 192.0.2.10/32 announced→withdrawn "shutting down" at +10s`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("prefix changes:\n  %s\nwant\n  %s", strings.Join(lines, "\n  "), strings.Join(want, "\n  "))
	}
	ss = rec.of(SessionChange)
	if last := ss[len(ss)-1]; last.From != "ESTABLISHED" || last.To != "IDLE" || last.Why != "vigil is shutting down" {
		t.Errorf("last session change %+v, want ESTABLISHED → IDLE because vigil is shutting down", last)
	}
	rec.mu.Lock()
	if snapshots != len(rec.got) {
		t.Errorf("subscriber called %d times but snapshotted %d times", len(rec.got), snapshots)
	}
	rec.mu.Unlock()
}

// TestSubscriberHearsWhichServiceMovedASharedPrefix: with two virtual servers on one
// address, the prefix moves when the last one is announced, when one fails, and when the
// failed one is removed, each time with that service's key and reason; a change that does
// not move the prefix (held back, already out, new attributes) is not heard.
func TestSubscriberHearsWhichServiceMovedASharedPrefix(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1")
	rec := &recorder{}
	s := startSpeakersOn(t, r, []string{"127.0.0.1"}, nil, clock.Real(),
		func(s *Speaker) { s.Subscribe(rec.hear) })[0].s
	pfx := netip.MustParsePrefix(vip)
	med := uint32(20)
	s.Withdraw(":443", pfx, "starting without quorum")
	s.Announce(":80", Route{Prefix: pfx}, "quorum gained")       // held back by :443
	s.Announce(":443", Route{Prefix: pfx}, "backend up")         // in
	s.Announce(":443", Route{Prefix: pfx, MED: &med}, "med set") // replaced, not moved: nothing
	s.Withdraw(":80", pfx, "quorum lost")                        // out
	s.Withdraw(":443", pfx, "quorum lost too")                   // already out: nothing
	s.Announce(":443", Route{Prefix: pfx}, "backend up again")   // still held back by :80
	s.Remove(":80", "removed by reload")                         // in
	testenv.WaitFor(t, 2*time.Second, "three prefix changes", func() bool { return len(rec.of(PrefixChange)) >= 3 })
	var lines []string
	for _, c := range rec.of(PrefixChange) {
		lines = append(lines, fmt.Sprintf("%s %s→%s %q", c.Key, c.From, c.To, c.Why))
	}
	want := []string{
		`:443 withdrawn→announced "backend up"`,
		`:80 announced→withdrawn "quorum lost"`,
		`:80 withdrawn→announced "removed by reload"`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("prefix changes:\n  %s\nwant\n  %s", strings.Join(lines, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestUnsubscribedFunctionHearsNothingMore: the function Subscribe returns ends delivery to
// that subscriber and no other.
func TestUnsubscribedFunctionHearsNothingMore(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1")
	stay, leave := &recorder{}, &recorder{}
	var unsubscribe func()
	s := startSpeakersOn(t, r, []string{"127.0.0.1"}, nil, clock.Real(), func(s *Speaker) {
		unsubscribe = s.Subscribe(leave.hear)
		s.Subscribe(stay.hear)
	})[0].s
	pfx := netip.MustParsePrefix(vip)
	s.Announce("vs1", Route{Prefix: pfx}, "quorum gained")
	testenv.WaitFor(t, 2*time.Second, "both hear the announce", func() bool {
		return len(stay.of(PrefixChange)) == 1 && len(leave.of(PrefixChange)) == 1
	})
	unsubscribe()
	s.Withdraw("vs1", pfx, "quorum lost")
	testenv.WaitFor(t, 2*time.Second, "the staying subscriber hears the withdrawal", func() bool { return len(stay.of(PrefixChange)) == 2 })
	if n := len(leave.of(PrefixChange)); n != 1 {
		t.Errorf("unsubscribed function heard %d prefix changes, want 1", n)
	}
}
