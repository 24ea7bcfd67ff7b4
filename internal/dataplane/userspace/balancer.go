package userspace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// Options tune a Balancer. The zero value works: every zero field takes the default named in
// its comment.
type Options struct {
	// DialTimeout bounds one connection attempt to a backend (2s) unless the service sets its
	// own (dataplane.Service.ConnectTimeout). Without one, each attempt's timeout is derived
	// from the backend's recent connect times as TCP derives its retransmission timeout
	// (srtt + 4·rttvar; 1 s before the first), no shorter than MinDialTimeout and no longer
	// than DialTimeout, so that a silent backend costs a client a fraction of a second
	// before the next one is tried.
	DialTimeout time.Duration
	// MinDialTimeout is the shortest derived timeout (250ms): a connect on a LAN takes well
	// under a millisecond, but a loaded machine can be slow to notice it completed.
	MinDialTimeout time.Duration
	// DialAttempts is how many backends one new connection tries before it is refused (3),
	// unless the service sets its own (dataplane.Service.ConnectAttempts). The first is the
	// scheduler's pick; the next ones follow it in the service's backend order. The client's
	// connection stays open meanwhile.
	DialAttempts int
	// OnBackendFailure, when set, hears each connection to a real server that failed (passive
	// health): a connect refused, timed out or unreachable, a connection reset before the
	// backend's first byte, a UDP flow answered by ICMP unreachable. It is called on the
	// connection's goroutine and must not block.
	OnBackendFailure func(dataplane.BackendFailure)
	// TCPIdleTimeout is the default idle timeout of TCP connections (900s, IPVS's tcp timeout).
	// A connection silent both ways this long is closed, within twice this long.
	TCPIdleTimeout time.Duration
	// UDPIdleTimeout is the default idle timeout of UDP flows (300s, IPVS's udp timeout).
	UDPIdleTimeout time.Duration
	// DrainTimeout is how long Close lets established connections finish before it resets
	// them (0: reset at once).
	DrainTimeout time.Duration
	// MaglevTableSize is the mh lookup table size, one of Linux ip_vs_mh's primes (251, 509,
	// 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071); default 4093, Linux's default.
	MaglevTableSize int
	// MaxConn caps the connections (TCP) and flows (UDP) of every service together (0: no cap).
	// The supervisor sets it from the descriptor budget (internal/fdbudget): each TCP
	// connection holds two descriptors. At the cap listeners stop accepting until a connection
	// ends (new ones wait in the listen backlog) and new UDP flows are refused.
	MaxConn int
	// MaxUDPFlows bounds each UDP service's flow table (16384); datagrams of new flows past it
	// are dropped and counted as refused.
	MaxUDPFlows int
	// MaxDatagram is the UDP receive buffer per flow (9216 bytes); longer datagrams are cut.
	MaxDatagram int
	// MaxPersistence bounds each service's persistence table (1<<20 client addresses).
	MaxPersistence int
	// CopyBuffer is the size in bytes of the user-space buffer through which each direction
	// of a TCP connection moves its payload (16 KiB). On Linux a direction borrows its buffer
	// from a pool shared by the balancer only while a burst of data moves, so an idle
	// connection holds no buffer and two descriptors.
	CopyBuffer int
	// PlainCopy moves the payload with Go's Read and Write through a buffer owned by each
	// direction, on a goroutine per connection. Without it (and without Splice), on Linux, TCP
	// connections run on the balancer's event loops (loop_linux.go).
	PlainCopy bool
	// Loops is the number of event loops TCP connections run on (GOMAXPROCS when 0); a
	// connection stays on the loop that accepted it.
	Loops int
	// Splice moves TCP payload with splice(2) through a kernel pipe per direction instead of
	// a buffer. It saves a copy, which pays for large transfers, but costs more system calls
	// per burst and holds the pipe (two descriptors) per direction while a connection waits,
	// six descriptors per connection instead of two.
	Splice bool
	// Now is the clock for persistence; time.Now when nil.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.DialTimeout, 2*time.Second)
	def(&o.MinDialTimeout, 250*time.Millisecond)
	o.MinDialTimeout = min(o.MinDialTimeout, o.DialTimeout)
	def(&o.TCPIdleTimeout, 900*time.Second)
	def(&o.UDPIdleTimeout, 300*time.Second)
	defInt(&o.DialAttempts, 3)
	defInt(&o.MaglevTableSize, DefaultMaglevTableSize)
	defInt(&o.MaxUDPFlows, 16384)
	defInt(&o.MaxDatagram, 9216)
	defInt(&o.MaxPersistence, 1<<20)
	defInt(&o.CopyBuffer, 16<<10)
	defInt(&o.Loops, runtime.GOMAXPROCS(0))
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Balancer is the userspace data plane. It implements dataplane.Dataplane.
type Balancer struct {
	log  *slog.Logger
	opts Options

	// ctx is cancelled by Close; dials and loops watch it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts every goroutine the balancer started.
	wg sync.WaitGroup

	// bufs holds the CopyBuffer-sized buffers readiness loops borrow for one burst (*[]byte).
	bufs sync.Pool
	// gate is Options.MaxConn, shared by every service (nil: no cap).
	gate *gate
	// loops are the event loops TCP connections run on, started with the first listener
	// (eventLoops).
	loopMu sync.Mutex
	loops  []*evloop

	mu       sync.Mutex
	services map[string]*service
	// removed are services taken out by Remove whose connections may still be draining;
	// Close resets them too.
	removed []*service
	closed  bool
}

var _ dataplane.Dataplane = (*Balancer)(nil)

// New returns a Balancer with no services.
func New(logger *slog.Logger, opts Options) *Balancer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Balancer{
		log:      logger,
		opts:     opts.withDefaults(),
		ctx:      ctx,
		cancel:   cancel,
		services: make(map[string]*service),
		gate:     newGate(opts.MaxConn),
	}
	size := max(b.opts.CopyBuffer, 2)
	b.bufs.New = func() any {
		buf := make([]byte, size)
		return &buf
	}
	return b
}

