package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// demoBackend is one of the demo's local web servers. Its health can be switched from outside
// (GET /admin/fail, /admin/recover) so that a user can watch vigil take it out and put it back;
// /admin/stop closes its listener altogether, as a crashed server would.
type demoBackend struct {
	n       int
	addr    string
	failing atomic.Bool
	served  atomic.Uint64

	mu  sync.Mutex
	srv *http.Server
}

func (b *demoBackend) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		if b.failing.Load() {
			http.Error(w, "backend is failing on purpose (GET /admin/recover to heal it)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/admin/fail", func(w http.ResponseWriter, _ *http.Request) {
		b.failing.Store(true)
		fmt.Fprintf(w, "backend %d now fails its health check\n", b.n)
	})
	mux.HandleFunc("/admin/recover", func(w http.ResponseWriter, _ *http.Request) {
		b.failing.Store(false)
		fmt.Fprintf(w, "backend %d is healthy again\n", b.n)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		n := b.served.Add(1)
		fmt.Fprintf(w, "hello from backend %d (%s), request %d\n", b.n, b.addr, n)
	})
	return mux
}

// start listens on the backend's address; it fails if the port is taken.
func (b *demoBackend) start() error {
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("demo backend %d: %w", b.n, err)
	}
	srv := &http.Server{Handler: b.handler(), ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Warn("demo backend stopped", "backend", b.n, "err", err)
		}
	}()
	return nil
}

func (b *demoBackend) stop(ctx context.Context) {
	b.mu.Lock()
	srv := b.srv
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Shutdown(ctx)
	}
}
