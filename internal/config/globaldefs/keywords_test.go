package globaldefs_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// vrrpKitchenSink uses every global_defs, vrrp_* and static keyword with valid values. Keepalived
// 2.2.7 says of it only the last message (checked with keepalived -t).
const vrrpKitchenSink = `global_defs {
  router_id r1
  notification_email {
    a@example.com
    b@example.com
  }
  notification_email_from k@example.com
  smtp_server 192.0.2.25 2525
  smtp_helo_name vigil
  smtp_connect_timeout 10
  smtp_alert
  smtp_alert_vrrp true
  smtp_alert_checker off
  no_email_faults
  script_user root
  enable_script_security
  max_auto_priority 10
  min_auto_priority_delay 1000
  dynamic_interfaces
  vrrp_mcast_group4 224.0.0.19
  vrrp_mcast_group6 ff02::13
  vrrp_garp_master_delay 3
  vrrp_garp_master_repeat 2
  vrrp_garp_master_refresh 60
  vrrp_garp_master_refresh_repeat 2
  vrrp_garp_lower_prio_delay 4
  vrrp_garp_lower_prio_repeat 3
  vrrp_down_timer_adverts 4
  vrrp_garp_interval 0.001
  vrrp_gna_interval 0.002
  vrrp_garp_extra_if 30
  vrrp_lower_prio_no_advert
  vrrp_higher_prio_send_advert false
  vrrp_version 2
  nftables
  vrrp_check_unicast_src
  vrrp_skip_check_adv_addr
  vrrp_startup_delay 5.5
  vrrp_notify_priority_changes
  notify_fifo /run/k.fifo
  notify_fifo_script /bin/true
  vrrp_notify_fifo /run/v.fifo
  lvs_notify_fifo /run/l.fifo
  lvs_timeouts tcp 900 tcpfin 120 udp 300
  lvs_flush
  lvs_flush_on_stop VS
  lvs_sync_daemon eth0 VI_1 id 5 maxlen 1400 port 8848 ttl 2 group 224.0.0.81
  checker_log_all_failures
  rs_init_notifies
  no_checker_emails
  vrrp_priority -5
  checker_priority -3
  vrrp_no_swap
  vrrp_rt_priority 10
  vrrp_rlimit_rttime 10000
  snmp_socket tcp:localhost:705
  enable_traps
  vrrp_rx_bufs_policy MTU
  vrrp_rx_bufs_multiplier 4
  umask 0077
  random_seed 1234
  log_unknown_vrids
  vmac_prefix vrt
}
vrrp_script chk {
  script "/bin/true arg"
  interval 2
  timeout 3
  weight -10 reverse
  rise 2
  fall 3
  user root
  init_fail
}
track_file tf {
  file /run/vigil-tf
  weight 5 reverse
  init_file 0 overwrite
}
vrrp_track_process tp {
  process sshd
  param_match partial
  weight 10
  quorum 1
  quorum_max 4
  fork_delay 1
  terminate_delay 2.5
  full_command
}
garp_group {
  garp_interval 0.5
  gna_interval 0.5
  interfaces {
    eth0
  }
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  use_vmac vrrp51
  vmac_xmit_base
  dont_track_primary
  track_interface {
    lo weight 10
  }
  track_script {
    chk weight 20 noreverse
  }
  track_file {
    tf weight 2
  }
  track_process {
    tp weight 3 reverse
  }
  mcast_src_ip 192.0.2.5
  virtual_router_id 51
  priority 150
  advert_int 2
  version 2
  virtual_ipaddress {
    192.0.2.100/24 brd 192.0.2.255 dev eth0 scope global label eth0:vip
    192.0.2.101/24 dev eth0 no_track
  }
  virtual_ipaddress_excluded {
    192.0.2.102
  }
  virtual_routes {
    192.0.2.128/25 via 192.0.2.1 dev eth0 metric 10
    src 192.0.2.100 to 198.51.100.0/24 via 192.0.2.1 dev eth0 table 100
  }
  virtual_rules {
    from 192.0.2.100 table 100 priority 100
    to 198.51.100.0/24 table main preference 101
  }
  accept
  skip_check_adv_addr
  strict_mode off
  preempt_delay 10
  debug 2
  notify_master "/bin/echo master"
  notify_backup /bin/true root
  notify_fault /bin/true
  notify_stop /bin/true
  notify /bin/true
  notify_master_rx_lower_pri /bin/true
  smtp_alert
  notify_priority_changes true
  garp_master_delay 1
  garp_master_refresh 30
  garp_master_repeat 3
  garp_master_refresh_repeat 2
  garp_lower_prio_delay 2
  garp_lower_prio_repeat 2
  down_timer_adverts 5
  lower_prio_no_advert true
  higher_prio_send_advert
  kernel_rx_buf_size 65536
  authentication {
    auth_type PASS
    auth_pass secret
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  unicast_src_ip 192.0.2.6
  unicast_peer {
    192.0.2.7 min_ttl 1 max_ttl 255
    192.0.2.8
  }
  unicast_ttl 5
  unicast_fault_no_peer
  check_unicast_src
  nopreempt
  no_accept
  virtual_ipaddress {
    192.0.2.200
  }
}
vrrp_sync_group G1 {
  group {
    VI_1
    VI_2
  }
  track_interface {
    lo
  }
  track_script {
    chk weight 0
  }
  notify_master /bin/true
  notify_backup /bin/true
  notify_fault /bin/true
  notify_stop /bin/true
  notify /bin/true
  smtp_alert
  sync_group_tracking_weight
  notify_priority_changes
}
static_ipaddress {
  192.0.2.50/24 dev eth0 scope link
}
static_routes {
  198.51.100.0/24 via 192.0.2.1 dev eth0
}
static_rules {
  from 192.0.2.50 table 200 priority 200
}
linkbeat_interfaces {
  eth0
}
`

