package fsm

import (
	"testing"
	"time"
)

// A synced machine's steps: each applies one input at a time and checks the actions, the
// state, the deadline and whether the machine wants master afterwards.
func TestSyncedMemberWaitsForItsGroup(t *testing.T) {
	down := 3*time.Second + us(609375)
	type step struct {
		what     string
		in       func(m *Machine) Result
		actions  string
		state    State
		deadline time.Time // zero: none
		wants    bool
	}
	timer := func(d time.Duration) func(*Machine) Result { return func(m *Machine) Result { return m.Timer(at(d)) } }
	advert := func(d time.Duration, prio uint8) func(*Machine) Result {
		return func(m *Machine) Result { return m.Advert(at(d), adv(prio, "192.0.2.9")) }
	}
	force := func(d time.Duration, s State) func(*Machine) Result {
		return func(m *Machine) Result {
			if s == Master {
				return m.ForceMaster(at(d))
			}
			return m.ForceBackup(at(d))
		}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"MasterDownTimerOnlyMakesItWantMaster", []step{
			{"timer", timer(down), "", Backup, at(2 * down), true},
			{"timer again", timer(2 * down), "", Backup, at(3 * down), true},
			{"group goes master", force(2*down+time.Second, Master), "send-advert(100) add-vips notify(MASTER)", Master, at(2*down + 2*time.Second), false},
		}},
		{"AnAdvertFromAMasterEndsTheWish", []step{
			{"timer", timer(down), "", Backup, at(2 * down), true},
			{"higher advert", advert(down+time.Second, 150), "", Backup, at(2*down + time.Second), false},
		}},
		{"APriorityZeroAdvertEndsTheWishUntilTheSkewTimeRunsOut", []step{
			{"timer", timer(down), "", Backup, at(2 * down), true},
			{"resignation", advert(down+time.Second, 0), "", Backup, at(down + time.Second + us(609375)), false},
			{"skew timer", timer(down + time.Second + us(609375)), "", Backup, at(2*down + time.Second + us(609375)), true},
		}},
		{"ALowerPriorityAdvertLeavesTheWish", []step{
			{"timer", timer(down), "", Backup, at(2 * down), true},
			{"lower advert", advert(down+time.Second, 50), "", Backup, at(2 * down), true},
		}},
		{"ForceBackupMakesAMasterBackupWithoutResigning", []step{
			{"group goes master", force(time.Second, Master), "send-advert(100) add-vips notify(MASTER)", Master, at(2 * time.Second), false},
			{"group goes backup", force(2*time.Second, Backup), "remove-vips notify(BACKUP)", Backup, at(2*time.Second + down), false},
		}},
		{"ForceBackupOfABackupDoesNothing", []step{
			{"group goes backup", force(time.Second, Backup), "", Backup, at(down), false},
		}},
		{"FaultEndsTheWishAndIgnoresForceMaster", []step{
			{"timer", timer(down), "", Backup, at(2 * down), true},
			{"fault", func(m *Machine) Result { return m.Fault(at(down + time.Second)) }, "notify(FAULT)", Fault, time.Time{}, false},
			{"group goes master", force(down+2*time.Second, Master), "", Fault, time.Time{}, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, func(c *Config) { c.Synced = true })
			m.Startup(t0)
			for _, s := range tt.steps {
				r := s.in(m)
				expect(t, s.what, r, s.actions, s.state, s.deadline)
				if m.WantsMaster() != s.wants {
					t.Errorf("%s: wants master %v, want %v", s.what, m.WantsMaster(), s.wants)
				}
			}
		})
	}
}

func TestUnsyncedMachineTakesOverAlone(t *testing.T) {
	m := newMachine(t, nil)
	m.Startup(t0)
	down := at(3*time.Second + us(609375))
	expect(t, "timer", m.Timer(down), "send-advert(100) add-vips notify(MASTER)", Master, down.Add(time.Second))
	if m.WantsMaster() {
		t.Error("an unsynced machine reports wanting master")
	}
}
