package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
)

// InstanceStatus is a snapshot of one instance.
type InstanceStatus struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	VRID      int    `json:"vrid"`
	Version   int    `json:"version"`
	State     string `json:"state"`
	// Priority is the configured priority; EffectivePriority includes tracking weights.
	Priority          int            `json:"priority"`
	EffectivePriority int            `json:"effective_priority"`
	MasterAddr        netip.Addr     `json:"master_addr,omitzero"`
	Transitions       int            `json:"transitions"`
	Since             time.Time      `json:"since,omitzero"`
	VIPs              []netip.Prefix `json:"vips"`
	// Dropped counts refused packets by reason (packet.Reason names, plus unknown_peer); a
	// reason is there once counted. address_count_mismatch and address_list_mismatch are
	// counted but the advert is used (packet.Reason.Advisory), as Keepalived does.
	Dropped map[string]uint64 `json:"dropped,omitempty"`
	// Error is the last error that kept the instance from running (socket, address), if any.
	Error string `json:"error,omitempty"`
	// Repairs counts the virtual addresses, routes and rules this instance found missing while
	// master and put back (reconcile.go).
	Repairs uint64 `json:"repairs"`
	// NotInPlace is empty while a master holds everything it should; otherwise it names what is
	// missing and why it could not be put back ("address 192.0.2.100/24 dev eth1: ...; ...").
	NotInPlace string `json:"not_in_place,omitempty"`
	// Resigned is set while an operator's resignation is in force on the running machine
	// (resign.go); Resignation says who asked, why and since when, from the moment they
	// asked (also before the instance runs).
	Resigned    bool         `json:"resigned"`
	Resignation *Resignation `json:"resignation,omitempty"`
}

// reasonUnknownPeer is the drop reason, beside packet.Reason's, of a unicast instance's advert
// from an address that is not one of its unicast peers.
const reasonUnknownPeer = "unknown_peer"

// Event is a state change of an instance.
type Event struct {
	Instance string
	Group    string // the sync group, if any
	From, To fsm.State
	Priority int // effective priority at the change
	Time     time.Time
}

type rxAdvert struct {
	adv fsm.Advert
}

type trackUpdate struct {
	key   string
	up    bool // interfaces, scripts
	value int  // files
}

// instance runs one vrrp_instance: its socket, its state machine, its addresses.
type instance struct {
	// cur is the configuration in force: set by newInstance and, on an in-place reload, by
	// the run goroutine; the reader, the Manager and snapshots read it through conf.
	cur     atomic.Pointer[spec]
	log     *slog.Logger
	clk     clock.Clock
	runner  *notify.Runner
	user    *notify.User
	onEvent func(Event)
	host    *netif.Host

	// interval is how often a master reads back its kernel state; onRepair hears each repair.
	interval time.Duration
	onRepair func(Repair)

	// fifos are the Manager's notify fifos (nil before Run and after it).
	fifos *atomic.Pointer[fifoSet]

	// groupFault is called when the instance's own fault (from what it tracks) rises or
	// clears, so that its sync group can fault every member together.
	groupFault func(in *instance, fault bool)
	// groupWant is called when the instance starts or stops wanting master (its master down
	// timer ran out: fsm.Machine.WantsMaster); it reports whether the whole group is ready, in
	// which case the instance goes master at once and the others have been told to.
	groupWant func(in *instance, want bool) bool
	// groupState is called when the instance's state changes; it moves the other members as
	// Keepalived's vrrp_sync_master/vrrp_sync_backup do and returns the group notify
	// scripts to run, if the group's state changed.
	groupState func(in *instance, from, to fsm.State) []notifyJob
	// force receives MASTER or BACKUP when the sync group moves this member.
	force chan fsm.State
	// update receives a reloaded configuration with the same identity (see spec.identity),
	// applied in place; lastTracks returns what the Manager knows of the objects it tracks.
	update     chan *spec
	lastTracks func(s *spec) map[string]trackUpdate
	wants      bool // last WantsMaster reported to groupWant

	done   chan struct{} // closed when run returns
	rx     chan fsm.Advert
	tracks chan trackUpdate
	sync   chan bool // true: a sync group member is in fault; false: no longer
	linkUp chan string
	drift  chan struct{} // the kernel dropped something a master may hold (suspectDrift)
	// resign is what the operator wants (Manager.Resign and Ready); adminWake tells run to
	// look at it.
	resign    atomic.Bool
	adminWake chan struct{}

	counters    packet.Counters
	ahSeq       packet.AHSeq
	hmac        *hmacState // auth_hmac's sequence and replay marks (whether or not configured)
	unknownPeer uint64     // only touched by the reader goroutine; read under mu

	mu     sync.Mutex
	status InstanceStatus

	// Owned by the run goroutine.
	m          *fsm.Machine
	c          conn
	src        netip.Addr
	ifindex    int
	trackState map[string]trackEffect
	syncFault  bool // another member of the sync group is in fault
	ownFault   bool // a tracked object faults this instance
	faulted    bool // the machine has been told of a fault
	garpStop   context.CancelFunc
	garpDone   chan struct{}
	notifyQ    chan notifyJob
	vmac       vmacState
	recon      reconcileState
}

