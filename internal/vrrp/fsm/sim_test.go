package fsm

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The simulation: routers running Machines exchange adverts over a fake wire
// that delays each one by a random amount, driven by a discrete event queue.

type simKind uint8

const (
	evStartup simKind = iota
	evTimer
	evDeliver
	evFault
	evClear
	evPriority
	evRestart
)

type simEvent struct {
	at     time.Time
	seq    int
	kind   simKind
	router int
	gen    int    // evTimer: the router's timer generation it belongs to
	adv    Advert // evDeliver
	prio   int    // evPriority
}

type eventQueue []*simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type simRouter struct {
	cfg      Config
	m        *Machine
	timerGen int
	vips     bool // holds the virtual addresses
	masterN  int  // times it became master
}

type sim struct {
	t        *testing.T
	rng      *rand.Rand
	q        eventQueue
	seq      int
	routers  []*simRouter
	maxDelay time.Duration
	log      []string
}

func (s *sim) push(e *simEvent) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

func (s *sim) apply(now time.Time, i int, r Result) {
	rt := s.routers[i]
	for _, a := range r.Actions {
		switch a.Kind {
		case ActSendAdvert:
			for j := range s.routers {
				if j == i {
					continue
				}
				delay := time.Duration(s.rng.Int64N(int64(s.maxDelay) + 1))
				s.push(&simEvent{at: now.Add(delay), kind: evDeliver, router: j,
					adv: Advert{Priority: a.Priority, Src: rt.cfg.Addr, MaxAdvertInterval: rt.cfg.AdvertInterval}})
			}
		case ActAddVIPs:
			rt.vips = true
			rt.masterN++
		case ActRemoveVIPs:
			rt.vips = false
		}
	}
	interesting := false
	for _, a := range r.Actions {
		interesting = interesting || a.Kind != ActSendAdvert
	}
	if interesting && len(s.log) < 200 {
		s.log = append(s.log, fmt.Sprintf("%8v r%d %-7v %s", now.Sub(t0), i, r.State, show(r)))
	}
	rt.timerGen++
	if !r.Deadline.IsZero() {
		s.push(&simEvent{at: r.Deadline, kind: evTimer, router: i, gen: rt.timerGen})
	}
}

// run processes events until the given time.
func (s *sim) run(until time.Time) {
	for s.q.Len() > 0 && !s.q[0].at.After(until) {
		e := heap.Pop(&s.q).(*simEvent)
		rt := s.routers[e.router]
		var r Result
		switch e.kind {
		case evStartup:
			r = rt.m.Startup(e.at)
		case evTimer:
			if e.gen != rt.timerGen {
				continue
			}
			r = rt.m.Timer(e.at)
		case evDeliver:
			r = rt.m.Advert(e.at, e.adv)
		case evFault:
			r = rt.m.Fault(e.at)
		case evClear:
			r = rt.m.FaultCleared(e.at)
		case evPriority:
			r = rt.m.SetPriority(e.at, e.prio)
		case evRestart:
			s.apply(e.at, e.router, rt.m.Shutdown(e.at))
			m, err := New(rt.cfg)
			if err != nil {
				s.t.Fatal(err)
			}
			rt.m = m
			r = m.Startup(e.at)
		}
		s.apply(e.at, e.router, r)
	}
}

func (s *sim) masters() []int {
	var out []int
	for i, rt := range s.routers {
		if rt.m.State() == Master {
			out = append(out, i)
		}
	}
	return out
}

func (s *sim) describe() string {
	var b strings.Builder
	for i, rt := range s.routers {
		c := rt.m.Config()
		fmt.Fprintf(&b, "r%d: v%d prio %d (eff %d) %v int %v initial %v nopreempt %v delay %v state %v\n",
			i, c.Version, c.Priority, rt.m.Priority(), c.Addr, c.AdvertInterval, c.InitialState, c.Nopreempt, c.PreemptDelay, rt.m.State())
	}
	b.WriteString(strings.Join(s.log, "\n"))
	return b.String()
}

