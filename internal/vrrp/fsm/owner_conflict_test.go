package fsm

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Two address owners (priority 255) on one link, handled as Keepalived 2.3.3 handles them
// (RFC 9568 section 8.3.2 and erratum 8298): the one with the lower primary address yields.
func TestOwnerWithTheLowerAddressYieldsToAnotherOwner(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255; c.InitialState = Master })
	m.Startup(at(0))
	r := m.Advert(at(ms(100)), adv(255, "192.0.2.9")) // higher than our 192.0.2.1
	if got := show(r); !strings.HasPrefix(got, "owner-conflict(192.0.2.9: yields to the higher address) remove-vips notify(BACKUP)") {
		t.Fatalf("actions %q", got)
	}
	if m.State() != Backup || m.Priority() != 255 {
		t.Fatalf("%v at %d", m.State(), m.Priority())
	}
}

// The owner with the higher address waits for the other to yield: two of its adverts, then
// 1.2 advert intervals. One that goes on advertising 255 (not Keepalived 2.3.3, not vigil) makes
// it reduce its priority to 254 and go backup; once the other is gone it is master at 255 again.
func TestOwnerReducesItsPriorityForAnOwnerThatDoesNotYield(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255; c.InitialState = Master; c.Addr = mustAddr("192.0.2.9") })
	m.Startup(at(0))
	rogue := adv(255, "192.0.2.1")
	r := m.Advert(at(ms(100)), rogue)
	if got := show(r); got != "owner-conflict(192.0.2.1: waits for the lower address to yield) send-advert(255) master-rx-lower-priority" {
		t.Fatalf("first: %q", got)
	}
	// Heard again before two adverts have gone: still waiting, still master.
	m.Timer(at(time.Second))
	m.Advert(at(ms(1100)), rogue)
	if m.State() != Master || m.Priority() != 255 {
		t.Fatalf("after one advert: %v %d", m.State(), m.Priority())
	}
	m.Timer(at(2 * time.Second)) // the second advert: the window opens, 1.2 s long
	r = m.Advert(at(ms(2500)), rogue)
	if got := show(r); !strings.HasPrefix(got, "owner-conflict(192.0.2.1: reduces its priority to 254) remove-vips notify(BACKUP)") {
		t.Fatalf("in the window: %q", got)
	}
	if m.State() != Backup || m.Priority() != 254 {
		t.Fatalf("%v %d", m.State(), m.Priority())
	}
	// The rogue stops: the master down timer runs out and this owner is master at 255.
	r = m.Timer(r.Deadline)
	if got := show(r); !strings.HasPrefix(got, "owner-conflict(192.0.2.1: restores its priority to 255) send-advert(255) add-vips notify(MASTER)") {
		t.Fatalf("after the rogue: %q", got)
	}
}

// An owner that does yield inside the window leaves the other master at 255.
func TestOwnerKeepsItsPriorityWhenTheOtherYields(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255; c.InitialState = Master; c.Addr = mustAddr("192.0.2.9") })
	m.Startup(at(0))
	m.Advert(at(ms(100)), adv(255, "192.0.2.1"))
	for i := 1; i <= 5; i++ {
		m.Timer(at(time.Duration(i) * time.Second))
	}
	if m.State() != Master || m.Priority() != 255 {
		t.Fatalf("%v %d", m.State(), m.Priority())
	}
	// A rogue heard long after the window is a new conflict: wait again, do not reduce.
	if got := show(m.Advert(at(10*time.Second), adv(255, "192.0.2.1"))); !strings.HasPrefix(got, "owner-conflict(192.0.2.1: waits") {
		t.Fatalf("%q", got)
	}
}

// A reduced owner in backup takes 255 back as soon as a router other than the rogue is master,
// or the master stops claiming 255.
func TestReducedOwnerRestoresOnALowerOrNewMaster(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255; c.InitialState = Master; c.Addr = mustAddr("192.0.2.9") })
	m.Startup(at(0))
	rogue := adv(255, "192.0.2.1")
	m.Advert(at(ms(100)), rogue)
	m.Timer(at(time.Second))
	m.Timer(at(2 * time.Second))
	m.Advert(at(ms(2500)), rogue)
	if m.Priority() != 254 {
		t.Fatalf("not reduced: %d", m.Priority())
	}
	r := m.Advert(at(3*time.Second), adv(200, "192.0.2.1"))
	if got := show(r); !strings.HasPrefix(got, "owner-conflict(192.0.2.1: restores its priority to 255)") || m.Priority() != 255 {
		t.Fatalf("%q at %d", got, m.Priority())
	}
}

// owner_ignore_adverts: the RFC's rule, an owner drops every advert (so two owners are both
// master).
func TestOwnerIgnoreAdvertsDropsEveryAdvert(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255; c.InitialState = Master; c.OwnerIgnoreAdverts = true })
	m.Startup(at(0))
	if got := show(m.Advert(at(ms(100)), adv(255, "192.0.2.9"))); got != "owner-conflict(192.0.2.9: ignores it (owner_ignore_adverts))" {
		t.Fatalf("%q", got)
	}
	if got := show(m.Advert(at(ms(200)), adv(0, "192.0.2.9"))); got != "" || m.State() != Master {
		t.Fatalf("%q %v", got, m.State())
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
