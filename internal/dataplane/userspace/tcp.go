package userspace

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// spliceChunk is how much one direction moves per ReadFrom call. Between calls it refreshes its
// read deadline, its progress time and the byte counters, so counters lag by at most a chunk or
// an idle period.
const spliceChunk = 1 << 20

func (s *service) acceptLoop(l *listener) {
	defer s.bal.wg.Done()
	defer close(l.done)
	backoff := 5 * time.Millisecond
	for {
		place, ok := s.waitPlace(l)
		if !ok {
			return
		}
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			place.release()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: the connection stays in the backlog; wait a
			// little rather than spin.
			if outOfDescriptors(err) {
				s.refusedDescriptors.Add(1)
			}
			s.caps.warn("accept", "accept failed", "vs", s.name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.bal.ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.conns.Add(1)
		s.bal.wg.Add(1)
		go s.serveTCP(c, place)
	}
}

// waitPlace takes a place under the service's cap and the balancer's for the next connection,
// waiting while either is full: the listener does not accept meanwhile, so new connections wait
// in its listen backlog, costing no descriptor. It reports false when the listener stops.
func (s *service) waitPlace(l *listener) (slot, bool) {
	for {
		vs := s.gate.Load()
		ok, retired := s.takePlace(l, vs, "maxconn", "virtual service at its maxconn: not accepting until a connection ends")
		if retired {
			continue // Apply changed the cap
		}
		if !ok {
			return slot{}, false
		}
		all := s.bal.gate
		if ok, _ := s.takePlace(l, all, "global maxconn", "data plane at its global maxconn: not accepting until a connection ends"); !ok {
			vs.put()
			return slot{}, false
		}
		return slot{vs: vs, all: all}, true
	}
}

// takePlace takes a place in g, waiting while it is full (counted as a pause, and logged as
// kind with msg). It reports false when the listener stops, and retired when Apply replaced g
// meanwhile; then no place was taken.
func (s *service) takePlace(l *listener, g *gate, kind, msg string) (ok, retired bool) {
	if g.tryTake() {
		return true, false
	}
	s.paused.Add(1)
	s.caps.warn(kind, msg, "vs", s.name, "maxconn", g.max())
	select {
	case g.places <- struct{}{}:
		return true, false
	case <-g.retired:
		return false, true
	case <-l.stop:
		return false, false
	}
}

// tcpSession is one proxied connection.
type tcpSession struct {
	client *net.TCPConn
	server *net.TCPConn
	once   sync.Once
	// progress is, per direction (0: client→server, 1: server→client), the unix nanoseconds of
	// the last time bytes moved; 0 once the direction ended.
	progress [2]atomic.Int64
	// b is the backend, set before the bytes move; replied is set at its first byte, which
	// ends its run of failures (passive health); failed by the first direction to fail.
	b       *backend
	replied atomic.Bool
	failed  atomic.Bool
}

// moved records that bytes moved in direction dir at now (unix nanoseconds).
func (c *tcpSession) moved(dir int, now int64) {
	c.progress[dir].Store(now)
	c.arrived(dir)
}

// arrived records that bytes came in direction dir: the backend's first byte ends its run of
// failures. Called before those bytes are passed on where the copy allows it, so that the
// client never sees an answer before the backend's streak is reset.
func (c *tcpSession) arrived(dir int) {
	if dir == 1 && !c.replied.Load() {
		c.replied.Store(true) // only direction 1's goroutine writes it
		c.b.backendReplied()
	}
}

// fail ends the session after a direction failed (or went idle). A backend that reset the
// connection before its first byte failed it, as much as one that refused the connect. Only
// the first direction to fail is weighed: the other fails because of it.
func (s *service) fail(sess *tcpSession) {
	if sess.failed.CompareAndSwap(false, true) && !sess.replied.Load() && serverReset(sess.server) {
		s.backendFailed(sess.b, dataplane.FailureReset, "connection to "+sess.b.dialAddr+" reset by the backend before its first byte")
	}
	sess.reset()
}

// reset closes both sides with RST.
func (c *tcpSession) reset() {
	c.once.Do(func() {
		// Kick both sides out of blocked I/O first: Close waits for operations in progress,
		// and a direction can be blocked writing to one side while holding the other's read.
		past := time.Unix(1, 0)
		c.client.SetDeadline(past)
		if c.server != nil {
			c.server.SetDeadline(past)
		}
		c.client.SetLinger(0)
		c.client.Close()
		if c.server != nil {
			c.server.SetLinger(0)
			c.server.Close()
		}
	})
}

func (s *service) serveTCP(client *net.TCPConn, place slot) {
	defer s.bal.wg.Done()
	defer s.conns.Add(-1)
	defer place.release()
	sess := &tcpSession{client: client}
	clientAP := client.RemoteAddr().(*net.TCPAddr).AddrPort()
	clientAP = netip.AddrPortFrom(clientAP.Addr().Unmap(), clientAP.Port())
	b, hold := s.pickAndAdmit(clientAP, sess,
		func(b *backend, timeout time.Duration) error {
			c, err := s.dialTCP(b, timeout)
			if err != nil {
				return err
			}
			sess.server = c
			return nil
		},
		func() { sess.server.Close(); sess.server = nil })
	if b == nil {
		client.SetLinger(0)
		client.Close()
		return
	}
	sess.b = b
	s.proxy(sess, b)
	b.unregister(sess)
	s.releaseAffinity(hold, b)
}

// proxy moves bytes both ways until both directions end, one fails, or both are idle.
func (s *service) proxy(sess *tcpSession, b *backend) {
	now := time.Now().UnixNano()
	sess.progress[0].Store(now)
	sess.progress[1].Store(now)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.pipe(sess, 0, sess.server, sess.client, &b.bytesIn)
	}()
	s.pipe(sess, 1, sess.client, sess.server, &b.bytesOut)
	<-done
	sess.once.Do(func() {
		sess.client.Close()
		sess.server.Close()
	})
}

