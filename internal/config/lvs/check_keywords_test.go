package lvs_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// checkConf puts a checker block (lines from 6 on) into a fully specified virtual server.
func checkConf(checker string) string {
	return "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  real_server 10.0.0.2 80 {\n" +
		checker + "  }\n}\n"
}

// onlyCheckers parses a checkConf and returns the real server's checkers.
func onlyCheckers(t *testing.T, checker string) ([]*lvs.Checker, *syntax.Diagnostics) {
	t.Helper()
	vs, d := onlyVS(t, checkConf(checker))
	return vs.RealServers[0].Checkers, d
}

// The expected messages below are what `keepalived -t` (2.2.7) prints for the same text.
func TestCheckerMessagesMatchKeepalived(t *testing.T) {
	tests := []struct {
		name, checker string
		want          []string
	}{
		{"status codes", "HTTP_GET {\nurl {\npath /\nstatus_code 200 301-302 404 99 600 2xx 500-400\n}\n}\n", []string{
			"9: Invalid HTTP_GET status code '99'", "9: Invalid HTTP_GET status code '600'",
			"9: Invalid HTTP_GET status code '2xx'", "9: Invalid HTTP_GET status code '500-400'"}},
		{"digest length", "HTTP_GET {\nurl {\npath /\ndigest 123\n}\n}\n", []string{
			"9: digest '123' character length should be 32 rather than 3"}},
		{"digest hex", "HTTP_GET {\nurl {\npath /\ndigest 0123456789abcdef0123456789abcdeg\n}\n}\n", []string{
			"9: Unable to interpret hex digit in '0123456789abcdef0123456789abcdeg' at offset 30/31"}},
		{"digest hex early", "HTTP_GET {\nurl {\npath /\ndigest 0g23456789abcdef0123456789abcdef\n}\n}\n", []string{
			"9: Unable to interpret hex digit in '0g' at offset 0/1"}},
		{"digest duplicate", "HTTP_GET {\nurl {\npath /\ndigest 0123456789ABCDEF0123456789abcdef\ndigest 0123456789ABCDEF0123456789abcdef\n}\n}\n", []string{
			"10: Digest '0123456789ABCDEF0123456789abcdef' is a duplicate"}},
		{"no urls", "HTTP_GET {\n}\n", []string{"7: HTTP/SSL_GET checker has no urls specified - ignoring"}},
		{"url without path", "SSL_GET {\nurl {\n}\nurl {\npath /\n}\n}\n", []string{"8: HTTP/SSL_GET checker url has no path - ignoring"}},
		{"nb_get_retry in HTTP_GET", "HTTP_GET {\nnb_get_retry 3\nurl {\npath /\n}\n}\n", []string{"7: nb_get_retry is deprecated - please use 'retry'"}},
		{"nb_get_retry in TCP_CHECK", "TCP_CHECK {\nnb_get_retry 3\n}\n", []string{"7: Unknown keyword 'nb_get_retry'"}},
		{"nb_get_retry in real_server", "nb_get_retry 3\n", []string{"6: Unknown keyword 'nb_get_retry'"}},
		{"http options", "HTTP_GET {\nurl {\npath /\n}\nhttp_protocol 2.0\nenable_sni maybe\ntls_compliant\n}\n", []string{
			"10: Invalid http_protocol version 2.0", "11: Invalid enable_sni parameter maybe", "12: Unknown keyword 'tls_compliant'"}},
		{"connection options", "TCP_CHECK {\nconnect_ip 10.0.0.5\nbindto 2001:db8::1\nconnect_port 0\nbind_port 70000\n" +
			"bind_if averyveryverylongname\nfwmark -1\nretry x\ndelay_before_retry -1\nwarmup z\ndelay_loop 0\nalpha maybe\n" +
			"log_all_failures maybe\nconnect_timeout 0\n}\n", []string{
			"8: bindto address 2001:db8::1 does not match address family of connect_ip - skipping",
			"9: number '0' outside range [1, 65535]", "9: Invalid checker connect_port '0'",
			"10: number '70000' outside range [1, 65535]", "10: Invalid checker bind_port '70000'",
			"11: Interface name averyveryverylongname is too long - ignoring",
			"12: negative number '-1'", "12: Invalid fwmark connection value '-1'",
			"13: invalid number 'x'", "13: Invalid retry connection value 'x'",
			"14: negative number '-1'", "14: Invalid delay_before_retry connection value '-1'",
			"15: invalid number 'z'",
			"16: number '0' outside range [0.000001, 18446744073709.551614]", "16: delay_loop '0' is invalid - ignoring",
			"17: Invalid alpha parameter maybe", "18: Invalid log_all_failures parameter maybe",
			"19: number '0' outside range [0.000001, 4294.967295]", "19: connect_timeout 0 invalid - ignoring"}},
		{"link local needs bind_if", "TCP_CHECK {\nconnect_ip fe80::1\n}\n", []string{"8: Checker link local address fe80::1 requires a bind_if"}},
		{"dns", "DNS_CHECK {\ntype FOO\nname a..b\nname x\n}\n", []string{
			"7: Unknown DNS check type FOO - ignoring", "8: DNS_CHECK name 'a..b' has empty label - ignoring"}},
		{"udp", "UDP_CHECK {\npayload zz\nrequire_reply 0x\nmin_reply_length 300\nmax_reply_length 70000\nmax_reply_length 100\n}\n", []string{
			"7: Invalid hex string for UDP_CHECK payload",
			"10: number '70000' outside range [0, 65535]", "10: UDP_CHECK max length 70000 not valid - must be between 0 & 65535",
			"12: UDP_CHECK min_reply length 300 > max_reply_length 100 - will always fail"}},
		{"misc timeout", "MISC_CHECK {\nmisc_path /bin/true\nmisc_timeout 5000\n}\n", []string{
			"8: number '5000' outside range [0, 4294]", "8: Invalid misc_timeout value '5000'"}},
		{"misc without path", "MISC_CHECK {\nmisc_timeout 5\n}\n", []string{"8: No script path has been specified for MISC_CHECKER - skipping"}},
		{"misc user missing", "MISC_CHECK {\nmisc_path /bin/check a\nuser\n}\n", []string{"8: No user specified for misc checker script '/bin/check'"}},
		{"smtp hosts", "SMTP_CHECK {\nhost {\nconnect_ip 10.0.0.7\n}\nhelo_name\n}\n", []string{"10: SMTP_CHECK helo name missing"}},
		{"file check", "FILE_CHECK {\nweight x\nweight 3 sideways\n}\n", []string{
			"7: invalid number 'x'", "7: weight for track file must be in [-2147483647..2147483647] inclusive. Ignoring...",
			"8: unknown track file weight option sideways - ignoring", "9: FILE_CHECK has no track_file specified - ignoring"}},
		{"bfd names", "BFD_CHECK {\nname a b\n}\n", []string{"7: ([10.0.0.2]:tcp:80) BFD_CHECK - No or too many names specified - skipping checker"}},
		{"bfd without name", "BFD_CHECK {\n}\n", []string{"7: ([10.0.0.2]:tcp:80) No name has been specified for BFD_CHECKER - skipping"}},
		{"missing parameter", "TCP_CHECK {\nconnect_port\n}\n", []string{
			"7: error: *** Configuration line starting `connect_port` is missing a parameter after keyword `connect_port` at word position 2"}},
		{"grpc", "GRPC_CHECK {\ntls perhaps\nservice\n}\n", []string{
			"7: Invalid tls parameter perhaps",
			"8: error: *** Configuration line starting `service` is missing a parameter after keyword `service` at word position 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := configtest.Parse(t, checkConf(tt.checker))
			if got := configtest.Messages(d); !slices.Equal(got, tt.want) {
				t.Errorf("messages:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestIncompleteCheckersAreDropped(t *testing.T) {
	for _, checker := range []string{
		"HTTP_GET {\n}\n", "SSL_GET {\nurl {\n}\n}\n", "MISC_CHECK {\n}\n", "FILE_CHECK {\n}\n", "BFD_CHECK {\n}\n",
		"TCP_CHECK {\nconnect_ip fe80::1\n}\n",
	} {
		cs, _ := onlyCheckers(t, checker)
		if len(cs) != 0 {
			t.Errorf("%q kept %d checkers, want 0", checker, len(cs))
		}
	}
}

func TestCheckerConnectionOptions(t *testing.T) {
	cs, d := onlyCheckers(t, `TCP_CHECK {
  connect_ip 192.0.2.7
  connect_port 8080
  bindto 192.0.2.1
  bind_port 5000
  bind_if eth0
  fwmark 9
  connect_timeout 2.5
}
PING_CHECK {
  connect_ip 2001:db8::7
}
`)
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	want := lvs.Connection{Address: netip.MustParseAddr("192.0.2.7"), Port: 8080, BindAddress: netip.MustParseAddr("192.0.2.1"),
		BindPort: 5000, BindIf: "eth0", Fwmark: 9, Timeout: secs(2.5)}
	if *cs[0].Connection != want {
		t.Errorf("connection %+v, want %+v", *cs[0].Connection, want)
	}
	// The port of a checker that names only an address stays the real server's.
	want = lvs.Connection{Address: netip.MustParseAddr("2001:db8::7"), Port: 80, Timeout: secs(5)}
	if cs[1].Kind != lvs.CheckPing || *cs[1].Connection != want {
		t.Errorf("ping connection %+v, want %+v", *cs[1].Connection, want)
	}
}

func TestCheckerDefaultsByKind(t *testing.T) {
	cs, d := onlyCheckers(t, `MISC_CHECK {
  misc_path "/usr/local/bin/check arg"
  misc_dynamic
  user nobody nogroup
}
DNS_CHECK {
  type aaaa
  name example.com
}
UDP_CHECK {
  payload 0a0b0c
  require_reply 0X ff
}
SMTP_CHECK {
}
BFD_CHECK {
  name b1
}
GRPC_CHECK {
  service grpc.health.v1.Health
  tls
  sni backend.example
}
`)
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	misc, dns, udp, smtp, bfd, grpc := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5]
	m := misc.Options.(*check.MiscOptions)
	if misc.Retry != 0 || misc.Connection != nil || m.Timeout != secs(60) || !m.Dynamic || m.User != "nobody nogroup" ||
		!slices.Equal(m.Args, []string{"/usr/local/bin/check", "arg"}) {
		t.Errorf("misc: retry %d conn %v %+v", misc.Retry, misc.Connection, m)
	}
	if d := dns.Options.(*check.DNSOptions); dns.Retry != 3 || dns.DelayBeforeRetry != secs(60) || d.Type != 28 || d.Name != "example.com" {
		t.Errorf("dns: retry %d delay_before_retry %v %+v", dns.Retry, dns.DelayBeforeRetry, d)
	}
	if u := udp.Options.(*check.UDPOptions); !bytes.Equal(u.Payload, []byte{0x0a, 0x0b, 0x0c}) || !u.RequireReply ||
		!bytes.Equal(u.Reply, []byte{0x00, 0xff}) || !bytes.Equal(u.ReplyMask, []byte{0x0f, 0x00}) ||
		u.MinReplyLen != 0 || u.MaxReplyLen != 255 {
		t.Errorf("udp: %+v", u)
	}
	if o := smtp.Options.(*check.SMTPOptions); o.HeloName != "smtpchecker.keepalived.org" || smtp.Retry != 1 || smtp.Connection.Port != 80 {
		t.Errorf("smtp: %+v retry %d", o, smtp.Retry)
	}
	if o := bfd.Options.(*check.BFDOptions); o.Name != "b1" {
		t.Errorf("bfd: %+v", o)
	}
	if g := grpc.Options.(*check.GRPCOptions); g.Service != "grpc.health.v1.Health" || !g.UseTLS || !g.TLSVerify || g.SNI != "backend.example" ||
		g.TLS == nil || g.TLS.ServerName != "backend.example" || !g.TLS.Verify || grpc.Connection.Address != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("grpc: %+v", g)
	}
}

func TestSMTPHostBlocksBecomeCheckers(t *testing.T) {
	cs, d := onlyCheckers(t, `SMTP_CHECK {
  helo_name mx.example
  retry 2
  host {
    connect_ip 10.0.0.7
  }
  host {
    connect_ip 10.0.0.8
    connect_port 2525
    connect_timeout 9
  }
}
`)
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	if len(cs) != 2 {
		t.Fatalf("got %d checkers, want one per host", len(cs))
	}
	for i, want := range []lvs.Connection{
		{Address: netip.MustParseAddr("10.0.0.7"), Port: 80, Timeout: secs(5)},
		{Address: netip.MustParseAddr("10.0.0.8"), Port: 2525, Timeout: secs(9)},
	} {
		c := cs[i]
		if o := c.Options.(*check.SMTPOptions); *c.Connection != want || o.HeloName != "mx.example" || c.Retry != 2 || c.Kind != lvs.CheckSMTP {
			t.Errorf("checker %d: %+v %+v retry %d", i, *c.Connection, o, c.Retry)
		}
	}
	// With its own connection options the checker keeps them and each host is added to it.
	cs, _ = onlyCheckers(t, "SMTP_CHECK {\nconnect_port 25\nhost {\nconnect_ip 10.0.0.7\n}\n}\n")
	if len(cs) != 2 || cs[0].Connection.Port != 25 || cs[1].Connection.Address != netip.MustParseAddr("10.0.0.7") {
		t.Errorf("checkers with own connection: %d", len(cs))
	}
}

func TestFileCheckFollowsTrackFileDefinedBefore(t *testing.T) {
	src := "track_file tf {\n  file /run/vigil-test-weight\n  weight 3 reverse\n}\n" + checkConf(
		"FILE_CHECK {\ntrack_file tf\n}\nFILE_CHECK {\ntrack_file tf\nweight -5\n}\nFILE_CHECK {\ntrack_file later\n}\n")
	c, d := configtest.Parse(t, src)
	want := []string{"18: track_file later not found", "19: FILE_CHECK has no track_file specified - ignoring"}
	if got := configtest.Messages(d); !slices.Equal(got, want) {
		t.Errorf("messages:\n got %q\nwant %q", got, want)
	}
	cs := c.VirtualServers[0].RealServers[0].Checkers
	if len(cs) != 2 {
		t.Fatalf("got %d checkers, want 2", len(cs))
	}
	if f := cs[0].Options.(*check.FileOptions); f.TrackFile != "tf" || f.Weight != 3 || !f.Reverse || cs[0].Connection != nil {
		t.Errorf("inherited weight: %+v", f)
	}
	if f := cs[1].Options.(*check.FileOptions); f.Weight != -5 || f.Reverse {
		t.Errorf("own weight: %+v", f)
	}
}

// FILE_CHECK acts on the first value it reads in Keepalived: it has no retry, even where the
// real server or virtual server sets one for its other checkers.
func TestFileCheckHasNoRetryWhateverItsServersSay(t *testing.T) {
	src := "track_file tf {\n  file /run/vigil-test-weight\n}\n" +
		"virtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  retry 4\n" +
		"  real_server 10.0.0.2 80 {\n    retry 3\n    FILE_CHECK {\n      track_file tf\n    }\n    TCP_CHECK {\n    }\n  }\n" +
		"  real_server 10.0.0.3 80 {\n    FILE_CHECK {\n      track_file tf\n    }\n  }\n}\n"
	c, d := configtest.Parse(t, src)
	if got := configtest.Messages(d); len(got) != 0 {
		t.Fatalf("messages: %q", got)
	}
	rss := c.VirtualServers[0].RealServers
	if r := rss[0].Checkers[0].Retry; r != 0 {
		t.Errorf("FILE_CHECK under retry 3: retry %d, want 0", r)
	}
	if r := rss[0].Checkers[1].Retry; r != 3 {
		t.Errorf("TCP_CHECK beside it: retry %d, want the real server's 3", r)
	}
	if r := rss[1].Checkers[0].Retry; r != 0 {
		t.Errorf("FILE_CHECK under the virtual server's retry 4: retry %d, want 0", r)
	}
}

func TestSMTPAlertFollowsGlobalDefs(t *testing.T) {
	tests := []struct {
		global         string
		vsWant, rsWant bool
	}{
		{"", false, true},
		{"smtp_alert true", true, true},
		{"smtp_alert false", false, false},
		{"smtp_alert false\nsmtp_alert_checker true", true, true},
	}
	for _, tt := range tests {
		vs, _ := onlyVS(t, "global_defs {\n"+tt.global+"\n}\n"+lvsConf("", ""))
		if vs.SMTPAlert != tt.vsWant || vs.RealServers[0].SMTPAlert != tt.rsWant {
			t.Errorf("%q: vs %v rs %v, want %v %v", tt.global, vs.SMTPAlert, vs.RealServers[0].SMTPAlert, tt.vsWant, tt.rsWant)
		}
	}
}

func TestHTTPVirtualHostFallsBackToRealThenVirtualServer(t *testing.T) {
	vs, _ := onlyVS(t, lvsConf("  virtualhost vs.example\n",
		"    HTTP_GET {\n      url {\n        path /\n      }\n    }\n    SSL_GET {\n      virtualhost own.example\n      url {\n        path /\n      }\n    }\n"))
	cs := vs.RealServers[0].Checkers
	h0, h1 := cs[0].Options.(*check.HTTPOptions), cs[1].Options.(*check.HTTPOptions)
	if h0.VirtualHost != "vs.example" || h1.VirtualHost != "own.example" {
		t.Errorf("virtualhost %q %q", h0.VirtualHost, h1.VirtualHost)
	}
	vs, _ = onlyVS(t, lvsConf("  virtualhost vs.example\n", "    virtualhost rs.example\n    HTTP_GET {\n      url {\n        path /\n      }\n    }\n"))
	if got := vs.RealServers[0].Checkers[0].Options.(*check.HTTPOptions).VirtualHost; got != "rs.example" {
		t.Errorf("virtualhost %q, want the real server's", got)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// A checker's own options are shown under its kind's key, after the shared fields; a TCP_CHECK
// without vigil's keywords shows none, as before they existed.
func TestCheckerJSONShowsItsOptionsUnderItsKind(t *testing.T) {
	cs, d := onlyCheckers(t, "TCP_CHECK {\n}\nTCP_CHECK {\nsend_proxy v1\nsend \"PING\\r\\n\"\nexpect +PONG\n}\nHTTP_GET {\nurl {\npath /\nregex \"a<b\"\n}\n}\n")
	if len(d.List) != 0 {
		t.Fatalf("unexpected diagnostics %q", configtest.Messages(d))
	}
	var got []string
	for _, c := range cs {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if strings.Contains(got[0], `"tcp"`) {
		t.Errorf("plain TCP_CHECK: %s", got[0])
	}
	if !strings.HasSuffix(got[1], `"transition_delay_loop":"1m0s","tcp":{"send_proxy":"v1","steps":[{"send":"PING\\r\\n"},{"expect":"+PONG"}]}}`) {
		t.Errorf("TCP_CHECK with a dialogue: %s", got[1])
	}
	if !strings.Contains(got[2], `,"http":{"http_protocol":"1.0",`) || !strings.Contains(got[2], `"regex":"a\u003cb"`) {
		t.Errorf("HTTP_GET: %s", got[2])
	}
}
