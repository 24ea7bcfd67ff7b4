package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestScriptSecurityBypassLinesAreRefusedAndNeverRun: under enable_script_security, lines that
// name a safe script first and then, through the shell, a script in a directory anyone may
// write ("ok.sh && evil.sh", "$(evil.sh)", backquotes) are warned of at their line by vigil -t,
// refused when due (saying why), and evil.sh never runs, from a MISC_CHECK, a notify_down, a
// vrrp_script or an instance's notify.
func TestScriptSecurityBypassLinesAreRefusedAndNeverRun(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildVigil(t)
	base := t.TempDir()
	mkdir := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(mkdir("bin", 0o755), "ok.sh")
	marker := filepath.Join(base, "evil-ran")
	evil := filepath.Join(mkdir("open", 0o777), "evil.sh")
	for p, body := range map[string]string{ok: "exit 0", evil: "touch " + marker} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`global_defs {
    enable_script_security
    script_user root
    log_format json
}
vrrp_script chk {
    script "%[1]s $(%[2]s)"
    interval 1
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.10/24
    }
    track_script {
        chk
    }
    notify_fault "%[1]s `+"`%[2]s`"+`"
}
virtual_server 127.0.0.1 8080 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 8081 {
        notify_down "%[1]s && %[2]s"
        MISC_CHECK {
            misc_path "%[1]s && %[2]s"
        }
    }
}
`, ok, evil)
	path := filepath.Join(base, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-t", "-f", path).CombinedOutput()
	t.Logf("vigil -t:\n%s", out)
	for _, want := range []struct {
		line   int
		syntax string
	}{
		{7, `"$(" (command substitution)`},
		{22, "backquotes (command substitution)"},
		{30, `"&&" (a command list)`},
		{32, `"&&" (a command list)`},
	} {
		prefix := fmt.Sprintf("%s:%d: warning: ", path, want.line)
		found := false
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, prefix) && strings.Contains(l, "refused by script security: it uses shell syntax, "+want.syntax) &&
				strings.Contains(l, "script of its own") {
				found = true
			}
		}
		if !found {
			t.Errorf("vigil -t did not warn at line %d of %s", want.line, want.syntax)
		}
	}

	ns := testenv.NewNamespace(t, "sec")
	peer := testenv.NewNamespace(t, "secp")
	testenv.Veth(t, ns, "eth0", peer, "eth0")
	ns.Addr(t, "eth0", "192.0.2.1/24")
	var logs testenv.Buffer
	cmd := ns.Command(bin, "-f", path, "-n")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	testenv.StartCmd(t, cmd)
	testenv.WaitFor(t, 15*time.Second, "every bypass line refused when due, with the reason", func() bool {
		l := logs.String()
		return strings.Contains(l, `"msg":"vrrp_script cannot run; it counts as failing"`) &&
			strings.Contains(l, `"msg":"notify script failed"`) && strings.Contains(l, "backquotes") &&
			strings.Count(l, `refused by script security: it uses shell syntax, \"&&\"`) >= 2
	})
	time.Sleep(2 * time.Second) // a few more runs of the check and the vrrp_script
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("%s ran:\n%s", evil, logs.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.HasPrefix(l, "{") {
			t.Errorf("a log line not in JSON (log_format json): %s", l)
		}
	}
}
