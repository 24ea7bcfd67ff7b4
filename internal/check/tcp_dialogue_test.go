package check

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// tcpListening reports whether something accepts TCP connections at ap.
func tcpListening(ap netip.AddrPort) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", ap.String(), 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

// startRedis runs Debian's redis-server on a loopback port for the test, keeping nothing on
// disk, with extra arguments (a password, --replicaof).
func startRedis(t *testing.T, extra ...string) netip.AddrPort {
	t.Helper()
	bin := testenv.RequireTool(t, "redis-server")
	port := testenv.FreePort(t, "127.0.0.1", false)
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--protected-mode", "no"}, extra...)
	testenv.StartCmd(t, exec.Command(bin, args...))
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	testenv.WaitFor(t, 10*time.Second, "redis-server listening on "+ap.String(), tcpListening(ap))
	return ap
}

// startMemcached runs Debian's memcached on a loopback port for the test.
func startMemcached(t *testing.T) netip.AddrPort {
	t.Helper()
	bin := testenv.RequireTool(t, "memcached")
	port := testenv.FreePort(t, "127.0.0.1", false)
	testenv.StartCmd(t, exec.Command(bin, "-p", strconv.Itoa(port), "-l", "127.0.0.1", "-U", "0", "-u", "root", "-m", "8"))
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	testenv.WaitFor(t, 10*time.Second, "memcached listening on "+ap.String(), tcpListening(ap))
	return ap
}

// tricklingServer answers every connection with reply, one byte every gap, once it has read a
// line, then keeps the connection open until the test ends (or the server's deadline).
func tricklingServer(t *testing.T, reply string, gap time.Duration) netip.AddrPort {
	t.Helper()
	ap := scriptedTCPServer(t, func(c net.Conn, r *bufio.Reader) {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		for i := range len(reply) {
			select {
			case <-t.Context().Done():
				return
			case <-time.After(gap):
			}
			if _, err := c.Write([]byte{reply[i]}); err != nil {
				return
			}
		}
		<-t.Context().Done()
	})
	return ap
}

func TestTCPDialogueAgainstRedis(t *testing.T) {
	primary := startRedis(t)
	replica := startRedis(t, "--replicaof", primary.Addr().String(), strconv.Itoa(int(primary.Port())))
	locked := startRedis(t, "--requirepass", "s3cret")
	memcached := startMemcached(t)
	slow := tricklingServer(t, "+PONG\r\n", 20*time.Millisecond)
	tooSlow := tricklingServer(t, "+PONG\r\n", 200*time.Millisecond)
	silent := testenv.SilentServer(t)

	const ping = "send \"PING\\r\\n\"\nexpect \"+PONG\"\n"
	const primaryCheck = "send \"INFO replication\\r\\n\"\nexpect \"role:master\"\n"
	tests := []checkCase{
		{"PingAnswered", primary, ping, true, "dialogue ok (2 steps)"},
		{"PingNeedsAuth", locked, ping, false, `expect "+PONG": timeout, received "-NOAUTH Authentication required.\r\n"`},
		{"PingWithAuth", locked, "send \"AUTH s3cret\\r\\n\"\nexpect \"+OK\"\n" + ping, true, "dialogue ok (4 steps)"},
		{"PingOfMemcached", memcached, ping, false, `expect "+PONG": timeout, received "ERROR\r\n"`},
		{"PrimaryIsMaster", primary, primaryCheck, true, "dialogue ok"},
		{"ReplicaIsNotMaster", replica, primaryCheck, false, `expect "role:master": timeout, received "$`},
		{"ReplicaByRegex", replica, "send \"INFO replication\\r\\n\"\nexpect_regex \"role:(master|slave)\"\n", true, "dialogue ok"},
		{"PingInHex", primary, "send_hex 50 49 4e 47 0d 0a\nexpect_hex 2b504f4e47\n", true, "dialogue ok"},
		{"SlowButInTime", slow, ping, true, "dialogue ok"},
		{"TooSlow", tooSlow, ping, false, `expect "+PONG": timeout, received "+"`},
		{"Silent", silent, ping, false, `expect "+PONG": timeout, nothing received`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := readChecker(t, TCPKind, tt.target, tt.block)
			if tt.target != replica {
				wantProbe(t, runProbe(t, c, probeDeadline(tt.want)), tt.healthy, tt.want)
				return
			}
			// A replica's INFO changes from one probe to the next (its link, its offsets): each
			// way of probing is judged on its own.
			ctx, cancel := context.WithTimeout(context.Background(), probeDeadline(tt.want))
			defer cancel()
			for _, r := range []probe.Result{c.Check(ctx), runPolled(t, c.(probe.PolledChecker), probeDeadline(tt.want)).Result} {
				wantProbe(t, r, tt.healthy, tt.want)
				if !tt.healthy {
					wantProbe(t, r, false, `\r\n# Replication\r\nrole:slave\r\n`)
				}
			}
		})
	}
}

