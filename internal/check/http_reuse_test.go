package check

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// serverMove is what a scripted keep-alive server does after it read a request.
type serverMove struct {
	reply   string        // written at once
	later   string        // written after a pause: bytes nobody asked for
	close   bool          // the connection ends after the reply
	silent  bool          // no reply: the server stops answering on this connection
	closeIn time.Duration // the idle connection ends this long after the reply
}

// keptHTTPServer answers the requests of every connection, numbered across connections from
// 0, as move says; it counts the connections it accepts.
func keptHTTPServer(t *testing.T, move func(req int) serverMove) (netip.AddrPort, *atomic.Int32) {
	t.Helper()
	var accepts, reqs atomic.Int32
	ap := testenv.ServeTCP(t, func(c net.Conn) {
		accepts.Add(1)
		br := bufio.NewReader(c)
		for {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if head := readRequestHead(br); !strings.HasSuffix(head, "\r\n\r\n") {
				return
			}
			m := move(int(reqs.Add(1) - 1))
			if m.silent {
				_, _ = br.ReadByte() // until the client gives up, or the deadline
				return
			}
			if _, err := c.Write([]byte(m.reply)); err != nil || m.close {
				return
			}
			if m.later != "" {
				time.Sleep(20 * time.Millisecond)
				_, _ = c.Write([]byte(m.later))
			}
			if m.closeIn > 0 {
				time.Sleep(m.closeIn)
				return
			}
		}
	})
	return ap, &accepts
}

// pollProbe runs one probe of c as the scheduler's loop and poller would, waiting on its
// socket with poll, and expiring it after timeout.
func pollProbe(c *HTTPChecker, pool *probe.SocketPool, timeout time.Duration) probe.Result {
	buf := make([]byte, readBufSize)
	start := time.Now()
	p, res, done := c.StartProbe(pool, start)
	for !done {
		sock, want := p.Wait()
		var ev int16
		if want&unix.EPOLLIN != 0 {
			ev |= unix.POLLIN | unix.POLLRDHUP
		}
		if want&unix.EPOLLOUT != 0 {
			ev |= unix.POLLOUT
		}
		left := time.Until(start.Add(timeout))
		if left <= 0 {
			return p.Expire()
		}
		pfd := []unix.PollFd{{Fd: int32(sock.FD()), Events: ev}}
		n, err := unix.Poll(pfd, int(left/time.Millisecond)+1)
		switch {
		case err == unix.EINTR:
			continue
		case n == 0:
			return p.Expire()
		}
		res, done = p.Ready(uint32(pfd[0].Revents), buf)
	}
	return res
}

// readBufSize is the poller's read buffer size, which the probes read into.
const readBufSize = 16 << 10

const okReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// okBut answers every request with okReply but request n, which gets m.
func okBut(n int, m serverMove) func(req int) serverMove {
	return func(req int) serverMove {
		if req == n {
			return m
		}
		return serverMove{reply: okReply}
	}
}

func TestReuseConnectionKeepsOneConnectionWhileTheServerAllows(t *testing.T) {
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
	tests := []struct {
		name    string
		urls    []URL
		move    func(req int) serverMove
		healthy []bool // each probe's verdict, in turn
		reason  string // in the last probe's reason
		accepts int32
	}{
		{"KeepAliveServerIsConnectedOnce", []URL{{Path: "/"}},
			func(int) serverMove { return serverMove{reply: okReply} }, []bool{true, true, true}, "ok", 1},
		{"EveryURLRidesTheSameConnection", []URL{{Path: "/a"}, {Path: "/b"}},
			func(int) serverMove { return serverMove{reply: okReply} }, []bool{true, true}, "2 urls ok", 1},
		{"ChunkedBodyEndsAtItsLastChunk", []URL{{Path: "/", Regex: &Regexp{regexp.MustCompile(`hello\r\n6\r\n world`)}}},
			func(int) serverMove { return serverMove{reply: chunked} }, []bool{true, true, true}, "ok", 1},
		{"HeadAnswerHasNoBody", []URL{{Path: "/", Method: "HEAD"}},
			func(int) serverMove { return serverMove{reply: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"} }, []bool{true, true}, "ok", 1},
		{"NoContentHasNoBody", []URL{{Path: "/", StatusCodes: []StatusRange{{204, 204}}}},
			func(int) serverMove { return serverMove{reply: "HTTP/1.1 204 No Content\r\n\r\n"} }, []bool{true, true}, "ok", 1},
		{"ServerClosingAfterEachReplyIsConnectedEachTime", []URL{{Path: "/"}},
			func(int) serverMove {
				return serverMove{reply: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", close: true}
			}, []bool{true, true, true}, "ok", 3},
		{"ReplyWithoutLengthEndsWithTheConnection", []URL{{Path: "/"}},
			func(int) serverMove { return serverMove{reply: "HTTP/1.1 200 OK\r\n\r\nok", close: true} }, []bool{true, true, true}, "ok", 3},
		{"BytesBetweenProbesEndTheConnection", []URL{{Path: "/"}},
			func(int) serverMove { return serverMove{reply: okReply, later: "garbage"} }, []bool{true, true, true}, "ok", 3},
		{"IdleConnectionClosedByTheServerIsReplaced", []URL{{Path: "/"}},
			func(int) serverMove { return serverMove{reply: okReply, closeIn: 10 * time.Millisecond} }, []bool{true, true, true}, "ok", 3},
		{"ConnectionClosedAsTheRequestCameIsReplacedInTheSameProbe", []URL{{Path: "/"}},
			okBut(1, serverMove{close: true}), []bool{true, true, true}, "ok", 2},
		{"SilentKeptConnectionTimesOutThenIsReplaced", []URL{{Path: "/"}},
			okBut(1, serverMove{silent: true}), []bool{true, false, true}, "ok", 2},
		{"FailedVerdictEndsTheConnection", []URL{{Path: "/"}},
			okBut(0, serverMove{reply: "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"}), []bool{false, true, true}, "ok", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ap, accepts := keptHTTPServer(t, tc.move)
			c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, Protocol: HTTP11, ReuseConnection: true, URLs: tc.urls})
			defer c.Release()
			var pool probe.SocketPool
			defer pool.Close()
			var res probe.Result
			for i, want := range tc.healthy {
				began := time.Now()
				res = pollProbe(c, &pool, 300*time.Millisecond)
				if res.Healthy != want {
					t.Fatalf("probe %d: healthy=%t (%s), want %t", i, res.Healthy, res.Reason, want)
				}
				if want && time.Since(began) > 250*time.Millisecond {
					t.Errorf("probe %d took %v: it waited for the connection's end", i, time.Since(began))
				}
				time.Sleep(50 * time.Millisecond) // the server's bytes or close between probes come
			}
			wantProbe(t, res, true, tc.reason)
			if got := accepts.Load(); got != tc.accepts {
				t.Errorf("the server accepted %d connections, want %d", got, tc.accepts)
			}
		})
	}
}

func TestReuseConnectionRequestAsksForNoClose(t *testing.T) {
	c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: netip.MustParseAddrPort("127.0.0.1:80")}, Protocol: HTTP11, ReuseConnection: true, URLs: []URL{{Path: "/"}}})
	if req := string(c.urls[0].request); strings.Contains(req, "Connection:") || !strings.HasPrefix(req, "GET / HTTP/1.1\r\n") {
		t.Errorf("request %q: want HTTP/1.1 without a Connection header", req)
	}
	plain := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: netip.MustParseAddrPort("127.0.0.1:80")}, Protocol: HTTP11, URLs: []URL{{Path: "/"}}})
	if plain.Key() == c.Key() {
		t.Errorf("the key %q does not tell reuse_connection apart", c.Key())
	}
}

