// Command vigilprof runs vigil's daemon in-process on a configuration for a while and writes a
// CPU profile and a mutex profile, to find what limits the checker benchmark
// (see ../README.md). It serves nothing but the daemon's own status listener.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/status"
)

func main() {
	conf := flag.String("f", "", "keepalived.conf")
	seconds := flag.Int("seconds", 20, "profile this long, after a warm-up of 5 s")
	cpuOut := flag.String("cpuprofile", "cpu.prof", "CPU profile output")
	mutexOut := flag.String("mutexprofile", "mutex.prof", "mutex contention profile output")
	inFlight := flag.Int("max-in-flight", 0, "probes in flight at once (0: the daemon's default)")
	flag.Parse()
	cfg, diags, err := config.Load(*conf, config.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if diags.HasErrors() {
		log.Fatalf("%v", diags.List)
	}
	metrics := status.NewMetrics()
	d, err := lb.New(cfg, lb.Options{Logger: slog.New(slog.DiscardHandler), Dataplane: "userspace", Metrics: metrics, MaxInFlight: *inFlight})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(5 * time.Second)
	runtime.SetMutexProfileFraction(10)
	f, err := os.Create(*cpuOut)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	c0, t0 := checks(metrics), time.Now()
	time.Sleep(time.Duration(*seconds) * time.Second)
	c1, el := checks(metrics), time.Since(t0)
	pprof.StopCPUProfile()
	fmt.Fprintf(os.Stderr, "%.0f check results per second over %v\n", (c1-c0)/el.Seconds(), el.Round(time.Millisecond))
	f.Close()
	m, err := os.Create(*mutexOut)
	if err != nil {
		log.Fatal(err)
	}
	pprof.Lookup("mutex").WriteTo(m, 0)
	m.Close()
	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", *cpuOut, *mutexOut)
}

// checks sums vigil_check_results_total from the half's metrics.
func checks(m *status.Metrics) float64 {
	mfs, err := m.Registry().Gather()
	if err != nil {
		log.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "vigil_check_results_total" {
			for _, c := range mf.GetMetric() {
				sum += c.GetCounter().GetValue()
			}
		}
	}
	return sum
}
