package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/discovery"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/supervisor"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestMembersFromDnsmasqJoinDrainAndOutliveItsFailureUnderSteadyTraffic runs a
// dynamic_real_servers block against a real dnsmasq serving web.test from a hosts file, with
// steady client traffic through vigil's userspace balancer. While the traffic runs, a record
// is added (the member joins and serves), one is removed (the member drains, then leaves),
// dnsmasq is stopped (vigil keeps the last answer and says so) and started again, every record
// goes for less than empty_hold (the members stay), and vigil reloads. Not one request may fail. The test logs the timeline of each step.
func TestMembersFromDnsmasqJoinDrainAndOutliveItsFailureUnderSteadyTraffic(t *testing.T) {
	t.Parallel()
	bin := testenv.RequireTool(t, "dnsmasq")
	// Loopback addresses no other test uses: dnsmasq on one, the members on three others,
	// all on one port, as dns_name gives them.
	const dnsHost = "127.0.54.1"
	members := []string{"127.0.54.11", "127.0.54.12", "127.0.54.13"}
	dnsPort := testenv.FreePort(t, dnsHost, true)
	port := testenv.FreePort(t, members[0], false)
	backends := map[string]*testenv.Backend{}
	for _, m := range members {
		backends[m] = testenv.StartBackendOn(t, fmt.Sprintf("%s:%d", m, port))
	}

	// dnsmasq answers web.test from a hosts file it reads again at SIGHUP, with TTL 0
	// (--local-ttl's default, and Consul's): vigil asks at its floor, once a second.
	hosts := filepath.Join(t.TempDir(), "hosts")
	setHosts := func(addrs ...string) {
		t.Helper()
		var b strings.Builder
		for _, a := range addrs {
			fmt.Fprintf(&b, "%s web.test\n", a)
		}
		tmp := hosts + ".new"
		if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, hosts); err != nil {
			t.Fatal(err)
		}
	}
	setHosts(members[0], members[1])
	dnsmasq := newProcess(t, bin, "--no-daemon", "--keep-in-foreground", fmt.Sprintf("--port=%d", dnsPort),
		"--listen-address="+dnsHost, "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file=", "--local=/test/", "--addn-hosts="+hosts)
	resolver := discovery.Resolver{Server: netip.AddrPortFrom(netip.MustParseAddr(dnsHost), uint16(dnsPort)), Timeout: 200 * time.Millisecond}
	dnsReady := func() bool {
		_, err := resolver.Lookup(context.Background(), discovery.Query{Name: "web.test", Port: uint16(port)})
		return err == nil
	}
	dnsmasq.start(dnsReady)
	reread := func() {
		t.Helper()
		if err := dnsmasq.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	listen := fmt.Sprintf("127.0.0.1:%d", vsPort)
	conf := fmt.Sprintf(`virtual_server 127.0.0.1 %d {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  delay_loop 0.5
  dynamic_real_servers {
    dns_name web.test %d
    resolver %s %d
    refresh 5
    max 8
    drain_timeout 10
    empty_hold 4
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
    }
  }
}
`, vsPort, port, dnsHost, dnsPort)
	var logs testenv.Buffer
	d := runDaemonWith(t, loadConfig(t, conf), supervisor.Options{StatusListen: "off",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})

	start := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("t=%6.2fs "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	vsNow := func() status.VirtualServer {
		vs, _ := virtualServer(d, listen)
		return vs
	}
	member := func(addr string) (status.RealServer, bool) {
		for _, rs := range vsNow().RealServers {
			if rs.Address == addr {
				return rs, true
			}
		}
		return status.RealServer{}, false
	}
	addr := func(m string) string { return fmt.Sprintf("%s:%d", m, port) }

	testenv.WaitFor(t, 10*time.Second, "the two members in DNS found and up", func() bool {
		vs := vsNow()
		return vs.UpCount == 2 && vs.Discovery != nil && vs.Discovery.Members == 2
	})
	vs := vsNow()
	if vs.Discovery.TTL != 0 || vs.Discovery.NextLookup.Sub(vs.Discovery.LastAnswer) != discovery.MinRefresh {
		t.Errorf("TTL 0: next lookup %v after the last answer, TTL %v; want the floor, %v",
			vs.Discovery.NextLookup.Sub(vs.Discovery.LastAnswer), vs.Discovery.TTL, discovery.MinRefresh)
	}
	logf("members %s and %s found in DNS and up (TTL %v: next lookup %v after an answer)", members[0], members[1],
		vs.Discovery.TTL, vs.Discovery.NextLookup.Sub(vs.Discovery.LastAnswer))

	// Steady traffic, a request every 5 ms each on a connection of its own, as the continuity
	// test's (shortLoad).
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	load := &shortLoad{}
	var loadWG sync.WaitGroup
	loadWG.Add(1)
	loadStart := time.Now()
	go func() { defer loadWG.Done(); load.run(ctx, func() error { return get(client, "http://"+listen+"/") }) }()
	stopLoad := func() { cancel(); loadWG.Wait(); load.wg.Wait() }
	t.Cleanup(stopLoad)
	testenv.WaitFor(t, 5*time.Second, "traffic served by both members", func() bool {
		return backends[members[0]].Served.Load() > 0 && backends[members[1]].Served.Load() > 0
	})
	logf("steady traffic (a request every %v, each on a connection of its own) served by both members", shortEvery)

	// A record is added: the member joins and serves.
	setHosts(members[0], members[1], members[2])
	reread()
	added := time.Now()
	logf("record added: %s", members[2])
	testenv.WaitFor(t, 5*time.Second, members[2]+" in the pool", func() bool {
		rs, ok := member(addr(members[2]))
		return ok && rs.Up && rs.Discovered
	})
	logf("%s in the pool and up (%v after the record)", members[2], time.Since(added).Round(time.Millisecond))
	testenv.WaitFor(t, 5*time.Second, members[2]+" serving", func() bool { return backends[members[2]].Served.Load() > 0 })
	logf("first request served by %s (%v after the record)", members[2], time.Since(added).Round(time.Millisecond))

	// A record is removed: the member drains (no new connection), then is removed once its
	// connections have ended.
	setHosts(members[0], members[2])
	reread()
	removed := time.Now()
	logf("record removed: %s", members[1])
	testenv.WaitFor(t, 5*time.Second, members[1]+" draining", func() bool {
		rs, ok := member(addr(members[1]))
		return !ok || rs.AdminState == "drain" && rs.AdminBy == "dns"
	})
	logf("%s drained by dns (%v after the record left)", members[1], time.Since(removed).Round(time.Millisecond))
	testenv.WaitFor(t, 5*time.Second, members[1]+" removed", func() bool {
		_, ok := member(addr(members[1]))
		return !ok
	})
	servedAtRemoval := backends[members[1]].Served.Load()
	logf("%s removed from the pool, its connections over (%v after the record left)", members[1], time.Since(removed).Round(time.Millisecond))

	// DNS fails: the members of the last answer stay, and vigil says so.
	dnsmasq.stop()
	down := time.Now()
	logf("DNS down: dnsmasq stopped")
	testenv.WaitFor(t, 5*time.Second, "the failure in the status", func() bool {
		d := vsNow().Discovery
		return d != nil && d.Stale && d.Error != ""
	})
	vs = vsNow()
	logf("keeping the last answer (%v after DNS went down): %d members, %d up; status error %q", time.Since(down).Round(time.Millisecond),
		vs.Discovery.Members, vs.UpCount, vs.Discovery.Error)
	if vs.Discovery.Members != 2 || vs.UpCount != 2 {
		t.Errorf("while DNS is down: %d members, %d up; want the last answer's 2, up", vs.Discovery.Members, vs.UpCount)
	}
	if line := logLine(logs.String(), "keeping the last answer"); !strings.Contains(line, "resolver="+resolver.Server.String()) ||
		!strings.Contains(line, "connection refused") {
		t.Errorf("the log line of the failure should name the resolver and the error: %q", line)
	} else {
		logf("log: %s", line)
	}
	time.Sleep(3 * time.Second) // traffic goes on through the members DNS no longer confirms
	dnsmasq.start(dnsReady)
	back := time.Now()
	logf("DNS back: dnsmasq started")
	testenv.WaitFor(t, 10*time.Second, "DNS answering again in the status", func() bool {
		d := vsNow().Discovery
		return d != nil && !d.Stale && d.Error == ""
	})
	logf("DNS answers again (%v after dnsmasq came back); %d members", time.Since(back).Round(time.Millisecond), vsNow().Discovery.Members)

	// Every record goes for less than empty_hold (dnsmasq answers NXDOMAIN, as a resolver that
	// lost its zone for a moment): the members stay, none drains.
	setHosts()
	reread()
	gone := time.Now()
	logf("every record removed (NXDOMAIN)")
	testenv.WaitFor(t, 5*time.Second, "DNS naming nobody in the status", func() bool {
		d := vsNow().Discovery
		return d != nil && d.Stale && strings.Contains(d.Error, "names nobody")
	})
	vs = vsNow()
	logf("keeping the last answer for empty_hold (%v after): %d members, %d leaving, %d up; status error %q", time.Since(gone).Round(time.Millisecond),
		vs.Discovery.Members, vs.Discovery.Leaving, vs.UpCount, vs.Discovery.Error)
	if vs.Discovery.Leaving != 0 || vs.UpCount != 2 {
		t.Errorf("within empty_hold: %d leaving, %d up; want none leaving, 2 up", vs.Discovery.Leaving, vs.UpCount)
	}
	setHosts(members[0], members[2])
	reread()
	back = time.Now()
	logf("records back")
	testenv.WaitFor(t, 5*time.Second, "DNS naming the members again", func() bool {
		d := vsNow().Discovery
		return d != nil && !d.Stale && d.Error == ""
	})
	vs = vsNow()
	logf("DNS names the members again (%v after): %d members, %d leaving, %d up", time.Since(back).Round(time.Millisecond),
		vs.Discovery.Members, vs.Discovery.Leaving, vs.UpCount)
	if vs.Discovery.Leaving != 0 || vs.UpCount != 2 || vs.Discovery.Members != 2 {
		t.Errorf("after DNS named nobody for less than empty_hold: %+v, %d up", vs.Discovery, vs.UpCount)
	}

	// A reload with the block unchanged keeps the members as they are: none leaves, none is
	// checked again from down.
	before := map[string]time.Time{}
	for _, rs := range vsNow().RealServers {
		before[rs.Address] = rs.Since
	}
	if err := d.Reload(loadConfig(t, conf), nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	after := vsNow()
	for _, rs := range after.RealServers {
		if since, ok := before[rs.Address]; !ok || !rs.Up || !rs.Since.Equal(since) {
			t.Errorf("after a reload %s is up %v since %v, was there %v since %v", rs.Address, rs.Up, rs.Since, ok, since)
		}
	}
	if len(after.RealServers) != len(before) {
		t.Errorf("after a reload %d members, before %d", len(after.RealServers), len(before))
	}
	logf("reload with the block unchanged: %d members kept, none changed state", len(after.RealServers))

	stopLoad()
	took := time.Since(loadStart)
	failed, total := load.log.failedBetween(loadStart, time.Now())
	logf("traffic: %d requests in %v (%.0f/s), %d failed; served by %s %d, %s %d (none after its removal: %v), %s %d",
		total, took.Round(time.Millisecond), float64(total)/took.Seconds(), failed,
		members[0], backends[members[0]].Served.Load(), members[1], backends[members[1]].Served.Load(),
		backends[members[1]].Served.Load() == servedAtRemoval, members[2], backends[members[2]].Served.Load())
	if failed > 0 {
		load.log.mu.Lock()
		var errs []string
		for _, q := range load.log.reqs {
			if !q.ok && len(errs) < 5 {
				errs = append(errs, fmt.Sprint(q.err))
			}
		}
		load.log.mu.Unlock()
		t.Errorf("%d requests failed, e.g. %q", failed, errs)
	}
	if n := backends[members[1]].Served.Load(); n != servedAtRemoval {
		t.Errorf("%s served %d requests after it was removed", members[1], n-servedAtRemoval)
	}
	// 200 a second are asked for; a loaded machine under -race drops ticks, but not below 100.
	if want := int(took / shortEvery / 2); total < want {
		t.Errorf("%d requests in %v: fewer than 100 a second (want at least %d)", total, took, want)
	}
}

// runDaemonWith is runDaemon with opts (a logger the test reads, say).
func runDaemonWith(t *testing.T, cfg *config.Config, opts supervisor.Options) *supervisor.Vigil {
	t.Helper()
	d, err := supervisor.Build(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilCleanup(t, "daemon Run", d.Run)
	return d
}

// logLine is the first line of logs that holds what, or "".
func logLine(logs, what string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, what) {
			return l
		}
	}
	return ""
}

// get fetches url and says why it was not served (an error, a status other than 200).
func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
