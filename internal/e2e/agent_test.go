package e2e

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/supervisor"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestAgentCheckReachesHAProxysStatesOverTheSameAnswers runs one agent, whose answer the test
// changes, and asks it from vigil (AGENT_CHECK beside a TCP_CHECK) and from HAProxy 2.6 (check
// plus agent-check agent-inter 1s) about the same server, and reads where each puts the server
// after each answer: vigil from its status, HAProxy from its stats socket's show stat. Both
// must reach the same state (UP and its weight, DRAIN, MAINT, DOWN), but for two differences
// vigil makes on purpose, which the test measures as such.
func TestAgentCheckReachesHAProxysStatesOverTheSameAnswers(t *testing.T) {
	bin := testenv.RequireTool(t, "haproxy")
	// The server: a connect is all either health check asks of it.
	backend := testenv.ServeTCP(t, func(net.Conn) {})
	var answer atomic.Value
	answer.Store("up ready 100%")
	agentAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, "127.0.0.1", false))
	serveAgent := func(c net.Conn) { io.WriteString(c, answer.Load().(string)+"\n") }
	agentPort := agentAddr[strings.LastIndexByte(agentAddr, ':')+1:]
	_, stopAgent := testenv.ServeTCPOn(t, agentAddr, serveAgent)

	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	var b strings.Builder
	vsHeader(&b, vsPort, "  delay_loop 1\n")
	fmt.Fprintf(&b, `  real_server 127.0.0.1 %d {
    weight 10
    TCP_CHECK {
      connect_timeout 1
    }
    AGENT_CHECK {
      connect_port %s
      connect_timeout 1
    }
  }
}
`, backend.Port(), agentPort)
	d := runDaemon(t, loadConfig(t, b.String()))
	hp := runHAProxy(t, nil, bin, fmt.Sprintf(`defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
backend be
    server s1 127.0.0.1:%d weight 10 check inter 1s agent-check agent-port %s agent-inter 1s
`, backend.Port(), agentPort))

	vsName := fmt.Sprintf("[127.0.0.1]:tcp:%d", vsPort)
	rsName := backend.String()
	vigilNow := func() string { return vigilAgentState(d, rsName) }
	haproxyNow := func() string { return haproxyAgentState(hp.servers()["s1"]) }
	operator := func(verb control.Verb) {
		if _, err := d.Control(control.Command{Verb: verb, VS: vsName, RS: rsName, By: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := hp.command("set server be/s1 state " + string(verb)); err != nil {
			t.Fatal(err)
		}
	}

	type step struct {
		do, say        string
		vigil, haproxy string // "" means the same as want
		want           string
		hold           bool // the state must not change for holdFor
		why            string
	}
	const holdFor = 3 * time.Second // three agent intervals
	steps := []step{
		{say: "up ready 100%", want: "UP 10"},
		{say: "drain", want: "DRAIN"},
		{say: "ready", want: "UP 10"},
		{say: "50%", want: "UP 5"},
		{say: "maint", want: "MAINT"},
		{say: "ready 100%", want: "UP 10"},
		{say: "down #disk full", want: "DOWN"},
		{say: "up", want: "UP 10"},
		{say: "ready 75%", want: "UP 7"},
		{say: "0%", want: "UP 0"},
		{do: "agent stops", want: "UP 0", hold: true},
		{do: "agent back", say: "up ready 100%", want: "UP 10"},
		{say: "drain", want: "DRAIN"},
		{do: "agent stops", want: "DRAIN", hold: true},
		{do: "agent back", say: "hello world", want: "DRAIN", hold: true},
		{say: "ready", want: "UP 10"},
		{say: "down#disk full", vigil: "DOWN", haproxy: "UP 10",
			why: "vigil reads a description after a '#' inside a word as the manual describes; HAProxy 2.6 ignores the word"},
		{say: "up", want: "UP 10"},
		{do: "operator maint", say: "ready", vigil: "MAINT", haproxy: "UP 10",
			why: "HAProxy's agent and CLI write one state, the last word wins and the agent repeats ready each second; vigil's operator maint stands"},
		{do: "operator ready", want: "UP 10"},
	}
	type row struct {
		step, vigil, haproxy string
		vigilTook, hapTook   time.Duration
	}
	var rows []row
	for i, st := range steps {
		label := fmt.Sprintf("%2d. ", i)
		switch {
		case st.do != "" && st.say != "":
			label += fmt.Sprintf("%s, agent says %q", st.do, st.say)
		case st.do != "":
			label += st.do
		default:
			label += fmt.Sprintf("agent says %q", st.say)
		}
		switch st.do {
		case "agent stops":
			stopAgent()
		case "agent back":
			answer.Store(st.say)
			_, stopAgent = testenv.ServeTCPOn(t, agentAddr, serveAgent)
		case "operator maint":
			answer.Store(st.say)
			operator(control.Maint)
		case "operator ready":
			operator(control.Ready)
		}
		if st.say != "" {
			answer.Store(st.say)
		}
		wantV, wantH := cmpOr(st.vigil, st.want), cmpOr(st.haproxy, st.want)
		start := time.Now()
		r := row{step: label}
		if st.hold {
			for time.Since(start) < holdFor {
				if v, h := vigilNow(), haproxyNow(); v != wantV || h != wantH {
					t.Fatalf("%s: vigil %s, HAProxy %s; want both to stay %s, %s", label, v, h, wantV, wantH)
				}
				time.Sleep(100 * time.Millisecond)
			}
			r.vigil, r.haproxy = vigilNow()+" (held)", haproxyNow()+" (held)"
		} else {
			// The states each went through on the way, as seen every 20 ms.
			var seenV, seenH []string
			seen := func(list *[]string, st string) {
				if len(*list) == 0 || (*list)[len(*list)-1] != st {
					*list = append(*list, st)
				}
			}
			for r.vigilTook == 0 || r.hapTook == 0 {
				if time.Since(start) > 6*time.Second {
					t.Fatalf("%s: vigil %s, HAProxy %s after 6 s; want %s, %s", label, vigilNow(), haproxyNow(), wantV, wantH)
				}
				v, h := vigilNow(), haproxyNow()
				if r.vigilTook == 0 {
					seen(&seenV, v)
					if v == wantV {
						r.vigilTook = time.Since(start)
					}
				}
				if r.hapTook == 0 {
					seen(&seenH, h)
					if h == wantH {
						r.hapTook = time.Since(start)
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			r.vigil = fmt.Sprintf("%s in %v", strings.Join(seenV, " → "), r.vigilTook.Round(10*time.Millisecond))
			r.haproxy = fmt.Sprintf("%s in %v", strings.Join(seenH, " → "), r.hapTook.Round(10*time.Millisecond))
		}
		if st.why != "" {
			// Where the two differ, each must stay where it went: the difference is not a
			// matter of timing.
			for held := time.Now(); time.Since(held) < holdFor; time.Sleep(100 * time.Millisecond) {
				if v, h := vigilNow(), haproxyNow(); v != wantV || h != wantH {
					t.Fatalf("%s: vigil %s, HAProxy %s; want them to stay %s, %s", label, v, h, wantV, wantH)
				}
			}
		}
		if st.why != "" {
			r.haproxy += " — differs on purpose: " + st.why
		}
		rows = append(rows, r)
	}
	t.Logf("%-50s | %-24s | %s", "the agent (and the operator)", "vigil", "HAProxy 2.6")
	for _, r := range rows {
		t.Logf("%-50s | %-24s | %s", r.step, r.vigil, r.haproxy)
	}
	if rs, ok := realServer(d, rsName); !ok || rs.AdminBy != "test" {
		t.Errorf("after the operator's ready: %+v", rs)
	}
}

// vigilAgentState is where vigil has the real server, in the words HAProxy's stats use: MAINT
// first, then DOWN, DRAIN, or UP and the weight the server has.
func vigilAgentState(d *supervisor.Vigil, rs string) string {
	s, ok := realServer(d, rs)
	switch {
	case !ok:
		return "gone"
	case s.AdminState == status.AdminMaint:
		return "MAINT"
	case !s.Up:
		return "DOWN"
	case s.AdminState == status.AdminDrain:
		return "DRAIN"
	}
	return fmt.Sprintf("UP %d", s.EffectiveWeight)
}

// haproxyAgentState is a show stat row's status (its first word: "DRAIN (agent)" is DRAIN, "UP
// 1/3" is UP), with the weight when UP.
func haproxyAgentState(row map[string]string) string {
	st, _, _ := strings.Cut(row["status"], " ")
	if st == "UP" {
		return "UP " + row["weight"]
	}
	return st
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
