package nftables

import (
	"hash/fnv"
	"net/netip"
	"slices"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// maxSlots caps the number of entries of a service's backend map. Weights whose sum is larger
// are scaled down proportionally (every backend with weight > 0 keeps at least one slot), so
// the proportions are kept to within about one part in maxSlots.
const maxSlots = 1024

// maglevSize is the lookup-table size for mh: a prime comfortably larger than the number of
// backends a service usually has, so each backend's share is within about 1/maglevSize of its
// weight's share.
const maglevSize = 1021

// selector is how a new connection picks a slot of the backend map.
type selector int

const (
	// byCounter picks slots in turn (numgen inc mod N).
	byCounter selector = iota
	// bySourceHash picks the slot by a hash of the client address (jhash ip saddr mod N).
	bySourceHash
	// byFlowHash picks the slot by a hash of the client's address and port (jhash ip saddr .
	// th sport mod N): every node with the same backends picks the same one for a connection,
	// and a client's connections spread over the backends.
	byFlowHash
)

// plan is what the kernel runs for one service: the ordered backend slots (a backend appears
// as many times as its share) and how a slot is chosen.
type plan struct {
	// Running is the scheduler the slots implement (after Effective's fallback and the
	// kernel's own: lc and wlc have no connection counts to work with here).
	Running dataplane.Scheduler
	Select  selector
	// Slots is empty when no backend (and no sorry server) can take a new connection.
	Slots []netip.AddrPort
	// Active are the backends that may take new connections: those with weight > 0, or the
	// sorry server alone when none has.
	Active []netip.AddrPort
}

// planFor builds the plan for svc, which must be valid. With flowHash, the schedulers that
// would pick slots in turn (numgen, whose counter is each node's own) pick by a hash of the
// connection over a Maglev table instead (see Options.FlowHash).
func planFor(svc dataplane.Service, flowHash bool) plan {
	sched, _, _ := dataplane.Effective(svc.Scheduler)
	var p plan
	switch sched {
	case dataplane.LeastConnection:
		p.Running = dataplane.RoundRobin
	case dataplane.WeightedLeastConnection:
		p.Running = dataplane.WeightedRoundRobin
	default:
		p.Running = sched
	}
	switch {
	case (p.Running == dataplane.SourceHash || p.Running == dataplane.MaglevHash) && svc.HashPort:
		p.Select = byFlowHash
	case p.Running == dataplane.SourceHash || p.Running == dataplane.MaglevHash:
		p.Select = bySourceHash
	case flowHash && p.Running != dataplane.Failover:
		p.Running, p.Select = dataplane.MaglevHash, byFlowHash
	}
	var live []dataplane.Backend
	for _, b := range svc.Backends {
		if b.Weight > 0 {
			live = append(live, b)
			p.Active = append(p.Active, b.Addr)
		}
	}
	if len(live) == 0 {
		if svc.Sorry != nil {
			p.Active = []netip.AddrPort{svc.Sorry.Addr}
			p.Slots = []netip.AddrPort{svc.Sorry.Addr}
		}
		return p
	}
	switch p.Running {
	case dataplane.RoundRobin:
		for _, b := range live {
			p.Slots = append(p.Slots, b.Addr)
		}
	case dataplane.Failover:
		best := live[0]
		for _, b := range live[1:] {
			if b.Weight > best.Weight {
				best = b
			}
		}
		p.Active = []netip.AddrPort{best.Addr}
		p.Slots = []netip.AddrPort{best.Addr}
	case dataplane.MaglevHash:
		p.Slots = maglev(live, maglevSize)
	default: // wrr, sh
		p.Slots = smoothWeighted(live)
	}
	return p
}

// scaledWeights divides the weights by their greatest common divisor and, if their sum is
// still above maxSlots, scales them down proportionally, keeping every weight at least 1.
func scaledWeights(live []dataplane.Backend) []int {
	g := 0
	for _, b := range live {
		g = gcd(g, b.Weight)
	}
	w := make([]int, len(live))
	sum := 0
	for i, b := range live {
		w[i] = b.Weight / g
		sum += w[i]
	}
	if sum <= maxSlots {
		return w
	}
	for i := range w {
		w[i] = max(1, int((int64(w[i])*maxSlots+int64(sum)/2)/int64(sum)))
	}
	return w
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// smoothWeighted lays the backends out in the order smooth weighted round robin (nginx, IPVS
// wrr) would pick them over one cycle, so a weight's share is spread over the cycle rather than
// sent in a burst.
func smoothWeighted(live []dataplane.Backend) []netip.AddrPort {
	w := scaledWeights(live)
	total := 0
	for _, x := range w {
		total += x
	}
	current := make([]int, len(w))
	slots := make([]netip.AddrPort, 0, total)
	for range total {
		best := 0
		for i := range w {
			current[i] += w[i]
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		slots = append(slots, live[best].Addr)
	}
	return slots
}

// maglev fills a lookup table of size m the way Maglev hashing does (each backend walks its own
// permutation of the table and claims the first free entry, taking as many turns per round as
// its scaled weight), so that a change of one backend moves about that backend's share only.
//
// The backends are taken in the order of their addresses, so every node that has the same
// backends builds the same table whatever order its configuration lists them in.
func maglev(live []dataplane.Backend, m int) []netip.AddrPort {
	live = slices.SortedFunc(slices.Values(live), func(a, b dataplane.Backend) int { return a.Addr.Compare(b.Addr) })
	w := scaledWeights(live)
	offset := make([]int, len(live))
	skip := make([]int, len(live))
	next := make([]int, len(live))
	for i, b := range live {
		h1 := fnv.New64a()
		h1.Write([]byte(b.Addr.String()))
		h2 := fnv.New64()
		h2.Write([]byte(b.Addr.String()))
		offset[i] = int(h1.Sum64() % uint64(m))
		skip[i] = int(h2.Sum64()%uint64(m-1)) + 1
	}
	table := make([]int, m)
	for i := range table {
		table[i] = -1
	}
	filled := 0
	for filled < m {
		for i := range live {
			for turn := 0; turn < w[i] && filled < m; turn++ {
				for {
					c := (offset[i] + next[i]*skip[i]) % m
					next[i]++
					if table[c] < 0 {
						table[c] = i
						filled++
						break
					}
				}
			}
		}
	}
	slots := make([]netip.AddrPort, m)
	for i, b := range table {
		slots[i] = live[b].Addr
	}
	return slots
}
