package userspace

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// service is one virtual service: its listener, its backends' live state and its current table.
type service struct {
	bal  *Balancer
	name string

	tbl     atomic.Pointer[table]
	aff     *affinity
	refused atomic.Uint64
	// refusedOverloaded, refusedFull and refusedDescriptors say why some of refused were
	// (dataplane.ServiceStats); paused counts the waits for a place under a cap.
	refusedOverloaded, refusedFull, refusedDescriptors, paused atomic.Uint64
	// idle is the effective idle timeout in nanoseconds, read by connections.
	idle atomic.Int64
	// gate is the service's own cap (nil: none); Apply swaps it when MaxConn changes.
	gate atomic.Pointer[gate]
	// conns are the connections and flows holding a place now.
	conns atomic.Int64
	caps  *capLog

	// mu serialises apply, stop and stats, and guards the fields below.
	mu       sync.Mutex
	spec     dataplane.Service
	sched    dataplane.Scheduler
	applied  bool
	backends map[netip.AddrPort]*backend // in the set, and draining ones
	sorry    *backend
	// retired are replaced sorry servers that still have connections.
	retired []*backend
	// gone adds up the counts of the backends that left (the service's totals go on from
	// them), and left keeps each one's by address, so that a server that fails and returns
	// goes on from its own; at most maxLeft addresses are kept.
	gone  counts
	left  map[netip.AddrPort]counts
	ln    *listener
	flows *flowTable // UDP only
	// listenErr is why the service has no listener (ln nil) although its spec wants one; a
	// retry is due at rebind, with the backoff in rebindIn.
	listenErr error
	rebind    *time.Timer
	rebindIn  time.Duration
	// stopped is set by stop: nothing may bind again.
	stopped bool
}

// listener is one bound socket and the goroutine reading it.
type listener struct {
	proto dataplane.Protocol
	addr  netip.AddrPort // as configured
	bound netip.AddrPort // as bound (differs when the configured port is 0)
	tcp   *net.TCPListener
	udp   *net.UDPConn
	// lfd is the listening socket the event loops accept on (tcp and udp nil), detach takes
	// it out of them and closes it.
	lfd    int
	detach func()
	done   chan struct{}
	// stop is closed first by close: an accept loop waiting for a place under a cap gives up.
	stop chan struct{}
}

func (l *listener) close() {
	close(l.stop)
	switch {
	case l.detach != nil:
		l.detach()
	case l.tcp != nil:
		l.tcp.Close()
	default:
		l.udp.Close()
	}
	<-l.done
}

func newService(b *Balancer, name string) *service {
	return &service{
		bal:      b,
		name:     name,
		aff:      newAffinity(b.opts.MaxPersistence),
		backends: make(map[netip.AddrPort]*backend),
		caps:     newCapLog(b.log, b.opts.Now),
	}
}

func (s *service) currentSpec() dataplane.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spec
}

