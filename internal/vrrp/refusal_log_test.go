package vrrp

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/testenv"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"golang.org/x/net/ipv4"
)

// logLines decodes the JSON log lines in logs.
func logLines(t *testing.T, logs *testenv.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func debugLogger(logs *testenv.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestRefusalLogWritesOneLinePerReasonPerSecondWithTheSuppressedCount(t *testing.T) {
	var logs testenv.Buffer
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	l := newRefusalLog(debugLogger(&logs), clk.Now)
	peer := netip.MustParseAddr("192.0.2.9")
	for range 1000 {
		l.refused("bad_ttl", peer, "ttl", 254)
		clk.Advance(time.Millisecond / 2) // 1000 refusals in half a second
	}
	l.refused("bad_checksum", peer) // another reason has its own second
	clk.Advance(time.Second)
	l.refused("bad_ttl", peer, "ttl", 1)
	l.refused("bad_ttl", peer, "ttl", 2) // within the new second: counted for the next line

	lines := logLines(t, &logs)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), logs.String())
	}
	want := []struct {
		reason     string
		suppressed any
		ttl        any
	}{
		{"bad_ttl", nil, 254.0},
		{"bad_checksum", nil, nil},
		{"bad_ttl", 999.0, 1.0},
	}
	for i, w := range want {
		got := lines[i]
		if got["msg"] != "vrrp advert refused" || got["reason"] != w.reason || got["peer"] != "192.0.2.9" ||
			got["suppressed"] != w.suppressed || got["ttl"] != w.ttl {
			t.Errorf("line %d: %v, want reason %s, suppressed %v, ttl %v", i, got, w.reason, w.suppressed, w.ttl)
		}
	}
}

func TestRefusalLogIsSilentWithoutDebug(t *testing.T) {
	var logs testenv.Buffer
	l := newRefusalLog(slog.New(slog.NewJSONHandler(&logs, nil)), time.Now)
	l.refused("bad_ttl", netip.MustParseAddr("192.0.2.9"))
	if logs.String() != "" || len(l.seen) != 0 {
		t.Fatalf("logged %q and kept %v at level info", logs.String(), l.seen)
	}
}

// fakeConn hands the reader the packets a test queues, as a socket would: the IP payload in
// buf, after the IPv4 header when there is one (the AH check reads it there).
type fakeConn struct {
	in     chan fakePacket
	closed chan struct{}
	once   sync.Once
}

type fakePacket struct {
	hdr     []byte // IPv4 header, or nil
	payload []byte
	env     packet.Envelope
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan fakePacket, 64), closed: make(chan struct{})}
}

func (c *fakeConn) Read(buf []byte) ([]byte, packet.Envelope, int, error) {
	select {
	case p := <-c.in:
		n := copy(buf, p.hdr)
		m := copy(buf[n:], p.payload)
		return buf[n : n+m], p.env, 0, nil
	case <-c.closed:
		return nil, packet.Envelope{}, 0, net.ErrClosed
	}
}

