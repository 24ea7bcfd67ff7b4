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
	errs    map[string]string // key → last GoBGP error

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
		errs: map[string]string{}}, nil
}

// Announce asks for r to be announced under key (the virtual server's name) because why,
// e.g. "quorum gained". Hold-down may delay it; see Config.HoldDown. The error says only
// that r is malformed.
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

// Withdraw asks for key's route to be withdrawn because why, e.g. "quorum lost". Hold-down
// and the withdraw cap may delay it; an Announce before then cancels it. An unknown key is
// ignored.
func (s *Speaker) Withdraw(key, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.applyLocked(s.plan.withdraw(s.clk.Now(), key, why))
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

	srv := server.NewBgpServer(server.LoggerOption(gobgpLogger{s.log}))
	// GoBGP's Serve loop has no way to end; it idles once StopBgp has run (see doc.go).
	go srv.Serve()
	stop := func() { srv.Stop() }
	global := &api.Global{Asn: s.cfg.LocalAS, RouterId: s.cfg.RouterID.String(), ListenPort: s.cfg.ListenPort}
	if s.cfg.ListenPort == 0 {
		global.ListenPort = 179
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		stop()
		return fmt.Errorf("bgp: start AS %d router-id %s port %d: %w", s.cfg.LocalAS, s.cfg.RouterID, s.cfg.ListenPort, err)
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
	for _, p := range s.plan.status() {
		if p.State == Announced || p.State == PendingWithdraw {
			s.addLocked(p.Key, s.plan.prefixes[p.Key].route, "announced before start")
		}
	}
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
	s.mu.Unlock()
	stop()
	s.log.Info("bgp speaker stopped")
	return nil
}

// applyLocked carries the planner's actions out on GoBGP, if it is running.
func (s *Speaker) applyLocked(acts []action) {
	for _, a := range acts {
		s.log.Info("bgp "+a.op.String(), "vs", a.key, "prefix", a.route.Prefix, "reason", a.why)
		if a.op == opAnnounce {
			s.addLocked(a.key, a.route, a.why)
		} else {
			s.deleteLocked(a.key, a.route)
		}
	}
}

func (s *Speaker) addLocked(key string, r Route, why string) {
	if s.srv == nil {
		return
	}
	p, err := apiPath(r)
	if err == nil {
		_, err = s.srv.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	}
	s.noteLocked(key, "announce", r, err)
}

func (s *Speaker) deleteLocked(key string, r Route) {
	if s.srv == nil {
		return
	}
	p, err := apiPath(r)
	if err == nil {
		err = s.srv.DeletePath(context.Background(), &api.DeletePathRequest{TableType: api.TableType_GLOBAL,
			Family: p.Family, Path: p})
	}
	s.noteLocked(key, "withdraw", r, err)
}

func (s *Speaker) noteLocked(key, op string, r Route, err error) {
	if err == nil {
		delete(s.errs, key)
		return
	}
	s.errs[key] = fmt.Sprintf("%s %s: %v", op, r.Prefix, err)
	s.log.Error("bgp "+op+" failed", "vs", key, "prefix", r.Prefix, "err", err)
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
		st.Prefixes[i].Error = s.errs[st.Prefixes[i].Key]
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
