package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/status"
)

func TestBGPStatusKeepsEveryFieldAndWritesTimesInUTC(t *testing.T) {
	zone := time.FixedZone("UTC+2", 2*3600)
	up := time.Date(2026, 11, 25, 3, 0, 0, 0, zone)
	in := bgp.Status{
		Sessions: []bgp.Session{
			{Peer: netip.MustParseAddr("192.0.2.254"), AS: 65000, State: "ESTABLISHED", Since: up, Uptime: time.Hour},
			{Peer: netip.MustParseAddr("2001:db8::fe"), AS: 65002, State: "ACTIVE"},
			{State: "UNKNOWN"}, // GoBGP gave no neighbor address
		},
		Prefixes: []bgp.PrefixStatus{
			{Key: "[192.0.2.10]:tcp:80", Prefix: netip.MustParsePrefix("192.0.2.10/32"), State: bgp.PendingWithdraw,
				Reason: "quorum lost", Held: "hold-down", Since: up, Due: up.Add(5 * time.Second), Error: "refused", InRIB: true},
			{Key: "dns", State: bgp.Withdrawn, Reason: "quorum lost"}, // never had a prefix
		},
	}
	want := &status.BGP{
		Sessions: []status.BGPSession{
			{Peer: "192.0.2.254", AS: 65000, State: "ESTABLISHED", EstablishedSince: up.UTC()},
			{Peer: "2001:db8::fe", AS: 65002, State: "ACTIVE", EstablishedSince: time.Time{}.UTC()},
			{State: "UNKNOWN", EstablishedSince: time.Time{}.UTC()},
		},
		Prefixes: []status.BGPPrefix{
			{VirtualServer: "[192.0.2.10]:tcp:80", Prefix: "192.0.2.10/32", State: status.BGPPendingWithdraw,
				Reason: "quorum lost", Held: "hold-down", Since: up.UTC(), Due: up.Add(5 * time.Second).UTC(), InRIB: true, Error: "refused"},
			{VirtualServer: "dns", State: status.BGPWithdrawn, Reason: "quorum lost", Since: time.Time{}.UTC(), Due: time.Time{}.UTC()},
		},
	}
	got := bgpStatus(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bgpStatus:\n got %+v\nwant %+v", got, want)
	}
	if loc := got.Sessions[0].EstablishedSince.Location(); loc != time.UTC {
		t.Errorf("established_since is in %v, want UTC", loc)
	}
	if empty := bgpStatus(bgp.Status{}); empty.Sessions == nil || empty.Prefixes == nil {
		t.Errorf("a speaker with nothing gives nil lists: %+v", empty)
	}
}

// The prefix states are the speaker's, spelled the same in the status package.
func TestBGPPrefixStatesAreSpelledAlikeInBothPackages(t *testing.T) {
	pairs := map[bgp.PrefixState]string{bgp.Announced: status.BGPAnnounced, bgp.Withdrawn: status.BGPWithdrawn,
		bgp.PendingAnnounce: status.BGPPendingAnnounce, bgp.PendingWithdraw: status.BGPPendingWithdraw}
	for b, s := range pairs {
		if string(b) != s {
			t.Errorf("bgp %q is status %q", b, s)
		}
	}
}

// quietLog keeps the test router's GoBGP log out of the test output.
type quietLog struct{}

func (quietLog) Panic(msg string, _ gobgplog.Fields) { panic(msg) }
func (quietLog) Fatal(msg string, _ gobgplog.Fields) { panic(msg) }
func (quietLog) Error(string, gobgplog.Fields)       {}
func (quietLog) Warn(string, gobgplog.Fields)        {}
func (quietLog) Info(string, gobgplog.Fields)        {}
func (quietLog) Debug(string, gobgplog.Fields)       {}
func (quietLog) SetLevel(gobgplog.LogLevel)          {}
func (quietLog) GetLevel() gobgplog.LogLevel         { return gobgplog.PanicLevel }

