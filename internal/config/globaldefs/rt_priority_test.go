package globaldefs_test

import (
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
)

func TestVRRPRTPriorityIsReadAndClampedAsKeepalivedDoes(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int
		warn string // a substring of the one warning expected, "" for none
	}{
		{"vrrp_rt_priority 50", 50, ""},
		{"vrrp_rt_priority 0", 1, "less than minimum 1"},
		{"vrrp_rt_priority 120", 99, "greater than maximum 99"},
		{"vrrp_rt_priority fast", 0, "'fast' invalid"},
		{"vrrp_rt_priority", 0, "No vrrp process real-time priority"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			c, d := configtest.Parse(t, "global_defs {\n  "+tc.line+"\n}\n")
			if c.Global.VRRPRTPriority != tc.want {
				t.Errorf("VRRPRTPriority = %d, want %d", c.Global.VRRPRTPriority, tc.want)
			}
			switch {
			case tc.warn == "" && len(d.List) != 0:
				t.Errorf("diagnostics %+v, want none", d.List)
			case tc.warn != "" && (len(d.List) != 1 || !strings.Contains(d.List[0].Message, tc.warn)):
				t.Errorf("diagnostics %+v, want one with %q", d.List, tc.warn)
			}
			for _, a := range c.Global.Accepted {
				if a.Words[0] == "vrrp_rt_priority" {
					t.Errorf("vrrp_rt_priority is kept as accepted-not-acted-upon: %+v", a)
				}
			}
		})
	}
}
