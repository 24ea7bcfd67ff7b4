package lb

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/dataplane/userspace"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// validateConf is global, then a virtual server whose real server holds body: without global,
// the virtual server is on line 1, the real server on line 2 and body from line 3.
func validateConf(global, body string) string {
	return global + "virtual_server 127.0.0.1 8080 {\n  real_server 127.0.0.2 8080 {\n" + body + "  }\n" + vsDefaults + "}\n"
}

// vsDefaults are set so that the parser has nothing to say.
const vsDefaults = "  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n"

func TestValidateReportsWhatNewRefusesAtItsLine(t *testing.T) {
	tests := []struct {
		name   string
		conf   func(t *testing.T) string
		mutate func(cfg *config.Config) // a model the parser does not make, but build refuses
		opts   Options
		line   int // 0: no position (a flag)
		sev    config.Severity
		want   string
	}{
		{"a missing misc_path script", func(t *testing.T) string {
			return validateConf("", "    MISC_CHECK {\n      misc_path /nonexistent/vigil-check.sh\n    }\n")
		}, nil, Options{}, 4, config.Warning, "MISC_CHECK misc_path: script /nonexistent/vigil-check.sh cannot be accessed"},
		{"a MISC_CHECK user that does not exist", func(t *testing.T) string {
			return validateConf("", "    MISC_CHECK {\n      misc_path /bin/true\n      user vigil-no-such-user\n    }\n")
		}, nil, Options{}, 5, config.Error, "Failed to set uid/gid for misc checker script /bin/true"},
		{"an insecure script with enable_script_security", func(t *testing.T) string {
			return validateConf("global_defs {\n  enable_script_security\n}\n", "    MISC_CHECK {\n      misc_path "+testenv.InsecureScript(t)+"\n    }\n")
		}, nil, Options{}, 7, config.Warning, "refused by script security"},
		{"an insecure script without enable_script_security", func(t *testing.T) string {
			return validateConf("", "    MISC_CHECK {\n      misc_path "+testenv.InsecureScript(t)+"\n    }\n")
		}, nil, Options{}, 4, config.Warning, "enable_script_security would refuse it"},
		{"a checker of dynamic_real_servers before any member is found", func(t *testing.T) string {
			return "virtual_server 127.0.0.1 8080 {\n  dynamic_real_servers {\n    dns_name web.test 8080\n    resolver 127.0.0.1\n" +
				"    MISC_CHECK {\n      misc_path /bin/true\n      user vigil-no-such-user\n    }\n  }\n" + vsDefaults + "}\n"
		}, nil, Options{}, 7, config.Error, "Failed to set uid/gid for misc checker script /bin/true"},
		{"a missing notify_up script", func(t *testing.T) string {
			return validateConf("", "    notify_up /nonexistent/up.sh\n")
		}, nil, Options{}, 3, config.Warning, "notify_up: script /nonexistent/up.sh cannot be accessed"},
		{"a missing quorum_down script", func(t *testing.T) string {
			return "virtual_server 127.0.0.1 8080 {\n  quorum_down /nonexistent/down.sh\n  real_server 127.0.0.2 8080 {\n  }\n" + vsDefaults + "}\n"
		}, nil, Options{}, 2, config.Warning, "quorum_down: script /nonexistent/down.sh cannot be accessed"},
		{"an undefined track_file", func(t *testing.T) string {
			return "track_file f {\n  file /tmp/vigil-f\n}\n" + validateConf("", "    FILE_CHECK {\n      track_file f\n    }\n")
		}, func(cfg *config.Config) {
			cfg.VirtualServers[0].RealServers[0].Checkers[0].Options.(*check.FileOptions).TrackFile = "g"
		}, Options{}, 6, config.Error, `track_file "g" is not defined`},
		{"a pool spec the pool refuses", func(t *testing.T) string {
			return validateConf("", "    TCP_CHECK {\n    }\n")
		}, func(cfg *config.Config) {
			cfg.VirtualServers[0].PanicThreshold = 101
		}, Options{}, 1, config.Error, "panic threshold 101% outside 0..100"},
		{"an unknown --dataplane", func(t *testing.T) string {
			return validateConf("", "    TCP_CHECK {\n    }\n")
		}, nil, Options{Dataplane: "bogus"}, 0, config.Error, `data plane "bogus" unknown`},
		{"a program found by searching PATH", func(t *testing.T) string {
			return validateConf("", "    notify_down true\n")
		}, nil, Options{}, 3, config.Warning, "resolved by path search"},
		{"a notify line with shell syntax under enable_script_security", func(t *testing.T) string {
			testenv.RequireRoot(t) // script security guards root's scripts
			return validateConf("global_defs {\n  enable_script_security\n}\n", "    notify_up \"/bin/true && /bin/true\"\n")
		}, nil, Options{}, 6, config.Warning, `notify_up: script "/bin/true && /bin/true" refused by script security: it uses shell syntax`},
		{"a MISC_CHECK with backquotes under enable_script_security", func(t *testing.T) string {
			testenv.RequireRoot(t)
			return validateConf("global_defs {\n  enable_script_security\n}\n", "    MISC_CHECK {\n      misc_path \"/bin/true `/bin/true`\"\n    }\n")
		}, nil, Options{}, 7, config.Warning, "backquotes (command substitution)"},
		{"uthreshold on the nftables data plane", func(t *testing.T) string {
			return validateConf("", "    uthreshold 10\n    TCP_CHECK {\n    }\n")
		}, nil, Options{Dataplane: "nftables", OpenDataplane: func(string) (dataplane.Dataplane, error) {
			return userspace.New(nil, userspace.Options{}), nil // nothing opened on the host
		}}, 2, config.Warning, "the nftables data plane has no connection thresholds"},
		{"a virtual server's maxconn on a kernel data plane", func(t *testing.T) string {
			return validateConf("", "    TCP_CHECK {\n    }\n")
		}, func(cfg *config.Config) {
			cfg.VirtualServers[0].MaxConn = 100
		}, Options{Dataplane: "ipvs", OpenDataplane: func(string) (dataplane.Dataplane, error) {
			return userspace.New(nil, userspace.Options{}), nil
		}}, 1, config.Warning, "maxconn: the ipvs data plane's connections cost vigil no descriptor"},
		{"passive health on a kernel data plane", func(t *testing.T) string {
			return "virtual_server 127.0.0.1 8080 {\n  passive_health {\n  }\n  real_server 127.0.0.2 8080 {\n  }\n" + vsDefaults + "}\n"
		}, nil, Options{Dataplane: "nftables", OpenDataplane: func(string) (dataplane.Dataplane, error) {
			return userspace.New(nil, userspace.Options{}), nil
		}}, 1, config.Warning, "passive_health, connect_retries, connect_attempt_timeout: the nftables data plane forwards the client's own connection"},
		{"a group's address another virtual server serves", func(t *testing.T) string {
			return "virtual_server_group web {\n  127.0.0.1 8080\n  127.0.0.3 8080\n}\n" + validateConf("", "    TCP_CHECK {\n    }\n") +
				"virtual_server group web {\n  real_server 127.0.0.2 8080 {\n  }\n" + vsDefaults + "}\n"
		}, nil, Options{}, 14, config.Error, "virtual server [web]:0: TCP 127.0.0.1:8080 is served for virtual server [127.0.0.1]:tcp:8080 already"},
		{"a group on a fwmark, on the userspace data plane", func(t *testing.T) string {
			return "virtual_server_group web {\n  fwmark 5\n}\nvirtual_server group web {\n  real_server 127.0.0.2 8080 {\n  }\n  lb_algo rr\n  lb_kind NAT\n}\n"
		}, nil, Options{}, 4, config.Warning, "virtual server [web]:0 is not steered: the userspace data plane cannot serve fwmark virtual servers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadText(t, tc.conf(t))
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			diags := Validate(cfg, tc.opts)
			if !slices.ContainsFunc(diags, func(d config.Diagnostic) bool {
				return d.Pos.Line == tc.line && d.Severity == tc.sev && strings.Contains(d.Message, tc.want)
			}) {
				t.Fatalf("Validate said %v, want %s at line %d: %q", diags, tc.sev, tc.line, tc.want)
			}
			// New refuses exactly what Validate calls an error, with the same words.
			opts := tc.opts
			d, err := New(cfg, opts)
			if (err != nil) != (tc.sev == config.Error) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want a refusal containing %q exactly when Validate says error", err, tc.want)
			}
			if err == nil {
				d.Close()
			}
		})
	}
}

