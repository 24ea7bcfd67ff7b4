// Command lbserve runs vigil's userspace balancer from flags, for benchmarks and manual tests
// until the daemon drives it from keepalived.conf.
//
//	lbserve -listen 127.0.0.1:8080 -backends 127.0.0.1:8081,127.0.0.1:8082:3 -algo wrr
//
// A backend is ADDR:PORT or ADDR:PORT:WEIGHT. SIGINT or SIGTERM stops it; SIGUSR1 prints stats.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/dataplane/userspace"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	backends := flag.String("backends", "", "comma-separated ADDR:PORT[:WEIGHT] list")
	algo := flag.String("algo", "rr", "scheduler: rr wrr lc wlc sh mh fo")
	proto := flag.String("proto", "tcp", "tcp or udp")
	persist := flag.Duration("persistence", 0, "persistence timeout (0: none)")
	idle := flag.Duration("idle", 0, "idle timeout (0: the default)")
	verbose := flag.Bool("v", false, "debug logging")
	copyBuf := flag.Int("copy", 0, "TCP copy buffer per direction in bytes (0: the default, 16 KiB)")
	plain := flag.Bool("plain", false, "copy with Go's Read and Write instead of the recvmmsg readiness loop")
	splice := flag.Bool("splice", false, "move TCP payload with splice(2) instead of a buffer")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until stopped")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lbserve:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	svc, err := serviceFromFlags(*listen, *backends, *algo, *proto, *persist, *idle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lbserve:", err)
		os.Exit(2)
	}
	b := userspace.New(log, userspace.Options{CopyBuffer: *copyBuf, PlainCopy: *plain, Splice: *splice})
	if err := b.Apply(context.Background(), svc); err != nil {
		fmt.Fprintln(os.Stderr, "lbserve:", err)
		os.Exit(1)
	}
	defer b.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	for s := range sig {
		if s == syscall.SIGUSR1 {
			json.NewEncoder(os.Stdout).Encode(b.Stats())
			continue
		}
		break
	}
}

func serviceFromFlags(listen, backends, algo, proto string, persist, idle time.Duration) (dataplane.Service, error) {
	l, err := netip.ParseAddrPort(listen)
	if err != nil {
		return dataplane.Service{}, fmt.Errorf("-listen %q: %w", listen, err)
	}
	svc := dataplane.Service{Name: "lbserve", Protocol: dataplane.Protocol(proto), Listen: l,
		Scheduler: dataplane.Scheduler(algo), Persistence: persist, IdleTimeout: idle}
	for _, item := range strings.Split(backends, ",") {
		if item == "" {
			continue
		}
		weight := 1
		if ap, err := netip.ParseAddrPort(item); err == nil {
			svc.Backends = append(svc.Backends, dataplane.Backend{Addr: ap, Weight: weight})
			continue
		}
		i := strings.LastIndexByte(item, ':')
		if i < 0 {
			return svc, fmt.Errorf("-backends: %q is not ADDR:PORT[:WEIGHT]", item)
		}
		ap, err := netip.ParseAddrPort(item[:i])
		if err != nil {
			return svc, fmt.Errorf("-backends: %q: %w", item, err)
		}
		if weight, err = strconv.Atoi(item[i+1:]); err != nil {
			return svc, fmt.Errorf("-backends: %q: weight: %w", item, err)
		}
		svc.Backends = append(svc.Backends, dataplane.Backend{Addr: ap, Weight: weight})
	}
	if len(svc.Backends) == 0 {
		return svc, fmt.Errorf("-backends: none given")
	}
	return svc, svc.Validate()
}
