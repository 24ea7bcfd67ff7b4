package vrrp

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
)

func hmacKeyBytes(fill byte) []byte { return bytes.Repeat([]byte{fill}, 32) }

func testHMACSpec(mode, antiReplay string, active int, keys ...int) *hmacSpec {
	a := &vrrpd.AuthHMAC{ActiveKey: active, AntiReplay: antiReplay, TimeWindow: 5, Mode: mode}
	for _, id := range keys {
		a.Keys = append(a.Keys, &vrrpd.HMACKey{ID: id, Data: hmacKeyBytes(byte(id))})
	}
	return newHMACSpec(a)
}

// signed builds a signed advert as instance.send does and decodes it as the reader does.
func signed(t *testing.T, h *hmacSpec, st *hmacState, now time.Time, src netip.Addr, prio uint8) ([]byte, *packet.Advert) {
	t.Helper()
	adv := packet.Advert{Version: 3, VRID: 9, Priority: prio, Interval: 100, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.9")},
		HasTrailer: true, Trailer: packet.Trailer{Type: packet.TrailerTypeSHA256, KeyID: h.active, Seq: st.nextSeq(h, now)}}
	env := packet.Envelope{Src: src, Dst: packet.GroupIPv4(), HopLimit: packet.HopLimit}
	b, err := adv.AppendSigned(nil, env, h.keys[h.active])
	if err != nil {
		t.Fatal(err)
	}
	got, err := packet.Decode(b, env)
	if err != nil {
		t.Fatal(err)
	}
	return b, got
}

func reasonOf(err error) packet.Reason { return packet.ReasonOf(err) }

func TestHMACReplayedAdvertIsRefused(t *testing.T) {
	h := testHMACSpec("enforce", "time", 1, 1)
	src := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1_800_000_000, 0)
	b, adv := signed(t, h, newHMACState(), now, src, 100)
	rx := newHMACState()
	if err := rx.verify(h, now, 3, 9, src, b, adv, false); err != nil {
		t.Fatalf("first copy refused: %v", err)
	}
	if r := reasonOf(rx.verify(h, now.Add(time.Second), 3, 9, src, b, adv, false)); r != packet.ReasonHMACReplay {
		t.Fatalf("replayed copy: %v, want %v", r, packet.ReasonHMACReplay)
	}
}

func TestHMACSequenceGrowsWithinOneClockReading(t *testing.T) {
	h := testHMACSpec("enforce", "time", 1, 1)
	st := newHMACState()
	now := time.Unix(1_800_000_000, 5e8)
	a, b := st.nextSeq(h, now), st.nextSeq(h, now)
	if b != a+1 || a != uint64(1_800_000_000)<<32|0x8000<<16 {
		t.Fatalf("sequences %#x then %#x", a, b)
	}
}

func TestHMACStaleAdvertIsRefusedBeforeItsHMAC(t *testing.T) {
	h := testHMACSpec("enforce", "time", 1, 1)
	src := netip.MustParseAddr("192.0.2.1")
	sent := time.Unix(1_800_000_000, 0)
	b, adv := signed(t, h, newHMACState(), sent, src, 100)
	b[len(b)-1] ^= 1 // a bad HMAC, which must not even be looked at
	err := newHMACState().verify(h, sent.Add(6*time.Second), 3, 9, src, b, adv, false)
	var pe *packet.Error
	if !errors.As(err, &pe) || pe.Reason != packet.ReasonHMACStale || pe.Got != 6 {
		t.Fatalf("6 s old with a 5 s window: %v", err)
	}
	// Monotonic mode has no window.
	m := testHMACSpec("enforce", "monotonic", 1, 1)
	b, adv = signed(t, m, newHMACState(), sent, src, 100)
	if err := newHMACState().verify(m, sent.Add(time.Hour), 3, 9, src, b, adv, false); err != nil {
		t.Fatalf("monotonic, an hour later: %v", err)
	}
}

// Make before break: both keys on every receiver, the sender moves from key 1 to key 2, then
// key 1 is dropped; at no step is a good advert refused, and at the end key 1 no longer works.
func TestHMACKeyRotation(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1_800_000_000, 0)
	tx, rx := newHMACState(), newHMACState()
	step := func(sender, receiver *hmacSpec, want packet.Reason) {
		t.Helper()
		now = now.Add(time.Second)
		b, adv := signed(t, sender, tx, now, src, 100)
		if r := reasonOf(rx.verify(receiver, now, 3, 9, src, b, adv, true)); r != want {
			t.Fatalf("sender key %d: %v, want %v", sender.active, r, want)
		}
	}
	old, both1, both2, next := testHMACSpec("enforce", "time", 1, 1), testHMACSpec("enforce", "time", 1, 1, 2),
		testHMACSpec("enforce", "time", 2, 1, 2), testHMACSpec("enforce", "time", 2, 2)
	step(old, old, packet.ReasonNone)
	step(old, both1, packet.ReasonNone)   // receivers learn key 2
	step(both1, both1, packet.ReasonNone) // senders too, still signing with 1
	step(both2, both1, packet.ReasonNone) // a sender moved to key 2 before this receiver did
	step(both2, both2, packet.ReasonNone)
	step(next, both2, packet.ReasonNone)
	step(next, next, packet.ReasonNone)
	step(old, next, packet.ReasonHMACUnknownKey) // key 1 is gone
	// The same key id with other bytes does not verify.
	forged := testHMACSpec("enforce", "time", 2, 2)
	forged.keys[2] = hmacKeyBytes(0xee)
	step(forged, next, packet.ReasonHMACInvalid)
}

