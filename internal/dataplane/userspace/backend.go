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
	// streak counts failed connections in a row (passive health, connect.go); rtt smooths
	// the connect times the per-attempt timeout is derived from.
	streak atomic.Int64
	rtt    connectRTT

	mu sync.Mutex
	// accepting is whether new connections may be registered; Apply sets it under mu after
	// swapping the table, which is what makes "no new connection from the moment Apply returns"
	// hold for connections whose handler read the old table.
	accepting bool
	// inSet is false once the backend left the service (it is draining).
	inSet  bool
	weight int
	conns  map[session]struct{}
	// uthreshold and lthreshold are the connection thresholds (0: none); held counts the
	// connections admitted against them (dialing or established); overloaded is IPVS's
	// IP_VS_DEST_F_OVERLOAD: set when held reaches uthreshold, cleared when it falls below
	// lthreshold (or three quarters of uthreshold without one).
	uthreshold, lthreshold int64
	held                   int64
	overloaded             bool
}

// session is an established connection or flow that can be cut.
type session interface {
	// reset ends the session at once (TCP: RST to both sides).
	reset()
}

func newBackend(addr netip.AddrPort, sorry bool) *backend {
	return &backend{addr: addr, dialAddr: addr.String(), sorry: sorry, conns: make(map[session]struct{})}
}

// counts are the running counts a backend leaves behind when it leaves its service: kept so
// that the service's totals, and the backend's own when it returns, go on from them.
type counts struct {
	total, bytesIn, bytesOut, dialFail uint64
}

func (c *counts) add(o counts) {
	c.total += o.total
	c.bytesIn += o.bytesIn
	c.bytesOut += o.bytesOut
	c.dialFail += o.dialFail
}

func (c *counts) sub(o counts) {
	c.total -= o.total
	c.bytesIn -= o.bytesIn
	c.bytesOut -= o.bytesOut
	c.dialFail -= o.dialFail
}

// counts reads the backend's running counts.
func (b *backend) counts() counts {
	return counts{total: b.total.Load(), bytesIn: b.bytesIn.Load(), bytesOut: b.bytesOut.Load(), dialFail: b.dialFail.Load()}
}

// resume starts the backend's counts from those it had when it left.
func (b *backend) resume(c counts) {
	b.total.Add(c.total)
	b.bytesIn.Add(c.bytesIn)
	b.bytesOut.Add(c.bytesOut)
	b.dialFail.Add(c.dialFail)
}

// admit takes a place for a new connection under the thresholds, before it is dialled; false
// when the backend is overloaded. Unlike IPVS, which marks a destination overloaded after the
// connection that reached the threshold, the mark is set by that connection's admission, so
// the backend never holds more than uthreshold.
func (b *backend) admit() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.overloaded {
		return false
	}
	b.held++
	if b.uthreshold > 0 && b.held >= b.uthreshold {
		b.overloaded = true
	}
	return true
}

// release gives back a place admit took.
func (b *backend) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held--
	b.relieveLocked()
}

// relieveLocked clears the overload once the connections fell far enough, by IPVS's rule
// (ip_vs_unbind_dest): below lthreshold when set, else below three quarters of uthreshold.
func (b *backend) relieveLocked() {
	switch {
	case !b.overloaded:
	case b.lthreshold > 0:
		b.overloaded = b.held >= b.lthreshold
	case b.uthreshold > 0:
		b.overloaded = b.held*4 >= b.uthreshold*3
	default:
		b.overloaded = false
	}
}

// setThresholds changes the thresholds. As in IPVS (__ip_vs_update_dest), removing the upper
// threshold or raising it clears the overload; a backend already at the new one is overloaded
// at once.
func (b *backend) setThresholds(upper, lower int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, l := int64(upper), int64(lower)
	if u == 0 || u > b.uthreshold {
		b.overloaded = false
	}
	b.uthreshold, b.lthreshold = u, l
	if u > 0 && b.held >= u {
		b.overloaded = true
	}
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

// unregister ends s's session with the backend and gives back its place under the thresholds.
func (b *backend) unregister(s session) {
	b.mu.Lock()
	if _, ok := b.conns[s]; ok {
		delete(b.conns, s)
		b.active.Add(-1)
		b.held--
		b.relieveLocked()
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
	w, inSet, overloaded := b.weight, b.inSet, b.overloaded
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
		Overloaded:   overloaded,

		ConsecutiveFailures: b.streak.Load(),
	}
}
