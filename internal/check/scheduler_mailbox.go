package check

import (
	"context"
	"sync"
	"time"
)

// deliverGather is how long the first report after a quiet spell waits for more to join its
// batch: the sink sees results up to this much later, in return for one wake-up of the
// delivering goroutine per batch instead of per report.
const deliverGather = time.Millisecond

// schedMailbox holds reports for the sink: the newest per job, in order of first arrival.
type schedMailbox struct {
	sink   func(Report)
	signal chan struct{}
	gather time.Duration // how long a report waits for others to join its batch

	mu        sync.Mutex
	pending   map[string]*Report
	order     []string
	coalesced uint64
	busy      bool // a batch is with the sink
}

func (b *schedMailbox) init(sink func(Report)) {
	b.sink = sink
	b.signal = make(chan struct{}, 1)
	b.gather = deliverGather
	b.pending = map[string]*Report{}
}

func (b *schedMailbox) put(r Report) {
	if b.sink == nil {
		return
	}
	b.mu.Lock()
	if old := b.pending[r.JobID]; old != nil {
		r.Coalesced = old.Coalesced + 1
		*old = r
		b.coalesced++
		b.mu.Unlock()
		return
	}
	b.pending[r.JobID] = &r
	b.order = append(b.order, r.JobID)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// drop forgets the pending report of a removed job.
func (b *schedMailbox) drop(id string) {
	b.mu.Lock()
	delete(b.pending, id)
	b.mu.Unlock()
}

func (b *schedMailbox) coalescedTotal() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.coalesced
}

// empty reports whether nothing waits for the sink.
func (b *schedMailbox) empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending) == 0 && !b.busy
}

// deliver calls the sink until ctx ends; reports still pending then are dropped.
func (b *schedMailbox) deliver(ctx context.Context) {
	var batch []Report
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.signal:
		}
		if b.gather > 0 {
			// Let the reports of the next moment join this one's batch: one wake-up of this
			// goroutine per report cost more than the sink did at thousands of reports a second.
			gather.Reset(b.gather)
			select {
			case <-ctx.Done():
				return
			case <-gather.C:
			}
		}
		b.mu.Lock()
		order := b.order
		b.order = nil
		b.busy = true
		for _, id := range order {
			if r := b.pending[id]; r != nil {
				batch = append(batch, *r)
				delete(b.pending, id)
			}
		}
		b.mu.Unlock()
		for i := range batch {
			if ctx.Err() != nil {
				return
			}
			b.sink(batch[i])
			batch[i] = Report{}
		}
		batch = batch[:0]
		b.mu.Lock()
		b.busy = false
		b.mu.Unlock()
	}
}