// Beyond Keepalived's one complaint, vigil says which keywords it does not support, at their
// lines, and nothing else.
func TestKitchenSinkDrawsOnlyKeepalivedsComplaint(t *testing.T) {
	c, ds := configtest.Parse(t, vrrpKitchenSink)
	want := []string{"180: (VI_1) track_interface lo is configured on VRRP instance and sync group. Remove vrrp instance or sync group config"}
	var got, unsupported []string
	for _, l := range configtest.Lines(ds) {
		if _, msg, _ := strings.Cut(l, ": "); strings.HasPrefix(msg, syntax.UnsupportedPrefix) {
			unsupported = append(unsupported, l)
			continue
		}
		got = append(got, l)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("diagnostics:\n got  %q\n want %q", got, want)
	}
	if len(unsupported) != 13 || !strings.HasPrefix(unsupported[0], "51: vigil does not support vrrp_priority: ") {
		t.Fatalf("refusals: %q", unsupported)
	}
	g := c.Global
	if g.SMTPServer != "192.0.2.25" || g.SMTPPort != 2525 || !slices.Equal(g.NotificationEmail, []string{"a@example.com", "b@example.com"}) {
		t.Errorf("smtp = %s:%d %v", g.SMTPServer, g.SMTPPort, g.NotificationEmail)
	}
	if g.SMTPAlert == nil || !*g.SMTPAlert || g.SMTPAlertChecker == nil || *g.SMTPAlertChecker {
		t.Errorf("smtp_alert = %v, smtp_alert_checker = %v", g.SMTPAlert, g.SMTPAlertChecker)
	}
	if g.VRRPGarpInterval != syntax.Duration(time.Millisecond) || g.VRRPStartupDelay != syntax.Duration(5500*time.Millisecond) || g.VRRPGarpExtraIf != syntax.Duration(30*time.Second) {
		t.Errorf("garp interval %v startup delay %v extra_if %v", g.VRRPGarpInterval, g.VRRPStartupDelay, g.VRRPGarpExtraIf)
	}
	if sd := g.LVSSyncDaemon; sd == nil || sd.Interface != "eth0" || sd.VRRPInstance != "VI_1" || sd.SyncID != 5 || sd.MaxLen != 1400 ||
		sd.Port != 8848 || sd.TTL != 2 || sd.Group != netip.MustParseAddr("224.0.0.81") {
		t.Errorf("lvs_sync_daemon = %+v", sd)
	}
	if g.LVSTimeouts != (globaldefs.LVSTimeouts{TCP: syntax.Duration(900 * time.Second), TCPFin: syntax.Duration(120 * time.Second), UDP: syntax.Duration(300 * time.Second)}) {
		t.Errorf("lvs_timeouts = %+v", g.LVSTimeouts)
	}
	if g.NFTables != "keepalived" || g.NotifyFifo == nil || g.NotifyFifo.Path != "/run/k.fifo" || g.NotifyFifo.Script == nil {
		t.Errorf("nftables %q notify_fifo %+v", g.NFTables, g.NotifyFifo)
	}
	if len(g.Accepted) == 0 || g.Accepted[0].Words[0] != "vrrp_priority" {
		t.Errorf("accepted = %+v", g.Accepted)
	}
	s := c.VRRPScripts[0]
	if s.Script.Command != "/bin/true arg" || !slices.Equal(s.Script.Args, []string{"/bin/true", "arg"}) || s.Interval != syntax.Duration(2*time.Second) ||
		s.Timeout != syntax.Duration(3*time.Second) || s.Weight != -10 || !s.WeightReverse || s.Rise != 2 || s.Fall != 3 || s.User != "root" || !s.InitFail {
		t.Errorf("vrrp_script = %+v", *s)
	}
	tf := c.VRRPTrackFiles[0]
	if tf.File != "/run/vigil-tf" || tf.Weight != 5 || !tf.WeightReverse || !tf.InitFile || !tf.InitOverwrite {
		t.Errorf("track_file = %+v", *tf)
	}
	v := c.VRRPInstances[0]
	if v.Priority != 150 || v.AdvertInt != syntax.Duration(2*time.Second) || v.VMACName != "vrrp51" || !v.VMACXmitBase ||
		v.McastSrcIP != netip.MustParseAddr("192.0.2.5") || v.PreemptDelay != syntax.Duration(10*time.Second) || v.Debug != 2 ||
		v.GarpMasterDelay != syntax.Duration(time.Second) || v.GarpLowerPrioRepeat != 2 || v.DownTimerAdverts != 5 || v.KernelRxBufSize != 65536 {
		t.Errorf("VI_1 = %+v", *v)
	}
	if v.NotifyMaster == nil || v.NotifyMaster.Command != "/bin/echo master" || v.NotifyBackup.User != "root" {
		t.Errorf("notify_master %+v notify_backup %+v", v.NotifyMaster, v.NotifyBackup)
	}
	if v.Authentication.Type != "PASS" || v.Authentication.Pass != "secret" || v.SyncGroup != "G1" {
		t.Errorf("auth %+v sync group %q", v.Authentication, v.SyncGroup)
	}
	if len(v.VirtualRoutes) != 2 || v.VirtualRoutes[1].Src != netip.MustParseAddr("192.0.2.100") || v.VirtualRoutes[1].Table != "100" ||
		len(v.VirtualRules) != 2 || v.VirtualRules[1].Priority != "101" {
		t.Errorf("routes %+v rules %+v", v.VirtualRoutes, v.VirtualRules)
	}
	v2 := c.VRRPInstances[1]
	if len(v2.UnicastPeers) != 2 || v2.UnicastTTL != 5 || !v2.Nopreempt || *v2.Accept || v2.McastDstIP.IsValid() || v2.GarpMasterRepeat != 2 {
		t.Errorf("VI_2 = %+v", *v2)
	}
	st := c.VRRPStatic
	if len(st.IPAddresses) != 1 || len(st.Routes) != 1 || len(st.Rules) != 1 || len(st.GarpGroups) != 1 || !slices.Equal(st.LinkbeatInterfaces, []string{"eth0"}) {
		t.Errorf("static = %+v", st)
	}
}

