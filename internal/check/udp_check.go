package check

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// DefaultUDPMaxReply is the longest reply a UDP_CHECK accepts when max_reply_length is not set.
const DefaultUDPMaxReply = 255

// DefaultUDPPayload is what a UDP_CHECK without a payload sends.
const DefaultUDPPayload = "vigil UDP_CHECK probe - vigil UD"

// UDPOptions configure a UDP_CHECK.
type UDPOptions struct {
	ConnOptions
	// Payload is the datagram sent (payload). Empty: DefaultUDPPayload, 32 bytes, as long
	// as Keepalived's own filler, since some servers drop an empty datagram unanswered.
	Payload []byte
	// RequireReply makes a reply necessary (require_reply). Without it the target is healthy
	// unless an ICMP error comes back before the deadline, so the check lasts its whole timeout
	// when the server stays silent, as in Keepalived.
	RequireReply bool
	// Reply, when set, must match the start of the reply over the shorter of the two lengths
	// (require_reply HEX_STR).
	Reply []byte
	// ReplyMask has a bit set for every bit of Reply to ignore (the X digits); nil compares all.
	ReplyMask []byte
	// MinReplyLen and MaxReplyLen bound the reply's length (min_reply_length,
	// max_reply_length); MaxReplyLen 0 means DefaultUDPMaxReply.
	MinReplyLen int
	MaxReplyLen int
}

// UDPKind is UDP_CHECK's block.
var UDPKind = Kind{Name: "UDP_CHECK", JSON: "udp", Shared: Timing | Connection, Block: func(b *Block) Options {
	o := &UDPOptions{MaxReplyLen: DefaultUDPMaxReply}
	k := b.Keywords
	k["payload"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) == 1 {
			p.Diags.Warnf(l.Pos, "UDP_CHECK payload requires a payload")
			return
		}
		data, _, err := ParseHexPattern(strings.Join(l.Words[1:], " "), false)
		if err != nil {
			p.Diags.Warnf(l.Pos, "Invalid hex string for UDP_CHECK payload")
			return
		}
		o.Payload = data
	}}
	k["require_reply"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		o.RequireReply = true
		if len(l.Words) == 1 {
			return
		}
		data, mask, err := ParseHexPattern(strings.Join(l.Words[1:], " "), true)
		if err != nil {
			p.Diags.Warnf(l.Pos, "Invalid hex string for UDP_CHECK reply")
			return
		}
		o.Reply, o.ReplyMask = data, mask
	}}
	length := func(which string, set func(int)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if _, ok := p.Need(l, 1); !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, l.Words[1], 0, 65535)
			if !ok {
				p.Diags.Warnf(l.Pos, "UDP_CHECK %s length %s not valid - must be between 0 & 65535", which, l.Words[1])
				return
			}
			set(int(v))
		}}
	}
	k["min_reply_length"] = length("min", func(v int) { o.MinReplyLen = v })
	k["max_reply_length"] = length("max", func(v int) { o.MaxReplyLen = v })
	b.Close = func(p *syntax.Parser, end syntax.Pos) bool {
		if o.MinReplyLen > o.MaxReplyLen {
			p.Diags.Warnf(end, "UDP_CHECK min_reply length %d > max_reply_length %d - will always fail", o.MinReplyLen, o.MaxReplyLen)
		}
		return true
	}
	return o
}}

// MarshalJSON shows the options under Keepalived's names; reply_mask has, as it always had
// there, a bit set for every bit of reply_data that must match.
func (o UDPOptions) MarshalJSON() ([]byte, error) {
	var mask []byte
	for _, m := range o.ReplyMask {
		mask = append(mask, ^m)
	}
	return json.Marshal(struct {
		Payload        []byte `json:"payload,omitempty"`
		RequireReply   bool   `json:"require_reply"`
		ReplyData      []byte `json:"reply_data,omitempty"`
		ReplyMask      []byte `json:"reply_mask,omitempty"`
		MinReplyLength int    `json:"min_reply_length"`
		MaxReplyLength int    `json:"max_reply_length"`
	}{o.Payload, o.RequireReply, o.Reply, mask, o.MinReplyLen, o.MaxReplyLen})
}

// New builds the UDP_CHECK.
func (o UDPOptions) New(env Env) (probe.Checker, error) {
	o.ConnOptions = env.Conn
	return NewUDP(o)
}

// ParseHexPattern reads a HEX_STR as Keepalived does for payload and require_reply: hex digits
// are taken in pairs, a lone digit before a space or the end is one byte ("Ab12f 3" is AB 12 0F
// 03), spaces and tabs separate. With wildcards, X or x stands for four bits to ignore: their
// bits are set in mask, which is nil when no X appears.
func ParseHexPattern(s string, wildcards bool) (data, mask []byte, err error) {
	digit := func(ch byte) (v byte, wild bool, ok bool) {
		switch {
		case ch >= '0' && ch <= '9':
			return ch - '0', false, true
		case ch >= 'a' && ch <= 'f':
			return ch - 'a' + 10, false, true
		case ch >= 'A' && ch <= 'F':
			return ch - 'A' + 10, false, true
		case wildcards && (ch == 'x' || ch == 'X'):
			return 0, true, true
		}
		return 0, false, false
	}
	masked := false
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		v, w, ok := digit(s[i])
		if !ok {
			return nil, nil, fmt.Errorf("hex string %q: offset %d: %q is not a hex digit", s, i, s[i])
		}
		var m byte
		if w {
			m = 0x0f
		}
		i++
		if i < len(s) && s[i] != ' ' && s[i] != '\t' {
			v2, w2, ok := digit(s[i])
			if !ok {
				return nil, nil, fmt.Errorf("hex string %q: offset %d: %q is not a hex digit", s, i, s[i])
			}
			v, m = v<<4|v2, m<<4
			if w2 {
				m |= 0x0f
			}
			i++
		}
		masked = masked || m != 0
		data = append(data, v)
		mask = append(mask, m)
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("hex string %q: no bytes", s)
	}
	if !masked {
		mask = nil
	}
	return data, mask, nil
}

