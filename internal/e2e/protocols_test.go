package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestDNSCheckAgainstDnsmasqRemovesWhenItDiesAndReturnsWhenItRestarts runs DNS_CHECK with its
// default query (". SOA", recursion desired) against a real dnsmasq that is authoritative for
// the root zone, kills it, and starts it again.
func TestDNSCheckAgainstDnsmasqRemovesWhenItDiesAndReturnsWhenItRestarts(t *testing.T) {
	t.Parallel()
	bin := testenv.RequireTool(t, "dnsmasq")
	// dnsmasq binds UDP and TCP on its port. A loopback address no other test uses keeps the
	// parallel tests' ports (picked on 127.0.0.1) from ever colliding with it.
	const host = "127.0.53.1"
	port := testenv.FreePort(t, host, true)
	addr := fmt.Sprintf("%s:%d", host, port)
	// Authoritative for "." so that the default DNS_CHECK query gets NOERROR with an SOA; with
	// no zone dnsmasq answers REFUSED, which DNS_CHECK counts as a failure.
	dnsmasq := newProcess(t, bin, "--no-daemon", "--keep-in-foreground", fmt.Sprintf("--port=%d", port),
		"--listen-address="+host, "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file=", "--auth-server=ns.example.test", "--auth-zone=.", "--address=/example.test/192.0.2.7")
	ready := func() bool { return dnsAnswers(addr) }
	dnsmasq.start(ready)

	tm := timing{D: 400 * time.Millisecond, R: 1, B: 200 * time.Millisecond, T: 500 * time.Millisecond}
	var b strings.Builder
	vsHeader(&b, testenv.FreePort(t, "127.0.0.1", false), "")
	fmt.Fprintf(&b, "  real_server %s %d {\n    DNS_CHECK {\n      connect_timeout 0.5\n      delay_loop 0.4\n      retry 1\n      delay_before_retry 0.2\n    }\n  }\n}\n", host, port)
	d := runDaemon(t, loadConfig(t, b.String()))
	checkedUp(t, d, addr, 3*time.Second)

	dnsmasq.stop()
	expectRemoval(t, d, addr, tm, time.Now(), "DNS_CHECK: dnsmasq killed")
	dnsmasq.start(ready)
	expectReturn(t, d, addr, tm, time.Now(), "DNS_CHECK: dnsmasq restarted")
}

// dnsAnswers sends ". SOA" to addr and reports whether a NOERROR reply came back.
func dnsAnswers(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	// ID 0x1234, RD, one question: root, SOA (6), IN.
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1}
	if _, err := c.Write(q); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	return err == nil && n >= 4 && buf[0] == 0x12 && buf[1] == 0x34 && buf[3]&0x0f == 0
}

// smtpServer is an SMTP greeter: 220 and 250 to HELO while healthy, 554 at the greeting when
// not.
type smtpServer struct {
	addr    string
	refuse  atomic.Bool
	ln      net.Listener
	wg      sync.WaitGroup
	greeted atomic.Int64
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String(), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	s.greeted.Add(1)
	if s.refuse.Load() {
		fmt.Fprint(c, "554 5.3.2 no service here\r\n")
		return
	}
	fmt.Fprint(c, "220 e2e.example.test ESMTP\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
		case "HELO", "EHLO":
			fmt.Fprint(c, "250 e2e.example.test\r\n")
		case "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "502 not implemented\r\n")
		}
	}
}

// TestSMTPCheckRemovesAServerThatAnswers554AndTakesItBack drives SMTP_CHECK against a
// greeter that starts refusing service with 554.
func TestSMTPCheckRemovesAServerThatAnswers554AndTakesItBack(t *testing.T) {
	t.Parallel()
	s := startSMTP(t)
	h, p := splitAddr(t, s.addr)
	tm := timing{D: 300 * time.Millisecond, R: 2, B: 100 * time.Millisecond, T: time.Second}
	var b strings.Builder
	vsHeader(&b, testenv.FreePort(t, "127.0.0.1", false), "")
	fmt.Fprintf(&b, "  real_server %s %s {\n    SMTP_CHECK {\n      connect_timeout 1\n      helo_name vigil.example.test\n      delay_loop 0.3\n      retry 2\n      delay_before_retry 0.1\n    }\n  }\n}\n", h, p)
	d := runDaemon(t, loadConfig(t, b.String()))
	checkedUp(t, d, s.addr, 3*time.Second)

	s.refuse.Store(true)
	expectRemoval(t, d, s.addr, tm, time.Now(), "SMTP_CHECK: greeting 554")
	if rs, _ := realServer(d, s.addr); !strings.Contains(rs.Reason, "554") {
		t.Errorf("reason %q does not name the 554 greeting", rs.Reason)
	}
	s.refuse.Store(false)
	expectReturn(t, d, s.addr, tm, time.Now(), "SMTP_CHECK: greeting 220 again")
}

// TestPingCheckRemovesAHostWhoseLinkGoesDownAndTakesItBack pings a host in a network namespace
// behind a veth pair and sets the host's end of the link down, then up.
func TestPingCheckRemovesAHostWhoseLinkGoesDownAndTakesItBack(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	ns := testenv.NewNamespace(t, "ping")
	// A /30 of 198.51.100.0/24 picked from the process id, so that two test processes running
	// at once do not share a subnet in the host's namespace.
	base := 4 * (os.Getpid() % 64)
	hostIP, peerIP := fmt.Sprintf("198.51.100.%d", base+1), fmt.Sprintf("198.51.100.%d", base+2)
	link := testenv.NewHostVeth(t, ns, hostIP+"/30", peerIP+"/30")

	// An echo request sent while the link is down waits in the kernel's neighbour queue and
	// goes out when the link returns, so a probe that started up to T before the repair can be
	// the first success: rise 2 cannot be told from rise 1 by timing here (Early = T). When
	// the neighbour entry failed while the link was down, the first echo after it comes up
	// can wait up to a second for ARP (the kernel retransmits its request every retrans_time,
	// 1 s; measured 0.54 s with 50 ms pings): Settle.
	tm := timing{D: 300 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: 500 * time.Millisecond, Rise: 2,
		Early: 500 * time.Millisecond, Settle: time.Second}
	var b strings.Builder
	vsHeader(&b, testenv.FreePort(t, "127.0.0.1", false), "")
	fmt.Fprintf(&b, "  real_server %s 80 {\n    rise 2\n    PING_CHECK {\n      connect_timeout 0.5\n      delay_loop 0.3\n      retry 1\n      delay_before_retry 0.1\n    }\n  }\n}\n", peerIP)
	d := runDaemon(t, loadConfig(t, b.String()))
	addr := peerIP + ":80"
	checkedUp(t, d, addr, 5*time.Second)

	link.SetPeerUp(t, false)
	expectRemoval(t, d, addr, tm, time.Now(), "PING_CHECK: the host's link went down")
	link.SetPeerUp(t, true)
	expectReturn(t, d, addr, tm, time.Now(), "PING_CHECK: the host's link came up")
}