// bgpRouter is a plain GoBGP server on addr playing the upstream router: it accepts peer
// passively and answers with AS 65000.
func bgpRouter(t *testing.T, addr, peer string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("find a free port on %s: %v", addr, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := server.NewBgpServer(server.LoggerOption(quietLog{}))
	go srv.Serve() // GoBGP's Serve loop cannot be ended; it idles after StopBgp
	err = srv.StartBgp(context.Background(), &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "192.0.2.254", ListenPort: int32(port), ListenAddresses: []string{addr}}})
	if err != nil {
		t.Fatalf("start router on %s:%d: %v", addr, port, err)
	}
	t.Cleanup(func() {
		// GoBGP's StopBgp races with the goroutines of a session still up (see internal/bgp's
		// stopServer); the speaker closes its end first, so wait for the router to see that.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			up := false
			_ = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
				up = up || p.State != nil && p.State.SessionState != api.PeerState_IDLE && p.State.SessionState != api.PeerState_ACTIVE
			})
			if !up {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = srv.StopBgp(ctx, &api.StopBgpRequest{})
	})
	v4 := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	err = srv.AddPeer(context.Background(), &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: peer, PeerAsn: 65001},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: v4, Enabled: true}}},
	}})
	if err != nil {
		t.Fatalf("router: add peer %s: %v", peer, err)
	}
	return port
}

