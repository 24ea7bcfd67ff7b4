package netif

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

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
