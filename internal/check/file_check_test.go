package check

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestStrtolMatchesC(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"42\n", 42, true}, {"  -7 apples", -7, true}, {"+3", 3, true}, {"0x1F", 31, true},
		{"0X1f", 31, true}, {"010", 8, true}, {"09", 0, true}, {"abc", 0, true}, {"", 0, true},
		{"0x", 0, true}, {"99999999999999999999", 0, false}, {"-9223372036854775808", -9223372036854775808, true},
	}
	for _, tt := range tests {
		got, ok := strtol(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("strtol(%q) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFileCheckWeighsTheNumberInTheFile(t *testing.T) {
	tests := []struct {
		name        string
		content     *string // nil: no file
		weight      int
		reverse     bool
		base        int
		wantHealthy bool
		wantWeight  int
	}{
		{"number times weight is added to the base", fileCheckPtr("5\n"), 2, false, 10, true, 20},
		{"reverse subtracts", fileCheckPtr("3"), 2, true, 10, true, 4},
		{"weight never goes below 0", fileCheckPtr("100"), -1, false, 10, true, 0},
		{"missing file reads as 0", nil, 2, false, 10, true, 10},
		{"empty file reads as 0", fileCheckPtr(""), 2, false, 10, true, 10},
		{"text without a number reads as 0", fileCheckPtr("up"), 2, false, 10, true, 10},
		{"product at -2^31 is a failure", fileCheckPtr("-2147483648"), 1, false, 10, false, -1},
		{"product clamped below -2^31 is a failure", fileCheckPtr("-2000000000"), 2, false, 10, false, -1},
		{"weight 0: zero is healthy", fileCheckPtr("0"), 0, false, 10, true, -1},
		{"weight 0: non-zero is a failure", fileCheckPtr("1"), 0, false, 10, false, -1},
		{"weight 0 reverse: zero is a failure", fileCheckPtr("0"), 0, true, 10, false, -1},
		{"weight 0 reverse: non-zero is healthy", fileCheckPtr("7"), 0, true, 10, true, -1},
		{"hex number", fileCheckPtr("0x10"), 1, false, 0, true, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "track")
			if tt.content != nil {
				must(t, os.WriteFile(path, []byte(*tt.content), 0o644))
			}
			c := NewFile(FileOptions{Path: path, Weight: tt.weight, Reverse: tt.reverse, BaseWeight: tt.base})
			got := c.Check(context.Background())
			if got.Healthy != tt.wantHealthy || got.Weight != tt.wantWeight {
				t.Fatalf("Check = %+v, want healthy=%v weight=%d", got, tt.wantHealthy, tt.wantWeight)
			}
		})
	}
}

func TestFileCheckIgnoresNumberOutOfRangeAndKeepsThePreviousOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "track")
	c := NewFile(FileOptions{Path: path, Weight: 1, BaseWeight: 0})
	must(t, os.WriteFile(path, []byte("7"), 0o644))
	if got := c.Check(context.Background()); got.Weight != 7 {
		t.Fatalf("weight %d, want 7", got.Weight)
	}
	must(t, os.WriteFile(path, []byte("5000000000"), 0o644))
	if got := c.Check(context.Background()); got.Weight != 7 || !got.Healthy {
		t.Fatalf("after an out-of-range number: %+v, want weight 7 kept", got)
	}
	must(t, os.Remove(path))
	if got := c.Check(context.Background()); got.Weight != 0 {
		t.Fatalf("after removal: %+v, want weight 0", got)
	}
}

func fileCheckPtr(s string) *string { return &s }
