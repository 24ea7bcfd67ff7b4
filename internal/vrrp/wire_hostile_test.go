package vrrp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/netif/netiftest"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"golang.org/x/net/ipv4"
)

// injector sends hand-made VRRP packets from a namespace.
type injector struct {
	raw *ipv4.RawConn
	src netip.Addr
}

func newInjector(t *testing.T, ns string, src netip.Addr) *injector {
	t.Helper()
	var pc net.PacketConn
	netiftest.InNamespace(t, ns, func() {
		var err error
		pc, err = net.ListenPacket("ip4:112", src.String())
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { pc.Close() })
	raw, err := ipv4.NewRawConn(pc)
	if err != nil {
		t.Fatal(err)
	}
	return &injector{raw: raw, src: src}
}

func (j *injector) send(t *testing.T, adv packet.Advert, ttl int, corrupt bool) {
	t.Helper()
	dst := packet.GroupIPv4()
	b, err := adv.Marshal(packet.Envelope{Src: j.src, Dst: dst})
	if err != nil {
		t.Fatal(err)
	}
	if corrupt {
		b[len(b)-1] ^= 0xff
	}
	h := &ipv4.Header{Version: 4, Len: ipv4.HeaderLen, TotalLen: ipv4.HeaderLen + len(b), TTL: ttl,
		Protocol: packet.ProtocolVRRP, Src: j.src.AsSlice(), Dst: dst.AsSlice()}
	if err := j.raw.WriteTo(h, b, nil); err != nil {
		t.Fatal(err)
	}
}

func TestHostileAdvertsAreCountedAndIgnored(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	a := startVigil(t, nsA, vrrpConf("a", 3, 100, "0.2", "192.0.2.100/24", ""))
	waitFor(t, 10*time.Second, "A master", func() bool { return a.state("VI_1") == "MASTER" })
	before, _ := a.instance("VI_1")
	j := newInjector(t, nsB, netip.MustParseAddr("192.0.2.2"))
	good := packet.Advert{Version: 3, VRID: 51, Priority: 200, Interval: 20,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}

	// Higher priority, but each packet is wrong in one way: A must stay master and count
	// each refusal under its reason.
	otherVRID := good
	otherVRID.VRID = 52
	v2 := good
	v2.Version = 2
	for i := 0; i < 10; i++ {
		j.send(t, good, 254, false)      // TTL not 255
		j.send(t, good, 255, true)       // checksum broken
		j.send(t, v2, 255, false)        // version mismatch
		j.send(t, otherVRID, 255, false) // another router's business: ignored, not counted
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 2*time.Second, "refusals counted", func() bool {
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
	j.send(t, good, 255, false)
	waitFor(t, 2*time.Second, "A yielding to a valid higher-priority advert", func() bool {
		st, _ := a.instance("VI_1")
		return st.State == "BACKUP" && st.MasterAddr == netip.MustParseAddr("192.0.2.2")
	})
}