func TestTCPDialogueAgainstMemcached(t *testing.T) {
	memcached := startMemcached(t)
	redis := startRedis(t)
	slow := tricklingServer(t, "VERSION 1.6.21\r\n", 10*time.Millisecond)
	tooSlow := tricklingServer(t, "VERSION 1.6.21\r\n", 200*time.Millisecond)
	silent := testenv.SilentServer(t)

	const version = "send \"version\\r\\n\"\nexpect_regex \"^VERSION [0-9.]+\\r\\n\"\n"
	tests := []checkCase{
		{"VersionAnswered", memcached, version, true, "dialogue ok (2 steps)"},
		{"StatsAfterVersion", memcached, version + "send \"stats\\r\\n\"\nexpect \"STAT pid \"\nexpect \"END\\r\\n\"\n", true, "dialogue ok (5 steps)"},
		{"VersionOfRedis", redis, version, false, `expect_regex "^VERSION [0-9.]+\\r\\n": timeout, received "-ERR unknown command`},
		{"SlowButInTime", slow, version, true, "dialogue ok"},
		{"TooSlow", tooSlow, version, false, `expect_regex "^VERSION [0-9.]+\\r\\n": timeout, received "V"`},
		{"Silent", silent, version, false, `expect_regex "^VERSION [0-9.]+\\r\\n": timeout, nothing received`},
	}
	runCheckCases(t, TCPKind, tests)
}

// A server that closes the connection before the dialogue ends fails it at once, saying so,
// and a refused connection fails at connect, both ways of probing alike.
func TestTCPDialogueEndsEarlyOnCloseAndRefusal(t *testing.T) {
	bye := scriptedTCPServer(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = r.ReadString('\n')
		_, _ = c.Write([]byte("-ERR bye\r\n"))
	})
	c := readChecker(t, TCPKind, bye, "send \"PING\\r\\n\"\nexpect \"+PONG\"\n")
	wantProbe(t, runProbe(t, c, 5*time.Second), false, `expect "+PONG": connection closed by the server, received "-ERR bye\r\n"`)
	c = readChecker(t, TCPKind, closedTCPPort(t), "send \"PING\\r\\n\"\nexpect \"+PONG\"\n")
	wantProbe(t, runProbe(t, c, 5*time.Second), false, "connect: connection refused")
	// A server that speaks first (an SMTP greeter, a MySQL handshake) is heard without a send.
	greeter := scriptedTCPServer(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write([]byte("220 mx.example ESMTP\r\n"))
		_, _ = r.ReadString('\n')
	})
	c = readChecker(t, TCPKind, greeter, "expect \"220 \"\nsend \"QUIT\\r\\n\"\n")
	wantProbe(t, runProbe(t, c, 5*time.Second), true, "dialogue ok (2 steps)")
}

func TestTCPDialogueBlockReadsStepsInFileOrder(t *testing.T) {
	o, _, msgs := readBlock(t, TCPKind, "send_proxy v2\nsend \"a\\tb\\x22\\r\\n\"\nexpect_hex 0d 0a\nexpect_regex \"^ok$\"\nsend_hex 00ff\nexpect \"\\101\"\n", Server{})
	if len(msgs) != 0 {
		t.Fatalf("messages %q", msgs)
	}
	tcp := o.(*TCPOptions)
	if tcp.SendProxy != ProxyV2 {
		t.Errorf("send_proxy %v", tcp.SendProxy)
	}
	var got []string
	for _, s := range tcp.Steps {
		got = append(got, s.Keyword+"="+strconv.Quote(string(s.Data)))
	}
	want := []string{`send="a\tb\"\r\n"`, `expect_hex="\r\n"`, `expect_regex=""`, `send_hex="\x00\xff"`, `expect="A"`}
	if !slices.Equal(got, want) {
		t.Errorf("steps %q, want %q", got, want)
	}
	if tcp.Steps[2].Regex == nil || !tcp.Steps[2].Regex.MatchString("ok") {
		t.Errorf("expect_regex not compiled: %v", tcp.Steps[2].Regex)
	}

	_, _, msgs = readBlock(t, TCPKind, "send \"a\\qb\"\nexpect\nexpect_regex \"(?<=a)\"\nsend_hex zz\nsend a b\nsend_proxy v3\n", Server{})
	want = []string{
		`2: error: send "a\\qb": unknown escape \q`,
		"3: error: expect: missing its argument",
		`4: error: expect_regex "(?<=a)": error parsing regexp: invalid named capture: ` + "`(?<=a)`",
		`5: error: send_hex: hex string "zz": offset 0: 'z' is not a hex digit`,
		"6: error: send: one string expected, 2 words given (quote it)",
		"7: Invalid send_proxy version v3 - expected v1 or v2",
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("messages:\n got %q\nwant %q", msgs, want)
	}
}

