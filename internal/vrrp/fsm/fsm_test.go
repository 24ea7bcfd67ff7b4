package fsm

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }
func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

func baseConfig() Config {
	return Config{Version: 2, Priority: 100, AdvertInterval: time.Second, Addr: netip.MustParseAddr("192.0.2.1")}
}

func newMachine(t *testing.T, edit func(*Config)) *Machine {
	t.Helper()
	cfg := baseConfig()
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return m
}

func show(r Result) string {
	parts := make([]string, len(r.Actions))
	for i, a := range r.Actions {
		parts[i] = a.String()
	}
	return strings.Join(parts, " ")
}

// expect checks a Result's actions (as a space-separated string), state and
// deadline (zero time: no deadline).
func expect(t *testing.T, what string, r Result, actions string, state State, deadline time.Time) {
	t.Helper()
	if got := show(r); got != actions {
		t.Errorf("%s: actions %q, want %q", what, got, actions)
	}
	if r.State != state {
		t.Errorf("%s: state %v, want %v", what, r.State, state)
	}
	if !r.Deadline.Equal(deadline) {
		t.Errorf("%s: deadline %v, want %v", what, r.Deadline.Sub(t0), deadline.Sub(t0))
	}
}

func adv(prio uint8, src string) Advert {
	return Advert{Priority: prio, Src: netip.MustParseAddr(src)}
}

// startMaster runs a machine from Startup to Master by letting its master
// down timer expire, and returns the time it became master.
func startMaster(t *testing.T, m *Machine) time.Time {
	t.Helper()
	r := m.Startup(t0)
	if r.State == Master {
		return t0
	}
	now := r.Deadline
	if r = m.Timer(now); r.State != Master {
		t.Fatalf("not master after master down timer: %v", r.State)
	}
	return now
}

func TestSkewAndMasterDownIntervalFollowRFCAndKeepalivedArithmetic(t *testing.T) {
	tests := []struct {
		name     string
		version  uint8
		prio     uint8
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		{"V2Priority100", 2, 100, time.Second, us(609375), 3*time.Second + us(609375)},
		{"V2SkewIgnoresInterval", 2, 100, 5 * time.Second, us(609375), 15*time.Second + us(609375)},
		{"V2Priority254", 2, 254, time.Second, us(7812), 3*time.Second + us(7812)},
		{"V2Owner", 2, 255, time.Second, us(3906), 3*time.Second + us(3906)},
		{"V3Priority100Interval1s", 3, 100, time.Second, us(609375), 3*time.Second + us(609375)},
		{"V3Priority200Interval500ms", 3, 200, ms(500), us(109375), 1500*time.Millisecond + us(109375)},
		{"V3Priority1Interval10ms", 3, 1, ms(10), us(9960), 30*time.Millisecond + us(9960)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, func(c *Config) { c.Version, c.Priority, c.AdvertInterval = tt.version, tt.prio, tt.interval })
			if got := m.SkewTime(); got != tt.skew {
				t.Errorf("skew %v, want %v", got, tt.skew)
			}
			if got := m.MasterDownInterval(); got != tt.down {
				t.Errorf("master down interval %v, want %v", got, tt.down)
			}
		})
	}
}

func TestBackupBecomesMasterAfterMasterDownInterval(t *testing.T) {
	m := newMachine(t, nil)
	down := at(3*time.Second + us(609375))
	expect(t, "startup", m.Startup(t0), "remove-vips notify(BACKUP)", Backup, down)
	expect(t, "timer 1ns early", m.Timer(down.Add(-1)), "", Backup, down)
	expect(t, "timer at deadline", m.Timer(down), "send-advert(100) add-vips notify(MASTER)", Master, down.Add(time.Second))
	expect(t, "next advert", m.Timer(down.Add(time.Second)), "send-advert(100)", Master, down.Add(2*time.Second))
}

func TestTimerFiringLateSchedulesFromNow(t *testing.T) {
	m := newMachine(t, nil)
	m.Startup(t0)
	late := at(10 * time.Second)
	expect(t, "late timer", m.Timer(late), "send-advert(100) add-vips notify(MASTER)", Master, late.Add(time.Second))
}

func TestAddressOwnerStartsAsMaster(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255 })
	expect(t, "startup", m.Startup(t0), "send-advert(255) add-vips notify(MASTER)", Master, at(time.Second))
}

func TestAddressOwnerWithStateBackupWaitsForMasterDown(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority, c.InitialState = 255, Backup })
	expect(t, "startup", m.Startup(t0), "remove-vips notify(BACKUP)", Backup, at(3*time.Second+us(3906)))
}

