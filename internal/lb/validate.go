package lb

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/notify"
)

// Validate says what New would refuse in cfg with opts, and what it would only warn of, each
// at its line, without opening anything: it runs the plan New runs (every checker built, every
// script checked as the runner will check it, every pool spec validated) with a data plane
// that is only named and ICMP sockets that are not opened. `vigil -t` reports what it returns;
// New refuses cfg exactly when it holds an error, unless the host refuses what Validate does
// not open (the data plane's kernel handle, ICMP sockets).
func Validate(cfg *config.Config, opts Options) []config.Diagnostic {
	var out []config.Diagnostic
	name := cmp.Or(opts.Dataplane, cfg.Global.Dataplane)
	if err := checkDataplaneName(name); err != nil {
		// global_defs dataplane is checked when it is read: a bad name comes from --dataplane.
		out = append(out, config.Diagnostic{Severity: config.Error, Message: "--dataplane: " + err.Error()})
	}
	d := &Half{
		log:     slog.New(slog.DiscardHandler),
		runner:  notify.NewRunner(notify.RunnerOptions{ScriptSecurity: cfg.Global.EnableScriptSecurity}),
		pingers: &pingers{dry: true},
		dpName:  cmp.Or(name, "userspace"),
	}
	p, err := d.plan(cfg)
	out = append(out, p.warnings...)
	return append(out, syntax.ErrorDiagnostics(err, cfg.Global.Pos)...)
}

// checkDataplaneName says whether New knows the data plane name (empty: the default).
func checkDataplaneName(name string) error {
	switch name {
	case "", "userspace", "nftables", "ipvs", "auto":
		return nil
	}
	return fmt.Errorf("data plane %q unknown: expected userspace, nftables, ipvs or auto", name)
}

// problems is plan's refusal: every problem, in file and line order, on one line as logs want
// it; Unwrap gives each (a *syntax.PosError), as errors.Join's would.
type problems []error

func (p problems) Error() string {
	s := make([]string, len(p))
	for i, e := range p {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (p problems) Unwrap() []error { return p }

// joinProblems sorts plan's problems by file and line and joins them.
func joinProblems(list []error) error {
	pos := func(err error) config.Pos {
		var pe *syntax.PosError
		if errors.As(err, &pe) {
			return pe.Pos
		}
		return config.Pos{}
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := pos(list[i]), pos(list[j])
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return problems(list)
}
