package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"time"
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
	Pos                  Pos            `json:"pos"`
	LocalAS              uint32         `json:"local_as"`
	RouterID             netip.Addr     `json:"router_id"`
	ListenPort           int32          `json:"listen_port"`
	HoldDown             Duration       `json:"hold_down"`
	MaxWithdraw          int            `json:"max_withdraw"`
	GracefulShutdownWait Duration       `json:"graceful_shutdown_wait"`
	Neighbors            []*BGPNeighbor `json:"neighbors"`
}

// BGPNeighbor is one neighbor block of the bgp block.
type BGPNeighbor struct {
	Pos           Pos        `json:"pos"`
	Address       netip.Addr `json:"address"`
	RemoteAS      uint32     `json:"remote_as"`
	Password      string     `json:"password,omitempty"`
	HoldTime      Duration   `json:"hold_time"`
	Keepalive     Duration   `json:"keepalive"`
	Port          uint32     `json:"port"`
	SourceAddress netip.Addr `json:"source_address,omitzero"`
}

// Announce is a virtual_server's announce block: its address is announced over BGP while the
// pool has quorum.
type Announce struct {
	Pos         Pos      `json:"pos"`
	Communities []string `json:"communities"`
	MED         *uint32  `json:"med"`
	LocalPref   *uint32  `json:"local_pref"`
	// OnlyWhileMaster names a vrrp_instance: the address is announced only while that
	// instance is MASTER on this node (and the pool has quorum). Empty: quorum alone.
	OnlyWhileMaster    string `json:"only_while_master,omitempty"`
	onlyWhileMasterPos Pos
}

var communityRE = regexp.MustCompile(`^[0-9]{1,5}:[0-9]{1,5}$`)

func addBGPTopKeywords(c *Config, t *table) {
	t.keywords["bgp"] = keyword{block: func(p *parser, l Line) *table {
		if c.BGP != nil {
			p.diags.Warnf(l.Pos, "bgp block already defined at %s - ignoring this one", c.BGP.Pos)
			return nil
		}
		b := &BGP{Pos: l.Pos, ListenPort: -1, HoldDown: Duration(5 * time.Second), GracefulShutdownWait: Duration(5 * time.Second)}
		c.BGP = b
		k := map[string]keyword{
			"local_as":  {scalar: func(p *parser, l Line) { bgpUint(p, l, 1, 1<<32-1, func(v uint64) { b.LocalAS = uint32(v) }) }},
			"router_id": {scalar: func(p *parser, l Line) { bgpAddr(p, l, func(a netip.Addr) { b.RouterID = a }) }},
			"listen_port": {scalar: func(p *parser, l Line) {
				bgpUint(p, l, 1, 65535, func(v uint64) { b.ListenPort = int32(v) })
			}},
			"hold_down":              {scalar: func(p *parser, l Line) { bgpSeconds(p, l, func(d Duration) { b.HoldDown = d }) }},
			"graceful_shutdown_wait": {scalar: func(p *parser, l Line) { bgpSeconds(p, l, func(d Duration) { b.GracefulShutdownWait = d }) }},
			"max_withdraw":           {scalar: func(p *parser, l Line) { bgpUint(p, l, 0, 1<<20, func(v uint64) { b.MaxWithdraw = int(v) }) }},
			"neighbor": {block: func(p *parser, l Line) *table {
				n := &BGPNeighbor{Pos: l.Pos, HoldTime: Duration(90 * time.Second), Keepalive: Duration(30 * time.Second), Port: 179}
				if !bgpAddr(p, l, func(a netip.Addr) { n.Address = a }) {
					return nil
				}
				b.Neighbors = append(b.Neighbors, n)
				return &table{keywords: map[string]keyword{
					"remote_as": {scalar: func(p *parser, l Line) { bgpUint(p, l, 1, 1<<32-1, func(v uint64) { n.RemoteAS = uint32(v) }) }},
					"password": {scalar: func(p *parser, l Line) {
						if s, ok := p.need(l, 1); ok {
							n.Password = s
						}
					}},
					"hold_time":      {scalar: func(p *parser, l Line) { bgpSeconds(p, l, func(d Duration) { n.HoldTime = d }) }},
					"keepalive":      {scalar: func(p *parser, l Line) { bgpSeconds(p, l, func(d Duration) { n.Keepalive = d }) }},
					"port":           {scalar: func(p *parser, l Line) { bgpUint(p, l, 1, 65535, func(v uint64) { n.Port = uint32(v) }) }},
					"source_address": {scalar: func(p *parser, l Line) { bgpAddr(p, l, func(a netip.Addr) { n.SourceAddress = a }) }},
				}, close: func(p *parser, end Pos) {
					if n.RemoteAS == 0 {
						p.diags.Errorf(n.Pos, "bgp neighbor %s: remote_as is required", n.Address)
					}
				}}
			}},
		}
		return &table{keywords: k, close: func(p *parser, end Pos) {
			if b.LocalAS == 0 {
				p.diags.Errorf(b.Pos, "bgp: local_as is required")
			}
			if !b.RouterID.Is4() {
				p.diags.Errorf(b.Pos, "bgp: router_id is required, an IPv4 address")
			}
			if len(b.Neighbors) == 0 {
				p.diags.Warnf(b.Pos, "bgp: no neighbor - nothing will be announced")
			}
		}}
	}}
}

