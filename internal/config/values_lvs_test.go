package config

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

// lvsMessages renders diagnostics as "LINE: message" ("LINE: error: message" for errors), the
// form the LVS tests compare against.
func lvsMessages(d *Diagnostics) []string {
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
			p := &parser{diags: d}
			got, ok, _ := p.lvsTimer(Line{Pos: Pos{Line: 1}, Words: []string{"delay_loop", tt.word}}, 1, tt.min, tt.max)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("lvsTimer(%q) = %v, %v; want %v, %v", tt.word, got, ok, tt.want, tt.ok)
			}
			if msgs := lvsMessages(d); !slices.Equal(msgs, nonNil(tt.msgs)) {
				t.Errorf("messages = %q, want %q", msgs, tt.msgs)
			}
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
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
		p := &parser{diags: d}
		got, ok := p.kaUnsigned(Pos{Line: 1}, tt.word, tt.min, tt.max)
		if tt.msg == "" {
			if !ok || got != tt.want || len(d.List) != 0 {
				t.Errorf("lvsUnsigned(%q) = %d, %v, %v; want %d", tt.word, got, ok, d.List, tt.want)
			}
			continue
		}
		if ok || len(d.List) != 1 || d.List[0].Message != tt.msg {
			t.Errorf("lvsUnsigned(%q) = %v, %v; want message %q", tt.word, ok, d.List, tt.msg)
		}
	}
}

func TestHexStringReadsPairsAndWildcards(t *testing.T) {
	tests := []struct {
		in        string
		wildcards bool
		data      []byte
		mask      []byte
		ok        bool
	}{
		{in: "0a0b", data: []byte{0x0a, 0x0b}, ok: true},
		{in: "0a 0b ff", data: []byte{0x0a, 0x0b, 0xff}, ok: true},
		{in: "a b", data: []byte{0x0a, 0x0b}, ok: true},
		{in: "zz", ok: false},
		{in: "", ok: false},
		{in: "0x", ok: false},
		{in: "0x ff", wildcards: true, data: []byte{0x00, 0xff}, mask: []byte{0xf0, 0xff}, ok: true},
		{in: "XX", wildcards: true, data: []byte{0x00}, mask: []byte{0x00}, ok: true},
	}
	for _, tt := range tests {
		data, mask, ok := lvsHexString(tt.in, tt.wildcards)
		if ok != tt.ok || !bytes.Equal(data, tt.data) || !bytes.Equal(mask, tt.mask) {
			t.Errorf("lvsHexString(%q, %v) = %x, %x, %v; want %x, %x, %v", tt.in, tt.wildcards, data, mask, ok, tt.data, tt.mask, tt.ok)
		}
	}
}
