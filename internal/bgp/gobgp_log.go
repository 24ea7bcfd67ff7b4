package bgp

import (
	"context"
	"log/slog"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger hands GoBGP's log lines to slog. GoBGP's Panic and Fatal become errors: the
// library must not end vigil's process.
type gobgpLogger struct{ log *slog.Logger }

func (g gobgpLogger) emit(level slog.Level, msg string, fields gobgplog.Fields) {
	if !g.log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, 2*len(fields)+2)
	attrs = append(attrs, "component", "gobgp")
	for k, v := range fields {
		attrs = append(attrs, k, v)
	}
	g.log.Log(context.Background(), level, msg, attrs...)
}

func (g gobgpLogger) Panic(msg string, f gobgplog.Fields) { g.emit(slog.LevelError, msg, f) }
func (g gobgpLogger) Fatal(msg string, f gobgplog.Fields) { g.emit(slog.LevelError, msg, f) }
func (g gobgpLogger) Error(msg string, f gobgplog.Fields) { g.emit(slog.LevelError, msg, f) }
func (g gobgpLogger) Warn(msg string, f gobgplog.Fields)  { g.emit(slog.LevelWarn, msg, f) }
func (g gobgpLogger) Info(msg string, f gobgplog.Fields)  { g.emit(slog.LevelInfo, msg, f) }
func (g gobgpLogger) Debug(msg string, f gobgplog.Fields) { g.emit(slog.LevelDebug, msg, f) }

// SetLevel is ignored: the slog handler decides what is shown.
func (g gobgpLogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel tells GoBGP whether debug lines would be shown, so that it can skip building them.
func (g gobgpLogger) GetLevel() gobgplog.LogLevel {
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}

var _ gobgplog.Logger = gobgpLogger{}
