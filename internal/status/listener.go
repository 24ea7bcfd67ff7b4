package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultListen is where the status page, API and metrics are served when global_defs does not
// say (status_listen). Loopback only: nothing listens beyond it unless configured.
const DefaultListen = "127.0.0.1:9080"

// Server serves a Handler on the status address: it binds at Bind, so that a port vigil cannot
// have stops it at start, serves in Run until its context ends, and then shuts down, giving
// requests in flight two seconds.
type Server struct {
	addr    string
	handler http.Handler
	log     *slog.Logger

	mu sync.Mutex
	ln net.Listener
}

// NewServer returns a server for handler on addr (host:port; port 0 picks one).
func NewServer(addr string, handler http.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{addr: addr, handler: handler, log: log}
}

// Bind opens the listening socket.
func (s *Server) Bind() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("status server (status_listen %s): %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the address the server listens on, once bound; nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Run serves until ctx ends (binding first if Bind was not called).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Bind(); err != nil {
		return err
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	s.log.Info("status page", "url", "http://"+s.ln.Addr().String()+"/")
	shutDown := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shutDown)
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	err := srv.Serve(s.ln)
	if !stop() {
		<-shutDown // Serve returned because Shutdown began: let it finish
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status server: %w", err)
	}
	return nil
}
