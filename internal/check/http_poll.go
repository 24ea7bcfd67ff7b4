package check

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/probe"
)

// Pollable is true for a plain HTTP_GET over HTTP/1; a SSL_GET's TLS handshake and HTTP/2's
// framing need a goroutine.
func (c *HTTPChecker) Pollable() bool { return c.tls == nil && c.h2 == nil }

// StartProbe connects for the first URL, or takes the connection reuse_connection kept, and
// sends its request as far as the socket takes it: done only when that failed already. The
// request goes right after connect, with the last ACK of the handshake held back (TCP_QUICKACK
// off, as HAProxy does when it has data to send), so that the ACK rides on the request instead
// of costing the target a packet of its own.
func (c *HTTPChecker) StartProbe(sockets *probe.SocketPool, start time.Time) (probe.Pending, probe.Result, bool) {
	h := &httpPending{c: c, sockets: sockets, start: start}
	if res, done := h.startURL(0); done {
		return nil, res, true
	}
	return h, probe.Result{}, false
}

// httpPending is a plain HTTP_GET under way in the scheduler's poller: sending a URL's request
// (or waiting for its handshake to end), then reading its answer, one URL after the other.
type httpPending struct {
	c         *HTTPChecker
	sockets   *probe.SocketPool
	sock      *probe.Socket // the current URL's; nil before the first
	url       int           // the URL being probed
	req       []byte        // what is sent for the URL: its request, after a PROXY header
	sent      int           // bytes of req written
	reused    bool          // sock is a kept connection, which carried an earlier request
	receiving bool          // its request is sent; reading the answer
	reply     httpReply
	start     time.Time
}

// startURL sends URL i's request: on the connection reuse_connection kept, when there is one
// fit for it, else on a new one.
func (h *httpPending) startURL(i int) (probe.Result, bool) {
	c := h.c
	h.url, h.sent, h.receiving = i, 0, false
	h.reply = c.newReply(&c.urls[i])
	h.req = c.urls[i].request
	if c.opts.ReuseConnection && !h.open() {
		// Whether the server closed it, or sent what nobody asked for, since the last probe
		// shows once the request is sent (reconnect), which spares every probe a poll.
		h.sock = c.kept.Take()
	}
	if h.reused = h.open(); h.reused {
		return h.send()
	}
	s, _, err := c.target.Open(h.sockets, true)
	if err != nil {
		return h.Fail(failReason(context.Background(), "connect", err)), true
	}
	h.sock = s
	if c.opts.SendProxy != ProxyNone {
		local, err := s.LocalAddr()
		if err != nil {
			return h.Fail(failReason(context.Background(), "send PROXY header", err)), true
		}
		h.req = append(proxyHeader(c.opts.SendProxy, local, c.opts.Addr), h.req...)
	}
	return h.send()
}

// open reports whether the probe holds a connection: one kept, or the previous URL's that
// reuse_connection keeps for this one.
func (h *httpPending) open() bool { return h.sock != nil && h.sock.FD() >= 0 }

// reconnect sends the URL's request again on a new connection, after the kept one turned out
// unfit before it answered anything: the server closed or reset it while it was idle (its idle
// timeout, which says nothing of its health), or it holds bytes the server sent between
// requests, which are no answer to this one.
func (h *httpPending) reconnect() (probe.Result, bool) {
	h.sock.Close()
	return h.startURL(h.url)
}

// send writes what is left of the request. A socket whose handshake is not over refuses the
// write (EAGAIN) and the probe waits for it to become writable; a handshake that failed shows
// as the write's error.
func (h *httpPending) send() (probe.Result, bool) {
	req := h.req
	for h.sent < len(req) {
		n, again, err := sockCall(h.sock.Write, req[h.sent:])
		switch {
		case again:
			return probe.Result{}, false
		case err != nil && h.reused && h.sent == 0:
			return h.reconnect()
		case err != nil:
			step := "send request"
			if h.sent == 0 && handshakeErrno(err) {
				step = "connect"
			}
			return h.Fail(failReason(context.Background(), step, os.NewSyscallError("write", err))), true
		}
		h.sent += n
	}
	h.receiving = true
	return probe.Result{}, false
}

// sockCall makes a read or write of a probe's non-blocking socket, again when a signal
// interrupted it: again is true when the socket has nothing to give or no room now (EAGAIN),
// and the probe must wait for it.
func sockCall(call func([]byte) (int, error), p []byte) (n int, again bool, err error) {
	for {
		n, err := call(p)
		switch err {
		case nil:
			return n, false, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, true, nil
		}
		return 0, false, err
	}
}

// statusLineStart reports whether p, the first bytes read for a request, can begin an HTTP/1
// status line.
func statusLineStart(p []byte) bool {
	const v = "HTTP/"
	if len(p) < len(v) {
		return v[:len(p)] == string(p)
	}
	return string(p[:len(v)]) == v
}

