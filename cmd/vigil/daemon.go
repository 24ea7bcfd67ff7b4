package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/daemon"
)

// Keepalived's paths for SIGUSR1 (state) and SIGUSR2 (statistics) dumps.
const (
	dumpDataPath  = "/tmp/keepalived.data"
	dumpStatsPath = "/tmp/keepalived.stats"
)

func newLogger(o options, cfg *config.Config, stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if o.logDetail {
		level = slog.LevelDebug
	}
	format := o.logFormat
	if format == "" && cfg != nil {
		format = cfg.Global.LogFormat
	}
	hopts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(stderr, hopts))
}

// logDiagnostics logs what the configuration test found; it reports whether the configuration
// is usable.
func logDiagnostics(log *slog.Logger, diags *config.Diagnostics) bool {
	for _, d := range diags.List {
		if d.Severity == config.Error {
			log.Error(d.Message, "at", d.Pos.String())
		} else {
			log.Warn(d.Message, "at", d.Pos.String())
		}
	}
	return !diags.HasErrors()
}

func runDaemon(o options, stdout, stderr io.Writer) int {
	if o.vrrpOnly {
		fmt.Fprintln(stderr, "vigil: the VRRP half is not in this build yet; run without -P")
		return 1
	}
	cfg, diags, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	log := newLogger(o, cfg, stderr)
	if !logDiagnostics(log, diags) {
		log.Error("configuration is not usable", "file", o.configFile)
		return 1
	}
	if len(cfg.VRRPInstances) > 0 && !o.checkOnly {
		log.Warn("VRRP instances are parsed but not run by this build yet; virtual addresses are not managed", "instances", len(cfg.VRRPInstances))
	}
	return serve(o, cfg, log)
}

// serve runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the configuration file.
func serve(o options, cfg *config.Config, log *slog.Logger) int {
	d, err := daemon.New(cfg, daemon.Options{Logger: log, Version: version, Dataplane: o.dataplane})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Error("pid file", "err", err)
			return 1
		}
		defer os.Remove(o.pidFile)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	sd := startSystemd(ctx, log, func() { d.Snapshot() })
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				switch s {
				case syscall.SIGHUP:
					reloadNotifying(sd, o, d, log)
				case syscall.SIGUSR1:
					writeDump(log, dumpDataPath, d.Snapshot())
				case syscall.SIGUSR2:
					writeDump(log, dumpStatsPath, d.Snapshot())
				default:
					log.Info("stopping", "signal", s.String())
					cancel()
				}
			}
		}
	}()
	log.Info("vigil started", "version", version, "config", o.configFile, "virtual_servers", len(cfg.VirtualServers))
	if err := d.Run(ctx); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("vigil stopped")
	return 0
}

// reload reads the configuration file again; a configuration with errors is refused and the
// running one stays.
func reload(o options, d *daemon.Daemon, log *slog.Logger) {
	cfg, diags, err := loadConfig(o)
	if err != nil {
		log.Error("reload refused: the running configuration stays", "err", err)
		return
	}
	if !logDiagnostics(log, diags) {
		log.Error("reload refused: the running configuration stays", "file", o.configFile)
		return
	}
	if err := d.Reload(cfg); err != nil {
		log.Error("reload refused: the running configuration stays", "err", err)
		return
	}
	log.Info("reloaded", "file", o.configFile, "virtual_servers", len(cfg.VirtualServers))
}

func writeDump(log *slog.Logger, path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(b, '\n'), 0o600)
	}
	if err != nil {
		log.Error("state dump", "path", path, "err", err)
		return
	}
	log.Info("state dumped", "path", path)
}
