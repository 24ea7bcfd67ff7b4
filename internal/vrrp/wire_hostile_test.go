package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"github.com/vigil-lb/vigil/internal/vrrp/vrrptest"
)

func TestHostileAdvertsAreCountedAndIgnored(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	a := startVigil(t, nsA, vrrpConf("a", 3, 100, "0.2", "192.0.2.100/24", ""))
	testenv.WaitFor(t, 10*time.Second, "A master", func() bool { return a.state("VI_1") == "MASTER" })
	before, _ := a.instance("VI_1")
	j := vrrptest.NewInjector(t, &testenv.Namespace{Name: nsB.Name}, "eth0", netip.MustParseAddr("192.0.2.2"))
	group := packet.GroupIPv4()
	broken := func(adv packet.Advert) []byte {
		b := j.Marshal(t, adv, group)
		b[len(b)-1] ^= 0xff
		return b
	}
	good := packet.Advert{Version: 3, VRID: 51, Priority: 200, Interval: 20,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}

	// Higher priority, but each packet is wrong in one way: A must stay master and count
	// each refusal under its reason.
	otherVRID := good
	otherVRID.VRID = 52
	v2 := good
	v2.Version = 2
	for i := 0; i < 10; i++ {
		j.Send(t, good, group, 254)              // TTL not 255
		j.SendBytes(t, broken(good), group, 255) // checksum broken
		j.Send(t, v2, group, 255)                // version mismatch
		j.Send(t, otherVRID, group, 255)         // another router's business: ignored, not counted
		time.Sleep(20 * time.Millisecond)
	}
	testenv.WaitFor(t, 2*time.Second, "refusals counted", func() bool {
		st, _ := a.instance("VI_1")
		return st.Dropped["bad_ttl"] == 10 && st.Dropped["bad_checksum"] == 10 && st.Dropped["bad_version"] == 10
	})
	st, _ := a.instance("VI_1")
	if st.State != "MASTER" || st.Transitions != before.Transitions {
		t.Errorf("A %s, transitions %d -> %d; hostile packets must not move it", st.State, before.Transitions, st.Transitions)
	}
	if len(st.Dropped) != 3 {
		t.Errorf("dropped %v, want only bad_ttl, bad_checksum and bad_version", st.Dropped)
	}

	// The same advert, well formed: A yields (so the refusals above were the packets' fault).
	j.Send(t, good, group, 255)
	testenv.WaitFor(t, 2*time.Second, "A yielding to a valid higher-priority advert", func() bool {
		st, _ := a.instance("VI_1")
		return st.State == "BACKUP" && st.MasterAddr == netip.MustParseAddr("192.0.2.2")
	})
}

// Two address owners (priority 255), as Keepalived 2.3.3 settles them (RFC 9568 erratum 8298).
// FRR 8.4 takes no priority 255, so the other owner is hand-made adverts. vigil A (192.0.2.9)
// has the higher primary address: it stays master and waits for the other (192.0.2.2) to yield;
// one that goes on advertising 255 makes A reduce to 254 and go backup; once it stops, A is
// master at 255 again (the owner with the lower address yielding is in fsm's tests).
func TestDuplicateAddressOwnersSettleOnOneMaster(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.9/24", "192.0.2.2/24")
	a := startVigil(t, nsA, vrrpConf("a", 3, 255, "0.2", "192.0.2.100/24", ""))
	testenv.WaitFor(t, 10*time.Second, "A (owner) master", func() bool { return a.state("VI_1") == "MASTER" })
	j := vrrptest.NewInjector(t, &testenv.Namespace{Name: nsB.Name}, "eth0", netip.MustParseAddr("192.0.2.2"))
	rogue := packet.Advert{Version: 3, VRID: 51, Priority: 255, Interval: 20,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	j.Send(t, rogue, packet.GroupIPv4(), 255)
	time.Sleep(100 * time.Millisecond)
	if st, _ := a.instance("VI_1"); st.State != "MASTER" || st.EffectivePriority != 255 {
		t.Fatalf("A after one advert of a lower owner: %s at %d, want MASTER at 255 (waiting for it to yield)", st.State, st.EffectivePriority)
	}
	// The other does not yield: A reduces within two adverts and a little more.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				j.Send(t, rogue, packet.GroupIPv4(), 255)
			}
		}
	}()
	testenv.WaitFor(t, 5*time.Second, "A reduced to 254 and backup", func() bool {
		st, _ := a.instance("VI_1")
		return st.State == "BACKUP" && st.EffectivePriority == 254
	})
	close(stop)
	<-done
	testenv.WaitFor(t, 5*time.Second, "A master at 255 once the other owner stopped", func() bool {
		st, _ := a.instance("VI_1")
		return st.State == "MASTER" && st.EffectivePriority == 255
	})
}
