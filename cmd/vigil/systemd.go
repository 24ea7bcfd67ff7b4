package main

import (
	"context"
	"log/slog"

	"github.com/vigil-lb/vigil/internal/sdnotify"
)

// startSystemd tells systemd (Type=notify) that the daemon is ready, feeds its watchdog
// (WatchdogSec=) while probe keeps returning, and says STOPPING=1 when ctx ends. probe should
// take the daemon's locks, as d.Snapshot does, so that a deadlocked daemon stops feeding the
// watchdog and systemd restarts it. Outside systemd it does nothing.
func startSystemd(ctx context.Context, log *slog.Logger, probe func()) *sdnotify.Notifier {
	sd, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("systemd watchdog disabled", "err", err)
	}
	if !sd.Enabled() {
		return sd
	}
	if err := sd.Ready(); err != nil {
		log.Warn("cannot tell systemd we are ready", "err", err)
	}
	if interval, ok := sd.WatchdogInterval(); ok {
		log.Info("systemd watchdog armed", "interval", interval.String())
		go sd.KeepAlive(ctx, probe)
	}
	go func() {
		<-ctx.Done()
		_ = sd.Stopping()
	}()
	return sd
}