// handshakeErrno reports whether err is one a failed handshake leaves on a socket.
func handshakeErrno(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.ETIMEDOUT, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EHOSTDOWN, unix.ENETDOWN, unix.ECONNRESET:
		return true
	}
	return false
}

// Wait is for the socket to take the rest of the request, then for the answer.
func (h *httpPending) Wait() (*probe.Socket, uint32) {
	if h.receiving {
		return h.sock, unix.EPOLLIN | unix.EPOLLRDHUP
	}
	return h.sock, unix.EPOLLOUT
}

// Ready sends more of the request, or reads what the socket holds of the answer.
func (h *httpPending) Ready(_ uint32, buf []byte) (probe.Result, bool) {
	if !h.receiving {
		return h.send()
	}
	for {
		n, again, err := sockCall(h.sock.Read, buf)
		switch {
		case again:
			return probe.Result{}, false
		case h.reused && h.reply.total == 0 && (err != nil || n == 0 || !statusLineStart(buf[:n])):
			return h.reconnect()
		case err != nil:
			return h.Fail(failReason(context.Background(), h.reply.step(), os.NewSyscallError("read", err))), true
		case n == 0:
			if reason := h.reply.eof(); reason != "" {
				return h.Fail(reason), true
			}
			return h.urlDone()
		}
		done, reason := h.reply.feed(buf[:n])
		if reason != "" {
			return h.Fail(reason), true
		}
		if done {
			return h.urlDone()
		}
	}
}

// urlDone judges a complete response and goes on to the next URL, if any.
func (h *httpPending) urlDone() (probe.Result, bool) {
	if reason := h.reply.verdict(); reason != "" {
		return h.Fail(reason), true
	}
	keep := h.reply.reusable()
	if !keep {
		h.sock.Close()
	}
	if h.url+1 < len(h.c.urls) {
		return h.startURL(h.url + 1)
	}
	if keep {
		h.c.kept.Keep(h.sock)
		h.sock = nil // another probe's from now on
	}
	return probeResult(h.start, true, h.c.okReason), true
}

// Expire fails the probe, saying what it was waiting for.
func (h *httpPending) Expire() probe.Result {
	step := "connect"
	switch {
	case !h.receiving && h.sent > 0:
		step = "send request"
	case h.receiving:
		step = h.reply.step()
	}
	return h.Fail(step + ": timeout")
}

// Fail resets the connection and fails the probe with reason, prefixed with the URL's.
func (h *httpPending) Fail(reason string) probe.Result {
	if h.sock != nil {
		h.sock.Close()
	}
	return probeResult(h.start, false, h.c.urls[h.url].prefix+reason)
}

// regexMatches reports whether u's regex matches body within the configured offsets.
func regexMatches(u *httpURL, body []byte) bool {
	from := u.RegexMinOffset
	if from > len(body) {
		return false
	}
	loc := u.Regex.FindIndex(body[from:])
	if loc == nil {
		return false
	}
	return !u.RegexMaxOffsetSet || from+loc[0] <= u.RegexMaxOffset
}

// statusAccepted reports whether code is within one of ranges.
func statusAccepted(ranges []StatusRange, code int) bool {
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// parseStatusCode reads the three-digit code after the first space of the status line, or 0
// when there is none or it is outside 100..599, which RFC 9110 section 15 calls invalid.
// Keepalived also demands a space after the code; vigil accepts a status line without a reason
// phrase.
func parseStatusCode(hdr []byte) int {
	line := hdr
	if i := bytes.IndexByte(hdr, '\r'); i >= 0 {
		line = hdr[:i]
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 || len(line) < sp+4 {
		return 0
	}
	code := line[sp+1 : sp+4]
	if len(line) > sp+4 && line[sp+4] != ' ' {
		return 0
	}
	v := 0
	for _, ch := range code {
		if ch < '0' || ch > '9' {
			return 0
		}
		v = v*10 + int(ch-'0')
	}
	if v < 100 || v > 599 {
		return 0
	}
	return v
}

// parseContentLength returns the Content-Length header's value, or -1 when there is none or it
// is not a number.
func parseContentLength(hdr []byte) int64 {
	for len(hdr) > 0 {
		i := bytes.Index(hdr, []byte("\r\n"))
		if i < 0 {
			i = len(hdr)
		}
		line := hdr[:i]
		hdr = hdr[min(len(hdr), i+2):]
		const name = "content-length:"
		if len(line) > len(name) && bytes.EqualFold(line[:len(name)], []byte(name)) {
			v, err := strconv.ParseInt(strings.TrimSpace(string(line[len(name):])), 10, 64)
			if err != nil || v < 0 {
				return -1
			}
			return v
		}
	}
	return -1
}
