package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Route is one route to install or remove.
type Route struct {
	Dst   netip.Prefix
	Src   netip.Addr
	Via   netip.Addr
	Dev   string // empty: no output interface
	Table int    // 0: main
	// Metric is the route's priority (iproute2 "metric").
	Metric int
	Scope  int // unix.RT_SCOPE_*; 0 is global
	// Type is unix.RTN_* (RTN_UNICAST when 0): blackhole, unreachable, prohibit, throw...
	Type int
}

func (r Route) String() string {
	s := r.Dst.String()
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN {
		s += " table " + strconv.Itoa(r.Table)
	}
	return s
}

// ParseRouteType reads an iproute2 route type name.
func ParseRouteType(s string) (int, error) {
	switch s {
	case "", "unicast":
		return unix.RTN_UNICAST, nil
	case "blackhole":
		return unix.RTN_BLACKHOLE, nil
	case "unreachable":
		return unix.RTN_UNREACHABLE, nil
	case "prohibit":
		return unix.RTN_PROHIBIT, nil
	case "throw":
		return unix.RTN_THROW, nil
	case "local":
		return unix.RTN_LOCAL, nil
	case "broadcast":
		return unix.RTN_BROADCAST, nil
	case "multicast":
		return unix.RTN_MULTICAST, nil
	}
	return 0, fmt.Errorf("route type %q: want unicast, blackhole, unreachable, prohibit, throw, local, broadcast or multicast", s)
}

// ParseTable reads a routing table name (main, local, default) or number.
func ParseTable(s string) (int, error) {
	switch s {
	case "", "main":
		return unix.RT_TABLE_MAIN, nil
	case "local":
		return unix.RT_TABLE_LOCAL, nil
	case "default":
		return unix.RT_TABLE_DEFAULT, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("table %q: want main, local, default or a number", s)
	}
	return int(n), nil
}

func (h *Host) toNLRoute(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{
		Dst:      &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Table:    r.Table,
		Priority: r.Metric,
		Scope:    netlink.Scope(r.Scope),
		Type:     r.Type,
		Family:   netlink.FAMILY_V4,
	}
	if r.Dst.Addr().Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	if nr.Type == 0 {
		nr.Type = unix.RTN_UNICAST
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	}
	if r.Dev != "" {
		l, err := h.link(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	return nr, nil
}

// AddRoute installs r, replacing a route with the same key.
func (h *Host) AddRoute(r Route) error {
	nr, err := h.toNLRoute(r)
	if err != nil {
		return err
	}
	if err := h.h.RouteReplace(nr); err != nil {
		return fmt.Errorf("netif: add route %s: %w", r, err)
	}
	return nil
}

// DeleteRoute removes r; a route that is not there is not an error.
func (h *Host) DeleteRoute(r Route) error {
	nr, err := h.toNLRoute(r)
	if err != nil {
		return err
	}
	if err := h.h.RouteDel(nr); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("netif: delete route %s: %w", r, err)
	}
	return nil
}

// HasRoute reports whether r is in its table as AddRoute puts it: the same destination, type,
// gateway, source and metric, through r's interface if it names one (the kernel picks one
// otherwise), and with r's scope for IPv4 (the kernel keeps IPv6 routes at global scope). It
// reads the whole table, so it is for the few routes VRRP installs, not for bulk checks.
func (h *Host) HasRoute(r Route) (bool, error) {
	want, err := h.toNLRoute(r)
	if err != nil {
		return false, err
	}
	if want.Table == 0 {
		want.Table = unix.RT_TABLE_MAIN
	}
	list, err := dumpAgain(func() ([]netlink.Route, error) {
		return h.h.RouteListFiltered(want.Family, &netlink.Route{Table: want.Table}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return false, fmt.Errorf("netif: read table %d for route %s: %w", want.Table, r, err)
	}
	metric := want.Priority
	if want.Family == netlink.FAMILY_V6 && metric == 0 {
		metric = 1024 // what the kernel gives an IPv6 route without one
	}
	for _, got := range list {
		dst, ok := routeDst(got.Dst, got.Family)
		switch {
		case !ok || dst != r.Dst.Masked() || got.Type != want.Type || got.Priority != metric:
		case !got.Gw.Equal(want.Gw) || !got.Src.Equal(want.Src):
		case want.LinkIndex != 0 && got.LinkIndex != want.LinkIndex:
		case want.Family == netlink.FAMILY_V4 && got.Scope != want.Scope:
		default:
			return true, nil
		}
	}
	return false, nil
}