// apply moves the service to spec. Nothing changes if it fails.
func (s *service) apply(spec dataplane.Service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applied && s.spec.Equal(spec) {
		if s.ln == nil && s.listenErr != nil {
			return fmt.Errorf("%w: %w", s.listenErr, dataplane.ErrIncomplete)
		}
		return nil
	}
	sched, fallback, _ := dataplane.Effective(spec.Scheduler)

	// Build the new state beside the old one.
	states := make(map[netip.AddrPort]*backend, len(spec.Backends))
	var members []*backend
	var weights []int
	for _, be := range spec.Backends {
		st := s.backends[be.Addr]
		if st == nil {
			st = newBackend(be.Addr, false)
			if c, ok := s.left[be.Addr]; ok {
				st.resume(c)
				s.gone.sub(c)
				delete(s.left, be.Addr)
			}
		}
		states[be.Addr] = st
		if be.Weight > 0 {
			members = append(members, st)
			weights = append(weights, be.Weight)
		}
	}
	p, err := newPicker(sched, members, weights, s.bal.opts.MaglevTableSize)
	if err != nil {
		return fmt.Errorf("service %s: %w", spec.Name, err)
	}
	t := &table{picker: p, persist: spec.Persistence, hashPort: spec.HashPort, granularity: spec.PersistenceGranularity,
		attempts: cmp.Or(spec.ConnectAttempts, s.bal.opts.DialAttempts), connectTimeout: spec.ConnectTimeout}
	var sorry *backend
	if spec.Sorry != nil {
		sorry = s.sorry
		if sorry == nil || sorry.addr != spec.Sorry.Addr {
			sorry = newBackend(spec.Sorry.Addr, true)
		}
		t.sorry = sorry
	}
	if spec.Persistence > 0 {
		t.eligible = make(map[*backend]struct{}, len(members))
		for _, m := range members {
			t.eligible[m] = struct{}{}
		}
	}

	// Bind before anything is visible. A listener that cannot bind does not keep the rest of
	// the state from being taken: the service waits for its address (retried with backoff and
	// at every Reconcile) with its table ready, and says so in Stats.
	var newLn *listener
	var bindErr error
	if s.ln == nil || s.ln.addr != spec.Listen || s.ln.proto != spec.Protocol {
		newLn, bindErr = s.bind(spec)
	}

	idle := spec.IdleTimeout
	if idle <= 0 {
		idle = s.bal.opts.TCPIdleTimeout
		if spec.Protocol == dataplane.UDP {
			idle = s.bal.opts.UDPIdleTimeout
		}
	}
	s.idle.Store(int64(idle))

	// Admission follows the new table: a backend it names accepts before it is visible, so
	// that a connection that read it is not refused at its admission (with a choice that is
	// quick to retry, that could use up its rounds); from the swap on, no connection
	// registers with a backend that is out or at weight 0.
	weightOf := make(map[netip.AddrPort]int, len(spec.Backends))
	for _, be := range spec.Backends {
		weightOf[be.Addr] = be.Weight
	}
	for _, be := range spec.Backends {
		states[be.Addr].setThresholds(be.UThreshold, be.LThreshold)
	}
	for addr, st := range states {
		if weightOf[addr] > 0 {
			st.setAccepting(true, true, false, weightOf[addr])
		}
	}
	if sorry != nil && len(members) == 0 {
		sorry.setAccepting(true, true, false, 0)
	}
	s.tbl.Store(t)
	for addr, st := range states {
		if weightOf[addr] <= 0 {
			st.setAccepting(false, true, false, 0)
		}
	}
	if old := s.gate.Load(); old.max() != spec.MaxConn {
		s.gate.Store(newGate(spec.MaxConn))
		if old != nil {
			close(old.retired) // a listener waiting on it moves to the new cap
		}
	}
	for addr, st := range s.backends {
		if _, ok := states[addr]; ok {
			continue
		}
		st.setAccepting(false, false, spec.ShutdownSessions, 0)
		if st.active.Load() > 0 {
			states[addr] = st // draining: keep for stats and a possible return
		} else {
			s.leave(st)
		}
	}
	if s.sorry != nil && s.sorry != sorry {
		s.sorry.setAccepting(false, false, spec.ShutdownSessions, 0)
		if s.sorry.active.Load() > 0 {
			s.retired = append(s.retired, s.sorry)
		} else {
			s.gone.add(s.sorry.counts())
		}
	}
	if sorry != nil && len(members) > 0 {
		sorry.setAccepting(false, true, false, 0)
	}
	if spec.Persistence > 0 {
		s.aff.keepOnly(func(b *backend) bool { _, ok := t.eligible[b]; return ok })
	}

	oldLn := s.ln
	rebound := newLn != nil || bindErr != nil
	if rebound {
		s.ln = newLn
	}
	s.backends, s.sorry = states, sorry
	s.spec, s.sched, s.applied = spec, sched, true
	if rebound && oldLn != nil {
		s.closeListener(oldLn)
	}
	if newLn != nil {
		s.start(newLn)
		s.listening()
	}
	s.bal.log.Info("service applied", "vs", spec.Name, "listen", spec.Listen, "proto", spec.Protocol,
		"sched", sched, "fallback", fallback, "backends", len(spec.Backends), "eligible", len(members),
		"rebound", newLn != nil)
	if bindErr != nil {
		s.notListening(bindErr)
		return fmt.Errorf("%w: %w", bindErr, dataplane.ErrIncomplete)
	}
	return nil
}

// closeListener closes a listener the service no longer uses; called with s.mu held.
func (s *service) closeListener(l *listener) {
	l.close()
	if l.proto == dataplane.UDP && s.flows != nil {
		// Old flows reply through the old socket; they cannot outlive it.
		s.flows.resetListener(l.udp)
	}
}

// Backoff of a listener that cannot bind: the first retry comes soon (an address that is being
// added), later ones no more often than rebindMax.
const (
	rebindFirst = 100 * time.Millisecond
	rebindMax   = 5 * time.Second
)

