package userspace

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// backend is one backend's live state within a service. It outlives the tables that point to
// it: Apply keeps the same *backend for an address that stays, so counters and established
// connections carry over.
type backend struct {
	addr netip.AddrPort
	// dialAddr is addr as the dialer wants it, formatted once.
	dialAddr string
	sorry    bool

	active   atomic.Int64
	total    atomic.Uint64
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	dialFail atomic.Uint64

	mu sync.Mutex
	// accepting is whether new connections may be registered; Apply sets it under mu after
	// swapping the table, which is what makes "no new connection from the moment Apply returns"
	// hold for connections whose handler read the old table.
	accepting bool
	// inSet is false once the backend left the service (it is draining).
	inSet  bool
	weight int
	conns  map[session]struct{}
}

// session is an established connection or flow that can be cut.
type session interface {
	// reset ends the session at once (TCP: RST to both sides).
	reset()
}

func newBackend(addr netip.AddrPort, sorry bool) *backend {
	return &backend{addr: addr, dialAddr: addr.String(), sorry: sorry, conns: make(map[session]struct{})}
}

// register admits s as an established session if the backend still accepts new ones.
func (b *backend) register(s session) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.accepting {
		return false
	}
	b.conns[s] = struct{}{}
	b.active.Add(1)
	b.total.Add(1)
	return true
}

func (b *backend) unregister(s session) {
	b.mu.Lock()
	if _, ok := b.conns[s]; ok {
		delete(b.conns, s)
		b.active.Add(-1)
	}
	b.mu.Unlock()
}

// setAccepting changes admission; with cut, established sessions are reset too.
func (b *backend) setAccepting(accepting, inSet, cut bool, weight int) {
	b.mu.Lock()
	b.accepting, b.inSet, b.weight = accepting, inSet, weight
	var victims []session
	if cut {
		for s := range b.conns {
			victims = append(victims, s)
		}
	}
	b.mu.Unlock()
	// Outside the lock: reset makes the session's goroutines unregister.
	for _, s := range victims {
		s.reset()
	}
}

func (b *backend) stats() dataplane.BackendStats {
	b.mu.Lock()
	w, inSet := b.weight, b.inSet
	b.mu.Unlock()
	return dataplane.BackendStats{
		Addr:         b.addr,
		Weight:       w,
		Sorry:        b.sorry,
		Draining:     !inSet,
		Active:       b.active.Load(),
		Total:        b.total.Load(),
		BytesIn:      b.bytesIn.Load(),
		BytesOut:     b.bytesOut.Load(),
		DialFailures: b.dialFail.Load(),
	}
}
