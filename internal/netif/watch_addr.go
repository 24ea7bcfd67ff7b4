package netif

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// AddrChange is one address added to or removed from an interface of this network namespace.
type AddrChange struct {
	Addr      netip.Addr
	LinkIndex int
	// Added is true for an address that appeared, false for one that went away.
	Added bool
}

// WatchAddresses calls fn with every address change in the calling process's network namespace
// until ctx ends. It returns nil when ctx ends, or an error when the netlink subscription
// fails. fn runs on the watcher's goroutine and must not block for long.
func WatchAddresses(ctx context.Context, fn func(AddrChange)) error {
	ch := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		close(done)
		return fmt.Errorf("netif: subscribe to address changes: %w", err)
	}
	// As in WatchLinks: closing done closes the socket and the library's reader closes ch.
	defer func() {
		close(done)
		for range ch {
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("netif: address changes: %w", err)
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("netif: address change subscription closed")
			}
			ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok {
				continue
			}
			fn(AddrChange{Addr: ip.Unmap(), LinkIndex: u.LinkIndex, Added: u.NewAddr})
		}
	}
}
