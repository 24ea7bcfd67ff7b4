package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// controlConfig is testenv's ControlConfig in dir with webConfig's virtual server over the
// backends.
func controlConfig(dir string, port int, backends ...*testenv.Backend) string {
	return testenv.ControlConfig(dir, "") + webConfig(port, backends...)
}

func sendCommand(t *testing.T, socket, line string) (string, error) {
	t.Helper()
	words, err := control.Split(line)
	if err != nil {
		t.Fatal(err)
	}
	c, err := control.Parse(words)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return control.Send(ctx, socket, c)
}

func adminOf(v *Vigil, addr string) status.RealServer {
	rs, _ := v.Snapshot().RealServer(addr)
	return rs
}

// The operators' commands, by the socket and over HTTP, reach the halves, show in the status,
// the event stream and the metrics, and outlive a reload and a restart; a server the reload
// removed loses its state.
func TestOperatorsCommandsShowEverywhereAndOutliveAReloadAndARestart(t *testing.T) {
	b1, b2 := testenv.StartBackend(t), testenv.StartBackend(t)
	port := testenv.FreePort(t, "127.0.0.1", false)
	dir := t.TempDir()
	socket := testenv.ControlSocket(dir)
	vs := fmt.Sprintf("[127.0.0.1]:tcp:%d", port)
	cfg := loadText(t, controlConfig(dir, port, b1, b2))
	v, stop := startVigil(t, cfg, Options{})
	testenv.WaitFor(t, 5*time.Second, "both servers up", func() bool { return adminOf(v, b1.Addr).Up && adminOf(v, b2.Addr).Up })

	msg, err := sendCommand(t, socket, fmt.Sprintf("drain 127.0.0.1:%d %s --reason disk swap", port, b1.Addr))
	if err != nil || msg != b1.Addr+" of "+vs+": drain" {
		t.Fatalf("drain over the socket: %q, %v", msg, err)
	}
	if msg, err := sendCommand(t, socket, "resign VI_1 --reason kernel upgrade"); err != nil || msg != "VI_1: resigned: priority 0 if master, BACKUP until ready" {
		t.Fatalf("resign over the socket: %q, %v", msg, err)
	}
	req, _ := http.NewRequest("POST", statusURL(v)+"/api/v1/virtual_servers/"+url.PathEscape(vs)+"/real_servers/"+b2.Addr+"/weight", strings.NewReader(`{"weight": 3, "reason": "bigger box"}`))
	req.Header.Set("Authorization", "Bearer "+testenv.ControlToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"changed":true`) {
		t.Fatalf("weight over HTTP: %s %s", resp.Status, body)
	}
	for _, line := range []string{"drain nope", "ready VI_9", "weight " + vs + " 127.0.0.1:1 3"} {
		if _, err := sendCommand(t, socket, line); err == nil {
			t.Errorf("%q was taken", line)
		}
	}

	rs := adminOf(v, b1.Addr)
	if rs.AdminState != "drain" || rs.AdminBy != fmt.Sprintf("socket uid %d", os.Geteuid()) || rs.AdminReason != "disk swap" {
		t.Errorf("status of the drained server: %+v", rs)
	}
	if rs := adminOf(v, b2.Addr); rs.WeightOverride == nil || *rs.WeightOverride != 3 || !strings.HasPrefix(rs.AdminBy, "http from 127.0.0.1:") {
		t.Errorf("status of the reweighted server: %+v", rs)
	}
	if vi := v.Snapshot().VRRPInstances; len(vi) != 1 || vi[0].AdminState != "resigned" || vi[0].AdminReason != "kernel upgrade" {
		t.Errorf("status of the resigned instance: %+v", vi)
	}
	var events []string
	for _, ev := range v.Snapshot().Events {
		if ev.Kind == "admin-changed" {
			events = append(events, ev.Subject+": "+ev.Message)
		}
	}
	for _, want := range []string{vs + " " + b1.Addr + ": drain by socket uid", "VI_1: resign by socket uid", vs + " " + b2.Addr + ": weight 3 (was 1) by http from 127.0.0.1:"} {
		if !strings.Contains(strings.Join(events, "\n"), want) {
			t.Errorf("events lack %q:\n%s", want, strings.Join(events, "\n"))
		}
	}
	metrics, err := get(http.DefaultClient, statusURL(v)+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`vigil_real_server_admin_state{real_server=%q,state="drain",virtual_server=%q} 1`, b1.Addr, vs),
		fmt.Sprintf(`vigil_real_server_admin_state{real_server=%q,state="ready",virtual_server=%q} 0`, b1.Addr, vs),
		fmt.Sprintf(`vigil_real_server_admin_state{real_server=%q,state="ready",virtual_server=%q} 1`, b2.Addr, vs),
		`vigil_vrrp_admin_state{instance="VI_1",state="resigned"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A reload keeps the drain; b2, removed, loses its weight.
	if err := v.Reload(loadText(t, controlConfig(dir, port, b1)), nil); err != nil {
		t.Fatal(err)
	}
	if rs := adminOf(v, b1.Addr); rs.AdminState != "drain" {
		t.Errorf("after the reload: %+v", rs)
	}
	stop()
	saved, err := control.Load(filepath.Join(testenv.StateDir(dir), control.StateFile))
	if err != nil || len(saved.RealServers) != 1 || saved.RealServers[0].RealServer != b1.Addr || len(saved.VRRPInstances) != 1 {
		t.Fatalf("state file after the reload and the stop: %+v, %v", saved, err)
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}

	// A restart, with b2 back in the file: b1 drained and VI_1 resigned again, b2 ready.
	var logs testenv.Buffer
	v2, _ := startVigil(t, loadText(t, controlConfig(dir, port, b1, b2)), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if rs := adminOf(v2, b1.Addr); rs.AdminState != "drain" || rs.AdminReason != "disk swap" {
		t.Errorf("after the restart: %+v", rs)
	}
	if rs := adminOf(v2, b2.Addr); rs.AdminState != "ready" || rs.WeightOverride != nil {
		t.Errorf("b2 after the restart: %+v", rs)
	}
	if vi := v2.Snapshot().VRRPInstances; len(vi) != 1 || vi[0].AdminState != "resigned" {
		t.Errorf("VI_1 after the restart: %+v", vi)
	}
	want := fmt.Sprintf(`msg="admin states restored from the state file" path=%s restored="%s %s drain; vrrp_instance VI_1 resigned" dropped=""`,
		filepath.Join(testenv.StateDir(dir), control.StateFile), vs, b1.Addr)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("the start does not say what it restored (%s):\n%s", want, logs.String())
	}
	if msg, err := sendCommand(t, socket, "ready VI_1"); err != nil || msg != "VI_1: ready: back in the election" {
		t.Errorf("ready VI_1: %q, %v", msg, err)
	}
	if msg, err := sendCommand(t, socket, "ready "+vs); err != nil || !strings.Contains(msg, "ready, 1 of its 2 real servers changed") {
		t.Errorf("ready of the virtual server: %q, %v", msg, err)
	}
}

// A restart drops the states of servers no longer in the file and says which.
func TestRestartDropsTheStatesOfServersNoLongerConfigured(t *testing.T) {
	b1, b2 := testenv.StartBackend(t), testenv.StartBackend(t)
	port := testenv.FreePort(t, "127.0.0.1", false)
	dir := t.TempDir()
	v, stop := startVigil(t, loadText(t, controlConfig(dir, port, b1, b2)), Options{})
	if _, err := v.Control(control.Command{Verb: control.Maint, VS: fmt.Sprintf("127.0.0.1:%d", port), By: "test"}); err != nil {
		t.Fatal(err)
	}
	stop()
	var logs testenv.Buffer
	v2, _ := startVigil(t, loadText(t, controlConfig(dir, port, b1)), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if rs := adminOf(v2, b1.Addr); rs.AdminState != "maint" {
		t.Errorf("b1 after the restart: %+v", rs)
	}
	want := fmt.Sprintf(`msg="admin states dropped: no longer in the configuration" path=%s dropped="[127.0.0.1]:tcp:%d %s"`, filepath.Join(testenv.StateDir(dir), control.StateFile), port, b2.Addr)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("the start does not say what it dropped (%s):\n%s", want, logs.String())
	}
	saved, _ := control.Load(filepath.Join(testenv.StateDir(dir), control.StateFile))
	if len(saved.RealServers) != 1 {
		t.Errorf("the state file still holds the dropped server: %+v", saved)
	}
}
