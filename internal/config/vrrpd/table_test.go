package vrrpd

import (
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Every keyword Keepalived 2.2.7's vrrp_parser.c and track_file.c install in each block is
// recognised there.
func TestEveryKeepalivedVRRPBlockKeywordIsRecognised(t *testing.T) {
	st := &vrrpState{s: &Section{}, bfdInstances: map[string]bool{}}
	blocks := []struct {
		name     string
		tbl      *syntax.Table
		keywords string
	}{
		{"vrrp_instance", st.instanceTable(&Instance{Name: "x"}), `use_vmac use_vmac_addr vmac_xmit_base
		use_ipvlan unicast_peer unicast_fault_no_peer check_unicast_src old_unicast_checksum native_ipv6
		state interface vrf dont_track_primary track_interface track_script track_file track_process
		track_bfd mcast_src_ip unicast_src_ip mcast_dst_ip track_src_ip virtual_router_id unicast_ttl
		version priority advert_int virtual_ipaddress virtual_ipaddress_excluded promote_secondaries
		linkbeat_use_polling virtual_routes virtual_rules accept no_accept skip_check_adv_addr
		strict_mode preempt nopreempt preempt_delay debug notify_backup notify_master notify_fault
		notify_stop notify_deleted notify notify_master_rx_lower_pri smtp_alert notify_priority_changes
		lvs_sync_daemon_interface garp_master_delay garp_master_refresh garp_master_repeat
		garp_master_refresh_repeat garp_lower_prio_delay garp_lower_prio_repeat down_timer_adverts
		garp_extra_if vmac_garp_intvl lower_prio_no_advert higher_prio_send_advert kernel_rx_buf_size
		authentication`},
		{"vrrp_sync_group", st.syncGroupTable(&SyncGroup{Name: "g"}), `group track_interface track_script
		track_file track_process track_bfd notify_backup notify_master notify_fault notify_stop notify
		smtp_alert global_tracking sync_group_tracking_weight notify_priority_changes`},
		{"vrrp_script", st.scriptTable(&Script{}), `script interval timeout weight rise fall user init_fail`},
		{"vrrp_track_process", st.trackProcessTable(&TrackProcess{}), `process param_match weight quorum
		quorum_max delay terminate_delay fork_delay full_command`},
		{"track_file", st.trackFileTable(&TrackFile{}), `file weight init_file`},
		{"garp_group", garpGroupTable(&GarpGroup{}, nil), `garp_interval gna_interval interface interfaces`},
	}
	for _, b := range blocks {
		for _, k := range strings.Fields(b.keywords) {
			if _, ok := b.tbl.Keywords[k]; !ok {
				t.Errorf("%s: keyword %s is not recognised", b.name, k)
			}
		}
	}
}
