package netif

import (
	"context"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// RouteChange is one route added to or removed from a routing table of this network namespace.
type RouteChange struct {
	Dst   netip.Prefix // 0.0.0.0/0 or ::/0 for a default route
	Table int          // the kernel's number: 254 for main
	// Added is true for a route that appeared (or was replaced), false for one that went away.
	Added bool
}

// WatchRoutes calls fn with every IPv4 and IPv6 route change in the calling process's network
// namespace until ctx ends, as WatchAddresses does for addresses. The kernel does not report
// the IPv4 routes it flushes with an address or a link that goes down.
func WatchRoutes(ctx context.Context, fn func(RouteChange)) error {
	subscribe := func(ch chan<- netlink.RouteUpdate, done <-chan struct{}, onErr func(error)) error {
		return netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{ErrorCallback: onErr})
	}
	return watch(ctx, "route changes", subscribe, func(u netlink.RouteUpdate) {
		if dst, ok := routeDst(u.Route.Dst, u.Route.Family); ok {
			fn(RouteChange{Dst: dst, Table: u.Route.Table, Added: u.Type == unix.RTM_NEWROUTE})
		}
	})
}

// routeDst is a route's destination as a prefix: the family's default route when the kernel
// sends none. ok is false for a family other than IPv4 and IPv6.
func routeDst(dst *net.IPNet, family int) (p netip.Prefix, ok bool) {
	if dst == nil {
		switch family {
		case unix.AF_INET:
			return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
		case unix.AF_INET6:
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0), true
		}
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(dst.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := dst.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// RuleChange is one policy routing rule added or removed in this network namespace.
type RuleChange struct {
	Family int // unix.AF_INET or unix.AF_INET6
	// Added is true for a rule that appeared, false for one that went away.
	Added bool
}

// WatchRules calls fn with every IPv4 and IPv6 rule change in the calling process's network
// namespace until ctx ends, as WatchAddresses does for addresses. It says which family changed,
// not which rule: HasRule tells whether a given rule is still there.
func WatchRules(ctx context.Context, fn func(RuleChange)) error {
	return watch(ctx, "rule changes", subscribeRules, fn)
}

// subscribeRules subscribes to the kernel's rule groups itself: the netlink library has no rule
// subscription.
func subscribeRules(ch chan<- RuleChange, done <-chan struct{}, onErr func(error)) error {
	s, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE)
	if err != nil {
		return err
	}
	go func() {
		<-done
		s.Close()
	}()
	go func() {
		defer close(ch)
		for {
			msgs, from, err := s.Receive()
			if err != nil {
				onErr(err)
				return
			}
			if from.Pid != nl.PidKernel {
				continue
			}
			for _, m := range msgs {
				// The message starts with struct fib_rule_hdr, whose first byte is the family.
				if (m.Header.Type == unix.RTM_NEWRULE || m.Header.Type == unix.RTM_DELRULE) && len(m.Data) > 0 {
					ch <- RuleChange{Family: int(m.Data[0]), Added: m.Header.Type == unix.RTM_NEWRULE}
				}
			}
		}
	}()
	return nil
}
