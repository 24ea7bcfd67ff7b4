package userspace

import (
	"net/netip"
	"sync"
	"time"
)

// affinity is the persistence table: client IP → backend, each entry expiring ttl after it was
// last used. It is bounded: past max entries, expired ones are swept, and if none expired the
// new client simply gets no affinity.
type affinity struct {
	mu      sync.Mutex
	m       map[netip.Addr]affinityEntry
	max     int
	sweepAt int
}

type affinityEntry struct {
	b       *backend
	expires time.Time
}

func newAffinity(max int) *affinity {
	return &affinity{m: make(map[netip.Addr]affinityEntry), max: max, sweepAt: 1024}
}

// lookup returns the backend ip is bound to at now, or nil.
func (a *affinity) lookup(ip netip.Addr, now time.Time) *backend {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[ip]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		delete(a.m, ip)
		return nil
	}
	return e.b
}

// touch binds ip to b until now+ttl.
func (a *affinity) touch(ip netip.Addr, b *backend, now time.Time, ttl time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.m[ip]; !ok && len(a.m) >= a.sweepAt {
		for k, e := range a.m {
			if !now.Before(e.expires) {
				delete(a.m, k)
			}
		}
		a.sweepAt = min(max(2*len(a.m), 1024), a.max)
		if len(a.m) >= a.max {
			return
		}
	}
	a.m[ip] = affinityEntry{b: b, expires: now.Add(ttl)}
}

// keepOnly drops every entry whose backend fails keep.
func (a *affinity) keepOnly(keep func(*backend) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.m {
		if !keep(e.b) {
			delete(a.m, k)
		}
	}
}

func (a *affinity) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}
