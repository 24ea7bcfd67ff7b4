package icmp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newPinger opens a Pinger or skips the test when this host allows no ICMP socket, except
// under CI where one must be available.
func newPinger(t testing.TB, f Family, mode Mode) *Pinger {
	t.Helper()
	p, err := New(f, mode)
	if err != nil {
		testenv.Unavailable(t, err.Error())
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// ipv6Loopback reports whether ::1 is usable here.
func ipv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// writeSysctl sets a sysctl from inside a test namespace, failing t but going on.
func writeSysctl(t *testing.T, path, value string) bool {
	t.Helper()
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Errorf("write %s: %v", path, err)
		return false
	}
	return true
}

func TestPingLoopback(t *testing.T) {
	tests := []struct {
		name   string
		family Family
		addr   string
	}{
		{"IPv4", IPv4, "127.0.0.1"},
		{"IPv4OtherLoopbackAddress", IPv4, "127.3.4.5"},
		{"IPv4Mapped", IPv4, "::ffff:127.0.0.1"},
		{"IPv6", IPv6, "::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.family == IPv6 && !ipv6Loopback() {
				t.Skip("no IPv6 loopback here")
			}
			p := newPinger(t, tc.family, Auto)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			for range 3 {
				rtt, err := p.Ping(ctx, netip.MustParseAddr(tc.addr))
				if err != nil || rtt <= 0 || rtt > time.Second {
					t.Fatalf("Ping(%s) = %v, %v", tc.addr, rtt, err)
				}
			}
		})
	}
}

func TestPingWrongFamilyFails(t *testing.T) {
	p := newPinger(t, IPv4, Auto)
	_, err := p.Ping(context.Background(), netip.MustParseAddr("::1"))
	if err == nil || !strings.Contains(err.Error(), "not IPv4") {
		t.Errorf("Ping(::1) on an IPv4 pinger: %v", err)
	}
}

func TestNewRejectsUnknownFamily(t *testing.T) {
	if _, err := New(5, Auto); err == nil {
		t.Error("New(5) succeeded")
	}
}

// pingMany pings n loopback addresses at once, each with deadline d, and returns the errors.
func pingMany(p *Pinger, n int, deadline func(i int) time.Duration) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), deadline(i))
			defer cancel()
			dst := netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(1 + i%250)})
			_, errs[i] = p.Ping(ctx, dst)
		}()
	}
	wg.Wait()
	return errs
}

func TestTwoHundredConcurrentPingsShareOneSocket(t *testing.T) {
	p := newPinger(t, IPv4, Auto)
	for round := range 3 {
		for i, err := range pingMany(p, 200, func(int) time.Duration { return 3 * time.Second }) {
			if err != nil {
				t.Fatalf("round %d ping %d: %v", round, i, err)
			}
		}
	}
	p.mu.Lock()
	left := len(p.waiters)
	p.mu.Unlock()
	if left != 0 {
		t.Errorf("%d waiters left after every ping returned", left)
	}
}

func TestTwoHundredConcurrentPingsToOneIPv6Address(t *testing.T) {
	if !ipv6Loopback() {
		t.Skip("no IPv6 loopback here")
	}
	p := newPinger(t, IPv6, Auto)
	errs := make([]error, 200)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, errs[i] = p.Ping(ctx, netip.IPv6Loopback())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ping %d to ::1: %v", i, err)
		}
	}
}

func TestPingsGivingUpEarlyLeaveNoStaleReplies(t *testing.T) {
	p := newPinger(t, IPv4, Auto)
	// Half the pings give up at once, racing their replies; the channels they leave behind are
	// reused by the next round, which must see only its own replies.
	pingMany(p, 200, func(i int) time.Duration {
		if i%2 == 0 {
			return time.Microsecond
		}
		return 3 * time.Second
	})
	for i, err := range pingMany(p, 200, func(int) time.Duration { return 3 * time.Second }) {
		if err != nil {
			t.Fatalf("ping %d after the early give-ups: %v", i, err)
		}
	}
	// A ping handed a stale value, taken before it sent its request, would report an RTT of
	// zero or less.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 50 {
		rtt, err := p.Ping(ctx, netip.MustParseAddr("127.0.0.1"))
		if err != nil || rtt <= 0 {
			t.Fatalf("Ping = %v, %v", rtt, err)
		}
	}
}

func TestPingWithoutReplyTimesOutPromptly(t *testing.T) {
	testenv.NewNamespace(t, "icmp").Do(t, func() {
		if !writeSysctl(t, "/proc/sys/net/ipv4/icmp_echo_ignore_all", "1") {
			return
		}
		p, err := New(IPv4, Auto)
		if err != nil {
			t.Error(err)
			return
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = p.Ping(ctx, netip.MustParseAddr("127.0.0.1"))
		if el := time.Since(start); el > time.Second {
			t.Errorf("Ping returned %v after a 200ms deadline", el)
		}
		if err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("Ping to a host ignoring echoes: %v, want a timeout", err)
		}
	})
}

