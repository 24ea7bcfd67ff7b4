package check

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/check/icmp"
)

// fakePinger answers as told, or waits for the context when silent.
type fakePinger struct {
	rtt    time.Duration
	err    error
	silent bool
	got    netip.Addr
}

func (f *fakePinger) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	f.got = dst
	if f.silent {
		<-ctx.Done()
		return 0, errors.New("icmp: ping " + dst.String() + ": no echo reply")
	}
	return f.rtt, f.err
}

func TestPingCheckVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		pinger  Pinger
		healthy bool
		reason  string
	}{
		{"EchoReplyPasses", &fakePinger{rtt: 1500 * time.Microsecond}, true, "echo reply in 1.5ms"},
		{"SendErrorFails", &fakePinger{err: errors.New("icmp: send echo to 192.0.2.1: network is unreachable")}, false, "network is unreachable"},
		{"SilenceTimesOut", &fakePinger{silent: true}, false, "timeout"},
		{"NoPingerFails", nil, false, "no pinger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := NewPing(PingOptions{Addr: netip.MustParseAddr("192.0.2.1"), Pinger: tc.pinger})
			wantProbe(t, runProbe(t, c, probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

// sourcedFake records what PingFrom was asked.
type sourcedFake struct {
	fakePinger
	src     netip.Addr
	ifIndex int
}

func (f *sourcedFake) PingFrom(ctx context.Context, dst, src netip.Addr, ifIndex int) (time.Duration, error) {
	f.src, f.ifIndex = src, ifIndex
	return f.Ping(ctx, dst)
}

func TestPingCheckBindOptions(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name    string
		opts    PingOptions
		healthy bool
		reason  string
		src     netip.Addr
		ifIndex int
		key     string
	}{
		{"SourceAddressIsPassed", PingOptions{BindAddr: netip.MustParseAddr("192.0.2.9")}, true, "echo reply", netip.MustParseAddr("192.0.2.9"), 0, "PING_CHECK 192.0.2.1 bind=192.0.2.9"},
		{"InterfaceIsLookedUp", PingOptions{BindIf: "lo"}, true, "echo reply", netip.Addr{}, lo.Index, "PING_CHECK 192.0.2.1 if=lo"},
		{"MissingInterfaceFails", PingOptions{BindIf: "vigil-none0"}, false, "bind_if vigil-none0", netip.Addr{}, 0, "PING_CHECK 192.0.2.1 if=vigil-none0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &sourcedFake{fakePinger: fakePinger{rtt: time.Millisecond}}
			o := tc.opts
			o.Addr, o.Pinger = dst, f
			c := NewPing(o)
			wantProbe(t, runProbe(t, c, time.Second), tc.healthy, tc.reason)
			if f.src != tc.src || f.ifIndex != tc.ifIndex || c.Key() != tc.key {
				t.Errorf("PingFrom got src %v ifIndex %d, key %q; want %v, %d, %q", f.src, f.ifIndex, c.Key(), tc.src, tc.ifIndex, tc.key)
			}
		})
	}
	plain := NewPing(PingOptions{Addr: dst, Pinger: &fakePinger{}, BindAddr: netip.MustParseAddr("192.0.2.9")})
	wantProbe(t, runProbe(t, plain, time.Second), false, "cannot choose a source")
}

func TestPingCheckUnmapsAndKeys(t *testing.T) {
	f := &fakePinger{rtt: time.Millisecond}
	c := NewPing(PingOptions{Addr: netip.MustParseAddr("::ffff:192.0.2.1"), Pinger: f})
	runProbe(t, c, time.Second)
	if f.got != netip.MustParseAddr("192.0.2.1") || c.Key() != "PING_CHECK 192.0.2.1" || c.Target() != "192.0.2.1" || c.Kind() != "PING_CHECK" {
		t.Errorf("pinged %s, key %q, target %q, kind %q", f.got, c.Key(), c.Target(), c.Kind())
	}
}

func TestPingCheckLoopbackThroughSharedPinger(t *testing.T) {
	tests := []struct {
		family icmp.Family
		addr   string
	}{
		{icmp.IPv4, "127.0.0.1"},
		{icmp.IPv6, "::1"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			if tc.family == icmp.IPv6 {
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback here")
				} else {
					c.Close()
				}
			}
			p, err := icmp.New(tc.family, icmp.Auto)
			if err != nil {
				testenv.Unavailable(t, err.Error())
			}
			defer p.Close()
			c := NewPing(PingOptions{Addr: netip.MustParseAddr(tc.addr), Pinger: p})
			wantProbe(t, runProbe(t, c, 2*time.Second), true, "echo reply")
		})
	}
}
