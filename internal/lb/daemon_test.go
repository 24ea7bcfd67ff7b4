package lb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"go.uber.org/goleak"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/dataplane/ipvs"
	"github.com/vigil-lb/vigil/internal/dataplane/nftables"
	"github.com/vigil-lb/vigil/internal/dataplane/userspace"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
)

// testBackend is a loopback web server whose health URL can be switched off, and which counts
// the requests that reach it on any other path.
type testBackend struct {
	addr    string
	failing atomic.Bool
	served  atomic.Int64
	srv     *http.Server
}

func startBackend(t *testing.T) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		if b.failing.Load() {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		b.served.Add(1)
		io.WriteString(w, b.addr)
	})
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// webConfig is a virtual server on port vsPort over the backends, checked with HTTP_GET every
// 200 ms with one retry 100 ms later.
func webConfig(t *testing.T, vsPort int, backends ...*testBackend) string {
	t.Helper()
	return httpPoolConfig(t, vsPort, "delay_loop 0.2\n  retry 1\n  delay_before_retry 0.1", backends...)
}

// httpPoolConfig is a virtual server on port vsPort with the given check timing over the
// backends, each checked with HTTP_GET on /health.
func httpPoolConfig(t *testing.T, vsPort int, timing string, backends ...*testBackend) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "virtual_server 127.0.0.1 %d {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  %s\n", vsPort, timing)
	for _, be := range backends {
		h, p := hostPort(t, be.addr)
		fmt.Fprintf(&b, "  real_server %s %s {\n    weight 1\n    HTTP_GET {\n      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 1\n    }\n  }\n", h, p)
	}
	b.WriteString("}\n")
	return b.String()
}

