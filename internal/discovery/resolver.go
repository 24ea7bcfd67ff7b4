package discovery

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// MinRefresh is the floor of the interval between two lookups, whatever the TTL says: a TTL of
// 0 (Consul's default, dnsmasq's for its hosts files) would otherwise ask without pause. One
// second is HAProxy's default resolution interval (resolvers' hold valid aside).
const MinRefresh = time.Second

// Interval is how long to wait before the next lookup: the block's refresh, or the answer's
// TTL when sooner, but at least MinRefresh. A negative ttl means the answer gave none.
func Interval(refresh, ttl time.Duration) time.Duration {
	d := refresh
	if ttl >= 0 && ttl < d {
		d = ttl
	}
	return max(d, MinRefresh)
}

// Retry is how long to wait after the failures-th failed lookup in a row: MinRefresh, doubled
// at each failure, up to refresh. DNS that comes back is seen soon, DNS that stays down is not
// asked more than once a refresh.
func Retry(refresh time.Duration, failures int) time.Duration {
	d := MinRefresh << min(max(failures-1, 0), 10)
	return max(min(d, refresh), MinRefresh)
}

// Query is what one dynamic_real_servers block asks.
type Query struct {
	// SRV, when set, is the SRV name asked (dns_srv); otherwise Name is asked for addresses
	// and each gets Port (dns_name).
	SRV  string
	Name string
	Port uint16
	// IPv6 asks AAAA records rather than A: the virtual server's family.
	IPv6 bool
}

// String is the query as the configuration writes it: "dns_srv _http._tcp.web.example".
func (q Query) String() string {
	if q.SRV != "" {
		return "dns_srv " + q.SRV
	}
	return "dns_name " + q.Name + " " + strconv.Itoa(int(q.Port))
}

// Member is one address found.
type Member struct {
	Addr netip.AddrPort
	// Target is the name the address was found under: the SRV target, or the name asked.
	Target string
	// Priority and Weight are the SRV record's; 0 for dns_name. The weight is kept for the
	// status only: the member's weight in the pool is the block's, since an SRV weight is a
	// share of the selection among the targets (CoreDNS gives each of n pods 100/n), which
	// would reweigh every member each time one comes or goes.
	Priority, Weight uint16
}

// Answer is what one lookup found.
type Answer struct {
	// Members are sorted by address, each address once.
	Members []Member
	// TTL is the least TTL of the records the members came from (the SOA's minimum for an
	// answer without records); negative when the answer gave none (no record, no SOA).
	TTL time.Duration
	// Lower counts the SRV targets of a higher priority value left out.
	Lower int
}

// Resolver asks one DNS server.
type Resolver struct {
	// Server is the resolver's address and port (resolver ADDR [PORT]).
	Server netip.AddrPort
	// Timeout bounds each query (default 2 s).
	Timeout time.Duration
}

// Lookup asks the resolver for q's members. An error says what failed (the resolver did not
// answer, or answered SERVFAIL); an answer with no members is not an error.
func (r Resolver) Lookup(ctx context.Context, q Query) (Answer, error) {
	if q.SRV != "" {
		return r.lookupSRV(ctx, q)
	}
	addrs, ttl, err := r.addresses(ctx, q.Name, q.IPv6, nil)
	if err != nil {
		return Answer{}, err
	}
	var a Answer
	for _, ip := range addrs {
		a.Members = append(a.Members, Member{Addr: netip.AddrPortFrom(ip, q.Port), Target: dns.Fqdn(q.Name)})
	}
	a.TTL = ttl
	a.Members = sortMembers(a.Members)
	return a, nil
}

func (r Resolver) lookupSRV(ctx context.Context, q Query) (Answer, error) {
	in, err := r.exchange(ctx, q.SRV, dns.TypeSRV)
	if err != nil {
		return Answer{}, err
	}
	var srvs []*dns.SRV
	ttl := time.Duration(-1)
	for _, rr := range in.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			srvs = append(srvs, s)
			ttl = minTTL(ttl, ttlOf(rr))
		}
	}
	if len(srvs) == 0 {
		return Answer{TTL: negativeTTL(in)}, nil
	}
	best := slices.MinFunc(srvs, func(a, b *dns.SRV) int { return cmp.Compare(a.Priority, b.Priority) }).Priority
	var a Answer
	for _, s := range srvs {
		if s.Priority != best {
			a.Lower++
			continue
		}
		addrs, attl, err := r.addresses(ctx, s.Target, q.IPv6, in.Extra)
		if err != nil {
			return Answer{}, fmt.Errorf("target %s of %s: %w", s.Target, q.SRV, err)
		}
		if len(addrs) > 0 {
			ttl = minTTL(ttl, attl)
		}
		for _, ip := range addrs {
			a.Members = append(a.Members, Member{Addr: netip.AddrPortFrom(ip, s.Port), Target: s.Target, Priority: s.Priority, Weight: s.Weight})
		}
	}
	a.TTL = max(ttl, 0)
	a.Members = sortMembers(a.Members)
	return a, nil
}

