package globaldefs_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
)

func TestConntrackSyncBlockReadsEveryOption(t *testing.T) {
	c, ds := configtest.Parse(t, `global_defs {
  conntrack_sync {
    instance VI_1
    interface sync0
    peer 198.51.100.2
    local 198.51.100.1
    port 3781
    runtime_dir /run/vigil-test
    conntrackd /opt/bin/conntrackd
    external_cache
  }
  nftables_snat 192.0.2.254
  nftables_flow_hash
}
`+configtest.Instance(""))
	if got := configtest.Lines(ds); len(got) != 0 {
		t.Fatalf("diagnostics: %q", got)
	}
	cs := c.Global.ConntrackSync
	want := globaldefs.ConntrackSync{Instance: "VI_1", Interface: "sync0", Peer: netip.MustParseAddr("198.51.100.2"),
		Local: netip.MustParseAddr("198.51.100.1"), Port: 3781, RuntimeDir: "/run/vigil-test", Binary: "/opt/bin/conntrackd", ExternalCache: true}
	if cs == nil {
		t.Fatal("conntrack_sync not read")
	}
	got := *cs
	got.Pos, got.InstancePos = want.Pos, want.InstancePos
	if got != want {
		t.Errorf("conntrack_sync = %+v, want %+v", got, want)
	}
	if cs.Pos.Line != 2 || cs.InstancePos.Line != 3 {
		t.Errorf("positions: block %v, instance %v", cs.Pos, cs.InstancePos)
	}
	if g := c.Global; g.NFTablesSNAT != (globaldefs.NFTablesSNAT{Mode: "address", Addr: netip.MustParseAddr("192.0.2.254")}) || !g.NFTablesFlowHash {
		t.Errorf("nftables_snat = %+v, nftables_flow_hash = %v", g.NFTablesSNAT, g.NFTablesFlowHash)
	}
}

func TestConntrackSyncDefaultsAndWithoutIt(t *testing.T) {
	c, ds := configtest.Parse(t, "global_defs {\n conntrack_sync {\n  interface eth1\n  peer 192.0.2.2\n }\n}\n")
	if got := configtest.Lines(ds); len(got) != 0 {
		t.Fatalf("diagnostics: %q", got)
	}
	cs := c.Global.ConntrackSync
	if cs.Instance != "" || cs.Port != globaldefs.DefaultConntrackSyncPort || cs.RuntimeDir != "/run/vigil" || cs.Binary != "conntrackd" || cs.Local.IsValid() || cs.Config != "" {
		t.Errorf("defaults: %+v", cs)
	}
	if c.Global.NFTablesSNAT.Mode != "masquerade" || c.Global.NFTablesFlowHash {
		t.Errorf("nftables defaults: snat %+v, flow hash %v", c.Global.NFTablesSNAT, c.Global.NFTablesFlowHash)
	}
	c, _ = configtest.Parse(t, "global_defs {\n router_id a\n}\n")
	if c.Global.ConntrackSync != nil {
		t.Errorf("conntrack_sync without the block: %+v", c.Global.ConntrackSync)
	}
}

func TestConntrackSyncComplaints(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"peer missing", "conntrack_sync {\n interface eth1\n}", []string{"2: E conntrack_sync: interface and peer are required (or config, naming a conntrackd.conf)"}},
		{"config instead", "conntrack_sync {\n config /etc/conntrackd/conntrackd.conf\n}", nil},
		{"bad peer", "conntrack_sync {\n interface eth1\n peer 224.0.0.1\n}", []string{
			"4: conntrack_sync peer '224.0.0.1' invalid - expected a unicast IPv4 or IPv6 address",
			"2: E conntrack_sync: interface and peer are required (or config, naming a conntrackd.conf)"}},
		{"families differ", "conntrack_sync {\n interface eth1\n peer 192.0.2.2\n local 2001:db8::1\n}", []string{
			"2: E conntrack_sync: local 2001:db8::1 and peer 192.0.2.2 are of different address families"}},
		{"bad port", "conntrack_sync {\n interface eth1\n peer 192.0.2.2\n port 0\n}", []string{
			"5: conntrack_sync port '0' invalid - expected a number in [1, 65535]; using 3780"}},
		{"relative config", "conntrack_sync {\n config ct.conf\n}", []string{
			"3: conntrack_sync config 'ct.conf' invalid - expected an absolute path",
			"2: E conntrack_sync: interface and peer are required (or config, naming a conntrackd.conf)"}},
		{"twice", "conntrack_sync {\n config /a\n}\nconntrack_sync {\n config /b\n}", []string{
			"5: conntrack_sync already defined at test.conf:2 - ignoring this one"}},
		{"bad snat", "nftables_snat eth0", []string{"2: nftables_snat 'eth0' invalid - expected masquerade, none or an address; using masquerade"}},
		{"snat none", "nftables_snat none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := configtest.Parse(t, "global_defs {\n"+tc.body+"\n}\n")
			if got := configtest.Lines(ds); !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}