func loadText(t *testing.T, text string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(path, config.Options{ConfigID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if diags.HasErrors() || len(diags.List) > 0 {
		t.Fatalf("test configuration has problems: %v", diags.List)
	}
	return cfg
}

// runDaemon starts a daemon and stops it at cleanup, checking that Run returned cleanly.
func runDaemon(t *testing.T, cfg *config.Config, watch ...func(Event)) *Half {
	t.Helper()
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range watch { // before Run, so that they see its first events
		d.Events().Subscribe(fmt.Sprintf("test %d", i), w)
	}
	testenv.RunUntilCleanup(t, "the checker half", d.Run)
	return d
}

func serverUp(d *Half, addr string) (up, known bool) {
	rs, ok := d.Snapshot().RealServer(addr)
	return rs.Up, ok
}

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestFailedServerLeavesPoolAndNoRequestReachesItThenReturns(t *testing.T) {
	b1, b2, b3 := startBackend(t), startBackend(t), startBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	d := runDaemon(t, loadText(t, webConfig(t, vsPort, b1, b2, b3)))
	url := fmt.Sprintf("http://127.0.0.1:%d/", vsPort)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}

	testenv.WaitFor(t, 5*time.Second, "balancer serving", func() bool { _, err := get(client, url); return err == nil })
	seen := map[string]bool{}
	for i := 0; i < 30; i++ {
		body, err := get(client, url)
		if err != nil {
			t.Fatal(err)
		}
		seen[body] = true
	}
	if len(seen) != 3 {
		t.Fatalf("rr over three healthy backends reached %d of them: %v", len(seen), seen)
	}

	// delay_loop 0.2 s, retry 1 after 0.1 s, connect_timeout 1 s: a failing health URL is seen
	// within one interval plus one retry, plus the jitter (about 0.35 s); 2 s is generous.
	b2.failing.Store(true)
	took := testenv.WaitFor(t, 2*time.Second, "failed server out of the pool", func() bool { up, _ := serverUp(d, b2.addr); return !up })
	t.Logf("server removed %v after its health URL failed", took)
	before := b2.served.Load()
	for i := 0; i < 60; i++ {
		if _, err := get(client, url); err != nil {
			t.Fatalf("request %d failed while two backends were healthy: %v", i, err)
		}
	}
	if got := b2.served.Load() - before; got != 0 {
		t.Fatalf("%d requests reached the removed backend after its removal", got)
	}

	b2.failing.Store(false)
	testenv.WaitFor(t, 2*time.Second, "recovered server back in the pool", func() bool { up, _ := serverUp(d, b2.addr); return up })
	testenv.WaitFor(t, 2*time.Second, "traffic reaches the recovered server", func() bool {
		before := b2.served.Load()
		for i := 0; i < 6; i++ {
			get(client, url)
		}
		return b2.served.Load() > before
	})
}

func TestReloadKeepsUnchangedServersWithoutFlapAndAddsNewOnes(t *testing.T) {
	b1, b2 := startBackend(t), startBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	d := runDaemon(t, loadText(t, webConfig(t, vsPort, b1)))
	testenv.WaitFor(t, 3*time.Second, "first check of b1", func() bool {
		for _, vs := range d.Snapshot().VirtualServers {
			for _, rs := range vs.RealServers {
				if len(rs.Checks) > 0 && rs.Checks[0].Checked {
					return true
				}
			}
		}
		return false
	})
	var flaps []string
	var flapsMu sync.Mutex
	d.Events().Subscribe("test", func(ev Event) {
		if ev.Pool != nil && ev.Pool.Server == b1.addr && (ev.Pool.Kind == pool.ServerDown || ev.Pool.Kind == pool.ServerUp) {
			flapsMu.Lock()
			flaps = append(flaps, ev.Pool.Kind.String()+": "+ev.Pool.Reason)
			flapsMu.Unlock()
		}
	})
	since := func() time.Time {
		for _, vs := range d.Snapshot().VirtualServers {
			for _, rs := range vs.RealServers {
				if rs.Address == b1.addr {
					return rs.Since
				}
			}
		}
		return time.Time{}
	}
	before := since()

	if err := d.Reload(loadText(t, webConfig(t, vsPort, b1, b2))); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 3*time.Second, "added server up", func() bool { up, _ := serverUp(d, b2.addr); return up })
	if got := since(); !got.Equal(before) {
		t.Fatalf("reload reset the unchanged server: since %v, was %v", got, before)
	}
	if err := d.Events().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	flapsMu.Lock()
	defer flapsMu.Unlock()
	if len(flaps) > 0 {
		t.Fatalf("unchanged server flapped on reload: %v", flaps)
	}
}

func TestReloadWithBrokenConfigurationKeepsTheRunningOne(t *testing.T) {
	b1 := startBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	d := runDaemon(t, loadText(t, webConfig(t, vsPort, b1)))
	h, p := hostPort(t, b1.addr)
	// A MISC_CHECK run as a user that does not exist cannot be built: the reload is refused.
	broken := loadText(t, fmt.Sprintf("virtual_server 127.0.0.1 %d {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server %s %s {\n    MISC_CHECK {\n      misc_path /bin/true\n      user no-such-user-vigil\n    }\n  }\n}\n", vsPort, h, p))
	err := d.Reload(broken)
	if err == nil {
		t.Fatal("reload with an unbuildable checker was accepted")
	}
	t.Logf("refused: %v", err)
	snap := d.Snapshot()
	if len(snap.VirtualServers) != 1 || snap.VirtualServers[0].RealServers[0].Checks[0].Kind != "HTTP_GET" {
		t.Fatalf("running configuration changed after a refused reload: %+v", snap.VirtualServers)
	}
}

func TestDataplaneChoice(t *testing.T) {
	cases := []struct {
		name    string
		wantErr bool
	}{
		{"", false}, {"userspace", false}, {"bogus", true},
		// Only where the kernel lacks IPVS, so as to change nothing on the host: New must then
		// say so. (nftables and auto would write the host's ruleset; internal/dataplane/nftables
		// tests them in namespaces.)
		{"ipvs", true},
	}
	if ipvs.Available() == nil {
		cases = cases[:3]
	}
	for _, c := range cases {
		dp, _, err := chooseDataplane(c.name, false, userspace.Options{}, slog.New(slog.DiscardHandler), nil, nftables.Options{})
		if (err != nil) != c.wantErr {
			t.Errorf("%q: err %v, want error %v", c.name, err, c.wantErr)
		}
		if dp != nil {
			dp.Close()
		}
	}
}