// vrrpPostParse holds the checks Keepalived makes once the whole file is read; it prints them without
// a line, vigil at the line of the block they are about.
const vrrpPostParse = `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  advert_int 1.5
  priority 255
  nopreempt
  virtual_ipaddress {
    192.0.2.1
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 2
  virtual_ipaddress {
    fe80::2
  }
  authentication {
    auth_type AH
    auth_pass x
  }
}
vrrp_instance VI_3 {
  interface eth0
  virtual_router_id 3
  version 3
  advert_int 0.015
  authentication {
    auth_type PASS
  }
  virtual_ipaddress {
    192.0.2.3 use_vmac
  }
}
vrrp_instance VI_4 {
  interface eth0
  virtual_router_id 4
  state MASTER
  priority 100
  authentication {
    auth_type AH
    auth_pass x
  }
  unicast_src_ip 192.0.2.9
  virtual_ipaddress {
    192.0.2.4
  }
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  global_tracking
  track_interface {
    eth0 weight 5
  }
}
vrrp_sync_group G {
}
vrrp_sync_group H {
  group {
    VI_1
    VI_3
  }
}
`

func TestPostParseChecksMatchKeepalived(t *testing.T) {
	_, ds := configtest.Parse(t, vrrpPostParse)
	want := []string{
		"53: (G) global_tracking is deprecated. Use track_interface/script/file on the sync group",
		"58: vrrp sync group G already defined",
		"60: Virtual router VI_1 cannot exist in more than one sync group; ignoring H",
		"60: Sync group H has only 1 virtual router(s) - this probably isn't what you want",
		"1: (VI_1) nopreempt is incompatible with priority 255. resetting nopreempt",
		"1: (VI_1) VRRPv2 advertisement interval 1.500000s must be an integer. rounding",
		"11: (VI_2) VRRP version 3 does not support authentication. Ignoring.",
		"22: (VI_3) VRRP version 3 does not support authentication. Ignoring.",
		"22: (VI_3) VRRPv3 advertisement interval 0.015000s must be in units of 10ms - rounding",
		"34: (VI_4) Initial state master is incompatible with AH authentication - clearing",
		"34: (VI_4) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration.",
		"48: (G) Cannot have weighted track interface 'eth0' with member having priority 255 - clearing weight",
		"48: (VI_1) track_interface eth0 is configured on VRRP instance and sync group. Remove vrrp instance or sync group config",
		"48: (VI_2) track_interface eth0 is configured on VRRP instance and sync group. Remove vrrp instance or sync group config",
	}
	if got := configtest.Lines(ds); !slices.Equal(got, want) {
		t.Errorf("diagnostics:\n got  %q\n want %q", got, want)
	}
}