// pipe copies src to dst for direction dir. At src's EOF it half-closes dst, so a client that
// shuts its write side still gets the whole answer. A failure resets both sides.
func (s *service) pipe(sess *tcpSession, dir int, dst, src *net.TCPConn, counter *atomic.Uint64) {
	if !s.bal.opts.Splice {
		s.pipeCopy(sess, dir, dst, src, counter, s.bal.opts.CopyBuffer)
		return
	}
	other := &sess.progress[1-dir]
	lr := &io.LimitedReader{R: src}
	for {
		idle := s.idleTimeout()
		src.SetReadDeadline(time.Now().Add(idle))
		lr.N = spliceChunk
		n, err := dst.ReadFrom(lr)
		if n > 0 {
			counter.Add(uint64(n))
			sess.moved(dir, time.Now().UnixNano())
		}
		switch {
		case err == nil && lr.N > 0: // EOF from src
			sess.progress[dir].Store(0)
			dst.CloseWrite()
			return
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The deadline is only on reads, so nothing was lost. Idle only if the other
			// direction has not moved for as long either.
			if n > 0 || time.Since(time.Unix(0, other.Load())) < idle {
				continue
			}
		}
		sess.progress[dir].Store(0)
		s.fail(sess)
		return
	}
}

// pipeCopy is pipe with read and write through a buffer of size bytes instead of splice: one
// more copy of the payload, but no pipe descriptors held while the connection waits.
func (s *service) pipeCopy(sess *tcpSession, dir int, dst, src *net.TCPConn, counter *atomic.Uint64, size int) {
	other := &sess.progress[1-dir]
	buf := make([]byte, size)
	var deadlineSet time.Time
	for {
		idle := s.idleTimeout()
		now := time.Now()
		// Moving a deadline costs a timer update; a quarter of the timeout of slack is enough.
		if now.Sub(deadlineSet) > idle/4 {
			src.SetReadDeadline(now.Add(idle))
			deadlineSet = now
		}
		n, err := src.Read(buf)
		if n > 0 {
			sess.arrived(dir)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
			counter.Add(uint64(n))
			sess.moved(dir, now.UnixNano())
		}
		if err == io.EOF {
			sess.progress[dir].Store(0)
			dst.CloseWrite()
			return
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, other.Load())) < idle {
				deadlineSet = time.Time{}
				continue
			}
			break
		}
	}
	sess.progress[dir].Store(0)
	s.fail(sess)
}