type trackEffect struct {
	fault bool
	delta int
}

type notifyJob struct {
	script *syntax.Script
	args   []string
}

func newInstance(s *spec, o ManagerOptions, host *netif.Host, user *notify.User) *instance {
	in := &instance{
		log:     o.Logger.With("instance", s.name),
		clk:     o.Clock,
		runner:  o.Runner,
		user:    user,
		onEvent: o.OnEvent,
		host:    host,
		done:    make(chan struct{}),
		rx:      make(chan fsm.Advert, 64),
		tracks:  make(chan trackUpdate, 64),
		sync:    make(chan bool, 64),
		force:   make(chan fsm.State, 64),
		update:  make(chan *spec, 1),
		linkUp:  make(chan string, 16),
		drift:   make(chan struct{}, 1),
		hmac:    newHMACState(),

		adminWake: make(chan struct{}, 1),
	}
	in.interval, in.onRepair = o.ReconcileInterval, o.OnRepair
	vips := make([]netip.Prefix, 0, len(s.vips))
	for _, v := range s.vips {
		vips = append(vips, v.Prefix)
	}
	in.cur.Store(s)
	in.status = InstanceStatus{
		Name: s.name, Interface: s.ifname, VRID: int(s.vrid), Version: int(s.fsm.Version),
		State: fsm.Init.String(), Priority: int(s.fsm.Priority), EffectivePriority: int(s.fsm.Priority), VIPs: vips,
	}
	return in
}

// conf is the instance's configuration in force. The name, interface, VRID, family, version,
// unicast mode and sync group never change (a reload that changes them restarts the instance).
func (in *instance) conf() *spec { return in.cur.Load() }

func (in *instance) snapshot() InstanceStatus {
	in.mu.Lock()
	st := in.status
	st.VIPs = append([]netip.Prefix(nil), st.VIPs...)
	up := in.unknownPeer
	in.mu.Unlock()
	st.Dropped = map[string]uint64{}
	in.counters.Each(func(r packet.Reason, n uint64) {
		if n > 0 {
			st.Dropped[r.String()] = n
		}
	})
	if up > 0 {
		st.Dropped[reasonUnknownPeer] = up
	}
	return st
}

func (in *instance) setError(err error) {
	in.mu.Lock()
	if err == nil {
		in.status.Error = ""
	} else {
		in.status.Error = err.Error()
	}
	in.mu.Unlock()
}

// trackUpdate tells the instance that a tracked object changed; it never blocks for long.
func (in *instance) track(ctx context.Context, u trackUpdate) {
	select {
	case in.tracks <- u:
	case <-in.done:
	case <-ctx.Done():
	}
}

