package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/fdbudget"
	"github.com/vigil-lb/vigil/internal/supervisor"
)

// Keepalived's file names for SIGUSR1 (state) and SIGUSR2 (statistics) dumps.
const (
	dumpDataFile  = "keepalived.data"
	dumpStatsFile = "keepalived.stats"
)

// dumpPath is where the dump named name goes: in $TMPDIR when it is an absolute path to a
// directory, else in /tmp, as Keepalived does.
func dumpPath(name string) string {
	dir := os.Getenv("TMPDIR")
	if fi, err := os.Stat(dir); !filepath.IsAbs(dir) || err != nil || !fi.IsDir() {
		dir = "/tmp"
	}
	return filepath.Join(dir, name)
}

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
	cfg, diags, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	base, closeLog, err := newLoggerFor(o, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	defer closeLog()
	startup, log := holdStartup(base)
	if !logDiagnostics(log, diags) {
		startup.fail("configuration is not usable", "file", o.configFile, "errors", countErrors(diags))
		return 1
	}
	return serve(o, cfg, startup, log, nil)
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

// supervisorOptions are the command line's settings for the supervisor.
func supervisorOptions(o options, log *slog.Logger) supervisor.Options {
	return supervisor.Options{Logger: log, Version: version, Dataplane: o.dataplane, VRRPOnly: o.vrrpOnly, CheckOnly: o.checkOnly}
}

// serve runs vigil until SIGTERM or SIGINT; SIGHUP reloads the configuration file. log's
// records are held by startup until every port and listener is bound: if one cannot be, the
// reason is the first line printed and serve returns 1. Then started, if set, runs (the demo
// prints its instructions) and the held records follow.
func serve(o options, cfg *config.Config, startup *startupLog, log *slog.Logger, started func()) int {
	useLogger(log)
	sopts := supervisorOptions(o, log)
	// As HAProxy does, take every descriptor the hard limit allows; the supervisor shares them
	// out (the descriptor budget).
	lim, err := fdbudget.Raise()
	if err != nil {
		log.Warn("descriptor limit not raised", "err", err, "soft", lim.Soft, "hard", lim.Hard)
	} else if lim.Was < lim.Soft {
		log.Info("descriptor limit raised to the hard limit", "from", lim.Was, "to", lim.Soft)
	}
	sopts.FileLimit = int(min(lim.Soft, 1<<30))
	v, err := supervisor.Build(cfg, sopts)
	if err != nil {
		startup.fail("cannot start", "err", err)
		return 1
	}
	// Bind everything before anything runs: a port or address vigil cannot have is the first
	// line printed and a non-zero exit, not a warning among others.
	if err := v.Bind(); err != nil {
		startup.fail("cannot start: cannot bind", "err", err)
		return 1
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			startup.fail("cannot start: pid file", "err", err)
			return 1
		}
		defer os.Remove(o.pidFile)
	}
	if started != nil {
		started()
	}
	startup.release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	sd := startSystemd(ctx, log, func() { v.Snapshot() })
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				switch s {
				case syscall.SIGHUP:
					_ = sd.Reloading()
					reload(o, v, log)
					_ = sd.Ready()
				case syscall.SIGUSR1:
					dumpToFile(log, dumpPath(dumpDataFile), writeStateDump, v.Snapshot())
				case syscall.SIGUSR2:
					dumpToFile(log, dumpPath(dumpStatsFile), writeStatsDump, v.Snapshot())
				default:
					log.Info("stopping", "signal", s.String())
					cancel()
				}
			}
		}
	}()
	log.Info("vigil started", "version", version, "config", o.configFile, "virtual_servers", len(cfg.VirtualServers), "vrrp_instances", len(cfg.VRRPInstances))
	code := 0
	if err := v.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		code = 1
	}
	log.Info("vigil stopped")
	return code
}

// reload reads the configuration file again and hands it to the supervisor, which applies it
// or refuses it (and records either); a file that cannot be read is refused here.
func reload(o options, v *supervisor.Vigil, log *slog.Logger) {
	cfg, diags, err := loadConfig(o)
	if err != nil {
		diags = &config.Diagnostics{}
		diags.Errorf(config.Pos{File: o.configFile}, "%v", err)
		cfg = &config.Config{}
	}
	logDiagnostics(log, diags)
	_ = v.Reload(cfg, diags)
}
