package globaldefs

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The global_defs table, and the other process-wide top-level keywords of Keepalived's
// global_parser.c. Every keyword Keepalived 2.2.7 knows there is recognised.
//
// Stored and acted upon by vigil (modelled in Defs):
//
//	router_id notification_email notification_email_from smtp_server smtp_helo_name
//	smtp_connect_timeout smtp_alert smtp_alert_vrrp smtp_alert_checker no_email_faults
//	script_user enable_script_security startup_script(_timeout) shutdown_script(_timeout)
//	max_auto_priority min_auto_priority_delay dynamic_interfaces default_interface
//	vrrp_mcast_group4/6 vrrp_garp_master_delay/_repeat/_refresh/_refresh_repeat
//	vrrp_garp_lower_prio_delay/_repeat vrrp_down_timer_adverts vrrp_garp_interval
//	vrrp_gna_interval vrrp_min_garp vrrp_garp_extra_if vrrp_vmac_garp_intvl
//	vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert vrrp_version vrrp_iptables
//	vrrp_ipsets nftables vrrp_check_unicast_src vrrp_skip_check_adv_addr vrrp_strict
//	vrrp_startup_delay vrrp_notify_priority_changes notify_fifo(_script)
//	vrrp_notify_fifo(_script) lvs_notify_fifo(_script) lvs_timeouts lvs_flush
//	lvs_flush_on_stop lvs_flush_onstop lvs_sync_daemon checker_log_all_failures
//	rs_init_notifies no_checker_emails net_namespace net_namespace_ipvs instance
//	vrrp_rt_priority v3_checksum_as_v2 vrrp_delay_after_boot
//
// Refused: Keepalived knows them, vigil does not do what they ask. Each is a warning at its
// line, "vigil does not support KEYWORD: why" (Unsupported), and the line is kept as written in
// Defs.Accepted for dump-config. Most tune Keepalived's separate processes, its SNMP and D-Bus
// agents, its netlink buffers or its reload mechanics, which vigil does differently.

// Reasons vigil gives for the keywords it does not support.
const (
	whyOneProcess = "vigil runs as one process; only vrrp_rt_priority applies, to its VRRP threads"
	whySNMP       = "vigil has no SNMP agent; its metrics are served on status_listen (/metrics)"
	whyDBus       = "vigil has no D-Bus interface; see its status API"
	whyBuffers    = "vigil sizes its own socket buffers"
	whyNFT        = "vigil's nftables data plane keeps a table of its own (dataplane nftables)"
	whyReload     = "vigil reloads by comparing two models in one process (docs/operations.md)"
	whyState      = "vigil's state is served by its status API and `vigil status`, not dumped to files"
	whyIproute    = "vigil reads table and protocol numbers, not names from iproute2's files"
)

// globalUnsupported returns the global_defs keywords vigil refuses, with why.
func globalUnsupported() map[string]string {
	m := map[string]string{
		"disable_local_igmp":               "vigil leaves the kernel's IGMP settings alone",
		"fifo_write_vrrp_states_on_reload": "vigil writes a state to the notify fifos when it changes, not on reload",
		"log_unknown_vrids":                "vigil counts adverts of unknown VRIDs in its metrics instead",
		"vmac_prefix":                      "vigil names VMACs as Keepalived does by default (vrrp.VRID)",
		"vmac_addr_prefix":                 "vigil names VMACs as Keepalived does by default (vrrp.VRID)",
		"umask":                            "vigil creates its files with the umask it was started with",
		"random_seed":                      "vigil draws no seeded random numbers",
		"include_check":                    "vigil reports every include that matches no file or cannot be read",
		"use_symlink_paths":                "vigil runs scripts by the path written",
		"iproute_usr_dir":                  whyIproute,
		"iproute_etc_dir":                  whyIproute,
		"dbus_service_name":                whyDBus,
		"dbus_no_interface_name":           whyDBus,
		"enable_dbus":                      whyDBus,
		"snmp_socket":                      whySNMP,
		"enable_traps":                     whySNMP,
		"snmp_vs_stats_update_interval":    whySNMP,
		"snmp_rs_stats_update_interval":    whySNMP,
		"vrrp_rx_bufs_policy":              whyBuffers,
		"vrrp_rx_bufs_multiplier":          whyBuffers,
		"state_file_location":              whyState,
		"stats_file_location":              whyState,
		"json_file_location":               whyState,
		"json_version":                     whyState,
	}
	for _, k := range []string{"process_names", "process_name", "vrrp_process_name", "checker_process_name",
		"lvs_process_name", "bfd_process_name", "checker_rt_priority", "bfd_rt_priority"} {
		m[k] = whyOneProcess
	}
	for _, proc := range []string{"vrrp", "checker", "bfd"} {
		for _, k := range []string{"priority", "no_swap", "cpu_affinity", "rlimit_rttime", "rlimit_rtime"} {
			m[proc+"_"+k] = whyOneProcess
		}
	}
	for _, k := range []string{"enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_rfcv2",
		"enable_snmp_rfcv3", "enable_snmp_checker"} {
		m[k] = whySNMP
	}
	for _, k := range []string{"nftables_priority", "nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority",
		"nftables_ipvs_start_fwmark", "nftables_counters"} {
		m[k] = whyNFT
	}
	for _, proc := range []string{"vrrp", "lvs"} {
		for _, k := range []string{"_netlink_cmd_rcv_bufs", "_netlink_monitor_rcv_bufs"} {
			m[proc+k], m[proc+k+"_force"] = whyBuffers, whyBuffers
		}
	}
	m["process_monitor_rcv_bufs"], m["process_monitor_rcv_bufs_force"] = whyBuffers, whyBuffers
	for _, k := range []string{"reload_check_config", "reload_time_file", "reload_repeat", "reload_file",
		"config_save_dir", "tmp_config_directory", "data_use_instance"} {
		m[k] = whyReload
	}
	return m
}

