package status

// Ring keeps the last n values pushed: what the status server keeps per real server (its
// timeline, its checks' recent probes) has a bounded size whatever the uptime. Its buffer grows
// with the values pushed up to that bound, since most timelines hold a change or two: buffers
// allocated whole at 20,000 real servers held 44 MB for timelines that were nearly empty. It
// is not safe for concurrent use; its owner locks.
type Ring[T any] struct {
	buf   []T // grows to size, then wraps
	size  int
	start int // index of the oldest value
	n     int
}

// NewRing returns an empty ring that keeps the last size values (at least one).
func NewRing[T any](size int) *Ring[T] {
	return &Ring[T]{size: max(size, 1)}
}

// Push adds v, dropping the oldest value when the ring is full.
func (r *Ring[T]) Push(v T) {
	switch {
	case r.n < len(r.buf):
		r.buf[(r.start+r.n)%len(r.buf)] = v
		r.n++
	case len(r.buf) < r.size:
		// Not full and not wrapped (start is 0 until the buffer has its full size): grow.
		if len(r.buf) == cap(r.buf) {
			grown := make([]T, len(r.buf), min(max(2*cap(r.buf), 2), r.size))
			copy(grown, r.buf)
			r.buf = grown
		}
		r.buf = append(r.buf, v)
		r.n++
	default:
		r.buf[r.start] = v
		r.start = (r.start + 1) % len(r.buf)
	}
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
