package bgp

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
)

// GoBGP's Serve loop cannot be ended (see doc.go); every other goroutine must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/osrg/gobgp/v3/pkg/server.(*BgpServer).Serve"))
}

const (
	routerAS  = 65000
	speakerAS = 65001
	vip       = "192.0.2.10/32"
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("BGP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// router is a plain GoBGP server playing the upstream router: it listens on addr:port,
// accepts the given speaker addresses passively, and keeps multipath on.
type router struct {
	srv  *server.BgpServer
	addr string
	port int32
}

func startRouter(t *testing.T, addr string, peers ...string) *router {
	t.Helper()
	return startRouterAuth(t, addr, "", peers...)
}

// startRouterAuth is startRouter with a TCP MD5 password on every peer.
func startRouterAuth(t *testing.T, addr, password string, peers ...string) *router {
	t.Helper()
	r := &router{srv: server.NewBgpServer(server.LoggerOption(gobgpLogger{testLogger(t)})), addr: addr,
		port: int32(testenv.FreePort(t, addr, false))}
	go r.srv.Serve()
	t.Cleanup(func() { stopServer(r.srv, 5*time.Second) })
	err := r.srv.StartBgp(context.Background(), &api.StartBgpRequest{Global: &api.Global{
		Asn: routerAS, RouterId: "192.0.2.254", ListenPort: r.port, ListenAddresses: []string{addr},
		UseMultiplePaths: true}})
	if err != nil {
		t.Fatalf("start router on %s:%d: %v", addr, r.port, err)
	}
	for _, p := range peers {
		err := r.srv.AddPeer(context.Background(), &api.AddPeerRequest{Peer: &api.Peer{
			Conf:      &api.PeerConf{NeighborAddress: p, PeerAsn: speakerAS, AuthPassword: password},
			Transport: &api.Transport{PassiveMode: true},
			AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: familyOf(true), Enabled: true}},
				{Config: &api.AfiSafiConfig{Family: familyOf(false), Enabled: true}}},
		}})
		if err != nil {
			t.Fatalf("router: add peer %s: %v", p, err)
		}
	}
	return r
}

// paths lists the router's paths to prefix in its global RIB.
func (r *router) paths(t *testing.T, prefix string) []*api.Path {
	t.Helper()
	var out []*api.Path
	p := netip.MustParsePrefix(prefix)
	err := r.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL,
		Family: familyOf(p.Addr().Is4()), Prefixes: []*api.TableLookupPrefix{{Prefix: prefix}}},
		func(d *api.Destination) { out = append(out, d.Paths...) })
	if err != nil {
		t.Fatalf("router: list paths to %s: %v", prefix, err)
	}
	return out
}

// peerState is the router's session state with peer.
func (r *router) peerState(t *testing.T, peer string) api.PeerState_SessionState {
	t.Helper()
	state := api.PeerState_UNKNOWN
	err := r.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: peer}, func(p *api.Peer) {
		state = p.State.SessionState
	})
	if err != nil {
		t.Fatalf("router: list peer %s: %v", peer, err)
	}
	return state
}

// running is one speaker's Run in the background.
type running struct {
	s      *Speaker
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returns
	err    error         // Run's result, once done is closed
}

// startSpeakers runs one vigil speaker per local address toward r until the test ends, and
// waits for their sessions to be established.
//
// GoBGP's StartBgp writes package globals (route selection options) that every server's
// goroutine reads, so the servers in one process start one after the other, and all of them
// before any has a neighbor: each Run waits at afterStart until every server has started.
func startSpeakers(t *testing.T, r *router, locals []string, mod func(*Config)) []*running {
	t.Helper()
	return startSpeakersOn(t, r, locals, mod, clock.Real(), nil)
}

