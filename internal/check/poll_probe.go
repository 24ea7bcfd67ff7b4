package check

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A pollProbe is a TCP_CHECK or a plain HTTP_GET run without a goroutine of its own: the
// scheduler's loop starts it (startPolled) and, unless it ended there, the scheduler's poller
// (probePoller) moves it on each time epoll reports its socket ready, until it ends or its
// deadline passes. An HTTP_GET sends its request right after connect, with the last ACK of the
// handshake held back (TCP_QUICKACK off, as HAProxy does when it has data to send), so that the
// ACK rides on the request instead of costing the target a packet of its own.
type pollProbe struct {
	fd     int // -1 once closed
	family int // fd's, and whether it goes back to the socket pool (releaseSocket)
	pooled bool
	phase  pollPhase
	tcp    *TCPChecker  // set for a TCP_CHECK
	http   *HTTPChecker // set for a HTTP_GET
	url    int          // HTTP_GET: the URL being probed
	sent   int          // HTTP_GET: bytes of its request written
	reply  httpReply    // HTTP_GET: its response so far
	start  time.Time    // for Result.Latency

	// The poller's: where the probe is registered (its deadline is in the poller's heap).
	slot      int32
	gen       int32
	watching  uint32 // the epoll events fd is registered for; 0 when it is not registered
	epfd      int    // the poller's epoll set, while watching
	heapIndex int    // in the poller's deadline heap; -1 when not there
	cancelled bool   // guarded by the poller's lock
	// The scheduler's: the probe and run this is.
	p *schedProbe
	r *schedRun
}

type pollPhase uint8

const (
	pollConnecting pollPhase = iota // TCP_CHECK: the handshake is under way
	pollSending                     // HTTP_GET: the request is not all written (or the handshake is not over)
	pollReceiving                   // HTTP_GET: reading the response
)

// events are the epoll events the probe waits for now.
func (pp *pollProbe) events() uint32 {
	if pp.phase == pollReceiving {
		return unix.EPOLLIN | unix.EPOLLRDHUP
	}
	return unix.EPOLLOUT
}

// pollable returns how to start c as a pollProbe; nil when it cannot run as one (an SSL_GET,
// whose TLS handshake needs a goroutine, or any other kind).
func pollable(c Checker) func() (*pollProbe, Result, bool) {
	switch c := c.(type) {
	case *TCPChecker:
		return c.startPolled
	case *HTTPChecker:
		if c.tls == nil {
			return c.startPolled
		}
	}
	return nil
}

// startPolled runs the part of a TCP_CHECK that never waits: done with the result when the
// handshake ended (or failed) within connect and the poll that follows it, as it usually does
// on a near network; otherwise a probe waiting for the handshake.
func (c *TCPChecker) startPolled() (*pollProbe, Result, bool) {
	start := time.Now()
	s, done, err := c.target.startConnect(c.halfOpen)
	switch {
	case err != nil:
		return nil, probeResult(start, false, failReason(context.Background(), "connect", err)), true
	case done:
		s.close()
		return nil, probeResult(start, true, "connected"), true
	}
	return &pollProbe{fd: s.fd, family: s.family, pooled: s.pooled, phase: pollConnecting, tcp: c, start: start, heapIndex: -1}, Result{}, false
}

// startPolled connects to the first URL and sends its request as far as the socket takes it:
// done only when that failed already.
func (c *HTTPChecker) startPolled() (*pollProbe, Result, bool) {
	pp := &pollProbe{fd: -1, http: c, start: time.Now(), heapIndex: -1}
	if res, done := pp.startURL(0); done {
		return nil, res, true
	}
	return pp, Result{}, false
}

// startURL opens the connection for URL i and sends its request.
func (pp *pollProbe) startURL(i int) (Result, bool) {
	c := pp.http
	pp.url, pp.sent, pp.phase, pp.watching = i, 0, pollSending, 0
	pp.reply = newHTTPReply(&c.urls[i], c.maxResp)
	s, _, err := c.target.openConnect(true)
	if err != nil {
		return pp.fail(failReason(context.Background(), "connect", err)), true
	}
	pp.fd, pp.family, pp.pooled = s.fd, s.family, s.pooled
	return pp.send()
}

