package vrrp

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// hostInterface is an interface this host has (other than lo, which an instance may not use).
func hostInterface(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return i.Name
		}
	}
	t.Skip("this host has no interface but the loopback")
	return ""
}

// buildConf is global (its own lines), then, from the line after it:
//
//	vrrp_script chk {          +1
//	  script SCRIPT            +2
//	  USER                     +3
//	}                          +4
//	vrrp_instance VI_1 {       +5
//	  interface IFACE          +6
//	  virtual_router_id 51     +7
//	  track_script {           +8
//	    chk                    +9
//	  }                        +10
//	  EXTRA                    +11
//	  virtual_ipaddress {      +12
//	    192.0.2.100/24 VIPDEV  +13
//	  }                        +14
//	}                          +15
func buildConf(global, script, user, iface, extra, vipDev string) string {
	if vipDev != "" {
		vipDev = "dev " + vipDev
	}
	return fmt.Sprintf("%svrrp_script chk {\n  script %q\n  %s\n}\nvrrp_instance VI_1 {\n  interface %s\n  virtual_router_id 51\n"+
		"  track_script {\n    chk\n  }\n  %s\n  virtual_ipaddress {\n    192.0.2.100/24 %s\n  }\n}\n", global, script, user, iface, extra, vipDev)
}

func TestValidateReportsWhatNewManagerRefusesAtItsLine(t *testing.T) {
	eth := hostInterface(t)
	const script = "/bin/true"
	security := "global_defs {\n  enable_script_security\n  script_user nobody\n}\n"
	tests := []struct {
		name string
		conf func(t *testing.T) string
		line int // in the file
		sev  config.Severity
		want string
	}{
		{"a missing vrrp_script program", func(t *testing.T) string {
			return buildConf("", "/nonexistent/vigil-chk.sh", "", eth, "", "")
		}, 2, config.Warning, "vrrp_script chk: script /nonexistent/vigil-chk.sh cannot be accessed"},
		{"an insecure script with enable_script_security", func(t *testing.T) string {
			return buildConf("global_defs {\n  enable_script_security\n}\n", testenv.InsecureScript(t), "user root", eth, "", "")
		}, 5, config.Warning, "refused by script security: writable by everyone"},
		{"an insecure script without enable_script_security", func(t *testing.T) string {
			return buildConf("", testenv.InsecureScript(t), "", eth, "", "")
		}, 2, config.Warning, "vrrp_script chk: unsafe permissions found for script"},
		{"a missing notify script", func(t *testing.T) string {
			return buildConf("", script, "", eth, "notify_master /nonexistent/vigil-master.sh", "")
		}, 11, config.Warning, "(VI_1) notify_master: script /nonexistent/vigil-master.sh cannot be accessed"},
		{"a script_user that does not exist", func(t *testing.T) string {
			return buildConf("global_defs {\n  script_user vigil-no-such-user\n}\n", script, "", eth, "", "")
		}, 2, config.Warning, "Error setting global script uid/gid"},
		{"a vrrp_script user that does not exist", func(t *testing.T) string {
			return buildConf(security, script, "user vigil-no-such-user", eth, "", "")
		}, 7, config.Warning, "vrrp_script chk: Unable to set uid/gid for script /bin/true"},
		{"a notify script user that does not exist", func(t *testing.T) string {
			return buildConf("", script, "", eth, "notify_backup /bin/true vigil-no-such-user", "")
		}, 11, config.Warning, "(VI_1) Invalid user/group for notify_backup script /bin/true"},
		{"scripts without enable_script_security", func(t *testing.T) string {
			return buildConf("", script, "", eth, "", "")
		}, 2, config.Warning, "SECURITY VIOLATION - scripts are being executed but script_security not enabled."},
		{"insecure scripts without enable_script_security", func(t *testing.T) string {
			return buildConf("", testenv.InsecureScript(t), "", eth, "", "")
		}, 2, config.Warning, "script_security not enabled. There are insecure scripts."},
		{"an interface this host does not have", func(t *testing.T) string {
			return buildConf("", script, "", "vgl-nosuch0", "", "")
		}, 6, config.Warning, "WARNING - interface vgl-nosuch0 for vrrp_instance VI_1 doesn't exist"},
		{"a tracked interface this host does not have", func(t *testing.T) string {
			return buildConf("", script, "", eth, "track_interface {\n    vgl-nosuch1\n  }", "")
		}, 12, config.Warning, "(VI_1) tracked interface vgl-nosuch1 doesn't exist"},
		{"an address on an interface this host does not have", func(t *testing.T) string {
			return buildConf("", script, "", eth, "", "vgl-nosuch2")
		}, 13, config.Warning, "WARNING - interface vgl-nosuch2 for ip address 192.0.2.100/24 doesn't exist"},
		{"a route through an interface this host does not have", func(t *testing.T) string {
			return buildConf("", script, "", eth, "virtual_routes {\n    192.0.2.0/24 dev vgl-nosuch3\n  }", "")
		}, 12, config.Warning, "WARNING - interface vgl-nosuch3 for VROUTE nexthop doesn't exist"},
		{"use_ipvlan", func(t *testing.T) string {
			return buildConf("", script, "", eth, "use_ipvlan", "")
		}, 5, config.Error, "use_ipvlan is not supported"},
		{"a virtual route vigil cannot install", func(t *testing.T) string {
			return buildConf("", script, "", eth, "virtual_routes {\n    192.0.2.0/24 via 192.0.2.1 or 192.0.2.2\n  }", "")
		}, 12, config.Error, `virtual_routes: option "or" is not supported`},
		{"a static rule vigil cannot install", func(t *testing.T) string {
			return "static_rules {\n  from 192.0.2.1 l3mdev\n}\n" + buildConf("", script, "", eth, "", "")
		}, 2, config.Error, "static_rules:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConf(t, tc.conf(t))
			got := Validate(cfg)
			if tc.sev == config.Warning && strings.Contains(tc.conf(t), "enable_script_security") {
				for _, d := range got {
					if strings.HasPrefix(d.Message, "SECURITY VIOLATION") {
						t.Errorf("with enable_script_security: %v", d)
					}
				}
			}
			if !slices.ContainsFunc(got, func(d config.Diagnostic) bool {
				return d.Pos.Line == tc.line && d.Severity == tc.sev && strings.Contains(d.Message, tc.want)
			}) {
				t.Fatalf("Validate said %v, want %s at line %d: %q", got, tc.sev, tc.line, tc.want)
			}
			// NewManager, given the runner cmd/vigil gives it, refuses exactly what Validate
			// calls an error, with the same words.
			runner := notify.NewRunner(notify.RunnerOptions{ScriptSecurity: cfg.Global.EnableScriptSecurity})
			m, err := NewManager(cfg, ManagerOptions{Runner: runner})
			if (err != nil) != (tc.sev == config.Error) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewManager: %v; want a refusal containing %q exactly when Validate says error", err, tc.want)
			}
			if err == nil {
				m.Close()
			}
		})
	}
}
