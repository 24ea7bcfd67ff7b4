package check

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// DNSOptions configure a DNS_CHECK.
type DNSOptions struct {
	ConnOptions
	// Name is the name queried (name); empty means the root, ".".
	Name string
	// Type is the query type (type), a dns.Type* value; 0 means SOA.
	Type uint16
}

// dnsTypes are the query types DNS_CHECK accepts (case-insensitive), as Keepalived does.
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"}

// DNSKind is DNS_CHECK's block. A DNS check retries 3 times, a delay loop apart.
var DNSKind = Kind{Name: "DNS_CHECK", JSON: "dns", Shared: Timing | Connection,
	Defaults: func(delayLoop time.Duration) (uint32, time.Duration) { return 3, delayLoop },
	Block: func(b *Block) Options {
		o := &DNSOptions{Type: dns.TypeSOA}
		nameSet := false
		b.Keywords["type"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if _, ok := p.Need(l, 1); !ok {
				return
			}
			i := slices.IndexFunc(dnsTypes, func(t string) bool { return strings.EqualFold(t, l.Words[1]) })
			if i < 0 {
				p.Diags.Warnf(l.Pos, "Unknown DNS check type %s - ignoring", l.Words[1])
				return
			}
			o.Type = dns.StringToType[dnsTypes[i]]
		}}
		b.Keywords["name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if _, ok := p.Need(l, 1); !ok {
				return
			}
			if nameSet {
				p.Diags.Warnf(l.Pos, "DNS_CHECK name already specified - ignoring")
				return
			}
			n := l.Words[1]
			if (strings.HasPrefix(n, ".") && n != ".") || strings.Contains(n, "..") {
				p.Diags.Warnf(l.Pos, "DNS_CHECK name '%s' has empty label - ignoring", n)
				return
			}
			o.Name, nameSet = n, true
		}}
		return o
	}}

// MarshalJSON shows the options as written: {"type": "SOA", "name": ""}.
func (o DNSOptions) MarshalJSON() ([]byte, error) {
	t := dns.TypeToString[o.Type]
	if o.Type == 0 {
		t = "SOA"
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}{t, o.Name})
}

// New builds the DNS_CHECK.
func (o DNSOptions) New(env Env) (probe.Checker, error) {
	o.ConnOptions = env.Conn
	return NewDNS(o)
}

// DNSChecker is Keepalived's DNS_CHECK: one recursive query over UDP; the target is healthy when
// a reply with the query's ID arrives with RCODE NOERROR. As in Keepalived, the reply need not
// carry an answer. An ICMP port unreachable fails the check at once.
type DNSChecker struct {
	dialer *net.Dialer
	addr   string
	key    string
	query  []byte // packed query; the ID is rewritten for each probe
}

// NewDNS returns a DNS_CHECK of opts.Addr. It fails when the name cannot be encoded.
func NewDNS(opts DNSOptions) (*DNSChecker, error) {
	name := opts.Name
	if name == "" {
		name = "."
	}
	qtype := opts.Type
	if qtype == 0 {
		qtype = dns.TypeSOA
	}
	addr := opts.Addr.String()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	query, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("DNS_CHECK %s: name %q type %s: %w", addr, name, dns.TypeToString[qtype], err)
	}
	typeName := dns.TypeToString[qtype]
	if typeName == "" {
		typeName = fmt.Sprintf("TYPE%d", qtype)
	}
	return &DNSChecker{
		dialer: opts.dialer("udp"),
		addr:   addr,
		key:    "DNS_CHECK " + addr + " " + dns.Fqdn(name) + " " + typeName + opts.keySuffix(),
		query:  query,
	}, nil
}

// Kind returns "DNS_CHECK".
func (c *DNSChecker) Kind() string { return "DNS_CHECK" }

// Target returns the address probed.
func (c *DNSChecker) Target() string { return c.addr }

// Key returns "DNS_CHECK <addr> <fqdn> <TYPE>[ bind=..][ if=..][ mark=..]".
func (c *DNSChecker) Key() string { return c.key }

// Check sends the query and waits for its reply.
func (c *DNSChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	conn, err := c.dialer.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return probeResult(start, false, failReason(ctx, "connect", err))
	}
	defer conn.Close()
	stop := bindConn(ctx, conn)
	defer stop()

	var buf [512]byte
	q := buf[:len(c.query)]
	if len(c.query) > len(buf) {
		q = make([]byte, len(c.query))
	}
	copy(q, c.query)
	id := uint16(rand.Uint32())
	binary.BigEndian.PutUint16(q, id)
	if _, err := conn.Write(q); err != nil {
		return probeResult(start, false, failReason(ctx, "send query", err))
	}
	for {
		// Only the header matters; a longer datagram is cut by the kernel to fit the buffer.
		n, err := conn.Read(buf[:])
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return probeResult(start, false, "read reply: port unreachable")
			}
			return probeResult(start, false, failReason(ctx, "read reply", err))
		}
		if ours, healthy, reason := dnsReply(buf[:n], id); ours {
			return probeResult(start, healthy, reason)
		}
	}
}

// dnsReply judges a datagram read after the query with ID id: ours is false when it is not the
// reply (too short, someone else's, or not a response: the probe keeps waiting, as Keepalived
// does); otherwise healthy says whether its RCODE is NOERROR, and reason says what it was. Only
// the header is read.
func dnsReply(b []byte, id uint16) (ours, healthy bool, reason string) {
	if len(b) < 12 || binary.BigEndian.Uint16(b[:2]) != id || b[2]&0x80 == 0 {
		return false, false, ""
	}
	rcode := int(b[3] & 0x0f)
	if rcode != dns.RcodeSuccess {
		name := dns.RcodeToString[rcode]
		if name == "" {
			name = strconv.Itoa(rcode) // 12 to 15 are unassigned
		}
		return true, false, "reply RCODE " + name + ", expected NOERROR"
	}
	return true, true, fmt.Sprintf("reply NOERROR, %d answers", binary.BigEndian.Uint16(b[6:8]))
}