// TestStatusAPIAndMetricsFollowARealSpeaker runs the checker half with a real BGP speaker
// wired as serve wires it, toward a GoBGP router on loopback, and reads the status API and
// the metrics as a client would: the session comes up, the virtual server's address is
// announced while its backend is healthy and withdrawn, with the reason, when it fails.
func TestStatusAPIAndMetricsFollowARealSpeaker(t *testing.T) {
	routerPort := bgpRouter(t, "127.0.0.2", "127.0.0.1")
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	vs, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vsPort := vs.Addr().(*net.TCPAddr).Port
	vs.Close()
	text := fmt.Sprintf(`bgp {
  local_as 65001
  router_id 192.0.2.1
  hold_down 0
  graceful_shutdown_wait 0
  neighbor 127.0.0.2 {
    remote_as 65000
    port %d
    source_address 127.0.0.1
  }
}
virtual_server 127.0.0.1 %d {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  announce {
    med 10
  }
  real_server 127.0.0.1 %d {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`, routerPort, vsPort, backend.Addr().(*net.TCPAddr).Port)
	file := filepath.Join(t.TempDir(), "vigil.conf")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(file, config.Options{})
	if err != nil || diags.HasErrors() {
		t.Fatalf("config: %v %v", err, diags.List)
	}
	// Every part as serve builds and wires it.
	v := runVigil(t, cfg, Options{Dataplane: "userspace", Version: "test"})
	base := statusURL(v)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
		}
		return string(b)
	}
	snapshot := func() status.Snapshot {
		var s status.Snapshot
		if err := json.Unmarshal([]byte(get("/api/v1/status")), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// poll reads the API every 20 ms until cond holds, for at most limit.
	poll := func(limit time.Duration, what string, cond func(status.Snapshot) bool) status.Snapshot {
		t.Helper()
		end := time.Now().Add(limit)
		for {
			s := snapshot()
			if s.BGP != nil && cond(s) {
				return s
			}
			if time.Now().After(end) {
				b, _ := json.MarshalIndent(s.BGP, "", "  ")
				t.Fatalf("%s: not within %v; bgp is %s", what, limit, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	key := cfg.VirtualServers[0].Name()
	prefix := func(s status.Snapshot) status.BGPPrefix {
		for _, p := range s.BGP.Prefixes {
			if p.VirtualServer == key {
				return p
			}
		}
		return status.BGPPrefix{}
	}

	// GoBGP's first connection attempt comes 1 to 2 s after the neighbor is added.
	s := poll(10*time.Second, "session established and route in the RIB", func(s status.Snapshot) bool {
		return len(s.BGP.Sessions) == 1 && s.BGP.Sessions[0].State == "ESTABLISHED" && prefix(s).InRIB
	})
	if b, err := json.MarshalIndent(s.BGP, "", "  "); err == nil {
		t.Logf("bgp section while announced:\n%s", b)
	}
	ses, p := s.BGP.Sessions[0], prefix(s)
	if ses.Peer != "127.0.0.2" || ses.AS != 65000 || ses.EstablishedSince.IsZero() || time.Since(ses.EstablishedSince) > time.Minute {
		t.Errorf("session %+v, want peer 127.0.0.2 AS 65000 established a moment ago", ses)
	}
	if p.Prefix != "127.0.0.1/32" || p.State != status.BGPAnnounced || p.Reason == "" || p.Error != "" {
		t.Errorf("prefix %+v, want 127.0.0.1/32 announced with a reason and no error", p)
	}
	metrics := get("/metrics")
	for _, want := range []string{
		`vigil_bgp_session_up{peer="127.0.0.2"} 1`,
		`vigil_bgp_session_state{peer="127.0.0.2",state="ESTABLISHED"} 1`,
		`vigil_bgp_prefix_announced{prefix="127.0.0.1/32"} 1`,
		`vigil_bgp_prefix_transitions_total{prefix="127.0.0.1/32",to="announced"} 1`,
		`vigil_bgp_session_transitions_total{peer="127.0.0.2",to="ESTABLISHED"} 1`,
		fmt.Sprintf(`vigil_bgp_prefix_state{prefix="127.0.0.1/32",state="announced",virtual_server=%q} 1`, key),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The only backend goes away: the pool loses quorum and the route is withdrawn, saying why.
	backend.Close()
	s = poll(10*time.Second, "route withdrawn after the backend failed", func(s status.Snapshot) bool {
		return prefix(s).State == status.BGPWithdrawn && !prefix(s).InRIB
	})
	t.Logf("withdrawn: %+v", prefix(s))
	kinds := map[string]bool{}
	for _, ev := range s.Events {
		if ev.Kind == "bgp" {
			kinds[ev.Subject+" "+ev.Message] = true
			t.Logf("bgp event: %s %s", ev.Subject, ev.Message)
		}
	}
	if !kinds["127.0.0.2 OPENCONFIRM -> ESTABLISHED"] {
		t.Errorf("events lack the session coming up")
	}
	if !strings.Contains(strings.ToLower(prefix(s).Reason), "quorum") {
		t.Errorf("withdrawn because %q, want the reason to name the lost quorum", prefix(s).Reason)
	}
	if m := get("/metrics"); !strings.Contains(m, `vigil_bgp_prefix_announced{prefix="127.0.0.1/32"} 0`) {
		t.Errorf("after the withdrawal, metrics say %q", m)
	}
}

func TestBGPChangeNamesThePrefixOrPeerAndKeepsStatesAndReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   bgp.Change
		want status.BGPChange
	}{
		{"prefix", bgp.Change{Kind: bgp.PrefixChange, Prefix: netip.MustParsePrefix("192.0.2.10/32"), Key: "[192.0.2.10]:tcp:80",
			From: string(bgp.Withdrawn), To: string(bgp.Announced), Why: "quorum gained"},
			status.BGPChange{Subject: "192.0.2.10/32", VirtualServer: "[192.0.2.10]:tcp:80", From: status.BGPWithdrawn,
				To: status.BGPAnnounced, Reason: "quorum gained"}},
		{"session", bgp.Change{Kind: bgp.SessionChange, Peer: netip.MustParseAddr("2001:db8::fe"), AS: 65000,
			From: "ESTABLISHED", To: "IDLE", Why: "vigil is shutting down"},
			status.BGPChange{Session: true, Subject: "2001:db8::fe", From: "ESTABLISHED", To: "IDLE", Reason: "vigil is shutting down"}},
		{"session without an address", bgp.Change{Kind: bgp.SessionChange, From: "IDLE", To: "ACTIVE"},
			status.BGPChange{Session: true, From: "IDLE", To: "ACTIVE"}},
	} {
		if got := bgpChange(tc.in); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestBGPChangesReachTheEventStreamAtOnceAndAreCounted runs a real speaker toward a GoBGP
// router on loopback, wired as Build wires it, and reads the status server's event
// stream as the live page does: the session coming up and the address being announced and
// withdrawn each arrive as a "bgp" change event, after which the API already shows the new
// state, and the transition counters count them.
func TestBGPChangesReachTheEventStreamAtOnceAndAreCounted(t *testing.T) {
	routerPort := bgpRouter(t, "127.0.0.2", "127.0.0.1")
	cfg := loadText(t, fmt.Sprintf(`bgp {
  local_as 65001
  router_id 192.0.2.1
  hold_down 0
  graceful_shutdown_wait 0
  neighbor 127.0.0.2 {
    remote_as 65000
    port %d
    source_address 127.0.0.1
  }
}
`, routerPort))
	v, err := Build(cfg, Options{StatusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Bind(); err != nil {
		t.Fatal(err)
	}
	sp := v.bgp
	srvURL := statusURL(v)
	// Run before the event stream is opened: the status server serves only while it runs.
	// GoBGP's first connection attempt comes 1 to 2 s after the neighbor is added, well after.
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})

	// The event stream, read as the page's EventSource reads it.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srvURL+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	events := make(chan status.Event, 64)
	go func() {
		defer close(events)
		name := ""
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = strings.TrimSpace(n)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok && name == "change" {
				var ev status.Event
				if json.Unmarshal([]byte(data), &ev) == nil {
					events <- ev
				}
			}
		}
	}()
	// await reads events until one about subject whose message starts with prefix.
	await := func(limit time.Duration, subject, prefix string) status.Event {
		t.Helper()
		timeout := time.After(limit)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("event stream ended before %s %q", subject, prefix)
				}
				b, _ := json.Marshal(ev)
				t.Logf("event %s", b)
				if ev.Kind == "bgp" && ev.Subject == subject && strings.HasPrefix(ev.Message, prefix) {
					return ev
				}
			case <-timeout:
				t.Fatalf("no bgp event %s %q within %v", subject, prefix, limit)
			}
		}
	}
	apiPrefix := func() status.BGPPrefix {
		t.Helper()
		r, err := http.Get(srvURL + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var s status.Snapshot
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil || s.BGP == nil || len(s.BGP.Prefixes) != 1 {
			t.Fatalf("status: %v %+v", err, s.BGP)
		}
		return s.BGP.Prefixes[0]
	}

	// GoBGP's first connection attempt comes 1 to 2 s after the neighbor is added.
	await(10*time.Second, "127.0.0.2", "OPENCONFIRM -> ESTABLISHED")

	pfx := netip.MustParsePrefix("192.0.2.10/32")
	sp.Announce("vs1", bgp.Route{Prefix: pfx}, "quorum gained")
	ev := await(2*time.Second, "192.0.2.10/32", "withdrawn -> announced")
	if ev.Message != "withdrawn -> announced (vs1: quorum gained)" {
		t.Errorf("announce event says %q", ev.Message)
	}
	if p := apiPrefix(); !p.InRIB || p.State != status.BGPAnnounced {
		t.Errorf("after the announce event the API shows %+v, want announced and in the RIB", p)
	}
	sp.Withdraw("vs1", pfx, "quorum lost")
	await(2*time.Second, "192.0.2.10/32", "announced -> withdrawn (vs1: quorum lost)")
	if p := apiPrefix(); p.InRIB || p.State != status.BGPWithdrawn {
		t.Errorf("after the withdraw event the API shows %+v, want withdrawn", p)
	}

	r, err := http.Get(srvURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{
		`vigil_bgp_prefix_transitions_total{prefix="192.0.2.10/32",to="announced"} 1`,
		`vigil_bgp_prefix_transitions_total{prefix="192.0.2.10/32",to="withdrawn"} 1`,
		`vigil_bgp_session_transitions_total{peer="127.0.0.2",to="ESTABLISHED"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
