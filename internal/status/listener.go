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

	"golang.org/x/net/netutil"
)

// DefaultListen is where the status page, API and metrics are served when global_defs does not
// say (status_listen). Loopback only: nothing listens beyond it unless configured.
const DefaultListen = "127.0.0.1:9080"

// The status server's defaults (ServerOptions).
const (
	// DefaultMaxConns bounds the status server's connections: a dashboard, a scraper, a few
	// event streams and the vigil status command fit many times over, and a flood of idle
	// connections holds no more descriptors than this.
	DefaultMaxConns = 64
	// DefaultIdleTimeout closes a keep-alive connection that sends no next request.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds the writing of one answer (and of each event on the stream).
	DefaultWriteTimeout = 30 * time.Second
	// DefaultReadHeaderTimeout bounds the reading of a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
)

// ServerOptions tune a Server; each zero field takes the default named.
type ServerOptions struct {
	// Logger receives the server's lines, net/http's own included (slog.DiscardHandler when nil).
	Logger *slog.Logger
	// MaxConns bounds the connections open at once (DefaultMaxConns); past it the server
	// stops accepting, and new connections wait in the listen backlog until one closes.
	MaxConns int
	// IdleTimeout closes keep-alive connections idle this long (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// WriteTimeout bounds the writing of an answer (DefaultWriteTimeout). The event stream,
	// which lives for as long as its client listens, gets it per event instead.
	WriteTimeout time.Duration
	// ReadHeaderTimeout bounds the reading of a request's headers (DefaultReadHeaderTimeout).
	ReadHeaderTimeout time.Duration
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	return o
}

// Server serves a Handler on the status address: it binds at Bind, so that a port vigil cannot
// have stops it at start, serves in Run until its context ends, and then shuts down, giving
// requests in flight two seconds. Its connections are capped and timed out (ServerOptions), so
// that clients of the status port, idle or slow, cannot take the descriptors the checks need.
type Server struct {
	addr    string
	handler http.Handler
	opts    ServerOptions
	log     *slog.Logger

	mu sync.Mutex
	ln net.Listener
}

// NewServer returns a server for handler on addr (host:port; port 0 picks one).
func NewServer(addr string, handler http.Handler, opts ServerOptions) *Server {
	opts = opts.withDefaults()
	return &Server{addr: addr, handler: handler, opts: opts, log: opts.Logger}
}

// MaxConns is the most connections the server holds at once.
func (s *Server) MaxConns() int { return s.opts.MaxConns }

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
	o := s.opts
	srv := &http.Server{
		Handler:           writeDeadlines(s.handler, o.WriteTimeout),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		// What net/http logs (accept errors, TLS handshakes, panics) goes through slog like
		// every other line.
		ErrorLog: slog.NewLogLogger(s.log.With("part", "status").Handler(), slog.LevelWarn),
	}
	s.log.Info("status page", "url", "http://"+s.ln.Addr().String()+"/", "max_conns", o.MaxConns)
	shutDown := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shutDown)
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	err := srv.Serve(netutil.LimitListener(s.ln, o.MaxConns))
	if !stop() {
		<-shutDown // Serve returned because Shutdown began: let it finish
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status server: %w", err)
	}
	return nil
}

// writeDeadlines gives each answer until timeout to be written. http.Server's WriteTimeout would
// cut the event stream, which is meant to last: the stream moves its own deadline before each
// event instead (Handler.events), from this one.
func writeDeadlines(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), writeTimeoutKey{}, timeout)))
	})
}

// writeTimeoutKey carries the server's write timeout to the event stream.
type writeTimeoutKey struct{}

// streamWriteTimeout is the write timeout the stream gives each event: the server's, or
// DefaultWriteTimeout for a handler served without a Server (tests).
func streamWriteTimeout(r *http.Request) time.Duration {
	if d, ok := r.Context().Value(writeTimeoutKey{}).(time.Duration); ok {
		return d
	}
	return DefaultWriteTimeout
}