func TestStateMasterWithoutOwnershipStartsAsBackup(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.InitialState = Master })
	expect(t, "startup", m.Startup(t0), "remove-vips notify(BACKUP)", Backup, at(3*time.Second+us(609375)))
}

func TestStateMasterClearsNopreemptAndPreemptDelay(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.InitialState, c.Nopreempt, c.PreemptDelay = Master, true, 5*time.Second })
	if c := m.Config(); c.Nopreempt || c.PreemptDelay != 0 {
		t.Fatalf("config %+v: nopreempt and preempt_delay should be cleared", c)
	}
	m = newMachine(t, func(c *Config) { c.Nopreempt, c.PreemptDelay = true, 5*time.Second })
	if c := m.Config(); !c.Nopreempt || c.PreemptDelay != 0 {
		t.Fatalf("config %+v: nopreempt kept, preempt_delay cleared", c)
	}
}

func TestHigherPriorityAdvertResetsBackupTimer(t *testing.T) {
	m := newMachine(t, nil)
	m.Startup(t0)
	now := at(2 * time.Second)
	expect(t, "advert", m.Advert(now, adv(150, "192.0.2.9")), "", Backup, now.Add(3*time.Second+us(609375)))
	if a, p := m.Master(); a != netip.MustParseAddr("192.0.2.9") || p != 150 {
		t.Errorf("master %v/%d", a, p)
	}
}

func TestEqualPriorityAdvertResetsBackupTimerWhateverTheAddress(t *testing.T) {
	m := newMachine(t, nil)
	m.Startup(t0)
	now := at(2 * time.Second)
	expect(t, "advert", m.Advert(now, adv(100, "192.0.2.0")), "", Backup, now.Add(3*time.Second+us(609375)))
}

func TestPriorityZeroTriggersTakeoverAfterSkew(t *testing.T) {
	m := newMachine(t, nil)
	m.Startup(t0)
	m.Advert(at(time.Second), adv(200, "192.0.2.9"))
	now := at(2 * time.Second)
	skew := now.Add(us(609375))
	expect(t, "priority 0", m.Advert(now, adv(0, "192.0.2.9")), "", Backup, skew)
	expect(t, "after skew", m.Timer(skew), "send-advert(100) add-vips notify(MASTER)", Master, skew.Add(time.Second))
}

func TestMasterAnswersPriorityZeroWithAdvert(t *testing.T) {
	m := newMachine(t, nil)
	became := startMaster(t, m)
	expect(t, "priority 0", m.Advert(became.Add(ms(10)), adv(0, "192.0.2.9")), "send-advert(100)", Master, became.Add(time.Second))
}

func TestLowerPriorityAdvertMakesMasterAdvertiseAtOnce(t *testing.T) {
	tests := []struct {
		name   string
		noAdv  bool
		expect string
	}{
		{"Default", false, "send-advert(100) master-rx-lower-priority"},
		{"LowerPrioNoAdvert", true, "master-rx-lower-priority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, func(c *Config) { c.LowerPrioNoAdvert = tt.noAdv })
			became := startMaster(t, m)
			expect(t, "lower advert", m.Advert(became.Add(ms(10)), adv(50, "192.0.2.200")), tt.expect, Master, became.Add(time.Second))
		})
	}
}

func TestHigherPriorityAdvertMakesMasterYield(t *testing.T) {
	tests := []struct {
		name       string
		sendFirst  bool
		wantAction string
	}{
		{"Default", false, "remove-vips notify(BACKUP)"},
		{"HigherPrioSendAdvert", true, "send-advert(100) remove-vips notify(BACKUP)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, func(c *Config) { c.HigherPrioSendAdvert = tt.sendFirst })
			became := startMaster(t, m)
			now := became.Add(ms(300))
			expect(t, "higher advert", m.Advert(now, adv(101, "192.0.2.0")), tt.wantAction, Backup, now.Add(3*time.Second+us(609375)))
		})
	}
}

