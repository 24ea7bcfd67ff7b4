package status

import (
	"sync"
	"time"
)

// Hub numbers events, keeps the most recent ones and fans them out to subscribers. A subscriber
// that does not keep up loses events (its channel is bounded) rather than slowing the daemon;
// the SSE handler then tells the client to refetch the full state.
type Hub struct {
	mu     sync.Mutex
	seq    uint64
	recent []Event // ring, oldest first once full
	keep   int
	subs   map[chan Event]struct{}
	now    func() time.Time
	// timelines are the real servers' recent states, by virtual server and real server name.
	timelines map[string]map[string]*Ring[StateChange]
}

// The bounds of a real server's timeline (RealServer.Timeline): its last TimelineSize changes,
// of which those of the last TimelineWindow are shown.
const (
	TimelineSize   = 32
	TimelineWindow = time.Hour
)

// ServerMark is a real server's state as ServerStates records it.
type ServerMark struct {
	Name       string
	Up         bool
	AdminState string
}

// NewHub keeps the last keep events. now stamps events (time.Now in production).
func NewHub(keep int, now func() time.Time) *Hub {
	if keep <= 0 {
		keep = 100
	}
	return &Hub{keep: keep, subs: map[chan Event]struct{}{}, now: now, timelines: map[string]map[string]*Ring[StateChange]{}}
}

// Publish records an event and hands it to every subscriber that has room for it.
func (h *Hub) Publish(kind, subject, message string) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev := Event{Seq: h.seq, At: h.now(), Kind: kind, Subject: subject, Message: message}
	if len(h.recent) == h.keep {
		copy(h.recent, h.recent[1:])
		h.recent = h.recent[:h.keep-1]
	}
	h.recent = append(h.recent, ev)
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // slow subscriber: it will notice the gap in Seq
		}
	}
	return ev
}

// Recent returns the kept events, newest first.
func (h *Hub) Recent() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Event, len(h.recent))
	for i, ev := range h.recent {
		out[len(out)-1-i] = ev
	}
	return out
}

// Subscribe returns a channel of new events and a function that ends the subscription.
func (h *Hub) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// ServerStates records the states of virtual server vs's real servers, all of them: each whose
// state differs from the last one recorded gets a change on its timeline, stamped now, and
// servers no longer listed are forgotten. The load-balancing half's observer calls it with
// every state it publishes.
func (h *Hub) ServerStates(vs string, servers []ServerMark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	old := h.timelines[vs]
	next := make(map[string]*Ring[StateChange], len(servers))
	for _, s := range servers {
		r := old[s.Name]
		if r == nil {
			r = NewRing[StateChange](TimelineSize)
		}
		next[s.Name] = r
		c := StateChange{At: now, Up: s.Up, AdminState: s.AdminState}
		if c.AdminState == "" {
			c.AdminState = AdminReady
		}
		if last, ok := r.Last(); !ok || last.Up != c.Up || last.AdminState != c.AdminState {
			r.Push(c)
		}
	}
	h.timelines[vs] = next
}

// ForgetVirtualServer drops the timelines of vs's real servers (a reload removed it).
func (h *Hub) ForgetVirtualServer(vs string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.timelines, vs)
}

// Timeline returns real server rs of vs's changes of the last TimelineWindow, oldest first,
// led by the last change before the window (the state the window began in); nil when none
// was recorded.
func (h *Hub) Timeline(vs, rs string) []StateChange {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.timelines[vs][rs]
	if r == nil {
		return nil
	}
	all := r.Items()
	from := h.now().Add(-TimelineWindow)
	first := 0
	for i, c := range all {
		if c.At.Before(from) {
			first = i
		}
	}
	return all[first:]
}
