package vrrp

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"golang.org/x/net/ipv4"
)

// advertLog records every VRRP advert a namespace receives on eth0, as a peer sees them.
type advertLog struct {
	mu   sync.Mutex
	seen []capturedAdvert
}

type capturedAdvert struct {
	at       time.Time
	src      netip.Addr
	vrid     uint8
	priority uint8
}

// captureAdverts joins the VRRP group on ns's eth0 and records the adverts until the test ends.
func captureAdverts(t *testing.T, ns *testenv.Namespace) *advertLog {
	t.Helper()
	var pc net.PacketConn
	ns.Do(t, func() {
		var err error
		if pc, err = net.ListenPacket("ip4:112", "0.0.0.0"); err != nil {
			t.Fatal(err)
		}
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if err := ipv4.NewPacketConn(pc).JoinGroup(ifi, &net.IPAddr{IP: packet.GroupIPv4().AsSlice()}); err != nil {
			t.Fatal(err)
		}
	})
	l := &advertLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			// The socket hands over the VRRP header: version/type, VRID, priority...
			if n < 3 {
				continue
			}
			src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
			l.mu.Lock()
			l.seen = append(l.seen, capturedAdvert{at: time.Now(), src: src.Unmap(), vrid: buf[1], priority: buf[2]})
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return l
}

// from returns the adverts src sent since since.
func (l *advertLog) from(src netip.Addr, since time.Time) []capturedAdvert {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []capturedAdvert
	for _, a := range l.seen {
		if a.src == src && !a.at.Before(since) {
			out = append(out, a)
		}
	}
	return out
}

// A reload that changes a master's priority and adds an address keeps it master: no new
// election, no priority 0 advert, the old address never leaves, the new one arrives and the
// peer hears the new priority. A reload that lowers its priority below the backup's lets the
// backup preempt as it would at any time, again without a priority 0 advert.
func TestReloadKeepsMasterAndItsAddressesWithoutResigning(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	srcA := netip.MustParseAddr("192.0.2.1")
	vip1, vip2 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")
	const advert = 200 * time.Millisecond
	adverts := captureAdverts(t, nsB)
	confA := vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", "")
	a := startVigil(t, nsA, confA)
	b := startVigil(t, nsB, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", ""))
	testenv.WaitFor(t, 10*time.Second, "A master with the VIP, B backup", func() bool {
		return a.state("VI_1") == "MASTER" && b.state("VI_1") == "BACKUP" && hasAddr(t, nsA, "eth0", vip1)
	})
	before, _ := a.instance("VI_1")
	beforeB, _ := b.instance("VI_1")
	start := time.Now()

	// While the reload happens, sample that A never lets go of the first address.
	stop := make(chan struct{})
	lost := make(chan time.Duration, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(lost)
				return
			case <-time.After(5 * time.Millisecond):
			}
			if !hasAddr(t, nsA, "eth0", vip1) {
				lost <- time.Since(start)
				close(lost)
				return
			}
		}
	}()
	a.reload(t, strings.Replace(strings.Replace(confA, "priority 150", "priority 160", 1),
		"192.0.2.100/24", "192.0.2.100/24\n    192.0.2.101/24", 1))
	testenv.WaitFor(t, 5*time.Second, "A holding the new address and B hearing priority 160", func() bool {
		for _, ad := range adverts.from(srcA, start) {
			if ad.priority == 160 && hasAddr(t, nsA, "eth0", vip2) {
				return true
			}
		}
		return false
	})
	time.Sleep(3 * advert)
	close(stop)
	if d, ok := <-lost; ok {
		t.Errorf("A dropped %v %v after the reload began", vip1, d)
	}
	after, _ := a.instance("VI_1")
	if after.State != "MASTER" || after.Transitions != before.Transitions || !after.Since.Equal(before.Since) {
		t.Errorf("A went through a new election: before %s/%d since %v, after %s/%d since %v",
			before.State, before.Transitions, before.Since, after.State, after.Transitions, after.Since)
	}
	if after.Priority != 160 || after.EffectivePriority != 160 || len(after.VIPs) != 2 {
		t.Errorf("A after the reload: priority %d/%d, VIPs %v; want 160 and two addresses", after.Priority, after.EffectivePriority, after.VIPs)
	}
	if got, _ := b.instance("VI_1"); got.State != "BACKUP" || got.Transitions != beforeB.Transitions {
		t.Errorf("B moved during A's reload: %s, transitions %d -> %d", got.State, beforeB.Transitions, got.Transitions)
	}

	// The first address removed while master: it goes, the second stays, still no election.
	a.reload(t, strings.Replace(strings.Replace(confA, "priority 150", "priority 160", 1), "192.0.2.100/24", "192.0.2.101/24", 1))
	testenv.WaitFor(t, 5*time.Second, "A without the removed address, reporting one", func() bool {
		st, _ := a.instance("VI_1")
		return !hasAddr(t, nsA, "eth0", vip1) && len(st.VIPs) == 1
	})
	if !hasAddr(t, nsA, "eth0", vip2) {
		t.Errorf("A lost %v, which the reload kept", vip2)
	}
	if got, _ := a.instance("VI_1"); got.State != "MASTER" || got.Transitions != before.Transitions {
		t.Errorf("A after removing an address: %s, transitions %d -> %d, VIPs %v", got.State, before.Transitions, got.Transitions, got.VIPs)
	}

	// Priority 50, below B's 100: B's master down timer runs out (A's adverts are lower)
	// and it preempts; A yields on B's first advert.
	mid := time.Now()
	a.reload(t, strings.Replace(confA, "priority 150", "priority 50", 1))
	took := testenv.WaitFor(t, 3*time.Second, "B master with the VIP, A backup without either address", func() bool {
		return b.state("VI_1") == "MASTER" && a.state("VI_1") == "BACKUP" && hasAddr(t, nsB, "eth0", vip1) &&
			!hasAddr(t, nsA, "eth0", vip1) && !hasAddr(t, nsA, "eth0", vip2)
	})
	t.Logf("B preempted %v after A's reload to priority 50 (master down interval %v)", took, 3*advert+skew(100, advert))
	var prios []uint8
	for _, ad := range adverts.from(srcA, start) {
		prios = append(prios, ad.priority)
		if ad.priority == 0 {
			t.Errorf("A sent a priority 0 advert at %v (reload at %v and %v)", ad.at.Sub(start), 0, mid.Sub(start))
		}
	}
	if len(prios) < 5 {
		t.Errorf("captured only %d adverts from A: %v", len(prios), prios)
	}
}