func TestEqualPriorityHigherAddressWins(t *testing.T) {
	tests := []struct {
		name  string
		local string
		peer  string
		yield bool
	}{
		{"IPv4PeerHigher", "192.0.2.1", "192.0.2.2", true},
		{"IPv4PeerLower", "192.0.2.2", "192.0.2.1", false},
		{"IPv4ComparedAsNumbersNotStrings", "192.0.2.9", "192.0.2.10", true},
		{"IPv4FirstOctetDominates", "198.51.100.1", "192.0.2.254", false},
		{"IPv6PeerHigher", "fe80::1", "fe80::2", true},
		{"IPv6PeerLower", "fe80::ff:fe00:b", "fe80::ff:fe00:a", false},
		{"IPv6HighWordDominates", "fe80::ffff:ffff:ffff:ffff", "fe81::", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, func(c *Config) { c.Version, c.Addr = 3, netip.MustParseAddr(tt.local) })
			became := startMaster(t, m)
			r := m.Advert(became.Add(ms(100)), adv(100, tt.peer))
			if got := r.State == Backup; got != tt.yield {
				t.Fatalf("state %v after equal priority from %s (we are %s), actions %q", r.State, tt.peer, tt.local, show(r))
			}
			if !tt.yield && show(r) != "send-advert(100) master-rx-lower-priority" {
				t.Errorf("winner's actions %q", show(r))
			}
		})
	}
}

func TestEqualPriorityFromOwnAddressIsIgnored(t *testing.T) {
	m := newMachine(t, nil)
	became := startMaster(t, m)
	expect(t, "own address", m.Advert(became.Add(ms(1)), adv(100, "192.0.2.1")), "", Master, became.Add(time.Second))
}

func TestPreemptBackupIgnoresLowerPriorityAndTakesOver(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 200 })
	r := m.Startup(t0)
	down := r.Deadline
	for i := 1; at(time.Duration(i) * time.Second).Before(down); i++ {
		now := at(time.Duration(i) * time.Second)
		expect(t, "lower advert", m.Advert(now, adv(100, "192.0.2.9")), "", Backup, down)
	}
	if r := m.Timer(down); r.State != Master {
		t.Fatalf("state %v at master down, want MASTER", r.State)
	}
}

func TestNopreemptBackupStaysBackup(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority, c.Nopreempt = 200, true })
	m.Startup(t0)
	for i := 1; i <= 60; i++ {
		now := at(time.Duration(i) * time.Second)
		r := m.Advert(now, adv(100, "192.0.2.9"))
		if r = m.Timer(now.Add(ms(999))); r.State != Backup {
			t.Fatalf("t=%ds: state %v, want BACKUP under nopreempt", i, r.State)
		}
	}
	// When the lower priority master stops, the backup does take over.
	if r := m.Timer(at(64 * time.Second)); r.State != Master {
		t.Fatalf("state %v after the master went silent, want MASTER", r.State)
	}
}

func TestPreemptDelayHoldsTakeover(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority, c.PreemptDelay = 200, 10*time.Second })
	m.Startup(t0)
	skew := us(218750) // (256-200)/256 s
	var became time.Time
	for i := 1; i <= 30 && became.IsZero(); i++ {
		for now := at(time.Duration(i-1) * time.Second).Add(1); now.Before(at(time.Duration(i) * time.Second)); now = now.Add(ms(100)) {
			if r := m.Timer(now); r.State == Master {
				became = now
				break
			}
		}
		if became.IsZero() {
			m.Advert(at(time.Duration(i)*time.Second), adv(100, "192.0.2.9"))
		}
	}
	// The first lower advert (t=1s) starts the delay (until t=11s); adverts
	// before then are accepted and restart the down timer; the last one
	// accepted is at t=10s, so takeover comes at 10s + 3s + skew.
	want := at(10*time.Second + 3*time.Second + skew)
	if became.Before(want) || became.After(want.Add(ms(100))) {
		t.Fatalf("became master at %v, want %v", became.Sub(t0), want.Sub(t0))
	}
}

func TestPreemptDelayStopsWhenHigherMasterAppears(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority, c.PreemptDelay = 200, 5*time.Second })
	m.Startup(t0)
	m.Advert(at(1*time.Second), adv(100, "192.0.2.9")) // starts the delay, until 6s
	m.Advert(at(2*time.Second), adv(250, "192.0.2.8")) // stops it
	m.Advert(at(3*time.Second), adv(100, "192.0.2.9")) // starts it again, until 8s
	// At 7s a lower advert is still accepted because the delay restarted at 3s.
	r := m.Advert(at(7*time.Second), adv(100, "192.0.2.9"))
	if !r.Deadline.Equal(at(7*time.Second + 3*time.Second + us(218750))) {
		t.Fatalf("deadline %v: lower advert at 7s should still be accepted", r.Deadline.Sub(t0))
	}
}