// notListening records why the service has no listener and schedules a retry; s.mu is held.
func (s *service) notListening(err error) {
	if s.listenErr == nil || s.listenErr.Error() != err.Error() {
		s.bal.log.Error("virtual service not listening; retrying", "vs", s.name, "err", err)
	}
	s.listenErr = err
	s.rebindIn = min(max(2*s.rebindIn, rebindFirst), rebindMax)
	if s.rebind == nil {
		s.rebind = time.AfterFunc(s.rebindIn, s.retryListen)
	} else {
		s.rebind.Reset(s.rebindIn)
	}
}

// listening clears what notListening recorded once a listener runs; s.mu is held.
func (s *service) listening() {
	if s.listenErr != nil {
		s.bal.log.Info("virtual service listening again", "vs", s.name, "listen", s.spec.Listen)
	}
	s.listenErr, s.rebindIn = nil, 0
	if s.rebind != nil {
		s.rebind.Stop()
	}
}

// retryListen is the rebind timer's: one more try at the listener.
func (s *service) retryListen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.relistenLocked()
}

// relistenLocked binds the spec's listener if the service has none (or its loop ended), and
// reports what it found: "" when the listener was in place, else the drift and the bind error
// (nil once bound again). s.mu is held.
func (s *service) relistenLocked() (drift string, err error) {
	if s.stopped || !s.applied || s.bal.ctx.Err() != nil {
		return "", nil
	}
	if l := s.ln; l != nil {
		select {
		case <-l.done:
			// The loop ended although nobody closed the listener: it cannot accept again.
			s.ln = nil
			s.closeListener(l)
			drift = "listener on " + s.spec.Listen.String() + " stopped accepting"
		default:
			return "", nil
		}
	} else {
		drift = "not listening on " + s.spec.Listen.String()
		if s.listenErr != nil {
			drift += " (" + s.listenErr.Error() + ")"
		}
	}
	l, err := s.bind(s.spec)
	if err != nil {
		s.notListening(err)
		return drift, err
	}
	s.ln = l
	s.start(l)
	s.listening()
	return drift, nil
}

// reconcile is Reconcile for one service.
func (s *service) reconcile() (dataplane.Repair, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	drift, err := s.relistenLocked()
	if drift == "" {
		return dataplane.Repair{}, false
	}
	return dataplane.Repair{Service: s.name, Drift: drift, Err: err}, true
}

func (s *service) bind(spec dataplane.Service) (*listener, error) {
	l := &listener{proto: spec.Protocol, addr: spec.Listen, lfd: -1, done: make(chan struct{}), stop: make(chan struct{})}
	lc := net.ListenConfig{Control: freebind}
	ctx := s.bal.ctx
	if spec.Protocol == dataplane.TCP {
		ln, err := lc.Listen(ctx, "tcp", spec.Listen.String())
		if err != nil {
			return nil, err
		}
		tl := ln.(*net.TCPListener)
		l.bound = tl.Addr().(*net.TCPAddr).AddrPort()
		if !s.bal.useLoops() {
			l.tcp = tl
			return l, nil
		}
		if _, err := s.bal.eventLoops(); err != nil {
			tl.Close()
			return nil, err
		}
		if err := listenLoops(l, tl); err != nil {
			return nil, err
		}
	} else {
		pc, err := lc.ListenPacket(ctx, "udp", spec.Listen.String())
		if err != nil {
			return nil, err
		}
		l.udp = pc.(*net.UDPConn)
		l.bound = l.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	return l, nil
}

// start runs the listener's loop; called with s.mu held.
func (s *service) start(l *listener) {
	if l.lfd >= 0 {
		if err := s.startLoops(l); err != nil {
			// Only when the balancer is closing: nothing accepts on it again.
			s.bal.log.Error("userspace data plane: cannot start accepting", "vs", s.name, "err", err)
		}
		return
	}
	s.bal.wg.Add(1)
	if l.tcp != nil {
		go s.acceptLoop(l)
		return
	}
	if s.flows == nil {
		s.flows = newFlowTable(s.bal.opts.MaxUDPFlows)
	}
	go s.udpLoop(l)
}

// stopListening closes the listener and waits for its loop.
func (s *service) stopListening() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.stopped = true
	if s.rebind != nil {
		s.rebind.Stop()
	}
	s.mu.Unlock()
	if ln != nil {
		ln.close()
	}
}