func TestCEscapes(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{`PING\r\n`, "PING\r\n", ""},
		{`\x41\x4a\x7`, "AJ\x07", ""},
		{`\0\101\1012`, "\x00AA2", ""},
		{`\\ \" \' \? \a\b\f\v\e\t`, "\\ \" ' ? \a\b\f\v\x1b\t", ""},
		{`\`, "", "lone"},
		{`\xg`, "", "without hex digits"},
		{`\400`, "", "beyond a byte"},
		{`\z`, "", `unknown escape \z`},
	}
	for _, tt := range tests {
		got, err := cEscapes(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("cEscapes(%q): %q, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("cEscapes(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// feedInPieces runs a dialogue's expectations over what a server sent, cut where cuts say,
// and returns how many steps passed and the failure, if any.
func feedInPieces(steps []TCPStep, data []byte, cuts []int) (int, string) {
	d := newDialogue(steps, nil)
	for d.toSend() != nil {
		d.wrote(len(d.toSend()))
	}
	from := 0
	for _, c := range append(cuts, len(data)) {
		if c < from || c > len(data) {
			continue
		}
		if reason := d.feed(data[from:c]); reason != "" {
			return d.i, reason
		}
		from = c
		for d.toSend() != nil {
			d.wrote(len(d.toSend()))
		}
	}
	return d.i, ""
}

func TestDialogueJudgesTheSameWhateverThePieces(t *testing.T) {
	re := &Regexp{regexp.MustCompile(`role:(master|slave)\r\n`)}
	steps := []TCPStep{
		{Kind: StepExpect, Data: []byte("# Replication"), Keyword: "expect", Text: "# Replication"},
		{Kind: StepExpectRegex, Regex: re, Keyword: "expect_regex", Text: re.String()},
		{Kind: StepSend, Data: []byte("PING\r\n"), Keyword: "send", Text: `PING\r\n`},
		{Kind: StepExpect, Data: []byte("+PONG"), Keyword: "expect", Text: "+PONG"},
	}
	data := []byte("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n")
	whole, _ := feedInPieces(steps, data, nil)
	if whole != 3 {
		t.Fatalf("whole: %d steps passed, want 3 (up to the send's answer)", whole)
	}
	for cut := range len(data) {
		if got, _ := feedInPieces(steps, data, []int{cut, cut + 1, cut + 5}); got != whole {
			t.Errorf("cut at %d: %d steps passed, want %d", cut, got, whole)
		}
	}
}

// FuzzTCPExpect feeds what a server might send to a dialogue's expectations, whole and in
// pieces: a plain expectation is met, or the dialogue fails, the same way however the bytes
// arrive, and only when the bytes hold it; a regular expression never panics nor reads past the
// bound.
func FuzzTCPExpect(f *testing.F) {
	f.Add([]byte("+PONG\r\n"), []byte("+PONG"), "", uint16(3))
	f.Add([]byte("# Replication\r\nrole:master\r\n"), []byte("role:master"), `role:(master|slave)`, uint16(7))
	f.Add([]byte("VERSION 1.6.21\r\n"), []byte("VERSION"), `^VERSION [0-9.]+\r\n`, uint16(1))
	f.Add(append(bytes.Repeat([]byte("x"), maxExpectBuffer+10), 'y'), []byte("y"), "", uint16(100))
	f.Fuzz(func(t *testing.T, data, want []byte, expr string, cut uint16) {
		if len(want) == 0 {
			return
		}
		steps := []TCPStep{{Kind: StepExpect, Data: want, Keyword: "expect", Text: string(want)}}
		pieces := []int{int(cut) % (len(data) + 1)}
		for i := pieces[0] + 1; i < len(data) && len(pieces) < 64; i += 1 + int(cut)%7 {
			pieces = append(pieces, i)
		}
		wholeN, wholeReason := feedInPieces(steps, data, nil)
		n, reason := feedInPieces(steps, data, pieces)
		if n != wholeN || (wholeReason == "") != (reason == "") {
			t.Fatalf("whole: %d %q; in pieces %v: %d %q", wholeN, wholeReason, pieces, n, reason)
		}
		if met := bytes.Contains(data[:min(len(data), maxExpectBuffer)], want); met != (n == 1) {
			t.Fatalf("expect %q met=%v in %d bytes", want, n == 1, len(data))
		}
		if re, err := regexp.Compile(expr); err == nil {
			steps = []TCPStep{{Kind: StepExpectRegex, Regex: &Regexp{re}, Keyword: "expect_regex", Text: expr}}
			n, _ := feedInPieces(steps, data, pieces)
			if n == 1 && !re.Match(data[:min(len(data), maxExpectBuffer)]) {
				if _, whole := feedInPieces(steps, data, nil); whole != "" {
					// Met in pieces, not whole: a match of a prefix only ($, \b), which is
					// what the server had sent when it was seen.
					return
				}
			}
		}
	})
}
