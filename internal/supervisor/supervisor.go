package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/vigil-lb/vigil/internal/config"
)

// Part is one piece of vigil the supervisor runs.
type Part interface {
	// Name names the part in logs ("status", "lb", "vrrp", "bgp").
	Name() string
	// Bind opens what the part must hold before any part runs (a port, a listener); a part
	// that binds nothing returns nil.
	Bind() error
	// Run runs the part until ctx ends and returns once it has stopped. Returning before ctx
	// ends stops vigil.
	Run(ctx context.Context) error
	// Reload moves the part to cfg, or refuses it with an error and keeps what it runs.
	Reload(cfg *config.Config) error
}

// Supervisor starts parts in order, stops them in reverse, and reloads them.
type Supervisor struct {
	log   *slog.Logger
	parts []Part

	bindOnce sync.Once
	bindErr  error

	reloadMu sync.Mutex
	// running is what the parts run of the configuration in force, for the reload guard.
	running *config.Config
	// runs picks what the parts run of a configuration (nil: all of it).
	runs func(*config.Config) *config.Config
	// record hears each reload's outcome (nil: nobody).
	record func(outcome, reason string)
	// afterBind runs once every part is bound, before any runs (Build: hand the first states
	// to every observer).
	afterBind func(ctx context.Context) error
}

// New returns a supervisor for parts, in start order, running cfg.
func New(log *slog.Logger, cfg *config.Config, parts ...Part) *Supervisor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{log: log, parts: parts, running: cfg}
}

// Parts are the supervisor's parts in start order.
func (s *Supervisor) Parts() []Part { return s.parts }

// Bind binds every part in order and stops at the first that cannot bind, naming it. Run calls
// it when it was not called.
func (s *Supervisor) Bind() error {
	s.bindOnce.Do(func() {
		for _, p := range s.parts {
			if err := p.Bind(); err != nil {
				s.bindErr = fmt.Errorf("%s: %w", p.Name(), err)
				return
			}
		}
		if s.afterBind != nil {
			s.bindErr = s.afterBind(context.Background())
		}
	})
	return s.bindErr
}

// Run binds (if Bind was not called), starts every part in order, and waits until ctx ends or a
// part stops on its own; then it stops the parts in reverse order, each after the one started
// after it has returned. It returns the first error of a part that stopped early or failed
// to stop cleanly; nil after a clean stop.
func (s *Supervisor) Run(ctx context.Context) error {
	if err := s.Bind(); err != nil {
		return err
	}
	type running struct {
		part Part
		stop context.CancelFunc
		done chan error
	}
	var started []*running
	early := make(chan *running, len(s.parts))
	for _, p := range s.parts {
		pctx, stop := context.WithCancel(context.Background())
		r := &running{part: p, stop: stop, done: make(chan error, 1)}
		started = append(started, r)
		go func() {
			err := p.Run(pctx)
			r.done <- err
			if pctx.Err() == nil {
				early <- r
			}
		}()
	}
	var failed error
	select {
	case <-ctx.Done():
	case r := <-early:
		err := <-r.done
		r.done <- err // for the ordered stop below
		s.log.Error("a part of vigil stopped early; stopping the rest", "part", r.part.Name(), "err", err)
		failed = fmt.Errorf("%s stopped early: %w", r.part.Name(), orStopped(err))
	}
	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		r.stop()
		if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("stopped", "part", r.part.Name(), "err", err)
			if failed == nil {
				failed = fmt.Errorf("%s: %w", r.part.Name(), err)
			}
		}
	}
	return failed
}

func orStopped(err error) error {
	if err == nil {
		return errors.New("returned without an error")
	}
	return err
}

// ReloadError is a refused reload; the running configuration stays.
type ReloadError struct{ Reason string }

func (e *ReloadError) Error() string { return "reload refused: " + e.Reason }

// Reload applies next (read with diags) to every part, in start order, unless the reload is
// refused: the file has errors; or it has complaints and would remove running blocks
// (config.RefuseReload); or a part refuses it, in which case the parts before it have applied
// it and the rest keep the running configuration (the error says which). Every outcome is
// recorded once.
func (s *Supervisor) Reload(next *config.Config, diags *config.Diagnostics) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	refuse := func(reason string) error {
		s.log.Error("reload refused: the running configuration stays", "reason", reason)
		if s.record != nil {
			s.record("refused", reason)
		}
		return &ReloadError{Reason: reason}
	}
	if diags == nil {
		diags = &config.Diagnostics{}
	}
	for _, d := range diags.List {
		if d.Severity == config.Error {
			return refuse(fmt.Sprintf("%d error(s), the first at %s: %s", countErrors(diags), d.Pos, d.Message))
		}
	}
	runs := s.runs
	if runs == nil {
		runs = func(c *config.Config) *config.Config { return c }
	}
	if err := config.RefuseReload(s.running, runs(next), diags, next.Global.ReloadRemoveDespiteComplaints); err != nil {
		return refuse(err.Error())
	}
	for i, p := range s.parts {
		if err := p.Reload(next); err != nil {
			why := fmt.Sprintf("the %s part refused it: %v", p.Name(), err)
			if i > 0 {
				why += fmt.Sprintf(" (the parts before it applied it: %s)", partNames(s.parts[:i]))
			}
			return refuse(why)
		}
	}
	s.running = runs(next)
	summary := fmt.Sprintf("%d virtual server(s), %d vrrp instance(s), %d warning(s)", len(next.VirtualServers), len(next.VRRPInstances), len(diags.List))
	s.log.Info("reloaded", "virtual_servers", len(next.VirtualServers), "vrrp_instances", len(next.VRRPInstances))
	if s.record != nil {
		s.record("applied", summary)
	}
	return nil
}

func partNames(ps []Part) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.Name()
	}
	return s
}

func countErrors(diags *config.Diagnostics) int {
	n := 0
	for _, d := range diags.List {
		if d.Severity == config.Error {
			n++
		}
	}
	return n
}
