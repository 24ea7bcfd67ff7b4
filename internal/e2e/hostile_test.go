package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// streamer answers every request with a 200 whose body is 1 GB, and counts the bytes it
// managed to write.
type streamer struct {
	addr    string
	written atomic.Int64
}

func startStreamer(t *testing.T) *streamer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &streamer{addr: ln.Addr().String()}
	const size = 1 << 30
	chunk := []byte(strings.Repeat("x", 64<<10))
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for sent := 0; sent < size; sent += len(chunk) {
			n, err := w.Write(chunk)
			s.written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// TestHungAndHostileServersAreCutAtTheirBoundsWhileOthersKeepTheirSchedule puts five real
// servers in one virtual server: a MISC_CHECK script that hangs (sleep 1000 in a child), an
// HTTP server and a TLS server that accept and never answer, one that streams a 1 GB body, and
// a healthy one.
// The first three leave the pool within their bounds, each probe cut at its timeout or at
// the response size bound, the hung script's whole process group killed; meanwhile the healthy
// server's probes keep arriving at its delay_loop.
func TestHungAndHostileServersAreCutAtTheirBoundsWhileOthersKeepTheirSchedule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "sleep.pid")
	script := filepath.Join(dir, "hang.sh")
	// The sleep is a child of the shell, so only a kill of the process group reaches it.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 1000 &\necho $! > "+pidFile+".tmp\nmv "+pidFile+".tmp "+pidFile+"\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hole := testenv.SilentServer(t).String()
	stream := startStreamer(t)
	good := testenv.StartBackend(t)

	miscTm := timing{D: 500 * time.Millisecond, R: 0, B: 100 * time.Millisecond, T: time.Second}
	holeTm := timing{D: 500 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: time.Second}
	streamTm := timing{D: 500 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: 3 * time.Second}
	goodD := 250 * time.Millisecond

	var b strings.Builder
	vsHeader(&b, testenv.FreePort(t, "127.0.0.1", false), "")
	fmt.Fprintf(&b, "  real_server 127.0.0.2 9 {\n    MISC_CHECK {\n      misc_path %q\n      misc_timeout 1\n      delay_loop 0.5\n    }\n  }\n", script)
	httpRS := func(addr, timeout, delay string) {
		h, p := splitAddr(t, addr)
		fmt.Fprintf(&b, "  real_server %s %s {\n    HTTP_GET {\n      url {\n        path /health\n      }\n      connect_timeout %s\n      delay_loop %s\n      retry 1\n      delay_before_retry 0.1\n    }\n  }\n", h, p, timeout, delay)
	}
	httpRS(hole, "1", "0.5")
	// SSL_GET to a second silent server: the TLS handshake itself hangs.
	tlsHole := testenv.SilentServer(t).String()
	th, tp := splitAddr(t, tlsHole)
	fmt.Fprintf(&b, "  real_server %s %s {\n    SSL_GET {\n      url {\n        path /health\n      }\n      connect_timeout 1\n      delay_loop 0.5\n      retry 1\n      delay_before_retry 0.1\n    }\n  }\n", th, tp)
	httpRS(stream.addr, "3", "0.5")
	httpRS(good.Addr, "1", "0.25")
	b.WriteString("}\n")
	d := runDaemon(t, loadConfig(t, b.String()))

	// Every server starts up (no alpha); the bad ones must go within their bounds from the
	// moment the daemon starts, plus the first probe's warmup (at most delay_loop).
	start := time.Now()
	warm := func(tm timing) timing { tm.D *= 2; return tm }
	expectRemoval(t, d, "127.0.0.2:9", warm(miscTm), start, "MISC_CHECK: script hangs in sleep 1000")
	expectRemoval(t, d, hole, warm(holeTm), start, "HTTP_GET: server accepts and never answers")
	expectRemoval(t, d, tlsHole, warm(holeTm), start, "SSL_GET: server accepts and never starts the TLS handshake")
	expectRemoval(t, d, stream.addr, warm(streamTm), start, "HTTP_GET: server streams 1 GB")

	cut := func(addr string, limit time.Duration, want string) {
		t.Helper()
		rs, _ := realServer(d, addr)
		c := rs.Checks[0]
		t.Logf("%s: last probe took %v, reason %q", addr, c.Latency.Round(time.Millisecond), c.Reason)
		if c.Latency > limit || !strings.Contains(c.Reason, want) {
			t.Errorf("%s: probe took %v (want at most %v), reason %q (want %q)", addr, c.Latency, limit, c.Reason, want)
		}
	}
	cut(hole, holeTm.T+slack, "time")
	cut(tlsHole, holeTm.T+slack, "time")
	cut(stream.addr, streamTm.T, "exceeds")
	if n := stream.written.Load(); n > 64<<20 {
		t.Errorf("the 1 GB stream wrote %d MB before the check cut it; the bound is 1 MB plus socket buffers", n>>20)
	} else {
		t.Logf("the 1 GB stream wrote %.1f MB before the probe cut it", float64(n)/(1<<20))
	}

	// The hung script's child sleep is killed at misc_timeout with its process group.
	var pid int
	testenv.WaitFor(t, 3*time.Second, "hang.sh wrote its child's pid", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	gone := testenv.WaitFor(t, miscTm.T+slack+miscTm.D, fmt.Sprintf("sleep child %d killed", pid), func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) || zombie(pid)
	})
	t.Logf("the hung script's child sleep (pid %d) was gone %v after its pid was read (misc_timeout 1s)", pid, gone.Round(time.Millisecond))
	if rs, _ := realServer(d, "127.0.0.2:9"); !strings.Contains(rs.Reason, "time") {
		t.Errorf("MISC_CHECK reason %q does not say it timed out", rs.Reason)
	}

	// The healthy server's probes keep their schedule while the others hang. Behind a hung
	// probe they would get at most one per timeout (1 s: 3 in the window); on schedule about
	// one per delay_loop (12). The floor is half of that: a loaded CI machine delivered 7.
	if rs, _ := realServer(d, good.Addr); !rs.Up {
		t.Fatalf("the healthy server is down: %q", rs.Reason)
	}
	const window = 3 * time.Second
	before := good.Checks.Load()
	time.Sleep(window)
	got := good.Checks.Load() - before
	want := int64(window/goodD) / 2
	t.Logf("healthy server: %d probes in %v beside the hung ones (delay_loop %v: expected about %d, at least %d)", got, window, goodD, int64(window/goodD), want)
	if got < want {
		t.Errorf("the healthy server got %d probes in %v, want at least %d: its schedule slipped", got, window, want)
	}
	if rs, _ := realServer(d, good.Addr); !rs.Up {
		t.Errorf("the healthy server went down beside the hung ones: %q", rs.Reason)
	}
}