// unsupportedNeedArgument are the refused keywords Keepalived cannot read without an argument
// (`keepalived -t` exits 2, "missing a parameter"): without one, vigil says so as an error too.
var unsupportedNeedArgument = map[string]bool{
	"child_wait_time": true, "config_save_dir": true, "process_name": true, "vrrp_process_name": true,
	"checker_process_name": true, "bfd_process_name": true, "lvs_process_name": true,
	"nftables_priority": true, "nftables_ipvs_priority": true, "nftables_ipvs_start_fwmark": true,
	"vrrp_rlimit_rttime": true, "checker_rlimit_rttime": true, "bfd_rlimit_rttime": true,
	"vrrp_rlimit_rtime": true, "checker_rlimit_rtime": true, "bfd_rlimit_rtime": true,
	"umask": true, "vmac_prefix": true, "vmac_addr_prefix": true, "random_seed": true,
}

// topUnsupported returns the process-wide top-level keywords vigil refuses, with why.
func topUnsupported() map[string]string {
	return map[string]string{
		"linkbeat_use_polling":  "vigil hears link changes from netlink",
		"namespace_with_ipsets": "vigil does not manage ipsets",
		"use_pid_dir":           "vigil writes no pid files of its own (run it under systemd)",
		"child_wait_time":       whyOneProcess,
	}
}

// AddTopKeywords adds global_defs and the other process-wide top-level keywords to t, filling g.
func AddTopKeywords(t *syntax.Table, g *Defs) {
	t.Keywords["global_defs"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if g.Pos == (syntax.Pos{}) {
			g.Pos = l.Pos
		}
		return globalTable(g)
	}}
	for k, why := range topUnsupported() {
		t.Keywords[k] = g.Unsupported(why)
	}
	t.Keywords["net_namespace"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "net_namespace name missing - ignoring")
			return
		}
		if g.NetNamespace != "" {
			p.Diags.Warnf(l.Pos, "Duplicate net_namespace definition %s - ignoring", l.Words[1])
			return
		}
		g.NetNamespace = l.Words[1]
	}}
	t.Keywords["net_namespace_ipvs"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if g.NetNamespaceIPVS != "" {
			p.Diags.Warnf(l.Pos, "Duplicate net_namespace_ipvs definition %s - ignoring", strings.Join(l.Words[1:], " "))
			return
		}
		if len(l.Words) >= 2 {
			g.NetNamespaceIPVS = l.Words[1]
		}
	}}
	t.Keywords["instance"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "instance name missing - ignoring")
			return
		}
		if g.Instance != "" {
			p.Diags.Warnf(l.Pos, "Duplicate instance definition %s - ignoring", l.Words[1])
			return
		}
		g.Instance = l.Words[1]
	}}
}

// Unsupported is a keyword Keepalived knows and vigil does not do: a warning at its line,
// "vigil does not support KEYWORD: why", and the line kept in Accepted for dump-config.
func (g *Defs) Unsupported(why string) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { g.Refuse(p, l, why) }}
}

// Refuse warns that vigil does not support l's keyword, with why, and keeps l in Accepted; the
// VRRP tables use it too, for the blocks they skip.
func (g *Defs) Refuse(p *syntax.Parser, l syntax.Line, why string) {
	p.WarnUnsupported(l, why)
	if unsupportedNeedArgument[l.Words[0]] {
		p.Need(l, 1)
	}
	g.Accepted = append(g.Accepted, RawLine{Pos: l.Pos, Words: append([]string(nil), l.Words...)})
}