// run is the instance's life: open the socket, start the machine, serve events until ctx ends,
// then resign. It returns once the instance has released its addresses and its stop
// notifications have run (or been given up).
func (in *instance) run(ctx context.Context, initial map[string]trackUpdate) {
	in.notifyQ = make(chan notifyJob, 64)
	notifyCtx, notifyCancel := context.WithCancel(context.WithoutCancel(ctx))
	notifyDone := make(chan struct{})
	go in.notifier(notifyCtx, notifyDone)
	defer func() {
		close(in.notifyQ)
		// Stop scripts get a bounded time after shutdown.
		t := time.AfterFunc(10*time.Second, notifyCancel)
		<-notifyDone
		t.Stop()
		notifyCancel()
	}()

	// Registered before the socket's Close, so it runs after it and after the resignation.
	defer in.removeVMAC()
	if err := in.open(ctx); err != nil {
		// ctx ended while waiting for the interface: the instance no longer holds its
		// group in fault, and leaves it.
		if in.ownFault && in.groupFault != nil {
			in.groupFault(in, false)
		}
		in.entered(fsm.Stop)
		return
	}
	defer in.c.Close()

	readerCtx, stopReader := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	go in.reader(readerCtx, readerDone)
	defer func() {
		stopReader()
		in.c.Close()
		<-readerDone
	}()

	in.setTracks(initial)
	timer := in.clk.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	in.recon = reconcileState{timer: in.clk.NewTimer(time.Hour), failing: map[string]string{}}
	in.recon.timer.Stop()
	defer in.recon.timer.Stop()
	var apply func(r fsm.Result)
	apply = func(r fsm.Result) {
		in.apply(ctx, r)
		if r.Deadline.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(r.Deadline.Sub(in.clk.Now()), 0))
		}
		if w := in.m.WantsMaster(); w != in.wants && in.groupWant != nil {
			in.wants = w
			if in.groupWant(in, w) {
				apply(in.m.ForceMaster(in.clk.Now()))
			}
		}
	}
	now := in.clk.Now()
	total, fault := in.tracked()
	in.m.SetPriority(now, total)
	// An instance that could not open is in fault (see open) until now.
	if fault != in.ownFault && in.groupFault != nil {
		in.groupFault(in, fault)
	}
	in.ownFault = fault
	if fault || in.syncFault {
		in.faulted = true
		in.m.Fault(now)
	}
	if in.resign.Load() {
		in.log.Info("vrrp instance starts resigned by an operator: BACKUP until ready")
		in.m.Resign(now)
		in.mu.Lock()
		in.status.Resigned = true
		in.mu.Unlock()
	}
	apply(in.m.Startup(now))
	for {
		select {
		case <-ctx.Done():
			in.apply(ctx, in.m.Shutdown(in.clk.Now()))
			in.stopGARP()
			if in.ownFault && in.groupFault != nil {
				// A stopped member (removed by a reload) no longer holds its group in fault.
				in.groupFault(in, false)
			}
			return
		case <-timer.C():
			apply(in.m.Timer(in.clk.Now()))
		case adv := <-in.rx:
			apply(in.m.Advert(in.clk.Now(), adv))
		case u := <-in.tracks:
			in.setTrack(u, apply)
		case f := <-in.sync:
			in.syncFault = f
			in.refault(apply)
		case st := <-in.force:
			if st == fsm.Master {
				apply(in.m.ForceMaster(in.clk.Now()))
			} else {
				apply(in.m.ForceBackup(in.clk.Now()))
			}
		case name := <-in.linkUp:
			in.restore(ctx, name)
		case <-in.recon.timer.C():
			in.reconcile(ctx)
		case <-in.drift:
			in.driftSuspected(ctx)
		case ns := <-in.update:
			in.reconfigure(ctx, ns, apply)
		case <-in.adminWake:
			in.applyResigned(apply)
		}
	}
}

// setTracks sets the effect of every tracked object from what is known of it.
func (in *instance) setTracks(known map[string]trackUpdate) {
	in.trackState = map[string]trackEffect{}
	for _, t := range in.conf().tracks {
		u, ok := known[t.key()]
		if !ok {
			if t.kind == "script" || t.kind == "file" || t.kind == poolKind {
				continue // not run yet: no effect until the first result
			}
			u.up = true
		}
		fault, delta := t.effect(u)
		in.trackState[t.key()] = trackEffect{fault, delta}
	}
}

func (in *instance) tracked() (total int, fault bool) {
	total = int(in.conf().fsm.Priority)
	for _, e := range in.trackState {
		total += e.delta
		fault = fault || e.fault
	}
	return total, fault
}

