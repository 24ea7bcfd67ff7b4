package status

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/control"
)

// recordingExecutor records commands and answers with a fixed error, or a reply.
type recordingExecutor struct {
	mu  sync.Mutex
	got []control.Command
	err error
}

func (e *recordingExecutor) Execute(c control.Command) (control.Reply, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, c)
	if e.err != nil {
		return control.Reply{}, e.err
	}
	return control.Reply{Changed: true, Message: string(c.Verb) + " done"}, nil
}

func (e *recordingExecutor) commands() []control.Command {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]control.Command(nil), e.got...)
}

// controlServer serves a handler whose write endpoints go to exec behind token (when exec is
// not nil).
func controlServer(t *testing.T, exec control.Executor, token string) *httptest.Server {
	t.Helper()
	h := NewHandler(&fixedSource{}, NewHub(1, time.Now), nil)
	if exec != nil {
		h.Control(exec, func() string { return token })
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, srv *httptest.Server, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := readJSON(t, resp)
	return resp.StatusCode, m
}

func TestWriteEndpointsCarryCommandsOutInTheNameOfTheCaller(t *testing.T) {
	exec := &recordingExecutor{}
	srv := controlServer(t, exec, "s3cret")
	vs := url.PathEscape("[192.0.2.1]:tcp:80")
	tests := []struct {
		path, body string
		want       control.Command
	}{
		{"/api/v1/virtual_servers/" + vs + "/real_servers/192.0.2.11:80/state", `{"state":"drain","reason":"disk swap"}`,
			control.Command{Verb: control.Drain, VS: "[192.0.2.1]:tcp:80", RS: "192.0.2.11:80", Reason: "disk swap"}},
		{"/api/v1/virtual_servers/" + url.PathEscape("FWM 5") + "/state", `{"state":"maint"}`,
			control.Command{Verb: control.Maint, VS: "FWM 5"}},
		{"/api/v1/virtual_servers/192.0.2.1:80/real_servers/192.0.2.11:80/weight", `{"weight":0}`,
			control.Command{Verb: control.Weight, VS: "192.0.2.1:80", RS: "192.0.2.11:80", Weight: 0}},
		{"/api/v1/virtual_servers/192.0.2.1:80/real_servers/192.0.2.11:80/weight", `{"reset":true,"reason":"back"}`,
			control.Command{Verb: control.Weight, VS: "192.0.2.1:80", RS: "192.0.2.11:80", Weight: control.ResetWeight, Reason: "back"}},
		{"/api/v1/vrrp_instances/VI_1/resign", `{"reason":"kernel upgrade"}`,
			control.Command{Verb: control.Resign, Instance: "VI_1", Reason: "kernel upgrade"}},
		{"/api/v1/vrrp_instances/VI_1/ready", "",
			control.Command{Verb: control.Ready, Instance: "VI_1"}},
	}
	for i, tc := range tests {
		code, m := post(t, srv, tc.path, "s3cret", tc.body)
		if code != 200 || m["changed"] != true || m["message"] != string(tc.want.Verb)+" done" {
			t.Errorf("POST %s: %d %v", tc.path, code, m)
			continue
		}
		got := exec.commands()[i]
		if !strings.HasPrefix(got.By, "http from 127.0.0.1:") {
			t.Errorf("POST %s: by %q", tc.path, got.By)
		}
		got.By = ""
		if got != tc.want {
			t.Errorf("POST %s: command %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

func TestWriteEndpointsRefuseWithoutTheTokenAndSayHowToTurnThemOn(t *testing.T) {
	exec := &recordingExecutor{}
	path := "/api/v1/virtual_servers/192.0.2.1:80/real_servers/192.0.2.11:80/state"
	body := `{"state":"maint"}`
	off := controlServer(t, exec, "")
	code, m := post(t, off, path, "anything", body)
	if msg, _ := m["error"].(string); code != 403 || !strings.Contains(msg, "set status_token TOKEN in global_defs") {
		t.Errorf("with no token configured: %d %v", code, m)
	}
	if code, _ := post(t, controlServer(t, nil, ""), path, "", body); code != 403 {
		t.Errorf("without an executor: %d", code)
	}
	on := controlServer(t, exec, "s3cret")
	for _, token := range []string{"", "s3cre", "s3cret2"} {
		if code, m := post(t, on, path, token, body); code != 401 {
			t.Errorf("token %q: %d %v", token, code, m)
		}
	}
	if n := len(exec.commands()); n != 0 {
		t.Errorf("%d commands ran without the token", n)
	}
	// Reads need no token.
	resp, err := http.Get(on.URL + "/api/v1/status")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("GET status: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	// A GET on a write endpoint is not a write.
	resp, _ = http.Get(on.URL + path)
	if resp.StatusCode != 405 {
		t.Errorf("GET on a write endpoint: %s", resp.Status)
	}
	resp.Body.Close()
}

func TestWriteEndpointsAnswerEachKindOfFailureWithItsStatus(t *testing.T) {
	path := "/api/v1/virtual_servers/vs/real_servers/rs/state"
	for _, tc := range []struct {
		err  error
		body string
		code int
		msg  string
	}{
		{control.Errorf(control.NotFound, "no virtual server %q", "vs"), `{"state":"drain"}`, 404, `no virtual server "vs"`},
		{control.Errorf(control.Ambiguous, "two"), `{"state":"drain"}`, 400, "two"},
		{control.Errorf(control.Failed, "broken"), `{"state":"drain"}`, 500, "broken"},
		{nil, `{"state":"off"}`, 400, `state "off": expected "ready", "drain" or "maint"`},
		{nil, `{"state":"drain","colour":"red"}`, 400, `unknown field "colour"`},
		{nil, `{"state":`, 400, "request body is not the JSON expected"},
	} {
		srv := controlServer(t, &recordingExecutor{err: tc.err}, "t")
		code, m := post(t, srv, path, "t", tc.body)
		if msg, _ := m["error"].(string); code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%v %s: %d %v; want %d %q", tc.err, tc.body, code, m, tc.code, tc.msg)
		}
	}
	srv := controlServer(t, &recordingExecutor{}, "t")
	for _, body := range []string{`{}`, `{"weight":-1}`, `{"weight":3,"reset":true}`, `{"weight":2147483648}`} {
		if code, m := post(t, srv, "/api/v1/virtual_servers/vs/real_servers/rs/weight", "t", body); code != 400 {
			t.Errorf("weight %s: %d %v", body, code, m)
		}
	}
}

func TestPageShowsAnOperatorsStateBesideTheHealth(t *testing.T) {
	snap := testSnapshot()
	snap.VirtualServers[0].RealServers[0].AdminState = AdminDrain
	snap.VirtualServers[0].RealServers[0].AdminBy = "socket uid 0"
	snap.VirtualServers[0].RealServers[0].AdminReason = "disk <swap>"
	snap.VRRPInstances = []VRRPInstance{{Name: "VI_1", State: "BACKUP", AdminState: AdminResigned}, {Name: "VI_2", State: "MASTER"}}
	page := getPage(t, snap)
	for _, want := range []string{`title="socket uid 0: disk &lt;swap&gt;">drain</span>`, `BACKUP <span class="pill warn" title="">resigned</span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Count(page, ">resigned</span>") != 1 || strings.Contains(page, ">ready</span>") {
		t.Error("a ready server or instance is flagged")
	}
}
