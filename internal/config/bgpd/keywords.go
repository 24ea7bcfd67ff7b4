package bgpd

import (
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// BGP is the bgp block, a vigil extension (Keepalived has no BGP): announce each virtual
// server's address to routers while its pool has quorum, so several active load balancers can
// share an address behind ECMP.
//
//	bgp {
//	    local_as 65001
//	    router_id 192.0.2.1
//	    listen_port 179                 # default: do not listen (vigil dials its neighbours)
//	    hold_down 5                     # seconds between announcing and withdrawing one prefix
//	    max_withdraw 10                 # at most this many withdrawals per hold-down window
//	    graceful_shutdown_wait 5        # at stop: withdraw, wait this long, then stop serving
//	    neighbor 192.0.2.254 {
//	        remote_as 65000
//	        password SECRET
//	        hold_time 9
//	        keepalive 3
//	        port 179
//	        source_address 192.0.2.1
//	    }
//	}
//
// and in a virtual_server: `announce { community 65001:100  med 10  local_pref 200 }`.
type BGP struct {
	Pos                  syntax.Pos      `json:"pos"`
	LocalAS              uint32          `json:"local_as"`
	RouterID             netip.Addr      `json:"router_id"`
	ListenPort           int32           `json:"listen_port"`
	HoldDown             syntax.Duration `json:"hold_down"`
	MaxWithdraw          int             `json:"max_withdraw"`
	GracefulShutdownWait syntax.Duration `json:"graceful_shutdown_wait"`
	Neighbors            []*Neighbor     `json:"neighbors"`
}

// Neighbor is one neighbor block of the bgp block.
type Neighbor struct {
	Pos           syntax.Pos      `json:"pos"`
	Address       netip.Addr      `json:"address"`
	RemoteAS      uint32          `json:"remote_as"`
	Password      string          `json:"password,omitempty"`
	HoldTime      syntax.Duration `json:"hold_time"`
	Keepalive     syntax.Duration `json:"keepalive"`
	Port          uint32          `json:"port"`
	SourceAddress netip.Addr      `json:"source_address,omitzero"`
}

// Announce is a virtual_server's announce block: its address is announced over BGP while the
// pool has quorum.
type Announce struct {
	Pos         syntax.Pos `json:"pos"`
	Communities []string   `json:"communities"`
	MED         *uint32    `json:"med"`
	LocalPref   *uint32    `json:"local_pref"`
	// OnlyWhileMaster names a vrrp_instance: the address is announced only while that
	// instance is MASTER on this node (and the pool has quorum). Empty: quorum alone.
	OnlyWhileMaster string `json:"only_while_master,omitempty"`
	// OnlyWhileMasterPos is where only_while_master was written (not in the JSON form).
	OnlyWhileMasterPos syntax.Pos `json:"-"`
}

var communityRE = regexp.MustCompile(`^[0-9]{1,5}:[0-9]{1,5}$`)

// AddTopKeywords adds the bgp block to t; it fills *dst, which stays nil without one.
func AddTopKeywords(t *syntax.Table, dst **BGP) {
	t.Keywords["bgp"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if *dst != nil {
			p.Diags.Warnf(l.Pos, "bgp block already defined at %s - ignoring this one", (*dst).Pos)
			return nil
		}
		b := &BGP{Pos: l.Pos, ListenPort: -1, HoldDown: syntax.Duration(5 * time.Second), GracefulShutdownWait: syntax.Duration(5 * time.Second)}
		*dst = b
		k := map[string]syntax.Keyword{
			"local_as": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				bgpUint(p, l, 1, 1<<32-1, func(v uint64) { b.LocalAS = uint32(v) })
			}},
			"router_id": {Scalar: func(p *syntax.Parser, l syntax.Line) { bgpAddr(p, l, func(a netip.Addr) { b.RouterID = a }) }},
			"listen_port": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				bgpUint(p, l, 1, 65535, func(v uint64) { b.ListenPort = int32(v) })
			}},
			"hold_down": {Scalar: func(p *syntax.Parser, l syntax.Line) { bgpSeconds(p, l, func(d syntax.Duration) { b.HoldDown = d }) }},
			"graceful_shutdown_wait": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				bgpSeconds(p, l, func(d syntax.Duration) { b.GracefulShutdownWait = d })
			}},
			"max_withdraw": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				bgpUint(p, l, 0, 1<<20, func(v uint64) { b.MaxWithdraw = int(v) })
			}},
			"neighbor": {Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
				n := &Neighbor{Pos: l.Pos, HoldTime: syntax.Duration(90 * time.Second), Keepalive: syntax.Duration(30 * time.Second), Port: 179}
				if !bgpAddr(p, l, func(a netip.Addr) { n.Address = a }) {
					return nil
				}
				b.Neighbors = append(b.Neighbors, n)
				return &syntax.Table{Keywords: map[string]syntax.Keyword{
					"remote_as": {Scalar: func(p *syntax.Parser, l syntax.Line) {
						bgpUint(p, l, 1, 1<<32-1, func(v uint64) { n.RemoteAS = uint32(v) })
					}},
					"password": {Scalar: func(p *syntax.Parser, l syntax.Line) {
						if s, ok := p.Need(l, 1); ok {
							n.Password = s
						}
					}},
					"hold_time":      {Scalar: func(p *syntax.Parser, l syntax.Line) { bgpSeconds(p, l, func(d syntax.Duration) { n.HoldTime = d }) }},
					"keepalive":      {Scalar: func(p *syntax.Parser, l syntax.Line) { bgpSeconds(p, l, func(d syntax.Duration) { n.Keepalive = d }) }},
					"port":           {Scalar: func(p *syntax.Parser, l syntax.Line) { bgpUint(p, l, 1, 65535, func(v uint64) { n.Port = uint32(v) }) }},
					"source_address": {Scalar: func(p *syntax.Parser, l syntax.Line) { bgpAddr(p, l, func(a netip.Addr) { n.SourceAddress = a }) }},
				}, Close: func(p *syntax.Parser, end syntax.Pos) {
					if n.RemoteAS == 0 {
						p.Diags.Errorf(n.Pos, "bgp neighbor %s: remote_as is required", n.Address)
					}
				}}
			}},
		}
		return &syntax.Table{Keywords: k, Close: func(p *syntax.Parser, end syntax.Pos) {
			if b.LocalAS == 0 {
				p.Diags.Errorf(b.Pos, "bgp: local_as is required")
			}
			if !b.RouterID.Is4() {
				p.Diags.Errorf(b.Pos, "bgp: router_id is required, an IPv4 address")
			}
			if len(b.Neighbors) == 0 {
				p.Diags.Warnf(b.Pos, "bgp: no neighbor - nothing will be announced")
			}
		}}
	}}
}