func (in *instance) setTrack(u trackUpdate, apply func(fsm.Result)) {
	for _, t := range in.conf().tracks {
		if t.key() != u.key {
			continue
		}
		fault, delta := t.effect(u)
		if old, ok := in.trackState[u.key]; ok && old == (trackEffect{fault, delta}) {
			return
		}
		in.trackState[u.key] = trackEffect{fault, delta}
		total, _ := in.tracked()
		before := in.m.Priority()
		apply(in.m.SetPriority(in.clk.Now(), total))
		in.mu.Lock()
		in.status.EffectivePriority = int(in.m.Priority())
		in.mu.Unlock()
		if p := in.m.Priority(); p != before {
			in.priorityChanged(in.m.State(), int(p))
		}
		in.refault(apply)
		return
	}
}

// refault raises or clears the machine's fault from the tracked objects and the sync group.
func (in *instance) refault(apply func(fsm.Result)) {
	_, own := in.tracked()
	if own != in.ownFault {
		in.ownFault = own
		if in.groupFault != nil {
			in.groupFault(in, own)
		}
	}
	fault := own || in.syncFault
	if fault == in.faulted {
		return
	}
	in.faulted = fault
	if fault {
		apply(in.m.Fault(in.clk.Now()))
	} else {
		apply(in.m.FaultCleared(in.clk.Now()))
	}
}

// open finds the instance's address and opens its socket, retrying every second until it
// works or ctx ends (the interface may not exist or have its address yet).
func (in *instance) open(ctx context.Context) error {
	logged := false
	for {
		err := in.tryOpen()
		if err == nil {
			in.setError(nil)
			return nil
		}
		if !logged {
			in.log.Error("vrrp instance cannot start; retrying every second", "error", err)
			logged = true
			// Keepalived puts an instance whose interface is missing or down in FAULT,
			// and its sync group with it: a member that cannot run keeps the others out
			// of MASTER.
			in.ownFault = true
			if in.groupFault != nil {
				in.groupFault(in, true)
			}
			in.entered(fsm.Fault)
		}
		in.setError(err)
		t := in.clk.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

func (in *instance) tryOpen() error {
	s := in.conf()
	ifi, err := netif.Interface(s.ifname)
	if err != nil {
		return err
	}
	src := s.srcIP
	if !src.IsValid() {
		isVIP := func(a netip.Addr) bool {
			for _, v := range s.vips {
				if v.Prefix.Addr() == a {
					return true
				}
			}
			return false
		}
		src, err = in.host.PrimaryAddress(s.ifname, s.ipv6, isVIP)
		if err != nil {
			return err
		}
	}
	if ifi, err = in.openVMAC(ifi, src); err != nil {
		return err
	}
	cfg := s.fsm
	cfg.Addr = src
	m, err := fsm.New(cfg)
	if err != nil {
		return err
	}
	o := sockOpts{ifi: ifi, src: src, ah: ahSealerFor(s), freebind: s.unicast}
	if !s.unicast {
		o.group = s.dsts[0]
	}
	var c conn
	if s.ipv6 {
		c, err = openConn6(o)
	} else {
		c, err = openConn4(o)
	}
	if err != nil {
		return fmt.Errorf("vrrp socket on %s from %s: %w", s.ifname, src, err)
	}
	in.m, in.c, in.src, in.ifindex = m, c, src, ifi.Index
	return nil
}

// reader reads the socket, refuses what must be refused, and hands accepted adverts to run.
func (in *instance) reader(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 1<<16) // an IPv6 advert with 255 addresses is over 4 KB
	refusals := newRefusalLog(in.log, in.clk.Now)

	for {
		payload, env, ifindex, err := in.c.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			in.log.Warn("vrrp read failed", "error", err)
			t := in.clk.NewTimer(100 * time.Millisecond) // do not spin on a broken socket
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			continue
		}
		if ifindex != 0 && ifindex != in.ifindex {
			continue
		}
		if env.Src == in.src {
			continue // our own advert
		}
		// Another VRID on the same interface is another router's business.
		off := 1
		if env.Protocol == packet.ProtocolAH {
			off += packet.AHLen
		}
		if len(payload) > off && payload[off] != in.conf().vrid {
			continue
		}
		if in.conf().unicast {
			ttl, isPeer := in.conf().peerTTL[env.Src]
			if !isPeer {
				in.mu.Lock()
				in.unknownPeer++
				in.mu.Unlock()
				refusals.refused(reasonUnknownPeer, env.Src)
				continue
			}
			// Unicast adverts may cross routers: the TTL is checked against the peer's
			// min_ttl/max_ttl (0-255 unless configured), not required to be 255.
			if env.HopLimit >= 0 && (env.HopLimit < ttl[0] || env.HopLimit > ttl[1]) {
				in.counters.Observe(&packet.Error{Reason: packet.ReasonHopLimit, Got: env.HopLimit, Want: ttl[0]})
				refusals.refused(packet.ReasonHopLimit.String(), env.Src, "ttl", env.HopLimit, "min_ttl", ttl[0], "max_ttl", ttl[1])
				continue
			}
			env.HopLimit = packet.NoHopLimitCheck
		}
		s := in.conf()
		env.ChecksumAsV2 = s.checksumAsV2
		adv, err := packet.Decode(payload, env)
		if err == nil && adv.HasAH && s.expect.AuthType == packet.AuthAH {
			err = in.checkAH(buf, payload, adv)
		}
		// The trailer is verified before anything of the advert is believed, as Keepalived
		// does (an advert of another version fails Check below instead).
		if err == nil && adv.HasTrailer && s.hmac != nil && adv.Version == s.expect.Version {
			err = in.hmac.verify(s.hmac, in.clk.Now(), s.fsm.Version, s.vrid, env.Src, payload, adv, s.unicast)
		}
		if err == nil {
			err = in.conf().expect.Check(adv)
		}
		if err != nil {
			r := in.counters.Observe(err)
			refusals.refused(r.String(), env.Src, "error", err)
			if !r.Advisory() {
				continue
			}
		}
		a := fsm.Advert{Priority: adv.Priority, Src: env.Src}
		if adv.Version == 3 {
			a.MaxAdvertInterval = adv.IntervalDuration()
		}
		select {
		case in.rx <- a:
		case <-ctx.Done():
			return
		}
	}
}

