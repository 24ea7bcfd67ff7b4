package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

func members(a Answer) string {
	var parts []string
	for _, m := range a.Members {
		parts = append(parts, m.Addr.String())
	}
	return strings.Join(parts, " ")
}

func TestSRVMembersAreTheLowestPriorityTargetsWithTheirPorts(t *testing.T) {
	for _, extra := range []bool{true, false} {
		t.Run(fmt.Sprintf("additional section %v", extra), func(t *testing.T) {
			z := testenv.StartDNS(t,
				"_http._tcp.web.example. 30 IN SRV 10 5 8080 a.web.example.",
				"_http._tcp.web.example. 20 IN SRV 10 5 8081 b.web.example.",
				"_http._tcp.web.example. 30 IN SRV 20 5 8082 backup.web.example.",
				"a.web.example. 15 IN A 192.0.2.1",
				"a.web.example. 15 IN A 192.0.2.2",
				"b.web.example. 40 IN A 192.0.2.3",
				"b.web.example. 40 IN AAAA 2001:db8::3",
				"backup.web.example. 40 IN A 192.0.2.9",
			)
			z.Additional(extra)
			a, err := Resolver{Server: z.Addr}.Lookup(context.Background(), Query{SRV: "_http._tcp.web.example"})
			if err != nil {
				t.Fatal(err)
			}
			if got := members(a); got != "192.0.2.1:8080 192.0.2.2:8080 192.0.2.3:8081" {
				t.Errorf("members %q", got)
			}
			if a.TTL != 15*time.Second || a.Lower != 1 {
				t.Errorf("TTL %v, lower-priority targets %d; want 15s, 1", a.TTL, a.Lower)
			}
			if m := a.Members[2]; m.Target != "b.web.example." || m.Priority != 10 || m.Weight != 5 {
				t.Errorf("member %+v", m)
			}
			a6, err := Resolver{Server: z.Addr}.Lookup(context.Background(), Query{SRV: "_http._tcp.web.example", IPv6: true})
			if err != nil || members(a6) != "[2001:db8::3]:8081" {
				t.Errorf("IPv6 members %q, %v", members(a6), err)
			}
		})
	}
}

func TestNameMembersFollowCNAMEsWithTheFixedPort(t *testing.T) {
	z := testenv.StartDNS(t,
		"web.example. 50 IN CNAME pods.example.",
		"pods.example. 9 IN A 192.0.2.12",
		"pods.example. 9 IN A 192.0.2.11",
		"pods.example. 9 IN A 192.0.2.11",
	)
	a, err := Resolver{Server: z.Addr}.Lookup(context.Background(), Query{Name: "web.example", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if got := members(a); got != "192.0.2.11:80 192.0.2.12:80" || a.TTL != 9*time.Second {
		t.Errorf("members %q TTL %v", got, a.TTL)
	}
}

// TestLookupOutcomes: an answer naming nobody is an answer, with the SOA's minimum as its
// TTL; everything else that is not an answer is an error saying whom vigil asked and what
// came back, for the caller to keep its last answer.
func TestLookupOutcomes(t *testing.T) {
	z := testenv.StartDNS(t,
		"_http._tcp.web.example. 30 IN SRV 0 10 8080 pod.web.example.",
		"_http._tcp.broken.example. 30 IN SRV 0 10 8080 pod.broken.example.")
	z.Fail("_http._tcp.fail.example", true)
	z.Fail("pod.broken.example", true)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads and never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	refused := netip.MustParseAddrPort("127.0.0.1:9") // nothing listens: ICMP port unreachable
	for _, tt := range []struct {
		name    string
		server  netip.AddrPort
		q       Query
		members int
		ttl     time.Duration
		err     string // "" for an answer
	}{
		{"NXDOMAIN for an SRV name", z.Addr, Query{SRV: "_http._tcp.gone.example"}, 0, 7 * time.Second, ""},
		{"NXDOMAIN for an A name", z.Addr, Query{Name: "gone.example", Port: 80}, 0, 7 * time.Second, ""},
		{"an SRV target without an address", z.Addr, Query{SRV: "_http._tcp.web.example"}, 0, 30 * time.Second, ""},
		{"SERVFAIL", z.Addr, Query{SRV: "_http._tcp.fail.example"}, 0, 0, "ask " + z.Addr.String() + " for _http._tcp.fail.example. SRV: answer SERVFAIL"},
		{"SERVFAIL for an SRV target", z.Addr, Query{SRV: "_http._tcp.broken.example"}, 0, 0, "target pod.broken.example. of _http._tcp.broken.example: ask " + z.Addr.String() + " for pod.broken.example. A: answer SERVFAIL"},
		{"a resolver that refuses", refused, Query{Name: "web.example", Port: 80}, 0, 0, "connection refused"},
		{"a resolver that does not answer", netip.MustParseAddrPort(silent.LocalAddr().String()), Query{Name: "web.example", Port: 80}, 0, 0, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Resolver{Server: tt.server, Timeout: 200 * time.Millisecond}.Lookup(context.Background(), tt.q)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Lookup = %+v, %v; want an error with %q", a, err, tt.err)
				}
				return
			}
			if err != nil || len(a.Members) != tt.members || a.TTL != tt.ttl {
				t.Fatalf("Lookup = %+v, %v; want %d members, TTL %v", a, err, tt.members, tt.ttl)
			}
		})
	}
}

