package lvs_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/testenv"
)

func secs(f float64) syntax.Duration { return syntax.Duration(time.Duration(f * float64(time.Second))) }

// onlyVS parses src and returns its single virtual server.
func onlyVS(t *testing.T, src string) (*lvs.VirtualServer, *syntax.Diagnostics) {
	t.Helper()
	c, d := configtest.Parse(t, src)
	if len(c.VirtualServers) != 1 {
		t.Fatalf("got %d virtual servers, want 1; diagnostics %q", len(c.VirtualServers), configtest.Messages(d))
	}
	return c.VirtualServers[0], d
}

func TestVirtualServerDefaultsAreKeepalivedDefaults(t *testing.T) {
	vs, d := onlyVS(t, `virtual_server 10.0.0.1 80 {
  real_server 10.0.0.2 80 {
    TCP_CHECK {
    }
  }
}`)
	want := []string{
		"1: Virtual server [10.0.0.1]:none:80: no protocol set - defaulting to UDP",
		"1: Virtual server [10.0.0.1]:udp:80: no scheduler set, setting default 'wlc'",
		"1: Virtual server [10.0.0.1]:udp:80: no forwarding method set, setting default NAT",
	}
	if got := configtest.Messages(d); !slices.Equal(got, want) {
		t.Errorf("messages:\n got %q\nwant %q", got, want)
	}
	if vs.Kind != lvs.VSKindAddress || vs.Address != netip.MustParseAddr("10.0.0.1") || vs.Port != 80 || vs.Family != "inet" {
		t.Errorf("service = %s %v %d %s", vs.Kind, vs.Address, vs.Port, vs.Family)
	}
	if vs.Protocol != "UDP" || vs.Scheduler != "wlc" || vs.Forwarding.Method != "NAT" {
		t.Errorf("protocol/scheduler/forwarding = %s/%s/%s", vs.Protocol, vs.Scheduler, vs.Forwarding.Method)
	}
	if vs.DelayLoop != secs(60) || vs.ConnectTimeout != secs(5) || vs.Quorum != 1 || vs.Weight != 1 || vs.Rise != 1 {
		t.Errorf("vs defaults: delay_loop %v connect_timeout %v quorum %d weight %d rise %d", vs.DelayLoop, vs.ConnectTimeout, vs.Quorum, vs.Weight, vs.Rise)
	}
	if vs.Retry != nil || vs.DelayBeforeRetry != nil || vs.Warmup != nil || vs.SMTPAlert {
		t.Errorf("vs optional defaults: retry %v dbr %v warmup %v smtp %v", vs.Retry, vs.DelayBeforeRetry, vs.Warmup, vs.SMTPAlert)
	}
	rs := vs.RealServers[0]
	if rs.Weight != 1 || rs.Forwarding.Method != "NAT" || rs.DelayLoop != secs(60) || rs.ConnectTimeout != secs(5) || !rs.SMTPAlert || rs.Rise != 1 {
		t.Errorf("rs defaults: %+v", rs)
	}
	c := rs.Checkers[0]
	if c.Kind != lvs.CheckTCP || c.Retry != 1 || c.DelayBeforeRetry != secs(1) || c.DelayLoop != secs(60) || c.Warmup != secs(60) || c.Alpha {
		t.Errorf("checker defaults: %+v", c)
	}
	if c.DownDelayLoop != secs(60) || c.TransitionDelayLoop != secs(60) || c.Rise != 1 {
		t.Errorf("checker extension defaults: down %v transition %v rise %d", c.DownDelayLoop, c.TransitionDelayLoop, c.Rise)
	}
	wantConn := lvs.Connection{Address: netip.MustParseAddr("10.0.0.2"), Port: 80, Timeout: secs(5)}
	if *c.Connection != wantConn {
		t.Errorf("connection = %+v, want %+v", *c.Connection, wantConn)
	}
}