// stop ends the service: no more listening, no more admissions; established sessions are
// reset with cut (UDP flows always are: their replies went through the listener).
func (s *service) stop(cut bool) {
	s.stopListening()
	s.mu.Lock()
	all := make([]*backend, 0, len(s.backends)+1)
	for _, st := range s.backends {
		all = append(all, st)
	}
	if s.sorry != nil {
		all = append(all, s.sorry)
	}
	all = append(all, s.retired...)
	udp := s.spec.Protocol == dataplane.UDP
	s.mu.Unlock()
	for _, st := range all {
		st.setAccepting(false, false, cut || udp, 0)
	}
}

func (s *service) resetAll() { s.stop(true) }

func (s *service) stats() dataplane.ServiceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := dataplane.ServiceStats{
		Name:      s.name,
		Protocol:  s.spec.Protocol,
		Listen:    s.spec.Listen,
		Scheduler: s.sched,
		Refused:   s.refused.Load(),

		RefusedOverloaded:  s.refusedOverloaded.Load(),
		RefusedFull:        s.refusedFull.Load(),
		RefusedDescriptors: s.refusedDescriptors.Load(),
		Conns:              s.conns.Load(),
		MaxConn:            s.spec.MaxConn,
		Paused:             s.paused.Load(),
	}
	if s.ln == nil && s.listenErr != nil {
		out.NotServing = s.listenErr.Error() + " (retrying)"
	}
	inSet := make(map[netip.AddrPort]bool, len(s.spec.Backends))
	t := s.tbl.Load()
	for _, be := range s.spec.Backends {
		inSet[be.Addr] = true
		if st := s.backends[be.Addr]; st != nil {
			bs := st.stats()
			if s.spec.Protocol == dataplane.TCP {
				bs.ConnectTimeout = s.connectTimeout(t, st)
			}
			out.Backends = append(out.Backends, bs)
		}
	}
	var draining []dataplane.BackendStats
	for addr, st := range s.backends {
		if inSet[addr] {
			continue
		}
		if st.active.Load() == 0 {
			delete(s.backends, addr)
			s.leave(st)
			continue
		}
		draining = append(draining, st.stats())
	}
	slices.SortFunc(draining, func(x, y dataplane.BackendStats) int { return cmp.Compare(x.Addr.String(), y.Addr.String()) })
	out.Backends = append(out.Backends, draining...)
	if s.sorry != nil {
		out.Backends = append(out.Backends, s.sorry.stats())
	}
	s.retired = slices.DeleteFunc(s.retired, func(b *backend) bool {
		if b.active.Load() == 0 {
			s.gone.add(b.counts())
			return true
		}
		return false
	})
	for _, b := range s.retired {
		out.Backends = append(out.Backends, b.stats())
	}
	out.SumBackends()
	out.Total += s.gone.total
	out.BytesIn += s.gone.bytesIn
	out.BytesOut += s.gone.bytesOut
	for addr, c := range s.left {
		out.Departed = append(out.Departed, dataplane.BackendStats{
			Addr: addr, Total: c.total, BytesIn: c.bytesIn, BytesOut: c.bytesOut, DialFailures: c.dialFail,
		})
	}
	slices.SortFunc(out.Departed, func(x, y dataplane.BackendStats) int { return x.Addr.Compare(y.Addr) })
	return out
}

// maxLeft bounds how many departed backends' counts a service keeps by address: members
// found in DNS may come and go without end.
const maxLeft = 4096

// leave keeps the counts of a backend that left the service for good (no connection left):
// in the service's totals, and by address for its return. Called with s.mu held.
func (s *service) leave(b *backend) {
	c := b.counts()
	s.gone.add(c)
	if s.left == nil {
		s.left = make(map[netip.AddrPort]counts)
	}
	if _, ok := s.left[b.addr]; ok || len(s.left) < maxLeft {
		s.left[b.addr] = c
	}
}

// pickAndAdmit chooses a backend for a new session from client and admits sess with it via
// open, which connects to the backend within the timeout it is given; drop undoes open when
// the backend stopped accepting before the session could be admitted. A connect that fails
// counts against its backend (passive health) and the next backend is tried, up to the
// table's attempts (redispatch). It returns nil when nothing could take the session,
// and the persistence hold the session must give back with releaseAffinity when it ends. The
// backend returned holds a place under its thresholds, which the session gives back with
// backend.release when it ends. An overloaded backend is passed over for the next in order,
// as IPVS's schedulers pass over an overloaded destination, without counting as an attempt.
// The event loop (loop_linux.go) walks the same steps through picking without blocking.
func (s *service) pickAndAdmit(clientAP netip.AddrPort, sess session, open func(*backend, time.Duration) error, drop func()) (*backend, affinityHold) {
	var p picking
	p.start(s, clientAP)
	for {
		b, timeout := p.next()
		if b == nil {
			break
		}
		if err := open(b, timeout); err != nil {
			if !p.failed(b, err) {
				break
			}
			continue
		}
		hold, ok := p.admitted(b, sess)
		if !ok {
			drop()
			continue
		}
		return b, hold
	}
	p.refuse()
	return nil, affinityHold{}
}

