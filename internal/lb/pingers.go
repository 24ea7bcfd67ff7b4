package lb

import (
	"net/netip"
	"sync"

	"github.com/vigil-lb/vigil/internal/check/icmp"
)

// pingers opens one shared ICMP socket per address family, on first use, for every PING_CHECK.
type pingers struct {
	// dry opens nothing: get returns no pinger (Validate builds checkers that never run).
	dry bool

	mu sync.Mutex
	v4 *icmp.Pinger
	v6 *icmp.Pinger
}

func (p *pingers) get(addr netip.Addr) (*icmp.Pinger, error) {
	if p.dry {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	slot, family := &p.v4, icmp.IPv4
	if addr.Is6() && !addr.Is4In6() {
		slot, family = &p.v6, icmp.IPv6
	}
	if *slot == nil {
		pg, err := icmp.New(family, icmp.Auto)
		if err != nil {
			return nil, err
		}
		*slot = pg
	}
	return *slot, nil
}

func (p *pingers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pg := range []*icmp.Pinger{p.v4, p.v6} {
		if pg != nil {
			_ = pg.Close()
		}
	}
	p.v4, p.v6 = nil, nil
}