// Apply implements dataplane.Dataplane.
func (b *Balancer) Apply(ctx context.Context, spec dataplane.Service) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if spec.Fwmark != 0 {
		// A proxy sees only the connections its sockets accept, never the marks of packets
		// routed past it.
		return fmt.Errorf("service %s: fwmark %d: userspace data plane cannot serve fwmark services (use nftables or ipvs)", spec.Name, spec.Fwmark)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("service %s: %w", spec.Name, err)
	}
	spec.Backends = slices.Clone(spec.Backends)
	if spec.Sorry != nil {
		sorry := *spec.Sorry
		spec.Sorry = &sorry
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("service %s: balancer closed", spec.Name)
	}
	if s, ok := b.services[spec.Name]; ok {
		return s.apply(spec)
	}
	s := newService(b, spec.Name)
	err := s.apply(spec)
	if err != nil && !errors.Is(err, dataplane.ErrIncomplete) {
		return err
	}
	b.services[spec.Name] = s
	return err
}

// Remove implements dataplane.Dataplane.
func (b *Balancer) Remove(ctx context.Context, name string) error {
	b.mu.Lock()
	s, ok := b.services[name]
	delete(b.services, name)
	if ok {
		b.removed = slices.DeleteFunc(b.removed, func(r *service) bool { return !anyActive([]*service{r}) })
		b.removed = append(b.removed, s)
	}
	b.mu.Unlock()
	if ok {
		s.stop(s.currentSpec().ShutdownSessions)
	}
	return nil
}

// MaxConn is the balancer's cap on connections and flows, 0 for none.
func (b *Balancer) MaxConn() int { return b.gate.max() }