// globalTable is the table for the body of global_defs.
func globalTable(g *Defs) *syntax.Table {
	kw := map[string]syntax.Keyword{}
	for k, why := range globalUnsupported() {
		kw[k] = g.Unsupported(why)
	}
	str := func(dst *string, missing string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				if missing != "" {
					p.Diags.Warnf(l.Pos, "%s", missing)
				}
				return
			}
			*dst = l.Words[1]
		}}
	}
	flag := func(dst *bool) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { *dst = true }}
	}
	// tf is a keyword with an optional true/false argument and Keepalived's complaint.
	tf := func(dst *bool, bad string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			v, ok := syntax.OptBool(l, func(w string) {
				if strings.Contains(bad, "%s") {
					p.Diags.Warnf(l.Pos, bad, w)
				} else {
					p.Diags.Warnf(l.Pos, "%s", bad)
				}
			})
			if ok {
				*dst = v
			}
		}}
	}
	tfPtr := func(dst **bool, bad string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			v, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, bad, w) })
			if ok {
				*dst = new(v)
			}
		}}
	}

	kw["router_id"] = str(&g.RouterID, "routerid name missing - ignoring")
	kw["notification_email_from"] = str(&g.NotificationEmailFrom, "emailfrom missing - ignoring")
	kw["smtp_helo_name"] = str(&g.SMTPHeloName, "")
	kw["default_interface"] = str(&g.DefaultInterface, "default_interface requires interface name")
	kw["smtp_server"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		host, ok := p.Need(l, 1)
		if !ok {
			return
		}
		port := "25"
		if len(l.Words) >= 3 {
			port = l.Words[2]
		}
		n, ok := parsePort(port)
		// Keepalived takes an address, else resolves the name; one no resolver can accept
		// (<smtp.example.com>, a/b) is refused here, whatever the host's resolver.
		if !ok || !validSMTPHost(host) {
			p.Diags.Warnf(l.Pos, "Invalid smtp server %s %s", host, port)
			return
		}
		g.SMTPServer, g.SMTPPort = host, n
	}}
	kw["smtp_connect_timeout"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, s, 0, 4294)
		if !ok {
			p.Diags.Warnf(l.Pos, "smtp_connect_timeout '%s' must be in [0, 4294] - ignoring", s)
			return
		}
		if v == 0 {
			p.Diags.Warnf(l.Pos, "smtp_conect_timeout must be greater than 0, setting to 1")
			v = 1
		}
		g.SMTPConnectTimeout = syntax.Seconds(v)
	}}
	kw["notification_email"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(p *syntax.Parser, l syntax.Line) {
		if next, ok := p.Peek(); ok && next.Words[0] == "}" {
			p.Diags.Warnf(next.Pos, "Warning - empty notification_email block")
		}
		return func(p *syntax.Parser, l syntax.Line) {
			g.NotificationEmail = append(g.NotificationEmail, l.Words...)
		}
	}}
	kw["smtp_alert"] = tfPtr(&g.SMTPAlert, "Invalid value '%s' for global smtp_alert specified")
	kw["smtp_alert_vrrp"] = tfPtr(&g.SMTPAlertVRRP, "Invalid value '%s' for global smtp_alert_vrrp specified")
	kw["smtp_alert_checker"] = tfPtr(&g.SMTPAlertChecker, "Invalid value '%s' for global smtp_alert_checker specified")
	kw["no_email_faults"] = flag(&g.NoEmailFaults)
	kw["checker_log_all_failures"] = tf(&g.CheckerLogAllFailures, "Invalid value for checker_log_all_failures specified")
	kw["rs_init_notifies"] = tf(&g.RSInitNotifies, "Invalid value '%s' for global rs_init_notifies specified")
	kw["no_checker_emails"] = tf(&g.NoCheckerEmails, "Invalid value '%s' for global no_checker_emails specified")
	kw["vrrp_notify_priority_changes"] = tf(&g.VRRPNotifyPriorityChanges, "Invalid value '%s' for global vrrp_notify_priority_changes specified")
	kw["vrrp_lower_prio_no_advert"] = tf(&g.VRRPLowerPrioNoAdvert, "Invalid value for vrrp_lower_prio_no_advert specified")
	kw["vrrp_higher_prio_send_advert"] = tf(&g.VRRPHigherPrioSendAdvert, "Invalid value for vrrp_higher_prio_send_advert specified")
	kw["enable_script_security"] = flag(&g.EnableScriptSecurity)
	kw["vrrp_check_unicast_src"] = flag(&g.VRRPCheckUnicastSrc)
	kw["vrrp_skip_check_adv_addr"] = flag(&g.VRRPSkipCheckAdvAddr)
	kw["vrrp_strict"] = flag(&g.VRRPStrict)
	kw["lvs_flush"] = flag(&g.LVSFlush)
	kw["script_user"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "No script username specified")
			return
		}
		// Whether the user exists is a matter for the host running the scripts, not for
		// the parser: the VRRP half checks it when it starts (and so does `vigil -t`).
		g.ScriptUser, g.ScriptUserPos = l.Words[1], l.Pos
		if len(l.Words) >= 3 {
			g.ScriptGroup = l.Words[2]
		}
	}}
	startStop := func(dst **syntax.Script, kind string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if *dst != nil {
				p.Diags.Warnf(l.Pos, "%s script already specified", kind)
				return
			}
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "%s script missing", kind)
				return
			}
			*dst = syntax.ReadScript(l)
		}}
	}
	startStopTimeout := func(dst *syntax.Duration, kind string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "%s_script_timeout requires value", kind)
				return
			}
			v, ok := p.Unsigned(l.Pos, l.Words[1], 1, 1000)
			if !ok {
				p.Diags.Warnf(l.Pos, "%s_script_timeout '%s' must be in [1, 1000] - ignoring", kind, l.Words[1])
				return
			}
			*dst = syntax.Seconds(v)
		}}
	}
	kw["startup_script"] = startStop(&g.StartupScript, "Startup")
	kw["shutdown_script"] = startStop(&g.ShutdownScript, "Shutdown")
	kw["startup_script_timeout"] = startStopTimeout(&g.StartupScriptTimeout, "startup")
	kw["shutdown_script_timeout"] = startStopTimeout(&g.ShutdownScriptTimeout, "shutdown")
	kw["max_auto_priority"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		const maxRR = 99 // sched_get_priority_max(SCHED_RR) on Linux
		if len(l.Words) < 2 {
			g.MaxAutoPriority = maxRR
			return
		}
		v, ok := p.Int(l.Pos, l.Words[1], -1, maxRR)
		if !ok {
			p.Diags.Warnf(l.Pos, "max_auto_priority '%s' must be in [0, %d] (or -1 to disable) - ignoring", l.Words[1], maxRR)
			return
		}
		g.MaxAutoPriority = int(v)
	}}
	kw["min_auto_priority_delay"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "min_auto_priority_delay requires delay time")
			return
		}
		v, ok := p.Int(l.Pos, l.Words[1], 1, 10000000)
		if !ok {
			p.Diags.Warnf(l.Pos, "min_auto_priority_delay '%s' must be in [1, 10000000] - ignoring", l.Words[1])
			return
		}
		g.MinAutoPriorityDelay = syntax.Micros(uint64(v))
	}}
	kw["dynamic_interfaces"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		g.DynamicInterfaces = true
		if len(l.Words) >= 2 {
			if l.Words[1] == "allow_if_changes" {
				g.DynamicInterfacesAllowIfChanges = true
			} else {
				p.Diags.Warnf(l.Pos, "Unknown dynamic_interfaces option '%s'", l.Words[1])
			}
		}
	}}
	kw["lvs_flush_on_stop"] = syntax.Keyword{Scalar: g.lvsFlushOnStop}
	kw["lvs_flush_onstop"] = syntax.Keyword{Scalar: g.lvsFlushOnStop}
	kw["lvs_timeouts"] = syntax.Keyword{Scalar: g.lvsTimeouts}
	kw["lvs_sync_daemon"] = syntax.Keyword{Scalar: g.lvsSyncDaemon}
	kw["vrrp_mcast_group4"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { g.mcastGroup(p, l, 4, &g.VRRPMcastGroup4) }}
	kw["vrrp_mcast_group6"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { g.mcastGroup(p, l, 6, &g.VRRPMcastGroup6) }}

	// The GARP/advert defaults for every instance.
	uintKW := func(lo, hi uint64, bad string, zeroMsg string, set func(uint64)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			s, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, s, lo, hi)
			if !ok {
				p.Diags.Warnf(l.Pos, bad, s)
				return
			}
			if v == 0 && zeroMsg != "" {
				p.Diags.Warnf(l.Pos, "%s", zeroMsg)
				v = 1
			}
			set(v)
		}}
	}
	const uintMax = 4294967295
	kw["vrrp_garp_master_delay"] = uintKW(0, uintMax/1000000, "vrrp_garp_master_delay '%s' invalid - ignoring", "",
		func(v uint64) { g.VRRPGarpMasterDelay = syntax.Seconds(v) })
	kw["vrrp_garp_master_repeat"] = uintKW(0, uintMax, "vrrp_garp_master_repeat '%s' invalid - ignoring",
		"vrrp_garp_master_repeat must be greater than 0, setting to 1", func(v uint64) { g.VRRPGarpMasterRepeat = int(v) })
	kw["vrrp_garp_master_refresh"] = uintKW(0, uintMax, "Invalid vrrp_garp_master_refresh '%s' - ignoring", "",
		func(v uint64) { g.VRRPGarpMasterRefresh = syntax.Seconds(v) })
	kw["vrrp_garp_master_refresh_repeat"] = uintKW(0, uintMax, "vrrp_garp_master_refresh_repeat '%s' invalid - ignoring",
		"vrrp_garp_master_refresh_repeat must be greater than 0, setting to 1", func(v uint64) { g.VRRPGarpMasterRefreshRepeat = int(v) })
	kw["vrrp_garp_lower_prio_delay"] = uintKW(0, uintMax/1000000, "vrrp_garp_lower_prio_delay '%s' invalid - ignoring", "",
		func(v uint64) { g.VRRPGarpLowerPrioDelay, g.lowerPrioDelaySet = syntax.Seconds(v), true })
	kw["vrrp_garp_lower_prio_repeat"] = uintKW(0, 2147483647, "Invalid vrrp_garp_lower_prio_repeat '%s'", "",
		func(v uint64) { g.VRRPGarpLowerPrioRepeat, g.lowerPrioRepeatSet = int(v), true })
	kw["vrrp_down_timer_adverts"] = uintKW(1, 100, "Invalid vrrp_down_timer_adverts [1:100] '%s'", "",
		func(v uint64) { g.VRRPDownTimerAdverts = int(v) })
	decKW := func(name string, lo uint64, dst *syntax.Duration) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			s, ok := p.Need(l, 1)
			if !ok {
				return
			}
			v, ok := p.Decimal(l.Pos, s, lo, uintMax)
			if !ok {
				p.Diags.Warnf(l.Pos, "%s '%s' is invalid", name, s)
				return
			}
			*dst = syntax.Micros(v)
		}}
	}
	kw["vrrp_garp_interval"] = decKW("vrrp_garp_interval", 1, &g.VRRPGarpInterval)
	kw["vrrp_gna_interval"] = decKW("vrrp_gna_interval", 1, &g.VRRPGnaInterval)
	kw["vrrp_startup_delay"] = decKW("vrrp_startup_delay", 1000, &g.VRRPStartupDelay)
	kw["vrrp_delay_after_boot"] = decKW("vrrp_delay_after_boot", 1000, &g.VRRPDelayAfterBoot)
	// Keepalived 2.2.8 takes no argument here, unlike the instance's keyword.
	kw["v3_checksum_as_v2"] = flag(&g.V3ChecksumAsV2)
	kw["vrrp_owner_ignore_adverts"] = tf(&g.VRRPOwnerIgnoreAdverts, "Invalid value 'vrrp_owner_ignore_adverts' for global %s specified")
	kw["vrrp_rt_priority"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		// Keepalived: a missing or unreadable value is ignored, one out of 1-99 is clamped.
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "No vrrp process real-time priority specified")
			return
		}
		v, err := strconv.Atoi(l.Words[1])
		if err != nil {
			p.Diags.Warnf(l.Pos, "vrrp process real-time priority '%s' invalid", l.Words[1])
			return
		}
		if v < 1 {
			p.Diags.Warnf(l.Pos, "vrrp process real-time priority %d less than minimum 1 - setting to minimum", v)
			v = 1
		} else if v > 99 {
			p.Diags.Warnf(l.Pos, "vrrp process real-time priority %d greater than maximum 99 - setting to maximum", v)
			v = 99
		}
		g.VRRPRTPriority = v
	}}
	kw["vrrp_min_garp"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		v, ok := syntax.OptBool(l, func(string) { p.Diags.Warnf(l.Pos, "Invalid value for vrrp_min_garp specified") })
		if !ok || !v {
			return
		}
		g.VRRPMinGarp = true
		// Only one GARP with no repeat, without overriding what was set explicitly.
		if g.VRRPGarpMasterRepeat == 5 {
			g.VRRPGarpMasterRepeat = 1
		}
		if g.VRRPGarpMasterRefreshRepeat == 1 {
			g.VRRPGarpMasterRefreshRepeat = 0
		}
		if g.VRRPGarpMasterDelay == syntax.Seconds(5) {
			g.VRRPGarpMasterDelay = 0
		}
	}}
	extraIf := func(p *syntax.Parser, l syntax.Line) {
		name := l.Words[0]
		if name == "vrrp_vmac_garp_intvl" {
			p.Diags.Warnf(l.Pos, "Keyword \"vrrp_vmac_garp_intvl\" is deprecated - please use \"vrrp_garp_extra_if\"")
		}
		var delay uint64
		all := false
		for _, w := range l.Words[1:] {
			if w == "all" {
				all = true
				continue
			}
			v, ok := p.Unsigned(l.Pos, w, 1, 86400)
			if !ok {
				p.Diags.Warnf(l.Pos, "%s '%s' invalid - ignoring", name, w)
				return
			}
			delay = v
		}
		if all {
			g.VRRPGarpExtraIfAll = true
		}
		if delay == 0 {
			p.Diags.Warnf(l.Pos, "%s specified without time - ignoring", name)
			return
		}
		g.VRRPGarpExtraIf = syntax.Seconds(delay)
	}
	kw["vrrp_garp_extra_if"] = syntax.Keyword{Scalar: extraIf}
	kw["vrrp_vmac_garp_intvl"] = syntax.Keyword{Scalar: extraIf}
	kw["vrrp_version"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		v, ok := p.Int(l.Pos, s, 2, 3)
		if !ok {
			p.Diags.Warnf(l.Pos, "VRRP Error: Version must be either 2 or 3")
			return
		}
		g.VRRPVersion = int(v)
	}}
	kw["vrrp_iptables"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if g.VRRPIptables != nil {
			p.Diags.Warnf(l.Pos, "iptables already specified - ignoring")
			return
		}
		if len(l.Words) < 2 {
			g.VRRPIptables = []string{"INPUT", "OUTPUT"}
			return
		}
		g.VRRPIptables = append([]string{}, l.Words[1:]...)
	}}
	kw["vrrp_ipsets"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		g.VRRPIpsets = append([]string{}, l.Words[1:]...)
	}}
	kw["nftables"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if g.NFTables != "" {
			p.Diags.Warnf(l.Pos, "nftables already specified - ignoring")
			return
		}
		g.NFTables = "keepalived"
		if len(l.Words) >= 2 {
			g.NFTables = l.Words[1]
		}
	}}
	fifo := func(dst **Fifo, kind string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "No %snotify_fifo name specified", kind)
				return
			}
			if *dst != nil && (*dst).Path != "" {
				p.Diags.Warnf(l.Pos, "%snotify_fifo already specified - ignoring %s", kind, l.Words[1])
				return
			}
			if *dst == nil {
				*dst = &Fifo{}
			}
			f := *dst
			f.Pos, f.Path = l.Pos, l.Words[1]
			if len(l.Words) >= 3 {
				f.User = l.Words[2]
			}
			if len(l.Words) >= 4 {
				f.Group = l.Words[3]
			}
		}}
	}
	fifoScript := func(dst **Fifo, kind string) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) < 2 {
				p.Diags.Warnf(l.Pos, "No %snotify_fifo_script specified", kind)
				return
			}
			if *dst != nil && (*dst).Script != nil {
				p.Diags.Warnf(l.Pos, "%snotify_fifo_script already specified - ignoring %s", kind, l.Words[1])
				return
			}
			if *dst == nil {
				*dst = &Fifo{Pos: l.Pos}
			}
			(*dst).Script = syntax.ReadScript(l)
		}}
	}
	kw["notify_fifo"] = fifo(&g.NotifyFifo, "")
	kw["notify_fifo_script"] = fifoScript(&g.NotifyFifo, "")
	kw["vrrp_notify_fifo"] = fifo(&g.VRRPNotifyFifo, "vrrp_")
	kw["vrrp_notify_fifo_script"] = fifoScript(&g.VRRPNotifyFifo, "vrrp_")
	kw["lvs_notify_fifo"] = fifo(&g.LVSNotifyFifo, "lvs_")
	kw["lvs_notify_fifo_script"] = fifoScript(&g.LVSNotifyFifo, "lvs_")

	// vigil's extensions.
	kw["status_listen"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		if err := validHostPort(s); err != nil {
			p.Diags.Warnf(l.Pos, "status_listen '%s' invalid (%v) - using %s", s, err, g.StatusListen)
			return
		}
		g.StatusListen = s
	}}
	kw["status_token"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if s, ok := p.Need(l, 1); ok {
			g.StatusToken = s
		}
	}}
	kw["control_socket"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		if err := validSocketPath(s); err != nil {
			p.Diags.Warnf(l.Pos, "control_socket '%s' invalid (%v) - no control socket", s, err)
			g.ControlSocket = ""
			return
		}
		g.ControlSocket = s
	}}
	kw["state_dir"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		if !filepath.IsAbs(s) {
			p.Diags.Warnf(l.Pos, "state_dir '%s' invalid (expected an absolute path) - using %s", s, g.StateDir)
			return
		}
		g.StateDir = filepath.Clean(s)
	}}
	kw["dataplane"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		switch s {
		case "userspace", "nftables", "ipvs", "auto":
			g.Dataplane = s
		default:
			p.Diags.Warnf(l.Pos, "dataplane '%s' invalid - expected userspace, nftables, ipvs or auto; using %s", s, g.Dataplane)
		}
	}}
	kw["dataplane_keep_on_stop"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := syntax.OptBool(l, func(w string) {
			p.Diags.Warnf(l.Pos, "dataplane_keep_on_stop '%s' invalid - expected true/false, on/off or yes/no", w)
		}); ok {
			g.DataplaneKeepOnStop = v
		}
	}}
	kw["reconcile_interval"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		// 10 ms to an hour: reading the kernel back more often than that is wasted work.
		v, ok := p.Decimal(l.Pos, s, 10_000, 3600_000_000)
		if !ok {
			p.Diags.Warnf(l.Pos, "reconcile_interval '%s' invalid - expected seconds from 0.01 to 3600; using %s", s, g.ReconcileInterval.D())
			return
		}
		g.ReconcileInterval = syntax.Micros(v)
	}}
	kw["reload_remove_despite_complaints"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := syntax.OptBool(l, func(w string) {
			p.Diags.Warnf(l.Pos, "reload_remove_despite_complaints '%s' invalid - expected true/false, on/off or yes/no", w)
		}); ok {
			g.ReloadRemoveDespiteComplaints = v
		}
	}}
	kw["maxconn"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		v, ok := p.Int(l.Pos, s, 1, math.MaxInt32)
		if !ok {
			p.Diags.Warnf(l.Pos, "maxconn '%s' invalid - expected a number of connections from 1; the descriptor budget decides", s)
			return
		}
		g.MaxConn = int(v)
	}}
	kw["log_format"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		s, ok := p.Need(l, 1)
		if !ok {
			return
		}
		switch s {
		case "text", "json":
			g.LogFormat = s
		default:
			p.Diags.Warnf(l.Pos, "log_format '%s' invalid - expected text or json; using %s", s, g.LogFormat)
		}
	}}
	g.addContinuityKeywords(kw)
	return &syntax.Table{Keywords: kw}
}