var _ status.Source = (*Half)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPersistenceGranularityBecomesAPrefixLength(t *testing.T) {
	cases := []struct {
		mask   string
		prefix int
		want   int
	}{
		{"", 0, 0},
		{"255.255.255.0", 0, 24},
		{"255.255.255.255", 0, 32},
		{"255.255.0.255", 0, 16}, // non-contiguous: rounded down to its prefix
		{"", 64, 64},
	}
	for _, c := range cases {
		vs := &lvs.VirtualServer{PersistencePrefixLen: c.prefix}
		if c.mask != "" {
			vs.PersistenceNetmask = netip.MustParseAddr(c.mask)
		}
		if got := persistenceBits(vs); got != c.want {
			t.Errorf("mask %q prefix %d: got /%d, want /%d", c.mask, c.prefix, got, c.want)
		}
	}
}

func TestFwmarkVirtualServersGoToKernelDataPlanesOnly(t *testing.T) {
	vs := &lvs.VirtualServer{Kind: lvs.VSKindFwmark, Fwmark: 5, Protocol: "TCP", Scheduler: "wrr"}
	for _, c := range []struct {
		dataplane string
		steered   bool
	}{{"userspace", false}, {"nftables", true}, {"ipvs", true}} {
		d := &Half{log: slog.New(slog.DiscardHandler), dpName: c.dataplane}
		steers, why := d.steersFor(vs, "FWM 5", nil)
		if (len(steers) == 1) != c.steered || (len(steers) == 0) != (why != "") {
			t.Fatalf("%s: steered %v (%q), want %v with a reason when not", c.dataplane, steers, why, c.steered)
		}
		if got := steers; len(got) == 1 && (got[0].Fwmark != 5 || got[0].Listen.IsValid() || got[0].Validate() != nil) {
			t.Fatalf("%s: service %+v (validate: %v)", c.dataplane, got[0], got[0].Validate())
		}
	}
}