// startSpeakersOn is startSpeakers with the speakers' clock, and setup called with each
// speaker before its Run.
func startSpeakersOn(t *testing.T, r *router, locals []string, mod func(*Config), clk clock.Clock,
	setup func(*Speaker)) []*running {
	t.Helper()
	started := make(chan struct{}, len(locals))
	gate := make(chan struct{})
	var out []*running
	for i, local := range locals {
		cfg := Config{LocalAS: speakerAS, RouterID: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}), ListenPort: -1,
			Neighbors: []Neighbor{{Address: netip.MustParseAddr(r.addr), AS: routerAS, Port: uint32(r.port),
				LocalAddress: netip.MustParseAddr(local)}}}
		if mod != nil {
			mod(&cfg)
		}
		s, err := NewWithClock(cfg, clk, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if setup != nil {
			setup(s)
		}
		s.afterStart = func() {
			started <- struct{}{}
			<-gate
		}
		ctx, cancel := context.WithCancel(context.Background())
		rn := &running{s: s, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(rn.done)
			rn.err = s.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-rn.done:
			case <-time.After(15 * time.Second):
				t.Errorf("speaker %s: Run did not return within 15s of cancel", local)
			}
		})
		out = append(out, rn)
		// One StartBgp at a time, too: each writes the same globals.
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			close(gate)
			t.Fatalf("speaker %s did not start within 10s", local)
		}
	}
	close(gate)
	for _, local := range locals {
		// GoBGP's first connection attempt comes 1 to 2 s after the peer is added.
		testenv.WaitFor(t, 10*time.Second, "session "+local+" → router established", func() bool {
			return r.peerState(t, local) == api.PeerState_ESTABLISHED
		})
	}
	return out
}

func TestAnnounceReachesRouterAndWithdrawRemovesItAfterHoldDown(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1")
	holdDown := 500 * time.Millisecond
	s := startSpeakers(t, r, []string{"127.0.0.1"}, func(c *Config) { c.HoldDown = holdDown })[0].s
	med := uint32(10)
	announced := time.Now()
	if err := s.Announce("vs1", Route{Prefix: netip.MustParsePrefix(vip), Communities: []string{"65001:100"}, MED: &med},
		"quorum gained"); err != nil {
		t.Fatal(err)
	}
	took := testenv.WaitFor(t, time.Second, "router has "+vip, func() bool { return len(r.paths(t, vip)) == 1 })
	t.Logf("announce → router RIB: %v", took)
	ps := r.paths(t, vip)
	attrs := map[string]bool{}
	for _, a := range ps[0].Pattrs {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		switch v := m.(type) {
		case *api.CommunitiesAttribute:
			attrs["community"] = len(v.Communities) == 1 && v.Communities[0] == 65001<<16|100
		case *api.MultiExitDiscAttribute:
			attrs["med"] = v.Med == 10
		case *api.NextHopAttribute:
			attrs["nexthop"] = v.NextHop == "127.0.0.1"
		}
	}
	if !attrs["community"] || !attrs["med"] || !attrs["nexthop"] {
		t.Errorf("router's path attributes %v, want community 65001:100, MED 10 and next hop 127.0.0.1", attrs)
	}

	// A withdraw within the hold-down waits for its end.
	s.Withdraw("vs1", netip.MustParsePrefix(vip), "quorum lost")
	withdrawn := time.Now()
	if st := s.Snapshot(context.Background()).Prefixes; len(st) != 1 || st[0].State != PendingWithdraw {
		t.Fatalf("prefixes after an early withdraw: %+v, want one pending withdraw", st)
	}
	gone := testenv.WaitFor(t, holdDown+time.Second, "router drops "+vip, func() bool { return len(r.paths(t, vip)) == 0 })
	if since := time.Since(announced); since < holdDown {
		t.Errorf("route gone %v after the announce, before the %v hold-down ended", since, holdDown)
	}
	t.Logf("withdraw (held %v) → router RIB: %v", holdDown, gone)

	// After the hold-down, both ways are immediate... once the hold-down from the withdraw ends.
	testenv.WaitFor(t, 2*holdDown, "hold-down after the withdraw", func() bool { return time.Since(withdrawn) > 2*holdDown })
	start := time.Now()
	s.Announce("vs1", Route{Prefix: netip.MustParsePrefix(vip)}, "quorum gained")
	took = testenv.WaitFor(t, time.Second, "router has "+vip+" again", func() bool { return len(r.paths(t, vip)) == 1 })
	t.Logf("announce → router RIB: %v", took)
	testenv.WaitFor(t, 2*holdDown, "hold-down after the announce", func() bool { return time.Since(start) > holdDown })
	s.Withdraw("vs1", netip.MustParsePrefix(vip), "quorum lost")
	took = testenv.WaitFor(t, time.Second, "router drops "+vip+" again", func() bool { return len(r.paths(t, vip)) == 0 })
	t.Logf("withdraw (no hold-down left) → router RIB: %v", took)

	st := s.Snapshot(context.Background())
	if len(st.Sessions) != 1 || st.Sessions[0].State != "ESTABLISHED" || st.Sessions[0].Peer != netip.MustParseAddr("127.0.0.2") ||
		st.Sessions[0].Since.IsZero() {
		t.Errorf("sessions %+v, want one established with 127.0.0.2", st.Sessions)
	}
	if len(st.Prefixes) != 1 || st.Prefixes[0].State != Withdrawn || st.Prefixes[0].Reason != "quorum lost" {
		t.Errorf("prefixes %+v, want vs1 withdrawn for quorum lost", st.Prefixes)
	}
}

