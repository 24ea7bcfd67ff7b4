package netif

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

// watchIn runs watch inside ns until the test ends and returns what it has seen so far.
func watchIn[C any](t *testing.T, ns *testenv.Namespace, watch func(context.Context, func(C)) error) func() []C {
	t.Helper()
	var mu sync.Mutex
	var seen []C
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// The whole watch runs on a thread inside the namespace, where its socket opens.
		done <- ns.DoErr(func() error {
			return watch(ctx, func(c C) {
				mu.Lock()
				seen = append(seen, c)
				mu.Unlock()
			})
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("watch did not return within 5s of cancel")
		}
	})
	return func() []C {
		mu.Lock()
		defer mu.Unlock()
		return append([]C(nil), seen...)
	}
}

// saw reports whether c is among what seen returns.
func saw[C comparable](seen func() []C, c C) func() bool {
	return func() bool {
		return slices.Contains(seen(), c)
	}
}

func TestWatchRoutesSeesARouteComeAndGo(t *testing.T) {
	ns := testenv.NewNamespace(t, "wr")
	seen := watchIn(t, ns, WatchRoutes)
	want := func(added bool) RouteChange {
		return RouteChange{Dst: netip.MustParsePrefix("0.0.0.0/0"), Table: 100, Added: added}
	}
	// The subscription may start after the first add: add until it is seen.
	testenv.WaitFor(t, 5*time.Second, "the added default route reported", func() bool {
		_, _ = ns.RunErr("ip", "route", "replace", "blackhole", "default", "table", "100")
		return saw(seen, want(true))()
	})
	ns.Run(t, "ip", "route", "del", "blackhole", "default", "table", "100")
	testenv.WaitFor(t, 5*time.Second, "the deleted default route reported", saw(seen, want(false)))
}

func TestWatchRulesSeesARuleComeAndGo(t *testing.T) {
	ns := testenv.NewNamespace(t, "wu")
	seen := watchIn(t, ns, WatchRules)
	testenv.WaitFor(t, 5*time.Second, "the added IPv6 rule reported", func() bool {
		_, _ = ns.RunErr("ip", "-6", "rule", "add", "pref", "100", "from", "2001:db8::/32", "table", "7")
		return saw(seen, RuleChange{Family: unix.AF_INET6, Added: true})()
	})
	for {
		if _, err := ns.RunErr("ip", "-6", "rule", "del", "pref", "100"); err != nil {
			break // every copy the retries added is gone
		}
	}
	testenv.WaitFor(t, 5*time.Second, "the deleted IPv6 rule reported", saw(seen, RuleChange{Family: unix.AF_INET6, Added: false}))
	if saw(seen, RuleChange{Family: unix.AF_INET, Added: false})() {
		t.Error("an IPv6 rule reported as IPv4")
	}
}
