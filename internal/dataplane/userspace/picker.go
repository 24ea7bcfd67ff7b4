package userspace

import (
	"container/heap"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// maxWRRCycle bounds the precomputed weighted round-robin cycle (4 MiB of indexes). When the
// weights' sum over their gcd is larger, the sequence is the first maxWRRCycle picks of the
// exact cycle: shares stay proportional to within one pick per backend per cycle.
const maxWRRCycle = 1 << 20

// picker chooses among a fixed set of members. It is built once per Apply and never changed,
// except for its round-robin cursor; pick is allocation-free.
type picker struct {
	sched   dataplane.Scheduler
	members []*backend
	weights []int
	cursor  atomic.Uint64
	// seq is the wrr cycle (member indexes); buckets is the sh or mh lookup table.
	seq     []uint32
	buckets []uint32
	fo      int
}

// newPicker builds a picker over members (all with weight > 0). mhSize is the Maglev table size.
func newPicker(sched dataplane.Scheduler, members []*backend, weights []int, mhSize int) (*picker, error) {
	p := &picker{sched: sched, members: members, weights: weights}
	if len(members) == 0 {
		return p, nil
	}
	switch sched {
	case dataplane.WeightedRoundRobin:
		p.seq = smoothSequence(weights, cycleLen(weights))
	case dataplane.SourceHash:
		p.buckets = smoothSequence(weights, shTableSize(len(members)))
	case dataplane.MaglevHash:
		t, err := maglevTable(members, weights, mhSize)
		if err != nil {
			return nil, err
		}
		p.buckets = t
	case dataplane.Failover:
		for i, w := range weights {
			if w > weights[p.fo] {
				p.fo = i
			}
		}
	}
	return p, nil
}

// pick returns the index of the member for a new connection from a client whose address
// hashes to key, or -1 when there are no members.
func (p *picker) pick(key uint64) int {
	n := len(p.members)
	if n == 0 {
		return -1
	}
	switch p.sched {
	case dataplane.WeightedRoundRobin:
		return int(p.seq[(p.cursor.Add(1)-1)%uint64(len(p.seq))])
	case dataplane.LeastConnection:
		return p.leastConn(false)
	case dataplane.WeightedLeastConnection:
		return p.leastConn(true)
	case dataplane.SourceHash:
		return int(p.buckets[key&uint64(len(p.buckets)-1)])
	case dataplane.MaglevHash:
		return int(p.buckets[key%uint64(len(p.buckets))])
	case dataplane.Failover:
		return p.fo
	default: // rr
		return int((p.cursor.Add(1) - 1) % uint64(n))
	}
}

// leastConn scans from a rotating start so that ties (an idle pool) spread evenly. With
// weighted, it compares active/weight by cross-multiplying, and a tie goes to the heavier one.
func (p *picker) leastConn(weighted bool) int {
	n := len(p.members)
	start := int((p.cursor.Add(1) - 1) % uint64(n))
	best := start
	bestActive := p.members[start].active.Load()
	for k := 1; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		a := p.members[i].active.Load()
		if !weighted {
			if a < bestActive {
				best, bestActive = i, a
			}
			continue
		}
		l, r := a*int64(p.weights[best]), bestActive*int64(p.weights[i])
		if l < r || (l == r && p.weights[i] > p.weights[best]) {
			best, bestActive = i, a
		}
	}
	return best
}

