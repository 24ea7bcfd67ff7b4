package bus

import (
	"context"
	"sync"
)

// Bus fans values of type T out to subscribers. The zero value is not usable; call New.
type Bus[T any] struct {
	mu     sync.Mutex
	subs   []*subscriber[T]
	seq    uint64 // values published so far
	closed bool
}

// New returns a Bus with no subscribers.
func New[T any]() *Bus[T] { return &Bus[T]{} }

// subscriber is one subscription: its queue and the goroutine that drains it.
type subscriber[T any] struct {
	name string
	fn   func(T)

	mu    sync.Mutex
	queue []item[T]
	head  int            // queue[head:] is pending
	keyed map[string]int // key → index in queue of its pending value
	done  uint64         // seq of the last value handled (or skipped as replaced)
	wake  chan struct{}
	// coalesced counts values replaced before they were handed over.
	coalesced uint64
	closing   bool
	stopped   chan struct{}
	// handled is signalled each time done moves, for Sync.
	handled chan struct{}
}

type item[T any] struct {
	seq      uint64
	key      string
	v        T
	replaced bool
}

// Subscribe starts fn on a goroutine of its own; fn is handed every value published from now
// on, one at a time, in order (see the package doc for keyed values). name is for diagnostics.
func (b *Bus[T]) Subscribe(name string, fn func(T)) {
	s := &subscriber[T]{name: name, fn: fn, keyed: map[string]int{}, wake: make(chan struct{}, 1),
		stopped: make(chan struct{}), handled: make(chan struct{}, 1)}
	b.mu.Lock()
	s.done = b.seq
	closed := b.closed
	if !closed {
		b.subs = append(b.subs, s)
	}
	b.mu.Unlock()
	if closed {
		close(s.stopped)
		return
	}
	go s.run()
}

// Publish queues v for every subscriber and returns at once. A non-empty key makes v replace a
// value with the same key that a subscriber has not been handed yet.
func (b *Bus[T]) Publish(key string, v T) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.seq++
	it := item[T]{seq: b.seq, key: key, v: v}
	subs := b.subs
	b.mu.Unlock()
	for _, s := range subs {
		s.push(it)
	}
}

func (s *subscriber[T]) push(it item[T]) {
	s.mu.Lock()
	if it.key != "" {
		if i, ok := s.keyed[it.key]; ok {
			s.queue[i].replaced = true
			s.coalesced++
		}
		s.keyed[it.key] = len(s.queue)
	}
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next returns the next value to hand over; ok is false once the subscriber is closing and
// its queue is empty.
func (s *subscriber[T]) next() (it item[T], ok bool) {
	for {
		s.mu.Lock()
		for s.head < len(s.queue) {
			it = s.queue[s.head]
			s.queue[s.head] = item[T]{}
			s.head++
			if it.key != "" && !it.replaced {
				delete(s.keyed, it.key)
			}
			if it.replaced {
				s.advance(it.seq)
				continue
			}
			if s.head == len(s.queue) {
				s.queue, s.head = s.queue[:0], 0
			}
			s.mu.Unlock()
			return it, true
		}
		s.queue, s.head = s.queue[:0], 0
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return it, false
		}
		<-s.wake
	}
}

// advance records that everything up to seq has been handled; s.mu is held.
func (s *subscriber[T]) advance(seq uint64) {
	if seq > s.done {
		s.done = seq
	}
	select {
	case s.handled <- struct{}{}:
	default:
	}
}

func (s *subscriber[T]) run() {
	defer close(s.stopped)
	for {
		it, ok := s.next()
		if !ok {
			return
		}
		s.fn(it.v)
		s.mu.Lock()
		s.advance(it.seq)
		s.mu.Unlock()
	}
}

// Sync waits until every subscriber has handled everything published before the call, or ctx
// ends. The supervisor uses it at start, so that the VRRP half hears of every virtual server
// before it runs.
func (b *Bus[T]) Sync(ctx context.Context) error {
	b.mu.Lock()
	target := b.seq
	subs := b.subs
	b.mu.Unlock()
	for _, s := range subs {
		for {
			s.mu.Lock()
			done := s.done >= target || (s.head == len(s.queue) && s.closing)
			s.mu.Unlock()
			if done {
				break
			}
			select {
			case <-s.handled:
			case <-s.stopped:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Close stops taking values and waits until every subscriber has handled what was queued.
func (b *Bus[T]) Close() {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	for _, s := range subs {
		<-s.stopped
	}
}

// Stats are a subscriber's counters.
type Stats struct {
	Name string
	// Pending values not handed over yet; Coalesced were replaced by a later value with their
	// key before they could be.
	Pending, Coalesced int
}

// Stats reports each subscriber's backlog.
func (b *Bus[T]) Stats() []Stats {
	b.mu.Lock()
	subs := b.subs
	b.mu.Unlock()
	out := make([]Stats, 0, len(subs))
	for _, s := range subs {
		s.mu.Lock()
		pending := 0
		for _, it := range s.queue[s.head:] {
			if !it.replaced {
				pending++
			}
		}
		out = append(out, Stats{Name: s.name, Pending: pending, Coalesced: int(s.coalesced)})
		s.mu.Unlock()
	}
	return out
}
