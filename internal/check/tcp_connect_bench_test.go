package check

import (
	"context"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// benchTCPTarget is a TCP target for the connect benchmarks: VIGIL_BENCH_TCP_TARGET (a listener
// in another process, so that its accept work is not counted), or a listener in this process.
func benchTCPTarget(b *testing.B) netip.AddrPort {
	if v := os.Getenv("VIGIL_BENCH_TCP_TARGET"); v != "" {
		return netip.MustParseAddrPort(v)
	}
	return closingTCPListener(b)
}

// BenchmarkTCPConnect compares ways of running one TCP_CHECK probe; cpu-ns/op is the process's
// CPU (user and system) per probe, the figure the checker benchmark reports.
func BenchmarkTCPConnect(b *testing.B) {
	ap := benchTCPTarget(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(b *testing.B, probe func() bool) {
		b.ReportAllocs()
		cpu0 := testenv.CPUTime()
		for b.Loop() {
			if !probe() {
				b.Fatal("probe failed")
			}
		}
		b.ReportMetric(float64((testenv.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	b.Run("NetDialer", func(b *testing.B) {
		d := &net.Dialer{KeepAlive: -1}
		addr := ap.String()
		run(b, func() bool {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return false
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return true
		})
	})
	b.Run("RawFullHandshake", func(b *testing.B) {
		c := NewTCP(TCPOptions{ConnOptions{Addr: ap}})
		c.halfOpen = false
		run(b, func() bool { return c.Check(ctx).Healthy })
	})
	b.Run("RawHalfOpen", func(b *testing.B) {
		c := NewTCP(TCPOptions{ConnOptions{Addr: ap}})
		run(b, func() bool { return c.Check(ctx).Healthy })
	})
}

// BenchmarkHTTPCheckProbe runs one HTTP_GET probe of VIGIL_BENCH_HTTP_TARGET (a server in
// another process answering 200), or of a server in this process.
func BenchmarkHTTPCheckProbe(b *testing.B) {
	ap := netip.AddrPort{}
	if v := os.Getenv("VIGIL_BENCH_HTTP_TARGET"); v != "" {
		ap = netip.MustParseAddrPort(v)
	} else {
		srv := httptest.NewServer(httpTestHandler())
		b.Cleanup(srv.Close)
		ap = netip.MustParseAddrPort(srv.Listener.Addr().String())
	}
	c, err := NewHTTP(HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/health", StatusCodes: []StatusRange{{200, 200}}}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	cpu0 := testenv.CPUTime()
	for b.Loop() {
		if r := c.Check(ctx); !r.Healthy {
			b.Fatal(r.Reason)
		}
	}
	b.ReportMetric(float64((testenv.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