func TestUnprivilegedPingSocketMatchesOnSequence(t *testing.T) {
	testenv.NewNamespace(t, "icmp").Do(t, func() {
		if !writeSysctl(t, "/proc/sys/net/ipv4/ping_group_range", "0 2147483647") {
			return
		}
		p, err := New(IPv4, Unprivileged)
		if err != nil {
			t.Error(err)
			return
		}
		defer p.Close()
		if p.Privileged() {
			t.Error("Unprivileged mode opened a raw socket")
		}
		for i, err := range pingMany(p, 200, func(int) time.Duration { return 3 * time.Second }) {
			if err != nil {
				t.Errorf("ping %d over a ping socket: %v", i, err)
				return
			}
		}
		if ipv6Loopback() {
			p6, err := New(IPv6, Unprivileged)
			if err != nil {
				t.Error(err)
				return
			}
			defer p6.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := p6.Ping(ctx, netip.MustParseAddr("::1")); err != nil {
				t.Errorf("ping ::1 over a ping socket: %v", err)
			}
		}
	})
}

func TestNoSocketIsOneClearError(t *testing.T) {
	testenv.NewNamespace(t, "icmp").Do(t, func() {
		// In this namespace nobody may open ping sockets; raw sockets stay a root's right, so
		// the test asks for the unprivileged kind only.
		if !writeSysctl(t, "/proc/sys/net/ipv4/ping_group_range", "1 0") {
			return
		}
		_, err := New(IPv4, Unprivileged)
		if err == nil || !strings.Contains(err.Error(), "ping_group_range") {
			t.Errorf("New(IPv4, Unprivileged) = %v, want an error naming ping_group_range", err)
		}
	})
}

func TestCloseEndsPendingPingsAndLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var p *Pinger
	var pending chan error
	testenv.NewNamespace(t, "icmp").Do(t, func() {
		if !writeSysctl(t, "/proc/sys/net/ipv4/icmp_echo_ignore_all", "1") {
			return
		}
		var err error
		if p, err = New(IPv4, Auto); err != nil {
			t.Error(err)
			return
		}
		pending = make(chan error, 1)
		go func() {
			_, err := p.Ping(context.Background(), netip.MustParseAddr("127.0.0.1"))
			pending <- err
		}()
	})
	if p == nil {
		return
	}
	time.Sleep(50 * time.Millisecond) // let the ping be sent; it would wait forever
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-pending:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("pending Ping after Close: %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending Ping still blocked 2s after Close")
	}
	if _, err := p.Ping(context.Background(), netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func BenchmarkPingerManyTargets(b *testing.B) {
	p := newPinger(b, IPv4, Auto)
	var next uint32
	var mu sync.Mutex
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for pb.Next() {
			mu.Lock()
			i := next
			next++
			mu.Unlock()
			dst := netip.AddrFrom4([4]byte{127, 0, byte(i / 250 % 250), byte(1 + i%250)})
			if _, err := p.Ping(ctx, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestPingFromChoosesSourceAndInterface(t *testing.T) {
	p := newPinger(t, IPv4, Auto)
	if !p.Privileged() {
		t.Skip("needs a raw socket to watch the requests")
	}
	sniff, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer sniff.Close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dst, src := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	if _, err := p.PingFrom(ctx, dst, src, lo.Index); err != nil {
		t.Fatalf("PingFrom(%s, %s, lo): %v", dst, src, err)
	}
	// The sniffer saw the request leave from src.
	_ = sniff.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := sniff.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no echo request from %s seen: %v", src, err)
		}
		if n >= echoHeaderLen+cookieLen && buf[0] == 8 && [cookieLen]byte(buf[echoHeaderLen:echoHeaderLen+cookieLen]) == p.cookie {
			if got := from.(*net.IPAddr).IP.String(); got != src.String() {
				t.Fatalf("echo request left from %s, want %s", got, src)
			}
			break
		}
	}

	tests := []struct {
		name    string
		src     netip.Addr
		ifIndex int
		want    string
	}{
		{"SourceNotOnThisHost", netip.MustParseAddr("192.0.2.1"), 0, "send echo"},
		{"NoSuchInterface", netip.Addr{}, 1 << 20, "send echo"},
		{"SourceOfTheOtherFamily", netip.MustParseAddr("::1"), 0, "families differ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.PingFrom(ctx, dst, tc.src, tc.ifIndex)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("PingFrom: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if ipv6Loopback() {
		p6 := newPinger(t, IPv6, Auto)
		if _, err := p6.PingFrom(ctx, netip.IPv6Loopback(), netip.IPv6Loopback(), lo.Index); err != nil {
			t.Errorf("PingFrom(::1, ::1, lo): %v", err)
		}
	}
}

func TestFwmarkIsSetOnTheSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root (CAP_NET_ADMIN) to set SO_MARK")
	}
	p, err := NewWithOptions(Options{Family: IPv4, Mode: Auto, Fwmark: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rc, err := p.packetConn().(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var mark int
	var gerr error
	_ = rc.Control(func(fd uintptr) { mark, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK) })
	if gerr != nil || mark != 7 {
		t.Errorf("SO_MARK = %d, %v; want 7", mark, gerr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := p.Ping(ctx, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("marked Ping: %v", err)
	}
}
