package globaldefs

import (
	"strings"
	"testing"
)

// Every global_defs keyword of Keepalived 2.2.7 (global_parser.c) is recognised, so none of them
// draws "Unknown keyword".
func TestEveryKeepalivedGlobalKeywordIsRecognised(t *testing.T) {
	keywords := strings.Fields(`process_names process_name vrrp_process_name checker_process_name
	lvs_process_name bfd_process_name router_id notification_email_from smtp_server smtp_helo_name
	smtp_connect_timeout smtp_alert startup_script startup_script_timeout shutdown_script
	shutdown_script_timeout max_auto_priority min_auto_priority_delay smtp_alert_vrrp
	smtp_alert_checker checker_log_all_failures dynamic_interfaces no_email_faults
	default_interface disable_local_igmp lvs_timeouts lvs_flush lvs_flush_on_stop
	lvs_flush_onstop lvs_sync_daemon vrrp_mcast_group4 vrrp_mcast_group6 vrrp_garp_master_delay
	vrrp_garp_master_repeat vrrp_garp_master_refresh vrrp_garp_master_refresh_repeat
	vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat vrrp_down_timer_adverts
	vrrp_garp_interval vrrp_gna_interval vrrp_min_garp vrrp_garp_extra_if vrrp_vmac_garp_intvl
	vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert vrrp_version vrrp_iptables vrrp_ipsets
	nftables nftables_priority nftables_ifindex nftables_ipvs nftables_ipvs_priority
	nftables_ipvs_start_fwmark nftables_counters vrrp_check_unicast_src vrrp_skip_check_adv_addr
	vrrp_strict vrrp_priority vrrp_no_swap vrrp_rt_priority vrrp_cpu_affinity vrrp_rlimit_rttime
	vrrp_rlimit_rtime notify_fifo notify_fifo_script vrrp_notify_fifo vrrp_notify_fifo_script
	vrrp_notify_priority_changes fifo_write_vrrp_states_on_reload lvs_notify_fifo
	lvs_notify_fifo_script checker_priority checker_no_swap checker_rt_priority
	checker_cpu_affinity checker_rlimit_rttime checker_rlimit_rtime bfd_priority bfd_no_swap
	bfd_rt_priority bfd_cpu_affinity bfd_rlimit_rttime bfd_rlimit_rtime snmp_socket enable_traps
	enable_snmp_vrrp enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3
	enable_snmp_checker enable_dbus dbus_service_name script_user enable_script_security
	vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs
	vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs process_monitor_rcv_bufs_force
	lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs
	lvs_netlink_monitor_rcv_bufs_force rs_init_notifies no_checker_emails vrrp_rx_bufs_policy
	vrrp_rx_bufs_multiplier vrrp_startup_delay log_unknown_vrids vmac_prefix vmac_addr_prefix
	umask random_seed reload_check_config reload_time_file reload_repeat reload_file
	include_check config_save_dir tmp_config_directory data_use_instance`)
	tbl := globalTable(&Defs{})
	for _, k := range keywords {
		if _, ok := tbl.Keywords[k]; !ok {
			t.Errorf("global_defs keyword %s is not recognised", k)
		}
	}
}
