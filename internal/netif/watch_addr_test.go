package netif

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
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

func TestWatchAddressesSeesAnAddressComeAndGo(t *testing.T) {
	ns := testenv.NewNamespace(t, "wa")
	seen := watchIn(t, ns, WatchAddresses)
	vip := netip.MustParseAddr("192.0.2.10")
	has := func(added bool) func() bool {
		return func() bool {
			return slices.ContainsFunc(seen(), func(c AddrChange) bool { return c.Addr == vip && c.Added == added })
		}
	}
	// The subscription may start after the first add: add until it is seen.
	testenv.WaitFor(t, 5*time.Second, "the added address reported", func() bool {
		_, _ = ns.RunErr("ip", "addr", "replace", "192.0.2.10/32", "dev", "lo")
		return has(true)()
	})
	ns.Run(t, "ip", "addr", "del", "192.0.2.10/32", "dev", "lo")
	testenv.WaitFor(t, 5*time.Second, "the deleted address reported", has(false))
}