// Addr returns the address service name listens on, which tells the port when the service
// asked for port 0.
func (b *Balancer) Addr(name string) (netip.AddrPort, bool) {
	b.mu.Lock()
	s, ok := b.services[name]
	b.mu.Unlock()
	if !ok {
		return netip.AddrPort{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return netip.AddrPort{}, false
	}
	return s.ln.bound, true
}

// Stats implements dataplane.Dataplane.
func (b *Balancer) Stats() []dataplane.ServiceStats {
	b.mu.Lock()
	list := make([]*service, 0, len(b.services))
	for _, s := range b.services {
		list = append(list, s)
	}
	b.mu.Unlock()
	out := make([]dataplane.ServiceStats, 0, len(list))
	for _, s := range list {
		out = append(out, s.stats())
	}
	slices.SortFunc(out, func(x, y dataplane.ServiceStats) int { return cmp.Compare(x.Name, y.Name) })
	return out
}

// Reconcile implements dataplane.Dataplane: a service whose listener is not open (it could not
// bind, or its loop ended) binds again.
func (b *Balancer) Reconcile(ctx context.Context) []dataplane.Repair {
	b.mu.Lock()
	list := make([]*service, 0, len(b.services))
	for _, s := range b.services {
		list = append(list, s)
	}
	b.mu.Unlock()
	slices.SortFunc(list, func(x, y *service) int { return cmp.Compare(x.name, y.name) })
	var out []dataplane.Repair
	for _, s := range list {
		if ctx.Err() != nil {
			break
		}
		if r, ok := s.reconcile(); ok {
			out = append(out, r)
		}
	}
	return out
}

// Close implements dataplane.Dataplane: it stops every listener, lets established connections
// run for Options.DrainTimeout, resets what is left and waits for every goroutine.
func (b *Balancer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	list := make([]*service, 0, len(b.services))
	for _, s := range b.services {
		list = append(list, s)
	}
	clear(b.services)
	list = append(list, b.removed...)
	b.removed = nil
	b.mu.Unlock()

	for _, s := range list {
		s.stopListening()
	}
	if b.opts.DrainTimeout > 0 {
		deadline := time.Now().Add(b.opts.DrainTimeout)
		for time.Now().Before(deadline) && anyActive(list) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.cancel()
	for _, s := range list {
		s.resetAll()
	}
	b.stopLoops()
	b.wg.Wait()
	return nil
}

func anyActive(list []*service) bool {
	for _, s := range list {
		for _, st := range s.stats().Backends {
			if st.Active > 0 {
				return true
			}
		}
	}
	return false
}

// errClosed marks loops ended by their owner.
var errClosed = errors.New("closed")

// table is one immutable decision state of a service; Apply swaps in a new one.
type table struct {
	picker  *picker
	sorry   *backend
	persist time.Duration
	// granularity is the prefix length persistence groups clients by (0: whole address).
	granularity int
	// hashPort adds the client port to the hash key (sh-port, mh-port).
	hashPort bool
	// eligible is the member set, for checking a persistence entry (nil without persistence).
	eligible map[*backend]struct{}
	// attempts is how many backends a new connection tries; connectTimeout bounds each
	// connect (0: derived from the backend's connect times).
	attempts       int
	connectTimeout time.Duration
}

// choose returns the backend for attempt number attempt of a new connection, or nil. first is
// the index the first attempt picked (-1 for the sorry server or persistence).
func (t *table) choose(aff *affinity, client netip.Addr, key uint64, now time.Time, attempt, first int) (*backend, int) {
	n := len(t.picker.members)
	if n == 0 {
		if attempt == 0 {
			return t.sorry, -1
		}
		return nil, -1
	}
	if attempt == 0 {
		if t.persist > 0 {
			if b := aff.lookup(t.affinityKey(client), now); b != nil {
				if _, ok := t.eligible[b]; ok {
					return b, -1
				}
			}
		}
		i := t.picker.pick(key)
		return t.picker.members[i], i
	}
	if attempt >= n {
		return nil, -1
	}
	i := (max(first, 0) + attempt) % n
	return t.picker.members[i], i
}

// affinityKey is the client address as persistence sees it: masked to the granularity.
func (t *table) affinityKey(client netip.Addr) netip.Addr {
	if t.granularity <= 0 || t.granularity >= client.BitLen() {
		return client
	}
	p, err := client.Prefix(t.granularity)
	if err != nil {
		return client
	}
	return p.Addr()
}
