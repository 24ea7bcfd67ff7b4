package testenv

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// Backend is a loopback web server for health checks: /health answers 200 "ok", or 503 while
// Failing is set; any other path answers the server's address. It counts both.
type Backend struct {
	Addr    string // host:port
	Failing atomic.Bool
	// Checks counts requests to /health, Served the others.
	Checks, Served atomic.Int64
	stop           func()
}

// StartBackend starts a Backend on 127.0.0.1 and stops it when the test ends.
func StartBackend(t testing.TB) *Backend {
	t.Helper()
	return StartBackendOn(t, "127.0.0.1:0")
}

// StartBackendOn starts a Backend on addr (another loopback address, a port of its own) and
// stops it when the test ends, or at Stop.
func StartBackendOn(t testing.TB, addr string) *Backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{Addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		b.Checks.Add(1)
		if b.Failing.Load() {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		b.Served.Add(1)
		io.WriteString(w, b.Addr)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	b.stop = func() { srv.Close() }
	t.Cleanup(b.stop)
	return b
}

// Stop closes the backend's listener and its connections, as a server that goes away.
func (b *Backend) Stop() { b.stop() }

// HostPort splits the backend's address for a configuration's "real_server HOST PORT" line.
func (b *Backend) HostPort() (host, port string) {
	host, port, _ = net.SplitHostPort(b.Addr)
	return host, port
}
