package syntax

import (
	"errors"
	"fmt"
	"strconv"
)

// Pos is where a line came from: the file (as it was named to the reader) and its 1-based line.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string {
	if p.File == "" && p.Line == 0 {
		return "-"
	}
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Severity says whether a diagnostic makes the configuration unusable.
type Severity int

const (
	// Warning: Keepalived would go on (it ignores the line or uses a default); so does vigil.
	Warning Severity = iota
	// Error: the configuration cannot be used as written.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// MarshalText makes severities readable in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one complaint about the configuration.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String renders the diagnostic as `file:line: level: message`, the format of `vigil -t`.
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Message)
}

// Diagnostics collects complaints in the order they were found.
type Diagnostics struct {
	List []Diagnostic
}

// Warnf records a warning at pos.
func (ds *Diagnostics) Warnf(pos Pos, format string, args ...any) {
	ds.List = append(ds.List, Diagnostic{Pos: pos, Severity: Warning, Message: fmt.Sprintf(format, args...)})
}

// Errorf records an error at pos.
func (ds *Diagnostics) Errorf(pos Pos, format string, args ...any) {
	ds.List = append(ds.List, Diagnostic{Pos: pos, Severity: Error, Message: fmt.Sprintf(format, args...)})
}

// HasErrors reports whether any diagnostic is an error.
func (ds *Diagnostics) HasErrors() bool {
	for _, d := range ds.List {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Line is one logical configuration line after lexing: its words, with '{' and '}' as words of
// their own, and where it came from.
type Line struct {
	Pos   Pos
	Words []string
}

// PosError is an error about the configuration at Pos. The parts that build what a
// configuration asks for (checkers, pools, VRRP instances) return them, so that a refusal names
// its line and `vigil -t` can report it there.
type PosError struct {
	Pos Pos
	Err error
}

func (e *PosError) Error() string { return e.Pos.String() + ": " + e.Err.Error() }

// Unwrap returns the error without its position.
func (e *PosError) Unwrap() error { return e.Err }

// ErrorAt returns a *PosError at pos; format and args are as for fmt.Errorf (%w wraps).
func ErrorAt(pos Pos, format string, args ...any) error {
	return &PosError{Pos: pos, Err: fmt.Errorf(format, args...)}
}

// ErrorDiagnostics turns err into error diagnostics: one per error that errors.Join put
// together, each at the position of the *PosError it holds, or at fallback when it holds none.
// A nil err gives none.
func ErrorDiagnostics(err error, fallback Pos) []Diagnostic {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []Diagnostic
		for _, e := range joined.Unwrap() {
			out = append(out, ErrorDiagnostics(e, fallback)...)
		}
		return out
	}
	var pe *PosError
	if errors.As(err, &pe) {
		return []Diagnostic{{Pos: pe.Pos, Severity: Error, Message: pe.Err.Error()}}
	}
	return []Diagnostic{{Pos: fallback, Severity: Error, Message: err.Error()}}
}