// vrrpParseChecks holds complaints Keepalived makes while reading (keepalived -t); Keepalived reports
// "No file set for track_file" twice (once per process reading it), vigil once.
const vrrpParseChecks = `global_defs {
  smtp_alert maybe
  vrrp_garp_master_repeat 0
  max_auto_priority 200
  lvs_sync_daemon eth0 VI_9 id 300
  vrrp_min_garp
}
vrrp_track_file tfa {
  file /tmp/x
}
track_file tfb {
  weight 2
}
vrrp_track_process tpa {
  quorum 5
  quorum_max 2
}
vrrp_track_process tpb {
  weight 5
}
garp_group {
  interface eth0
}
vrrp_instance {
}
vrrp_instance VI_1 {
  interface eth0123456789012345
  interface eth0
  virtual_router_id 1
  advert_int 1.5
  preempt_delay 2000
  mcast_dst_ip 192.0.2.1
  unicast_ttl 3
  priority 255
  nopreempt
  smtp_alert maybe
  virtual_ipaddress {
    192.0.2.1
  }
  native_ipv6
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 2
  virtual_ipaddress {
    fe80::2
  }
  version 2
  authentication {
    auth_type AH
    auth_pass x
  }
}
vrrp_instance VI_3 {
  interface eth0
  virtual_router_id 3
  version 3
  authentication {
    auth_type PASS
  }
  virtual_ipaddress {
    192.0.2.3 use_vmac
    192.0.2.4 dev
  }
  track_file {
    tfa
    tfb
  }
  track_process {
    tpa
  }
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  global_tracking
}
vrrp_sync_group G {
}
vrrp_sync_group H {
  group {
    VI_1
    VI_3
  }
}
`

func TestParseChecksMatchKeepalived(t *testing.T) {
	_, ds := configtest.Parse(t, vrrpParseChecks)
	want := []string{
		"2: Invalid value 'maybe' for global smtp_alert specified",
		"3: vrrp_garp_master_repeat must be greater than 0, setting to 1",
		"4: number '200' outside range [-1, 99]",
		"4: max_auto_priority '200' must be in [0, 99] (or -1 to disable) - ignoring",
		"5: number '300' outside range [0, 255]",
		"5: Invalid syncid (300) - defaulting to vrid",
		"13: No file set for track_file tfb - ignoring",
		"16: quorum_max is less than quorum - ignoring",
		"17: track process 'tpa' process name not specified",
		"20: track process 'tpb' process name not specified",
		"23: garp group 0 does not have any delay set - removing",
		"24: vrrp_instance must have a name",
		"27: Interface name 'eth0123456789012345' too long - ignoring",
		"31: number '2000' outside range [0.000000, 1000.000000]",
		"31: (VI_1) Preempt_delay not valid! must be between 0-1000",
		"32: (VI_1) mcast_dst_ip 192.0.2.1 not multicast. Skipping...",
		"36: Invalid vrrp_instance smtp_alert parameter maybe",
		"40: (VI_1) Cannot specify native_ipv6 with IPv4 addresses",
		"41: (VI_1): Cannot use unicast_ttl without unicast peers - resetting",
		"48: (VI_2) vrrp_version 2 conflicts with configured or deduced version 0; ignoring.",
		"63: No dev parameter specified for 192.0.2.4",
	}
	got := configtest.Lines(ds)
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Errorf("diagnostics:\n got  %q\n want %q (then anything)", got, want)
	}
}