// UDPChecker is Keepalived's UDP_CHECK: send the payload on a connected UDP socket; an ICMP
// error (port unreachable) means down; with RequireReply a reply of the right length and
// content must arrive before the deadline.
type UDPChecker struct {
	opts   UDPOptions
	dialer *net.Dialer
	addr   string
	key    string
	maxLen int
}

// NewUDP returns a UDP_CHECK of opts.Addr. It fails when ReplyMask and Reply differ in length
// or the length bounds contradict each other.
func NewUDP(opts UDPOptions) (*UDPChecker, error) {
	addr := opts.Addr.String()
	if len(opts.Payload) == 0 {
		opts.Payload = []byte(DefaultUDPPayload)
	}
	maxLen := opts.MaxReplyLen
	if maxLen == 0 {
		maxLen = DefaultUDPMaxReply
	}
	if opts.ReplyMask != nil && len(opts.ReplyMask) != len(opts.Reply) {
		return nil, fmt.Errorf("UDP_CHECK %s: reply mask of %d bytes for a reply of %d", addr, len(opts.ReplyMask), len(opts.Reply))
	}
	if opts.MinReplyLen < 0 || maxLen < 0 || maxLen > 65535 || opts.MinReplyLen > maxLen {
		return nil, fmt.Errorf("UDP_CHECK %s: reply length %d-%d: want 0 <= min <= max <= 65535", addr, opts.MinReplyLen, maxLen)
	}
	key := fmt.Sprintf("UDP_CHECK %s payload=%s", addr, hex.EncodeToString(opts.Payload))
	if opts.RequireReply {
		key += fmt.Sprintf(" reply=%s/%s len=%d-%d", hex.EncodeToString(opts.Reply), hex.EncodeToString(opts.ReplyMask), opts.MinReplyLen, maxLen)
	}
	return &UDPChecker{
		opts:   opts,
		dialer: opts.dialer("udp"),
		addr:   addr,
		key:    key + opts.keySuffix(),
		maxLen: maxLen,
	}, nil
}

// Kind returns "UDP_CHECK".
func (c *UDPChecker) Kind() string { return "UDP_CHECK" }

// Target returns the address probed.
func (c *UDPChecker) Target() string { return c.addr }

// Key returns "UDP_CHECK <addr> payload=<hex>[ reply=<hex>/<mask hex> len=<min>-<max>][ bind=..]
// [ if=..][ mark=..]".
func (c *UDPChecker) Key() string { return c.key }

// Check sends the payload and waits for a reply or an ICMP error.
func (c *UDPChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	conn, err := c.dialer.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return probeResult(start, false, failReason(ctx, "connect", err))
	}
	defer conn.Close()
	stop := bindConn(ctx, conn)
	defer stop()
	if _, err := conn.Write(c.opts.Payload); err != nil {
		return probeResult(start, false, udpFailure(ctx, "send", err))
	}
	// One byte more than the longest reply accepted, so that a longer one is seen as such.
	var small [256]byte
	buf := small[:]
	if c.maxLen+1 > len(small) {
		buf = make([]byte, c.maxLen+1)
	} else {
		buf = small[:c.maxLen+1]
	}
	n, err := conn.Read(buf)
	if err != nil {
		if !c.opts.RequireReply && errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(ctx.Err(), context.Canceled) {
			return probeResult(start, true, "no reply and no ICMP error before the deadline")
		}
		return probeResult(start, false, udpFailure(ctx, "read reply", err))
	}
	if !c.opts.RequireReply {
		return probeResult(start, true, fmt.Sprintf("reply of %d bytes", n))
	}
	if n < c.opts.MinReplyLen || n > c.maxLen {
		if n > c.maxLen {
			return probeResult(start, false, fmt.Sprintf("reply longer than %d bytes, expected %d-%d", c.maxLen, c.opts.MinReplyLen, c.maxLen))
		}
		return probeResult(start, false, fmt.Sprintf("reply of %d bytes, expected %d-%d", n, c.opts.MinReplyLen, c.maxLen))
	}
	for i := 0; i < n && i < len(c.opts.Reply); i++ {
		ignore := byte(0)
		if c.opts.ReplyMask != nil {
			ignore = c.opts.ReplyMask[i]
		}
		if (buf[i]^c.opts.Reply[i])&^ignore != 0 {
			return probeResult(start, false, fmt.Sprintf("reply byte %d is %#02x, expected %#02x", i, buf[i], c.opts.Reply[i]))
		}
	}
	return probeResult(start, true, fmt.Sprintf("reply of %d bytes", n))
}

// udpFailure words an error of a UDP probe, naming ICMP port unreachable as such.
func udpFailure(ctx context.Context, step string, err error) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return step + ": port unreachable"
	}
	return failReason(ctx, step, err)
}
