package netif

import (
	"context"
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
	subscribe := func(ch chan<- netlink.AddrUpdate, done <-chan struct{}, onErr func(error)) error {
		return netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr})
	}
	return watch(ctx, "address changes", subscribe, func(u netlink.AddrUpdate) {
		if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok {
			fn(AddrChange{Addr: ip.Unmap(), LinkIndex: u.LinkIndex, Added: u.NewAddr})
		}
	})
}
