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

// schedMailbox holds reports for the sink: the newest per job, in order of first arrival. A job
// finds its pending report by the index it keeps (schedJob.boxIndex), so that a report costs no
// map lookup and no allocation.
type schedMailbox struct {
	sink   func(Report)
	signal chan struct{}
	gather time.Duration // how long a report waits for others to join its batch

	mu        sync.Mutex
	pending   []boxEntry // entries of dropped jobs have a nil job
	live      int        // entries of pending with a job
	spare     []boxEntry // the previous batch's array, for the next pending
	coalesced uint64
	busy      bool // a batch is with the sink
}

type boxEntry struct {
	job *schedJob
	r   Report
}

func (b *schedMailbox) init(sink func(Report)) {
	b.sink = sink
	b.signal = make(chan struct{}, 1)
	b.gather = deliverGather
}

func (b *schedMailbox) put(j *schedJob, r Report) {
	if b.sink == nil {
		return
	}
	b.mu.Lock()
	if j.boxIndex > 0 {
		e := &b.pending[j.boxIndex-1]
		r.Coalesced = e.r.Coalesced + 1
		e.r = r
		b.coalesced++
		b.mu.Unlock()
		return
	}
	b.pending = append(b.pending, boxEntry{job: j, r: r})
	j.boxIndex = len(b.pending)
	b.live++
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// drop forgets the pending report of a removed job.
func (b *schedMailbox) drop(j *schedJob) {
	b.mu.Lock()
	if j.boxIndex > 0 {
		b.pending[j.boxIndex-1] = boxEntry{}
		j.boxIndex = 0
		b.live--
	}
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
	return b.live == 0 && !b.busy
}

// deliver calls the sink until ctx ends; reports still pending then are dropped.
func (b *schedMailbox) deliver(ctx context.Context) {
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
		batch := b.pending
		b.pending, b.spare = b.spare[:0], nil
		for i := range batch {
			if j := batch[i].job; j != nil {
				j.boxIndex = 0
			}
		}
		b.live = 0
		b.busy = true
		b.mu.Unlock()
		for i := range batch {
			if ctx.Err() != nil {
				return
			}
			if batch[i].job != nil {
				b.sink(batch[i].r)
			}
		}
		clear(batch)
		b.mu.Lock()
		b.busy = false
		b.spare = batch[:0]
		b.mu.Unlock()
	}
}
