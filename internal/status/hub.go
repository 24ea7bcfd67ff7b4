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
}

// NewHub keeps the last keep events. now stamps events (time.Now in production).
func NewHub(keep int, now func() time.Time) *Hub {
	if keep <= 0 {
		keep = 100
	}
	return &Hub{keep: keep, subs: map[chan Event]struct{}{}, now: now}
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