// cycleLen is the length of one wrr cycle: the sum of weights over their gcd, bounded.
func cycleLen(weights []int) int {
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	sum := 0
	for _, w := range weights {
		sum += w / g
	}
	if sum > maxWRRCycle {
		return maxWRRCycle
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// smoothSequence lays out length picks so that member i gets length*w_i/sum of them, each spread
// evenly: member i's k-th pick sits at virtual time (k+½)/w_i and picks are taken in virtual-time
// order (ties to the lower index). Over one cycle of sum(w/gcd) picks that is exactly the weight
// ratio, interleaved like nginx's smooth weighted round robin.
func smoothSequence(weights []int, length int) []uint32 {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	h := make(vtimeHeap, len(weights))
	for i, w := range weights {
		h[i] = vtime{idx: i, weight: w}
	}
	heap.Init(&h)
	seq := make([]uint32, length)
	for n := range seq {
		top := &h[0]
		seq[n] = uint32(top.idx)
		top.k++
		heap.Fix(&h, 0)
	}
	return seq
}

type vtime struct {
	idx    int
	weight int
	k      int
}

type vtimeHeap []vtime

func (h vtimeHeap) Len() int { return len(h) }

// Less compares (2k_a+1)/w_a with (2k_b+1)/w_b without division.
func (h vtimeHeap) Less(a, b int) bool {
	l := uint64(2*h[a].k+1) * uint64(h[b].weight)
	r := uint64(2*h[b].k+1) * uint64(h[a].weight)
	if l != r {
		return l < r
	}
	return h[a].idx < h[b].idx
}
func (h vtimeHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *vtimeHeap) Push(x any)   { *h = append(*h, x.(vtime)) }
func (h *vtimeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// shTableSize is IPVS sh's 256 buckets (IP_VS_SH_TAB_BITS 8), grown to a power of two with at
// least 16 buckets per member so that weights stay honoured with many backends.
func shTableSize(members int) int {
	size := 256
	for size < members*16 && size < 1<<22 {
		size <<= 1
	}
	return size
}

// maglevPrimes are the lookup table sizes Linux's ip_vs_mh accepts (its primes[] list);
// CONFIG_IP_VS_MH_TAB_INDEX n (8..17) selects maglevPrimes[n-8].
var maglevPrimes = [...]int{251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071}

// DefaultMaglevTableSize is Linux's default: CONFIG_IP_VS_MH_TAB_INDEX=12 selects 4093.
const DefaultMaglevTableSize = 4093

// maglevTabBits is ip_vs_mh's IP_VS_MH_TAB_BITS for a table size: its config index over 2.
func maglevTabBits(size int) (int, error) {
	for i, p := range maglevPrimes {
		if p == size {
			return (i + 8) / 2, nil
		}
	}
	return 0, fmt.Errorf("maglev table size %d: expected one of %v", size, maglevPrimes)
}

// Seeds for the two Maglev permutation hashes. Fixed, as ip_vs_mh's keys are, so that a table
// is the same after a restart or on another node with the same backends.
const (
	maglevSeedOffset = 0x9e3779b97f4a7c15
	maglevSeedSkip   = 0xc2b2ae3d27d4eb4f
)

// maglevTable populates a Maglev lookup table the way Linux's ip_vs_mh does: each member has a
// permutation (offset, skip) of the table positions; members take turns claiming their next
// free preferred position, a member claiming "turns" positions per round, where turns is its
// weight over the weights' gcd, shifted right so the largest fits in tabBits bits (at least 1).
func maglevTable(members []*backend, weights []int, size int) ([]uint32, error) {
	tabBits, err := maglevTabBits(size)
	if err != nil {
		return nil, err
	}
	if len(members) > size {
		return nil, fmt.Errorf("maglev: %d backends exceed table size %d", len(members), size)
	}
	g, maxW := 0, 0
	for _, w := range weights {
		g = gcd(g, w)
		maxW = max(maxW, w)
	}
	shift := max(bits.Len(uint(maxW/g))-tabBits, 0)
	type setup struct{ perm, skip, turns int }
	ds := make([]setup, len(members))
	for i, b := range members {
		offset := int(backendKey(b.addr, maglevSeedOffset) % uint64(size))
		ds[i] = setup{
			perm:  offset,
			skip:  int(backendKey(b.addr, maglevSeedSkip)%uint64(size-1)) + 1,
			turns: max((weights[i]/g)>>shift, 1),
		}
	}
	table := make([]uint32, size)
	taken := make([]bool, size)
	filled := 0
	for filled < size {
		for i := range ds {
			d := &ds[i]
			for t := 0; t < d.turns; t++ {
				for taken[d.perm] {
					d.perm += d.skip
					if d.perm >= size {
						d.perm -= size
					}
				}
				taken[d.perm] = true
				table[d.perm] = uint32(i)
				if filled++; filled == size {
					return table, nil
				}
			}
		}
	}
	return table, nil
}
