package check

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// scriptedTCPServer runs serve on every connection it accepts, with a read buffer and 3 s to
// finish, and closes the connection afterwards.
func scriptedTCPServer(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) netip.AddrPort {
	t.Helper()
	return testenv.ServeTCP(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		serve(c, bufio.NewReader(c))
	})
}

// smtpConversation answers a greeting, HELO and QUIT with the given replies, and records the
// HELO line it received.
func smtpConversation(greeting, heloReply, quitReply string, helos chan<- string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, r *bufio.Reader) {
		if _, err := c.Write([]byte(greeting)); err != nil {
			return
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if helos != nil {
			select {
			case helos <- line:
			default:
			}
		}
		if _, err := c.Write([]byte(heloReply)); err != nil {
			return
		}
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		_, _ = c.Write([]byte(quitReply))
	}
}

func TestSMTPCheck(t *testing.T) {
	const greet, helo, bye = "220 mx.example.test ESMTP\r\n", "250 mx.example.test\r\n", "221 bye\r\n"
	endless := func(line string) func(net.Conn, *bufio.Reader) {
		return func(c net.Conn, _ *bufio.Reader) {
			for {
				if _, err := c.Write([]byte(line)); err != nil {
					return
				}
			}
		}
	}
	tests := []struct {
		name    string
		serve   func(net.Conn, *bufio.Reader)
		addr    netip.AddrPort
		healthy bool
		reason  string
	}{
		{name: "ConversationPasses", serve: smtpConversation(greet, helo, bye, nil), healthy: true, reason: "HELO 250"},
		{name: "MultiLineRepliesPass", serve: smtpConversation("220-mx.example.test\r\n220-more\r\n220 ESMTP\r\n", "250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n", bye, nil), healthy: true, reason: "HELO 250"},
		{name: "BareCodeRepliesPass", serve: smtpConversation("220\r\n", "250\r\n", "221\r\n", nil), healthy: true, reason: "HELO 250"},
		{name: "HangUpAfterQUITPasses", serve: smtpConversation(greet, helo, "", nil), healthy: true, reason: "HELO 250"},
		{name: "RefusingGreetingFails", serve: smtpConversation("554 go away\r\n", helo, bye, nil), reason: "greeting 554, expected 220"},
		{name: "RejectedHELOFails", serve: smtpConversation(greet, "501 syntax\r\n", bye, nil), reason: "HELO reply 501, expected 250"},
		{name: "GarbageGreetingFails", serve: smtpConversation("SSH-2.0-OpenSSH\r\n", helo, bye, nil), reason: "malformed SMTP reply"},
		{name: "HangUpBeforeGreetingFails", serve: func(net.Conn, *bufio.Reader) {}, reason: "read greeting: EOF"},
		{name: "SlowGreetingTimesOut", serve: func(c net.Conn, _ *bufio.Reader) {
			time.Sleep(2 * probeTimeout)
			_, _ = c.Write([]byte(greet))
		}, reason: "read greeting: timeout"},
		{name: "SilentAfterHELOTimesOut", serve: func(c net.Conn, r *bufio.Reader) {
			_, _ = c.Write([]byte(greet))
			_, _ = r.ReadString('\n')
			time.Sleep(2 * probeTimeout)
		}, reason: "read HELO reply: timeout"},
		{name: "EndlessLineIsCut", serve: endless("220"), reason: "reply line exceeds 1024 bytes"},
		{name: "EndlessMultiLineReplyIsCut", serve: endless("220-more\r\n"), reason: "reply exceeds 16384 bytes"},
		{name: "ClosedPortIsRefused", addr: closedTCPPort(t), reason: "connect: connection refused"},
		{name: "SilentServerTimesOut", addr: testenv.SilentServer(t), reason: "read greeting: timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := tc.addr
			if tc.serve != nil {
				addr = scriptedTCPServer(t, tc.serve)
			}
			c := mustSMTP(t, SMTPOptions{ConnOptions: ConnOptions{Addr: addr}})
			wantProbe(t, runProbe(t, c, probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

func TestSMTPCheckSendsHeloName(t *testing.T) {
	tests := []struct {
		helo, want string
	}{
		{"", "HELO smtpchecker.keepalived.org\r\n"},
		{"lb1.example.test", "HELO lb1.example.test\r\n"},
	}
	for _, tc := range tests {
		helos := make(chan string, 1)
		addr := scriptedTCPServer(t, smtpConversation("220 hi\r\n", "250 ok\r\n", "221 bye\r\n", helos))
		c := mustSMTP(t, SMTPOptions{ConnOptions: ConnOptions{Addr: addr}, HeloName: tc.helo})
		wantProbe(t, runProbe(t, c, time.Second), true, "HELO 250")
		if got := <-helos; got != tc.want {
			t.Errorf("server got %q, want %q", got, tc.want)
		}
		if !strings.Contains(c.Key(), strings.TrimSpace(strings.TrimPrefix(tc.want, "HELO "))) {
			t.Errorf("key %q lacks the helo name", c.Key())
		}
	}
}

func mustSMTP(t *testing.T, o SMTPOptions) *SMTPChecker {
	t.Helper()
	c, err := NewSMTP(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewSMTPRefusesLineBreakInHelo(t *testing.T) {
	if _, err := NewSMTP(SMTPOptions{HeloName: "a\r\nMAIL FROM:<x>"}); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Errorf("NewSMTP with a CRLF in helo_name: %v", err)
	}
}

// smtpReplies reads replies from r until one fails, as a conversation would (greeting, HELO,
// QUIT), and says what each was.
func smtpReplies(r *bufio.Reader) []string {
	var out []string
	for {
		code, err := readSMTPReply(r)
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		out = append(out, strconv.Itoa(code))
	}
}

// FuzzSMTPReply feeds arbitrary server bytes to readSMTPReply, reply after reply. Properties:
// every code read is within 100..599; the replies read are the same whether the bytes arrive
// at once or a few at a time (a server's TCP segments may cut a reply anywhere). Seeds
// (testdata/fuzz/FuzzSMTPReply) are a Postfix greeting and EHLO reply and variations.
func FuzzSMTPReply(f *testing.F) {
	f.Add([]byte("220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n250 mail.example.com\r\n221 2.0.0 Bye\r\n"), uint8(3))
	f.Add([]byte("220-first\r\n220 second\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		whole := smtpReplies(bufio.NewReaderSize(bytes.NewReader(data), smtpMaxLine))
		pieces := smtpReplies(bufio.NewReaderSize(&chunkReader{b: data, n: int(chunk%16) + 1}, smtpMaxLine))
		if !slices.Equal(whole, pieces) {
			t.Fatalf("in pieces of %d: %q, at once: %q", chunk%16+1, pieces, whole)
		}
		for _, r := range whole {
			if code, err := strconv.Atoi(r); err == nil && (code < 100 || code > 599) {
				t.Fatalf("code %d read from %q", code, data)
			}
		}
	})
}

// chunkReader returns at most n bytes per Read, as a socket may.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}