// send writes what is left of the request. A socket whose handshake is not over refuses the
// write (EAGAIN) and the probe waits for it to become writable; a handshake that failed shows
// as the write's error.
func (pp *pollProbe) send() (Result, bool) {
	req := pp.http.urls[pp.url].request
	for pp.sent < len(req) {
		n, err := rawWrite(pp.fd, req[pp.sent:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return Result{}, false
		case err != nil:
			step := "send request"
			if pp.sent == 0 && handshakeErrno(err) {
				step = "connect"
			}
			return pp.fail(failReason(context.Background(), step, os.NewSyscallError("write", err))), true
		}
		pp.sent += n
	}
	pp.phase = pollReceiving
	return Result{}, false
}

// handshakeErrno reports whether err is one a failed handshake leaves on a socket.
func handshakeErrno(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.ETIMEDOUT, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EHOSTDOWN, unix.ENETDOWN, unix.ECONNRESET:
		return true
	}
	return false
}

// onEvent moves the probe on after epoll reported ev on its socket; buf is scratch space for
// reading. It returns done with the result once the probe has ended (its socket closed).
func (pp *pollProbe) onEvent(ev uint32, buf []byte) (Result, bool) {
	switch pp.phase {
	case pollConnecting:
		soErr, err := rawGetsockoptInt(pp.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			return pp.fail(failReason(context.Background(), "connect", os.NewSyscallError("getsockopt SO_ERROR", err))), true
		case soErr != 0:
			return pp.fail(failReason(context.Background(), "connect", os.NewSyscallError("connect", unix.Errno(soErr)))), true
		case ev&unix.EPOLLOUT != 0:
			pp.close()
			return probeResult(pp.start, true, "connected"), true
		case ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0:
			return pp.fail("connect: connection closed during the handshake"), true
		}
		return Result{}, false
	case pollSending:
		return pp.send()
	}
	for {
		n, err := rawRead(pp.fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return Result{}, false
		case err != nil:
			return pp.fail(failReason(context.Background(), pp.reply.step(), os.NewSyscallError("read", err))), true
		case n == 0:
			if reason := pp.reply.eof(); reason != "" {
				return pp.fail(reason), true
			}
			return pp.urlDone()
		}
		done, reason := pp.reply.feed(buf[:n])
		if reason != "" {
			return pp.fail(reason), true
		}
		if done {
			return pp.urlDone()
		}
	}
}

// tryReceive reads an HTTP_GET's response if it has come already, without waiting: done when
// that ended the probe. Any other probe is left as it is.
func (pp *pollProbe) tryReceive(buf []byte) (Result, bool) {
	if pp.phase != pollReceiving {
		return Result{}, false
	}
	return pp.onEvent(unix.EPOLLIN, buf)
}

// urlDone judges a complete response and goes on to the next URL, if any.
func (pp *pollProbe) urlDone() (Result, bool) {
	if reason := pp.reply.verdict(); reason != "" {
		return pp.fail(reason), true
	}
	pp.close()
	if pp.url+1 < len(pp.http.urls) {
		return pp.startURL(pp.url + 1)
	}
	return probeResult(pp.start, true, pp.http.okReason), true
}

// expire ends a probe whose time ran out (or that was cancelled), saying what it was waiting
// for.
func (pp *pollProbe) expire(cancelled bool) Result {
	if cancelled {
		return pp.fail("canceled")
	}
	step := "connect"
	switch {
	case pp.phase == pollSending && pp.sent > 0:
		step = "send request"
	case pp.phase == pollReceiving:
		step = pp.reply.step()
	}
	return pp.fail(step + ": timeout")
}

// fail closes the socket (resetting the connection) and returns the failure, its reason
// prefixed with the URL's for an HTTP_GET.
func (pp *pollProbe) fail(reason string) Result {
	pp.close()
	if pp.http != nil {
		reason = pp.http.urls[pp.url].prefix + reason
	}
	return probeResult(pp.start, false, reason)
}

func (pp *pollProbe) close() {
	if pp.fd >= 0 {
		if pp.watching != 0 && pp.pooled {
			// A pooled socket lives on: it must leave the poller's epoll set, which a close
			// would have done.
			_ = rawEpollCtl(pp.epfd, unix.EPOLL_CTL_DEL, pp.fd, &unix.EpollEvent{})
		}
		pp.watching = 0
		releaseSocket(pp.fd, pp.family, pp.pooled)
		pp.fd = -1
	}
}