// apply carries out the machine's actions in order.
func (in *instance) apply(ctx context.Context, r fsm.Result) {
	for _, a := range r.Actions {
		switch a.Kind {
		case fsm.ActSendAdvert:
			in.send(a.Priority)
		case fsm.ActAddVIPs:
			in.addVIPs(ctx)
		case fsm.ActRemoveVIPs:
			in.removeVIPs()
		case fsm.ActNotify:
			in.entered(a.State)
		case fsm.ActOwnerConflict:
			in.ownerConflict(a)
		case fsm.ActMasterRxLowerPriority:
			// A router that thinks it may be master needs telling where the addresses are.
			if in.conf().garpLower.repeat > 0 {
				in.startGARP(ctx, in.conf().garpLower)
			}
			if s := in.conf().notify.rxLowerPri; s != nil {
				in.queueNotify(s, nil)
			}
			in.fifoInstance("MASTER_RX_LOWER_PRI", int(in.m.Priority()))
		}
	}
	addr, _ := in.m.Master()
	in.mu.Lock()
	in.status.EffectivePriority = int(in.m.Priority())
	if in.m.State() == fsm.Master {
		in.status.MasterAddr = in.src
	} else {
		in.status.MasterAddr = addr
	}
	in.mu.Unlock()
}

// ownerConflict logs what the machine did about another address owner, in Keepalived 2.3.3's
// words where it has them: a configuration error of the two routers, to resolve by hand.
func (in *instance) ownerConflict(a fsm.Action) {
	switch a.Conflict {
	case fsm.OwnerYields, fsm.OwnerWaits:
		in.log.Warn(fmt.Sprintf("CONFIGURATION ERROR: local instance and %s are both configured as address owner, please resolve", a.Src),
			"peer", a.Src, "action", a.Conflict.String())
	case fsm.OwnerReduces:
		in.log.Warn(fmt.Sprintf("%s is still advertising as address owner, please resolve - reducing our priority", a.Src), "peer", a.Src)
	case fsm.OwnerRestores:
		in.log.Info("restoring our priority to 255 since the other address owner has gone", "peer", a.Src)
	case fsm.OwnerIgnores:
		in.log.Debug(fmt.Sprintf("Dropping packet(s) from %s since we are address owner", a.Src), "peer", a.Src)
	}
}

