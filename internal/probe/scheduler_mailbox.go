package probe

import (
	"context"
	"sync"
)

// schedMailbox holds reports for the sink: the newest per job, in order of first arrival. A job
// finds its pending report by the index it keeps (schedJob.boxIndex), so that a report costs no
// map lookup and no allocation. The scheduler puts the reports of a batch of probes, then
// flushes once: the delivering goroutine wakes once per batch, not per report (a wake-up per
// report cost more than the sink did at thousands of reports a second).
type schedMailbox struct {
	sink   func(Report)
	signal chan struct{}

	mu        sync.Mutex
	pending   []boxEntry // entries of dropped jobs have a nil job
	live      int        // entries of pending with a job
	spare     []boxEntry // the previous batch's array, for the next pending
	coalesced uint64
	busy      bool // a batch is with the sink
	unflushed bool // reports were put since the last flush
}

type boxEntry struct {
	job *schedJob
	r   Report
}

func (b *schedMailbox) init(sink func(Report)) {
	b.sink = sink
	b.signal = make(chan struct{}, 1)
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
	b.unflushed = true
	b.mu.Unlock()
}

// flush wakes the delivering goroutine for the reports put since the last flush.
func (b *schedMailbox) flush() {
	b.mu.Lock()
	wake := b.unflushed
	b.unflushed = false
	b.mu.Unlock()
	if wake {
		select {
		case b.signal <- struct{}{}:
		default:
		}
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.signal:
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
