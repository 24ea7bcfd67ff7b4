package status

import (
	"sync"
	"time"
)

// The bounds of the connection rate's samples (Traffic.ConnsPerSecond): a sample of a virtual
// server's connection count is kept at most every rateSpacing, the last rateSamples of them:
// the rate is taken over the last minute while someone asks at least every rateSpacing (the
// page does), over the span between the samples otherwise.
const (
	rateSpacing = 5 * time.Second
	rateSamples = 12
)

type connSample struct {
	at    time.Time
	total uint64
}

// rateMeter turns the virtual servers' connection counts, as snapshots carry them, into rates.
type rateMeter struct {
	mu      sync.Mutex
	samples map[string]*Ring[connSample]
}

// rate records vs's count total at now when the last sample is rateSpacing old, and returns
// the rate since the oldest sample kept: 0 with none, or after the count went back (a data
// plane restarted), which starts the samples again.
func (m *rateMeter) rate(vs string, now time.Time, total uint64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.samples == nil {
		m.samples = map[string]*Ring[connSample]{}
	}
	r := m.samples[vs]
	if r == nil {
		r = NewRing[connSample](rateSamples)
		m.samples[vs] = r
	}
	last, ok := r.Last()
	if ok && total < last.total {
		r.Reset()
		ok = false
	}
	if !ok || now.Sub(last.at) >= rateSpacing {
		r.Push(connSample{at: now, total: total})
	}
	oldest := r.Items()[0]
	d := now.Sub(oldest.at)
	if d <= 0 {
		return 0
	}
	return float64(total-oldest.total) / d.Seconds()
}

// keep forgets the virtual servers not in names (a reload removed them).
func (m *rateMeter) keep(names map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for vs := range m.samples {
		if !names[vs] {
			delete(m.samples, vs)
		}
	}
}