func (in *instance) send(prio uint8) {
	s := in.conf()
	adv := packet.Advert{
		Version:  s.fsm.Version,
		VRID:     s.vrid,
		Priority: prio,
		Interval: packet.IntervalFromDuration(s.fsm.Version, s.advertInt),
		AuthType: s.expect.AuthType,
		AuthData: s.expect.AuthData,
		Addrs:    s.advVIPs,
	}
	env := packet.Envelope{Src: in.src, ChecksumAsV2: s.checksumAsV2}
	if s.expect.AuthType == packet.AuthAH {
		in.prepareAH(&adv, &env)
	}
	var key []byte
	if s.hmac.signs() {
		// One sequence for the advert, whichever peers it goes to: the HMAC does not cover
		// the destination (Keepalived 2.4.3 signs once per advert too).
		adv.HasTrailer = true
		adv.Trailer = packet.Trailer{Type: packet.TrailerTypeSHA256, KeyID: s.hmac.active, Seq: in.hmac.nextSeq(s.hmac, in.clk.Now())}
		key = s.hmac.keys[s.hmac.active]
	}
	for _, dst := range s.dsts {
		env.Dst = dst
		var b []byte
		var err error
		if key != nil {
			b, err = adv.AppendSigned(nil, env, key)
		} else {
			b, err = adv.Marshal(env)
		}
		if err == nil {
			err = in.c.Write(b, dst, s.ttl)
		}
		if err != nil {
			in.log.Warn("vrrp advert not sent", "to", dst, "priority", prio, "error", err)
		}
	}
}

func (in *instance) addVIPs(ctx context.Context) {
	for _, a := range in.conf().vips {
		if err := in.host.AddAddress(a); err != nil {
			in.log.Error("virtual address not added", "address", a.String(), "error", err)
		}
	}
	for _, r := range in.conf().routes {
		if err := in.host.AddRoute(r); err != nil {
			in.log.Error("virtual route not added", "route", r.String(), "error", err)
		}
	}
	in.installRules(in.conf().rules)
	in.startGARP(ctx, in.conf().garp)
	// Read back at once what was just added: NotInPlace then tells at once what could not be.
	in.armReconcile(0)
}

// restore puts back a master's addresses and routes on a link that came back up: the kernel
// drops IPv6 addresses (and routes through the link) when a link goes down.
func (in *instance) restore(ctx context.Context, link string) {
	if in.m.State() != fsm.Master {
		return
	}
	uses := false
	for _, a := range in.conf().vips {
		uses = uses || a.Link == link
	}
	for _, r := range in.conf().routes {
		uses = uses || r.Dev == link
	}
	if uses {
		in.log.Info("link back up; restoring virtual addresses and routes", "link", link)
		in.addVIPs(ctx)
	}
}

// linkCameUp tells the instance a link is up again; it never blocks.
func (in *instance) linkCameUp(name string) {
	select {
	case in.linkUp <- name:
	default:
	}
}

func (in *instance) removeVIPs() {
	in.stopReconcile()
	in.stopGARP()
	in.uninstallRules(in.conf().rules)
	for _, r := range in.conf().routes {
		if err := in.host.DeleteRoute(r); err != nil {
			in.log.Error("virtual route not removed", "route", r.String(), "error", err)
		}
	}
	for _, a := range in.conf().vips {
		if err := in.host.DeleteAddress(a); err != nil {
			in.log.Error("virtual address not removed", "address", a.String(), "error", err)
		}
	}
}