// addresses returns name's addresses of the family asked and their least TTL: from extra (an
// SRV answer's additional section) when it holds any, else from a query of their own, whose
// CNAMEs are followed as the resolver answered them.
func (r Resolver) addresses(ctx context.Context, name string, ipv6 bool, extra []dns.RR) ([]netip.Addr, time.Duration, error) {
	qtype := dns.TypeA
	if ipv6 {
		qtype = dns.TypeAAAA
	}
	fqdn := dns.Fqdn(name)
	if ips, ttl := pick(extra, qtype, fqdn); len(ips) > 0 {
		return ips, ttl, nil
	}
	in, err := r.exchange(ctx, fqdn, qtype)
	if err != nil {
		return nil, 0, err
	}
	ips, ttl := pick(in.Answer, qtype, "")
	if len(ips) == 0 {
		return nil, negativeTTL(in), nil
	}
	return ips, ttl, nil
}

// pick takes the addresses of type qtype from rrs, of owner name when set (any owner
// otherwise: an answer's CNAME chain ends in records of another name), with their least TTL
// and the TTL of the CNAMEs that led there.
func pick(rrs []dns.RR, qtype uint16, name string) ([]netip.Addr, time.Duration) {
	var ips []netip.Addr
	ttl := time.Duration(-1)
	for _, rr := range rrs {
		h := rr.Header()
		if name != "" && !strings.EqualFold(h.Name, name) {
			continue
		}
		var ip netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			if qtype == dns.TypeA {
				ip, _ = netip.AddrFromSlice(v.A.To4())
			}
		case *dns.AAAA:
			if qtype == dns.TypeAAAA {
				ip, _ = netip.AddrFromSlice(v.AAAA.To16())
			}
		case *dns.CNAME:
			ttl = minTTL(ttl, ttlOf(rr))
		}
		if ip.IsValid() {
			ips = append(ips, ip)
			ttl = minTTL(ttl, ttlOf(rr))
		}
	}
	return ips, max(ttl, 0)
}

// exchange asks one question, over UDP and again over TCP when the answer was truncated, and
// refuses an answer whose RCODE is neither NOERROR nor NXDOMAIN.
func (r Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(4096, false)
	timeout := cmp.Or(r.Timeout, 2*time.Second)
	c := &dns.Client{Net: "udp", Timeout: timeout, UDPSize: 4096}
	in, _, err := c.ExchangeContext(ctx, m, r.Server.String())
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.Server.String())
	}
	what := fmt.Sprintf("ask %s for %s %s", r.Server, dns.Fqdn(name), dns.TypeToString[qtype])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("%s: answer %s", what, dns.RcodeToString[in.Rcode])
	}
	return in, nil
}

// negativeTTL is how long an answer without records may be kept: its SOA's minimum (RFC
// 2308), or -1 when it has none.
func negativeTTL(in *dns.Msg) time.Duration {
	for _, rr := range in.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Minttl, soa.Hdr.Ttl)) * time.Second
		}
	}
	return -1
}

func ttlOf(rr dns.RR) time.Duration { return time.Duration(rr.Header().Ttl) * time.Second }

// minTTL is the lesser of two TTLs, cur being negative while there is none yet.
func minTTL(cur, t time.Duration) time.Duration {
	if cur < 0 || t < cur {
		return t
	}
	return cur
}

// sortMembers sorts by address and keeps each address once (a target listed twice, or two
// targets on one address).
func sortMembers(ms []Member) []Member {
	slices.SortFunc(ms, func(a, b Member) int { return a.Addr.Compare(b.Addr) })
	return slices.CompactFunc(ms, func(a, b Member) bool { return a.Addr == b.Addr })
}

// SystemResolver returns the first nameserver of a resolv.conf file (/etc/resolv.conf), for a
// block that names no resolver.
func SystemResolver(path string) (netip.AddrPort, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("no resolver given, and %w", err)
	}
	port, err := strconv.ParseUint(cc.Port, 10, 16)
	if err != nil {
		port = 53
	}
	for _, s := range cc.Servers {
		if a, err := netip.ParseAddr(s); err == nil {
			return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("no resolver given, and %s names no nameserver", path)
}
