package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
