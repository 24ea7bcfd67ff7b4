package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// TCP_CHECK's dialogue (vigil's send, send_hex, expect, expect_regex and expect_hex): steps in
// file order, each send written whole, each expectation met once what the server has sent since
// the last send holds it. The dialogue is read the same way by both ways of probing: the
// goroutine of Check and the scheduler's poller, which feeds it whatever the socket holds when
// it is woken.

// StepKind says what a step of a TCP_CHECK dialogue does.
type StepKind uint8

const (
	// StepSend writes Data (send, send_hex).
	StepSend StepKind = iota
	// StepExpect waits for Data to appear (expect, expect_hex).
	StepExpect
	// StepExpectRegex waits for Regex to match (expect_regex).
	StepExpectRegex
)

// TCPStep is one step of a TCP_CHECK dialogue.
type TCPStep struct {
	Kind StepKind
	// Data is what a send writes or an expect waits for, escapes and hex decoded.
	Data []byte
	// Regex is what an expect_regex waits for.
	Regex *Regexp
	// Keyword and Text are the step as written ("send", `PING\r\n`), for reasons and JSON.
	Keyword, Text string
}

// MarshalJSON shows the step as written: {"send": "PING\\r\\n"}.
func (s TCPStep) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{s.Keyword: s.Text})
}

// name is the step for a reason: `expect "+PONG"`.
func (s *TCPStep) name() string { return s.Keyword + " " + strconv.Quote(s.Text) }

// maxExpectBuffer bounds what the server may send between two sends while an expectation
// waits; a server that sends more without meeting it fails the check.
const maxExpectBuffer = 16 << 10

// dialogue is one run of a dialogue's steps. The header, when set, is written before the
// first step (the PROXY protocol's).
type dialogue struct {
	steps  []TCPStep
	header []byte
	i      int    // the current step
	sent   int    // bytes of the current send (or of the header) written
	inHdr  bool   // the header is still being written
	buf    []byte // what the server sent since the last send
	total  int    // bytes received in all
	scan   int    // where in buf a plain expectation's search resumes
}

func newDialogue(steps []TCPStep, header []byte) dialogue {
	return dialogue{steps: steps, header: header, inHdr: len(header) > 0}
}

// done reports whether every step has passed.
func (d *dialogue) done() bool { return !d.inHdr && d.i >= len(d.steps) }

// toSend returns what is left to write of the header or of the current send step; nil when the
// dialogue waits for the server (or is done).
func (d *dialogue) toSend() []byte {
	if d.inHdr {
		return d.header[d.sent:]
	}
	if d.i < len(d.steps) && d.steps[d.i].Kind == StepSend {
		return d.steps[d.i].Data[d.sent:]
	}
	return nil
}

// wrote records that n bytes of toSend were written. A send written whole starts a new
// exchange: what the server says next is read afresh.
func (d *dialogue) wrote(n int) {
	d.sent += n
	if d.inHdr {
		if d.sent == len(d.header) {
			d.inHdr, d.sent = false, 0
		}
		return
	}
	if d.sent == len(d.steps[d.i].Data) {
		d.i++
		d.sent, d.buf, d.scan = 0, d.buf[:0], 0
	}
}

// feed takes the next bytes the server sent and passes every expectation they meet; it returns
// a reason once the dialogue has failed (the server said too much without meeting one). p is
// not kept.
func (d *dialogue) feed(p []byte) (reason string) {
	d.total += len(p)
	if d.inHdr || d.i >= len(d.steps) || d.steps[d.i].Kind == StepSend {
		// Nothing waits for these bytes: they are what the server said before the next send.
		return ""
	}
	if room := maxExpectBuffer - len(d.buf); room > 0 {
		d.buf = append(d.buf, p[:min(len(p), room)]...)
	}
	for d.i < len(d.steps) {
		s := &d.steps[d.i]
		switch s.Kind {
		case StepSend:
			return ""
		case StepExpect:
			if i := bytes.Index(d.buf[d.scan:], s.Data); i < 0 {
				d.scan = max(0, len(d.buf)-len(s.Data)+1)
				return d.overflow()
			}
		case StepExpectRegex:
			if !s.Regex.Match(d.buf) {
				return d.overflow()
			}
		}
		// Met: the next expectation searches the same bytes from their start.
		d.i++
		d.scan = 0
	}
	return ""
}

// overflow fails the dialogue once the server has sent as much as an expectation may look at
// (the first maxExpectBuffer bytes after a send) without meeting it: whatever comes after is
// not looked at, so the verdict is the same however the bytes arrive.
func (d *dialogue) overflow() string {
	if len(d.buf) < maxExpectBuffer {
		return ""
	}
	return fmt.Sprintf("%s: not met in the first %d bytes received, %s", d.steps[d.i].name(), len(d.buf), d.received())
}

// step names what the dialogue is at, for a reason: "send PROXY header", `send "PING\r\n"`,
// `expect "+PONG"`.
func (d *dialogue) step() string {
	if d.inHdr {
		return "send PROXY header"
	}
	if d.i < len(d.steps) {
		return d.steps[d.i].name()
	}
	return "close"
}

// received quotes the start of what the server sent since the last send, for a reason.
func (d *dialogue) received() string {
	if len(d.buf) == 0 {
		return "nothing received"
	}
	const show = 64
	if len(d.buf) > show {
		return fmt.Sprintf("received %q...", d.buf[:show])
	}
	return fmt.Sprintf("received %q", d.buf)
}

// eof is the server closing the connection before the dialogue ended.
func (d *dialogue) eof() string {
	return d.step() + ": connection closed by the server, " + d.received()
}

// timeout is the dialogue running out of time at its current step.
func (d *dialogue) timeout() string {
	if d.i < len(d.steps) && d.steps[d.i].Kind != StepSend && !d.inHdr {
		return d.step() + ": timeout, " + d.received()
	}
	return d.step() + ": timeout"
}

// okReason is the reason of a dialogue that passed.
func okReason(steps []TCPStep) string {
	return "dialogue ok (" + strconv.Itoa(len(steps)) + " steps)"
}