func TestV3BackupLearnsMasterAdvertInterval(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Version = 3 })
	m.Startup(t0)
	now := at(time.Second)
	a := adv(150, "192.0.2.9")
	a.MaxAdvertInterval = 2 * time.Second
	// skew = 156 * 200cs * 625/16 us = 1.21875 s
	expect(t, "advert", m.Advert(now, a), "", Backup, now.Add(6*time.Second+us(1218750)))
	if m.MasterAdvertInterval() != 2*time.Second {
		t.Fatalf("master advert interval %v", m.MasterAdvertInterval())
	}
	// Becoming master, it advertises at its own interval again.
	r := m.Timer(r0(m))
	if r.State != Master || r.Deadline.Sub(m.deadline) != 0 || m.MasterAdvertInterval() != time.Second {
		t.Fatalf("state %v, interval %v", r.State, m.MasterAdvertInterval())
	}
}

func r0(m *Machine) time.Time { return m.Deadline() }

func TestV3MasterYieldingLearnsWinnersInterval(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Version = 3 })
	became := startMaster(t, m)
	a := adv(150, "192.0.2.9")
	a.MaxAdvertInterval = 500 * time.Millisecond
	now := became.Add(ms(100))
	expect(t, "higher", m.Advert(now, a), "remove-vips notify(BACKUP)", Backup, now.Add(1500*time.Millisecond+us(304687)))
}

func TestV2IgnoresAdvertisedInterval(t *testing.T) {
	m := newMachine(t, nil)
	m.Startup(t0)
	a := adv(150, "192.0.2.9")
	a.MaxAdvertInterval = 7 * time.Second
	now := at(time.Second)
	expect(t, "advert", m.Advert(now, a), "", Backup, now.Add(3*time.Second+us(609375)))
}

func TestFaultMakesMasterResignAndClearingReturnsToBackup(t *testing.T) {
	m := newMachine(t, nil)
	became := startMaster(t, m)
	now := became.Add(ms(500))
	expect(t, "fault", m.Fault(now), "send-advert(0) remove-vips notify(FAULT)", Fault, time.Time{})
	expect(t, "advert in fault", m.Advert(now.Add(ms(1)), adv(50, "192.0.2.9")), "", Fault, time.Time{})
	expect(t, "timer in fault", m.Timer(now.Add(time.Hour)), "", Fault, time.Time{})
	expect(t, "second fault", m.Fault(now.Add(2)), "", Fault, time.Time{})
	later := now.Add(5 * time.Second)
	expect(t, "cleared", m.FaultCleared(later), "notify(BACKUP)", Backup, later.Add(3*time.Second+us(609375)))
}

func TestFaultInBackupOnlyNotifies(t *testing.T) {
	m := newMachine(t, nil)
	m.Startup(t0)
	expect(t, "fault", m.Fault(at(time.Second)), "notify(FAULT)", Fault, time.Time{})
}

func TestFaultBeforeStartupStartsInFault(t *testing.T) {
	tests := []struct {
		name    string
		prio    uint8
		cleared string
		state   State
	}{
		{"BackupReturnsToBackup", 100, "notify(BACKUP)", Backup},
		{"AddressOwnerGoesStraightToMaster", 255, "send-advert(255) add-vips notify(MASTER)", Master},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, func(c *Config) { c.Priority = tt.prio })
			m.Fault(t0)
			expect(t, "startup", m.Startup(t0), "remove-vips notify(FAULT)", Fault, time.Time{})
			if r := m.FaultCleared(at(time.Second)); show(r) != tt.cleared || r.State != tt.state {
				t.Fatalf("cleared: %q %v, want %q %v", show(r), r.State, tt.cleared, tt.state)
			}
		})
	}
}

func TestAddressOwnerFaultedAfterStartupComesBackAsBackup(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255 })
	m.Startup(t0)
	m.Fault(at(time.Second))
	now := at(2 * time.Second)
	expect(t, "cleared", m.FaultCleared(now), "notify(BACKUP)", Backup, now.Add(3*time.Second+us(3906)))
}

