package vrrpd_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestInstanceDefaultsAreKeepalivedOnes(t *testing.T) {
	c, ds := configtest.Parse(t, configtest.Instance(""))
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	v := c.VRRPInstances[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"pos", v.Pos, syntax.Pos{File: "test.conf", Line: 1}},
		{"priority", v.Priority, 100},
		{"state", v.State, "BACKUP"},
		{"advert_int", v.AdvertInt, syntax.Duration(time.Second)},
		{"version", v.Version, 2},
		{"family", v.Family, "inet"},
		{"garp_master_delay", v.GarpMasterDelay, syntax.Duration(5 * time.Second)},
		{"garp_master_repeat", v.GarpMasterRepeat, 5},
		{"garp_master_refresh_repeat", v.GarpMasterRefreshRepeat, 1},
		{"garp_lower_prio_delay", v.GarpLowerPrioDelay, syntax.Duration(5 * time.Second)},
		{"garp_lower_prio_repeat", v.GarpLowerPrioRepeat, 5},
		{"down_timer_adverts", v.DownTimerAdverts, 3},
		{"mcast_dst_ip", v.McastDstIP, netip.MustParseAddr("224.0.0.18")},
		{"accept", *v.Accept, true},
		{"unicast_ttl", v.UnicastTTL, -1},
		{"vip", v.VirtualIPAddresses[0].Prefix, netip.MustParsePrefix("192.0.2.1/32")},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestGlobalDefaultsAreKeepalivedOnesPlusVigilExtensions(t *testing.T) {
	c, ds := configtest.Parse(t, "global_defs {\n}\n")
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	g := c.Global
	checks := []struct {
		name      string
		got, want any
	}{
		{"smtp_connect_timeout", g.SMTPConnectTimeout, syntax.Duration(30 * time.Second)},
		{"smtp_port", g.SMTPPort, uint16(25)},
		{"vrrp_version", g.VRRPVersion, 2},
		{"vrrp_garp_master_delay", g.VRRPGarpMasterDelay, syntax.Duration(5 * time.Second)},
		{"vrrp_mcast_group6", g.VRRPMcastGroup6, netip.MustParseAddr("ff02::12")},
		{"status_listen", g.StatusListen, "127.0.0.1:9080"},
		{"dataplane", g.Dataplane, "userspace"},
		{"log_format", g.LogFormat, "text"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestGlobalDefaultsReachInstancesWhateverTheOrder(t *testing.T) {
	src := configtest.Instance("") + "global_defs {\n vrrp_garp_master_delay 2\n vrrp_version 3\n vrrp_garp_master_repeat 7\n}\n"
	c, ds := configtest.Parse(t, src)
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	v := c.VRRPInstances[0]
	if v.GarpMasterDelay != syntax.Duration(2*time.Second) || v.Version != 3 || v.GarpMasterRepeat != 7 || v.GarpLowerPrioRepeat != 7 {
		t.Errorf("instance did not inherit globals: delay %v version %d repeat %d lower repeat %d",
			v.GarpMasterDelay, v.Version, v.GarpMasterRepeat, v.GarpLowerPrioRepeat)
	}
}

func TestMasterWithoutPriorityIsAddressOwner(t *testing.T) {
	c, _ := configtest.Parse(t, configtest.Instance(" state MASTER"))
	if v := c.VRRPInstances[0]; v.Priority != 255 {
		t.Errorf("priority = %d, want 255 for state MASTER without priority", v.Priority)
	}
	c, _ = configtest.Parse(t, configtest.Instance(" priority 255"))
	if v := c.VRRPInstances[0]; v.State != "MASTER" {
		t.Errorf("state = %s, want MASTER for priority 255 without state", v.State)
	}
}

func TestIPv6InstanceIsVersion3(t *testing.T) {
	src := "vrrp_instance V6 {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  fe80::1/64\n  2001:db8::1/64\n }\n}\n"
	c, ds := configtest.Parse(t, src)
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	v := c.VRRPInstances[0]
	if v.Version != 3 || v.Family != "inet6" || v.McastDstIP != netip.MustParseAddr("ff02::12") {
		t.Errorf("got version %d family %s mcast %v", v.Version, v.Family, v.McastDstIP)
	}
}

// Each case: a configuration and the diagnostics Keepalived 2.2.7 prints for it (checked with
// keepalived -t), as "line: message"; post-parse messages are at the line of their block.
func TestDiagnosticsMatchKeepalived(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"garp interval zero",
			"global_defs {\n vrrp_garp_interval 0\n}\n",
			[]string{"2: number '0' outside range [0.000001, 4294.967295]", "2: vrrp_garp_interval '0' is invalid"}},
		{"gna interval zero",
			"global_defs {\n vrrp_gna_interval 0\n}\n",
			[]string{"2: number '0' outside range [0.000001, 4294.967295]", "2: vrrp_gna_interval '0' is invalid"}},
		{"too many decimals still used",
			"global_defs {\n vrrp_garp_interval 0.0000015\n}\n",
			[]string{"2: number '0.0000015' has too many decimal places"}},
		{"vrrp_version out of range",
			"global_defs {\n vrrp_version 4\n}\n",
			[]string{"2: number '4' outside range [2, 3]", "2: VRRP Error: Version must be either 2 or 3"}},
		{"mcast group not multicast",
			"global_defs {\n vrrp_mcast_group4 192.0.2.4\n}\n",
			[]string{"2: vrrp_mcast_group4 [192.0.2.4] is not multicast. Skipping"}},
		{"router_id missing",
			"global_defs {\n router_id\n}\n",
			[]string{"2: routerid name missing - ignoring"}},
		{"empty notification_email",
			"global_defs {\n notification_email {\n }\n}\n",
			[]string{"3: Warning - empty notification_email block"}},
		{"smtp_connect_timeout zero",
			"global_defs {\n smtp_connect_timeout 0\n}\n",
			[]string{"2: smtp_conect_timeout must be greater than 0, setting to 1"}},
		{"missing parameter is fatal",
			"global_defs {\n vrrp_version\n}\n",
			[]string{"2: E *** Configuration line starting `vrrp_version` is missing a parameter after keyword `vrrp_version` at word position 2"}},
		{"status_listen invalid",
			"global_defs {\n status_listen localhost\n}\n",
			[]string{"2: status_listen 'localhost' invalid (expected ADDRESS:PORT) - using 127.0.0.1:9080"}},
		{"dataplane invalid",
			"global_defs {\n dataplane xdp\n}\n",
			[]string{"2: dataplane 'xdp' invalid - expected userspace, nftables, ipvs or auto; using userspace"}},
		{"vrid out of range",
			configtest.Instance(" virtual_router_id 300"),
			[]string{"4: number '300' outside range [1, 255]", "4: (VI_1): VRID '300' not valid - must be between 1 & 255"}},
		{"priority zero",
			configtest.Instance(" priority 0"),
			[]string{"4: number '0' outside range [1, 255]", "4: (VI_1) Priority not valid! must be between 1 & 255. Using default 100"}},
		{"priority not a number",
			configtest.Instance(" priority 100,x"),
			[]string{"4: invalid number '100,x'", "4: (VI_1) Priority not valid! must be between 1 & 255. Using default 100"}},
		{"priority negative",
			configtest.Instance(" priority -1"),
			[]string{"4: negative number '-1'", "4: (VI_1) Priority not valid! must be between 1 & 255. Using default 100"}},
		{"advert_int zero",
			configtest.Instance(" advert_int 0"),
			[]string{"4: number '0' outside range [0.010000, 255.000000]", "4: (VI_1) Advert interval (0) not valid! Must be > 0 - ignoring"}},
		{"unknown state",
			configtest.Instance(" state FOO"),
			[]string{"4: (VI_1) unknown state 'FOO', defaulting to BACKUP"}},
		{"auth_pass truncated",
			configtest.Instance(" authentication {\n  auth_type PASS\n  auth_pass 123456789\n }"),
			[]string{"6: Truncating auth_pass to 8 characters"}},
		{"unknown auth type",
			configtest.Instance(" authentication {\n  auth_type MD5\n  auth_pass x\n }"),
			[]string{"5: (VI_1) unknown authentication type 'MD5'"}},
		{"vip options",
			configtest.Instance(" virtual_ipaddress {\n  192.0.2.9/24 dev eth0 foo\n  bogus\n  192.0.2.8/40\n }"),
			[]string{"5: Unknown configuration entry 'foo' for ip address - ignoring",
				"6: VRRP parsed invalid IP bogus. skipping IP...",
				"7: number '40' outside range [0, 32]",
				"7: Invalid address prefix len 40 for address 192.0.2.8/40 - using 32"}},
		{"lvs_sync_daemon_interface deprecated",
			strings.Replace(configtest.Instance(" lvs_sync_daemon_interface eth0"), "VI_1", "VI_53", 1),
			[]string{"4: (VI_53) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.",
				"4:          Please use global lvs_sync_daemon"}},
		{"nopreempt with MASTER",
			configtest.Instance(" state MASTER\n priority 150\n nopreempt"),
			[]string{"1: (VI_1) Warning - nopreempt will not work with initial state MASTER - clearing"}},
		{"track script not found",
			configtest.Instance(" track_script {\n  chk\n }"),
			[]string{"5: (VI_1) track script chk not found, ignoring..."}},
		{"track script defined after instance is not found",
			configtest.Instance(" track_script {\n  chk\n }") + "vrrp_script chk {\n script /bin/true\n}\n",
			[]string{"5: (VI_1) track script chk not found, ignoring..."}},
		{"track script checks",
			"vrrp_script chk {\n script /bin/true\n}\n" + configtest.Instance(" track_script {\n  chk weight 10\n  chk\n  other\n }"),
			[]string{"9: (VI_1) duplicate track_script chk - ignoring", "10: (VI_1) track script other not found, ignoring..."}},
		{"track script option typo",
			"vrrp_script chk {\n script /bin/true\n}\n" + configtest.Instance(" track_script {\n  chk weight=0\n }"),
			[]string{"8: (VI_1) unknown track script option weight=0 - ignoring"}},
		{"track interface weight",
			configtest.Instance(" track_interface {\n  eth1 weight 300\n  eth2 weight\n }"),
			[]string{"5: number '300' outside range [-254, 254]",
				"5: (VI_1) weight 300 for eth1 must be between [-253..253] inclusive. Ignoring...",
				"6: (VI_1) weight without value specified for track_interface eth2 - ignoring"}},
		{"own interface is not tracked",
			configtest.Instance(" track_interface {\n  eth0\n }"),
			[]string{"1: (VI_1) Ignoring track_interface eth0 since own interface"}},
		{"unicast peers",
			configtest.Instance(" unicast_peer {\n  192.0.2.9 min_ttl 10 max_ttl 5\n  bogus\n }"),
			[]string{"5: (VI_1) min_ttl 10 > max_ttl 5 - all packets will be discarded",
				"6: Configuration error: VRRP instance[VI_1] malformed unicast peer address[bogus]. Skipping..."}},
		{"vrrp_script values",
			"vrrp_script chk {\n script /bin/true\n interval 0\n timeout 0\n weight 300 foo\n rise 0\n fall x\n}\n",
			[]string{"3: (chk): vrrp script interval must be greater than 0, setting to 1",
				"4: (chk): vrrp script timeout must be greater than 0, setting to 1",
				"5: number '300' outside range [-253, 253]",
				"5: vrrp_script chk weight 300 must be in [-253, 253]",
				"5: vrrp_script chk unknown weight option foo",
				"6: number '0' outside range [1, 2147483647]",
				"6: (chk): vrrp script rise value '0' invalid, defaulting to 1",
				"7: invalid number 'x'",
				"7: (chk): vrrp script fall value 'x' invalid, defaulting to 1"}},
		{"vrrp_script without script",
			"vrrp_script chk {\n interval 2\n}\n",
			[]string{"3: No script set for vrrp_script chk - removing"}},
		{"missing vrid makes the instance unusable",
			"vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n",
			[]string{"1: E (VI_1) the virtual router id must be set"}},
		{"no interface is fatal even with unicast peers",
			"vrrp_instance VI_1 {\n virtual_router_id 1\n unicast_peer {\n  192.0.2.2\n }\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n",
			[]string{"1: E (VI_1) Unknown interface!"}},
		{"static address track_group must exist",
			"track_group TG {\n group {\n  VI_1\n }\n}\nstatic_ipaddress {\n 192.0.2.50/24 dev eth0 track_group TG\n 192.0.2.51/24 dev eth0 track_group TX\n}\n",
			[]string{"8: track_group TX not found"}},
		{"multicast destination with unicast",
			configtest.Instance(" unicast_peer {\n  192.0.2.2\n }\n mcast_dst_ip 224.0.0.20"),
			[]string{"1: (VI_1) multicast destination specified with unicast - ignoring"}},
		{"duplicate VRID on an interface is fatal",
			configtest.Instance("") + strings.Replace(configtest.Instance(""), "VI_1", "VI_2", 1),
			[]string{"9: E VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth0"}},
		{"same VRID for IPv4 and IPv6 is fine",
			configtest.Instance("") + "vrrp_instance V6 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  fe80::1\n }\n}\n",
			nil},
		{"duplicate unicast VRID with a common peer",
			configtest.Instance(" unicast_src_ip 192.0.2.5\n unicast_peer {\n  192.0.2.6\n }") +
				strings.Replace(configtest.Instance(" unicast_src_ip 192.0.2.5\n unicast_peer {\n  192.0.2.6\n }"), "VI_1", "VI_2", 1),
			[]string{"12: E (VI_1) duplicate VRID conflict with VI_2 VRID 51"}},
		{"loopback interface",
			"vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n",
			[]string{"2: (VI_1) cannot use a loopback interface (lo) for vrrp - ignoring", "1: E (VI_1) Unknown interface!"}},
		{"vmac settings",
			configtest.Instance(" use_vmac\n promote_secondaries") + strings.Replace(strings.Replace(configtest.Instance(" vmac_xmit_base"), "VI_1", "VI_2", 1), "51", "52", 1),
			[]string{"1: (VI_1) promote_secondaries is automatically set for vmacs - ignoring",
				"10: (VI_2) vmac_xmit_base is only valid with a vmac"}},
		{"no VIP",
			"vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n}\n",
			[]string{"1: (VI_1) No VIP specified; at least one is sensible"}},
		{"no VIP with version 3 is fatal",
			"vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n version 3\n}\n",
			[]string{"1: E (VI_1) No VIP specified; at least one is required"}},
		{"strict mode",
			"global_defs {\n vrrp_strict\n}\n" + configtest.Instance(" state MASTER\n priority 100\n authentication {\n  auth_type PASS\n  auth_pass x\n }"),
			[]string{"4: (VI_1) State MASTER must match being address owner",
				"4: (VI_1) Strict mode does not support authentication. Ignoring."}},
		{"sync group references",
			configtest.Instance("") + "vrrp_sync_group G {\n group {\n  VI_1\n  VI_X\n }\n}\n",
			[]string{"9: Virtual router VI_X specified in sync group G doesn't exist - ignoring",
				"9: Sync group G has only 1 virtual router(s) - this probably isn't what you want"}},
		{"sync group without members",
			"vrrp_sync_group G {\n group {\n  VI_X\n }\n}\n",
			[]string{"1: Virtual router VI_X specified in sync group G doesn't exist - ignoring",
				"1: Sync group G, no matching virtual router found in group declaration - removing"}},
		{"sync group ignores weighted scripts",
			"vrrp_script chk {\n script /bin/true\n weight 5\n}\n" + configtest.Instance(" track_script {\n  chk\n }") +
				"vrrp_sync_group G {\n group {\n  VI_1\n }\n}\n",
			[]string{"15: Sync group G has only 1 virtual router(s) - this probably isn't what you want",
				"5: (VI_1) ignoring tracked script chk with weights due to SYNC group"}},
		{"duplicate instance",
			configtest.Instance("") + configtest.Instance(""),
			[]string{"9: vrrp instance VI_1 already defined"}},
		{"routes",
			configtest.Instance(" virtual_routes {\n  192.0.2.0/24 gw 192.0.2.254 dev eth0\n  default via 192.0.2.254\n }"),
			[]string{"5: \"gw\" for routes is deprecated. Please use \"via\"",
				"6: Warning - cannot track route default with no interface specified, not tracking"}},
		{"rules",
			// "order" names the preference too (line 7: no complaint).
			configtest.Instance(" virtual_rules {\n  from 192.0.2.0/24 table 100\n  to 192.0.2./24 table 100\n  from 192.0.2.1 order 100 table 100\n }"),
			[]string{"5: Rule has no preference specified - setting to 16384. This is probably not what you want.",
				"6: VRRP parsed invalid IP 192.0.2./24. skipping IP...",
				"6: Invalid rule to address 192.0.2./24"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := configtest.Parse(t, tc.src)
			got := configtest.Lines(ds)
			if !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

func TestTrackWeightsComeFromTheTrackedObject(t *testing.T) {
	src := "vrrp_script chk {\n script \"/bin/true\"\n weight -20 reverse\n}\n" +
		"track_file tf {\n file /run/x\n weight 3\n}\n" +
		configtest.Instance(" track_script {\n  chk\n }\n track_file {\n  tf weight 7 noreverse\n }")
	c, ds := configtest.Parse(t, src)
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	v := c.VRRPInstances[0]
	if ts := v.TrackScripts[0]; ts.Weight != -20 || !ts.WeightReverse {
		t.Errorf("track_script = %+v, want weight -20 reverse", *ts)
	}
	if tf := v.TrackFiles[0]; tf.Weight != 7 || tf.WeightReverse {
		t.Errorf("track_file = %+v, want weight 7", *tf)
	}
	if s := c.VRRPScripts[0]; s.Timeout != s.Interval {
		t.Errorf("script timeout %v, want the interval %v when unset", s.Timeout, s.Interval)
	}
}

func TestTrackProcessSettings(t *testing.T) {
	src := "vrrp_track_process nginx {\n process nginx -g daemon\n weight 10 reverse\n quorum 2\n quorum_max 3\n delay 1.5\n}\n"
	c, ds := configtest.Parse(t, src)
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	tp := c.VRRPTrackProcesses[0]
	if tp.Process != "nginx" || !slices.Equal(tp.Params, []string{"-g", "daemon"}) || tp.ParamMatch != "exact" ||
		tp.Weight != 10 || !tp.WeightReverse || tp.Quorum != 2 || tp.QuorumMax != 3 ||
		tp.ForkDelay != syntax.Duration(1500*time.Millisecond) || tp.TerminateDelay != syntax.Duration(1500*time.Millisecond) {
		t.Errorf("track process = %+v", *tp)
	}
}

func TestVirtualIPOptionsAreKept(t *testing.T) {
	c, ds := configtest.Parse(t, configtest.Instance(" virtual_ipaddress_excluded {\n  192.0.2.10/24 brd + dev eth1 scope link label eth1:1 no_track\n }"))
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	a := c.VRRPInstances[0].VirtualIPAddressesExcluded[0]
	want := vrrpd.VirtualIP{Pos: a.Pos, Prefix: netip.MustParsePrefix("192.0.2.10/24"), Broadcast: "+", Dev: "eth1", Scope: "link", Label: "eth1:1", NoTrack: true}
	if fmt.Sprint(*a) != fmt.Sprint(want) {
		t.Errorf("vip = %+v, want %+v", *a, want)
	}
}

func TestVigilExtensionsAreRead(t *testing.T) {
	c, ds := configtest.Parse(t, "global_defs {\n status_listen [::1]:9100\n status_token s3cret\n dataplane nftables\n log_format json\n}\n")
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	g := c.Global
	if g.StatusListen != "[::1]:9100" || g.StatusToken != "s3cret" || g.Dataplane != "nftables" || g.LogFormat != "json" {
		t.Errorf("extensions = %q %q %q %q", g.StatusListen, g.StatusToken, g.Dataplane, g.LogFormat)
	}
}

// The VRRP samples of Keepalived's distribution parse with exactly the complaints Keepalived
// 2.2.7 makes of them (checked with keepalived -t), leaving aside interfaces missing on this host.
func TestVRRPSamplesParseLikeKeepalived(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "samples") // fails under CI when shared/ is missing
	want := map[string][]string{
		"keepalived.conf.vrrp":            nil,
		"keepalived.conf.vrrp.localcheck": nil,
		"keepalived.conf.vrrp.scripts":    nil,
		"keepalived.conf.vrrp.sync":       nil,
		"keepalived.conf.vrrp.static_ipaddress": {
			"25: Warning - cannot track route 192.168.112.0/24 with no interface specified, not tracking",
		},
		"keepalived.conf.track_interface": {
			"31: Warning - cannot track route 192.168.112.0/24 with no interface specified, not tracking",
		},
		"keepalived.conf.vrrp.routes": {
			"29: Warning - cannot track route 192.168.112.0/24 with no interface specified, not tracking",
			"30: \"or\" for routes is deprecated. Please use \"nexthop\"",
			"30: Warning - cannot track route 192.168.113.0/24 with no interface specified, not tracking",
			"31: Warning - cannot track route 192.168.113.1/32 with no interface specified, not tracking",
			"32: \"gw\" for routes is deprecated. Please use \"via\"",
			"32: Warning - cannot track route 0.0.0.0/0 with no interface specified, not tracking",
		},
		"keepalived.conf.vrrp.rules": {
			"10: Rule has no preference specified - setting to 16384. This is probably not what you want.",
			"11: VRRP parsed invalid IP 192.168.100./24. skipping IP...",
			"11: Invalid rule to address 192.168.100./24",
			"25: Rule has no preference specified - setting to 16383. This is probably not what you want.",
			"26: VRRP parsed invalid IP 192.168.200./24. skipping IP...",
			"26: Invalid rule to address 192.168.200./24",
		},
		"keepalived.conf.vrrp.lvs_syncd": {
			"4: Unknown keyword 'VI_2'",
			"5: Unknown keyword 'VI_3'",
			"11: (VI_1) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.",
			"11:         Please use global lvs_sync_daemon",
			// Keepalived stops before this on a host without eth1.
			"3: Sync group VG1 has no virtual router(s). removing",
		},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			c, ds := configtest.Parse(t, string(b))
			got := configtest.Lines(ds)
			if !slices.Equal(got, w) {
				t.Errorf("diagnostics:\n got  %q\n want %q", got, w)
			}
			if len(c.VRRPInstances) == 0 {
				t.Errorf("no vrrp_instance read")
			}
		})
	}
}

func TestVRRPModelMarshalsWithSnakeCaseNames(t *testing.T) {
	src := "global_defs {\n router_id r1\n}\nvrrp_script chk {\n script /bin/true\n}\n" +
		configtest.Instance(" track_script {\n  chk\n }\n unicast_peer {\n  192.0.2.7\n }")
	c, ds := configtest.Parse(t, src)
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	for _, key := range []string{`"router_id":"r1"`, `"virtual_router_id":51`, `"advert_int":"1s"`,
		`"track_script":[{"pos":{"file":"test.conf","line":`, `"unicast_peer":[{"pos"`, `"prefix":"192.0.2.1/32"`,
		`"vrrp_mcast_group4":"224.0.0.18"`, `"status_listen":"127.0.0.1:9080"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestSyncDaemonIDDefaultsToTheInstanceVRID(t *testing.T) {
	c, _ := configtest.Parse(t, "global_defs {\n lvs_sync_daemon eth0 VI_1\n}\n"+configtest.Instance(""))
	if sd := c.Global.LVSSyncDaemon; sd == nil || sd.SyncID != 51 || sd.VRRPInstance != "VI_1" {
		t.Errorf("lvs_sync_daemon = %+v, want sync id 51 from VI_1", sd)
	}
	c, _ = configtest.Parse(t, configtest.Instance(" lvs_sync_daemon_interface eth1"))
	if sd := c.Global.LVSSyncDaemon; sd == nil || sd.SyncID != 51 || sd.Interface != "eth1" {
		t.Errorf("lvs_sync_daemon from the instance = %+v", sd)
	}
}
