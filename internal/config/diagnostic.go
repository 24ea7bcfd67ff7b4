package config

import (
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
