package track

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/notify"
)

// Script runs one vrrp_script every interval and reports its state.
type Script struct {
	cfg    *vrrpd.Script
	runner *notify.Runner
	user   *notify.User
	clk    clock.Clock
	log    *slog.Logger
}

// NewScript returns a Script for cfg. user runs it when cfg names no user of its own (the
// global script user); a user named in cfg that does not exist makes every run fail.
func NewScript(cfg *vrrpd.Script, runner *notify.Runner, user *notify.User, clk clock.Clock, log *slog.Logger) *Script {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Script{cfg: cfg, runner: runner, user: user, clk: clk, log: log.With("script", cfg.Name)}
}

// Run runs the script at once and then every interval until ctx ends, calling report with
// the new state each time it changes (after rise successes or fall failures in a row). A run
// that outlives the timeout is killed and counts as a failure.
func (s *Script) Run(ctx context.Context, report func(up bool)) {
	h := NewHysteresis(s.cfg.Rise, s.cfg.Fall, s.cfg.InitFail)
	if s.cfg.InitFail {
		report(false)
	}
	interval := s.cfg.Interval.D()
	if interval <= 0 {
		interval = time.Second
	}
	timeout := s.cfg.Timeout.D()
	if timeout <= 0 {
		timeout = interval
	}
	user := s.user
	if s.cfg.User != "" {
		u, err := notify.LookupUser(s.cfg.User, s.cfg.Group)
		if err != nil {
			s.log.Error("vrrp_script user unknown; the script counts as failing", "error", err)
		}
		user = u
	}
	// refused is why the script last could not run at all (script security, a missing file),
	// logged once until the reason changes; a script that runs and fails is logged at debug.
	refused := ""
	for {
		var ok bool
		var result string
		if s.cfg.User != "" && user == nil {
			ok, result = false, "its user "+s.cfg.User+" is unknown"
		} else {
			o := s.runner.Run(ctx, notify.Script{Command: s.cfg.Script.Command, User: user, Timeout: timeout})
			if ctx.Err() != nil {
				return
			}
			ok, result = o.Success(), o.String()
			switch {
			case o.Err != nil && result != refused:
				s.log.Warn("vrrp_script cannot run; it counts as failing", "reason", result)
				refused = result
			case o.Err == nil:
				refused = ""
			}
			if !ok {
				s.log.Debug("vrrp_script failed", "result", result)
			}
		}
		if up, changed := h.Observe(ok); changed {
			if up {
				s.log.Info("vrrp_script state changed", "up", up)
			} else {
				s.log.Info("vrrp_script state changed", "up", up, "reason", result)
			}
			report(up)
		}
		t := s.clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}
