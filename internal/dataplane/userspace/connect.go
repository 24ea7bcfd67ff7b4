package userspace

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// initialRTO is the connect timeout of a backend with no connect time measured yet: RFC 6298's
// initial retransmission timeout, within Options.MinDialTimeout and DialTimeout.
const initialRTO = time.Second

// connectRTT is a backend's connect times, smoothed as TCP smooths round trips (RFC 6298): a
// connect completes when the backend's SYN-ACK arrives, so its time is a round trip to the
// backend's kernel (its accept queue does not delay it; a full SYN queue drops the SYN and
// the connect waits for a retransmission, which is what the timeout is for). The per-attempt
// timeout is TCP's retransmission timeout over those samples, srtt + 4·rttvar: a connect
// that takes longer than that is one whose SYN or SYN-ACK was lost, or a silent backend.
type connectRTT struct {
	mu           sync.Mutex
	srtt, rttvar time.Duration
	measured     bool
	// rto is srtt + 4·rttvar as of the last sample, 0 before any: read without the lock by
	// every new connection.
	rto atomic.Int64
}

// observe adds one successful connect's time.
func (e *connectRTT) observe(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.measured {
		e.srtt, e.rttvar, e.measured = d, d/2, true
	} else {
		diff := e.srtt - d
		if diff < 0 {
			diff = -diff
		}
		e.rttvar = (3*e.rttvar + diff) / 4
		e.srtt = (7*e.srtt + d) / 8
	}
	e.rto.Store(int64(max(e.srtt+4*e.rttvar, 1)))
}

// timeout is the per-attempt connect timeout: srtt + 4·rttvar, initialRTO before any sample,
// within [floor, ceiling].
func (e *connectRTT) timeout(floor, ceiling time.Duration) time.Duration {
	rto := time.Duration(e.rto.Load())
	if rto == 0 {
		rto = initialRTO
	}
	return min(max(rto, floor), ceiling)
}

// connectTimeout is the timeout of one connect to b under table t: the service's own
// (connect_attempt_timeout) or the one b's connect times give.
func (s *service) connectTimeout(t *table, b *backend) time.Duration {
	if t.connectTimeout > 0 {
		return t.connectTimeout
	}
	return b.rtt.timeout(s.bal.opts.MinDialTimeout, s.bal.opts.DialTimeout)
}

// dialTCP connects to b within timeout and records how long a successful connect took.
func (s *service) dialTCP(b *backend, timeout time.Duration) (*net.TCPConn, error) {
	start := time.Now()
	c, err := (&net.Dialer{Timeout: timeout}).DialContext(s.bal.ctx, "tcp", b.dialAddr)
	if err != nil {
		return nil, err
	}
	b.rtt.observe(time.Since(start))
	return c.(*net.TCPConn), nil
}

// failureKind says what kind of backend failure err is (a dataplane.Failure constant), or ""
// when it is the balancer's own: out of descriptors, or shutting down.
func failureKind(err error) string {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled), outOfDescriptors(err):
		return ""
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return dataplane.FailureTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return dataplane.FailureRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return dataplane.FailureUnreachable
	case errors.Is(err, syscall.ECONNRESET):
		return dataplane.FailureReset
	}
	return dataplane.FailureError
}

// connectFailed counts a failed connect to b against it, unless the failure is the balancer's.
func (s *service) connectFailed(b *backend, err error) {
	if kind := failureKind(err); kind != "" {
		s.backendFailed(b, kind, err.Error())
	}
}

// backendFailed counts one failed connection to b and reports it (Options.OnBackendFailure).
// The sorry server's failures are counted, not reported: the pool does not weigh it.
func (s *service) backendFailed(b *backend, kind, why string) {
	n := b.streak.Add(1)
	if report := s.bal.opts.OnBackendFailure; report != nil && !b.sorry {
		report(dataplane.BackendFailure{Service: s.name, Backend: b.addr, Kind: kind, Consecutive: int(n), Err: why})
	}
}

// backendReplied ends b's run of failures: its first byte on a connection, or first datagram
// on a flow, came.
func (b *backend) backendReplied() {
	if b.streak.Load() != 0 {
		b.streak.Store(0)
	}
}
