// Command nftserve programs vigil's nftables data plane from flags, for benchmarks and manual
// tests, and removes its table when stopped.
//
//	nftserve -listen 192.0.2.10:80 -backends 198.51.100.11:8080,198.51.100.12:8080:3 -algo wrr
//
// A backend is ADDR:PORT or ADDR:PORT:WEIGHT. SIGINT or SIGTERM stops it; SIGUSR1 prints stats.
// It needs root (or CAP_NET_ADMIN) in the network namespace it runs in.
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
	"strconv"
	"strings"
	"syscall"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/dataplane/nftables"
)

func main() {
	listen := flag.String("listen", "192.0.2.10:80", "virtual address:port")
	backends := flag.String("backends", "", "comma-separated ADDR:PORT[:WEIGHT] list")
	algo := flag.String("algo", "rr", "scheduler: rr wrr sh mh fo (lc, wlc and the rest fall back)")
	proto := flag.String("proto", "tcp", "tcp or udp")
	table := flag.String("table", "vigil", "nftables table (inet family) to own")
	noMasq := flag.Bool("no-masquerade", false, "keep client addresses (backends must route replies through this host)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	svc, err := service(*listen, *backends, *algo, *proto)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nftserve:", err)
		os.Exit(2)
	}
	d, err := nftables.New(log, nftables.Options{Table: *table, NoMasquerade: *noMasq})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nftserve:", err)
		os.Exit(1)
	}
	defer d.Close()
	if err := d.Apply(context.Background(), svc); err != nil {
		fmt.Fprintln(os.Stderr, "nftserve:", err)
		return
	}
	fmt.Fprintln(os.Stderr, "nftserve: ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	for s := range sig {
		if s == syscall.SIGUSR1 {
			json.NewEncoder(os.Stdout).Encode(d.Stats())
			continue
		}
		break
	}
}

func service(listen, backends, algo, proto string) (dataplane.Service, error) {
	l, err := netip.ParseAddrPort(listen)
	if err != nil {
		return dataplane.Service{}, fmt.Errorf("-listen %q: %w", listen, err)
	}
	svc := dataplane.Service{Name: "nftserve", Protocol: dataplane.Protocol(proto), Listen: l, Scheduler: dataplane.Scheduler(algo)}
	for _, item := range strings.Split(backends, ",") {
		if item == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(item); err == nil {
			svc.Backends = append(svc.Backends, dataplane.Backend{Addr: ap, Weight: 1})
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
		w, err := strconv.Atoi(item[i+1:])
		if err != nil {
			return svc, fmt.Errorf("-backends: %q: weight: %w", item, err)
		}
		svc.Backends = append(svc.Backends, dataplane.Backend{Addr: ap, Weight: w})
	}
	if len(svc.Backends) == 0 {
		return svc, fmt.Errorf("-backends: none given")
	}
	return svc, svc.Validate()
}