func (g *Defs) lvsFlushOnStop(p *syntax.Parser, l syntax.Line) {
	switch {
	case len(l.Words) < 2:
		g.LVSFlushOnStop = "full"
	case l.Words[1] == "VS":
		g.LVSFlushOnStop = "VS"
	case l.Words[1] == "full":
		g.LVSFlushOnStop = "full"
	default:
		p.Diags.Warnf(l.Pos, "Unknown lvs_flush_on_stop type %s", l.Words[1])
	}
}

func (g *Defs) lvsTimeouts(p *syntax.Parser, l syntax.Line) {
	if len(l.Words) < 2 {
		p.Diags.Warnf(l.Pos, "lvs_timeouts requires at least one option")
		return
	}
	const maxTimeout = 86400 * 31
	for i := 1; i < len(l.Words); i += 2 {
		var dst *syntax.Duration
		switch l.Words[i] {
		case "tcp":
			dst = &g.LVSTimeouts.TCP
		case "tcpfin":
			dst = &g.LVSTimeouts.TCPFin
		case "udp":
			dst = &g.LVSTimeouts.UDP
		default:
			p.Diags.Warnf(l.Pos, "Unknown option %s specified for lvs_timeouts", l.Words[i])
			return
		}
		if i+1 >= len(l.Words) {
			p.Diags.Warnf(l.Pos, "No value specified for lvs_timeout %s - ignoring", l.Words[i])
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[i+1], 0, maxTimeout)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid lvs_timeout %s (%s) - ignoring", l.Words[i], l.Words[i+1])
			continue
		}
		*dst = syntax.Seconds(v)
	}
}

