package check

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsTestServer answers queries on loopback UDP through answer, which returns the reply to
// send (nil for none). It records the questions it was asked.
type dnsTestServer struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	asked []dns.Question
	rd    []bool
}

func startDNSTestServer(t *testing.T, answer func(q *dns.Msg) *dns.Msg) *dnsTestServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsTestServer{addr: addrPort(t, pc.LocalAddr())}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			s.mu.Lock()
			s.asked = append(s.asked, q.Question...)
			s.rd = append(s.rd, q.RecursionDesired)
			s.mu.Unlock()
			if r := answer(q); r != nil {
				out, err := r.Pack()
				if err == nil {
					_, _ = pc.WriteTo(out, from)
				}
			}
		}
	}()
	return s
}

func TestDNSCheck(t *testing.T) {
	soa := func(q *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(q)
		rr, _ := dns.NewRR(". 3600 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400")
		r.Answer = append(r.Answer, rr)
		return r
	}
	rcode := func(code int) func(q *dns.Msg) *dns.Msg {
		return func(q *dns.Msg) *dns.Msg { r := new(dns.Msg); r.SetRcode(q, code); return r }
	}
	tests := []struct {
		name    string
		answer  func(q *dns.Msg) *dns.Msg
		addr    netip.AddrPort
		healthy bool
		reason  string
	}{
		{name: "NOERRORWithAnswerPasses", answer: soa, healthy: true, reason: "NOERROR, 1 answers"},
		{name: "NOERRORWithoutAnswerPasses", answer: rcode(dns.RcodeSuccess), healthy: true, reason: "NOERROR, 0 answers"},
		{name: "NXDOMAINFails", answer: rcode(dns.RcodeNameError), reason: "RCODE NXDOMAIN, expected NOERROR"},
		{name: "SERVFAILFails", answer: rcode(dns.RcodeServerFailure), reason: "RCODE SERVFAIL"},
		{name: "ForeignIDIsIgnored", answer: func(q *dns.Msg) *dns.Msg { r := soa(q); r.Id ^= 0xffff; return r }, reason: "timeout"},
		{name: "QueryEchoedBackIsIgnored", answer: func(q *dns.Msg) *dns.Msg { return q }, reason: "timeout"},
		{name: "SlowServerTimesOut", answer: func(q *dns.Msg) *dns.Msg { time.Sleep(2 * probeTimeout); return soa(q) }, reason: "timeout"},
		{name: "SilentServerTimesOut", answer: func(*dns.Msg) *dns.Msg { return nil }, reason: "read reply: timeout"},
		{name: "ClosedPortIsUnreachable", addr: closedUDPPort(t), reason: "port unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := tc.addr
			if tc.answer != nil {
				addr = startDNSTestServer(t, tc.answer).addr
			}
			c, err := NewDNS(DNSOptions{ConnOptions: ConnOptions{Addr: addr}})
			if err != nil {
				t.Fatal(err)
			}
			wantProbe(t, runProbe(t, c, probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

func TestDNSCheckAsksForNameAndType(t *testing.T) {
	tests := []struct {
		name  string
		qtype uint16
		want  dns.Question
		key   string
	}{
		{"", 0, dns.Question{Name: ".", Qtype: dns.TypeSOA, Qclass: dns.ClassINET}, " . SOA"},
		{"www.example.test", dns.TypeAAAA, dns.Question{Name: "www.example.test.", Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}, " www.example.test. AAAA"},
	}
	for _, tc := range tests {
		srv := startDNSTestServer(t, func(q *dns.Msg) *dns.Msg { r := new(dns.Msg); r.SetReply(q); return r })
		c, err := NewDNS(DNSOptions{ConnOptions: ConnOptions{Addr: srv.addr}, Name: tc.name, Type: tc.qtype})
		if err != nil {
			t.Fatal(err)
		}
		wantProbe(t, runProbe(t, c, time.Second), true, "NOERROR")
		srv.mu.Lock()
		if len(srv.asked) != 1 || srv.asked[0] != tc.want || !srv.rd[0] {
			t.Errorf("server was asked %v (rd %v), want %v with RD", srv.asked, srv.rd, tc.want)
		}
		srv.mu.Unlock()
		if !strings.HasSuffix(c.Key(), tc.key) {
			t.Errorf("key %q, want suffix %q", c.Key(), tc.key)
		}
	}
}

// closedUDPPort returns a loopback UDP address that answers with ICMP port unreachable and that
// no other test can take while this one runs.
func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	return boundPort(t, "127.0.0.1", syscall.SOCK_DGRAM)
}

// FuzzDNSReply feeds arbitrary datagrams to dnsReply as the reply to query ID 0x1234.
// Properties: a datagram is taken as the reply only when it is at least a header long, carries
// the query's ID and is a response; it is healthy exactly when its RCODE is NOERROR; the reason
// names the RCODE and gives the header's answer count; and where miekg/dns can unpack the
// datagram, it agrees on the ID, the response flag and the RCODE. Seeds (testdata/fuzz/FuzzDNSReply) are real dnsmasq answers (an A record, and
// REFUSED).
func FuzzDNSReply(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0})
	const id = 0x1234
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 512 {
			b = b[:512] // what the probe reads
		}
		ours, healthy, reason := dnsReply(b, id)
		want := len(b) >= 12 && b[0] == 0x12 && b[1] == 0x34 && b[2]&0x80 != 0
		if ours != want {
			t.Fatalf("taken as the reply: %v, want %v", ours, want)
		}
		if !ours {
			if healthy || reason != "" {
				t.Fatalf("not the reply, yet healthy %v, reason %q", healthy, reason)
			}
			return
		}
		rcode := int(b[3] & 0x0f)
		if healthy != (rcode == dns.RcodeSuccess) {
			t.Fatalf("RCODE %d: healthy %v", rcode, healthy)
		}
		if !healthy && strings.Contains(reason, "RCODE ,") {
			t.Fatalf("RCODE %d: reason %q does not name it", rcode, reason)
		}
		// Like Keepalived, the probe reads the header only: the count is what it claims.
		if ancount := int(b[6])<<8 | int(b[7]); healthy && reason != fmt.Sprintf("reply NOERROR, %d answers", ancount) {
			t.Fatalf("reason %q, header ANCOUNT %d", reason, ancount)
		}
		var m dns.Msg
		if m.Unpack(b) == nil && (m.Id != id || !m.Response || m.Rcode&0x0f != rcode) {
			t.Fatalf("miekg/dns unpacks ID %#x, response %v, RCODE %d; the probe read %#x, true, %d",
				m.Id, m.Response, m.Rcode&0x0f, id, rcode)
		}
	})
}
