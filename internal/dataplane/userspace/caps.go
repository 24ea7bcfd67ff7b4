package userspace

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Why connections are capped: each proxied TCP connection holds two descriptors (the client's
// and the backend's), and a process has a fixed number. Without a cap a flood of idle clients
// takes every descriptor, and the health checks that need one to open a socket or run a script
// fail, so that a node whose real servers are all healthy loses its pools' quorum. The
// supervisor gives the balancer the descriptors the checks, scripts, VRRP, BGP and the status
// server do not need (internal/fdbudget) as Options.MaxConn; a service may have a cap of its
// own (dataplane.Service.MaxConn). At either cap a TCP listener stops accepting, and new
// connections wait in its listen backlog, as HAProxy's do at maxconn; a new UDP flow, which no
// backlog can hold, is refused.

// gate is a connection cap: a place is taken before a connection is accepted or a UDP flow
// made, and given back when it ends. A nil *gate has no cap.
type gate struct {
	places chan struct{}
	// retired is closed when Apply replaces the service's gate (its maxconn changed): a
	// listener waiting for a place moves to the new one.
	retired chan struct{}
}

func newGate(max int) *gate {
	if max <= 0 {
		return nil
	}
	return &gate{places: make(chan struct{}, max), retired: make(chan struct{})}
}

// tryTake takes a place if one is free.
func (g *gate) tryTake() bool {
	if g == nil {
		return true
	}
	select {
	case g.places <- struct{}{}:
		return true
	default:
		return false
	}
}

// put gives a place back.
func (g *gate) put() {
	if g != nil {
		<-g.places
	}
}

// max is the cap, 0 for none.
func (g *gate) max() int {
	if g == nil {
		return 0
	}
	return cap(g.places)
}

// slot is what one connection or flow holds of the caps: a place in its service's gate and one
// in the balancer's.
type slot struct {
	vs, all *gate
}

func (s slot) release() {
	s.vs.put()
	s.all.put()
}

// capLogEvery is how often one service logs one kind of refusal or pause: a flood brings a line
// every ten seconds per kind, with the count of those left out, not a line per connection.
const capLogEvery = 10 * time.Second

// capLog writes a service's warnings about its caps, at most one per kind (key) per capLogEvery;
// the next line of a kind says how many were left out ("suppressed").
type capLog struct {
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
	left map[string]uint64
}

func newCapLog(log *slog.Logger, now func() time.Time) *capLog {
	return &capLog{log: log, now: now, last: map[string]time.Time{}, left: map[string]uint64{}}
}

// warn logs msg with args unless a line of kind was logged less than capLogEvery ago.
func (c *capLog) warn(kind, msg string, args ...any) {
	now := c.now()
	c.mu.Lock()
	last, seen := c.last[kind]
	if seen && now.Sub(last) < capLogEvery {
		c.left[kind]++
		c.mu.Unlock()
		return
	}
	left := c.left[kind]
	c.last[kind], c.left[kind] = now, 0
	c.mu.Unlock()
	if left > 0 {
		args = append(args, "suppressed", left)
	}
	c.log.Log(context.Background(), slog.LevelWarn, msg, args...)
}