func TestMaxConnIsReadAndABadOneLeavesItToTheBudget(t *testing.T) {
	tests := []struct {
		line  string
		want  int
		diags []string
	}{
		{"maxconn 5000", 5000, nil},
		{"maxconn 0", 0, []string{"2: number '0' outside range [1, 2147483647]", "2: maxconn '0' invalid - expected a number of connections from 1; the descriptor budget decides"}},
		{"maxconn many", 0, []string{"2: invalid number 'many'", "2: maxconn 'many' invalid - expected a number of connections from 1; the descriptor budget decides"}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			c, ds := configtest.Parse(t, "global_defs {\n "+tc.line+"\n}\n")
			if got := configtest.Lines(ds); c.Global.MaxConn != tc.want || !slices.Equal(got, tc.diags) {
				t.Errorf("maxconn %d, diagnostics %q; want %d, %q", c.Global.MaxConn, got, tc.want, tc.diags)
			}
		})
	}
}

// Keepalived 2.2.7: "(Line 2) Invalid smtp server <smtp.example.com> 25"; a name that merely does
// not resolve is the host's business (vigil says nothing, the mail fails when sent).
func TestSMTPServerNoResolverCanAcceptIsInvalid(t *testing.T) {
	for _, c := range []struct {
		host string
		bad  bool
	}{
		{"<smtp.example.com>", true}, {"smtp/example", true}, {"-smtp.example.com", true}, {"a..b", true},
		{"smtp.example.com", false}, {"smtp.example.com.", false}, {"192.0.2.25", false}, {"2001:db8::25", false}, {"mail_relay", false},
	} {
		c2, ds := configtest.Parse(t, "global_defs {\n  smtp_server "+c.host+"\n}\n")
		got := configtest.Lines(ds)
		if c.bad {
			if !slices.Equal(got, []string{"2: Invalid smtp server " + c.host + " 25"}) {
				t.Errorf("%s: %q", c.host, got)
			}
		} else if len(got) != 0 || c2.Global.SMTPServer != c.host {
			t.Errorf("%s: %q, server %q", c.host, got, c2.Global.SMTPServer)
		}
	}
}

func TestControlSocketAndStateDirAreReadAndABadPathIsRefused(t *testing.T) {
	long := "/run/" + strings.Repeat("s", 110)
	tests := []struct {
		lines         string
		socket, state string
		diags         []string
	}{
		{"", "", globaldefs.DefaultStateDir, nil},
		{"control_socket /run/vigil/control.sock\n state_dir /srv/vigil/", "/run/vigil/control.sock", "/srv/vigil", nil},
		{"control_socket run/vigil.sock", "", globaldefs.DefaultStateDir, []string{"2: control_socket 'run/vigil.sock' invalid (expected an absolute path) - no control socket"}},
		{"control_socket /run/vigil/", "", globaldefs.DefaultStateDir, []string{"2: control_socket '/run/vigil/' invalid (expected a file's path, not a directory's) - no control socket"}},
		{"control_socket " + long, "", globaldefs.DefaultStateDir, []string{"2: control_socket '" + long + "' invalid (115 bytes, a Unix socket's path holds at most 107) - no control socket"}},
		{"state_dir var/lib/vigil", "", globaldefs.DefaultStateDir, []string{"2: state_dir 'var/lib/vigil' invalid (expected an absolute path) - using /var/lib/vigil"}},
	}
	for _, tc := range tests {
		t.Run(tc.lines, func(t *testing.T) {
			c, ds := configtest.Parse(t, "global_defs {\n "+tc.lines+"\n}\n")
			got := configtest.Lines(ds)
			if c.Global.ControlSocket != tc.socket || c.Global.StateDir != tc.state || !slices.Equal(got, tc.diags) {
				t.Errorf("control_socket %q, state_dir %q, diagnostics %q; want %q, %q, %q", c.Global.ControlSocket, c.Global.StateDir, got, tc.socket, tc.state, tc.diags)
			}
		})
	}
}
