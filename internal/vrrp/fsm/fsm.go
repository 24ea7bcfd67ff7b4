package fsm

import (
	"fmt"
	"net/netip"
	"time"
)

// State is an instance's VRRP state.
type State uint8

// The states. Init is before Startup; Stop is after Shutdown.
const (
	Init State = iota
	Backup
	Master
	Fault
	Stop
)

// String returns the state's name as Keepalived passes it to notify scripts
// and writes it to notify_fifo.
func (s State) String() string {
	switch s {
	case Init:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	case Stop:
		return "STOP"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ActionKind says what an Action asks the caller to do.
type ActionKind uint8

// The actions.
const (
	// ActSendAdvert: send an advertisement with Action.Priority (0 when
	// resigning).
	ActSendAdvert ActionKind = iota + 1
	// ActAddVIPs: take over: add the virtual addresses (and routes, rules),
	// then send gratuitous ARP / unsolicited NA.
	ActAddVIPs
	// ActRemoveVIPs: release the virtual addresses (and routes, rules). At
	// Startup it clears any left over from an earlier run.
	ActRemoveVIPs
	// ActNotify: the instance entered Action.State; run notify scripts, write
	// notify_fifo, update status.
	ActNotify
	// ActMasterRxLowerPriority: a master heard a lower priority master
	// (Keepalived's notify_master_rx_lower_pri).
	ActMasterRxLowerPriority
	// ActOwnerConflict: another router also claims to own the addresses (priority 255);
	// Action.Src is it, Action.Conflict says what this machine did (OwnerConflict).
	ActOwnerConflict
)

// OwnerConflict is what an address owner did about another router advertising priority 255,
// as Keepalived 2.3.3 handles it (RFC 9568 section 8.3.2 allows more than one owner on a link,
// erratum 8298 says how they settle).
type OwnerConflict uint8

const (
	// OwnerYields: the other has the higher primary address; this one goes backup.
	OwnerYields OwnerConflict = iota + 1
	// OwnerWaits: the other has the lower address and should yield; this one stays master and
	// gives it two adverts and a little more than an advert interval to stop.
	OwnerWaits
	// OwnerReduces: the other did not stop (it is not Keepalived 2.3.3 or vigil): this one
	// advertises 254 and goes backup, so that there is one master.
	OwnerReduces
	// OwnerRestores: the other owner is gone (or this one became master): back to 255.
	OwnerRestores
	// OwnerIgnores: owner_ignore_adverts: as RFC 9568 says, an owner drops adverts.
	OwnerIgnores
)

func (c OwnerConflict) String() string {
	switch c {
	case OwnerYields:
		return "yields to the higher address"
	case OwnerWaits:
		return "waits for the lower address to yield"
	case OwnerReduces:
		return "reduces its priority to 254"
	case OwnerRestores:
		return "restores its priority to 255"
	case OwnerIgnores:
		return "ignores it (owner_ignore_adverts)"
	}
	return fmt.Sprintf("OwnerConflict(%d)", uint8(c))
}

func (k ActionKind) String() string {
	switch k {
	case ActSendAdvert:
		return "send-advert"
	case ActAddVIPs:
		return "add-vips"
	case ActRemoveVIPs:
		return "remove-vips"
	case ActNotify:
		return "notify"
	case ActMasterRxLowerPriority:
		return "master-rx-lower-priority"
	case ActOwnerConflict:
		return "owner-conflict"
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// Action is one thing the caller must do, in the order given.
type Action struct {
	Kind     ActionKind
	Priority uint8         // ActSendAdvert
	State    State         // ActNotify
	Src      netip.Addr    // ActOwnerConflict: the other owner
	Conflict OwnerConflict // ActOwnerConflict
}

func (a Action) String() string {
	switch a.Kind {
	case ActSendAdvert:
		return fmt.Sprintf("send-advert(%d)", a.Priority)
	case ActNotify:
		return "notify(" + a.State.String() + ")"
	case ActOwnerConflict:
		return "owner-conflict(" + a.Src.String() + ": " + a.Conflict.String() + ")"
	}
	return a.Kind.String()
}

// Result is what the machine answers to every event.
type Result struct {
	// Actions to carry out in order. The slice is reused by the next call.
	Actions []Action
	// State after the event.
	State State
	// Deadline is when the caller must call Timer next; zero means no timer
	// (Init, Fault, Stop).
	Deadline time.Time
}

// Advert is what the machine needs from a received advertisement that the
// packet layer accepted for this instance.
type Advert struct {
	Priority uint8
	Src      netip.Addr // the sender's primary address (IP source)
	// MaxAdvertInterval is the advertisement's interval (VRRPv3); a v3
	// backup adopts it. Ignored for VRRPv2, whose intervals must match.
	MaxAdvertInterval time.Duration
}

// Config is an instance's configuration as far as the state machine cares.
type Config struct {
	Version uint8 // 2 or 3
	// Priority is the configured (base) priority, 1-255; 255 means the
	// address owner.
	Priority uint8
	// AdvertInterval: whole seconds, at most 255 s, for v2; a multiple of
	// 10 ms up to 40.95 s for v3.
	AdvertInterval time.Duration
	// InitialState is Backup or Master; Init (the zero value) derives it from
	// the priority as Keepalived does (255: Master, otherwise Backup).
	InitialState State
	Nopreempt    bool
	PreemptDelay time.Duration
	// Addr is this router's primary address on the interface, used to break
	// ties between equal priorities.
	Addr netip.Addr
	// DownTimerAdverts is how many advertisement intervals without an
	// advertisement make the master down (Keepalived down_timer_adverts);
	// 0 means 3, the RFC's value.
	DownTimerAdverts int
	// LowerPrioNoAdvert: a master does not answer a lower priority advert
	// with its own (Keepalived lower_prio_no_advert).
	LowerPrioNoAdvert bool
	// HigherPrioSendAdvert: a master sends one more advert before yielding
	// to a higher priority (Keepalived higher_prio_send_advert).
	HigherPrioSendAdvert bool
	// Synced: the instance is a member of a sync group. When its master down
	// timer runs out it does not become master on its own: it wants to
	// (WantsMaster), re-arms the timer, and waits for ForceMaster, which its
	// group gives once every member wants to (Keepalived's
	// vrrp_sync_can_goto_master: prefer backup to thrashing).
	Synced bool
	// OwnerIgnoreAdverts: an address owner at priority 255 drops every advert, as RFC 9568
	// says (Keepalived's owner_ignore_adverts); by default it hears them, so that two owners
	// settle on one master.
	OwnerIgnoreAdverts bool
}

// Machine is one instance's state machine.
type Machine struct {
	cfg     Config
	owner   bool
	state   State
	eff     uint8 // effective priority
	faulted bool
	// wantMaster is Keepalived's wantstate == MASTER for an address owner:
	// set from the configuration, cleared by a fault after Startup.
	wantMaster bool
	// syncWant: a synced backup whose master down timer ran out.
	syncWant bool
	// resigned: an operator resigned the instance (Resign): it stays out of MASTER until
	// Ready, whatever its priority and timers say.
	resigned bool

	masterAdvInt time.Duration // Master_Adver_Interval
	downTimer    time.Duration // ms_down_timer
	deadline     time.Time
	preemptAt    time.Time // zero: preempt delay not running

	masterAddr netip.Addr
	masterPrio uint8

	// An owner that met another owner with a lower address: rogueAdverts counts the adverts
	// it still sends before opening the window (rogueUntil) in which hearing the other again
	// makes it reduce its priority; rogueAdvInt is the other's interval.
	rogueAdverts int
	rogueUntil   time.Time
	rogueAdvInt  time.Duration

	acts []Action
}

// New checks cfg and returns a machine in Init. Like Keepalived it silently
// clears Nopreempt and PreemptDelay when InitialState is Master, and
// PreemptDelay when Nopreempt is set; Config reports the result.
func New(cfg Config) (*Machine, error) {
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	owner := cfg.Priority == 255
	return &Machine{
		cfg:          cfg,
		owner:        owner,
		eff:          cfg.Priority,
		wantMaster:   owner && cfg.InitialState == Master,
		masterAdvInt: cfg.AdvertInterval,
	}, nil
}

// normalize checks cfg and applies Keepalived's adjustments (see New).
func normalize(cfg Config) (Config, error) {
	switch cfg.Version {
	case 2:
		if cfg.AdvertInterval < time.Second || cfg.AdvertInterval > 255*time.Second || cfg.AdvertInterval%time.Second != 0 {
			return cfg, fmt.Errorf("vrrp fsm: VRRPv2 advert interval %v: want whole seconds from 1s to 255s", cfg.AdvertInterval)
		}
	case 3:
		if cfg.AdvertInterval < 10*time.Millisecond || cfg.AdvertInterval > 4095*10*time.Millisecond || cfg.AdvertInterval%(10*time.Millisecond) != 0 {
			return cfg, fmt.Errorf("vrrp fsm: VRRPv3 advert interval %v: want a multiple of 10ms from 10ms to 40.95s", cfg.AdvertInterval)
		}
	default:
		return cfg, fmt.Errorf("vrrp fsm: version %d: want 2 or 3", cfg.Version)
	}
	if cfg.Priority == 0 {
		return cfg, fmt.Errorf("vrrp fsm: priority 0: want 1 to 255")
	}
	if !cfg.Addr.IsValid() {
		return cfg, fmt.Errorf("vrrp fsm: no primary address to break priority ties with")
	}
	if cfg.DownTimerAdverts < 0 || cfg.DownTimerAdverts > 255 {
		return cfg, fmt.Errorf("vrrp fsm: down timer adverts %d: want 1 to 255", cfg.DownTimerAdverts)
	}
	if cfg.DownTimerAdverts == 0 {
		cfg.DownTimerAdverts = 3
	}
	if cfg.PreemptDelay < 0 {
		return cfg, fmt.Errorf("vrrp fsm: negative preempt delay %v", cfg.PreemptDelay)
	}
	owner := cfg.Priority == 255
	switch cfg.InitialState {
	case Init:
		cfg.InitialState = Backup
		if owner {
			cfg.InitialState = Master
		}
	case Backup, Master:
	default:
		return cfg, fmt.Errorf("vrrp fsm: initial state %v: want BACKUP or MASTER", cfg.InitialState)
	}
	if cfg.InitialState == Master {
		cfg.Nopreempt = false
		cfg.PreemptDelay = 0
	}
	if cfg.Nopreempt {
		cfg.PreemptDelay = 0
	}
	return cfg, nil
}

// Reconfigure applies a reloaded configuration to a running machine without leaving its state,
// as Keepalived keeps an instance's state across a reload: a master stays master and
// advertises its new priority and interval at once (no priority 0 resignation), a backup
// restarts its master down timer with the new values, a fault stays a fault. total is the new
// effective priority as SetPriority takes it (ignored for an address owner: 255). cfg.Addr
// and cfg.Version must not change (that is another router: restart the instance); the
// initial state only matters at Startup. On error the machine is unchanged.
func (m *Machine) Reconfigure(now time.Time, cfg Config, total int) (Result, error) {
	m.begin()
	cfg, err := normalize(cfg)
	if err != nil {
		return m.result(), err
	}
	if cfg.Version != m.cfg.Version || cfg.Addr != m.cfg.Addr {
		return m.result(), fmt.Errorf("vrrp fsm: reconfigure cannot change version (%d to %d) or address (%v to %v)",
			m.cfg.Version, cfg.Version, m.cfg.Addr, cfg.Addr)
	}
	m.cfg = cfg
	wasOwner := m.owner
	m.owner = cfg.Priority == 255
	if m.owner {
		m.eff = 255
	} else {
		m.eff = uint8(min(max(total, 1), 254))
		if wasOwner {
			m.wantMaster = false
		}
	}
	if m.cfg.Nopreempt || m.cfg.PreemptDelay == 0 {
		m.preemptAt = time.Time{}
	}
	switch m.state {
	case Master:
		m.masterAdvInt = cfg.AdvertInterval
		m.do(Action{Kind: ActSendAdvert, Priority: m.eff})
		m.deadline = now.Add(cfg.AdvertInterval)
	case Backup:
		// A v3 backup keeps the interval it learned from the master, which has not
		// changed; a v2 one uses its own (they must match).
		if cfg.Version == 2 || !m.masterAddr.IsValid() {
			m.masterAdvInt = cfg.AdvertInterval
		}
		m.downTimer = m.msDown()
		m.deadline = now.Add(m.downTimer)
	default:
		m.masterAdvInt = cfg.AdvertInterval
	}
	return m.result(), nil
}

// Config returns the configuration in force, after New's adjustments.
func (m *Machine) Config() Config { return m.cfg }

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority.
func (m *Machine) Priority() uint8 { return m.eff }

// Deadline returns when Timer must be called next (zero: no timer).
func (m *Machine) Deadline() time.Time { return m.deadline }

// MasterAdvertInterval returns the interval the machine currently assumes
// the master uses (its own when master; learned from the master in v3).
func (m *Machine) MasterAdvertInterval() time.Duration { return m.masterAdvInt }

// MasterDownInterval returns the current master down interval.
func (m *Machine) MasterDownInterval() time.Duration { return m.msDown() }

// Master returns the address and priority of the last master this machine
// accepted an advertisement from, if any.
func (m *Machine) Master() (netip.Addr, uint8) { return m.masterAddr, m.masterPrio }

// skewFor returns the skew time for priority value pv (256 - priority),
// computed in microseconds with Keepalived's integer arithmetic.
func (m *Machine) skewFor(pv int64) time.Duration {
	if m.cfg.Version == 2 {
		return time.Duration(pv*1_000_000/256) * time.Microsecond
	}
	cs := int64(m.masterAdvInt / (10 * time.Millisecond))
	return time.Duration(pv*cs*625/16) * time.Microsecond
}

// SkewTime returns Skew_Time: ((256 - priority) * Master_Adver_Interval) /
// 256 for v3, (256 - priority) / 256 seconds for v2.
func (m *Machine) SkewTime() time.Duration {
	p := m.eff
	if m.owner {
		p = 255
	}
	return m.skewFor(256 - int64(p))
}

func (m *Machine) msDown() time.Duration {
	return time.Duration(m.cfg.DownTimerAdverts)*m.masterAdvInt + m.SkewTime()
}

func (m *Machine) begin() { m.acts = m.acts[:0] }

func (m *Machine) do(a Action) { m.acts = append(m.acts, a) }

func (m *Machine) result() Result {
	return Result{Actions: m.acts, State: m.state, Deadline: m.deadline}
}

func (m *Machine) setState(s State) {
	m.state = s
	m.syncWant = false
	m.do(Action{Kind: ActNotify, State: s})
}

// becomeMaster is Keepalived's vrrp_state_goto_master: advertise first (so
// the old master drops the addresses before our gratuitous ARPs), then take
// the addresses, then notify.
func (m *Machine) becomeMaster(now time.Time) {
	m.restoreOwner(m.masterAddr) // the other owner has gone
	m.rogueAdverts, m.rogueUntil = 0, time.Time{}
	m.masterAdvInt = m.cfg.AdvertInterval
	m.preemptAt = time.Time{}
	m.do(Action{Kind: ActSendAdvert, Priority: m.eff})
	m.do(Action{Kind: ActAddVIPs})
	m.setState(Master)
	m.deadline = now.Add(m.cfg.AdvertInterval)
}

func (m *Machine) enterBackup(now time.Time) {
	m.setState(Backup)
	m.downTimer = m.msDown()
	m.deadline = now.Add(m.downTimer)
}

// Startup starts the machine (vrrp_init_state). A fault raised before
// Startup makes it start in Fault.
func (m *Machine) Startup(now time.Time) Result {
	m.begin()
	if m.state != Init {
		return m.result()
	}
	if !m.faulted && m.wantMaster && !m.cfg.Synced && !m.resigned {
		m.becomeMaster(now)
		return m.result()
	}
	// Keepalived clears any addresses a previous run left behind.
	m.do(Action{Kind: ActRemoveVIPs})
	if m.faulted {
		m.setState(Fault)
		m.deadline = time.Time{}
		return m.result()
	}
	m.enterBackup(now)
	m.ownerWaitsForGroup()
	return m.result()
}

// ownerWaitsForGroup makes a synced address owner in Backup want master at once: it goes
// master with its group, not alone (Keepalived starts such an owner as a backup unless every
// member of its group is an owner, and its group goes master only when no member is in
// fault or not yet started).
func (m *Machine) ownerWaitsForGroup() {
	if m.cfg.Synced && m.wantMaster && m.state == Backup && !m.resigned {
		m.syncWant = true
	}
}

// Timer tells the machine that its deadline has come. Called early, it does
// nothing and returns the same deadline.
func (m *Machine) Timer(now time.Time) Result {
	m.begin()
	if m.deadline.IsZero() || now.Before(m.deadline) {
		return m.result()
	}
	switch m.state {
	case Backup:
		if m.resigned {
			// Resigned: the master down timer runs out without consequence; it keeps
			// running so that Ready finds a machine in its usual shape.
			m.downTimer = m.msDown()
			m.deadline = now.Add(m.downTimer)
			break
		}
		if m.cfg.Synced {
			m.syncWant = true
			m.downTimer = m.msDown()
			m.deadline = now.Add(m.downTimer)
			break
		}
		m.becomeMaster(now)
	case Master:
		m.do(Action{Kind: ActSendAdvert, Priority: m.eff})
		m.deadline = now.Add(m.cfg.AdvertInterval)
		if m.owner && m.rogueAdverts > 0 {
			if m.rogueAdverts--; m.rogueAdverts == 0 {
				m.rogueUntil = now.Add(max(m.rogueAdvInt, m.cfg.AdvertInterval) * 12 / 10)
			}
		}
	}
	return m.result()
}

// Advert gives the machine an advertisement for its VRID that the packet
// layer accepted. The caller must not pass the machine's own adverts (looped
// back multicast from its own address).
func (m *Machine) Advert(now time.Time, adv Advert) Result {
	m.begin()
	if m.cfg.OwnerIgnoreAdverts && m.owner && m.eff == 255 {
		if adv.Priority == 255 {
			m.do(Action{Kind: ActOwnerConflict, Src: adv.Src, Conflict: OwnerIgnores})
		}
		return m.result()
	}
	switch m.state {
	case Backup:
		m.backupRx(now, adv)
	case Master:
		m.masterRx(now, adv)
	}
	return m.result()
}

// backupRx is vrrp_state_backup.
func (m *Machine) backupRx(now time.Time, adv Advert) {
	// An owner that reduced its priority for another owner takes 255 back once another
	// router is master or the master no longer claims 255.
	if m.owner && m.eff != 255 && (adv.Src != m.masterAddr || adv.Priority != 255) {
		m.restoreOwner(adv.Src)
	}
	switch {
	case adv.Priority == 0:
		m.syncWant = false
		m.downTimer = m.SkewTime()
		m.deadline = now.Add(m.downTimer)
	case m.cfg.Nopreempt || adv.Priority >= m.eff ||
		m.cfg.PreemptDelay > 0 && (m.preemptAt.IsZero() || m.preemptAt.After(now)):
		if m.cfg.Version == 3 && adv.MaxAdvertInterval > 0 {
			m.masterAdvInt = adv.MaxAdvertInterval
		}
		m.syncWant = false
		m.downTimer = m.msDown()
		m.deadline = now.Add(m.downTimer)
		m.masterAddr, m.masterPrio = adv.Src, adv.Priority
		if m.cfg.PreemptDelay > 0 {
			if adv.Priority >= m.eff {
				m.preemptAt = time.Time{}
			} else if m.preemptAt.IsZero() {
				m.preemptAt = now.Add(m.cfg.PreemptDelay)
			}
		}
	default:
		// Lower priority and we may preempt: ignore it and let the master
		// down timer run out.
		m.masterAddr = adv.Src
	}
}

// compareAddr orders addresses as Keepalived's inet_inaddrcmp: as unsigned
// big-endian numbers; addresses of different families compare equal.
func compareAddr(a, b netip.Addr) int {
	if a.Is4() != b.Is4() {
		return 0
	}
	return a.Compare(b)
}

// masterRx is vrrp_state_master_rx.
func (m *Machine) masterRx(now time.Time, adv Advert) {
	cmp := compareAddr(adv.Src, m.cfg.Addr)
	if m.owner && adv.Priority == 255 && m.eff == 255 && cmp != 0 {
		m.ownerMeetsOwner(now, adv, cmp)
	}
	higher := adv.Priority > m.eff || adv.Priority == m.eff && cmp > 0
	if adv.Priority == 0 || m.cfg.HigherPrioSendAdvert && higher {
		m.do(Action{Kind: ActSendAdvert, Priority: m.eff})
		if adv.Priority == 0 {
			return
		}
	}
	if adv.Priority < m.eff || adv.Priority == m.eff && cmp < 0 {
		if !m.cfg.LowerPrioNoAdvert {
			m.do(Action{Kind: ActSendAdvert, Priority: m.eff})
		}
		m.do(Action{Kind: ActMasterRxLowerPriority})
		return
	}
	if !higher {
		return // equal priority from our own address
	}
	if m.cfg.Version == 3 && adv.MaxAdvertInterval > 0 {
		m.masterAdvInt = adv.MaxAdvertInterval
	}
	m.masterAddr, m.masterPrio = adv.Src, adv.Priority
	m.preemptAt = time.Time{}
	m.do(Action{Kind: ActRemoveVIPs})
	m.enterBackup(now)
}

// ownerMeetsOwner is Keepalived 2.3.3's handling of a second address owner heard by a master
// owner: the one with the lower primary address yields at once; the other waits two of its
// adverts and then a little more (1.2 times the longer of the two intervals) for it to stop,
// and reduces its own priority to 254 if it does not, so that one router is master (see
// vrrp.c vrrp_state_master_rx and vrrp_state_master_tx).
func (m *Machine) ownerMeetsOwner(now time.Time, adv Advert, cmp int) {
	switch {
	case cmp > 0:
		m.do(Action{Kind: ActOwnerConflict, Src: adv.Src, Conflict: OwnerYields})
	case !m.rogueUntil.IsZero() && now.Before(m.rogueUntil):
		m.rogueUntil, m.rogueAdverts = time.Time{}, 0
		m.eff = 254
		m.do(Action{Kind: ActOwnerConflict, Src: adv.Src, Conflict: OwnerReduces})
	default:
		m.rogueAdvInt = m.cfg.AdvertInterval
		if m.cfg.Version == 3 && adv.MaxAdvertInterval > 0 {
			m.rogueAdvInt = adv.MaxAdvertInterval
		}
		if m.rogueAdverts == 0 {
			m.rogueAdverts = 2
			m.rogueUntil = time.Time{}
			m.do(Action{Kind: ActOwnerConflict, Src: adv.Src, Conflict: OwnerWaits})
		}
	}
}

// restoreOwner gives an owner that reduced its priority its 255 back.
func (m *Machine) restoreOwner(src netip.Addr) {
	if m.owner && m.eff != 255 {
		m.eff = 255
		m.do(Action{Kind: ActOwnerConflict, Src: src, Conflict: OwnerRestores})
	}
}

// WantsMaster reports whether a synced backup's master down timer has run
// out since it last heard a master: it is ready to become master with its
// sync group.
func (m *Machine) WantsMaster() bool { return m.syncWant }

// ForceMaster makes a backup master because its sync group goes master
// (vrrp_sync_master). Other states ignore it.
func (m *Machine) ForceMaster(now time.Time) Result {
	m.begin()
	if m.state == Backup && !m.resigned {
		m.becomeMaster(now)
	}
	return m.result()
}

// ForceBackup makes a master backup because another member of its sync group
// went back to backup (vrrp_sync_backup): it drops its addresses without a
// priority 0 advertisement and waits a master down interval. Other states
// ignore it.
func (m *Machine) ForceBackup(now time.Time) Result {
	m.begin()
	if m.state == Master {
		m.do(Action{Kind: ActRemoveVIPs})
		m.enterBackup(now)
	}
	return m.result()
}

// Fault tells the machine that tracking put the instance in fault (an
// interface down, a failed script with weight 0...). A master resigns with
// a priority 0 advertisement.
func (m *Machine) Fault(now time.Time) Result {
	m.begin()
	m.faulted = true
	switch m.state {
	case Backup, Master:
		m.wantMaster = false
		if m.state == Master {
			m.do(Action{Kind: ActSendAdvert, Priority: 0})
			m.do(Action{Kind: ActRemoveVIPs})
		}
		m.setState(Fault)
		m.deadline = time.Time{}
		m.preemptAt = time.Time{}
	}
	return m.result()
}

// FaultCleared tells the machine that every fault has cleared
// (try_up_instance): it returns to Backup with a fresh master down timer, or
// straight to Master if it is an address owner that was faulty from Startup.
func (m *Machine) FaultCleared(now time.Time) Result {
	m.begin()
	m.faulted = false
	if m.state != Fault {
		return m.result()
	}
	m.masterAdvInt = m.cfg.AdvertInterval
	if m.wantMaster && !m.cfg.Synced && !m.resigned {
		m.becomeMaster(now)
	} else {
		m.enterBackup(now)
		m.ownerWaitsForGroup()
	}
	return m.result()
}

// SetPriority gives the machine its new effective priority, the configured
// priority plus the weights of tracked objects (any int; clamped to 1..254).
// An address owner's priority never changes.
func (m *Machine) SetPriority(now time.Time, total int) Result {
	m.begin()
	if m.owner {
		return m.result()
	}
	p := uint8(min(max(total, 1), 254))
	if p == m.eff {
		return m.result()
	}
	oldSkew := m.SkewTime()
	m.eff = p
	if m.state == Backup {
		// Move the pending deadline by the change in skew time, as
		// vrrp_set_effective_priority moves sands.
		d := m.SkewTime() - oldSkew
		m.downTimer += d
		m.deadline = m.deadline.Add(d)
	}
	return m.result()
}

// Resign takes the machine out of the election until Ready, for an operator handing the
// addresses over before maintenance: a master resigns as at Shutdown (a priority 0
// advertisement, so that a backup takes over after its skew time rather than its master down
// interval, then its addresses removed) and becomes BACKUP; a backup, or a machine not yet
// started or in fault, stays out of MASTER from then on. Only Ready, or Shutdown, ends it.
func (m *Machine) Resign(now time.Time) Result {
	m.begin()
	m.resigned = true
	m.syncWant = false
	if m.state == Master {
		m.do(Action{Kind: ActSendAdvert, Priority: 0})
		m.do(Action{Kind: ActRemoveVIPs})
		m.preemptAt = time.Time{}
		m.enterBackup(now)
	}
	return m.result()
}

// Ready ends a Resign: the machine takes part in the election again, a backup with a fresh
// master down timer (so it becomes master only if no master advertises, or by preempting one
// of lower priority, as ever), an address owner going master at once as it does at Startup.
func (m *Machine) Ready(now time.Time) Result {
	m.begin()
	if !m.resigned {
		return m.result()
	}
	m.resigned = false
	if m.state != Backup {
		return m.result()
	}
	if m.wantMaster && !m.cfg.Synced {
		m.becomeMaster(now)
		return m.result()
	}
	m.downTimer = m.msDown()
	m.deadline = now.Add(m.downTimer)
	m.ownerWaitsForGroup()
	return m.result()
}

// Resigned reports whether an operator resigned the machine (Resign) and it is not ready again.
func (m *Machine) Resigned() bool { return m.resigned }

// Shutdown stops the machine: a master resigns (priority 0 advertisement,
// addresses removed), and every state ends in Stop.
func (m *Machine) Shutdown(now time.Time) Result {
	m.begin()
	if m.state == Stop {
		return m.result()
	}
	if m.state == Master {
		m.do(Action{Kind: ActSendAdvert, Priority: 0})
		m.do(Action{Kind: ActRemoveVIPs})
	}
	m.setState(Stop)
	m.deadline = time.Time{}
	return m.result()
}
