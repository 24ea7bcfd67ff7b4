package status

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// Source gives the current state. It must be safe to call from any goroutine.
type Source interface {
	Snapshot() Snapshot
}

// Handler serves the status endpoints:
//
//	GET /                 the live web page
//	GET /api/v1/status    Snapshot as JSON
//	GET /api/v1/events    Server-Sent Events: one "change" event per Event, as JSON
//	GET /metrics          Prometheus metrics (when a metrics handler is given)
//	GET /healthz          200 "ok" while the daemon runs
//	POST /api/v1/...      the operators' commands, behind status_token (control.go)
type Handler struct {
	src     Source
	hub     *Hub
	metrics http.Handler
	mux     *http.ServeMux
	// control serves the write endpoints (control.go) once Control is called.
	control controlHandler
	rates   rateMeter
}

// NewHandler builds the handler. metrics may be nil.
func NewHandler(src Source, hub *Hub, metrics http.Handler) *Handler {
	h := &Handler{src: src, hub: hub, metrics: metrics, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.page)
	h.mux.HandleFunc("GET /api/v1/status", h.status)
	h.mux.HandleFunc("GET /api/v1/events", h.events)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	if metrics != nil {
		h.mux.Handle("GET /metrics", metrics)
	}
	h.routeControl(h.mux)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(withEmptyLists(h.snapshot()))
}

// snapshot is the source's snapshot with what the status server itself keeps: each real
// server's timeline (the hub's) and each virtual server's connection rate.
func (h *Handler) snapshot() Snapshot {
	s := h.src.Snapshot()
	now := h.hub.now()
	names := make(map[string]bool, len(s.VirtualServers))
	vss := make([]VirtualServer, len(s.VirtualServers))
	for i, vs := range s.VirtualServers {
		names[vs.Name] = true
		vs.Traffic.ConnsPerSecond = h.rates.rate(vs.Name, now, vs.Traffic.TotalConns)
		rss := make([]RealServer, len(vs.RealServers))
		for j, rs := range vs.RealServers {
			rs.Timeline = h.hub.Timeline(vs.Name, rs.Name)
			rss[j] = rs
		}
		vs.RealServers = rss
		vss[i] = vs
	}
	s.VirtualServers = vss
	h.rates.keep(names)
	return s
}

// withEmptyLists turns absent lists into empty ones, so that clients of the JSON always see
// arrays ("vrrp_instances": [] rather than null), an absent drop count into {}, and an unset
// admin state into "ready".
func withEmptyLists(s Snapshot) Snapshot {
	if s.VirtualServers == nil {
		s.VirtualServers = []VirtualServer{}
	}
	if s.VRRPInstances == nil {
		s.VRRPInstances = []VRRPInstance{}
	}
	if s.Events == nil {
		s.Events = []Event{}
	}
	vss := make([]VirtualServer, len(s.VirtualServers))
	for i, vs := range s.VirtualServers {
		if vs.RealServers == nil {
			vs.RealServers = []RealServer{}
		}
		rss := make([]RealServer, len(vs.RealServers))
		for j, rs := range vs.RealServers {
			rs.Timeline = orEmpty(rs.Timeline)
			cs := make([]Check, len(rs.Checks))
			for k, c := range rs.Checks {
				c.Recent = orEmpty(c.Recent)
				cs[k] = c
			}
			rs.Checks = cs
			if rs.AdminState == "" {
				rs.AdminState = AdminReady
			}
			rss[j] = rs
		}
		vs.RealServers = rss
		vss[i] = vs
	}
	s.VirtualServers = vss
	vis := make([]VRRPInstance, len(s.VRRPInstances))
	for i, vi := range s.VRRPInstances {
		if vi.VirtualAddresses == nil {
			vi.VirtualAddresses = []string{}
		}
		if vi.Dropped == nil {
			vi.Dropped = map[string]uint64{}
		}
		if vi.AdminState == "" {
			vi.AdminState = AdminReady
		}
		vis[i] = vi
	}
	s.VRRPInstances = vis
	if s.BGP != nil {
		b := *s.BGP
		if b.Sessions == nil {
			b.Sessions = []BGPSession{}
		}
		if b.Prefixes == nil {
			b.Prefixes = []BGPPrefix{}
		}
		s.BGP = &b
	}
	return s
}

// orEmpty is l, or an empty list in place of nil: JSON's [] rather than null.
func orEmpty[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// events streams changes. Each message is `event: change` with the Event as JSON data; a
// comment line every 15 s keeps proxies from closing an idle stream.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Flusher); !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch, cancel := h.hub.Subscribe()
	defer cancel()
	// The stream outlives any one write deadline: each write gets its own, so that a client
	// that stops reading is cut after one write timeout while one that reads stays.
	rc := http.NewResponseController(w)
	timeout := streamWriteTimeout(r)
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n\n") {
		return
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		var ok bool
		select {
		case <-r.Context().Done():
			return
		case ev := <-ch:
			b, _ := json.Marshal(ev)
			ok = send("id: %d\nevent: change\ndata: %s\n\n", ev.Seq, b)
		case <-keepalive.C:
			ok = send(": keepalive\n\n")
		}
		if !ok {
			return
		}
	}
}

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"since": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("15:04:05")
	},
	"ms":        func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) },
	"lower":     strings.ToLower,
	"bytes":     humanBytes,
	"sparkline": sparkline,
	"timeline":  timeline,
	"actions":   actions,
	// The script draws the charts as the server does; it takes their bounds from here.
	"probeHistory":   func() int { return ProbeHistory },
	"timelineWindow": func() int64 { return TimelineWindow.Milliseconds() },
	"established": func(ss []BGPSession) int {
		n := 0
		for _, s := range ss {
			if s.State == "ESTABLISHED" {
				n++
			}
		}
		return n
	},
	// prefixDot colours a BGP prefix's state: announced green, withdrawn red, pending amber.
	"prefixDot": func(state string) string {
		switch state {
		case BGPAnnounced:
			return "up"
		case BGPWithdrawn:
			return "down"
		}
		return "warn"
	},
}).Parse(pageHTML))

func (h *Handler) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	if err := pageTemplate.Execute(w, h.snapshot()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// RequireToken wraps a handler that changes state: requests must carry
// "Authorization: Bearer TOKEN", compared in constant time with token(), read at each request
// so that a reload can change it. A wrong or missing token is refused with 401; with no token
// configured, every request is refused with 403 and told how to turn the endpoint on.
func RequireToken(token func() string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := token()
		if want == "" {
			writeError(w, http.StatusForbidden, "the write endpoints are off: set status_token TOKEN in global_defs and reload (SIGHUP) to turn them on, "+
				"then send Authorization: Bearer TOKEN; or use vigil ctl on the control_socket")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required: Authorization: Bearer TOKEN, the status_token of global_defs")
			return
		}
		next.ServeHTTP(w, r)
	})
}