func (g *Defs) lvsSyncDaemon(p *syntax.Parser, l syntax.Line) {
	if g.LVSSyncDaemon != nil {
		p.Diags.Warnf(l.Pos, "lvs_sync_daemon has already been specified as %s %s - ignoring",
			g.LVSSyncDaemon.Interface, g.LVSSyncDaemon.VRRPInstance)
		return
	}
	if len(l.Words) < 2 {
		p.Diags.Warnf(l.Pos, "lvs_sync_daemon requires interface")
		return
	}
	if len(l.Words[1]) >= 16 {
		p.Diags.Warnf(l.Pos, "lvs_sync_daemon interface name '%s' too long - ignoring", l.Words[1])
		return
	}
	sd := &LVSSyncDaemon{Pos: l.Pos, Interface: l.Words[1], SyncID: -1}
	i := 2
	if len(l.Words) > 2 && !isSyncdOption(l.Words[2]) {
		sd.VRRPInstance = l.Words[2]
		i = 3
	}
	for ; i < len(l.Words); i += 2 {
		opt := l.Words[i]
		if !isSyncdOption(opt) {
			if i == 3 {
				p.Diags.Warnf(l.Pos, "Please use keyword \"id\" before lvs_sync_daemon SYNCID")
				if v, ok := p.Unsigned(l.Pos, opt, 0, 255); ok {
					sd.SyncID = int(v)
				} else {
					p.Diags.Warnf(l.Pos, "Invalid syncid (%s) - defaulting to vrid", opt)
				}
				i--
				continue
			}
			p.Diags.Warnf(l.Pos, "Unknown option %s specified for lvs_sync_daemon", opt)
			i--
			continue
		}
		if i+1 >= len(l.Words) {
			if opt == "id" {
				p.Diags.Warnf(l.Pos, "No value specified for lvs_sync_daemon id, defaulting to vrid")
			} else {
				p.Diags.Warnf(l.Pos, "No value specified for lvs_sync_daemon %s - ignoring", opt)
			}
			break
		}
		val := l.Words[i+1]
		switch opt {
		case "id":
			if v, ok := p.Unsigned(l.Pos, val, 0, 255); ok {
				sd.SyncID = int(v)
			} else {
				p.Diags.Warnf(l.Pos, "Invalid syncid (%s) - defaulting to vrid", val)
			}
		case "maxlen":
			if v, ok := p.Unsigned(l.Pos, val, 1, 65535-20-8); ok {
				sd.MaxLen = int(v)
			} else {
				p.Diags.Warnf(l.Pos, "Invalid lvs_sync_daemon maxlen (%s) - ignoring", val)
			}
		case "port":
			if v, ok := p.Unsigned(l.Pos, val, 1, 65535); ok {
				sd.Port = int(v)
			} else {
				p.Diags.Warnf(l.Pos, "Invalid lvs_sync_daemon port (%s) - ignoring", val)
			}
		case "ttl":
			if v, ok := p.Unsigned(l.Pos, val, 1, 255); ok {
				sd.TTL = int(v)
			} else {
				p.Diags.Warnf(l.Pos, "Invalid lvs_sync_daemon ttl (%s) - ignoring", val)
			}
		case "group":
			a, ok := syntax.Addr(val)
			a = a.Unmap()
			switch {
			case !ok:
				p.Diags.Warnf(l.Pos, "Invalid lvs_sync_daemon group (%s) - ignoring", val)
			case !a.IsMulticast():
				p.Diags.Warnf(l.Pos, "lvs_sync_daemon group address %s is not multicast - ignoring", val)
			default:
				sd.Group = a
			}
		}
	}
	g.LVSSyncDaemon = sd
}

