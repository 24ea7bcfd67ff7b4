package track

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// File watches one track_file: the number written in it (0 when missing or unreadable as a
// number, as Keepalived reads it).
type File struct {
	cfg  *vrrpd.TrackFile
	clk  clock.Clock
	poll time.Duration
	log  *slog.Logger
}

// NewFile returns a File that reads cfg's file every poll (1s when poll is 0).
func NewFile(cfg *vrrpd.TrackFile, clk clock.Clock, poll time.Duration, log *slog.Logger) *File {
	if poll <= 0 {
		poll = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &File{cfg: cfg, clk: clk, poll: poll, log: log.With("track_file", cfg.Name)}
}

// ReadValue reads the number in path as Keepalived does: leading blanks skipped, an optional
// sign and digits; anything else (or a missing file) is 0.
func ReadValue(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(b))
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || end == 0 && (s[end] == '-' || s[end] == '+')) {
		end++
	}
	v, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	return v
}

// Run creates the file if init_file asks for it, then reports its value at once and on every
// change until ctx ends.
func (f *File) Run(ctx context.Context, report func(value int)) {
	if f.cfg.InitFile {
		if _, err := os.Stat(f.cfg.File); err != nil || f.cfg.InitOverwrite {
			if err := os.WriteFile(f.cfg.File, []byte(strconv.Itoa(f.cfg.InitValue)+"\n"), 0o644); err != nil {
				f.log.Error("track_file not initialised", "file", f.cfg.File, "error", err)
			}
		}
	}
	last := ReadValue(f.cfg.File)
	report(last)
	for {
		t := f.clk.NewTimer(f.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if v := ReadValue(f.cfg.File); v != last {
			last = v
			f.log.Info("track_file value changed", "value", v)
			report(v)
		}
	}
}
