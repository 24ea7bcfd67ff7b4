package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/grpclog"

	"github.com/vigil-lb/vigil/internal/config"
)

// syslogTag is the program name vigil's syslog lines carry.
const syslogTag = "vigil"

// dialSyslog opens a syslog writer with a facility and tag; the daemon uses the local syslog
// socket, tests a socket of their own.
type dialSyslog func(facility syslog.Priority, tag string) (*syslog.Writer, error)

func localSyslog(facility syslog.Priority, tag string) (*syslog.Writer, error) {
	return syslog.New(facility|syslog.LOG_INFO, tag)
}

// newLoggerFor builds the daemon's logger from the command line and global_defs. Without -S it
// logs to stderr. With -S N it logs to syslog with facility localN (Keepalived's meaning), and
// to stderr as well with -l. When no syslog socket can be opened it logs to stderr and says so
// once. The returned function closes the syslog connection.
func newLoggerFor(o options, cfg *config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	return newLoggerWith(o, cfg, stderr, localSyslog)
}

func newLoggerWith(o options, cfg *config.Config, stderr io.Writer, dial dialSyslog) (*slog.Logger, func(), error) {
	console := newLogger(o, cfg, stderr)
	if o.logFacility == "" {
		return console, func() {}, nil
	}
	facility, err := parseFacility(o.logFacility)
	if err != nil {
		return nil, nil, err
	}
	w, err := dial(facility, syslogTag)
	if err != nil {
		console.Warn("syslog unavailable: logging to stderr instead", "facility", o.logFacility, "err", err)
		return console, func() {}, nil
	}
	level := slog.LevelInfo
	if o.logDetail {
		level = slog.LevelDebug
	}
	var h slog.Handler = newSyslogHandler(w, level, logFormat(o, cfg))
	if o.logConsole {
		h = slog.NewMultiHandler(h, console.Handler())
	}
	return slog.New(h), func() { _ = w.Close() }, nil
}

// parseFacility reads -S: 0 to 7 for local0 to local7.
func parseFacility(s string) (syslog.Priority, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 7 {
		return 0, fmt.Errorf("log facility %q invalid: expected 0 to 7 (local0 to local7)", s)
	}
	return syslog.LOG_LOCAL0 + syslog.Priority(n)<<3, nil
}

// logFormat is --log-format, else global_defs log_format, else text.
func logFormat(o options, cfg *config.Config) string {
	if o.logFormat != "" {
		return o.logFormat
	}
	if cfg != nil && cfg.Global.LogFormat != "" {
		return cfg.Global.LogFormat
	}
	return "text"
}

// syslogHandler formats a record as the text or JSON handler would, without the time (syslog
// stamps its own), and writes it at the record's syslog priority.
type syslogHandler struct {
	out   *syslogOut
	inner slog.Handler // writes into out.buf
}

// syslogOut is shared by a handler and those derived from it with WithAttrs and WithGroup.
type syslogOut struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   *syslog.Writer
}

func newSyslogHandler(w *syslog.Writer, level slog.Leveler, format string) *syslogHandler {
	out := &syslogOut{w: w}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var inner slog.Handler
	if format == "json" {
		inner = slog.NewJSONHandler(&out.buf, opts)
	} else {
		inner = slog.NewTextHandler(&out.buf, opts)
	}
	return &syslogHandler{out: out, inner: inner}
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	line := strings.TrimSuffix(h.out.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.out.w.Err(line)
	case r.Level >= slog.LevelWarn:
		return h.out.w.Warning(line)
	case r.Level >= slog.LevelInfo:
		return h.out.w.Info(line)
	default:
		return h.out.w.Debug(line)
	}
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{out: h.out, inner: h.inner.WithAttrs(as)}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{out: h.out, inner: h.inner.WithGroup(name)}
}

// startupLog holds what vigil logs while it starts, so that when it cannot start (a port it
// cannot bind, a configuration it cannot use) the one line that says why comes first, before
// the warnings that led up to it; once vigil runs, the held lines are written in order and
// logging goes straight through.
type startupLog struct {
	base *slog.Logger // writes at once
	mu   sync.Mutex
	held []heldRecord
	// released is set once the held records are out; read without mu on the fast path.
	released atomic.Bool
}

type heldRecord struct {
	h slog.Handler
	r slog.Record
}

// holdStartup returns the startup log over base and the logger whose records it holds.
func holdStartup(base *slog.Logger) (*startupLog, *slog.Logger) {
	s := &startupLog{base: base}
	return s, slog.New(&holdingHandler{log: s, inner: base.Handler()})
}

// release writes the held records and lets later ones through.
func (s *startupLog) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released.Load() {
		return
	}
	for _, h := range s.held {
		_ = h.h.Handle(context.Background(), h.r)
	}
	s.held = nil
	s.released.Store(true)
}

// fail logs why vigil cannot start, first, then what was held.
func (s *startupLog) fail(msg string, args ...any) {
	s.base.Error(msg, args...)
	s.release()
}

// holdingHandler passes records to inner once the startup log is released, and holds them
// until then.
type holdingHandler struct {
	log   *startupLog
	inner slog.Handler
}

func (h *holdingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *holdingHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.log.released.Load() {
		return h.inner.Handle(ctx, r)
	}
	h.log.mu.Lock()
	if !h.log.released.Load() {
		h.log.held = append(h.log.held, heldRecord{h: h.inner, r: r.Clone()})
		h.log.mu.Unlock()
		return nil
	}
	h.log.mu.Unlock()
	return h.inner.Handle(ctx, r)
}

func (h *holdingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &holdingHandler{log: h.log, inner: h.inner.WithAttrs(as)}
}

func (h *holdingHandler) WithGroup(name string) slog.Handler {
	return &holdingHandler{log: h.log, inner: h.inner.WithGroup(name)}
}

// Every line vigil writes goes through slog, in the format and to the place configured. Two
// libraries log on their own: the standard log package (used by libraries that know no better)
// and gRPC (gRPC checks). routeLibraryLogs sends both to slog's default logger, which the
// daemon makes its own (useLogger); it is called once, by main, since gRPC's logger may only be
// set before gRPC is used.
func routeLibraryLogs() {
	grpclog.SetLoggerV2(grpcLogger{})
}

// useLogger makes log the default slog logger, which the standard log package's lines and
// gRPC's (routeLibraryLogs) go through.
func useLogger(log *slog.Logger) { slog.SetDefault(log) }

// grpcLogger is gRPC's LoggerV2 over slog's default logger, with "part" "grpc". gRPC's info
// and warning lines are about connections it retries on its own: debug lines here, as gRPC
// itself shows only its errors unless asked; its errors are warnings (a check's own reason says
// whether the real server is down).
type grpcLogger struct{}

func (grpcLogger) log(level slog.Level, msg string) {
	slog.Default().Log(context.Background(), level, strings.TrimSpace(msg), "part", "grpc")
}

func (g grpcLogger) Info(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any) { g.log(slog.LevelDebug, fmt.Sprintln(args...)) }
func (g grpcLogger) Infof(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Warning(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any) { g.log(slog.LevelDebug, fmt.Sprintln(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Error(args ...any)   { g.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any) { g.log(slog.LevelWarn, fmt.Sprintln(args...)) }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}

// Fatal logs and exits, as gRPC expects of its logger's Fatal.
func (g grpcLogger) Fatal(args ...any) { g.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any) {
	g.log(slog.LevelError, fmt.Sprintln(args...))
	os.Exit(1)
}
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether gRPC's verbose lines (level 1 and up) are wanted: never; level 0 is.
func (grpcLogger) V(l int) bool { return l <= 0 }