// entered records a state change, tells observers and queues the notify scripts.
func (in *instance) entered(st fsm.State) {
	now := in.clk.Now()
	in.mu.Lock()
	from := in.status.State
	in.status.State = st.String()
	in.status.Transitions++
	in.status.Since = now
	prio := in.status.EffectivePriority
	if in.m != nil {
		prio = int(in.m.Priority())
	}
	in.mu.Unlock()
	in.log.Info("vrrp state changed", "from", from, "state", st.String(), "priority", prio)
	var prev fsm.State
	for _, s := range []fsm.State{fsm.Init, fsm.Backup, fsm.Master, fsm.Fault, fsm.Stop} {
		if s.String() == from {
			prev = s
		}
	}
	if in.onEvent != nil {
		in.onEvent(Event{Instance: in.conf().name, Group: in.conf().group, From: prev, To: st, Priority: prio, Time: now})
	}
	n := in.conf().notify
	var s *syntax.Script
	switch st {
	case fsm.Master:
		s = n.master
	case fsm.Backup:
		s = n.backup
	case fsm.Fault:
		s = n.fault
	case fsm.Stop:
		s = n.stop
	}
	if s != nil {
		in.queueNotify(s, nil)
	}
	if n.generic != nil {
		in.queueNotify(n.generic, notify.InstanceArgs(in.conf().name, st.String(), prio))
	}
	in.fifoInstance(st.String(), prio)
	if in.groupState != nil {
		for _, j := range in.groupState(in, prev, st) {
			in.queueNotify(j.script, j.args)
		}
	}
}

func (in *instance) queueNotify(s *syntax.Script, args []string) {
	select {
	case in.notifyQ <- notifyJob{s, args}:
	default:
		in.log.Warn("notify queue full; script skipped", "script", s.Command)
	}
}

// notifyTimeout bounds one notify script, so that a hung one cannot hold back the ones after
// it (Keepalived does not wait for them at all; vigil runs them in order).
const notifyTimeout = 30 * time.Second

// notifier runs notify scripts one at a time in the order of the state changes, so that the
// instance never waits for a script and scripts see the changes in order.
func (in *instance) notifier(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for j := range in.notifyQ {
		if in.runner == nil {
			continue
		}
		user := in.user
		if j.script.User != "" {
			u, err := notify.LookupUser(j.script.User, j.script.Group)
			if err != nil {
				in.log.Error("notify script not run", "script", j.script.Command, "error", err)
				continue
			}
			user = u
		}
		o := in.runner.Run(ctx, notify.Script{Command: j.script.Command, Args: j.args, User: user, Timeout: notifyTimeout})
		if !o.Success() {
			in.log.Warn("notify script failed", "script", j.script.Command, "args", j.args, "result", o.String())
		}
	}
}

// startGARP announces the virtual addresses: g.repeat times at once, the same again after
// g.delay, then g.refreshRepeat times every g.refresh (garp_master_* on becoming master,
// garp_lower_prio_* on hearing a lower priority).
func (in *instance) startGARP(ctx context.Context, g garpSpec) {
	in.stopGARP()
	gctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	in.garpStop, in.garpDone = cancel, done
	vips := in.conf().vips
	go func() {
		defer close(done)
		anns := map[string]*netif.Announcer{}
		defer func() {
			for _, a := range anns {
				a.Close()
			}
		}()
		wait := func(d time.Duration) bool {
			t := in.clk.NewTimer(d)
			defer t.Stop()
			select {
			case <-gctx.Done():
				return false
			case <-t.C():
				return true
			}
		}
		burst := func(n int) {
			for i := 0; i < max(n, 1); i++ {
				for _, v := range vips {
					a := anns[v.Link]
					if a == nil {
						var err error
						if a, err = netif.NewAnnouncer(v.Link); err != nil {
							in.log.Warn("gratuitous ARP/NA not sent", "error", err)
							continue
						}
						anns[v.Link] = a
					}
					if err := a.Announce(v.Prefix.Addr()); err != nil {
						in.log.Debug("gratuitous ARP/NA not sent", "address", v.Prefix.Addr(), "error", err)
					}
					pace := g.interval4
					if v.Prefix.Addr().Is6() {
						pace = g.interval6
					}
					if pace > 0 && !wait(pace) {
						return
					}
				}
			}
		}
		burst(g.repeat)
		if g.delay > 0 {
			if !wait(g.delay) {
				return
			}
			burst(g.repeat)
		}
		for g.refresh > 0 && wait(g.refresh) {
			burst(g.refreshRepeat)
		}
	}()
}

func (in *instance) stopGARP() {
	if in.garpStop != nil {
		in.garpStop()
		<-in.garpDone
		in.garpStop, in.garpDone = nil, nil
	}
}
