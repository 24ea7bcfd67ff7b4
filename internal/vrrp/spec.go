package vrrp

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
)

// spec is one instance's configuration, resolved into what the I/O layer uses.
type spec struct {
	name   string
	ifname string
	vrid   uint8
	ipv6   bool
	group  string // sync group, if any
	fsm    fsm.Config
	expect packet.Expect
	ahKey  [packet.AuthDataLen]byte
	hmac   *hmacSpec // auth_hmac; nil without
	// checksumAsV2 is v3_checksum_as_v2: VRRPv3 IPv4 checksums without the pseudo-header.
	checksumAsV2 bool
	srcIP        netip.Addr   // unicast_src_ip / mcast_src_ip; invalid: the interface's primary
	dsts         []netip.Addr // multicast group, or the unicast peers
	unicast      bool
	peerTTL      map[netip.Addr][2]int // unicast_peer min_ttl, max_ttl
	notifyPrio   bool                  // notify_priority_changes
	ttl          int
	vips         []netif.Address // virtual_ipaddress then virtual_ipaddress_excluded
	routes       []netif.Route   // virtual_routes
	rules        []netif.Rule    // virtual_rules
	held         heldSpec        // the vips, routes and rules without no_track (reconcile.go)
	advVIPs      []netip.Addr    // the addresses the adverts carry
	vmac         *vmacSpec       // use_vmac; nil without
	garp         garpSpec
	garpLower    garpSpec
	notify       notifySpec
	tracks       []trackRef
	key          string // the configuration as compared on reload
	advertInt    time.Duration
}

type garpSpec struct {
	delay, refresh        time.Duration
	repeat, refreshRepeat int
	// interval4 and interval6 pace consecutive gratuitous ARPs and NAs (vrrp_garp_interval,
	// vrrp_gna_interval).
	interval4, interval6 time.Duration
}

// lowerPrio is the announcement a master makes when it hears a lower priority advert
// (garp_lower_prio_delay and _repeat), keeping the master's refresh.
func (g garpSpec) lowerPrio(delay time.Duration, repeat int) garpSpec {
	return garpSpec{delay: delay, repeat: repeat, refresh: g.refresh, refreshRepeat: g.refreshRepeat,
		interval4: g.interval4, interval6: g.interval6}
}

type notifySpec struct {
	master, backup, fault, stop, generic, rxLowerPri *syntax.Script
}

// trackRef is one tracked object of an instance with the weight it carries here.
type trackRef struct {
	kind    string // "interface", "script", "file", "vs" (a virtual server's pool)
	name    string
	weight  int
	reverse bool
}

func (t trackRef) key() string { return t.kind + ":" + t.name }

// effect turns a tracked object's state into a fault or a priority change as Keepalived does:
// weight 0 faults the instance when the object is down (up, with reverse); otherwise a positive
// weight is added while the object is up and a negative one while it is down, negated by
// reverse. A file's value is multiplied by the weight instead (weight 0: a non-zero value is a
// fault), and a total below -253 is a fault.
func (t trackRef) effect(u trackUpdate) (fault bool, delta int) {
	mult := 1
	if t.reverse {
		mult = -1
	}
	if t.kind == "file" {
		if t.weight == 0 {
			return (u.value != 0) == (mult == 1), 0
		}
		d := u.value * t.weight * mult
		if d < -253 {
			return true, 0
		}
		return false, d
	}
	up := u.up
	if t.weight == 0 {
		return up != (mult == 1), 0
	}
	if up && t.weight > 0 || !up && t.weight < 0 {
		return false, t.weight * mult
	}
	return false, 0
}

