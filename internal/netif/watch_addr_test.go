package netif

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestWatchAddressesSeesAnAddressComeAndGo(t *testing.T) {
	ns := testenv.NewNamespace(t, "wa")
	var mu sync.Mutex
	var seen []AddrChange
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// The whole watch runs on a thread inside the namespace, where its socket opens.
		done <- ns.DoErr(func() error {
			return WatchAddresses(ctx, func(c AddrChange) {
				mu.Lock()
				seen = append(seen, c)
				mu.Unlock()
			})
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("WatchAddresses: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("WatchAddresses did not return within 5s of cancel")
		}
	}()
	vip := netip.MustParseAddr("192.0.2.10")
	has := func(added bool) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range seen {
				if c.Addr == vip && c.Added == added {
					return true
				}
			}
			return false
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