func TestReuseConnectionKeyword(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		text  string
		reuse bool
		msg   string
	}{
		{"TakenWithHTTP11", HTTPKind, "reuse_connection\nhttp_protocol 1.1\nurl {\npath /\n}\n", true, ""},
		{"RefusedWithHTTP10", HTTPKind, "http_protocol 1.0\nreuse_connection\nurl {\npath /\n}\n", false, "reuse_connection requires http_protocol 1.1, not 1.0 - ignoring"},
		{"RefusedByDefault", HTTPKind, "reuse_connection\nurl {\npath /\n}\n", false, "reuse_connection requires http_protocol 1.1"},
		{"RefusedWithHTTP2", HTTPKind, "http_protocol 2\nreuse_connection yes\nurl {\npath /\n}\n", false, "not 2 - ignoring"},
		{"OffByWord", HTTPKind, "http_protocol 1.1\nreuse_connection false\nurl {\npath /\n}\n", false, ""},
		{"UnknownToSSLGet", SSLKind, "http_protocol 1.1\nreuse_connection\nurl {\npath /\n}\n", false, "reuse_connection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, msgs := readHTTP(t, tc.kind, tc.text)
			if o.ReuseConnection != tc.reuse {
				t.Errorf("ReuseConnection = %t, want %t", o.ReuseConnection, tc.reuse)
			}
			joined := strings.Join(msgs, "\n")
			if tc.msg == "" && len(msgs) != 0 || tc.msg != "" && !strings.Contains(joined, tc.msg) {
				t.Errorf("diagnostics %q, want one containing %q", msgs, tc.msg)
			}
		})
	}
	if _, err := NewHTTP(HTTPOptions{ConnOptions: ConnOptions{Addr: netip.MustParseAddrPort("127.0.0.1:80")}, ReuseConnection: true, URLs: []URL{{Path: "/"}}}); err == nil {
		t.Error("NewHTTP took reuse_connection with http_protocol 1.0")
	}
}

func TestReuseConnectionThroughTheScheduler(t *testing.T) {
	ap, accepts := keptHTTPServer(t, func(int) serverMove { return serverMove{reply: okReply} })
	c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, Protocol: HTTP11, ReuseConnection: true, URLs: []URL{{Path: "/"}}})
	reports := make(chan probe.Report, 16)
	s := probe.NewScheduler(clock.Real(), 4, nil, func(r probe.Report) {
		select {
		case reports <- r:
		default:
		}
	})
	must(t, s.Add(probe.Job{ID: "reuse", Checker: c, Interval: 20 * time.Millisecond, Timeout: time.Second, Warmup: -1}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for i := range 5 {
		select {
		case r := <-reports:
			if !r.Result.Healthy {
				t.Fatalf("probe %d: %s", i, r.Result.Reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no report %d within 5s", i)
		}
	}
	cancel()
	<-done
	if got := accepts.Load(); got != 1 {
		t.Errorf("the server accepted %d connections over 5 probes, want 1", got)
	}
	if c.kept.Take() != nil {
		t.Error("the scheduler stopped and the checker still keeps a connection")
	}
}