// AnnounceKeyword reads a virtual_server's announce block into *dst.
func AnnounceKeyword(dst **Announce) syntax.Keyword {
	return syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		a := &Announce{Pos: l.Pos}
		*dst = a
		return &syntax.Table{Keywords: map[string]syntax.Keyword{
			"community": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				for _, w := range l.Words[1:] {
					if !communityRE.MatchString(w) {
						p.Diags.Warnf(l.Pos, "announce: community '%s' invalid - expected ASN:VALUE", w)
						continue
					}
					a.Communities = append(a.Communities, w)
				}
			}},
			"med": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				bgpUint(p, l, 0, 1<<32-1, func(v uint64) { m := uint32(v); a.MED = &m })
			}},
			"local_pref": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				bgpUint(p, l, 0, 1<<32-1, func(v uint64) { m := uint32(v); a.LocalPref = &m })
			}},
			"only_while_master": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				if name, ok := p.Need(l, 1); ok {
					a.OnlyWhileMaster, a.OnlyWhileMasterPos = name, l.Pos
				}
			}},
		}}
	}}
}

func bgpUint(p *syntax.Parser, l syntax.Line, min, max uint64, set func(uint64)) {
	s, ok := p.Need(l, 1)
	if !ok {
		return
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < min || v > max {
		p.Diags.Warnf(l.Pos, "%s '%s' invalid - expected a number in [%d, %d]", l.Words[0], s, min, max)
		return
	}
	set(v)
}

func bgpSeconds(p *syntax.Parser, l syntax.Line, set func(syntax.Duration)) {
	s, ok := p.Need(l, 1)
	if !ok {
		return
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 86400 {
		p.Diags.Warnf(l.Pos, "%s '%s' invalid - expected seconds in [0, 86400]", l.Words[0], s)
		return
	}
	set(syntax.Duration(time.Duration(v * float64(time.Second))))
}

func bgpAddr(p *syntax.Parser, l syntax.Line, set func(netip.Addr)) bool {
	s, ok := p.Need(l, 1)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.Diags.Warnf(l.Pos, "%s '%s' invalid - expected an IPv4 or IPv6 address", l.Words[0], s)
		return false
	}
	set(a.Unmap())
	return true
}
