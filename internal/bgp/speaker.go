package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/vigil-lb/vigil/internal/clock"
)

// Speaker announces the routes the daemon wants through an embedded GoBGP server. Announce
// and Withdraw may be called before, during and after Run; what is wanted before Run is
// announced when the sessions come up.
type Speaker struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock

	mu      sync.Mutex
	plan    *planner
	srv     *server.BgpServer // set while Run has the server started
	running bool              // Run was called
	closing bool              // Run is shutting down; no more changes
	timer   clock.Timer       // fires at the planner's next due time
	// installed is what GoBGP holds: a prefix is there while every key naming it is announced.
	installed map[netip.Prefix]Route
	errs      map[netip.Prefix]string // the last GoBGP error per prefix

	// Subscribers (observe.go): changes queue here and Run's delivery goroutine, woken by
	// wake (nil while it does not run), hands them out without the lock.
	subs     map[int]func(Change)
	nextSub  int
	queue    []Change
	wake     chan struct{}
	sessions map[netip.Addr]string // the last session state GoBGP reported per neighbor

	// afterStart, when set by tests, runs between StartBgp and adding the neighbors (see
	// startGate in the tests: GoBGP's package globals).
	afterStart func()
}

// New checks cfg and makes a speaker on the real clock; nothing is started until Run.
func New(cfg Config, logger *slog.Logger) (*Speaker, error) {
	return NewWithClock(cfg, clock.Real(), logger)
}

// NewWithClock is New with the clock that times hold-down and the withdraw cap.
func NewWithClock(cfg Config, clk clock.Clock, logger *slog.Logger) (*Speaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Neighbors = slices.Clone(cfg.Neighbors)
	return &Speaker{cfg: cfg, log: logger, clk: clk, plan: newPlanner(cfg.HoldDown, cfg.MaxWithdrawPerEvent),
		installed: map[netip.Prefix]Route{}, errs: map[netip.Prefix]string{}}, nil
}

// Announce asks for r to be announced under key (the virtual server's name) because why,
// e.g. "quorum gained". Hold-down may delay it; see Config.HoldDown. Several keys may name
// one prefix (virtual servers on one address, different ports): it is announced only while
// all of them are. The error says only that r is malformed.
func (s *Speaker) Announce(key string, r Route, why string) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("bgp announce %s: %w", key, err)
	}
	r.Communities = slices.Clone(r.Communities)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.applyLocked(s.plan.announce(s.clk.Now(), key, r, why))
	s.rearmLocked()
	return nil
}

