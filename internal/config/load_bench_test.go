package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// bigConfig writes a configuration of about 100,000 lines: 100 virtual servers of 100 real
// servers each (10,000 in all), each real server with an HTTP_GET of one url.
func bigConfig(tb testing.TB) (path string, lines int) {
	tb.Helper()
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id bench\n}\n")
	for v := 0; v < 100; v++ {
		fmt.Fprintf(&b, "virtual_server 192.0.2.%d 80 {\n  delay_loop 5\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n", v+1)
		for r := 0; r < 100; r++ {
			fmt.Fprintf(&b, "  real_server 198.51.100.%d %d {\n    weight 1\n    HTTP_GET {\n      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 2\n    }\n  }\n", r+1, 8000+v)
		}
		b.WriteString("}\n")
	}
	path = filepath.Join(tb.TempDir(), "big.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path, strings.Count(b.String(), "\n")
}

// BenchmarkLoad100kLines loads a 100,000-line configuration with 10,000 real servers.
func BenchmarkLoad100kLines(b *testing.B) {
	path, lines := bigConfig(b)
	b.ReportMetric(float64(lines), "lines")
	// CPU time per load as well as wall time: on a busy machine the wall time says more about
	// the neighbours than about the parser.
	cpuStart := processCPU()
	b.ResetTimer()
	defer func() {
		b.ReportMetric(float64((processCPU()-cpuStart).Milliseconds())/float64(b.N), "cpu-ms/op")
	}()
	for i := 0; i < b.N; i++ {
		cfg, diags, err := Load(path, syntax.Options{ConfigID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if len(diags.List) != 0 {
			b.Fatalf("unexpected diagnostics: %v", diags.List[0])
		}
		if n := len(cfg.VirtualServers) * len(cfg.VirtualServers[0].RealServers); n != 10_000 {
			b.Fatalf("%d real servers, want 10000", n)
		}
	}
}

func TestBigConfigLoadsEveryRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	path, lines := bigConfig(t)
	if lines < 100_000 {
		t.Fatalf("generated %d lines, want at least 100,000", lines)
	}
	cfg, diags, err := Load(path, syntax.Options{ConfigID: "bench"})
	if err != nil || len(diags.List) != 0 {
		t.Fatalf("load: %v %v", err, diags.List)
	}
	total := 0
	for _, vs := range cfg.VirtualServers {
		total += len(vs.RealServers)
	}
	if total != 10_000 {
		t.Fatalf("%d real servers, want 10000", total)
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
