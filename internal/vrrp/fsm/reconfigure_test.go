package fsm

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A reload keeps the machine's state: each case brings a machine to a state, reconfigures it
// at 10 s and checks what it does then, and what the next input does.
func TestReconfigureKeepsStateAndAppliesNewValues(t *testing.T) {
	now := at(10 * time.Second)
	master := func(m *Machine) { startMaster(t, m) }
	backup := func(m *Machine) {
		m.Startup(t0)
		m.Advert(at(time.Second), adv(200, "192.0.2.9"))
	}
	fault := func(m *Machine) {
		m.Startup(t0)
		m.Fault(at(time.Second))
	}
	tests := []struct {
		name     string
		reach    func(*Machine)
		edit     func(*Config)
		total    int
		actions  string
		state    State
		deadline time.Time
		prio     uint8
		// then, if set, is a further input and what it must do.
		then     func(m *Machine) Result
		thenActs string
		thenSt   State
	}{
		{name: "MasterAdvertisesItsNewPriorityAtOnceWithoutResigning", reach: master,
			edit: func(c *Config) { c.Priority = 160 }, total: 160,
			actions: "send-advert(160)", state: Master, deadline: now.Add(time.Second), prio: 160},
		{name: "MasterTakesTheNewIntervalAtOnce", reach: master,
			edit: func(c *Config) { c.Priority = 120; c.AdvertInterval = 3 * time.Second }, total: 125,
			actions: "send-advert(125)", state: Master, deadline: now.Add(3 * time.Second), prio: 125},
		{name: "MasterWithALowerPriorityYieldsToAHigherAdvertNotBefore", reach: master,
			edit: func(c *Config) { c.Priority = 50 }, total: 50,
			actions: "send-advert(50)", state: Master, deadline: now.Add(time.Second), prio: 50,
			then:     func(m *Machine) Result { return m.Advert(now.Add(ms(100)), adv(100, "192.0.2.2")) },
			thenActs: "remove-vips notify(BACKUP)", thenSt: Backup},
		{name: "BackupRestartsItsDownTimerWithTheNewSkew", reach: backup,
			edit: func(c *Config) { c.Priority = 1 }, total: 1,
			actions: "", state: Backup, deadline: now.Add(3*time.Second + us(255*1_000_000/256)), prio: 1},
		{name: "BackupPreemptsOnceItsPriorityIsAboveTheMasters", reach: backup,
			edit: func(c *Config) { c.Priority = 250 }, total: 250,
			actions: "", state: Backup, deadline: now.Add(3*time.Second + us(6*1_000_000/256)), prio: 250,
			// The master's next advert at 200 is lower: ignored, so the timer runs out.
			then: func(m *Machine) Result {
				m.Advert(now.Add(time.Second), adv(200, "192.0.2.9"))
				return m.Timer(now.Add(3*time.Second + us(6*1_000_000/256)))
			},
			thenActs: "send-advert(250) add-vips notify(MASTER)", thenSt: Master},
		{name: "FaultStaysFault", reach: fault,
			edit: func(c *Config) { c.Priority = 200 }, total: 200,
			actions: "", state: Fault, prio: 200,
			then:     func(m *Machine) Result { return m.FaultCleared(now) },
			thenActs: "notify(BACKUP)", thenSt: Backup},
		{name: "TrackedWeightsStillCount", reach: master,
			edit: func(c *Config) { c.Priority = 100 }, total: 100 - 30,
			actions: "send-advert(70)", state: Master, deadline: now.Add(time.Second), prio: 70},
		{name: "BecomingAddressOwnerAdvertises255", reach: master,
			edit: func(c *Config) { c.Priority = 255 }, total: 255 - 50,
			actions: "send-advert(255)", state: Master, deadline: now.Add(time.Second), prio: 255},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, nil)
			tc.reach(m)
			cfg := m.Config()
			tc.edit(&cfg)
			r, err := m.Reconfigure(now, cfg, tc.total)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "reconfigure", r, tc.actions, tc.state, tc.deadline)
			if m.Priority() != tc.prio {
				t.Errorf("priority %d, want %d", m.Priority(), tc.prio)
			}
			if strings.Contains(show(r), "send-advert(0)") {
				t.Errorf("reconfigure resigned: %s", show(r))
			}
			if tc.then != nil {
				r := tc.then(m)
				if show(r) != tc.thenActs || r.State != tc.thenSt {
					t.Errorf("then: %q in %v, want %q in %v", show(r), r.State, tc.thenActs, tc.thenSt)
				}
			}
		})
	}
}

func TestReconfigureRefusesAnotherRouterAndBadValues(t *testing.T) {
	tests := []struct {
		name, want string
		edit       func(*Config)
	}{
		{"Version", "version", func(c *Config) { c.Version = 3 }},
		{"Address", "address", func(c *Config) { c.Addr = netip.MustParseAddr("192.0.2.7") }},
		{"Interval", "advert interval", func(c *Config) { c.AdvertInterval = 1500 * time.Millisecond }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, nil)
			startMaster(t, m)
			cfg := m.Config()
			tc.edit(&cfg)
			before := m.Config()
			if _, err := m.Reconfigure(at(10*time.Second), cfg, 100); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
			if m.Config() != before || m.State() != Master {
				t.Errorf("machine changed by a refused reconfigure: %+v %v", m.Config(), m.State())
			}
		})
	}
}
