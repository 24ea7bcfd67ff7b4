package globaldefs

import (
	"net/netip"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Defs is the global_defs block, plus the other process-wide top-level keywords
// (net_namespace, instance, use_pid_dir, ...).
//
// vigil's own extensions, which Keepalived does not know (a Keepalived given them would say
// "Unknown keyword"):
//
//	status_listen ADDR:PORT            where the status API listens (default 127.0.0.1:9080)
//	status_token STRING                bearer token the status API's write endpoints require
//	                                   (default: none, and the write endpoints are off)
//	control_socket PATH                a Unix socket (mode 0600, root only) that takes the
//	                                   operators' commands without a token (default: none)
//	state_dir PATH                     where the operators' admin states are kept across
//	                                   restarts (default /var/lib/vigil)
//	dataplane userspace|nftables|ipvs|auto   which data plane applies pools (default userspace)
//	dataplane_keep_on_stop [BOOL]      leave the kernel data plane's rules (nftables, IPVS) in
//	                                   place when vigil stops, so traffic keeps flowing over a
//	                                   restart (default: removed)
//	log_format text|json               log output format (default text)
//	reconcile_interval SECONDS         how often what vigil installed in the kernel (listeners,
//	                                   nftables/IPVS state, a master's addresses, routes and
//	                                   rules) is read back and repaired (default 2)
//	reload_remove_despite_complaints [BOOL]   let a reload whose file has warnings or errors
//	                                   remove running virtual servers and VRRP instances, as
//	                                   Keepalived does (default: such a reload is refused)
//	maxconn N                          connections and UDP flows the userspace data plane holds
//	                                   at once, every virtual server together (default: what
//	                                   the descriptor limit leaves after the checks', scripts',
//	                                   VRRP's, BGP's and the status server's reservations)
//	conntrack_sync { ... }, nftables_snat, nftables_flow_hash   connections kept across a
//	                                   failover (continuity.go)
type Defs struct {
	Pos syntax.Pos `json:"pos"`

	RouterID              string          `json:"router_id"`
	NotificationEmail     []string        `json:"notification_email"`
	NotificationEmailFrom string          `json:"notification_email_from"`
	SMTPServer            string          `json:"smtp_server"`
	SMTPPort              uint16          `json:"smtp_port"`
	SMTPHeloName          string          `json:"smtp_helo_name"`
	SMTPConnectTimeout    syntax.Duration `json:"smtp_connect_timeout"`
	// SMTPAlert, SMTPAlertVRRP and SMTPAlertChecker are nil when not set (Keepalived then
	// sends alerts only where a block asks for them).
	SMTPAlert        *bool `json:"smtp_alert"`
	SMTPAlertVRRP    *bool `json:"smtp_alert_vrrp"`
	SMTPAlertChecker *bool `json:"smtp_alert_checker"`
	NoEmailFaults    bool  `json:"no_email_faults"`

	ScriptUser  string `json:"script_user"`
	ScriptGroup string `json:"script_group"`
	// ScriptUserPos is where script_user was written (not in the JSON form).
	ScriptUserPos         syntax.Pos      `json:"-"`
	EnableScriptSecurity  bool            `json:"enable_script_security"`
	StartupScript         *syntax.Script  `json:"startup_script"`
	StartupScriptTimeout  syntax.Duration `json:"startup_script_timeout"`
	ShutdownScript        *syntax.Script  `json:"shutdown_script"`
	ShutdownScriptTimeout syntax.Duration `json:"shutdown_script_timeout"`

	// MaxAutoPriority is -1 when disabled, 0 when not set.
	MaxAutoPriority      int             `json:"max_auto_priority"`
	MinAutoPriorityDelay syntax.Duration `json:"min_auto_priority_delay"`
	DynamicInterfaces    bool            `json:"dynamic_interfaces"`
	// DynamicInterfacesAllowIfChanges is "dynamic_interfaces allow_if_changes".
	DynamicInterfacesAllowIfChanges bool   `json:"dynamic_interfaces_allow_if_changes"`
	DefaultInterface                string `json:"default_interface"`

	VRRPMcastGroup4             netip.Addr      `json:"vrrp_mcast_group4"`
	VRRPMcastGroup6             netip.Addr      `json:"vrrp_mcast_group6"`
	VRRPGarpMasterDelay         syntax.Duration `json:"vrrp_garp_master_delay"`
	VRRPGarpMasterRepeat        int             `json:"vrrp_garp_master_repeat"`
	VRRPGarpMasterRefresh       syntax.Duration `json:"vrrp_garp_master_refresh"`
	VRRPGarpMasterRefreshRepeat int             `json:"vrrp_garp_master_refresh_repeat"`
	// The lower_prio settings default to the master ones when not set.
	VRRPGarpLowerPrioDelay   syntax.Duration `json:"vrrp_garp_lower_prio_delay"`
	VRRPGarpLowerPrioRepeat  int             `json:"vrrp_garp_lower_prio_repeat"`
	VRRPDownTimerAdverts     int             `json:"vrrp_down_timer_adverts"`
	VRRPGarpInterval         syntax.Duration `json:"vrrp_garp_interval"`
	VRRPGnaInterval          syntax.Duration `json:"vrrp_gna_interval"`
	VRRPMinGarp              bool            `json:"vrrp_min_garp"`
	VRRPGarpExtraIf          syntax.Duration `json:"vrrp_garp_extra_if"`
	VRRPGarpExtraIfAll       bool            `json:"vrrp_garp_extra_if_all"`
	VRRPLowerPrioNoAdvert    bool            `json:"vrrp_lower_prio_no_advert"`
	VRRPHigherPrioSendAdvert bool            `json:"vrrp_higher_prio_send_advert"`
	VRRPVersion              int             `json:"vrrp_version"`
	// VRRPIptables holds the chain names of vrrp_iptables (empty when not set; Keepalived's
	// defaults INPUT/OUTPUT when given alone).
	VRRPIptables         []string        `json:"vrrp_iptables"`
	VRRPIpsets           []string        `json:"vrrp_ipsets"`
	NFTables             string          `json:"nftables"`
	VRRPCheckUnicastSrc  bool            `json:"vrrp_check_unicast_src"`
	VRRPSkipCheckAdvAddr bool            `json:"vrrp_skip_check_adv_addr"`
	VRRPStrict           bool            `json:"vrrp_strict"`
	VRRPStartupDelay     syntax.Duration `json:"vrrp_startup_delay"`
	// VRRPDelayAfterBoot is vrrp_delay_after_boot (Keepalived 2.4): the instances wait until
	// the host has been up this long; the VRRP half takes the longer of it less the uptime and
	// VRRPStartupDelay.
	VRRPDelayAfterBoot syntax.Duration `json:"vrrp_delay_after_boot,omitzero"`
	// V3ChecksumAsV2 is v3_checksum_as_v2 (Keepalived 2.2.8): the default of every instance.
	V3ChecksumAsV2 bool `json:"v3_checksum_as_v2,omitzero"`
	// VRRPOwnerIgnoreAdverts is vrrp_owner_ignore_adverts (Keepalived 2.3.3): the default of
	// every address owner's owner_ignore_adverts.
	VRRPOwnerIgnoreAdverts    bool `json:"vrrp_owner_ignore_adverts,omitzero"`
	VRRPNotifyPriorityChanges bool `json:"vrrp_notify_priority_changes"`
	// VRRPRTPriority is vrrp_rt_priority: the real-time (SCHED_RR) priority, 1-99, of the
	// threads that send and receive adverts; 0 leaves them at normal priority.
	VRRPRTPriority int `json:"vrrp_rt_priority"`

	NotifyFifo     *Fifo `json:"notify_fifo"`
	VRRPNotifyFifo *Fifo `json:"vrrp_notify_fifo"`
	LVSNotifyFifo  *Fifo `json:"lvs_notify_fifo"`

	LVSTimeouts           LVSTimeouts    `json:"lvs_timeouts"`
	LVSFlush              bool           `json:"lvs_flush"`
	LVSFlushOnStop        string         `json:"lvs_flush_on_stop"`
	LVSSyncDaemon         *LVSSyncDaemon `json:"lvs_sync_daemon"`
	CheckerLogAllFailures bool           `json:"checker_log_all_failures"`
	RSInitNotifies        bool           `json:"rs_init_notifies"`
	NoCheckerEmails       bool           `json:"no_checker_emails"`

	NetNamespace     string `json:"net_namespace"`
	NetNamespaceIPVS string `json:"net_namespace_ipvs"`
	Instance         string `json:"instance"`

	// vigil extensions.
	StatusListen string `json:"status_listen"`
	StatusToken  string `json:"status_token"`
	// ControlSocket is the path of the control socket (vigil extension); empty: none.
	ControlSocket string `json:"control_socket"`
	// StateDir holds the state file of the operators' admin states (vigil extension).
	StateDir  string `json:"state_dir"`
	Dataplane string `json:"dataplane"`
	// DataplaneKeepOnStop leaves nftables or IPVS state in place at stop (vigil extension).
	DataplaneKeepOnStop bool   `json:"dataplane_keep_on_stop"`
	LogFormat           string `json:"log_format"`
	// ReconcileInterval is how often kernel state is read back and repaired (vigil extension).
	ReconcileInterval syntax.Duration `json:"reconcile_interval"`
	// ReloadRemoveDespiteComplaints lets a reload with complaints remove running blocks
	// (vigil extension; Keepalived's behaviour).
	ReloadRemoveDespiteComplaints bool `json:"reload_remove_despite_complaints"`
	// MaxConn caps the userspace data plane's connections and UDP flows together (vigil
	// extension); 0 when not set, and the descriptor budget decides. Read at start.
	MaxConn int `json:"maxconn"`
	// ConntrackSync, NFTablesSNAT and NFTablesFlowHash keep connections across a failover
	// (vigil extensions, continuity.go).
	ConntrackSync    *ConntrackSync `json:"conntrack_sync"`
	NFTablesSNAT     NFTablesSNAT   `json:"nftables_snat"`
	NFTablesFlowHash bool           `json:"nftables_flow_hash"`

	// Accepted lists the lines of keywords Keepalived knows that vigil refuses, each with a
	// warning (process priorities, SNMP, D-Bus, netlink buffer sizes, ...), as written.
	Accepted []RawLine `json:"accepted"`

	lowerPrioDelaySet, lowerPrioRepeatSet bool
}

// RawLine is a configuration line kept as written: a keyword vigil accepts without modelling.
type RawLine struct {
	Pos   syntax.Pos `json:"pos"`
	Words []string   `json:"words"`
}

// Fifo is a notify_fifo and the optional script that reads it.
type Fifo struct {
	Pos    syntax.Pos     `json:"pos"`
	Path   string         `json:"path"`
	User   string         `json:"user,omitempty"`
	Group  string         `json:"group,omitempty"`
	Script *syntax.Script `json:"script"`
}

// LVSTimeouts is lvs_timeouts tcp/tcpfin/udp; zero means the kernel's value.
type LVSTimeouts struct {
	TCP    syntax.Duration `json:"tcp"`
	TCPFin syntax.Duration `json:"tcpfin"`
	UDP    syntax.Duration `json:"udp"`
}

// LVSSyncDaemon is the IPVS sync daemon (global lvs_sync_daemon, or the deprecated
// lvs_sync_daemon_interface of an instance).
type LVSSyncDaemon struct {
	Pos          syntax.Pos `json:"pos"`
	Interface    string     `json:"interface"`
	VRRPInstance string     `json:"vrrp_instance"`
	SyncID       int        `json:"sync_id"` // -1: the instance's VRID
	MaxLen       int        `json:"maxlen"`
	Port         int        `json:"port"`
	TTL          int        `json:"ttl"`
	Group        netip.Addr `json:"group"`
}

// DefaultStateDir is state_dir when not set.
const DefaultStateDir = "/var/lib/vigil"

// Default returns global_defs as Keepalived has it when the block is empty.
func Default() Defs {
	return Defs{
		SMTPPort:                    25,
		SMTPConnectTimeout:          syntax.Seconds(30),
		VRRPMcastGroup4:             netip.MustParseAddr("224.0.0.18"),
		VRRPMcastGroup6:             netip.MustParseAddr("ff02::12"),
		VRRPGarpMasterDelay:         syntax.Seconds(5),
		VRRPGarpMasterRepeat:        5,
		VRRPGarpMasterRefreshRepeat: 1,
		VRRPDownTimerAdverts:        3,
		VRRPVersion:                 2,
		LVSFlushOnStop:              "disabled",
		StatusListen:                "127.0.0.1:9080",
		Dataplane:                   "userspace",
		NFTablesSNAT:                NFTablesSNAT{Mode: "masquerade"},
		LogFormat:                   "text",
		ReconcileInterval:           syntax.Seconds(2),
		StateDir:                    DefaultStateDir,
	}
}

// Finish applies the defaults that depend on other settings, once the whole file is read:
// the lower_prio GARP settings default to the master ones.
func (g *Defs) Finish() {
	if !g.lowerPrioDelaySet {
		g.VRRPGarpLowerPrioDelay = g.VRRPGarpMasterDelay
	}
	if !g.lowerPrioRepeatSet {
		g.VRRPGarpLowerPrioRepeat = g.VRRPGarpMasterRepeat
	}
}