// TestRandomizedRoutersElectExactlyOneMaster simulates two or three routers
// with random versions, intervals, priorities (ties included), initial
// states, start times, faults, priority changes and restarts, over a wire
// with random delays. Once the disturbances stop and a few master down
// intervals pass, exactly one router must be master, only the master may
// hold the addresses, and under preempt it must have the highest effective
// priority.
func TestRandomizedRoutersElectExactlyOneMaster(t *testing.T) {
	scenarios := 2000
	if testing.Short() {
		scenarios = 200
	}
	for seed := range uint64(scenarios) {
		runScenario(t, seed)
		if t.Failed() {
			return
		}
	}
}

func runScenario(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	n := 2 + rng.IntN(2)
	version := uint8(2 + rng.IntN(2))
	ipv6 := version == 3 && rng.IntN(2) == 0
	preemptAll := rng.IntN(3) != 0
	s := &sim{t: t, rng: rng}
	maxInterval := time.Duration(0)
	v2Interval := time.Duration(1+rng.IntN(2)) * time.Second
	for i := range n {
		cfg := Config{Version: version, Priority: uint8(1 + rng.IntN(254))}
		if rng.IntN(4) == 0 && i > 0 {
			cfg.Priority = s.routers[0].cfg.Priority // a tie
		}
		if i == 0 && rng.IntN(8) == 0 {
			cfg.Priority = 255
		}
		if version == 2 {
			cfg.AdvertInterval = v2Interval
		} else {
			cfg.AdvertInterval = time.Duration(10+rng.IntN(100)) * 10 * time.Millisecond
		}
		maxInterval = max(maxInterval, cfg.AdvertInterval)
		if ipv6 {
			cfg.Addr = netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 14: byte(rng.IntN(256)), 15: byte(i)})
		} else {
			cfg.Addr = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i + 10*rng.IntN(20))})
		}
		if rng.IntN(2) == 0 {
			cfg.InitialState = Master
		} else {
			cfg.InitialState = Backup
		}
		if !preemptAll && rng.IntN(2) == 0 {
			cfg.Nopreempt = true
		}
		if rng.IntN(3) == 0 {
			cfg.PreemptDelay = time.Duration(rng.IntN(5000)) * time.Millisecond
		}
		cfg.LowerPrioNoAdvert = rng.IntN(4) == 0
		cfg.HigherPrioSendAdvert = rng.IntN(4) == 0
		m, err := New(cfg)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		s.routers = append(s.routers, &simRouter{cfg: cfg, m: m})
	}
	// Wire delays up to a tenth of the shortest interval: long enough for
	// two backups to both time out and meet as masters.
	minInterval := s.routers[0].cfg.AdvertInterval
	for _, rt := range s.routers {
		minInterval = min(minInterval, rt.cfg.AdvertInterval)
	}
	s.maxDelay = time.Duration(rng.Int64N(int64(minInterval/10) + 1))
	for i := range n {
		s.push(&simEvent{at: t0.Add(time.Duration(rng.IntN(3000)) * time.Millisecond), kind: evStartup, router: i})
	}
	disturb := 20 * time.Second
	for range rng.IntN(6) {
		i := rng.IntN(n)
		start := t0.Add(time.Duration(rng.Int64N(int64(disturb))))
		switch rng.IntN(3) {
		case 0:
			s.push(&simEvent{at: start, kind: evFault, router: i})
			s.push(&simEvent{at: start.Add(time.Duration(rng.IntN(4000)) * time.Millisecond), kind: evClear, router: i})
		case 1:
			s.push(&simEvent{at: start, kind: evPriority, router: i, prio: rng.IntN(300) - 20})
		case 2:
			s.push(&simEvent{at: start, kind: evRestart, router: i})
		}
	}
	// Faults are cleared by disturb+4s; then let five maximal master down
	// intervals and the longest preempt delay pass (twice over for a delay
	// that restarts).
	settle := t0.Add(disturb + 4*time.Second + 5*(3*maxInterval+maxInterval) + 2*5*time.Second)
	s.run(settle)
	end := settle.Add(5 * maxInterval)
	for now := settle; !now.After(end); now = now.Add(maxInterval / 4) {
		s.run(now)
		ms := s.masters()
		if len(ms) != 1 {
			t.Fatalf("seed %d at %v: masters %v, want exactly one\n%s", seed, now.Sub(t0), ms, s.describe())
		}
		for i, rt := range s.routers {
			if rt.vips != (i == ms[0]) {
				t.Fatalf("seed %d at %v: r%d holds VIPs %v but master is r%d\n%s", seed, now.Sub(t0), i, rt.vips, ms[0], s.describe())
			}
		}
		if preemptAll {
			// A backup accepts an equal priority master whatever its
			// address (the address only breaks ties between two masters),
			// so among equal highest priorities any may win.
			best := uint8(0)
			for _, rt := range s.routers {
				best = max(best, rt.m.Priority())
			}
			if got := s.routers[ms[0]].m.Priority(); got != best {
				t.Fatalf("seed %d at %v: master r%d has priority %d, want the highest, %d\n%s", seed, now.Sub(t0), ms[0], got, best, s.describe())
			}
		}
	}
}