// Withdraw asks for key's route to prefix to be withdrawn because why, e.g. "quorum lost".
// Hold-down and the withdraw cap may delay it; an Announce before then cancels it. A key
// never announced is recorded as withdrawn, which holds prefix back while other keys
// announce it. The error says only that prefix is malformed.
func (s *Speaker) Withdraw(key string, prefix netip.Prefix, why string) error {
	if err := (Route{Prefix: prefix}).validate(); err != nil {
		return fmt.Errorf("bgp withdraw %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.applyLocked(s.plan.withdraw(s.clk.Now(), key, prefix, why))
	s.rearmLocked()
	return nil
}

// Remove forgets key at once, past hold-down and cap, withdrawing its route unless another
// key still announces the same prefix: its virtual server left the configuration.
func (s *Speaker) Remove(key, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	var causes map[netip.Prefix]cause
	if p := s.plan.prefixes[key]; p != nil {
		// Forgetting a key that held its prefix back may bring the prefix in: Remove is why.
		causes = map[netip.Prefix]cause{p.route.Prefix: {key: key, why: why}}
	}
	s.applyLockedBecause(s.plan.forget(key, why), causes)
	s.rearmLocked()
}

// Run starts the BGP server, adds the neighbors and announces what is wanted. When ctx ends
// it withdraws every route, keeps the sessions up for GracefulShutdownWait so that routers
// move traffic away, then stops. Run may be called once.
func (s *Speaker) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("bgp: Run called twice")
	}
	s.running = true
	s.mu.Unlock()

	finishDelivery := s.startDelivery()
	defer finishDelivery()
	srv := server.NewBgpServer(server.LoggerOption(gobgpLogger{s.log}))
	// GoBGP's Serve loop has no way to end; it idles once StopBgp has run (see doc.go).
	go srv.Serve()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	stop := func() {
		stopServer(srv, 5*time.Second)
		s.awaitSessionsIdle(time.Second)
		stopWatch()
	}
	global := &api.Global{Asn: s.cfg.LocalAS, RouterId: s.cfg.RouterID.String(), ListenPort: s.cfg.ListenPort}
	if s.cfg.ListenPort == 0 {
		global.ListenPort = 179
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		stop()
		return fmt.Errorf("bgp: start AS %d router-id %s port %d: %w", s.cfg.LocalAS, s.cfg.RouterID, s.cfg.ListenPort, err)
	}
	// Before the neighbors are added, so that every state change of theirs is seen.
	s.mu.Lock()
	s.sessions = map[netip.Addr]string{}
	s.mu.Unlock()
	if err := s.watchSessions(watchCtx, srv); err != nil {
		stop()
		return fmt.Errorf("bgp: watch session states: %w", err)
	}
	if s.afterStart != nil {
		s.afterStart()
	}
	for _, n := range s.cfg.Neighbors {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(n)}); err != nil {
			stop()
			return fmt.Errorf("bgp: add neighbor %s AS %d: %w", n.Address, n.AS, err)
		}
	}
	s.mu.Lock()
	s.srv = srv
	s.reconcileLocked(nil)
	s.mu.Unlock()
	s.log.Info("bgp speaker started", "as", s.cfg.LocalAS, "router_id", s.cfg.RouterID, "neighbors", len(s.cfg.Neighbors))

	<-ctx.Done()

	s.mu.Lock()
	s.closing = true
	if s.timer != nil {
		s.timer.Stop()
	}
	acts := s.plan.withdrawAll(s.clk.Now(), "shutting down")
	s.applyLocked(acts)
	s.mu.Unlock()
	if len(acts) > 0 && s.cfg.GracefulShutdownWait > 0 {
		s.log.Info("bgp withdrew every route; waiting before closing the sessions",
			"routes", len(acts), "wait", s.cfg.GracefulShutdownWait)
		t := s.clk.NewTimer(s.cfg.GracefulShutdownWait)
		<-t.C()
	}
	s.mu.Lock()
	s.srv = nil
	// A prefix GoBGP would not delete goes with the sessions.
	for _, pfx := range sortedPrefixes(s.installed) {
		s.emitLocked(Change{Kind: PrefixChange, Prefix: pfx, From: string(Announced), To: string(Withdrawn),
			Why: "speaker stopped"})
	}
	clear(s.installed)
	s.mu.Unlock()
	stop()
	s.log.Info("bgp speaker stopped")
	return nil
}

// applyLocked logs the planner's actions and brings GoBGP in line with them.
func (s *Speaker) applyLocked(acts []action) { s.applyLockedBecause(acts, causesOf(acts)) }

// applyLockedBecause is applyLocked with the causes to report for the prefixes that move.
func (s *Speaker) applyLockedBecause(acts []action, causes map[netip.Prefix]cause) {
	for _, a := range acts {
		s.log.Info("bgp "+a.op.String(), "vs", a.key, "prefix", a.route.Prefix, "reason", a.why)
	}
	// Even with no action: a key first known as withdrawn holds back its prefix.
	s.reconcileLocked(causes)
}