func TestRealServerInheritsFromVirtualServer(t *testing.T) {
	vs, d := onlyVS(t, `virtual_server 10.0.0.1 80 {
  protocol TCP
  lb_algo rr
  lb_kind DR
  delay_loop 10
  connect_timeout 3
  retry 4
  delay_before_retry 2
  warmup 5
  alpha
  inhibit_on_failure
  weight 7
  smtp_alert
  rise 3
  slow_start 30
  down_delay_loop 2
  transition_delay_loop 1
  real_server 10.0.0.2 80 {
    TCP_CHECK {
    }
  }
  real_server 10.0.0.3 80 {
    weight 2
    delay_loop 20
    connect_timeout 4
    retry 6
    alpha no
    inhibit_on_failure false
    rise 5
    TCP_CHECK {
      retry 0
      delay_loop 1.5
      connect_timeout 0.25
      alpha
    }
  }
}`)
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	inh, over := vs.RealServers[0], vs.RealServers[1]
	if inh.Weight != 7 || inh.Forwarding.Method != "DR" || inh.DelayLoop != secs(10) || inh.ConnectTimeout != secs(3) ||
		*inh.Retry != 4 || *inh.DelayBeforeRetry != secs(2) || *inh.Warmup != secs(5) || !inh.Alpha || !inh.InhibitOnFailure ||
		inh.Rise != 3 || inh.SlowStart != secs(30) || inh.DownDelayLoop != secs(2) || inh.TransitionDelayLoop != secs(1) {
		t.Errorf("inheriting real server: %+v", inh)
	}
	c := inh.Checkers[0]
	if c.Retry != 4 || c.DelayBeforeRetry != secs(2) || c.Warmup != secs(5) || c.DelayLoop != secs(10) || !c.Alpha ||
		c.Connection.Timeout != secs(3) || c.DownDelayLoop != secs(2) || c.TransitionDelayLoop != secs(1) || c.Rise != 3 {
		t.Errorf("checker of inheriting real server: %+v %+v", c, c.Connection)
	}
	if over.Weight != 2 || over.DelayLoop != secs(20) || over.ConnectTimeout != secs(4) || *over.Retry != 6 || over.Alpha || over.InhibitOnFailure || over.Rise != 5 {
		t.Errorf("overriding real server: %+v", over)
	}
	c = over.Checkers[0]
	if c.Retry != 0 || c.DelayLoop != secs(1.5) || c.Connection.Timeout != secs(0.25) || !c.Alpha || c.Warmup != secs(5) {
		t.Errorf("overriding checker: %+v %+v", c, c.Connection)
	}
}

func TestVirtualServerForms(t *testing.T) {
	tests := []struct {
		name, src string
		kind      string
		want      string
	}{
		{"address", "virtual_server 192.0.2.1 443 {\nprotocol TCP\n", lvs.VSKindAddress, "[192.0.2.1]:tcp:443"},
		{"ipv6", "virtual_server 2001:db8::1 53 {\nprotocol UDP\n", lvs.VSKindAddress, "[2001:db8::1]:udp:53"},
		{"fwmark", "virtual_server fwmark 42 {\n", lvs.VSKindFwmark, "FWM 42"},
		{"group", "virtual_server_group G {\n192.0.2.1 80\n}\nvirtual_server group G {\nprotocol TCP\n", lvs.VSKindGroup, "[G]:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsAddr := "192.0.2.9"
			if tt.name == "ipv6" {
				rsAddr = "2001:db8::9"
			}
			vs, _ := onlyVS(t, tt.src+"lb_algo rr\nlb_kind NAT\nreal_server "+rsAddr+" 80 {\n}\n}\n")
			if vs.Kind != tt.kind || vs.Name() != tt.want {
				t.Errorf("kind %q name %q, want %q %q", vs.Kind, vs.Name(), tt.kind, tt.want)
			}
		})
	}
}

// lvsConf wraps body in a virtual server with everything set that would otherwise draw a
// default-setting message.
func lvsConf(vsBody, rsBody string) string {
	return "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n" + vsBody +
		"  real_server 10.0.0.2 80 {\n" + rsBody + "  }\n}\n"
}

