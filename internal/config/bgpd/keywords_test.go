package bgpd_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
)

// bgpSrc is a bgp block, one vrrp_instance VI_1 and a virtual server whose announce block has
// the given body.
func bgpSrc(announce string) string {
	return `bgp {
 local_as 65001
 router_id 192.0.2.1
 neighbor 192.0.2.254 {
  remote_as 65000
 }
}
` + configtest.Instance("") + `virtual_server 192.0.2.10 80 {
 lb_algo rr
 lb_kind NAT
 protocol TCP
 announce {
` + announce + `
 }
 real_server 198.51.100.1 80 {
 }
}
`
}

func TestAnnounceReadsItsSettingsAndChecksTheInstanceItFollows(t *testing.T) {
	tests := []struct {
		name     string
		announce string
		want     []string // diagnostics as "line: [E ]message"
		check    func(t *testing.T, a *bgpd.Announce)
	}{
		{name: "communities, med, local_pref", announce: "  community 65001:100 65001:200\n  med 10\n  local_pref 200",
			check: func(t *testing.T, a *bgpd.Announce) {
				if !slices.Equal(a.Communities, []string{"65001:100", "65001:200"}) || a.MED == nil || *a.MED != 10 || a.LocalPref == nil || *a.LocalPref != 200 || a.OnlyWhileMaster != "" {
					t.Errorf("announce %+v", a)
				}
			}},
		{name: "only while an instance is master", announce: "  only_while_master VI_1",
			check: func(t *testing.T, a *bgpd.Announce) {
				if a.OnlyWhileMaster != "VI_1" {
					t.Errorf("OnlyWhileMaster %q, want VI_1", a.OnlyWhileMaster)
				}
			}},
		{name: "an instance that does not exist is an error at its line", announce: "  med 5\n  only_while_master VI_9",
			want: []string{"22: E announce: only_while_master VI_9: no vrrp_instance of that name"}},
		{name: "a bad community is skipped with a warning", announce: "  community 65001:100 nope",
			want: []string{"21: announce: community 'nope' invalid - expected ASN:VALUE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ds := configtest.Parse(t, bgpSrc(tc.announce))
			if got := configtest.Lines(ds); !slices.Equal(got, tc.want) {
				t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.check != nil {
				tc.check(t, c.VirtualServers[0].Announce)
			}
		})
	}
}
