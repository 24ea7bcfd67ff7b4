package syntax

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchConfig writes a configuration of n lines shaped like a large real one: virtual servers
// with real servers and checks, comments, quoted scripts, a definition and a conditional line.
func benchConfig(tb testing.TB, n int) string {
	tb.Helper()
	var b strings.Builder
	lines := 0
	add := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
		lines++
	}
	add("$PORT=80")
	for vs := 0; lines < n; vs++ {
		add("# virtual server %d", vs)
		add("virtual_server 192.0.2.%d $PORT {", vs%250+1)
		add("\tdelay_loop 6 ! seconds")
		add("\tlb_algo rr")
		add("@main\tquorum_up \"/usr/local/bin/notify.sh up %d\"", vs)
		for rs := 0; rs < 8 && lines < n-4; rs++ {
			add("\treal_server 198.51.100.%d ${PORT} {", rs+1)
			add("\t\tweight 1")
			add("\t\tHTTP_GET { url { path /health; status_code 200 } }")
			add("\t}")
		}
		add("}")
	}
	path := filepath.Join(tb.TempDir(), "bench.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func BenchmarkLex100kLines(b *testing.B) {
	path := benchConfig(b, 100_000)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		d := &Diagnostics{}
		lines, err := Lex(path, Options{ConfigID: "main"}, d)
		if err != nil || len(lines) < 90_000 || len(d.List) != 0 {
			b.Fatalf("lex: %d lines, err %v, diagnostics %v", len(lines), err, d.List)
		}
	}
}
