package probe

// dueHeap orders items by an integer due time (the scheduler's probes by when they are due, the
// poller's by their deadline): a binary heap of (due, item) pairs, each item told its index
// (setHeapIndex) so that it can be removed or moved. The due time sits beside the item as an
// integer, so that sifting compares integers in one array rather than loading an item and a
// time.Time per comparison (the compare was a sixth of the scheduler's own CPU with 10,000
// jobs).
type dueHeap[T heapItem] []dueEntry[T]

type heapItem interface {
	setHeapIndex(int) // -1 when it leaves the heap
}

type dueEntry[T any] struct {
	at   int64
	item T
}

func (h *dueHeap[T]) push(item T, at int64) {
	*h = append(*h, dueEntry[T]{at: at, item: item})
	item.setHeapIndex(len(*h) - 1)
	h.up(len(*h) - 1)
}

func (h *dueHeap[T]) pop() T {
	item := (*h)[0].item
	h.remove(0)
	return item
}

// remove takes out the entry at index i.
func (h *dueHeap[T]) remove(i int) {
	old := *h
	last := len(old) - 1
	item := old[i].item
	if i != last {
		old[i] = old[last]
		old[i].item.setHeapIndex(i)
	}
	old[last] = dueEntry[T]{}
	*h = old[:last]
	item.setHeapIndex(-1)
	if i != last && !h.down(i) {
		h.up(i)
	}
}

// reschedule moves the entry at index i to due time at.
func (h dueHeap[T]) reschedule(i int, at int64) {
	h[i].at = at
	if !h.down(i) {
		h.up(i)
	}
}

func (h dueHeap[T]) up(i int) {
	e := h[i]
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].at <= e.at {
			break
		}
		h[i] = h[parent]
		h[i].item.setHeapIndex(i)
		i = parent
	}
	h[i] = e
	e.item.setHeapIndex(i)
}

// down sifts the entry at i towards the leaves; it reports whether the entry moved.
func (h dueHeap[T]) down(i int) bool {
	e, start, n := h[i], i, len(h)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].at < h[c].at {
			c = r
		}
		if e.at <= h[c].at {
			break
		}
		h[i] = h[c]
		h[i].item.setHeapIndex(i)
		i = c
	}
	h[i] = e
	e.item.setHeapIndex(i)
	return i > start
}