func isSyncdOption(s string) bool {
	switch s {
	case "id", "maxlen", "port", "ttl", "group":
		return true
	}
	return false
}

func (g *Defs) mcastGroup(p *syntax.Parser, l syntax.Line, family int, dst *netip.Addr) {
	s, ok := p.Need(l, 1)
	if !ok {
		return
	}
	name := l.Words[0]
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.Diags.Warnf(l.Pos, "Can't parse %s [%s]. Skipping", name, s)
	case family == 4 && !a.Is4():
		p.Diags.Warnf(l.Pos, "%s [%s] is not IPv4. Skipping", name, s)
	case family == 6 && !a.Is6():
		p.Diags.Warnf(l.Pos, "%s [%s] is not IPv6. Skipping", name, s)
	case !a.IsMulticast():
		p.Diags.Warnf(l.Pos, "%s [%s] is not multicast. Skipping", name, s)
	default:
		if family == 6 && !a.IsLinkLocalMulticast() {
			p.Diags.Warnf(l.Pos, "%s [%s] should be link-local multicast.", name, s)
		}
		*dst = a
	}
}

// parsePort reads a TCP/UDP port number.
func parsePort(s string) (uint16, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

// validHostPort checks a vigil status_listen value: host:port with a numeric port and a host
// that is an IP address, empty (all addresses) or a name.
func validHostPort(s string) error {
	host, port, ok := cutHostPort(s)
	if !ok {
		return fmt.Errorf("expected ADDRESS:PORT")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("port '%s' must be in [1, 65535]", port)
	}
	if strings.HasPrefix(s, "[") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("invalid address '%s'", host)
		}
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host '%s'", host)
	}
	return nil
}

// maxSocketPath is the longest path a Unix socket's address holds (sun_path less its NUL).
const maxSocketPath = 107

// validSocketPath checks a Unix socket's path: absolute, and short enough for its address.
func validSocketPath(s string) error {
	if !filepath.IsAbs(s) {
		return fmt.Errorf("expected an absolute path")
	}
	if len(s) > maxSocketPath {
		return fmt.Errorf("%d bytes, a Unix socket's path holds at most %d", len(s), maxSocketPath)
	}
	if strings.HasSuffix(s, "/") {
		return fmt.Errorf("expected a file's path, not a directory's")
	}
	return nil
}

// cutHostPort splits "host:port" or "[v6]:port".
func cutHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return "", "", false
		}
		return s[1:end], s[end+2:], true
	}
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Count(s, ":") > 1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// validSMTPHost reports whether s is an IP address or a host name a resolver could accept
// (RFC 1123: labels of letters, digits and hyphens, not starting or ending with one, of at most
// 63 characters, 253 in all; a trailing dot allowed). Whether the name resolves is the host's
// business, as for Keepalived's resolver.
func validSMTPHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