// announceKeyword reads a virtual_server's announce block.
func announceKeyword(vs *VirtualServer) keyword {
	return keyword{block: func(p *parser, l Line) *table {
		a := &Announce{Pos: l.Pos}
		vs.Announce = a
		return &table{keywords: map[string]keyword{
			"community": {scalar: func(p *parser, l Line) {
				for _, w := range l.Words[1:] {
					if !communityRE.MatchString(w) {
						p.diags.Warnf(l.Pos, "announce: community '%s' invalid - expected ASN:VALUE", w)
						continue
					}
					a.Communities = append(a.Communities, w)
				}
			}},
			"med": {scalar: func(p *parser, l Line) { bgpUint(p, l, 0, 1<<32-1, func(v uint64) { m := uint32(v); a.MED = &m }) }},
			"local_pref": {scalar: func(p *parser, l Line) {
				bgpUint(p, l, 0, 1<<32-1, func(v uint64) { m := uint32(v); a.LocalPref = &m })
			}},
			"only_while_master": {scalar: func(p *parser, l Line) {
				if name, ok := p.need(l, 1); ok {
					a.OnlyWhileMaster, a.onlyWhileMasterPos = name, l.Pos
				}
			}},
		}}
	}}
}

func bgpUint(p *parser, l Line, min, max uint64, set func(uint64)) {
	s, ok := p.need(l, 1)
	if !ok {
		return
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < min || v > max {
		p.diags.Warnf(l.Pos, "%s '%s' invalid - expected a number in [%d, %d]", l.Words[0], s, min, max)
		return
	}
	set(v)
}

func bgpSeconds(p *parser, l Line, set func(Duration)) {
	s, ok := p.need(l, 1)
	if !ok {
		return
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 86400 {
		p.diags.Warnf(l.Pos, "%s '%s' invalid - expected seconds in [0, 86400]", l.Words[0], s)
		return
	}
	set(Duration(time.Duration(v * float64(time.Second))))
}

func bgpAddr(p *parser, l Line, set func(netip.Addr)) bool {
	s, ok := p.need(l, 1)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.diags.Warnf(l.Pos, "%s '%s' invalid - expected an IPv4 or IPv6 address", l.Words[0], s)
		return false
	}
	set(a.Unmap())
	return true
}

// finishBGP checks announce blocks against the bgp block once everything is read.
func (c *Config) finishBGP(p *parser) {
	for _, vs := range c.VirtualServers {
		if vs.Announce == nil {
			continue
		}
		if c.BGP == nil {
			p.diags.Warnf(vs.Announce.Pos, "announce without a bgp block - nothing will be announced")
		}
		if vs.Kind != VSKindAddress {
			p.diags.Warnf(vs.Announce.Pos, "announce: only virtual servers with an address can be announced - %s ignored", fmt.Sprint(vs.Name()))
			vs.Announce = nil
			continue
		}
		// An unknown instance is an error, not a warning: ignoring the condition would
		// announce from a node that is not master and pull traffic to it.
		if a := vs.Announce; a.OnlyWhileMaster != "" && !slices.ContainsFunc(c.VRRPInstances, func(in *VRRPInstance) bool { return in.Name == a.OnlyWhileMaster }) {
			p.diags.Errorf(a.onlyWhileMasterPos, "announce: only_while_master %s: no vrrp_instance of that name", a.OnlyWhileMaster)
		}
	}
}
