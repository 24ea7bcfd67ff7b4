package fsm

import (
	"testing"
	"time"
)

// An address owner in a sync group does not take its addresses alone at Startup or when a
// fault clears: it is a backup that wants master at once, and goes master when its group
// says so (ForceMaster). Outside a group it goes master at once, as before.
func TestSyncedAddressOwnerGoesMasterWithItsGroup(t *testing.T) {
	owner := func(synced bool) func(*Config) {
		return func(c *Config) { c.Priority = 255; c.Synced = synced }
	}
	down := 3*time.Second + us(1*1_000_000/256)
	tests := []struct {
		name    string
		synced  bool
		run     func(m *Machine) Result
		actions string
		state   State
		wants   bool
	}{
		{"StartupAloneTakesOver", false, func(m *Machine) Result { return m.Startup(t0) },
			"send-advert(255) add-vips notify(MASTER)", Master, false},
		{"StartupInAGroupWaitsAsAWillingBackup", true, func(m *Machine) Result { return m.Startup(t0) },
			"remove-vips notify(BACKUP)", Backup, true},
		{"TheGroupMakesItMaster", true, func(m *Machine) Result {
			m.Startup(t0)
			return m.ForceMaster(at(ms(1)))
		}, "send-advert(255) add-vips notify(MASTER)", Master, false},
		{"FaultAtStartupThenClearedWaitsForTheGroup", true, func(m *Machine) Result {
			m.Fault(t0)
			m.Startup(t0)
			return m.FaultCleared(at(time.Second))
		}, "notify(BACKUP)", Backup, true},
		{"FaultAtStartupThenClearedAloneTakesOver", false, func(m *Machine) Result {
			m.Fault(t0)
			m.Startup(t0)
			return m.FaultCleared(at(time.Second))
		}, "send-advert(255) add-vips notify(MASTER)", Master, false},
		{"ItsWishOutlivesItsMasterDownTimer", true, func(m *Machine) Result {
			m.Startup(t0)
			return m.Timer(at(down))
		}, "", Backup, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, owner(tc.synced))
			r := tc.run(m)
			if show(r) != tc.actions || r.State != tc.state {
				t.Errorf("%q in %v, want %q in %v", show(r), r.State, tc.actions, tc.state)
			}
			if m.WantsMaster() != tc.wants {
				t.Errorf("WantsMaster %v, want %v", m.WantsMaster(), tc.wants)
			}
		})
	}
}
