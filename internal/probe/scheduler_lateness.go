package probe

import (
	"math/bits"
	"time"
)

// LatenessSummary describes how late probes started.
type LatenessSummary struct {
	Count         uint64
	P50, P99, Max time.Duration
}

// latenessHistogram buckets durations logarithmically, four buckets per doubling (each bucket
// at most 19% wide), from 1ns to the largest time.Duration.
type latenessHistogram struct {
	buckets [64 * 4]uint64
	count   uint64
	max     time.Duration
}

func latenessBucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	n := uint64(d)
	msb := bits.Len64(n) - 1 // n in [2^msb, 2^(msb+1))
	var frac uint64
	if msb >= 2 {
		frac = (n >> (msb - 2)) & 3
	} else {
		frac = (n << (2 - msb)) & 3
	}
	return msb*4 + int(frac)
}

// latenessUpper is the largest duration in bucket i.
func latenessUpper(i int) time.Duration {
	msb, frac := i/4, uint64(i%4)
	lo := uint64(1)<<msb + frac<<msb/4
	width := uint64(1) << msb / 4
	if width == 0 {
		width = 1
	}
	return time.Duration(lo + width - 1)
}

func (h *latenessHistogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.buckets[latenessBucket(d)]++
	h.count++
	if d > h.max {
		h.max = d
	}
}

func (h *latenessHistogram) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.count))
	if rank >= h.count {
		rank = h.count - 1
	}
	var seen uint64
	for i, c := range h.buckets {
		seen += c
		if seen > rank {
			return min(latenessUpper(i), h.max)
		}
	}
	return h.max
}

func (h *latenessHistogram) summary() LatenessSummary {
	return LatenessSummary{Count: h.count, P50: h.quantile(0.5), P99: h.quantile(0.99), Max: h.max}
}