// A virtual_server_group is served by one data plane service per address and firewall mark,
// each named for the group's virtual server, or not at all, with the reason.
func TestGroupVirtualServersAreOneServicePerMemberOrNone(t *testing.T) {
	vs := &lvs.VirtualServer{Kind: lvs.VSKindGroup, Group: "web", Protocol: "TCP", Scheduler: "rr"}
	rng := func(first, last string, port uint16) lvs.VSGRange {
		return lvs.VSGRange{First: netip.MustParseAddr(first), Last: netip.MustParseAddr(last), Port: port}
	}
	tests := []struct {
		name      string
		dataplane string
		group     *lvs.VirtualServerGroup
		want      []string // the services' names; none: not steered
		why       string
	}{
		{"addresses and a range", "userspace",
			&lvs.VirtualServerGroup{Name: "web", Ranges: []lvs.VSGRange{rng("192.0.2.10", "192.0.2.10", 80), rng("192.0.2.20", "192.0.2.21", 8080), rng("2001:db8::1", "2001:db8::1", 80)}},
			[]string{"[web]:0 @ 192.0.2.10:80", "[web]:0 @ 192.0.2.20:8080", "[web]:0 @ 192.0.2.21:8080", "[web]:0 @ [2001:db8::1]:80"}, ""},
		{"an address written twice", "userspace",
			&lvs.VirtualServerGroup{Name: "web", Ranges: []lvs.VSGRange{rng("192.0.2.10", "192.0.2.11", 80), rng("192.0.2.11", "192.0.2.11", 80)}},
			[]string{"[web]:0 @ 192.0.2.10:80", "[web]:0 @ 192.0.2.11:80"}, ""},
		{"a firewall mark in the kernel", "nftables",
			&lvs.VirtualServerGroup{Name: "web", Ranges: []lvs.VSGRange{rng("192.0.2.10", "192.0.2.10", 80)}, Fwmarks: []lvs.VSGFwmark{{Mark: 7}}},
			[]string{"[web]:0 @ 192.0.2.10:80", "[web]:0 @ fwmark 7"}, ""},
		{"a firewall mark in userspace", "userspace",
			&lvs.VirtualServerGroup{Name: "web", Ranges: []lvs.VSGRange{rng("192.0.2.10", "192.0.2.10", 80)}, Fwmarks: []lvs.VSGFwmark{{Mark: 7}}},
			nil, "cannot serve fwmark"},
		{"port 0", "ipvs",
			&lvs.VirtualServerGroup{Name: "web", Ranges: []lvs.VSGRange{rng("192.0.2.10", "192.0.2.10", 0)}},
			nil, "port 0 (every port) is not served"},
		{"too many", "nftables",
			&lvs.VirtualServerGroup{Name: "web", Ranges: []lvs.VSGRange{rng("198.51.100.0", "198.51.101.255", 80)}},
			nil, "more than 256"},
		{"no group", "userspace", nil, nil, "virtual_server_group web not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Half{log: slog.New(slog.DiscardHandler), dpName: tc.dataplane}
			steers, why := d.steersFor(vs, vs.Name(), tc.group)
			var names []string
			for _, s := range steers {
				names = append(names, s.Name)
				if err := s.Validate(); err != nil {
					t.Errorf("service %s: %v", s.Name, err)
				}
				if ownerOf(s.Name) != vs.Name() {
					t.Errorf("service %s: owner %q, want %q", s.Name, ownerOf(s.Name), vs.Name())
				}
			}
			if !slices.Equal(names, tc.want) || !strings.Contains(why, tc.why) || (len(names) == 0) != (why != "") {
				t.Errorf("services %q (%q), want %q (%q)", names, why, tc.want, tc.why)
			}
		})
	}
}

func TestFileCheckReadsItsFileEverySecondWhateverTheDelayLoop(t *testing.T) {
	tests := []struct {
		name       string
		c          lvs.Checker
		wantPeriod time.Duration
	}{
		{"default delay_loop 60s", lvs.Checker{Kind: lvs.CheckFile}, time.Second},
		{"delay_loop 30s", lvs.Checker{Kind: lvs.CheckFile, DelayLoop: syntax.Duration(30 * time.Second)}, time.Second},
		{"delay_loop 0.2s stays", lvs.Checker{Kind: lvs.CheckFile, DelayLoop: syntax.Duration(200 * time.Millisecond)}, 200 * time.Millisecond},
		{"other checkers keep delay_loop", lvs.Checker{Kind: lvs.CheckTCP, DelayLoop: syntax.Duration(30 * time.Second)}, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if j := jobFor("id", nil, &tc.c); j.Interval != tc.wantPeriod {
				t.Errorf("Interval %v, want %v", j.Interval, tc.wantPeriod)
			}
		})
	}
}

func TestProbesInFlightGrowWithTheConfiguration(t *testing.T) {
	withChecks := func(n int) *config.Config {
		rs := &lvs.RealServer{}
		for range n {
			rs.Checkers = append(rs.Checkers, &lvs.Checker{Kind: lvs.CheckTCP})
		}
		return &config.Config{VirtualServers: []*lvs.VirtualServer{{RealServers: []*lvs.RealServer{rs}}}}
	}
	for _, tc := range []struct{ checks, want int }{{0, 512}, {4096, 512}, {20000, 2500}, {200000, 16384}} {
		if got := MaxInFlight(withChecks(tc.checks)); got != tc.want {
			t.Errorf("%d checkers: %d probes in flight, want %d", tc.checks, got, tc.want)
		}
	}
}