func newSpec(c *config.Config, v *vrrpd.Instance) (*spec, error) {
	if v.Unusable {
		return nil, syntax.ErrorAt(v.Pos, "vrrp %s: instance is unusable as configured", v.Name)
	}
	if v.Interface == "" {
		return nil, syntax.ErrorAt(v.Pos, "vrrp %s: an interface is required (unicast without interface is not supported)", v.Name)
	}
	if v.UseIPVLAN {
		return nil, syntax.ErrorAt(v.Pos, "vrrp %s: use_ipvlan is not supported", v.Name)
	}
	s := &spec{
		name:      v.Name,
		ifname:    v.Interface,
		vrid:      uint8(v.VirtualRouterID),
		ipv6:      v.Family == "inet6",
		group:     v.SyncGroup,
		advertInt: v.AdvertInt.D(),
	}
	if v.VirtualRouterID < 1 || v.VirtualRouterID > 255 {
		return nil, syntax.ErrorAt(v.Pos, "vrrp %s: virtual_router_id %d: want 1 to 255", v.Name, v.VirtualRouterID)
	}
	initial := fsm.Backup
	if v.State == "MASTER" {
		initial = fsm.Master
	}
	s.fsm = fsm.Config{
		Version:              uint8(v.Version),
		Priority:             uint8(v.Priority),
		AdvertInterval:       v.AdvertInt.D(),
		InitialState:         initial,
		Nopreempt:            v.Nopreempt,
		PreemptDelay:         v.PreemptDelay.D(),
		DownTimerAdverts:     v.DownTimerAdverts,
		LowerPrioNoAdvert:    v.LowerPrioNoAdvert,
		HigherPrioSendAdvert: v.HigherPrioSendAdvert,
		Synced:               v.SyncGroup != "",
		OwnerIgnoreAdverts:   v.OwnerIgnoreAdverts,
	}
	if s.ipv6 && v.Version == 2 {
		return nil, syntax.ErrorAt(v.Pos, "vrrp %s: VRRP version 2 cannot carry IPv6 addresses; use version 3", v.Name)
	}
	// Check the machine's configuration now rather than at every retry of the socket.
	probe := s.fsm
	probe.Addr = netip.IPv4Unspecified()
	if _, err := fsm.New(probe); err != nil {
		return nil, syntax.ErrorAt(v.Pos, "vrrp %s: %w", v.Name, err)
	}
	s.expect = packet.Expect{Version: uint8(v.Version), Interval: packet.IntervalFromDuration(uint8(v.Version), v.AdvertInt.D())}
	if a := v.Authentication; a != nil && v.Version == 2 {
		switch a.Type {
		case "PASS":
			s.expect.AuthType = packet.AuthPass
			s.expect.AuthData = packet.PassData(a.Pass)
		case "AH":
			s.expect.AuthType = packet.AuthAH
			s.ahKey = packet.AHKey(a.Pass)
		}
	}
	s.hmac = newHMACSpec(v.AuthHMAC)
	s.expect.Trailer = s.hmac.policy()
	s.checksumAsV2 = v.V3ChecksumAsV2
	s.srcIP = v.UnicastSrcIP
	if !s.srcIP.IsValid() {
		s.srcIP = v.McastSrcIP
	}
	if len(v.UnicastPeers) > 0 {
		s.unicast = true
		s.peerTTL = map[netip.Addr][2]int{}
		for _, p := range v.UnicastPeers {
			s.dsts = append(s.dsts, p.Addr)
			s.peerTTL[p.Addr] = [2]int{p.MinTTL, p.MaxTTL}
		}
		s.ttl = 255
		if v.UnicastTTL > 0 {
			s.ttl = v.UnicastTTL
		}
	} else {
		s.dsts = []netip.Addr{v.McastDstIP}
		s.ttl = packet.HopLimit
	}
	untracked := map[int]bool{} // indexes in s.vips
	for _, list := range [][]*vrrpd.VirtualIP{v.VirtualIPAddresses, v.VirtualIPAddressesExcluded} {
		for _, vip := range list {
			a, err := toAddress(vip, v.Interface)
			if err != nil {
				return nil, syntax.ErrorAt(vip.Pos, "vrrp %s: %w", v.Name, err)
			}
			untracked[len(s.vips)] = vip.NoTrack
			s.vips = append(s.vips, a)
		}
	}
	if err := s.applyVMAC(c, v); err != nil {
		return nil, err
	}
	for i, a := range s.vips { // after applyVMAC, which may move them to the VMAC
		if !untracked[i] {
			s.held.vips = append(s.held.vips, a)
		}
	}
	for _, r := range v.VirtualRoutes {
		nr, err := toRoute(r, s.ipv6)
		if err != nil {
			return nil, syntax.ErrorAt(r.Pos, "vrrp %s: virtual_routes: %w", v.Name, err)
		}
		s.routes = append(s.routes, nr)
		if !r.NoTrack {
			s.held.routes = append(s.held.routes, nr)
		}
	}
	if err := s.addRules(v); err != nil {
		return nil, err
	}
	for _, vip := range v.VirtualIPAddresses {
		if vip.Prefix.Addr().Is6() == s.ipv6 {
			s.advVIPs = append(s.advVIPs, vip.Prefix.Addr())
		}
	}
	s.expect.VIPs = s.advVIPs
	s.garp = garpSpec{
		delay:         v.GarpMasterDelay.D(),
		repeat:        v.GarpMasterRepeat,
		refresh:       v.GarpMasterRefresh.D(),
		refreshRepeat: v.GarpMasterRefreshRepeat,
		interval4:     c.Global.VRRPGarpInterval.D(),
		interval6:     c.Global.VRRPGnaInterval.D(),
	}
	s.notifyPrio = v.NotifyPriorityChanges
	s.garpLower = s.garp.lowerPrio(v.GarpLowerPrioDelay.D(), v.GarpLowerPrioRepeat)
	s.notify = notifySpec{
		master: v.NotifyMaster, backup: v.NotifyBackup, fault: v.NotifyFault,
		stop: v.NotifyStop, generic: v.Notify, rxLowerPri: v.NotifyMasterRxLowerPri,
	}
	if !v.DontTrackPrimary {
		s.tracks = append(s.tracks, trackRef{kind: "interface", name: v.Interface})
	}
	s.tracks = append(s.tracks, groupTracks(c, v)...)
	s.tracks = append(s.tracks, poolTracks(v)...)
	key, err := instanceKey(c, v)
	if err != nil {
		return nil, err
	}
	s.key = key + groupTracksKey(c, v) + s.hmac.key()
	return s, nil
}