// reconcileLocked adds to GoBGP each prefix whose keys are all announced, with the route of
// the first such key by name, and deletes the others. A failed call is retried at the next
// change. causes say why a prefix moves, for the subscribers (see causeLocked).
func (s *Speaker) reconcileLocked(causes map[netip.Prefix]cause) {
	if s.srv == nil {
		return
	}
	want := map[netip.Prefix]Route{}
	blocked := map[netip.Prefix]bool{}
	keys := make([]string, 0, len(s.plan.prefixes))
	for k := range s.plan.prefixes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := s.plan.prefixes[k]
		switch {
		case !p.announced:
			blocked[p.route.Prefix] = true
		case !blocked[p.route.Prefix]:
			if _, ok := want[p.route.Prefix]; !ok {
				want[p.route.Prefix] = p.route
			}
		}
	}
	for pfx := range blocked {
		delete(want, pfx)
	}
	for _, pfx := range sortedPrefixes(s.installed) {
		if _, ok := want[pfx]; !ok {
			s.deleteLocked(s.installed[pfx], s.causeLocked(causes, pfx, false, keys))
		}
	}
	for _, pfx := range sortedPrefixes(want) {
		if r, ok := s.installed[pfx]; !ok || !r.equal(want[pfx]) {
			s.addLocked(want[pfx], s.causeLocked(causes, pfx, true, keys))
		}
	}
}

func sortedPrefixes(m map[netip.Prefix]Route) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// addLocked adds (or replaces) r in GoBGP; a prefix new to the RIB is a change, because c.
func (s *Speaker) addLocked(r Route, c cause) {
	p, err := apiPath(r)
	if err == nil {
		_, err = s.srv.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	}
	if err == nil {
		if _, was := s.installed[r.Prefix]; !was {
			s.emitLocked(Change{Kind: PrefixChange, Prefix: r.Prefix, Key: c.key, From: string(Withdrawn),
				To: string(Announced), Why: c.why})
		}
		s.installed[r.Prefix] = r
	}
	s.noteLocked("announce", r.Prefix, err)
}

// deleteLocked deletes r from GoBGP, a change because c.
func (s *Speaker) deleteLocked(r Route, c cause) {
	p, err := apiPath(r)
	if err == nil {
		err = s.srv.DeletePath(context.Background(), &api.DeletePathRequest{TableType: api.TableType_GLOBAL,
			Family: p.Family, Path: p})
	}
	if err == nil {
		delete(s.installed, r.Prefix)
		s.emitLocked(Change{Kind: PrefixChange, Prefix: r.Prefix, Key: c.key, From: string(Announced),
			To: string(Withdrawn), Why: c.why})
	}
	s.noteLocked("withdraw", r.Prefix, err)
}

func (s *Speaker) noteLocked(op string, pfx netip.Prefix, err error) {
	if err == nil {
		delete(s.errs, pfx)
		return
	}
	s.errs[pfx] = fmt.Sprintf("%s %s: %v", op, pfx, err)
	s.log.Error("bgp "+op+" failed", "prefix", pfx, "err", err)
}

// rearmLocked sets the timer for the planner's next held-back change.
func (s *Speaker) rearmLocked() {
	due, ok := s.plan.nextDue()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !ok || s.closing {
		return
	}
	s.timer = s.clk.AfterFunc(max(due.Sub(s.clk.Now()), 0), s.onTimer)
}

func (s *Speaker) onTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.applyLocked(s.plan.tick(s.clk.Now()))
	s.rearmLocked()
}

// Status is what a Snapshot shows: the sessions and every prefix the daemon has named.
type Status struct {
	Sessions []Session
	Prefixes []PrefixStatus
}

// Session is one neighbor as GoBGP sees it.
type Session struct {
	Peer  netip.Addr
	AS    uint32
	State string // GoBGP's session state: IDLE, CONNECT, ACTIVE, OPENSENT, OPENCONFIRM, ESTABLISHED
	// Since is when the session was established; zero unless State is ESTABLISHED.
	Since time.Time
	// Uptime is how long it has been established.
	Uptime time.Duration
}