// zombie reports whether pid exists only as a zombie (killed, not yet reaped by its parent,
// which is init once the shell that started it was killed too).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// TestPanicThresholdKeepsEveryServerInWhenAllFailAtOnce fails every backend of a virtual server
// with panic_threshold 50 at once: the checks see them down, but the pool keeps all of them in
// and says so with a panic event; traffic still flows. When they recover, panic ends.
func TestPanicThresholdKeepsEveryServerInWhenAllFailAtOnce(t *testing.T) {
	t.Parallel()
	backends := []*testenv.Backend{testenv.StartBackend(t), testenv.StartBackend(t), testenv.StartBackend(t), testenv.StartBackend(t)}
	tm := timing{D: 300 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: time.Second}
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	var b strings.Builder
	vsHeader(&b, vsPort, "  panic_threshold 50\n  delay_loop 0.3\n  retry 1\n  delay_before_retry 0.1\n")
	for _, be := range backends {
		h, p := splitAddr(t, be.Addr)
		fmt.Fprintf(&b, "  real_server %s %s {\n    weight 3\n    HTTP_GET {\n      url {\n        path /health\n      }\n      connect_timeout 1\n    }\n  }\n", h, p)
	}
	b.WriteString("}\n")
	d := runDaemon(t, loadConfig(t, b.String()))
	name := fmt.Sprintf("127.0.0.1:%d", vsPort)
	for _, be := range backends {
		checkedUp(t, d, be.Addr, 3*time.Second)
	}

	at := time.Now()
	for _, be := range backends {
		be.Failing.Store(true)
	}
	for _, be := range backends {
		expectRemoval(t, d, be.Addr, tm, at, "HTTP_GET: every backend's /health turned 503 at once")
	}
	vs, ok := virtualServer(d, name)
	if !ok {
		t.Fatalf("no virtual server listens on %s", name)
	}
	t.Logf("all failed: panic %v, up %d of %d, quorum_up %v", vs.Panic, vs.UpCount, vs.Total, vs.QuorumUp)
	for _, rs := range vs.RealServers {
		t.Logf("  %s up %v weight %d effective %d reason %q", rs.Address, rs.Up, rs.Weight, rs.EffectiveWeight, rs.Reason)
	}
	if !vs.Panic {
		t.Errorf("every server failed with panic_threshold 50, but the virtual server is not in panic")
	}
	for _, rs := range vs.RealServers {
		if rs.EffectiveWeight <= 0 {
			t.Errorf("%s left the data plane in panic: effective weight %d", rs.Address, rs.EffectiveWeight)
		}
	}
	var panicEvent string
	for _, ev := range d.Snapshot().Events {
		t.Logf("  event %s %s: %s", ev.Kind, ev.Subject, ev.Message)
		if ev.Kind == "panic-on" {
			panicEvent = ev.Message
		}
	}
	if panicEvent == "" {
		t.Errorf("no panic-on event")
	}

	// Traffic still reaches the failed backends through the balancer.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	seen := map[string]bool{}
	for i := 0; i < 12; i++ {
		resp, err := client.Get("http://" + name + "/")
		if err != nil {
			t.Fatalf("request %d through the balancer in panic: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[string(body)] = true
	}
	t.Logf("in panic, 12 requests reached %d of 4 backends", len(seen))
	if len(seen) != len(backends) {
		t.Errorf("in panic, round robin reached %d of %d backends: %v", len(seen), len(backends), seen)
	}

	at = time.Now()
	for _, be := range backends {
		be.Failing.Store(false)
	}
	for _, be := range backends {
		expectReturn(t, d, be.Addr, tm, at, "HTTP_GET: every backend recovered")
	}
	if vs, _ := virtualServer(d, name); vs.Panic {
		t.Errorf("panic did not end once every server passed again")
	}
}
