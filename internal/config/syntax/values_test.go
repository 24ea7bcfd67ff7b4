package syntax

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// messages renders diagnostics as "LINE: message" ("LINE: error: message" for errors).
func lineMessages(d *Diagnostics) []string {
	out := []string{}
	for _, x := range d.List {
		if x.Severity == Error {
			out = append(out, fmt.Sprintf("%d: error: %s", x.Pos.Line, x.Message))
		} else {
			out = append(out, fmt.Sprintf("%d: %s", x.Pos.Line, x.Message))
		}
	}
	return out
}

func TestTimerReadsKeepalivedDecimals(t *testing.T) {
	tests := []struct {
		word     string
		min, max uint64
		want     time.Duration
		ok       bool
		msgs     []string
	}{
		{word: "6", min: 1, want: 6 * time.Second, ok: true},
		{word: "1.5", min: 1, want: 1500 * time.Millisecond, ok: true},
		{word: "0.000001", min: 1, want: time.Microsecond, ok: true},
		{word: "1.1234567", min: 1, want: 1123457 * time.Microsecond, ok: true,
			msgs: []string{"1: number '1.1234567' has too many decimal places"}},
		{word: "1.1234564", min: 1, want: 1123456 * time.Microsecond, ok: true,
			msgs: []string{"1: number '1.1234564' has too many decimal places"}},
		{word: "0", min: 1, msgs: []string{"1: number '0' outside range [0.000001, 18446744073709.551614]"}},
		{word: "0", min: 1, max: 4294967295, msgs: []string{"1: number '0' outside range [0.000001, 4294.967295]"}},
		{word: "0", min: 0, want: 0, ok: true},
		{word: "-1", min: 0, msgs: []string{"1: negative number '-1'"}},
		{word: "1x", min: 0, msgs: []string{"1: invalid number '1x'"}},
		{word: "99999999999999999999", min: 0, msgs: []string{"1: number '99999999999999999999' outside unsigned decimal range"}},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			d := &Diagnostics{}
			p := &Parser{Diags: d}
			got, ok, _ := p.Timer(Line{Pos: Pos{Line: 1}, Words: []string{"delay_loop", tt.word}}, 1, tt.min, tt.max)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("Timer(%q) = %v, %v; want %v, %v", tt.word, got, ok, tt.want, tt.ok)
			}
			if msgs := lineMessages(d); !slices.Equal(msgs, tt.msgs) && (len(msgs) != 0 || len(tt.msgs) != 0) {
				t.Errorf("messages = %q, want %q", msgs, tt.msgs)
			}
		})
	}
}

func TestUnsignedReaderUsesKeepalivedMessages(t *testing.T) {
	tests := []struct {
		word     string
		min, max uint64
		want     uint64
		msg      string
	}{
		{word: "7", min: 0, max: 10, want: 7},
		{word: "+7", min: 0, max: 10, want: 7},
		{word: "0", min: 1, max: 4294967295, msg: "number '0' outside range [1, 4294967295]"},
		{word: "-1", min: 0, max: 10, msg: "negative number '-1'"},
		{word: "abc", min: 0, max: 10, msg: "invalid number 'abc'"},
		{word: "4294967296", min: 0, max: 4294967295, msg: "number '4294967296' outside unsigned integer range"},
	}
	for _, tt := range tests {
		d := &Diagnostics{}
		p := &Parser{Diags: d}
		got, ok := p.Unsigned(Pos{Line: 1}, tt.word, tt.min, tt.max)
		if tt.msg == "" {
			if !ok || got != tt.want || len(d.List) != 0 {
				t.Errorf("Unsigned(%q) = %d, %v, %v; want %d", tt.word, got, ok, d.List, tt.want)
			}
			continue
		}
		if ok || len(d.List) != 1 || d.List[0].Message != tt.msg {
			t.Errorf("Unsigned(%q) = %v, %v; want message %q", tt.word, ok, d.List, tt.msg)
		}
	}
}

// Decimal and Timer are one reader: Timer reads as Keepalived does with ignore_error (a '+'
// allowed, in-range leading digits of a malformed word accepted silently), Decimal as vigil's
// VRRP tables always have (a plain number or "invalid number").
func TestDecimalIsExactWhereTimerIgnoresErrors(t *testing.T) {
	tests := []struct {
		word                string
		decimalOK           bool
		timerOK, timerQuiet bool
		msgs                []string
	}{
		{word: "2.5", decimalOK: true, timerOK: true},
		{word: "+2", timerOK: true, msgs: []string{"1: invalid number '+2'"}},
		{word: "1x", timerQuiet: true, msgs: []string{"1: invalid number '1x'", "1: invalid number '1x'"}},
		{word: "-1", msgs: []string{"1: negative number '-1'", "1: negative number '-1'"}},
	}
	for _, tt := range tests {
		d := &Diagnostics{}
		p := &Parser{Diags: d}
		l := Line{Pos: Pos{Line: 1}, Words: []string{"k", tt.word}}
		_, dok := p.Decimal(l.Pos, tt.word, 0, 10e6)
		_, tok, quiet := p.Timer(l, 1, 0, 10e6)
		if dok != tt.decimalOK || tok != tt.timerOK || quiet != tt.timerQuiet {
			t.Errorf("%q: Decimal ok %v, Timer ok %v silent %v; want %v, %v, %v", tt.word, dok, tok, quiet, tt.decimalOK, tt.timerOK, tt.timerQuiet)
		}
		if got := lineMessages(d); !slices.Equal(got, tt.msgs) && (len(got) != 0 || len(tt.msgs) != 0) {
			t.Errorf("%q: messages %q, want %q", tt.word, got, tt.msgs)
		}
	}
}

// Int skips leading blanks as strtol does: a quoted word may start with them.
func TestIntSkipsLeadingBlanksAsStrtol(t *testing.T) {
	p := &Parser{Diags: &Diagnostics{}}
	if v, ok := p.Int(Pos{Line: 1}, "  -5", -10, 10); !ok || v != -5 {
		t.Errorf(`Int("  -5") = %d, %v; want -5, true`, v, ok)
	}
}