func TestATruncatedAnswerIsAskedAgainOverTCP(t *testing.T) {
	var rrs []string
	for i := range 120 {
		rrs = append(rrs, fmt.Sprintf("_http._tcp.big.example. 30 IN SRV 0 1 %d pod-%03d.big.example.", 8000+i, i))
		rrs = append(rrs, fmt.Sprintf("pod-%03d.big.example. 30 IN A 10.0.%d.%d", i, i/200, 1+i%200))
	}
	z := testenv.StartDNS(t, rrs...)
	z.Additional(true)
	a, err := Resolver{Server: z.Addr}.Lookup(context.Background(), Query{SRV: "_http._tcp.big.example"})
	if err != nil {
		t.Fatal(err)
	}
	truncated := z.Truncated()
	if len(a.Members) != 120 || truncated == 0 {
		t.Errorf("%d members, %d truncated UDP answers; want 120 over TCP after one", len(a.Members), truncated)
	}
}

func TestIntervalIsTheSoonerOfRefreshAndTTLWithAFloorAndRetryBacksOff(t *testing.T) {
	for _, tt := range []struct{ refresh, ttl, want time.Duration }{
		{5 * time.Second, 30 * time.Second, 5 * time.Second},
		{5 * time.Second, 2 * time.Second, 2 * time.Second},
		{5 * time.Second, -1, 5 * time.Second},
		{5 * time.Second, 0, MinRefresh},
		{5 * time.Second, 100 * time.Millisecond, MinRefresh},
		{0, -1, MinRefresh},
	} {
		if got := Interval(tt.refresh, tt.ttl); got != tt.want {
			t.Errorf("Interval(%v, %v) = %v, want %v", tt.refresh, tt.ttl, got, tt.want)
		}
	}
	for _, tt := range []struct {
		refresh  time.Duration
		failures int
		want     time.Duration
	}{
		{30 * time.Second, 1, MinRefresh},
		{30 * time.Second, 2, 2 * MinRefresh},
		{30 * time.Second, 4, 8 * MinRefresh},
		{30 * time.Second, 6, 30 * time.Second},
		{30 * time.Second, 1000, 30 * time.Second},
		{500 * time.Millisecond, 1, MinRefresh},
	} {
		if got := Retry(tt.refresh, tt.failures); got != tt.want {
			t.Errorf("Retry(%v, %d) = %v, want %v", tt.refresh, tt.failures, got, tt.want)
		}
	}
	if q := (Query{Name: "web.example", Port: 80}); q.String() != "dns_name web.example 80" {
		t.Errorf("%s", q)
	}
}

func TestSystemResolverIsTheFirstNameserver(t *testing.T) {
	path := t.TempDir() + "/resolv.conf"
	if err := os.WriteFile(path, []byte("search example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := SystemResolver(path); err != nil || got != netip.MustParseAddrPort("192.0.2.53:53") {
		t.Errorf("SystemResolver = %v, %v", got, err)
	}
	if _, err := SystemResolver(path + ".missing"); err == nil {
		t.Error("a missing resolv.conf gave a resolver")
	}
}
