package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// FuzzParse feeds arbitrary text through the lexer and the parser: no input may panic, hang or
// grow memory without bound. Seeds: Keepalived's samples (when shared/ is beside the repository)
// and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{filepath.Join("..", "..", "..", "shared", "samples"), filepath.Join("..", "..", "..", "shared", "corpus")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 80 {\n  TCP_CHECK {\n }\n}\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		start := time.Now()
		diags := &syntax.Diagnostics{}
		lines := syntax.LexBytes("fuzz.conf", src, syntax.Options{ConfigID: "fuzz", MaxLines: 100_000}, diags)
		cfg := Parse(lines, diags)
		if cfg == nil {
			t.Fatal("Parse returned nil")
		}
		for _, d := range diags.List {
			if d.Message == "" {
				t.Fatalf("empty diagnostic at %s", d.Pos)
			}
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("parsing %d bytes took %v", len(src), took)
		}
	})
}
