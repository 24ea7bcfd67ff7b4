package userspace

import (
	"net/netip"
	"sync"
	"time"
)

// affinity is the persistence table: client IP → backend. As with IPVS's persistence
// templates, an entry lives while connections it placed are open and expires ttl after the
// last one opened or closed. It is bounded: past max entries, expired ones are swept, and if
// none expired the new client simply gets no affinity.
type affinity struct {
	mu      sync.Mutex
	m       map[netip.Addr]affinityEntry
	max     int
	sweepAt int
}

type affinityEntry struct {
	b       *backend
	expires time.Time
	// active counts the open sessions this entry placed.
	active int
}

func (e affinityEntry) live(now time.Time) bool { return e.active > 0 || now.Before(e.expires) }

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
	if !e.live(now) {
		delete(a.m, ip)
		return nil
	}
	return e.b
}

// acquire binds ip to b for one more open session, until that session ends plus ttl.
func (a *affinity) acquire(ip netip.Addr, b *backend, now time.Time, ttl time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[ip]
	if ok && e.b == b {
		e.active++
		e.expires = now.Add(ttl)
		a.m[ip] = e
		return
	}
	if !ok && len(a.m) >= a.sweepAt {
		for k, e := range a.m {
			if !e.live(now) {
				delete(a.m, k)
			}
		}
		a.sweepAt = min(max(2*len(a.m), 1024), a.max)
		if len(a.m) >= a.max {
			return
		}
	}
	a.m[ip] = affinityEntry{b: b, expires: now.Add(ttl), active: 1}
}

// release ends one session acquire counted; the entry then expires ttl from now unless
// another session is open.
func (a *affinity) release(ip netip.Addr, b *backend, now time.Time, ttl time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.m[ip]; ok && e.b == b {
		e.active = max(e.active-1, 0)
		e.expires = now.Add(ttl)
		a.m[ip] = e
	}
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