// The checker half's scripts that will run without enable_script_security draw Keepalived's
// checker warning once, at the first of them; scripts that cannot run, or script security,
// draw none.
func TestCheckScriptsWithoutScriptSecurityAreASecurityViolation(t *testing.T) {
	const violation = "SECURITY VIOLATION - check scripts are being executed but script_security not enabled."
	tests := []struct {
		name string
		conf func(t *testing.T) string
		line int // 0: no such warning
		want string
	}{
		{"a MISC_CHECK", func(t *testing.T) string {
			return validateConf("", "    MISC_CHECK {\n      misc_path /bin/true\n    }\n")
		}, 4, violation},
		{"a quorum_up before a notify_down: the first is named", func(t *testing.T) string {
			return "virtual_server 127.0.0.1 8080 {\n  quorum_up /bin/true\n  real_server 127.0.0.2 8080 {\n    notify_down /bin/true\n  }\n" + vsDefaults + "}\n"
		}, 2, violation},
		{"an insecure script says so", func(t *testing.T) string {
			return validateConf("", "    notify_up "+testenv.InsecureScript(t)+"\n")
		}, 3, violation + " There are insecure scripts."},
		{"a script that cannot run", func(t *testing.T) string {
			return validateConf("", "    MISC_CHECK {\n      misc_path /nonexistent/vigil-check.sh\n    }\n")
		}, 0, ""},
		{"with enable_script_security", func(t *testing.T) string {
			return validateConf("global_defs {\n  enable_script_security\n}\n", "    MISC_CHECK {\n      misc_path /bin/true\n    }\n")
		}, 0, ""},
		{"no script at all", func(t *testing.T) string {
			return validateConf("", "    TCP_CHECK {\n    }\n")
		}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []config.Diagnostic
			for _, d := range Validate(loadText(t, tc.conf(t)), Options{}) {
				if strings.HasPrefix(d.Message, "SECURITY VIOLATION") {
					got = append(got, d)
				}
			}
			switch {
			case tc.line == 0 && len(got) != 0:
				t.Fatalf("Validate said %v, want no SECURITY VIOLATION", got)
			case tc.line != 0 && (len(got) != 1 || got[0].Pos.Line != tc.line || got[0].Severity != config.Warning || got[0].Message != tc.want):
				t.Fatalf("Validate said %v, want one warning at line %d: %q", got, tc.line, tc.want)
			}
		})
	}
}

func TestValidateOpensNothing(t *testing.T) {
	// A PING_CHECK needs an ICMP socket at start; Validate must not open one (nor the
	// nftables data plane, which would need CAP_NET_ADMIN and change the host).
	cfg := loadText(t, "global_defs {\n  dataplane nftables\n}\n"+validateConf("", "    PING_CHECK {\n    }\n"))
	if diags := Validate(cfg, Options{}); len(diags) != 0 {
		t.Fatalf("Validate: %v, want nothing to say", diags)
	}
}

// Keepalived's SMTP_CHECK sample checks one address twice (the checker's own connection and a
// host block): the pool must tell the two apart rather than refuse the file.
func TestTwoChecksAlikeAreBothRun(t *testing.T) {
	cfg := loadText(t, validateConf("", "    TCP_CHECK {\n    }\n    TCP_CHECK {\n    }\n"))
	if diags := Validate(cfg, Options{}); len(diags) != 0 {
		t.Fatalf("Validate: %v", diags)
	}
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if rs := d.Snapshot().VirtualServers[0].RealServers[0]; len(rs.Checks) != 2 {
		t.Fatalf("real server has %d checks, want 2", len(rs.Checks))
	}
}