func TestShutdown(t *testing.T) {
	t.Run("MasterResignsWithPriorityZero", func(t *testing.T) {
		m := newMachine(t, nil)
		became := startMaster(t, m)
		expect(t, "shutdown", m.Shutdown(became.Add(1)), "send-advert(0) remove-vips notify(STOP)", Stop, time.Time{})
	})
	t.Run("BackupOnlyNotifies", func(t *testing.T) {
		m := newMachine(t, nil)
		m.Startup(t0)
		expect(t, "shutdown", m.Shutdown(at(1)), "notify(STOP)", Stop, time.Time{})
	})
	t.Run("NothingHappensAfterStop", func(t *testing.T) {
		m := newMachine(t, nil)
		m.Startup(t0)
		m.Shutdown(at(1))
		for name, r := range map[string]Result{
			"startup":  m.Startup(at(2)),
			"advert":   m.Advert(at(3), adv(200, "192.0.2.9")),
			"timer":    m.Timer(at(time.Hour)),
			"fault":    m.Fault(at(4)),
			"cleared":  m.FaultCleared(at(5)),
			"shutdown": m.Shutdown(at(6)),
		} {
			expect(t, name, r, "", Stop, time.Time{})
		}
	})
}

func TestEventsBeforeStartupDoNothing(t *testing.T) {
	m := newMachine(t, nil)
	expect(t, "timer", m.Timer(t0), "", Init, time.Time{})
	expect(t, "advert", m.Advert(t0, adv(1, "192.0.2.9")), "", Init, time.Time{})
	expect(t, "priority", m.SetPriority(t0, 50), "", Init, time.Time{})
	if m.Priority() != 50 {
		t.Fatalf("priority %d, want 50", m.Priority())
	}
}

func TestPriorityChangeMovesBackupDeadlineBySkewChange(t *testing.T) {
	m := newMachine(t, nil)
	r := m.Startup(t0)
	old := r.Deadline
	// skew 156/256 s -> 56/256 s: 390625 us earlier.
	expect(t, "raise", m.SetPriority(at(time.Second), 200), "", Backup, old.Add(-us(390625)))
	expect(t, "same", m.SetPriority(at(time.Second), 200), "", Backup, old.Add(-us(390625)))
	expect(t, "lower", m.SetPriority(at(time.Second), 100), "", Backup, old)
}

func TestPriorityChangeIsClampedAndSpareOwner(t *testing.T) {
	tests := []struct {
		base  uint8
		total int
		want  uint8
	}{
		{100, 300, 254},
		{100, 255, 254},
		{100, 0, 1},
		{100, -40, 1},
		{100, 140, 140},
		{255, 100, 255},
	}
	for _, tt := range tests {
		m := newMachine(t, func(c *Config) { c.Priority = tt.base })
		m.SetPriority(t0, tt.total)
		if m.Priority() != tt.want {
			t.Errorf("base %d total %d: priority %d, want %d", tt.base, tt.total, m.Priority(), tt.want)
		}
	}
}

func TestMasterAdvertisesItsLoweredPriority(t *testing.T) {
	m := newMachine(t, nil)
	became := startMaster(t, m)
	m.SetPriority(became.Add(1), 60)
	expect(t, "next advert", m.Timer(became.Add(time.Second)), "send-advert(60)", Master, became.Add(2*time.Second))
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"Version1", func(c *Config) { c.Version = 1 }},
		{"Priority0", func(c *Config) { c.Priority = 0 }},
		{"V2SubSecondInterval", func(c *Config) { c.AdvertInterval = 1500 * time.Millisecond }},
		{"V2ZeroInterval", func(c *Config) { c.AdvertInterval = 0 }},
		{"V2IntervalOver255s", func(c *Config) { c.AdvertInterval = 256 * time.Second }},
		{"V3IntervalNotCentiseconds", func(c *Config) { c.Version, c.AdvertInterval = 3, 15*time.Millisecond }},
		{"V3IntervalOver4095cs", func(c *Config) { c.Version, c.AdvertInterval = 3, 41*time.Second }},
		{"NoAddress", func(c *Config) { c.Addr = netip.Addr{} }},
		{"InitialFault", func(c *Config) { c.InitialState = Fault }},
		{"NegativeDownTimerAdverts", func(c *Config) { c.DownTimerAdverts = -1 }},
		{"NegativePreemptDelay", func(c *Config) { c.PreemptDelay = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.edit(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatalf("New(%+v) accepted", cfg)
			}
		})
	}
}

func TestDownTimerAdvertsChangesMasterDownInterval(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.DownTimerAdverts = 5 })
	if got := m.MasterDownInterval(); got != 5*time.Second+us(609375) {
		t.Fatalf("master down %v", got)
	}
}

func TestNamesAreKeepalivedStateNames(t *testing.T) {
	for s, want := range map[State]string{Init: "INIT", Backup: "BACKUP", Master: "MASTER", Fault: "FAULT", Stop: "STOP"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", s, s.String(), want)
		}
	}
}
