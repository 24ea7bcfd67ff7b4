package status

// Ring keeps the last n values pushed, in a buffer allocated once: what the status server keeps
// per real server (its timeline, its checks' recent probes) has a fixed size whatever the
// uptime. It is not safe for concurrent use; its owner locks.
type Ring[T any] struct {
	buf   []T
	start int // index of the oldest value
	n     int
}

// NewRing returns an empty ring that keeps the last size values (at least one).
func NewRing[T any](size int) *Ring[T] {
	return &Ring[T]{buf: make([]T, max(size, 1))}
}

// Push adds v, dropping the oldest value when the ring is full.
func (r *Ring[T]) Push(v T) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = v
		r.n++
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
}

// Len is the number of values kept.
func (r *Ring[T]) Len() int { return r.n }

// Last returns the newest value; ok is false when the ring is empty.
func (r *Ring[T]) Last() (v T, ok bool) {
	if r.n == 0 {
		return v, false
	}
	return r.buf[(r.start+r.n-1)%len(r.buf)], true
}

// Items returns a copy of the values kept, oldest first; nil when there are none.
func (r *Ring[T]) Items() []T {
	if r.n == 0 {
		return nil
	}
	out := make([]T, r.n)
	for i := range out {
		out[i] = r.buf[(r.start+i)%len(r.buf)]
	}
	return out
}

// Reset empties the ring, keeping its buffer.
func (r *Ring[T]) Reset() { r.start, r.n = 0, 0 }
