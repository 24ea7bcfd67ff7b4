package status

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/vigil-lb/vigil/internal/control"
)

// The write endpoints: the operators' commands (package control) over HTTP, each a POST with
// a JSON body, behind status_token (RequireToken):
//
//	POST /api/v1/virtual_servers/{vs}/real_servers/{rs}/state   {"state": "drain", "reason": "..."}
//	POST /api/v1/virtual_servers/{vs}/real_servers/{rs}/weight  {"weight": 5, "reason": "..."} or {"reset": true}
//	POST /api/v1/virtual_servers/{vs}/state                     {"state": "maint", "reason": "..."}: every real server
//	POST /api/v1/vrrp_instances/{name}/resign                   {"reason": "..."}
//	POST /api/v1/vrrp_instances/{name}/ready                    {"reason": "..."}
//
// {vs} and {rs} are the names of GET /api/v1/status, path-escaped ("%5B192.0.2.1%5D:tcp:80"),
// or a bare IP:PORT where unique. A change answers 200 with {"changed": true|false, "message":
// "..."}; a refusal answers with {"error": "..."}: 400 for a bad request or an ambiguous name,
// 401 for a missing or wrong token, 403 when no token is configured, 404 for an unknown name,
// 500 when the change failed.

// maxBody bounds a write endpoint's request body.
const maxBody = 64 << 10

// controlRoutes are the write endpoints' patterns.
var controlRoutes = []struct {
	pattern string
	build   func(r *http.Request, body controlBody) (control.Command, error)
}{
	{"POST /api/v1/virtual_servers/{vs}/real_servers/{rs}/state", func(r *http.Request, b controlBody) (control.Command, error) {
		return stateCommand(b, control.Command{VS: r.PathValue("vs"), RS: r.PathValue("rs")})
	}},
	{"POST /api/v1/virtual_servers/{vs}/state", func(r *http.Request, b controlBody) (control.Command, error) {
		return stateCommand(b, control.Command{VS: r.PathValue("vs")})
	}},
	{"POST /api/v1/virtual_servers/{vs}/real_servers/{rs}/weight", func(r *http.Request, b controlBody) (control.Command, error) {
		c := control.Command{Verb: control.Weight, VS: r.PathValue("vs"), RS: r.PathValue("rs"), Reason: b.Reason}
		switch {
		case b.Reset && b.Weight == nil:
			c.Weight = control.ResetWeight
		case !b.Reset && b.Weight != nil && *b.Weight >= 0 && *b.Weight <= 1<<31-1:
			c.Weight = *b.Weight
		default:
			return c, control.Errorf(control.Invalid, `expected {"weight": N} with N from 0 to 2147483647, or {"reset": true}`)
		}
		return c, nil
	}},
	{"POST /api/v1/vrrp_instances/{name}/resign", func(r *http.Request, b controlBody) (control.Command, error) {
		return control.Command{Verb: control.Resign, Instance: r.PathValue("name"), Reason: b.Reason}, nil
	}},
	{"POST /api/v1/vrrp_instances/{name}/ready", func(r *http.Request, b controlBody) (control.Command, error) {
		return control.Command{Verb: control.Ready, Instance: r.PathValue("name"), Reason: b.Reason}, nil
	}},
}

// controlBody is every write endpoint's body; each reads the fields it needs.
type controlBody struct {
	State  string `json:"state"`
	Weight *int   `json:"weight"`
	Reset  bool   `json:"reset"`
	Reason string `json:"reason"`
}

func stateCommand(b controlBody, c control.Command) (control.Command, error) {
	switch v := control.Verb(b.State); v {
	case control.Drain, control.Maint, control.Ready:
		c.Verb, c.Reason = v, b.Reason
		return c, nil
	}
	return c, control.Errorf(control.Invalid, `state %q: expected "ready", "drain" or "maint"`, b.State)
}

// controlHandler serves the write endpoints once Control gave it an executor.
type controlHandler struct {
	mu    sync.Mutex
	exec  control.Executor
	token func() string
}

// Control turns the write endpoints on: exec carries the commands out for requests that carry
// token() as their bearer token. Until it is called, or while token() is empty, they answer 403.
func (h *Handler) Control(exec control.Executor, token func() string) {
	h.control.mu.Lock()
	defer h.control.mu.Unlock()
	h.control.exec, h.control.token = exec, token
}

func (c *controlHandler) tokenNow() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == nil || c.exec == nil {
		return ""
	}
	return c.token()
}

// routeControl registers the write endpoints on mux.
func (h *Handler) routeControl(mux *http.ServeMux) {
	for _, rt := range controlRoutes {
		build := rt.build
		mux.Handle(rt.pattern, RequireToken(h.control.tokenNow, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.serveControl(w, r, build)
		})))
	}
}

func (h *Handler) serveControl(w http.ResponseWriter, r *http.Request, build func(*http.Request, controlBody) (control.Command, error)) {
	var body controlBody
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	if len(b) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "request body is not the JSON expected: "+err.Error())
			return
		}
	}
	cmd, err := build(r, body)
	if err == nil {
		cmd.By = "http from " + r.RemoteAddr
		h.control.mu.Lock()
		exec := h.control.exec
		h.control.mu.Unlock()
		var reply control.Reply
		if reply, err = exec.Execute(cmd); err == nil {
			writeJSON(w, http.StatusOK, reply)
			return
		}
	}
	code := http.StatusInternalServerError
	switch control.KindOf(err) {
	case control.NotFound:
		code = http.StatusNotFound
	case control.Ambiguous, control.Invalid:
		code = http.StatusBadRequest
	}
	writeError(w, code, err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}
