package testenv

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// DNS is an authoritative DNS server a test runs on loopback, over UDP and TCP on one port,
// answering from records the test sets and changes: the members of dynamic_real_servers,
// say. It follows one CNAME, answers NXDOMAIN with an SOA (minimum TTL 7) for a name it has
// no records for, SERVFAIL for a name set to fail, and truncates a UDP answer larger than the
// query's EDNS0 size (or 512 bytes), so that the client asks again over TCP.
type DNS struct {
	// Addr is where it listens.
	Addr netip.AddrPort

	mu      sync.Mutex
	records map[string][]dns.RR // by "name. TYPE", lower case
	extra   bool
	fail    map[string]bool
	trunc   int
}

// StartDNS starts a DNS server holding rrs (zone file lines: "web.example. 30 IN A
// 192.0.2.1") and stops it when the test ends.
func StartDNS(t testing.TB, rrs ...string) *DNS {
	t.Helper()
	z := &DNS{fail: map[string]bool{}}
	z.Set(t, rrs...)
	port := FreePort(t, "127.0.0.1", true)
	z.Addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	pc, err := net.ListenPacket("udp", z.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", z.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return z
}

// Set replaces the records with rrs.
func (z *DNS) Set(t testing.TB, rrs ...string) {
	t.Helper()
	records := map[string][]dns.RR{}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("DNS record %q: %v", s, err)
		}
		k := strings.ToLower(rr.Header().Name) + " " + dns.TypeToString[rr.Header().Rrtype]
		records[k] = append(records[k], rr)
	}
	z.mu.Lock()
	z.records = records
	z.mu.Unlock()
}

// Additional makes SRV answers carry their targets' addresses in the additional section, as
// Consul and CoreDNS do.
func (z *DNS) Additional(on bool) {
	z.mu.Lock()
	z.extra = on
	z.mu.Unlock()
}

// Fail makes questions for name ("web.example.") answer SERVFAIL, or answer again.
func (z *DNS) Fail(name string, fail bool) {
	z.mu.Lock()
	z.fail[strings.ToLower(dns.Fqdn(name))] = fail
	z.mu.Unlock()
}

// Truncated counts the UDP answers that were truncated.
func (z *DNS) Truncated() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.trunc
}

// ServeDNS answers one question.
func (z *DNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	z.mu.Lock()
	defer z.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if z.fail[name] {
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	}
	cname := z.records[name+" CNAME"]
	m.Answer = append(m.Answer, cname...)
	target := name
	if len(cname) > 0 {
		target = strings.ToLower(cname[0].(*dns.CNAME).Target)
	}
	m.Answer = append(m.Answer, z.records[target+" "+dns.TypeToString[q.Qtype]]...)
	if q.Qtype == dns.TypeSRV && z.extra {
		for _, rr := range m.Answer {
			if s, ok := rr.(*dns.SRV); ok {
				m.Extra = append(m.Extra, z.records[strings.ToLower(s.Target)+" A"]...)
				m.Extra = append(m.Extra, z.records[strings.ToLower(s.Target)+" AAAA"]...)
			}
		}
	}
	if len(m.Answer) == 0 {
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR(". 60 IN SOA ns.test. host.test. 1 60 60 60 7")
		m.Ns = append(m.Ns, soa)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		if m.Len() > size {
			z.trunc++
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}
