// Command vigilprof runs vigil's daemon in-process on a configuration for a while and writes a
// CPU profile and a mutex profile, to find what limits the checker benchmark
// (see ../README.md). It serves nothing but the daemon's own status listener.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/daemon"
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
	d, err := daemon.New(cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler), Dataplane: "userspace", StatusListen: "127.0.0.1:0", MaxInFlight: *inFlight})
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
	c0, t0 := checks(d), time.Now()
	time.Sleep(time.Duration(*seconds) * time.Second)
	c1, el := checks(d), time.Since(t0)
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

// checks sums vigil_check_results_total from the daemon's metrics.
func checks(d *daemon.Daemon) float64 {
	resp, err := http.Get("http://" + d.StatusAddr().String() + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "vigil_check_results_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}
