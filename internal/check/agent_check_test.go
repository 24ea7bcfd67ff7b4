package check

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestAgentAnswerReadsHAProxysWords(t *testing.T) {
	const none = -1
	tests := []struct {
		line      string
		verdict   string // "up", "down" or "" (no verdict)
		state     string
		pct       int
		reasonHas string
	}{
		{"up", "up", "", none, `agent said "up"`},
		{"UP 100%", "up", "", 100, ""},
		{"drain", "", "drain", none, "no verdict"},
		{"ready 50%", "", "ready", 50, ""},
		{"75%", "", "", 75, ""},
		{"maint,down", "down", "maint", none, "agent says down"},
		{"down #disk full", "down", "", none, "agent says down: disk full"},
		{"down#disk full", "down", "", none, "agent says down: disk full"},
		{"fail", "down", "", none, "agent says fail"},
		{"stopped#bye", "down", "", none, "agent says stopped: bye"},
		{"75%,maxconn:30,maint,down", "down", "maint", 75, "ignored maxconn:30"},
		{"\tready\tup  ", "up", "ready", none, ""},
		// Of two words of a kind the last counts.
		{"drain ready up down", "down", "ready", none, ""},
		{"hello world", "", "", none, "ignored hello world"},
		{"-5% x%", "", "", none, "ignored -5% x%"},
		{"", "", "", none, "no verdict"},
	}
	for _, tt := range tests {
		res := AgentAnswer(tt.line)
		verdict := ""
		switch {
		case res.NoVerdict:
		case res.Healthy:
			verdict = "up"
		default:
			verdict = "down"
		}
		state, pct := "", none
		if res.Agent != nil {
			state, pct = res.Agent.State, res.Agent.WeightPercent
			if res.Agent.Said != tt.line {
				t.Errorf("%q: said %q", tt.line, res.Agent.Said)
			}
		}
		if verdict != tt.verdict || state != tt.state || pct != tt.pct || res.Weight != -1 {
			t.Errorf("%q: verdict %q state %q pct %d weight %d, want %q %q %d -1", tt.line, verdict, state, pct, res.Weight, tt.verdict, tt.state, tt.pct)
		}
		if !strings.Contains(res.Reason, tt.reasonHas) {
			t.Errorf("%q: reason %q lacks %q", tt.line, res.Reason, tt.reasonHas)
		}
	}
}

func TestAgentBlockReadsSendWithItsEscapes(t *testing.T) {
	opts, kept, msgs := readBlock(t, AgentKind, "  send \"be/web1\\n\"\n", Server{})
	if !kept || len(msgs) != 0 {
		t.Fatalf("kept %v, messages %v", kept, msgs)
	}
	o := opts.(*AgentOptions)
	if string(o.Send) != "be/web1\n" || o.SendText != `be/web1\n` {
		t.Errorf("send %q as written %q", o.Send, o.SendText)
	}
	_, _, msgs = readBlock(t, AgentKind, "  send two words\n  send \"bad \\x\"\n", Server{})
	if len(msgs) != 2 || !strings.Contains(msgs[0], "one string expected") || !strings.Contains(msgs[1], `send "bad \\x"`) {
		t.Errorf("messages %q", msgs)
	}
}

// agent runs an agent on loopback that reads a line when asked to (send), remembers it and
// answers with answer.
func agent(t *testing.T, answer string, readFirst bool, got chan<- string) netip.AddrPort {
	return testenv.ServeTCP(t, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if readFirst {
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
		}
		io.WriteString(c, answer)
	})
}

func TestAgentCheckSendsItsStringAndReadsTheFirstLine(t *testing.T) {
	got := make(chan string, 1)
	addr := agent(t, "drain 50%\r\nup\n", true, got)
	c := NewAgent(AgentOptions{ConnOptions: ConnOptions{Addr: addr}, Send: []byte("be/web1\n")})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res := c.Check(ctx)
	if sent := <-got; sent != "be/web1\n" {
		t.Errorf("the agent read %q", sent)
	}
	if !res.NoVerdict || res.Agent == nil || res.Agent.State != "drain" || res.Agent.WeightPercent != 50 || res.Agent.Said != "drain 50%" {
		t.Errorf("result %+v agent %+v", res, res.Agent)
	}
	if !strings.Contains(c.Key(), `send="be/web1\n"`) || c.Target() != addr.String() || c.Kind() != "AGENT_CHECK" {
		t.Errorf("key %q target %q kind %q", c.Key(), c.Target(), c.Kind())
	}
}

func TestAgentAnswerCutByTheAgentClosingCounts(t *testing.T) {
	addr := agent(t, "down #out of disk", false, nil)
	res := NewAgent(AgentOptions{ConnOptions: ConnOptions{Addr: addr}}).Check(context.Background())
	if res.NoVerdict || res.Healthy || !strings.Contains(res.Reason, "agent says down: out of disk") {
		t.Errorf("result %+v", res)
	}
}

// An agent that cannot be reached or does not answer says nothing: no verdict, no word.
func TestAgentThatDoesNotAnswerGivesNoVerdict(t *testing.T) {
	closed := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(testenv.FreePort(t, "127.0.0.1", false)))
	_, silent, _ := testenv.FullListener(t)
	mute := testenv.ServeTCP(t, func(c net.Conn) { c.Close() })
	for name, tt := range map[string]struct {
		addr   netip.AddrPort
		reason string
	}{
		"refused":        {closed, "agent not reached: connect: connection refused"},
		"silent":         {silent, "agent not reached: connect: timeout"},
		"closed at once": {mute, "agent closed the connection without an answer"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		res := NewAgent(AgentOptions{ConnOptions: ConnOptions{Addr: tt.addr}}).Check(ctx)
		cancel()
		if !res.NoVerdict || res.Agent != nil || !strings.Contains(res.Reason, tt.reason) {
			t.Errorf("%s: %+v, want no verdict, no word, reason %q", name, res, tt.reason)
		}
	}
	var _ probe.Checker = (*AgentChecker)(nil)
}
