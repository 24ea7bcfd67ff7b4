package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/supervisor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const defaultConfigPath = "/etc/keepalived/keepalived.conf"

// options are the command-line settings shared by every subcommand. Keepalived's flags are
// accepted under their short and long names.
type options struct {
	configFile  string
	configTest  bool
	strict      bool
	configID    string
	dontFork    bool
	logDetail   bool
	logConsole  bool
	logFacility string
	vrrpOnly    bool
	checkOnly   bool
	pidFile     string
	showVersion bool
	dataplane   string
	logFormat   string
}

func newFlagSet(name string, stderr io.Writer, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	both := func(short, long string, fn func(name string)) { fn(short); fn(long) }
	both("f", "use-file", func(n string) { fs.StringVar(&o.configFile, n, defaultConfigPath, "configuration file") })
	both("t", "config-test", func(n string) { fs.BoolVar(&o.configTest, n, false, "test the configuration and exit") })
	fs.BoolVar(&o.strict, "strict", false, "with -t: treat warnings as failures, as `keepalived -t` does")
	both("i", "config-id", func(n string) {
		fs.StringVar(&o.configID, n, "", "select @ID conditional lines (default: short host name)")
	})
	both("n", "dont-fork", func(n string) {
		fs.BoolVar(&o.dontFork, n, false, "accepted for Keepalived compatibility; vigil never forks")
	})
	both("D", "log-detail", func(n string) { fs.BoolVar(&o.logDetail, n, false, "detailed (debug) logging") })
	both("l", "log-console", func(n string) {
		fs.BoolVar(&o.logConsole, n, false, "log to the console (vigil always logs to stderr)")
	})
	both("S", "log-facility", func(n string) { fs.StringVar(&o.logFacility, n, "", "syslog facility 0-7 (local0-local7)") })
	both("P", "vrrp", func(n string) { fs.BoolVar(&o.vrrpOnly, n, false, "run only the VRRP half") })
	both("C", "check", func(n string) { fs.BoolVar(&o.checkOnly, n, false, "run only the checker half") })
	both("p", "pid", func(n string) { fs.StringVar(&o.pidFile, n, "", "write the process id to this file") })
	both("v", "version", func(n string) { fs.BoolVar(&o.showVersion, n, false, "print the version and exit") })
	fs.StringVar(&o.dataplane, "dataplane", "", "data plane: userspace, nftables, ipvs or auto (overrides global_defs)")
	fs.StringVar(&o.logFormat, "log-format", "", "log format: text or json (overrides global_defs)")
	return fs
}

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var o options
	if sub == "status" { // parses its own flags (--status-url, --json)
		return statusCommand(o, args, stdout, stderr)
	}
	if sub == "ctl" { // parses its own flags (--socket, --url, --token) and its command's words
		return ctlCommand(o, args, stdout, stderr)
	}
	fs := newFlagSet("vigil", stderr, &o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	switch {
	case o.showVersion || sub == "version":
		fmt.Fprintf(stdout, "vigil %s\n", version)
		return 0
	case sub == "dump-config":
		return dumpConfig(o, stdout, stderr)
	case sub == "demo":
		return runDemo(o, stdout, stderr)
	case sub != "":
		fmt.Fprintf(stderr, "vigil: unknown command %q (commands: ctl, demo, dump-config, status, version)\n", sub)
		return 2
	case o.configTest:
		return configTest(o, stdout, stderr)
	}
	return runDaemon(o, stdout, stderr)
}

func loadConfig(o options) (*config.Config, *config.Diagnostics, error) {
	return config.Load(o.configFile, config.Options{ConfigID: o.configID})
}

// configTest is `vigil -t`: every diagnostic as `file:line: level: message`, then exit 0 when
// the configuration is usable and 1 when it is not (with --strict, when anything was said).
// Beyond reading the file, it builds every part that starting vigil with these flags would
// build, without opening anything (validateStart), so that what start would refuse (a regex
// RE2 cannot compile, a missing or insecure script, an unknown script user...) is reported
// here at its line, and this host's missing interfaces are warned of.
func configTest(o options, stdout, stderr io.Writer) int {
	cfg, diags, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	diags.List = append(diags.List, supervisor.Validate(cfg, supervisorOptions(o, nil))...)
	for _, d := range diags.List {
		fmt.Fprintln(stdout, d.String())
	}
	if diags.HasErrors() || (o.strict && len(diags.List) > 0) {
		fmt.Fprintf(stderr, "vigil: configuration %s is not usable\n", o.configFile)
		return 1
	}
	fmt.Fprintf(stderr, "vigil: configuration %s is usable (%d warning(s))\n", o.configFile, len(diags.List))
	return 0
}

// dumpConfig prints the resolved model as JSON (docs/dump-config.md describes it).
func dumpConfig(o options, stdout, stderr io.Writer) int {
	cfg, diags, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	for _, d := range diags.List {
		fmt.Fprintln(stderr, d.String())
	}
	out := struct {
		Config      *config.Config      `json:"config"`
		Diagnostics []config.Diagnostic `json:"diagnostics"`
	}{cfg, diags.List}
	if out.Diagnostics == nil {
		out.Diagnostics = []config.Diagnostic{}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	if diags.HasErrors() {
		return 1
	}
	return 0
}
