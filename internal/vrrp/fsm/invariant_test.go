package fsm

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestRandomEventSequencesKeepInvariants drives single machines with random
// configurations through random sequences of every event, at random times,
// and checks after each step that: the result agrees with the machine; a
// deadline exists exactly in Backup and Master, and a master's lies ahead;
// the addresses are held exactly while Master (AddVIPs only on entering it,
// RemoveVIPs on leaving it); a notification is sent exactly when the state
// changes and names the new state; priority 0 is only sent when resigning; only
// a synced backup wants master, and a synced machine never becomes master on
// its own timer.
func TestRandomEventSequencesKeepInvariants(t *testing.T) {
	for seed := range uint64(3000) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg := Config{
			Version:              uint8(2 + rng.IntN(2)),
			Priority:             uint8(1 + rng.IntN(255)),
			InitialState:         State(rng.IntN(3)),
			Nopreempt:            rng.IntN(3) == 0,
			PreemptDelay:         time.Duration(rng.IntN(3)) * time.Second,
			Addr:                 netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))}),
			DownTimerAdverts:     rng.IntN(5),
			LowerPrioNoAdvert:    rng.IntN(2) == 0,
			HigherPrioSendAdvert: rng.IntN(2) == 0,
			Synced:               rng.IntN(2) == 0,
		}
		if cfg.Version == 2 {
			cfg.AdvertInterval = time.Duration(1+rng.IntN(3)) * time.Second
		} else {
			cfg.AdvertInterval = time.Duration(1+rng.IntN(300)) * 10 * time.Millisecond
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		now := t0
		holding := false
		prev := m.State()
		for step := range 60 {
			// The driver contract: time never passes a deadline without
			// Timer being called at it.
			next := now.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
			k := rng.IntN(10)
			if d := m.Deadline(); !d.IsZero() && next.After(d) {
				next, k = d, 1
				if d.Before(now) {
					next = now
				}
			}
			now = next
			var r Result
			var what string
			switch {
			case k == 0:
				what, r = "startup", m.Startup(now)
			case k <= 3:
				what, r = "timer", m.Timer(now)
			case k <= 6:
				a := Advert{Priority: uint8(rng.IntN(256)), Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))}),
					MaxAdvertInterval: time.Duration(rng.IntN(500)) * 10 * time.Millisecond}
				what, r = "advert", m.Advert(now, a)
			case k == 7:
				if rng.IntN(2) == 0 {
					what, r = "fault", m.Fault(now)
				} else {
					what, r = "clear", m.FaultCleared(now)
				}
			case k == 8:
				what, r = "priority", m.SetPriority(now, rng.IntN(320)-30)
			default:
				switch n := rng.IntN(10); {
				case n == 0:
					what, r = "shutdown", m.Shutdown(now)
				case n <= 2:
					what, r = "force master", m.ForceMaster(now)
				case n <= 4:
					what, r = "force backup", m.ForceBackup(now)
				case n == 5:
					what, r = "resign", m.Resign(now)
				case n == 6:
					what, r = "ready", m.Ready(now)
				default:
					what, r = "timer", m.Timer(now)
				}
			}
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("seed %d step %d (%s, %v -> %v, actions %q): "+format,
					append([]any{seed, step, what, prev, r.State, show(r)}, args...)...)
			}
			if r.State != m.State() || !r.Deadline.Equal(m.Deadline()) {
				fail("result disagrees with machine: %v %v", m.State(), m.Deadline())
			}
			timed := r.State == Backup || r.State == Master
			if r.Deadline.IsZero() == timed {
				fail("deadline %v in state %v", r.Deadline, r.State)
			}
			if r.State == Master && !r.Deadline.After(now) {
				fail("master deadline %v not after now %v", r.Deadline, now)
			}
			notified := 0
			for _, a := range r.Actions {
				switch a.Kind {
				case ActAddVIPs:
					if holding {
						fail("AddVIPs while holding them")
					}
					holding = true
				case ActRemoveVIPs:
					holding = false
				case ActNotify:
					notified++
					if a.State != r.State {
						fail("notified %v", a.State)
					}
				case ActSendAdvert:
					if a.Priority == 0 && r.State != Fault && r.State != Stop && what != "resign" {
						fail("priority 0 sent without resigning")
					}
					if a.Priority != 0 && a.Priority != m.Priority() {
						fail("advert priority %d, effective %d", a.Priority, m.Priority())
					}
				}
			}
			if m.Resigned() && (r.State == Master || m.WantsMaster()) {
				fail("resigned but %v (wants master %v)", r.State, m.WantsMaster())
			}
			if m.WantsMaster() && (!cfg.Synced || r.State != Backup) {
				fail("wants master (synced %v)", cfg.Synced)
			}
			if cfg.Synced && what == "timer" && r.State == Master && prev != Master {
				fail("a synced machine became master on its own timer")
			}
			if holding != (r.State == Master) {
				fail("holding VIPs %v", holding)
			}
			if changed := r.State != prev; changed != (notified == 1) || notified > 1 {
				fail("%d notifications", notified)
			}
			prev = r.State
		}
	}
}
