package config

import (
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// Every process-wide and VRRP top-level keyword of Keepalived 2.2.7 is in the top-level table
// that the sections' tables make up, so none of them draws "Unknown keyword".
func TestEveryKeepalivedTopLevelKeywordIsRecognised(t *testing.T) {
	top := newConfig().topTable(&vrrpd.Section{}, &lvs.Section{})
	for _, k := range strings.Fields(`global_defs linkbeat_use_polling net_namespace net_namespace_ipvs
	namespace_with_ipsets use_pid_dir instance child_wait_time vrrp_script track_file vrrp_track_file
	vrrp_track_process vrrp_instance vrrp_sync_group static_ipaddress static_routes static_rules
	garp_group linkbeat_interfaces track_group bfd_instance interface_up_down_delays`) {
		if _, ok := top.Keywords[k]; !ok {
			t.Errorf("top-level keyword %s is not recognised", k)
		}
	}
}