func TestTwoSpeakersGiveTheRouterTwoPaths(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1", "127.0.0.3")
	rs := startSpeakers(t, r, []string{"127.0.0.1", "127.0.0.3"}, nil)
	a, b := rs[0].s, rs[1].s
	for _, s := range []*Speaker{a, b} {
		if err := s.Announce("vs1", Route{Prefix: netip.MustParsePrefix(vip)}, "quorum gained"); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, time.Second, "router has two paths to "+vip, func() bool { return len(r.paths(t, vip)) == 2 })
	hops := map[string]bool{}
	for _, p := range r.paths(t, vip) {
		hops[p.NeighborIp] = true
	}
	if !hops["127.0.0.1"] || !hops["127.0.0.3"] {
		t.Errorf("paths from %v, want from 127.0.0.1 and 127.0.0.3", hops)
	}
	// One node losing quorum leaves the other's path.
	b.Withdraw("vs1", netip.MustParsePrefix(vip), "quorum lost")
	testenv.WaitFor(t, time.Second, "router keeps one path", func() bool {
		ps := r.paths(t, vip)
		return len(ps) == 1 && ps[0].NeighborIp == "127.0.0.1"
	})
}

func TestShutdownWithdrawsBeforeClosingTheSession(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1")
	wait := 1500 * time.Millisecond
	rn := startSpeakers(t, r, []string{"127.0.0.1"}, func(c *Config) { c.GracefulShutdownWait = wait })[0]
	s := rn.s
	if err := s.Announce("vs1", Route{Prefix: netip.MustParsePrefix(vip)}, "quorum gained"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Second, "router has "+vip, func() bool { return len(r.paths(t, vip)) == 1 })
	stopped := time.Now()
	rn.cancel()
	took := testenv.WaitFor(t, time.Second, "router drops "+vip+" on shutdown", func() bool { return len(r.paths(t, vip)) == 0 })
	if st := r.peerState(t, "127.0.0.1"); st != api.PeerState_ESTABLISHED {
		t.Fatalf("session %s when the route went; want it still established (withdraw first)", st)
	}
	t.Logf("shutdown → router RIB without the route: %v, session still up", took)
	select {
	case <-rn.done:
		if rn.err != nil {
			t.Fatal(rn.err)
		}
		if since := time.Since(stopped); since < wait {
			t.Errorf("Run returned %v after cancel, before the %v graceful wait", since, wait)
		}
	case <-time.After(wait + 5*time.Second):
		t.Fatal("Run did not return")
	}
	testenv.WaitFor(t, 5*time.Second, "router sees the session closed", func() bool {
		return r.peerState(t, "127.0.0.1") != api.PeerState_ESTABLISHED
	})
	// Announce after shutdown changes nothing.
	if err := s.Announce("vs2", Route{Prefix: netip.MustParsePrefix("192.0.2.11/32")}, "late"); err != nil {
		t.Fatal(err)
	}
	if st := s.Snapshot(context.Background()); len(st.Sessions) != 0 || len(st.Prefixes) != 1 || st.Prefixes[0].State != Withdrawn {
		t.Errorf("snapshot after shutdown %+v, want no sessions and vs1 withdrawn", st)
	}
}

func TestRouteAnnouncedBeforeRunIsSentWhenTheSessionComesUp(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1")
	cfg := Config{LocalAS: speakerAS, RouterID: netip.MustParseAddr("192.0.2.1"), ListenPort: -1,
		Neighbors: []Neighbor{{Address: netip.MustParseAddr("127.0.0.2"), AS: routerAS, Port: uint32(r.port)}}}
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Announce("vs1", Route{Prefix: netip.MustParsePrefix(vip)}, "quorum gained"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return within 15s of cancel")
		}
	})
	testenv.WaitFor(t, 10*time.Second, "router has "+vip, func() bool { return len(r.paths(t, vip)) == 1 })
	if err := s.Run(ctx); err == nil {
		t.Error("second Run returned nil, want an error")
	}
}