func TestVirtualServerMessagesMatchKeepalived(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"delay loop zero", lvsConf("  delay_loop 0\n", ""), []string{
			"5: number '0' outside range [0.000001, 18446744073709.551614]",
			"5: virtual server delay loop '0' invalid - ignoring"}},
		{"unknown scheduler", lvsConf("  lb_algo foo\n", ""), []string{"5: Invalid lvs_scheduler 'foo' - ignoring"}},
		{"lower-case dr", lvsConf("  lb_kind dr\n", ""), []string{"5: PARSER : unknown [dr] routing method for virtual server."}},
		{"FNAT", lvsConf("  lb_kind FNAT\n", ""), []string{"5: PARSER : unknown [FNAT] routing method for virtual server."}},
		{"real server method", lvsConf("", "    lvs_method FNAT\n"), []string{"6: PARSER : unknown [FNAT] routing method for real server."}},
		{"quorum zero", lvsConf("  quorum 0\n", ""), []string{
			"5: number '0' outside range [1, 4294967295]",
			"5: Quorum 0 must be in [1, 4294967295]. Setting to 1."}},
		{"quorum above weight", lvsConf("  quorum 2\n", ""), []string{
			"1: Warning - quorum 2 for [10.0.0.1]:tcp:80 exceeds total weight of real servers 1, reducing quorum to 1"}},
		{"hysteresis", lvsConf("  hysteresis 1\n", ""), []string{
			"1: Virtual server [10.0.0.1]:tcp:80: hysteresis 1 >= quorum 1; setting hysteresis to 0"}},
		{"persistence zero", lvsConf("  persistence_timeout 0\n", ""), []string{
			"5: number '0' outside range [1, 2678400]", "5: persistence_timeout invalid"}},
		{"negative weight", lvsConf("", "    weight -1\n"), []string{
			"6: negative number '-1'", "6: Real server weight -1 is outside range 0-2147483647"}},
		{"nat_mask", lvsConf("  nat_mask 255.255.255.0\n", ""), []string{"5: Unknown keyword 'nat_mask'"}},
		{"unknown protocol", lvsConf("  protocol ICMP\n", ""), []string{"5: Unknown protocol ICMP - ignoring"}},
		{"sh flag without sh", lvsConf("  sh-port\n", ""), []string{"5: sh-port only applies to sh scheduler - ignoring"}},
		{"ops needs udp", lvsConf("  ops\n", ""), []string{"1: Virtual server [10.0.0.1]:tcp:80: one packet scheduling requires UDP - resetting"}},
		{"inhibit bad word", lvsConf("", "    inhibit_on_failure maybe\n"), []string{"6: Invalid inhibit_on_failure parameter maybe"}},
		{"missing parameter", lvsConf("  lb_algo\n", ""), []string{
			"5: error: *** Configuration line starting `lb_algo` is missing a parameter after keyword `lb_algo` at word position 2"}},
		{"duplicate real server", lvsConf("  real_server 10.0.0.2 80 {\n  }\n", ""), []string{
			"7: VS [10.0.0.1]:tcp:80: real server [10.0.0.2]:tcp:80 is duplicated - removing second rs"}},
		{"family mismatch", lvsConf("  real_server 2001:db8::2 80 {\n  }\n", ""), []string{
			"6: Address family of virtual server and real server 2001:db8::2 don't match - skipping real server."}},
		{"invalid real server", lvsConf("  real_server 10.0.0.300 80 {\n  weight 3\n  }\n", ""), []string{
			"5: Invalid real server ip address/port 10.0.0.300/80 - skipping"}},
		{"bad port", lvsConf("  real_server 10.0.0.3 70000 {\n  }\n", ""), []string{
			"5: number '70000' outside range [1, 65535]",
			"5: Invalid real server ip address/port 10.0.0.3/70000 - skipping"}},
		{"DR port mismatch", "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlb_algo rr\nlb_kind DR\nreal_server 10.0.0.2 81 {\n}\n}\n", []string{
			"5: WARNING - virtual server [10.0.0.1]:tcp:80 and real server [10.0.0.2]:tcp:81 ports don't match - resetting"}},
		{"fwmark protocol", "virtual_server fwmark 2 {\nprotocol TCP\nlb_algo rr\nlb_kind NAT\nreal_server 10.0.0.2 80 {\n}\n}\n", []string{
			"1: Warning: Virtual server FWM 2: protocol specified for fwmark - protocol will be ignored"}},
		{"ha_suspend fwmark", "virtual_server fwmark 2 {\nha_suspend\nlb_algo rr\nlb_kind NAT\nreal_server 10.0.0.2 80 {\n}\n}\n", []string{
			"1: Virtual server FWM 2: cannot use ha_suspend with fwmarks - clearing ha_suspend"}},
		{"zero port", "virtual_server 10.0.0.1 0 {\nprotocol TCP\nlb_algo rr\nlb_kind NAT\nreal_server 10.0.0.2 80 {\n}\n}\n", []string{
			"1: Virtual server [10.0.0.1]:tcp:0: zero port only valid for persistent services - setting"}},
		{"sorry inhibit differs", lvsConf("  sorry_server 10.0.0.2 80\n  inhibit_on_failure\n", "    inhibit_on_failure\n"), []string{
			"1: Virtual server [10.0.0.1]:tcp:80: real server [10.0.0.2]:tcp:80 matches sorry server, but inhibit setting differs, setting on sorry server"}},
		{"sorry inhibit without sorry", lvsConf("  sorry_server_inhibit\n", ""), []string{
			"5: Ignoring sorry_server inhibit used before or without sorry_server"}},
		{"gue without port", lvsConf("  lb_kind TUN type gue\n", ""), []string{"5: gue tunnels require port, otherwise cannot have port."}},
		{"ipip with csum", lvsConf("  lb_kind TUN csum\n", ""), []string{"5: ipip tunnels do not support checksum option."}},
		{"notify_up twice", lvsConf("  quorum_up /bin/true\n  quorum_up /bin/false\n", "    notify_up /bin/true\n    notify_up /bin/false z\n"), []string{
			"9: ((null)) notify_up script already specified - ignoring /bin/false"}},
		{"no real servers", "virtual_server 10.0.0.9 81 {\nprotocol TCP\n}\n", []string{
			"1: Virtual server [10.0.0.9]:tcp:81 has no real servers - ignoring"}},
		{"undefined group", "virtual_server group NOPE {\nreal_server 10.0.0.3 80 {\n}\n}\n", []string{
			"1: Virtual server group NOPE specified but not configured - ignoring virtual server [NOPE]:0"}},
		{"bad fwmark", "virtual_server fwmark x {\nreal_server 10.0.0.3 80 {\n}\n}\n", []string{
			"1: invalid number 'x'", "1: virtual server fwmark 'x' must be in [0, 4294967295] - ignoring"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := configtest.Parse(t, tt.src)
			if got := configtest.Messages(d); !slices.Equal(got, tt.want) {
				t.Errorf("messages:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDroppedServersAreWarningsNotErrors(t *testing.T) {
	c, d := configtest.Parse(t, lvsConf("  real_server 2001:db8::2 80 {\n  }\n", "")+"virtual_server 10.0.0.9 81 {\n}\n")
	if d.HasErrors() {
		t.Errorf("dropping a real server or an empty virtual server must not be an error: %q", configtest.Messages(d))
	}
	if len(c.VirtualServers) != 1 || len(c.VirtualServers[0].RealServers) != 1 {
		t.Errorf("kept %d virtual servers", len(c.VirtualServers))
	}
}

func TestForwardingTunnelOptions(t *testing.T) {
	vs, d := onlyVS(t, lvsConf("  lb_kind TUN type gue port 6080 remcsum\n", "    lvs_method TUN type gre csum\n"))
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	want := lvs.Forwarding{Method: "TUN", TunnelType: "gue", TunnelPort: 6080, TunnelChecksum: "remcsum"}
	if vs.Forwarding != want {
		t.Errorf("virtual server forwarding %+v, want %+v", vs.Forwarding, want)
	}
	want = lvs.Forwarding{Method: "TUN", TunnelType: "gre", TunnelChecksum: "csum"}
	if got := vs.RealServers[0].Forwarding; got != want {
		t.Errorf("real server forwarding %+v, want %+v", got, want)
	}
}

func TestSchedulerFlagsAndPersistence(t *testing.T) {
	vs, d := onlyVS(t, `virtual_server 10.0.0.1 80 {
  protocol UDP
  lb_algo sh
  sh-port
  sh-fallback
  mh-port
  ops
  lb_kind NAT
  persistence_granularity 255.255.255.0
  persistence_engine sip
  real_server 10.0.0.2 80 {
  }
}`)
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	if want := []string{"sh-port", "sh-fallback", "ops"}; !slices.Equal(vs.SchedulerFlags, want) {
		t.Errorf("flags %q, want %q", vs.SchedulerFlags, want)
	}
	if vs.PersistenceNetmask != netip.MustParseAddr("255.255.255.0") || vs.PersistenceTimeout != secs(360) || vs.PersistenceEngine != "sip" {
		t.Errorf("persistence %v %v %q", vs.PersistenceNetmask, vs.PersistenceTimeout, vs.PersistenceEngine)
	}
}

func TestRealServerPortsFollowTheService(t *testing.T) {
	c, _ := configtest.Parse(t, `virtual_server 10.0.0.1 80 {
  protocol TCP
  lb_algo rr
  lb_kind NAT
  real_server 10.0.0.2 {
  }
  real_server 10.0.0.3 8080 {
  }
}
virtual_server fwmark 3 {
  lb_algo rr
  lb_kind DR
  real_server 10.0.0.2 80 {
  }
}`)
	if got := c.VirtualServers[0].RealServers[0].Port; got != 80 {
		t.Errorf("NAT real server without port: port %d, want the service's 80", got)
	}
	if got := c.VirtualServers[0].RealServers[1].Port; got != 8080 {
		t.Errorf("NAT real server keeps its own port: %d", got)
	}
	if got := c.VirtualServers[1].RealServers[0].Port; got != 0 {
		t.Errorf("DR real server of a fwmark service: port %d, want 0", got)
	}
}

func TestVirtualServerGroupEntries(t *testing.T) {
	c, d := configtest.Parse(t, `virtual_server_group G {
  192.0.2.1 80
  192.0.2.10-20 80
  192.0.2.30-192.0.2.40 80
  198.51.100.0/24 443
  2001:db8::1-ff 80
  fwmark 5 inet6
  fwmark 6 inet
}`)
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	g := c.VirtualServerGroups[0]
	type r struct {
		first, last string
		port        uint16
	}
	want := []r{{"192.0.2.1", "192.0.2.1", 80}, {"192.0.2.10", "192.0.2.20", 80}, {"192.0.2.30", "192.0.2.40", 80},
		{"198.51.100.0", "198.51.100.255", 443}, {"2001:db8::1", "2001:db8::ff", 80}}
	if len(g.Ranges) != len(want) {
		t.Fatalf("got %d ranges, want %d", len(g.Ranges), len(want))
	}
	for i, w := range want {
		got := g.Ranges[i]
		if got.First.String() != w.first || got.Last.String() != w.last || got.Port != w.port || got.Pos.Line != i+2 {
			t.Errorf("range %d = %v-%v:%d at %d, want %v", i, got.First, got.Last, got.Port, got.Pos.Line, w)
		}
	}
	wantMarks := []lvs.VSGFwmark{{Pos: syntax.Pos{File: "test.conf", Line: 7}, Mark: 5, Family: "inet6"}, {Pos: syntax.Pos{File: "test.conf", Line: 8}, Mark: 6, Family: "inet"}}
	if !slices.Equal(g.Fwmarks, wantMarks) {
		t.Errorf("fwmarks %+v, want %+v", g.Fwmarks, wantMarks)
	}
}

func TestVirtualServerGroupMessages(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"range end below start", "10.0.3.5-3 80", []string{"2: Address range end is not greater than address range start - 10.0.3.5-3 - skipping"}},
		{"range end too large", "10.0.4.1-300 80", []string{"2: Virtual server group range '10.0.4.1-300' end '300' too large"}},
		{"range end junk", "10.0.7.1-2x 80", []string{"2: Virtual server group range '10.0.7.1-2x' has extra characters at end 'x'"}},
		{"netmask", "10.0.5.1/33 80", []string{"2: Invalid netmask - 10.0.5.1/33 - skipping"}},
		{"mask bits", "10.0.6.1/24 80", []string{"2: Address mask bits not empty - 10.0.6.1/24 - skipping"}},
		{"fwmark family", "fwmark 8 bogus", []string{"2: (G): fwmark '8' family bogus unknown - ignoring"}},
		{"bad address", "bad 80", []string{"2: Invalid virtual server group IP address bad /port/80 - skipping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "virtual_server_group G {\n" + tt.body + "\n10.9.9.9 80\n}\n"
			_, d := configtest.Parse(t, src)
			if got := configtest.Messages(d); !slices.Equal(got, tt.want) {
				t.Errorf("messages:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	_, d := configtest.Parse(t, "virtual_server_group E {\n}\nvirtual_server_group M {\n10.0.0.1 80\n2001:db8::1 80\nfwmark 7\n}\n")
	want := []string{"2: virtual server group E has no entries - removing",
		"7: virtual server group M cannot have IPv4, IPv6 and fwmark without family - removing"}
	if got := configtest.Messages(d); !slices.Equal(got, want) {
		t.Errorf("group removal messages:\n got %q\nwant %q", got, want)
	}
}

func TestExtensionKeywords(t *testing.T) {
	vs, d := onlyVS(t, lvsConf("  panic_threshold 25\n  shutdown_sessions\n  rise 2\n  maxconn 300\n", "    rise 4\n    slow_start 10\n"))
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	if vs.PanicThreshold != 25 || !vs.ShutdownSessions || vs.Rise != 2 || vs.MaxConn != 300 {
		t.Errorf("vs extensions: panic %d shutdown %v rise %d maxconn %d", vs.PanicThreshold, vs.ShutdownSessions, vs.Rise, vs.MaxConn)
	}
	if rs := vs.RealServers[0]; rs.Rise != 4 || rs.SlowStart != secs(10) {
		t.Errorf("rs extensions: rise %d slow_start %v", rs.Rise, rs.SlowStart)
	}
	tests := []struct{ line, want string }{
		{"panic_threshold 101", "5: number '101' outside range [0, 100]|5: panic_threshold '101' invalid - ignoring"},
		{"rise 0", "5: number '0' outside range [1, 4294967295]|5: rise '0' invalid - ignoring"},
		{"down_delay_loop 0", "5: number '0' outside range [0.000001, 18446744073709.551614]|5: down_delay_loop '0' invalid - ignoring"},
		{"shutdown_sessions perhaps", "5: Invalid shutdown_sessions parameter perhaps"},
		{"maxconn 0", "5: number '0' outside range [1, 2147483647]|5: maxconn '0' invalid - ignoring"},
	}
	for _, tt := range tests {
		_, d := configtest.Parse(t, lvsConf("  "+tt.line+"\n", ""))
		if got := strings.Join(configtest.Messages(d), "|"); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestRedispatchAndPassiveHealthKeywords(t *testing.T) {
	vs, d := onlyVS(t, lvsConf("", ""))
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	if vs.ConnectRetries != lvs.DefaultConnectRetries || vs.ConnectAttemptTimeout != 0 || vs.PassiveHealth != nil {
		t.Errorf("defaults: connect_retries %d connect_attempt_timeout %v passive_health %+v; want 2, 0 (derived), off",
			vs.ConnectRetries, vs.ConnectAttemptTimeout, vs.PassiveHealth)
	}

	vs, d = onlyVS(t, lvsConf("  connect_retries 0\n  connect_attempt_timeout 0.25\n  passive_health {\n    consecutive_failures 3\n    max_ejection_percent 34\n  }\n", ""))
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	if vs.ConnectRetries != 0 || vs.ConnectAttemptTimeout != secs(0.25) {
		t.Errorf("connect_retries %d connect_attempt_timeout %v, want 0 and 250ms", vs.ConnectRetries, vs.ConnectAttemptTimeout)
	}
	if ph := vs.PassiveHealth; ph == nil || ph.ConsecutiveFailures != 3 || ph.MaxEjectionPercent != 34 || ph.Pos.Line != 7 {
		t.Errorf("passive_health = %+v, want 3 failures, 34%%, at line 7", ph)
	}

	vs, _ = onlyVS(t, lvsConf("  passive_health {\n  }\n", ""))
	if ph := vs.PassiveHealth; ph == nil || ph.ConsecutiveFailures != lvs.DefaultConsecutiveFailures || ph.MaxEjectionPercent != lvs.DefaultMaxEjectionPercent {
		t.Errorf("an empty passive_health block = %+v, want the defaults %d and %d%%", ph, lvs.DefaultConsecutiveFailures, lvs.DefaultMaxEjectionPercent)
	}

	for _, tt := range []struct{ lines, want string }{
		{"  connect_retries 17\n", "5: number '17' outside range [0, 16]|5: connect_retries '17' invalid - ignoring"},
		{"  connect_attempt_timeout 0\n", "5: number '0' outside range [0.001000, 18446744073709.551614]|5: connect_attempt_timeout '0' invalid - ignoring"},
		{"  passive_health {\n    consecutive_failures 0\n  }\n", "6: number '0' outside range [1, 1000000]|6: consecutive_failures '0' invalid - ignoring"},
		{"  passive_health {\n    max_ejection_percent 101\n  }\n", "6: number '101' outside range [0, 100]|6: max_ejection_percent '101' invalid - ignoring"},
		{"  passive_health {\n    interval 10\n  }\n", "?"},
	} {
		_, d := configtest.Parse(t, lvsConf(tt.lines, ""))
		got := strings.Join(configtest.Messages(d), "|")
		if tt.want == "?" {
			if !strings.Contains(got, "interval") {
				t.Errorf("%q: got %q, want the unknown keyword named", tt.lines, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.lines, got, tt.want)
		}
	}
}

func TestLVSJSONFieldNames(t *testing.T) {
	vs, _ := onlyVS(t, lvsConf("", "    HTTP_GET {\n      url {\n        path /\n      }\n    }\n"))
	b, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"pos":{"file":"test.conf","line":1}`, `"lb_algo":"rr"`, `"lvs_method":{"method":"NAT"}`,
		`"delay_loop":"1m0s"`, `"connect_timeout":"5s"`, `"real_servers":[`, `"checkers":[`, `"kind":"HTTP_GET"`,
		`"status_code":[{"min":200,"max":299}]`, `"connect_ip":"10.0.0.2"`, `"retry":null`, `"rise":1`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b)
		}
	}
}

// lvsBlockLines returns the lines that belong to top-level virtual_server and
// virtual_server_group blocks of src, so sample tests can ignore what the VRRP side says.
func lvsBlockLines(src string) map[int]bool {
	in := map[int]bool{}
	depth, inside := 0, false
	for i, text := range strings.Split(src, "\n") {
		if j := strings.IndexAny(text, "!#"); j >= 0 {
			text = text[:j]
		}
		words := strings.Fields(strings.NewReplacer("{", " { ", "}", " } ").Replace(text))
		if depth == 0 && len(words) > 0 && strings.HasPrefix(words[0], "virtual_server") {
			inside = true
		}
		if inside {
			in[i+1] = true
		}
		for _, w := range words {
			switch w {
			case "{":
				depth++
			case "}":
				depth = max(depth-1, 0)
				if depth == 0 {
					inside = false
				}
			}
		}
	}
	return in
}

func TestLVSSamplesParseWithoutUnexpectedWarnings(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "samples") // fails under CI when shared/ is missing
	// What Keepalived 2.2.7 itself says of these files' LVS parts (`keepalived -t`).
	expected := map[string][]string{
		"keepalived.conf.fwmark": {"7: Warning: Virtual server FWM 1: protocol specified for fwmark - protocol will be ignored"},
	}
	for _, name := range []string{"keepalived.conf.HTTP_GET.port", "keepalived.conf.SSL_GET", "keepalived.conf.misc_check",
		"keepalived.conf.misc_check_arg", "keepalived.conf.SMTP_CHECK", "keepalived.conf.UDP_CHECK", "keepalived.conf.PING_CHECK",
		"keepalived.conf.fwmark", "keepalived.conf.inhibit", "keepalived.conf.quorum", "keepalived.conf.status_code",
		"keepalived.conf.virtual_server_group", "keepalived.conf.virtualhost", "keepalived.conf.sample", "keepalived.conf.IPv6"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			src := string(b)
			c, d := configtest.Parse(t, src)
			lvs := lvsBlockLines(src)
			got := []string{}
			for i, x := range d.List {
				if lvs[x.Pos.Line] {
					got = append(got, configtest.Messages(&syntax.Diagnostics{List: d.List[i : i+1]})...)
				}
			}
			if want := nonNil(expected[name]); !slices.Equal(got, want) {
				t.Errorf("LVS diagnostics:\n got %q\nwant %q", got, want)
			}
			if len(c.VirtualServers) == 0 {
				t.Errorf("no virtual servers read")
			}
			for _, vs := range c.VirtualServers {
				for _, rs := range vs.RealServers {
					if len(rs.Checkers) == 0 && name != "keepalived.conf.virtual_server_group" && name != "keepalived.conf.fwmark" {
						t.Errorf("%s %s has no checker", vs.Name(), rs.Address)
					}
				}
			}
		})
	}
}
