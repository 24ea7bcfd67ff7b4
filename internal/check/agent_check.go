package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// AgentOptions configure an AGENT_CHECK (vigil): HAProxy's agent protocol. The server's agent
// listens on connect_port; vigil connects, writes Send if set, and reads one line.
type AgentOptions struct {
	ConnOptions `json:"-"`
	// Send is written once connected (send, C escapes decoded: "backend/web1\n"); nothing when
	// empty. SendText is it as written.
	Send     []byte `json:"-"`
	SendText string `json:"send,omitempty"`
}

// AgentKind is AGENT_CHECK's block. An agent's "down" acts at its first answer (retry 0 unless
// the block says otherwise); an agent that does not answer says nothing, so it needs no retry.
var AgentKind = Kind{Name: "AGENT_CHECK", JSON: "agent", Shared: Timing | Connection,
	Defaults: func(delayLoop time.Duration) (uint32, time.Duration) { return 0, delayLoop },
	Block: func(b *Block) Options {
		o := &AgentOptions{}
		b.Keywords["send"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) != 2 || l.Words[1] == "" {
				p.Diags.Errorf(l.Pos, "send: one string expected (quote it)")
				return
			}
			data, err := cEscapes(l.Words[1])
			if err != nil {
				p.Diags.Errorf(l.Pos, "send %q: %v", l.Words[1], err)
				return
			}
			o.Send, o.SendText = data, l.Words[1]
		}}
		return o
	}}

// New builds the AGENT_CHECK.
func (o AgentOptions) New(env Env) (probe.Checker, error) {
	o.ConnOptions = env.Conn
	return NewAgent(o), nil
}

// maxAgentLine bounds what is read of an agent's answer: its first line, which is short.
const maxAgentLine = 1024

// AgentChecker is AGENT_CHECK: it asks the server's agent what the server's state is, as
// HAProxy's agent-check does, and reads the first line of the answer (to the first CR or LF)
// as words separated by spaces, tabs or commas, case aside:
//
//   - "up" passes the check; "down", "fail" and "stopped" fail it, with the description that
//     follows a '#' (a word of its own, "down #disk full", as HAProxy reads it; vigil also
//     reads "down#disk full", which HAProxy 2.6 ignores);
//   - "ready", "drain" and "maint" are the agent's word on the server's admin state;
//   - "N%" makes the server's weight N percent of its configured weight;
//   - "maxconn:N" and any other word are ignored.
//
// An answer without "up" or a failure word, or none at all (the agent refuses the connection,
// times out or closes), is no verdict: the check stays as it is, as HAProxy does not mark a
// server down for an agent it cannot reach. What the agent does not say is left as it said it
// before.
type AgentChecker struct {
	dialer *net.Dialer
	addr   string
	key    string
	send   []byte
}

// NewAgent returns an AGENT_CHECK of opts.Addr.
func NewAgent(opts AgentOptions) *AgentChecker {
	addr := opts.Addr.String()
	key := "AGENT_CHECK " + addr + opts.keySuffix()
	if len(opts.Send) > 0 {
		key += " send=" + strconv.Quote(string(opts.Send))
	}
	return &AgentChecker{dialer: opts.dialer("tcp"), addr: addr, key: key, send: opts.Send}
}

// Kind returns "AGENT_CHECK".
func (c *AgentChecker) Kind() string { return "AGENT_CHECK" }

// Target returns the agent's address.
func (c *AgentChecker) Target() string { return c.addr }

// Key returns "AGENT_CHECK <addr>[ bind=..][ if=..][ mark=..][ send=".."]".
func (c *AgentChecker) Key() string { return c.key }

// Check asks the agent and reads its answer.
func (c *AgentChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return noVerdict(start, "agent not reached: "+failReason(ctx, "connect", err))
	}
	defer conn.Close()
	stop := bindConn(ctx, conn)
	defer stop()
	if len(c.send) > 0 {
		if _, err := conn.Write(c.send); err != nil {
			return noVerdict(start, "agent not reached: "+failReason(ctx, "send", err))
		}
	}
	line, err := readAgentLine(conn)
	if err != nil && len(line) == 0 {
		if errors.Is(err, io.EOF) {
			return noVerdict(start, "agent closed the connection without an answer")
		}
		return noVerdict(start, "agent did not answer: "+failReason(ctx, "read", err))
	}
	res := AgentAnswer(line)
	res.Latency = time.Since(start)
	return res
}

// readAgentLine reads up to the first CR or LF, or what came before the agent closed.
func readAgentLine(conn net.Conn) (string, error) {
	var buf [maxAgentLine]byte
	n := 0
	for n < len(buf) {
		m, err := conn.Read(buf[n:])
		if i := bytes.IndexAny(buf[n:n+m], "\r\n"); i >= 0 {
			return string(buf[:n+i]), nil
		}
		n += m
		if err != nil {
			return string(buf[:n]), err
		}
	}
	return string(buf[:n]), nil
}

func noVerdict(start time.Time, reason string) probe.Result {
	return probe.Result{NoVerdict: true, Weight: -1, Reason: reason + " (no verdict: the check stays as it was)", Latency: time.Since(start)}
}

// AgentAnswer reads one line of an agent's answer into a probe result: a verdict when the
// agent said up or down (else NoVerdict), and its word on the admin state and the weight in
// Agent (nil when it said neither). Of two words of one kind the last counts.
func AgentAnswer(line string) probe.Result {
	res := probe.Result{Weight: -1, NoVerdict: true}
	word := probe.AgentWord{WeightPercent: -1, Said: line}
	var health, desc string
	var ignored []string
	rest := line
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		if rest[0] == '#' {
			desc = strings.TrimSpace(rest[1:])
			break
		}
		end := strings.IndexAny(rest, " \t,")
		if end < 0 {
			end = len(rest)
		}
		w := rest[:end]
		rest = rest[end:]
		if i := strings.IndexByte(w, '#'); i > 0 {
			// "down#disk full": the description runs to the end of the line.
			desc = strings.TrimSpace(w[i+1:] + rest)
			w, rest = w[:i], ""
		}
		switch lw := strings.ToLower(w); {
		case lw == "up":
			health = lw
		case lw == "down", lw == "fail", lw == "stopped":
			health = lw
		case lw == "ready", lw == "drain", lw == "maint":
			word.State = lw
		case strings.HasSuffix(lw, "%"):
			v, err := strconv.Atoi(lw[:len(lw)-1])
			if err != nil || v < 0 || v > math.MaxInt32 {
				ignored = append(ignored, w)
				continue
			}
			word.WeightPercent = v
		default:
			ignored = append(ignored, w)
		}
	}
	switch health {
	case "up":
		res.Healthy, res.NoVerdict = true, false
	case "":
	default:
		res.NoVerdict = false
	}
	res.Reason = agentReason(line, health, desc, ignored)
	if word.State != "" || word.WeightPercent >= 0 {
		res.Agent = &word
	}
	return res
}

func agentReason(line, health, desc string, ignored []string) string {
	var b strings.Builder
	switch health {
	case "":
		fmt.Fprintf(&b, "agent said %q (no verdict: the check stays as it was)", line)
	case "up":
		fmt.Fprintf(&b, "agent said %q", line)
	default:
		fmt.Fprintf(&b, "agent says %s", health)
		if desc != "" {
			b.WriteString(": " + desc)
		}
		fmt.Fprintf(&b, " (%q)", line)
	}
	if len(ignored) > 0 {
		fmt.Fprintf(&b, "; ignored %s", strings.Join(ignored, " "))
	}
	return b.String()
}