func TestIPv6AddressReachesRouterOverIPv6Session(t *testing.T) {
	r := startRouter(t, "::1", "::1")
	s := startSpeakers(t, r, []string{"::1"}, nil)[0].s
	const vip6 = "2001:db8::10/128"
	if err := s.Announce("vs6", Route{Prefix: netip.MustParsePrefix(vip6)}, "quorum gained"); err != nil {
		t.Fatal(err)
	}
	took := testenv.WaitFor(t, time.Second, "router has "+vip6, func() bool { return len(r.paths(t, vip6)) == 1 })
	t.Logf("announce /128 → router RIB: %v", took)
	var hops []string
	for _, a := range r.paths(t, vip6)[0].Pattrs {
		if m, err := a.UnmarshalNew(); err == nil {
			if mp, ok := m.(*api.MpReachNLRIAttribute); ok {
				hops = mp.NextHops
			}
		}
	}
	if len(hops) == 0 || hops[0] != "::1" {
		t.Errorf("next hops %v, want ::1", hops)
	}
	s.Withdraw("vs6", netip.MustParsePrefix(vip6), "quorum lost")
	testenv.WaitFor(t, time.Second, "router drops "+vip6, func() bool { return len(r.paths(t, vip6)) == 0 })
}

// TestAddressSharedByServicesIsAnnouncedOnlyWhileAllAreHealthy: virtual servers on one
// address and different ports give one route; one of them failing withdraws it, because the
// router would otherwise keep sending that port's traffic to a node that cannot serve it.
func TestAddressSharedByServicesIsAnnouncedOnlyWhileAllAreHealthy(t *testing.T) {
	r := startRouter(t, "127.0.0.2", "127.0.0.1")
	s := startSpeakers(t, r, []string{"127.0.0.1"}, nil)[0].s
	pfx := netip.MustParsePrefix(vip)
	has := func() bool { return len(r.paths(t, vip)) == 1 }
	s.Announce("192.0.2.10:80", Route{Prefix: pfx}, "quorum gained")
	s.Withdraw("192.0.2.10:443", pfx, "starting without quorum")
	if st := s.Snapshot(t.Context()).Prefixes; len(st) != 2 || st[0].InRIB || st[1].InRIB {
		t.Fatalf("prefixes %+v, want both keys known and the prefix held back", st)
	}
	s.Announce("192.0.2.10:443", Route{Prefix: pfx}, "quorum gained")
	testenv.WaitFor(t, time.Second, "router has "+vip+" once both services are up", has)
	s.Withdraw("192.0.2.10:80", pfx, "quorum lost")
	testenv.WaitFor(t, time.Second, "router drops "+vip+" when one service fails", func() bool { return !has() })
	s.Remove("192.0.2.10:80", "removed by reload")
	testenv.WaitFor(t, time.Second, "router has "+vip+" again once the failed service is removed", has)
	if st := s.Snapshot(t.Context()).Prefixes; len(st) != 1 || st[0].Key != "192.0.2.10:443" || !st[0].InRIB {
		t.Fatalf("prefixes %+v, want only :443, in the RIB", st)
	}
}

// md5Supported reports whether the kernel accepts a TCP MD5 key on a socket.
func md5Supported(t *testing.T) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		sig := unix.TCPMD5Sig{Keylen: 6}
		sig.Addr.Family = unix.AF_INET
		copy(sig.Key[:], "s3cret")
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
	})
	if err != nil {
		return err
	}
	return serr
}

func TestSessionWithTCPMD5Password(t *testing.T) {
	if err := md5Supported(t); err != nil {
		t.Skipf("this kernel does not take TCP MD5 keys (%v); the signed session cannot be tested here", err)
	}
	r := startRouterAuth(t, "127.0.0.2", "s3cret", "127.0.0.1")
	s := startSpeakers(t, r, []string{"127.0.0.1"}, func(c *Config) { c.Neighbors[0].Password = "s3cret" })[0].s
	if err := s.Announce("vs1", Route{Prefix: netip.MustParsePrefix(vip)}, "quorum gained"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Second, "router has "+vip+" over the signed session", func() bool { return len(r.paths(t, vip)) == 1 })
}
