package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config"

	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
)

// trackVSServers are virtual servers the track_virtual_server tests refer to, written after the
// instances as Keepalived configurations usually have them.
const trackVSServers = `virtual_server 192.0.2.10 80 {
 lb_algo rr
 lb_kind NAT
 protocol TCP
 real_server 198.51.100.1 80 {
 }
}
virtual_server 192.0.2.10 53 {
 lb_algo rr
 lb_kind NAT
 protocol UDP
 real_server 198.51.100.1 53 {
 }
}
virtual_server 192.0.2.10 53 {
 lb_algo rr
 lb_kind NAT
 protocol TCP
 real_server 198.51.100.1 53 {
 }
}
virtual_server fwmark 5 {
 lb_algo rr
 lb_kind NAT
 real_server 198.51.100.2 80 {
 }
}
virtual_server_group web {
 192.0.2.20 80
}
virtual_server group web {
 lb_algo rr
 lb_kind NAT
 protocol TCP
 real_server 198.51.100.3 80 {
 }
}
`

func TestTrackVirtualServerResolvesEveryFormToTheCheckerName(t *testing.T) {
	src := configtest.Instance(" track_virtual_server {\n  192.0.2.10 80 weight -60\n  fwmark 5 weight 20 reverse\n  group web\n  192.0.2.10 53 udp weight 10 noreverse\n }") + trackVSServers
	c, ds := configtest.Parse(t, src)
	if len(ds.List) != 0 {
		t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
	}
	got := c.VRRPInstances[0].TrackVirtualServers
	type entry struct {
		ref, name string
		weight    int
		reverse   bool
		line      int
	}
	want := []entry{
		{"192.0.2.10 80", "[192.0.2.10]:tcp:80", -60, false, 5},
		{"fwmark 5", "FWM 5", 20, true, 6},
		{"group web", "[web]:0", 0, false, 7},
		{"192.0.2.10 53 udp", "[192.0.2.10]:udp:53", 10, false, 8},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	names := map[string]bool{}
	for _, vs := range c.VirtualServers {
		names[vs.Name()] = true
	}
	for i, w := range want {
		g := got[i]
		if (entry{g.Ref, g.Name, g.Weight, g.WeightReverse, g.Pos.Line}) != w {
			t.Errorf("entry %d = %+v, want %+v", i, entry{g.Ref, g.Name, g.Weight, g.WeightReverse, g.Pos.Line}, w)
		}
		if !names[g.Name] {
			t.Errorf("entry %d names %q, which is no virtual server's Name()", i, g.Name)
		}
	}
	if !c.TracksVirtualServers() {
		t.Error("TracksVirtualServers() = false")
	}
}

func TestTrackVirtualServerComplaintsAtTheirLine(t *testing.T) {
	cases := []struct {
		name  string
		lines string // the body of track_virtual_server, starting at line 5
		want  []string
	}{
		{"unknown address", "192.0.2.99 80", []string{"5: (VI_1) track virtual_server 192.0.2.99 80 not found, ignoring..."}},
		{"unknown fwmark", "fwmark 6", []string{"5: (VI_1) track virtual_server fwmark 6 not found, ignoring..."}},
		{"unknown group", "group nope", []string{"5: (VI_1) track virtual_server group nope not found, ignoring..."}},
		{"protocol that does not match", "192.0.2.10 80 udp", []string{"5: (VI_1) track virtual_server 192.0.2.10 80 udp not found, ignoring..."}},
		{"ambiguous without protocol", "192.0.2.10 53",
			[]string{"5: (VI_1) track virtual_server 192.0.2.10 53 matches [192.0.2.10]:udp:53, [192.0.2.10]:tcp:53; name the protocol - ignoring"}},
		{"not an address", "web 80", []string{"5: (VI_1) track_virtual_server web: expected an address and port, fwmark N or group NAME - ignoring"}},
		{"no port", "192.0.2.10", []string{"5: (VI_1) track_virtual_server 192.0.2.10 without a port - ignoring"}},
		{"bad port", "192.0.2.10 http", []string{"5: (VI_1) track_virtual_server 192.0.2.10 port http is not a valid port - ignoring"}},
		{"unknown option", "fwmark 5 prio 3", []string{"5: (VI_1) unknown track_virtual_server fwmark 5 option prio - ignoring"}},
		{"weight without value", "fwmark 5 weight", []string{"5: (VI_1) weight without value specified for track_virtual_server fwmark 5 - ignoring"}},
		{"weight out of range", "fwmark 5 weight 300", []string{"5: number '300' outside range [-254, 254]",
			"5: (VI_1) track_virtual_server fwmark 5: weight must be between [-253..253] inclusive, ignoring..."}},
		{"bad weight option", "fwmark 5 weight 10 backwards", []string{"5: (VI_1) unknown track_virtual_server fwmark 5 weight option backwards - ignoring"}},
		{"duplicate", "fwmark 5\n  fwmark 0x5 weight 3", []string{"6: (VI_1) duplicate track_virtual_server fwmark 0x5 - ignoring"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := configtest.Instance(" track_virtual_server {\n  "+tc.lines+"\n }") + trackVSServers
			c, ds := configtest.Parse(t, src)
			if got := configtest.Lines(ds); !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, d := range ds.List {
				if d.Severity == config.Error {
					t.Errorf("an error where Keepalived's track_script would warn: %v", d)
				}
			}
			if n := len(c.VRRPInstances[0].TrackVirtualServers); n != strings.Count(tc.lines, "\n") {
				t.Errorf("%d entries kept, want %d", n, strings.Count(tc.lines, "\n"))
			}
		})
	}
}

func TestTrackVirtualServerWeightsFollowTrackScriptRules(t *testing.T) {
	t.Run("address owner keeps only unweighted entries", func(t *testing.T) {
		src := configtest.Instance(" state MASTER\n track_virtual_server {\n  192.0.2.10 80 weight 10\n  fwmark 5\n }") + trackVSServers
		c, ds := configtest.Parse(t, src)
		want := []string{"6: (VI_1) ignoring tracked virtual_server 192.0.2.10 80 with weights due to address_owner"}
		if got := configtest.Lines(ds); !slices.Equal(got, want) {
			t.Errorf("diagnostics %q, want %q", got, want)
		}
		if tv := c.VRRPInstances[0].TrackVirtualServers; len(tv) != 1 || tv[0].Name != "FWM 5" {
			t.Errorf("entries %+v, want only fwmark 5", tv)
		}
	})
	group := func(tracking string) string {
		inst := func(name string, vrid int) string {
			return "vrrp_instance " + name + " {\n interface eth0\n virtual_router_id " + string(rune('0'+vrid)) +
				"\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n"
		}
		return inst("VI_1", 1) + inst("VI_2", 2) +
			"vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n" + tracking +
			" track_virtual_server {\n  fwmark 5\n  192.0.2.10 80 weight -20\n }\n}\n" + trackVSServers
	}
	t.Run("sync group entries reach every member, weights only with sync_group_tracking_weight", func(t *testing.T) {
		c, ds := configtest.Parse(t, group(""))
		want := []string{
			"22: (VI_1) ignoring tracked virtual_server 192.0.2.10 80 with weights due to SYNC group",
			"22: (VI_2) ignoring tracked virtual_server 192.0.2.10 80 with weights due to SYNC group",
		}
		if got := configtest.Lines(ds); !slices.Equal(got, want) {
			t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, v := range c.VRRPInstances {
			if tv := v.TrackVirtualServers; len(tv) != 1 || tv[0].Name != "FWM 5" || tv[0].FromSyncGroup != "G" {
				t.Errorf("%s entries %+v, want fwmark 5 from G", v.Name, tv)
			}
		}
		c, ds = configtest.Parse(t, group(" sync_group_tracking_weight\n"))
		if len(ds.List) != 0 {
			t.Fatalf("unexpected diagnostics: %v", configtest.Lines(ds))
		}
		for _, v := range c.VRRPInstances {
			if tv := v.TrackVirtualServers; len(tv) != 2 || tv[1].Weight != -20 {
				t.Errorf("%s entries %+v, want both with weight -20 on the second", v.Name, tv)
			}
		}
	})
}

func TestTrackVirtualServerAbsentLeavesConfigUntouched(t *testing.T) {
	c, ds := configtest.Parse(t, configtest.Instance("")+trackVSServers)
	if len(ds.List) != 0 || c.TracksVirtualServers() {
		t.Errorf("diagnostics %v, tracks %v", configtest.Lines(ds), c.TracksVirtualServers())
	}
}

// conntrack_sync following an instance that does not exist would never commit conntrackd's
// cache, so it is an error at the instance line.
func TestConntrackSyncInstanceMustNameAVRRPInstance(t *testing.T) {
	src := "global_defs {\n conntrack_sync {\n  instance %s\n  interface eth0\n  peer 192.0.2.2\n }\n}\n" + configtest.Instance("")
	_, ds := configtest.Parse(t, strings.Replace(src, "%s", "VI_9", 1))
	if got, want := configtest.Lines(ds), []string{"3: E conntrack_sync: instance VI_9: no vrrp_instance of that name"}; !slices.Equal(got, want) {
		t.Errorf("diagnostics:\n got  %q\n want %q", got, want)
	}
	_, ds = configtest.Parse(t, strings.Replace(src, "%s", "VI_1", 1))
	if got := configtest.Lines(ds); len(got) != 0 {
		t.Errorf("diagnostics with VI_1: %q", got)
	}
}
