package globaldefs

import (
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The keywords of connection continuity across a failover (vigil extensions), apart from the
// rest of global_defs so that the state they model reads in one place:
//
//	conntrack_sync {               conntrack state sync with conntrackd (internal/ctsync)
//	    instance VRRP_INSTANCE     the instance it follows: primary-backup; none: active-active
//	    interface IF               the sync link (a dedicated one, or the service link)
//	    peer ADDR                  the other node's address on it
//	    local ADDR                 this node's address on it (default: IF's first address of
//	                               peer's family)
//	    port N                     UDP port of the sync messages (default 3780)
//	    config PATH                drive the conntrackd that runs with this conntrackd.conf
//	                               instead of starting one
//	    runtime_dir DIR            where vigil writes conntrackd.conf, its lock and its
//	                               socket (default /run/vigil)
//	    conntrackd PATH            the conntrackd binary (default: conntrackd from PATH)
//	    external_cache [BOOL]      keep the peer's entries in conntrackd's external cache
//	                               and commit them at the MASTER transition, as
//	                               primary-backup.sh does (default: off, they go into the
//	                               kernel table as they come)
//	}
//	nftables_snat masquerade|none|ADDR   the source address of connections the nftables data
//	                               plane sends to backends (default masquerade)
//	nftables_flow_hash [BOOL]      pick every new connection's backend by a hash of its
//	                               addresses and ports over a Maglev table (default: off)

// ConntrackSync is the conntrack_sync block: conntrackd synchronises the connection tracking
// table with the peer, and vigil tells it of the VRRP instance's transitions.
type ConntrackSync struct {
	Pos syntax.Pos `json:"pos"`
	// Instance is the vrrp_instance whose transitions drive conntrackd (primary-backup); empty
	// for active-active (every node forwards, synced entries go straight into the kernel).
	Instance string `json:"instance,omitempty"`
	// InstancePos is where instance was written (not in the JSON form).
	InstancePos syntax.Pos `json:"-"`
	Interface   string     `json:"interface"`
	Peer        netip.Addr `json:"peer"`
	// Local is invalid when not set: the interface's address is taken at start.
	Local netip.Addr `json:"local"`
	Port  uint16     `json:"port"`
	// Config is the conntrackd.conf of a conntrackd vigil does not start (empty: vigil
	// writes one and runs conntrackd itself).
	Config     string `json:"config,omitempty"`
	RuntimeDir string `json:"runtime_dir"`
	Binary     string `json:"conntrackd"`
	// ExternalCache keeps the peer's entries out of the kernel until a takeover commits them.
	ExternalCache bool `json:"external_cache"`
}

// DefaultConntrackSyncPort is conntrackd's customary UDP port.
const DefaultConntrackSyncPort = 3780

// NFTablesSNAT is what nftables_snat says the source of a connection to a backend becomes.
type NFTablesSNAT struct {
	// Mode is "masquerade" (the node's own address towards the backend), "none" (the
	// client's), or "address" (Addr, an address every node shares).
	Mode string     `json:"mode"`
	Addr netip.Addr `json:"addr,omitempty"`
}

func (g *Defs) addContinuityKeywords(kw map[string]syntax.Keyword) {
	kw["conntrack_sync"] = syntax.Keyword{Block: g.conntrackSync}
	kw["nftables_snat"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		switch s {
		case "masquerade", "none":
			g.NFTablesSNAT = NFTablesSNAT{Mode: s}
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			p.Diags.Warnf(l.Pos, "nftables_snat '%s' invalid - expected masquerade, none or an address; using %s", s, g.NFTablesSNAT.Mode)
			return
		}
		g.NFTablesSNAT = NFTablesSNAT{Mode: "address", Addr: a.Unmap()}
	}}
	kw["nftables_flow_hash"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := syntax.OptBool(l, func(w string) {
			p.Diags.Warnf(l.Pos, "nftables_flow_hash '%s' invalid - expected true/false, on/off or yes/no", w)
		}); ok {
			g.NFTablesFlowHash = v
		}
	}}
}

func (g *Defs) conntrackSync(p *syntax.Parser, l syntax.Line) *syntax.Table {
	if g.ConntrackSync != nil {
		p.Diags.Warnf(l.Pos, "conntrack_sync already defined at %s - ignoring this one", g.ConntrackSync.Pos)
		return nil
	}
	cs := &ConntrackSync{Pos: l.Pos, Port: DefaultConntrackSyncPort, RuntimeDir: "/run/vigil", Binary: "conntrackd"}
	g.ConntrackSync = cs
	path := func(dst *string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			s, ok := p.Need(l, 1)
			if !ok {
				return
			}
			if !filepath.IsAbs(s) && l.Words[0] != "conntrackd" {
				p.Diags.Warnf(l.Pos, "conntrack_sync %s '%s' invalid - expected an absolute path", l.Words[0], s)
				return
			}
			*dst = s
		}}
	}
	kw := map[string]syntax.Keyword{
		"instance": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if s, ok := p.Need(l, 1); ok {
				cs.Instance, cs.InstancePos = s, l.Pos
			}
		}},
		"interface": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if s, ok := p.Need(l, 1); ok {
				cs.Interface = s
			}
		}},
		"port": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			s, ok := p.Need(l, 1)
			if !ok {
				return
			}
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				p.Diags.Warnf(l.Pos, "conntrack_sync port '%s' invalid - expected a number in [1, 65535]; using %d", s, cs.Port)
				return
			}
			cs.Port = uint16(n)
		}},
		"external_cache": {Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v, ok := syntax.OptBool(l, func(w string) {
				p.Diags.Warnf(l.Pos, "conntrack_sync external_cache '%s' invalid - expected true/false, on/off or yes/no", w)
			}); ok {
				cs.ExternalCache = v
			}
		}},
		"config":      path(&cs.Config),
		"runtime_dir": path(&cs.RuntimeDir),
		"conntrackd":  path(&cs.Binary),
	}
	for _, name := range []string{"peer", "local"} {
		dst := &cs.Peer
		if name == "local" {
			dst = &cs.Local
		}
		kw[name] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			s, ok := p.Need(l, 1)
			if !ok {
				return
			}
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
				p.Diags.Warnf(l.Pos, "conntrack_sync %s '%s' invalid - expected a unicast IPv4 or IPv6 address", name, s)
				return
			}
			*dst = a.Unmap()
		}}
	}
	return &syntax.Table{Keywords: kw, Close: func(p *syntax.Parser, end syntax.Pos) {
		switch {
		case cs.Config != "":
			// conntrackd.conf says where to sync; vigil only sends it commands.
		case cs.Interface == "" || !cs.Peer.IsValid():
			p.Diags.Errorf(cs.Pos, "conntrack_sync: interface and peer are required (or config, naming a conntrackd.conf)")
		case cs.Local.IsValid() && cs.Local.Is4() != cs.Peer.Is4():
			p.Diags.Errorf(cs.Pos, "conntrack_sync: local %s and peer %s are of different address families", cs.Local, cs.Peer)
		}
	}}
}
