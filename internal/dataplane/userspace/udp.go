package userspace

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// flowTable maps a client address to its UDP flow, bounded.
type flowTable struct {
	mu    sync.RWMutex
	flows map[netip.AddrPort]*udpFlow
	max   int
}

func newFlowTable(max int) *flowTable {
	return &flowTable{flows: make(map[netip.AddrPort]*udpFlow), max: max}
}

func (ft *flowTable) get(k netip.AddrPort) *udpFlow {
	ft.mu.RLock()
	defer ft.mu.RUnlock()
	return ft.flows[k]
}

// add inserts f unless the table is full.
func (ft *flowTable) add(f *udpFlow) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.flows) >= ft.max {
		return false
	}
	ft.flows[f.client] = f
	return true
}

func (ft *flowTable) remove(f *udpFlow) {
	ft.mu.Lock()
	if ft.flows[f.client] == f {
		delete(ft.flows, f.client)
	}
	ft.mu.Unlock()
}

// resetListener ends the flows that reply through ln.
func (ft *flowTable) resetListener(ln *net.UDPConn) {
	ft.mu.RLock()
	var victims []*udpFlow
	for _, f := range ft.flows {
		if f.ln == ln {
			victims = append(victims, f)
		}
	}
	ft.mu.RUnlock()
	for _, f := range victims {
		f.reset()
	}
}

// udpFlow is one client address's conversation with one backend, through a connected socket.
type udpFlow struct {
	client netip.AddrPort
	ln     *net.UDPConn
	conn   *net.UDPConn
	last   atomic.Int64 // unix nanoseconds of the last datagram either way
	// backend is set once the flow is admitted.
	backend atomic.Pointer[backend]
	dead    atomic.Bool
}

func (f *udpFlow) reset() {
	f.dead.Store(true)
	if f.conn != nil {
		f.conn.Close()
	}
}

func (s *service) udpLoop(l *listener) {
	defer s.bal.wg.Done()
	defer close(l.done)
	buf := make([]byte, s.bal.opts.MaxDatagram)
	for {
		n, from, err := l.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		f := s.flows.get(from)
		if f == nil || f.dead.Load() {
			if f = s.newFlow(l.udp, from); f == nil {
				continue
			}
		}
		f.last.Store(time.Now().UnixNano())
		if _, err := f.conn.Write(buf[:n]); err == nil {
			f.b().bytesIn.Add(uint64(n))
		}
	}
}

func (f *udpFlow) b() *backend { return f.backend.Load() }

func (s *service) newFlow(ln *net.UDPConn, client netip.AddrPort) *udpFlow {
	// A datagram cannot wait in a backlog: a new flow past a cap is refused.
	vs, all := s.gate.Load(), s.bal.gate
	if !vs.tryTake() {
		s.refuseFull(client, "virtual service at its maxconn", vs.max())
		return nil
	}
	if !all.tryTake() {
		vs.put()
		s.refuseFull(client, "data plane at its global maxconn", all.max())
		return nil
	}
	place := slot{vs: vs, all: all}
	f := s.admitFlow(ln, client, place)
	if f == nil {
		place.release()
	}
	return f
}

// refuseFull counts and logs a new UDP flow refused at a cap.
func (s *service) refuseFull(client netip.AddrPort, why string, maxconn int) {
	s.refused.Add(1)
	s.refusedFull.Add(1)
	s.caps.warn("udp maxconn", "UDP flow refused: "+why, "vs", s.name, "maxconn", maxconn, "client", client)
}

// admitFlow makes the flow for client, holding place, or returns nil.
func (s *service) admitFlow(ln *net.UDPConn, client netip.AddrPort, place slot) *udpFlow {
	f := &udpFlow{client: client, ln: ln}
	b, hold := s.pickAndAdmit(client, f,
		func(b *backend, _ time.Duration) error {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(b.addr))
			if err != nil {
				return err
			}
			f.conn = c
			return nil
		},
		func() { f.conn.Close(); f.conn = nil })
	if b == nil {
		return nil
	}
	f.backend.Store(b)
	if !s.flows.add(f) {
		s.releaseAffinity(hold, b)
		b.unregister(f)
		f.reset()
		s.refused.Add(1)
		return nil
	}
	f.last.Store(time.Now().UnixNano())
	s.conns.Add(1)
	s.bal.wg.Add(1)
	go s.flowReader(f, b, hold, place)
	return f
}

// flowReader relays the backend's datagrams to the client until the flow is idle or reset.
func (s *service) flowReader(f *udpFlow, b *backend, hold affinityHold, place slot) {
	defer s.bal.wg.Done()
	defer func() {
		f.reset()
		s.flows.remove(f)
		b.unregister(f)
		s.releaseAffinity(hold, b)
		s.conns.Add(-1)
		place.release()
	}()
	buf := make([]byte, s.bal.opts.MaxDatagram)
	replied := false
	for {
		idle := s.idleTimeout()
		last := time.Unix(0, f.last.Load())
		f.conn.SetReadDeadline(last.Add(idle))
		n, err := f.conn.Read(buf)
		if n > 0 {
			if !replied {
				replied = true
				b.backendReplied()
			}
			f.last.Store(time.Now().UnixNano())
			if _, werr := f.ln.WriteToUDPAddrPort(buf[:n], f.client); werr == nil {
				b.bytesOut.Add(uint64(n))
			}
		}
		if err == nil {
			continue
		}
		// A deadline passed, but the client may have sent since it was set.
		if errors.Is(err, net.ErrClosed) || f.dead.Load() {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, f.last.Load())) < idle {
			continue
		}
		if !(errors.As(err, &ne) && ne.Timeout()) {
			// ECONNREFUSED from an ICMP port unreachable: the backend is not there. The
			// client's datagram is lost with the flow; its next one starts a new flow, which
			// passive health may send elsewhere.
			b.dialFail.Add(1)
			s.connectFailed(b, err)
		}
		return
	}
}
