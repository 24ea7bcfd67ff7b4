package vrrpd

import (
	"net/netip"

	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The VRRP half of the model: vrrp_script, track_file, vrrp_track_process, vrrp_instance,
// vrrp_sync_group and the static addresses, routes and rules. Field names follow Keepalived's
// keywords; defaults are Keepalived's and are applied by the time Section.Finish returns.

// Static is the host configuration vigil keeps whatever the VRRP state.
type Static struct {
	IPAddresses        []*VirtualIP    `json:"static_ipaddress"`
	Routes             []*VirtualRoute `json:"static_routes"`
	Rules              []*VirtualRule  `json:"static_rules"`
	GarpGroups         []*GarpGroup    `json:"garp_groups"`
	LinkbeatInterfaces []string        `json:"linkbeat_interfaces"`
	TrackGroups        []*TrackGroup   `json:"track_groups"`
}

// GarpGroup is a garp_group block: GARP/NA pacing shared by interfaces.
type GarpGroup struct {
	Pos          syntax.Pos      `json:"pos"`
	GarpInterval syntax.Duration `json:"garp_interval"`
	GnaInterval  syntax.Duration `json:"gna_interval"`
	Interfaces   []string        `json:"interfaces"`

	aggregate bool // an interfaces block was given
}

// TrackGroup is a track_group block (named groups of instances for static addresses/routes).
type TrackGroup struct {
	Pos   syntax.Pos `json:"pos"`
	Name  string     `json:"name"`
	Group []string   `json:"group"`
}

// Script is a vrrp_script block.
type Script struct {
	Pos      syntax.Pos      `json:"pos"`
	Name     string          `json:"name"`
	Script   *syntax.Script  `json:"script"`
	Interval syntax.Duration `json:"interval"`
	// Timeout is the script's time limit; when not set it equals Interval.
	Timeout       syntax.Duration `json:"timeout"`
	Weight        int             `json:"weight"`
	WeightReverse bool            `json:"weight_reverse"`
	Rise          int             `json:"rise"`
	Fall          int             `json:"fall"`
	User          string          `json:"user"`
	Group         string          `json:"group"`
	InitFail      bool            `json:"init_fail"`
	// UserPos is where user was written (not in the JSON form).
	UserPos syntax.Pos `json:"-"`
}

// TrackFile is a track_file (or the deprecated vrrp_track_file) block.
type TrackFile struct {
	Pos           syntax.Pos `json:"pos"`
	Name          string     `json:"name"`
	File          string     `json:"file"`
	Weight        int        `json:"weight"`
	WeightReverse bool       `json:"weight_reverse"`
	// InitFile asks for the file to be created at start with InitValue, or overwritten when
	// InitOverwrite.
	InitFile      bool `json:"init_file"`
	InitValue     int  `json:"init_value"`
	InitOverwrite bool `json:"init_overwrite"`

	weightSet bool
}

// TrackProcess is a vrrp_track_process block.
type TrackProcess struct {
	Pos     syntax.Pos `json:"pos"`
	Name    string     `json:"name"`
	Process string     `json:"process"`
	Params  []string   `json:"params"`
	// ParamMatch is "", "exact", "initial" or "partial".
	ParamMatch     string          `json:"param_match"`
	Weight         int             `json:"weight"`
	WeightReverse  bool            `json:"weight_reverse"`
	Quorum         int             `json:"quorum"`
	QuorumMax      int             `json:"quorum_max"`
	ForkDelay      syntax.Duration `json:"fork_delay"`
	TerminateDelay syntax.Duration `json:"terminate_delay"`
	FullCommand    bool            `json:"full_command"`
}

// TrackRef is one entry of a track_script, track_file, track_process or track_bfd block: the
// name of the tracked object and the weight it carries for this instance or group.
type TrackRef struct {
	Pos           syntax.Pos `json:"pos"`
	Name          string     `json:"name"`
	Weight        int        `json:"weight"`
	WeightReverse bool       `json:"weight_reverse"`
}

// TrackedInterface is one entry of a track_interface block.
type TrackedInterface struct {
	Pos           syntax.Pos `json:"pos"`
	Name          string     `json:"name"`
	Weight        int        `json:"weight"`
	WeightReverse bool       `json:"weight_reverse"`
}

// UnicastPeer is one entry of unicast_peer.
type UnicastPeer struct {
	Pos    syntax.Pos `json:"pos"`
	Addr   netip.Addr `json:"addr"`
	MinTTL int        `json:"min_ttl"`
	MaxTTL int        `json:"max_ttl"`
}

// Authentication is the authentication block (VRRPv2 only).
type Authentication struct {
	Pos syntax.Pos `json:"pos"`
	// Type is "PASS", "AH" or "" (none).
	Type string `json:"auth_type"`
	// Pass is the password, truncated to 8 characters as Keepalived does.
	Pass string `json:"auth_pass"`
}

// VirtualIP is one address of virtual_ipaddress, virtual_ipaddress_excluded or
// static_ipaddress: "ADDR[/LEN] [brd ADDR|+|-] [dev IF] [scope S] [label L] [peer ADDR] [home]
// [-nodad] [noprefixroute] [autojoin] [mngtmpaddr] [no_track] [preferred_lft N] [use_vmac]
// [track_group G]".
type VirtualIP struct {
	Pos    syntax.Pos   `json:"pos"`
	Prefix netip.Prefix `json:"prefix"`
	// Broadcast is an address, "+" (all ones), "-" (all zeros) or "".
	Broadcast    string     `json:"broadcast,omitempty"`
	Dev          string     `json:"dev,omitempty"`
	Scope        string     `json:"scope,omitempty"`
	Label        string     `json:"label,omitempty"`
	Peer         netip.Addr `json:"peer,omitzero"`
	Flags        []string   `json:"flags,omitempty"`
	NoTrack      bool       `json:"no_track"`
	PreferredLft string     `json:"preferred_lft,omitempty"`
	UseVMAC      bool       `json:"use_vmac"`
	TrackGroup   string     `json:"track_group,omitempty"`
}

// VirtualRoute is one line of virtual_routes or static_routes. The destination and the common
// attributes are parsed; the whole line is kept in Words for the rest (iproute2 syntax).
type VirtualRoute struct {
	Pos syntax.Pos `json:"pos"`
	// Type is the route type when given first (blackhole, unreachable, prohibit, throw, ...).
	Type       string     `json:"type,omitempty"`
	Dest       string     `json:"dest"`
	Src        netip.Addr `json:"src,omitzero"`
	Via        netip.Addr `json:"via,omitzero"`
	Dev        string     `json:"dev,omitempty"`
	Table      string     `json:"table,omitempty"`
	Metric     string     `json:"metric,omitempty"`
	Scope      string     `json:"scope,omitempty"`
	NoTrack    bool       `json:"no_track"`
	TrackGroup string     `json:"track_group,omitempty"`
	Words      []string   `json:"words"`
}

// VirtualRule is one line of virtual_rules or static_rules (iproute2 "ip rule" syntax), kept
// as written with the common selectors parsed.
type VirtualRule struct {
	Pos      syntax.Pos `json:"pos"`
	From     string     `json:"from,omitempty"`
	To       string     `json:"to,omitempty"`
	Table    string     `json:"table,omitempty"`
	Priority string     `json:"priority,omitempty"`
	NoTrack  bool       `json:"no_track"`
	Words    []string   `json:"words"`
}

// Section is what the VRRP keywords fill, in the order of the file; config.Config holds the
// same lists (VRRPScripts, VRRPTrackFiles, VRRPTrackProcesses, VRRPInstances, VRRPSyncGroups,
// VRRPStatic) once Finish has run.
type Section struct {
	Scripts        []*Script
	TrackFiles     []*TrackFile
	TrackProcesses []*TrackProcess
	Instances      []*Instance
	SyncGroups     []*SyncGroup
	// Static holds static_ipaddress, static_routes, static_rules, garp_group and
	// linkbeat_interfaces: host configuration kept whatever the VRRP state.
	Static Static
}

// Instance is a vrrp_instance block.
type Instance struct {
	Pos  syntax.Pos `json:"pos"`
	Name string     `json:"name"`
	// State is the initial state, "MASTER" or "BACKUP"; when not set it is MASTER for
	// priority 255 and BACKUP otherwise.
	State     string `json:"state"`
	Interface string `json:"interface"`
	// InterfacePos is where interface was written (not in the JSON form).
	InterfacePos syntax.Pos `json:"-"`
	VRF          string     `json:"vrf,omitempty"`
	// VirtualRouterID is 0 when missing, which makes the configuration unusable.
	VirtualRouterID int `json:"virtual_router_id"`
	// Priority defaults to 100 (255 for an instance whose state is MASTER).
	Priority  int             `json:"priority"`
	AdvertInt syntax.Duration `json:"advert_int"`
	// Version is 2 or 3; IPv6 instances are always 3.
	Version int `json:"version"`
	// Family is "inet" or "inet6", from the first address or peer.
	Family string `json:"family"`

	UseVMAC  bool   `json:"use_vmac"`
	VMACName string `json:"vmac_name,omitempty"`
	VMACAddr string `json:"vmac_addr,omitempty"`
	// VMACMAC is use_vmac's MAC address (five octets: the VRID is the sixth); VMACGroup its
	// "group N" (Keepalived 2.3.0; nil: the parent's group).
	VMACMAC            string  `json:"vmac_mac,omitempty"`
	VMACGroup          *uint32 `json:"vmac_group,omitempty"`
	VMACXmitBase       bool    `json:"vmac_xmit_base"`
	UseIPVLAN          bool    `json:"use_ipvlan"`
	NativeIPv6         bool    `json:"native_ipv6"`
	DontTrackPrimary   bool    `json:"dont_track_primary"`
	PromoteSecondaries bool    `json:"promote_secondaries"`
	LinkbeatUsePolling bool    `json:"linkbeat_use_polling"`

	TrackInterfaces []*TrackedInterface `json:"track_interface"`
	TrackScripts    []*TrackRef         `json:"track_script"`
	TrackFiles      []*TrackRef         `json:"track_file"`
	TrackProcesses  []*TrackRef         `json:"track_process"`
	TrackBFDs       []*TrackRef         `json:"track_bfd"`
	// TrackVirtualServers is track_virtual_server, a vigil extension (track_virtual_server.go).
	TrackVirtualServers []*TrackedVirtualServer `json:"track_virtual_server,omitempty"`

	McastSrcIP         netip.Addr     `json:"mcast_src_ip,omitzero"`
	UnicastSrcIP       netip.Addr     `json:"unicast_src_ip,omitzero"`
	McastDstIP         netip.Addr     `json:"mcast_dst_ip,omitzero"`
	TrackSrcIP         bool           `json:"track_src_ip"`
	UnicastTTL         int            `json:"unicast_ttl"` // -1: not set
	UnicastPeers       []*UnicastPeer `json:"unicast_peer"`
	UnicastFaultNoPeer bool           `json:"unicast_fault_no_peer"`
	CheckUnicastSrc    bool           `json:"check_unicast_src"`
	OldUnicastChecksum bool           `json:"old_unicast_checksum"`

	Authentication *Authentication `json:"authentication"`
	// AuthHMAC is auth_hmac (Keepalived 2.4); nil without.
	AuthHMAC *AuthHMAC `json:"auth_hmac,omitempty"`
	// V3ChecksumAsV2 leaves the pseudo-header out of VRRPv3 IPv4 checksums (Keepalived 2.2.8;
	// the global keyword sets the default).
	V3ChecksumAsV2 bool `json:"v3_checksum_as_v2,omitzero"`
	// OwnerIgnoreAdverts is owner_ignore_adverts (Keepalived 2.3.3): an address owner drops
	// every advert, as RFC 9568 says, rather than settle with another owner.
	OwnerIgnoreAdverts bool `json:"owner_ignore_adverts,omitzero"`

	VirtualIPAddresses []*VirtualIP `json:"virtual_ipaddress"`
	// NoVirtualIPAddress is no_virtual_ipaddress (Keepalived 2.2.8): none is meant, so no
	// complaint, and VRRPv3 runs without one.
	NoVirtualIPAddress         bool            `json:"no_virtual_ipaddress,omitzero"`
	VirtualIPAddressesExcluded []*VirtualIP    `json:"virtual_ipaddress_excluded"`
	VirtualRoutes              []*VirtualRoute `json:"virtual_routes"`
	VirtualRules               []*VirtualRule  `json:"virtual_rules"`

	// Accept is nil when not set: then it is off in strict mode or for VRRPv2... as Keepalived.
	Accept           *bool           `json:"accept"`
	SkipCheckAdvAddr bool            `json:"skip_check_adv_addr"`
	StrictMode       bool            `json:"strict_mode"`
	Nopreempt        bool            `json:"nopreempt"`
	PreemptDelay     syntax.Duration `json:"preempt_delay"`
	Debug            int             `json:"debug"`

	NotifyMaster           *syntax.Script `json:"notify_master"`
	NotifyBackup           *syntax.Script `json:"notify_backup"`
	NotifyFault            *syntax.Script `json:"notify_fault"`
	NotifyStop             *syntax.Script `json:"notify_stop"`
	NotifyDeleted          *syntax.Script `json:"notify_deleted"`
	Notify                 *syntax.Script `json:"notify"`
	NotifyMasterRxLowerPri *syntax.Script `json:"notify_master_rx_lower_pri"`
	SMTPAlert              bool           `json:"smtp_alert"`
	NotifyPriorityChanges  bool           `json:"notify_priority_changes"`

	// LVSSyncDaemonInterface is the deprecated per-instance lvs_sync_daemon_interface.
	LVSSyncDaemonInterface string `json:"lvs_sync_daemon_interface,omitempty"`

	GarpMasterDelay         syntax.Duration `json:"garp_master_delay"`
	GarpMasterRepeat        int             `json:"garp_master_repeat"`
	GarpMasterRefresh       syntax.Duration `json:"garp_master_refresh"`
	GarpMasterRefreshRepeat int             `json:"garp_master_refresh_repeat"`
	GarpLowerPrioDelay      syntax.Duration `json:"garp_lower_prio_delay"`
	GarpLowerPrioRepeat     int             `json:"garp_lower_prio_repeat"`
	DownTimerAdverts        int             `json:"down_timer_adverts"`
	GarpExtraIf             syntax.Duration `json:"garp_extra_if"`
	LowerPrioNoAdvert       bool            `json:"lower_prio_no_advert"`
	HigherPrioSendAdvert    bool            `json:"higher_prio_send_advert"`
	KernelRxBufSize         int             `json:"kernel_rx_buf_size"`

	// SyncGroup is the name of the sync group the instance belongs to, if any.
	SyncGroup string `json:"sync_group,omitempty"`

	// Unusable is set when the instance cannot run as configured (an Error was reported).
	Unusable bool `json:"unusable,omitempty"`

	set instanceSet
}

// instanceSet records which settings were given, so global defaults can fill the rest after the
// whole file is read (global_defs may come after the instances).
type instanceSet struct {
	garpDelay, garpRepeat, garpRefresh, garpRefreshRepeat bool
	lowerPrioDelay, lowerPrioRepeat, downTimer            bool
	lowerPrioNoAdvert, higherPrioSendAdvert               bool
	strict, smtpAlert, notifyPrio, skipCheckAdv           bool
	checkUnicastSrc, priority, state, version             bool
	unicastConfigured                                     bool
	v3ChecksumAsV2, ownerIgnoreAdverts                    bool
}

// SyncGroup is a vrrp_sync_group block.
type SyncGroup struct {
	Pos  syntax.Pos `json:"pos"`
	Name string     `json:"name"`
	// Group lists the member instances as written; Members those that exist (in order, each
	// instance in at most one group).
	Group   []string `json:"group"`
	Members []string `json:"members"`

	TrackInterfaces []*TrackedInterface `json:"track_interface"`
	TrackScripts    []*TrackRef         `json:"track_script"`
	TrackFiles      []*TrackRef         `json:"track_file"`
	TrackProcesses  []*TrackRef         `json:"track_process"`
	TrackBFDs       []*TrackRef         `json:"track_bfd"`
	// TrackVirtualServers is track_virtual_server, a vigil extension (track_virtual_server.go).
	TrackVirtualServers []*TrackedVirtualServer `json:"track_virtual_server,omitempty"`

	NotifyMaster *syntax.Script `json:"notify_master"`
	NotifyBackup *syntax.Script `json:"notify_backup"`
	NotifyFault  *syntax.Script `json:"notify_fault"`
	NotifyStop   *syntax.Script `json:"notify_stop"`
	Notify       *syntax.Script `json:"notify"`
	SMTPAlert    *bool          `json:"smtp_alert"`
	// GlobalTracking is deprecated; it implies SyncGroupTrackingWeight.
	GlobalTracking          bool  `json:"global_tracking"`
	SyncGroupTrackingWeight bool  `json:"sync_group_tracking_weight"`
	NotifyPriorityChanges   *bool `json:"notify_priority_changes"`

	groupSet bool
}

// Finish runs Keepalived's post-parse checks of the VRRP half (vrrp_complete_init): every
// instance must have a virtual router id and an interface or unicast peers; sync groups are
// resolved; each instance gets its defaults and its consistency checks. Messages carry the
// position of the block they are about.
func (s *Section) Finish(diags *syntax.Diagnostics, g *globaldefs.Defs) {
	// Keepalived stops at the first instance that misses its minimum configuration; vigil
	// reports every such instance, and like Keepalived goes no further.
	bad := false
	for _, v := range s.Instances {
		if v.VirtualRouterID == 0 {
			diags.Errorf(v.Pos, "(%s) the virtual router id must be set", v.Name)
			v.Unusable, bad = true, true
			continue
		}
		// Keepalived 2.2.7 requires an interface here even with unicast peers.
		if v.Interface == "" {
			diags.Errorf(v.Pos, "(%s) Unknown interface!", v.Name)
			v.Unusable, bad = true, true
		}
	}
	if bad {
		return
	}

	s.finishSyncGroups(diags)
	for _, v := range s.Instances {
		if v.Unusable {
			return
		}
		s.finishInstance(diags, g, v)
		if v.Unusable {
			// Keepalived gives up on the whole VRRP configuration here.
			return
		}
	}
	if s.vridConflicts(diags) {
		return
	}
	s.finishSyncGroupTracking(diags)

	// The sync daemon's id defaults to the VRID of its instance. (Keepalived clears the
	// setting when the instance does not exist, but says so only when it starts, not under
	// -t; vigil leaves that to the daemon.)
	if sd := g.LVSSyncDaemon; sd != nil && sd.SyncID == -1 {
		for _, v := range s.Instances {
			if v.Name == sd.VRRPInstance {
				sd.SyncID = v.VirtualRouterID
			}
		}
	}
}

// vridConflicts reports instances that would answer for the same virtual router: same family
// and VRID, both multicast on the same interface and group, or both unicast from the same
// configured source address with a peer in common. Interface addresses are a runtime matter, so
// unicast instances without unicast_src_ip are not compared. Keepalived refuses such a
// configuration.
func (s *Section) vridConflicts(diags *syntax.Diagnostics) bool {
	bad := false
	for i, a := range s.Instances {
		for _, b := range s.Instances[i+1:] {
			if a.Family != b.Family || a.VirtualRouterID != b.VirtualRouterID {
				continue
			}
			ua, ub := len(a.UnicastPeers) > 0, len(b.UnicastPeers) > 0
			if ua != ub {
				continue
			}
			if ua {
				if a.Interface != b.Interface || !a.UnicastSrcIP.IsValid() || a.UnicastSrcIP != b.UnicastSrcIP {
					continue
				}
				common := false
				for _, pa := range a.UnicastPeers {
					for _, pb := range b.UnicastPeers {
						common = common || pa.Addr == pb.Addr
					}
				}
				if common {
					diags.Errorf(b.Pos, "(%s) duplicate VRID conflict with %s VRID %d", a.Name, b.Name, a.VirtualRouterID)
					bad = true
				}
				continue
			}
			if a.Interface != b.Interface || a.McastDstIP != b.McastDstIP {
				continue
			}
			ipv := 4
			if a.Family == "inet6" {
				ipv = 6
			}
			diags.Errorf(b.Pos, "%s and %s both use VRID %d with IPv%d on interface %s", a.Name, b.Name, a.VirtualRouterID, ipv, a.Interface)
			bad = true
		}
	}
	return bad
}

// finishSyncGroupTracking applies a sync group's tracking to its members, as Keepalived does
// once every instance is complete: no weights when a member is the address owner, and an
// interface tracked by both a member and its group is reported.
func (s *Section) finishSyncGroupTracking(diags *syntax.Diagnostics) {
	byName := map[string]*Instance{}
	for _, v := range s.Instances {
		byName[v.Name] = v
	}
	for _, sg := range s.SyncGroups {
		owner := false
		for _, m := range sg.Members {
			if byName[m].Priority == 255 {
				owner = true
				break
			}
		}
		clear := func(refs []*TrackRef, kind, action string) {
			for _, r := range refs {
				if owner && r.Weight != 0 {
					diags.Warnf(sg.Pos, "(%s) Cannot have weighted track %s '%s' with member having priority 255 - %s",
						sg.Name, kind, r.Name, action)
					r.Weight = 0
				}
			}
		}
		clear(sg.TrackScripts, "script", "clearing weight")
		clear(sg.TrackFiles, "file", "setting weight 0")
		clear(sg.TrackProcesses, "process", "setting weight 0")
		clear(sg.TrackBFDs, "bfd", "setting weight 0")
		for _, ti := range sg.TrackInterfaces {
			if owner && ti.Weight != 0 {
				diags.Warnf(sg.Pos, "(%s) Cannot have weighted track interface '%s' with member having priority 255 - clearing weight",
					sg.Name, ti.Name)
				ti.Weight = 0
			}
			for _, m := range sg.Members {
				v := byName[m]
				// The instance tracks its own interface too, unless dont_track_primary.
				both := v.Interface == ti.Name && !v.DontTrackPrimary
				for _, vi := range v.TrackInterfaces {
					both = both || vi.Name == ti.Name
				}
				if both {
					diags.Warnf(sg.Pos, "(%s) track_interface %s is configured on VRRP instance and sync group. Remove vrrp instance or sync group config", m, ti.Name)
				}
			}
		}
	}
}

func (s *Section) finishSyncGroups(diags *syntax.Diagnostics) {
	byName := map[string]*Instance{}
	for _, v := range s.Instances {
		byName[v.Name] = v
	}
	kept := s.SyncGroups[:0]
	for _, sg := range s.SyncGroups {
		if !sg.groupSet || len(sg.Group) == 0 {
			diags.Warnf(sg.Pos, "Sync group %s has no virtual router(s). removing", sg.Name)
			continue
		}
		state := ""
		sg.Members = []string{}
		for _, name := range sg.Group {
			v := byName[name]
			if v == nil {
				diags.Warnf(sg.Pos, "Virtual router %s specified in sync group %s doesn't exist - ignoring", name, sg.Name)
				continue
			}
			if v.SyncGroup != "" {
				diags.Warnf(sg.Pos, "Virtual router %s cannot exist in more than one sync group; ignoring %s", name, sg.Name)
				continue
			}
			v.SyncGroup = sg.Name
			sg.Members = append(sg.Members, name)
			if state == "MASTER" && v.set.state && v.State == "BACKUP" {
				diags.Warnf(sg.Pos, "Sync group %s has some member(s) as address owner and some not as address owner. This won't work.", sg.Name)
			}
			if state != "BACKUP" {
				if v.State == "MASTER" && v.Priority == 255 {
					state = "MASTER"
				} else {
					state = "BACKUP"
				}
			}
		}
		if len(sg.Members) == 0 {
			diags.Warnf(sg.Pos, "Sync group %s, no matching virtual router found in group declaration - removing", sg.Name)
			continue
		}
		if len(sg.Members) == 1 {
			diags.Warnf(sg.Pos, "Sync group %s has only 1 virtual router(s) - this probably isn't what you want", sg.Name)
		}
		kept = append(kept, sg)
	}
	s.SyncGroups = kept
}

// SyncGroup returns the sync group called name, or nil.
func (s *Section) SyncGroup(name string) *SyncGroup {
	for _, sg := range s.SyncGroups {
		if sg.Name == name {
			return sg
		}
	}
	return nil
}

// finishInstance applies defaults and Keepalived's vrrp_complete_instance checks to v.
func (s *Section) finishInstance(diags *syntax.Diagnostics, g *globaldefs.Defs, v *Instance) {
	warn := func(format string, args ...any) {
		diags.Warnf(v.Pos, "(%s) "+format, append([]any{v.Name}, args...)...)
	}
	if !v.set.strict {
		v.StrictMode = g.VRRPStrict
	}
	if v.Family == "inet6" {
		if v.Version == 2 && v.StrictMode {
			warn("cannot use IPv6 with VRRP version 2; setting version 3")
			v.Version = 3
		} else if v.Version == 0 {
			v.Version = 3
		}
	}
	if v.Family == "" {
		v.Family = "inet"
	}
	if v.Version == 0 {
		v.Version = g.VRRPVersion
	}
	if len(v.VirtualIPAddresses) == 0 && !v.NoVirtualIPAddress {
		if v.Version == 3 || v.StrictMode {
			diags.Errorf(v.Pos, "(%s) No VIP specified; at least one is required", v.Name)
			v.Unusable = true
			return
		}
		warn("No VIP specified; at least one is sensible")
	}
	if !v.set.priority {
		v.Priority = 100
		if v.State == "MASTER" {
			v.Priority = 255
		}
	}
	if v.State == "" {
		v.State = "BACKUP"
		if v.Priority == 255 {
			v.State = "MASTER"
		}
	} else if v.StrictMode && (v.State == "MASTER") != (v.Priority == 255) {
		warn("State MASTER must match being address owner")
		v.State = "BACKUP"
		if v.Priority == 255 {
			v.State = "MASTER"
		}
	}
	if a := v.Authentication; a != nil && a.Type != "" {
		switch {
		case v.StrictMode:
			warn("Strict mode does not support authentication. Ignoring.")
			a.Type = ""
		case v.Version == 3:
			warn("VRRP version 3 does not support authentication. Ignoring.")
			a.Type = ""
		case a.Pass == "":
			warn("Authentication specified but no password given. Ignoring")
			a.Type = ""
		case v.Family == "inet6" && a.Type == "AH":
			warn("Cannot use AH authentication with IPv6. ignoring")
			a.Type = ""
		case a.Type == "AH" && v.State == "MASTER" && v.Priority != 255:
			warn("Initial state master is incompatible with AH authentication - clearing")
			v.State = "BACKUP"
		}
	}
	if v.set.unicastConfigured && len(v.UnicastPeers) == 0 && !v.UnicastFaultNoPeer {
		diags.Warnf(v.Pos, "(%s) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration.", v.Name)
	}
	if v.StrictMode && (v.VMACAddr != "" || v.VMACMAC != "") {
		diags.Warnf(v.Pos, "(%s): cannot specify MAC address with strict mode - clearing", v.Name)
		v.VMACAddr, v.VMACMAC = "", ""
	}
	if v.Priority == 255 && v.Nopreempt {
		warn("nopreempt is incompatible with priority 255. resetting nopreempt")
		v.Nopreempt = false
	}
	if v.State == "MASTER" {
		if v.Nopreempt {
			warn("Warning - nopreempt will not work with initial state MASTER - clearing")
			v.Nopreempt = false
		}
		if v.PreemptDelay != 0 {
			warn("Warning - preempt delay will not work with initial state MASTER - clearing")
			v.PreemptDelay = 0
		}
	}
	if v.PreemptDelay != 0 {
		if v.StrictMode {
			warn("preempt_delay is incompatible with strict mode - resetting")
			v.PreemptDelay = 0
		}
		if v.Nopreempt {
			warn("preempt_delay is incompatible with nopreempt mode - resetting")
			v.PreemptDelay = 0
		}
	}
	if !v.set.downTimer {
		v.DownTimerAdverts = g.VRRPDownTimerAdverts
	}
	if v.DownTimerAdverts != 3 && v.StrictMode {
		warn("down_timer_adverts is incompatible with strict mode - resetting")
		v.DownTimerAdverts = 3
	}
	if v.Accept == nil {
		v.Accept = new(v.Priority == 255 || !v.StrictMode)
	}
	if *v.Accept && v.Priority != 255 && v.StrictMode && v.Version == 2 {
		warn("warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting")
		v.Accept = new(false)
	}
	unicast := len(v.UnicastPeers) > 0
	if !unicast && !v.McastDstIP.IsValid() {
		if v.Family == "inet" {
			v.McastDstIP = g.VRRPMcastGroup4
		} else {
			v.McastDstIP = g.VRRPMcastGroup6
		}
	} else if unicast && v.McastDstIP.IsValid() {
		warn("multicast destination specified with unicast - ignoring")
		v.McastDstIP = netip.Addr{}
	}

	if !v.set.garpDelay {
		v.GarpMasterDelay = g.VRRPGarpMasterDelay
	}
	if !v.set.garpRepeat {
		v.GarpMasterRepeat = g.VRRPGarpMasterRepeat
	}
	if !v.set.garpRefresh {
		v.GarpMasterRefresh = g.VRRPGarpMasterRefresh
	}
	if !v.set.garpRefreshRepeat {
		v.GarpMasterRefreshRepeat = g.VRRPGarpMasterRefreshRepeat
	}
	if v.GarpExtraIf == 0 {
		v.GarpExtraIf = g.VRRPGarpExtraIf
	}
	if !v.set.lowerPrioRepeat {
		v.GarpLowerPrioRepeat = g.VRRPGarpLowerPrioRepeat
		if v.StrictMode {
			v.GarpLowerPrioRepeat = 0
		}
	} else if v.StrictMode && v.GarpLowerPrioRepeat != 0 {
		warn("Strict mode requires no repeat garps. resetting")
		v.GarpLowerPrioRepeat = 0
	}
	if !v.set.lowerPrioDelay {
		v.GarpLowerPrioDelay = g.VRRPGarpLowerPrioDelay
		if v.StrictMode {
			v.GarpLowerPrioDelay = 0
		}
	} else if v.StrictMode && v.GarpLowerPrioDelay != 0 {
		warn("Strict mode requires no repeat garp delay. resetting")
		v.GarpLowerPrioDelay = 0
	}
	if !v.set.lowerPrioNoAdvert {
		v.LowerPrioNoAdvert = v.StrictMode || g.VRRPLowerPrioNoAdvert
	} else if v.StrictMode && !v.LowerPrioNoAdvert {
		warn("Strict mode requires no lower priority advert. resetting")
		v.LowerPrioNoAdvert = true
	}
	if !v.set.higherPrioSendAdvert {
		v.HigherPrioSendAdvert = !v.StrictMode && g.VRRPHigherPrioSendAdvert
	} else if v.StrictMode && v.HigherPrioSendAdvert {
		warn("strict mode requires higher_prio_send_advert to be clear. resetting")
		v.HigherPrioSendAdvert = false
	}
	if !v.set.smtpAlert {
		switch {
		case g.SMTPAlertVRRP != nil:
			v.SMTPAlert = *g.SMTPAlertVRRP
		case g.SMTPAlert != nil:
			v.SMTPAlert = *g.SMTPAlert
		}
	}
	sg := s.SyncGroup(v.SyncGroup)
	if !v.set.notifyPrio {
		if sg != nil && sg.NotifyPriorityChanges != nil {
			v.NotifyPriorityChanges = *sg.NotifyPriorityChanges
		} else {
			v.NotifyPriorityChanges = g.VRRPNotifyPriorityChanges
		}
	}
	if !v.set.skipCheckAdv {
		v.SkipCheckAdvAddr = g.VRRPSkipCheckAdvAddr
	}
	if !v.set.checkUnicastSrc && g.VRRPCheckUnicastSrc {
		v.CheckUnicastSrc = true
	}

	s.finishAdvertInt(diags, v)
	finishAuthHMAC(diags, v)
	if !v.set.v3ChecksumAsV2 {
		v.V3ChecksumAsV2 = g.V3ChecksumAsV2
	}
	switch {
	case v.OwnerIgnoreAdverts && v.Priority != 255:
		warn("ignoring owner_ignore_adverts since priority is not 255")
		v.OwnerIgnoreAdverts = false
	case !v.set.ownerIgnoreAdverts && v.Priority == 255:
		v.OwnerIgnoreAdverts = v.StrictMode || g.VRRPOwnerIgnoreAdverts
	case v.Priority == 255 && v.StrictMode && !v.OwnerIgnoreAdverts:
		warn("strict_mode with priority 255 requires owner_ignore_adverts")
		v.OwnerIgnoreAdverts = true
	}

	if v.PromoteSecondaries && (v.UseVMAC || v.UseIPVLAN) {
		warn("promote_secondaries is automatically set for vmacs - ignoring")
		v.PromoteSecondaries = false
	}

	// An own interface in track_interface is dropped (checked by name; a VMAC's base is the
	// configured interface).
	if v.Interface != "" {
		kept := v.TrackInterfaces[:0]
		for _, t := range v.TrackInterfaces {
			if t.Name == v.Interface {
				warn("Ignoring track_interface %s since own interface", t.Name)
				continue
			}
			kept = append(kept, t)
		}
		v.TrackInterfaces = kept
	}
	if v.VMACXmitBase && !v.UseVMAC {
		warn("vmac_xmit_base is only valid with a vmac")
		v.VMACXmitBase = false
	}
	s.syncWeights(diags, v, sg)
}

// finishAdvertInt applies the default advert_int and rounds it to what the version can carry.
func (s *Section) finishAdvertInt(diags *syntax.Diagnostics, v *Instance) {
	const sec = syntax.Duration(1e9)
	const centi = syntax.Duration(1e7)
	if v.AdvertInt == 0 {
		v.AdvertInt = sec
	}
	if v.Version == 2 {
		switch {
		case v.AdvertInt >= 256*sec:
			diags.Warnf(v.Pos, "(%s) VRRPv2 advertisement interval %.2fs is out of range. Must be less than %ds. Setting to %ds",
				v.Name, float64(v.AdvertInt)/1e9, 256, 255)
			v.AdvertInt = 255 * sec
		case v.AdvertInt%sec != 0:
			diags.Warnf(v.Pos, "(%s) VRRPv2 advertisement interval %fs must be an integer. rounding", v.Name, float64(v.AdvertInt)/1e9)
			v.AdvertInt = (v.AdvertInt + sec/2) / sec * sec
			if v.AdvertInt == 0 {
				v.AdvertInt = sec
			}
		}
		return
	}
	switch {
	case v.AdvertInt >= 4096*centi:
		diags.Warnf(v.Pos, "(%s) VRRPv3 advertisement interval %.2fs is out of range. Must be less than %.2fs. Setting to %.2fs",
			v.Name, float64(v.AdvertInt)/1e9, 40.96, 40.95)
		v.AdvertInt = 4095 * centi
	case v.AdvertInt%centi != 0:
		diags.Warnf(v.Pos, "(%s) VRRPv3 advertisement interval %fs must be in units of 10ms - rounding", v.Name, float64(v.AdvertInt)/1e9)
		v.AdvertInt = (v.AdvertInt + centi/2) / centi * centi
		if v.AdvertInt == 0 {
			v.AdvertInt = centi
		}
	}
}

// syncWeights drops tracking weights that Keepalived ignores for members of a sync group
// without sync_group_tracking_weight, and for address owners (priority 255).
func (s *Section) syncWeights(diags *syntax.Diagnostics, v *Instance, sg *SyncGroup) {
	syncNoWeight := sg != nil && !sg.SyncGroupTrackingWeight
	if !syncNoWeight && v.Priority != 255 {
		return
	}
	why, whyScript := "address owner", "address_owner"
	if syncNoWeight {
		why, whyScript = "SYNC group", "SYNC group"
	}
	ifs := v.TrackInterfaces[:0]
	for _, t := range v.TrackInterfaces {
		if t.Weight != 0 {
			w := ""
			if syncNoWeight {
				w = "weight "
			}
			diags.Warnf(v.Pos, "(%s) ignoring %s tracked interface %sdue to %s", v.Name, t.Name, w, why)
			if !syncNoWeight {
				continue
			}
			t.Weight = 0
		}
		ifs = append(ifs, t)
	}
	v.TrackInterfaces = ifs
	scripts := v.TrackScripts[:0]
	for _, t := range v.TrackScripts {
		if t.Weight != 0 {
			diags.Warnf(v.Pos, "(%s) ignoring tracked script %s with weights due to %s", v.Name, t.Name, whyScript)
			continue
		}
		scripts = append(scripts, t)
	}
	v.TrackScripts = scripts
	files := v.TrackFiles[:0]
	for _, t := range v.TrackFiles {
		switch {
		case t.Weight == 1:
			diags.Warnf(v.Pos, "(%s) ignoring weight from tracked file %s due to %s. specify weight 0", v.Name, t.Name, whyScript)
			t.Weight = 0
		case t.Weight != 0:
			diags.Warnf(v.Pos, "(%s) ignoring tracked file %s with weight %d due to %s", v.Name, t.Name, t.Weight, whyScript)
			continue
		}
		files = append(files, t)
	}
	v.TrackFiles = files
}
