package syntax

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorDiagnosticsPutsEachJoinedErrorAtItsLine(t *testing.T) {
	at := func(line int) Pos { return Pos{File: "k.conf", Line: line} }
	err := errors.Join(
		ErrorAt(at(3), "regex %q: %w", "(?<=a)b", errors.New("invalid or unsupported Perl syntax")),
		errors.Join(ErrorAt(at(7), "static_rules: no action")), // a build that joins its own
		fmt.Errorf("wrapped: %w", ErrorAt(at(9), "inner")),
		errors.New("no position"),
	)
	got := ErrorDiagnostics(err, at(1))
	want := []Diagnostic{
		{at(3), Error, `regex "(?<=a)b": invalid or unsupported Perl syntax`},
		{at(7), Error, "static_rules: no action"},
		{at(9), Error, "inner"},
		{at(1), Error, "no position"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("#%d: got %v, want %v", i, got[i], want[i])
		}
	}
	if ErrorDiagnostics(nil, at(1)) != nil {
		t.Error("nil error gave diagnostics")
	}
	if s := ErrorAt(at(3), "bad").Error(); s != "k.conf:3: bad" {
		t.Errorf("PosError renders %q, want file:line: message", s)
	}
}