// TestSimultaneousEqualPriorityMastersResolveToHigherAddress starts two
// routers with equal priority at the same instant on a wire without delay:
// both time out together, both become master, and on hearing each other the
// one with the lower address yields.
func TestSimultaneousEqualPriorityMastersResolveToHigherAddress(t *testing.T) {
	for _, ipv6 := range []bool{false, true} {
		s := &sim{t: t, rng: rand.New(rand.NewPCG(1, 2))}
		for i, a := range []string{"192.0.2.20", "192.0.2.3"} {
			cfg := Config{Version: 3, Priority: 100, AdvertInterval: time.Second, Addr: netip.MustParseAddr(a)}
			if ipv6 {
				cfg.Addr = netip.MustParseAddr([]string{"fe80::20", "fe80::3"}[i])
			}
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.routers = append(s.routers, &simRouter{cfg: cfg, m: m})
			s.push(&simEvent{at: t0, kind: evStartup, router: i})
		}
		s.run(t0.Add(10 * time.Second))
		if s.routers[0].masterN != 1 || s.routers[1].masterN != 1 {
			t.Fatalf("ipv6=%v: became master %d and %d times, want both once\n%s", ipv6, s.routers[0].masterN, s.routers[1].masterN, s.describe())
		}
		if ms := s.masters(); len(ms) != 1 || ms[0] != 0 {
			t.Fatalf("ipv6=%v: masters %v, want only r0 (the higher address)\n%s", ipv6, ms, s.describe())
		}
	}
}

// TestHighestPriorityPreemptsAfterStartingLate starts a low priority router
// first; when the high priority one starts it ignores the lower adverts,
// takes over after its master down interval, and the first yields.
func TestHighestPriorityPreemptsAfterStartingLate(t *testing.T) {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(3, 4)), maxDelay: time.Millisecond}
	for i, p := range []uint8{50, 200} {
		cfg := Config{Version: 2, Priority: p, AdvertInterval: time.Second, Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)})}
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.routers = append(s.routers, &simRouter{cfg: cfg, m: m})
	}
	s.push(&simEvent{at: t0, kind: evStartup, router: 0})
	s.push(&simEvent{at: t0.Add(10 * time.Second), kind: evStartup, router: 1})
	s.run(t0.Add(10 * time.Second))
	if ms := s.masters(); len(ms) != 1 || ms[0] != 0 {
		t.Fatalf("masters %v before r1 starts, want r0\n%s", ms, s.describe())
	}
	// r1's master down interval is 3s + 56/256 s.
	s.run(t0.Add(13*time.Second + 218*time.Millisecond))
	if ms := s.masters(); len(ms) != 1 || ms[0] != 0 {
		t.Fatalf("masters %v just before r1's master down interval, want r0\n%s", ms, s.describe())
	}
	s.run(t0.Add(13*time.Second + 230*time.Millisecond))
	if ms := s.masters(); len(ms) != 1 || ms[0] != 1 {
		t.Fatalf("masters %v after r1 took over, want r1\n%s", ms, s.describe())
	}
}