func (c *fakeConn) Write([]byte, netip.Addr, int) error { return nil }

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// Every refusal path of the reader (an unknown unicast peer, a unicast TTL out of range,
// decode and configuration errors, AH) logs a flood once per second per reason, then once
// with the count of what it left out; every refused packet is counted.
func TestReaderRateLimitsEveryRefusalPath(t *testing.T) {
	v4, v4Peer := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	vip4 := []netip.Addr{netip.MustParseAddr("192.0.2.100")}
	v3 := packet.Advert{Version: 3, VRID: 51, Priority: 200, Interval: 100, Addrs: vip4}
	multicast := vrrpConf("a", 3, 100, "1", "192.0.2.100/24", "")
	unicast := vrrpConf("a", 3, 100, "1", "192.0.2.100/24",
		"unicast_src_ip 192.0.2.1\n  unicast_peer {\n    192.0.2.2 min_ttl 250 max_ttl 255\n  }")
	ah := strings.Replace(vrrpConf("a", 2, 100, "1", "192.0.2.100/24", ""), "PASS", "AH", 1)
	ipv6 := vrrpConf("a", 3, 100, "1", "2001:db8::100/64", "")

	plain := func(t *testing.T, adv packet.Advert, env packet.Envelope) fakePacket {
		b, err := adv.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return fakePacket{payload: b, env: env}
	}
	tests := []struct {
		name, conf, reason string
		src                netip.Addr
		pkt                func(t *testing.T) fakePacket
	}{
		{"TTL not 255", multicast, "bad_ttl", v4, func(t *testing.T) fakePacket {
			return plain(t, v3, packet.Envelope{Src: v4Peer, Dst: packet.GroupIPv4(), HopLimit: 254})
		}},
		{"broken checksum", multicast, "bad_checksum", v4, func(t *testing.T) fakePacket {
			p := plain(t, v3, packet.Envelope{Src: v4Peer, Dst: packet.GroupIPv4(), HopLimit: 255})
			p.payload[len(p.payload)-1] ^= 0xff
			return p
		}},
		{"interval zero", multicast, "interval_mismatch", v4, func(t *testing.T) fakePacket {
			a := v3
			a.Interval = 0
			return plain(t, a, packet.Envelope{Src: v4Peer, Dst: packet.GroupIPv4(), HopLimit: 255})
		}},
		{"not a unicast peer", unicast, "unknown_peer", v4, func(t *testing.T) fakePacket {
			src := netip.MustParseAddr("192.0.2.77")
			return plain(t, v3, packet.Envelope{Src: src, Dst: v4, HopLimit: 255})
		}},
		{"unicast TTL below min_ttl", unicast, "bad_ttl", v4, func(t *testing.T) fakePacket {
			return plain(t, v3, packet.Envelope{Src: v4Peer, Dst: v4, HopLimit: 64})
		}},
		{"IPv6 from a global source", ipv6, "source_not_link_local", netip.MustParseAddr("fe80::1"), func(t *testing.T) fakePacket {
			a := v3
			a.Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::100")}
			return plain(t, a, packet.Envelope{Src: netip.MustParseAddr("2001:db8::2"), Dst: packet.GroupIPv6(), HopLimit: 255})
		}},
		{"AH with a wrong ICV", ah, "auth_failure", v4, func(t *testing.T) fakePacket {
			env := packet.Envelope{Src: v4Peer, Dst: packet.GroupIPv4(), Protocol: packet.ProtocolAH, HopLimit: 255}
			src := v4Peer.As4()
			a := packet.Advert{Version: 2, VRID: 51, Priority: 200, Interval: 1, AuthType: packet.AuthAH, Addrs: vip4,
				HasAH: true, AH: packet.AH{SPI: binary.BigEndian.Uint32(src[:]), Seq: 1}}
			p := plain(t, a, env)
			h := &ipv4.Header{Version: 4, Len: ipv4.HeaderLen, TotalLen: ipv4.HeaderLen + len(p.payload), TTL: 255, ID: 1,
				Protocol: packet.ProtocolAH, Src: v4Peer.AsSlice(), Dst: packet.GroupIPv4().AsSlice()}
			hdr, err := h.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if err := packet.SealAH(packet.AHKey("not the key"), hdr, p.payload, false); err != nil {
				t.Fatal(err)
			}
			p.hdr = hdr
			return p
		}},
	}
	const flood = 300
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConf(t, tc.conf)
			s, err := newSpec(cfg, cfg.VRRPInstances[0])
			if err != nil {
				t.Fatal(err)
			}
			var logs testenv.Buffer
			clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			in := newInstance(s, ManagerOptions{Logger: debugLogger(&logs), Clock: clk}, nil, nil)
			c := newFakeConn()
			in.c, in.src = c, tc.src
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go in.reader(ctx, done)
			defer func() { cancel(); c.Close(); <-done }()

			counted := func(n uint64) func() bool {
				return func() bool { return in.snapshot().Dropped[tc.reason] == n }
			}
			for range flood {
				c.in <- tc.pkt(t)
			}
			testenv.WaitFor(t, 10*time.Second, "the flood counted", counted(flood))
			clk.Advance(refusalLogEvery)
			c.in <- tc.pkt(t)
			testenv.WaitFor(t, 10*time.Second, "the packet after the second counted", counted(flood+1))

			// A refusal is counted before it is logged: wait for the second line too.
			var mine []map[string]any
			refusalLines := func() bool {
				mine = mine[:0]
				for _, l := range logLines(t, &logs) {
					if l["msg"] == "vrrp advert refused" {
						mine = append(mine, l)
					}
				}
				return len(mine) >= 2
			}
			testenv.WaitFor(t, 10*time.Second, "the second refusal line", refusalLines)
			if refusalLines(); len(mine) != 2 {
				t.Fatalf("%d refusal lines for %d refused packets, want 2:\n%s", len(mine), flood+1, logs.String())
			}
			for i, wantSuppressed := range []any{nil, float64(flood - 1)} {
				if mine[i]["reason"] != tc.reason || mine[i]["suppressed"] != wantSuppressed {
					t.Errorf("line %d: %v, want reason %s, suppressed %v", i, mine[i], tc.reason, wantSuppressed)
				}
			}
			for r, n := range in.snapshot().Dropped {
				if r != tc.reason && n != 0 {
					t.Errorf("%d counted as %s, want only %s", n, r, tc.reason)
				}
			}
		})
	}
}