// picking is the choice of a backend for one new session, step by step: next names the
// backend to connect to, failed or admitted says how the connect went, refuse ends a choice
// that found nothing.
type picking struct {
	s        *service
	clientAP netip.AddrPort
	key      uint64
	// t is the table of the current attempt, now the time it read.
	t   *table
	now time.Time
	// Each round reads the current table; a backend that stopped accepting between the read
	// and the admission costs one round, an overloaded one too.
	attempt, round, rounds, first, dials, overloaded int
	lastErr                                          error
}

func (p *picking) start(s *service, clientAP netip.AddrPort) {
	t0 := s.tbl.Load()
	*p = picking{s: s, clientAP: clientAP, key: addrKey(clientAP.Addr()), first: -1,
		rounds: len(t0.picker.members) + t0.attempts + 2}
}

// next returns the backend to connect to next, holding a place under its thresholds, and the
// connect's timeout; nil when none is left.
func (p *picking) next() (*backend, time.Duration) {
	client := p.clientAP.Addr()
	for p.round < p.rounds {
		p.round++
		t := p.s.tbl.Load()
		if p.attempt == 0 && t.hashPort {
			p.key = mix64(addrKey(client) ^ uint64(p.clientAP.Port()))
		}
		p.now = p.s.bal.opts.Now()
		b, idx := t.choose(p.s.aff, client, p.key, p.now, p.attempt, p.first)
		if b == nil {
			return nil, 0
		}
		if p.attempt == 0 {
			p.first = idx
		}
		p.attempt++
		if !b.admit() {
			p.overloaded++
			continue
		}
		p.t = t
		return b, p.s.connectTimeout(t, b)
	}
	return nil, 0
}

// failed records that the connect to b that next asked for failed with err, counting it
// against b, and reports whether another backend may be tried.
func (p *picking) failed(b *backend, err error) bool {
	b.release()
	b.dialFail.Add(1)
	p.lastErr = err
	p.s.bal.log.Debug("backend connect failed", "vs", p.s.name, "rs", b.addr, "err", err)
	p.s.connectFailed(b, err)
	p.dials++
	return p.dials < p.t.attempts
}

// admitted registers sess with b, connected, and returns its persistence hold. It reports
// false when b stopped accepting meanwhile: the caller undoes the connection and asks next
// again, which starts over with the current table.
func (p *picking) admitted(b *backend, sess session) (affinityHold, bool) {
	if !b.register(sess) {
		b.release()
		p.attempt, p.first = 0, -1
		return affinityHold{}, false
	}
	var hold affinityHold
	if t := p.t; t.persist > 0 && !b.sorry {
		hold = affinityHold{key: t.affinityKey(p.clientAP.Addr()), ttl: t.persist, held: true}
		p.s.aff.acquire(hold.key, b, p.now, hold.ttl)
	}
	return hold, true
}

// refuse counts the session as refused: nothing could take it.
func (p *picking) refuse() {
	s := p.s
	s.refused.Add(1)
	switch {
	case outOfDescriptors(p.lastErr):
		s.refusedDescriptors.Add(1)
		s.caps.warn("descriptors", "connection refused: out of file descriptors", "vs", s.name, "err", p.lastErr)
	case p.overloaded > 0 && p.dials == 0:
		s.refusedOverloaded.Add(1)
		s.caps.warn("overloaded", "connection refused: every real server that could take it is at its uthreshold", "vs", s.name, "overloaded", p.overloaded)
	}
}

// outOfDescriptors reports whether err is the process's (EMFILE) or the system's (ENFILE)
// descriptor limit.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// affinityHold is a session's share of a persistence entry.
type affinityHold struct {
	key  netip.Addr
	ttl  time.Duration
	held bool
}

// releaseAffinity gives back a session's hold on its persistence entry when it ends.
func (s *service) releaseAffinity(h affinityHold, b *backend) {
	if h.held {
		s.aff.release(h.key, b, s.bal.opts.Now(), h.ttl)
	}
}

func (s *service) idleTimeout() time.Duration { return time.Duration(s.idle.Load()) }