func TestHMACMalformedTrailer(t *testing.T) {
	h := testHMACSpec("enforce", "time", 1, 1)
	src := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1_800_000_000, 0)
	b, adv := signed(t, h, newHMACState(), now, src, 100)
	adv.Trailer.Type = 2
	if r := reasonOf(newHMACState().verify(h, now, 3, 9, src, b, adv, false)); r != packet.ReasonHMACMalformed {
		t.Fatalf("type 2: %v", r)
	}
}

// A sender whose clock was stepped forward and back restarts from the clock once it is past
// the window, and its receivers forget its old mark, so both sides recover.
func TestHMACRecoversFromAClockStep(t *testing.T) {
	h := testHMACSpec("enforce", "time", 1, 1)
	src := netip.MustParseAddr("192.0.2.1")
	tx, rx := newHMACState(), newHMACState()
	real := time.Unix(1_800_000_000, 0)
	future := real.Add(time.Hour)
	b, adv := signed(t, h, tx, future, src, 100)
	if err := rx.verify(h, future, 3, 9, src, b, adv, false); err != nil { // a receiver stepped too
		t.Fatal(err)
	}
	later := real.Add(2 * time.Second) // both clocks corrected
	b, adv = signed(t, h, tx, later, src, 100)
	if adv.Trailer.Seconds() != uint32(later.Unix()) {
		t.Fatalf("sender kept its stepped sequence (%d s), want the clock's (%d s)", adv.Trailer.Seconds(), later.Unix())
	}
	if err := rx.verify(h, later, 3, 9, src, b, adv, false); err != nil {
		t.Fatalf("receiver kept the stepped mark: %v", err)
	}
	// Monotonic mode keeps strict growth: the stepped sequence goes on from where it was.
	m := testHMACSpec("enforce", "monotonic", 1, 1)
	mtx := newHMACState()
	s1 := mtx.nextSeq(m, future)
	if s2 := mtx.nextSeq(m, later); s2 != s1+1 {
		t.Fatalf("monotonic: %#x after %#x", s2, s1)
	}
}

// Four multicast senders keep their marks; a fifth takes the least recently used slot.
func TestHMACMulticastSendersShareFourSlots(t *testing.T) {
	h := testHMACSpec("enforce", "time", 1, 1)
	now := time.Unix(1_800_000_000, 0)
	rx := newHMACState()
	type sent struct {
		b   []byte
		adv *packet.Advert
	}
	first := map[int]sent{}
	for i := 1; i <= 5; i++ {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		b, adv := signed(t, h, newHMACState(), now, src, 100)
		first[i] = sent{b, adv}
		if err := rx.verify(h, now, 3, 9, src, b, adv, false); err != nil {
			t.Fatalf("sender %d: %v", i, err)
		}
	}
	if len(rx.marks) != hmacMulticastSenders {
		t.Fatalf("%d marks kept", len(rx.marks))
	}
	// Sender 1 was evicted: its replay is not recognised (Keepalived's table has the same
	// limit), while sender 5's is.
	if err := rx.verify(h, now, 3, 9, netip.MustParseAddr("192.0.2.5"), first[5].b, first[5].adv, false); reasonOf(err) != packet.ReasonHMACReplay {
		t.Fatalf("sender 5 replayed: %v", err)
	}
	if err := rx.verify(h, now, 3, 9, netip.MustParseAddr("192.0.2.1"), first[1].b, first[1].adv, false); err != nil {
		t.Fatalf("sender 1 after eviction: %v", err)
	}
}

func TestHMACSpecKeyChangesWithKeyBytesOnly(t *testing.T) {
	a, b := testHMACSpec("enforce", "time", 1, 1), testHMACSpec("enforce", "time", 1, 1)
	if a.key() != b.key() {
		t.Fatal("equal keys compare unequal")
	}
	b.keys[1] = hmacKeyBytes(9)
	if a.key() == b.key() {
		t.Fatal("a reload that changes a key's bytes would not be applied")
	}
	if bytes.Contains([]byte(a.key()), hmacKeyBytes(1)) {
		t.Fatal("the key itself is in the comparison string")
	}
}

// vrrp_delay_after_boot (Keepalived 2.4): the instances wait until the host has been up that
// long, or vrrp_startup_delay, whichever is longer.
func TestStartupDelayTakesTheLongerOfStartupDelayAndDelayAfterBoot(t *testing.T) {
	for _, c := range []struct {
		startup, afterBoot, uptime, want time.Duration
	}{
		{0, 0, time.Hour, 0},
		{5 * time.Second, 0, time.Hour, 5 * time.Second},
		{0, 90 * time.Second, 60 * time.Second, 30 * time.Second},
		{40 * time.Second, 90 * time.Second, 60 * time.Second, 40 * time.Second},
		{0, 90 * time.Second, time.Hour, 0},
	} {
		m := &Manager{cfg: &config.Config{}, log: slog.New(slog.DiscardHandler)}
		m.cfg.Global.VRRPStartupDelay = syntax.Duration(c.startup)
		m.cfg.Global.VRRPDelayAfterBoot = syntax.Duration(c.afterBoot)
		up := c.uptime
		m.opts.Uptime = func() (time.Duration, error) { return up, nil }
		if got := m.startupDelay(); got != c.want {
			t.Errorf("startup %v, after boot %v, up %v: delay %v, want %v", c.startup, c.afterBoot, c.uptime, got, c.want)
		}
	}
	if up, err := hostUptime(); err != nil || up <= 0 {
		t.Errorf("hostUptime: %v, %v", up, err)
	}
}