// Snapshot reports the sessions (none unless Run is running) and the prefixes.
func (s *Speaker) Snapshot(ctx context.Context) Status {
	s.mu.Lock()
	st := Status{Prefixes: s.plan.status()}
	for i := range st.Prefixes {
		pfx := st.Prefixes[i].Prefix
		st.Prefixes[i].Error = s.errs[pfx]
		_, st.Prefixes[i].InRIB = s.installed[pfx]
	}
	srv := s.srv
	now := s.clk.Now()
	s.mu.Unlock()
	if srv == nil {
		return st
	}
	err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		ses := Session{State: "UNKNOWN"}
		if p.Conf != nil {
			ses.Peer, _ = netip.ParseAddr(p.Conf.NeighborAddress)
			ses.AS = p.Conf.PeerAsn
		}
		if p.State != nil {
			ses.State = p.State.SessionState.String()
		}
		if ses.State == "ESTABLISHED" && p.Timers != nil && p.Timers.State != nil && p.Timers.State.Uptime != nil {
			ses.Since = p.Timers.State.Uptime.AsTime()
			ses.Uptime = now.Sub(ses.Since).Truncate(time.Second)
		}
		st.Sessions = append(st.Sessions, ses)
	})
	if err != nil {
		s.log.Warn("bgp list sessions", "err", err)
	}
	slices.SortFunc(st.Sessions, func(a, b Session) int { return a.Peer.Compare(b.Peer) })
	return st
}

// stopServer closes every session with a Cease before stopping srv, waiting at most limit
// for them to reach IDLE. GoBGP v3.37's StopBgp clears the global configuration while the
// goroutines of established sessions may still read it (a data race); sessions that are down
// first have no such goroutines.
func stopServer(srv *server.BgpServer, limit time.Duration) {
	ctx := context.Background()
	notIdle := func() []string {
		var out []string
		srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.Conf != nil && (p.State == nil || p.State.SessionState != api.PeerState_IDLE) {
				out = append(out, p.Conf.NeighborAddress)
			}
		})
		return out
	}
	for _, a := range notIdle() {
		srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: a, Communication: "vigil is shutting down"})
	}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline) && len(notIdle()) > 0; {
		time.Sleep(10 * time.Millisecond)
	}
	srv.Stop()
}

// apiPeer turns a Neighbor into GoBGP's peer, with both unicast families enabled.
func apiPeer(n Neighbor) *api.Peer {
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.AS, AuthPassword: n.Password},
		Transport: &api.Transport{RemotePort: n.Port},
		Timers: &api.Timers{Config: &api.TimersConfig{HoldTime: uint64(n.HoldTime / time.Second),
			KeepaliveInterval: uint64(n.KeepaliveInterval / time.Second)}},
	}
	if n.LocalAddress.IsValid() {
		p.Transport.LocalAddress = n.LocalAddress.String()
	}
	for _, f := range []*api.Family{familyOf(true), familyOf(false)} {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}})
	}
	return p
}

func familyOf(v4 bool) *api.Family {
	if v4 {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

// apiPath builds GoBGP's locally originated path for r: origin IGP, the next hop left
// unspecified so that GoBGP puts the session's own address in it.
func apiPath(r Route) (*api.Path, error) {
	comms, err := parseCommunities(r.Communities)
	if err != nil {
		return nil, err
	}
	v4 := r.Prefix.Addr().Is4()
	nlri, err := anypb.New(&api.IPAddressPrefix{PrefixLen: uint32(r.Prefix.Bits()), Prefix: r.Prefix.Addr().String()})
	if err != nil {
		return nil, err
	}
	attrs := []proto.Message{&api.OriginAttribute{Origin: 0}}
	if v4 {
		attrs = append(attrs, &api.NextHopAttribute{NextHop: "0.0.0.0"})
	} else {
		attrs = append(attrs, &api.MpReachNLRIAttribute{Family: familyOf(false), NextHops: []string{"::"},
			Nlris: []*anypb.Any{nlri}})
	}
	if len(comms) > 0 {
		attrs = append(attrs, &api.CommunitiesAttribute{Communities: comms})
	}
	if r.MED != nil {
		attrs = append(attrs, &api.MultiExitDiscAttribute{Med: *r.MED})
	}
	if r.LocalPref != nil {
		attrs = append(attrs, &api.LocalPrefAttribute{LocalPref: *r.LocalPref})
	}
	p := &api.Path{Nlri: nlri, Family: familyOf(v4)}
	for _, a := range attrs {
		m, err := anypb.New(a)
		if err != nil {
			return nil, err
		}
		p.Pattrs = append(p.Pattrs, m)
	}
	return p, nil
}