// routeOptions are the virtual_routes options vigil installs, with how many arguments each
// takes.
var routeOptions = map[string]int{
	"src": 1, "via": 1, "gw": 1, "dev": 1, "oif": 1, "table": 1, "metric": 1, "preference": 1,
	"priority": 1, "scope": 1, "no_track": 0, "track_group": 1,
}

// toRoute turns a virtual_routes line into the route to install; options beyond the ones
// parsed (nexthop, onlink, mtu...) are refused rather than silently dropped.
func toRoute(r *vrrpd.VirtualRoute, ipv6 bool) (netif.Route, error) {
	out := netif.Route{}
	w := r.Words
	seenDest := false
	for i := 0; i < len(w); i++ {
		if n, ok := routeOptions[w[i]]; ok {
			i += n
			if i < len(w) && w[i] == "lock" {
				i++
			}
			continue
		}
		if w[i] == "to" || w[i] == r.Type && !seenDest || w[i] == r.Dest && !seenDest {
			seenDest = seenDest || w[i] == r.Dest
			continue
		}
		return out, fmt.Errorf("option %q is not supported", w[i])
	}
	if r.Dest == "default" {
		fam6 := ipv6
		if r.Via.IsValid() {
			fam6 = r.Via.Is6()
		} else if r.Src.IsValid() {
			fam6 = r.Src.Is6()
		}
		out.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if fam6 {
			out.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	} else {
		p, err := netip.ParsePrefix(r.Dest)
		if err != nil {
			a, err2 := netip.ParseAddr(r.Dest)
			if err2 != nil {
				return out, fmt.Errorf("destination %q: %w", r.Dest, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out.Dst = p.Masked()
	}
	out.Src, out.Via, out.Dev = r.Src, r.Via, r.Dev
	var err error
	if out.Type, err = netif.ParseRouteType(r.Type); err != nil {
		return out, err
	}
	if out.Table, err = netif.ParseTable(r.Table); err != nil {
		return out, err
	}
	if r.Metric != "" {
		if out.Metric, err = strconv.Atoi(r.Metric); err != nil {
			return out, fmt.Errorf("metric %q: want a number", r.Metric)
		}
	}
	if r.Scope != "" {
		if out.Scope, err = netif.ParseScope(r.Scope); err != nil {
			return out, err
		}
	}
	return out, nil
}

// toAddress turns a virtual_ipaddress line into the address to put on the interface.
func toAddress(vip *vrrpd.VirtualIP, defDev string) (netif.Address, error) {
	a := netif.Address{Prefix: vip.Prefix, Link: vip.Dev, Label: vip.Label, Peer: vip.Peer}
	if a.Link == "" {
		a.Link = defDev
	}
	if vip.Scope != "" {
		sc, err := netif.ParseScope(vip.Scope)
		if err != nil {
			return a, err
		}
		a.Scope = sc
	}
	switch vip.Broadcast {
	case "", "-":
	case "+":
		if vip.Prefix.Addr().Is4() && vip.Prefix.Bits() < 31 {
			b := vip.Prefix.Masked().Addr().As4()
			host := uint32(1)<<(32-vip.Prefix.Bits()) - 1
			n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
			a.Broadcast = netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		}
	default:
		b, err := netip.ParseAddr(vip.Broadcast)
		if err != nil {
			return a, fmt.Errorf("broadcast %q: %w", vip.Broadcast, err)
		}
		a.Broadcast = b
	}
	// IPv6 virtual addresses skip duplicate address detection: the address is ours by
	// election, and it must answer at once.
	a.NoDAD = vip.Prefix.Addr().Is6()
	for _, f := range vip.Flags {
		switch f {
		case "-nodad", "nodad":
			a.NoDAD = true
		case "noprefixroute":
			a.NoPrefixRoute = true
		}
	}
	return a, nil
}

// instanceKey is the instance's configuration with positions removed, together with the
// vrrp_scripts and track files it uses: two instances with the same key need no restart.
func instanceKey(c *config.Config, v *vrrpd.Instance) (string, error) {
	used := map[string]bool{}
	for _, t := range v.TrackScripts {
		used[t.Name] = true
	}
	var scripts []*vrrpd.Script
	for _, s := range c.VRRPScripts {
		if used[s.Name] {
			scripts = append(scripts, s)
		}
	}
	b, err := json.Marshal(struct {
		I *vrrpd.Instance
		S []*vrrpd.Script
	}{v, scripts})
	if err != nil {
		return "", syntax.ErrorAt(v.Pos, "vrrp %s: compare configuration: %w", v.Name, err)
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", syntax.ErrorAt(v.Pos, "vrrp %s: compare configuration: %w", v.Name, err)
	}
	b, err = json.Marshal(stripPos(m))
	return string(b), err
}

func stripPos(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "pos")
		for k, e := range x {
			x[k] = stripPos(e)
		}
	case []any:
		for i, e := range x {
			x[i] = stripPos(e)
		}
	}
	return v
}
