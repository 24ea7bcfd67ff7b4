package check

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigil-lb/vigil/internal/probe"
)

// slowHealth answers nothing until the caller gives up.
type slowHealth struct {
	healthpb.UnimplementedHealthServer
}

func (slowHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// startGRPCTestServer serves the health service on loopback: "" and "up" are SERVING, "down"
// NOT_SERVING. With cert it speaks TLS and records SNI names.
func startGRPCTestServer(t *testing.T, cert *tls.Certificate, hs healthpb.HealthServer) (netip.AddrPort, *sniLog) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	snis := &sniLog{}
	var opts []grpc.ServerOption
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{*cert},
			GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				snis.add(h.ServerName)
				return nil, nil
			},
		})))
	}
	srv := grpc.NewServer(opts...)
	if hs == nil {
		h := health.NewServer()
		h.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
		h.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
		hs = h
	}
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return addrPort(t, ln.Addr()), snis
}

func TestGRPCCheck(t *testing.T) {
	plain, _ := startGRPCTestServer(t, nil, nil)
	slow, _ := startGRPCTestServer(t, nil, slowHealth{})
	tests := []struct {
		name    string
		addr    netip.AddrPort
		service string
		healthy bool
		reason  string
	}{
		{"ServerServingPasses", plain, "", true, "SERVING"},
		{"ServiceServingPasses", plain, "up", true, "SERVING"},
		{"ServiceNotServingFails", plain, "down", false, "health status NOT_SERVING, expected SERVING"},
		{"UnknownServiceFails", plain, "nosuch", false, "NotFound"},
		{"SlowServerTimesOut", slow, "", false, "timeout"},
		{"SilentServerTimesOut", testenv.SilentServer(t), "", false, "timeout"},
		{"ClosedPortFails", closedTCPPort(t), "", false, "Unavailable"},
		{"HTTPServerFails", func() netip.AddrPort { ap, _ := startHTTPTestServer(t, nil); return ap }(), "", false, "health check:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := NewGRPC(GRPCOptions{ConnOptions: ConnOptions{Addr: tc.addr}, Service: tc.service})
			wantProbe(t, runProbe(t, c, probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

func TestGRPCCheckOverTLS(t *testing.T) {
	cert, pool := selfSignedCert(t, "grpc.example.test")
	ap, snis := startGRPCTestServer(t, &cert, nil)
	_, otherPool := selfSignedCert(t, "other.example.test")
	tests := []struct {
		name    string
		tls     TLSOptions
		healthy bool
		reason  string
		sni     string
	}{
		{"UnverifiedPasses", TLSOptions{}, true, "SERVING", ""},
		{"SNIIsSent", TLSOptions{ServerName: "grpc.example.test"}, true, "SERVING", "grpc.example.test"},
		{"VerifiedPasses", TLSOptions{ServerName: "grpc.example.test", Verify: true, RootCAs: pool}, true, "SERVING", "grpc.example.test"},
		{"UntrustedRootFails", TLSOptions{ServerName: "grpc.example.test", Verify: true, RootCAs: otherPool}, false, "Unavailable", "grpc.example.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snis.reset()
			o := tc.tls
			c := NewGRPC(GRPCOptions{ConnOptions: ConnOptions{Addr: ap}, TLS: &o})
			wantProbe(t, runProbe(t, c, 2*time.Second), tc.healthy, tc.reason)
			if got := snis.last(); got != tc.sni {
				t.Errorf("server saw SNI %q, want %q", got, tc.sni)
			}
		})
	}
	plain := NewGRPC(GRPCOptions{ConnOptions: ConnOptions{Addr: ap}})
	wantProbe(t, runProbe(t, plain, 2*time.Second), false, "Unavailable")
	if k := NewGRPC(GRPCOptions{ConnOptions: ConnOptions{Addr: ap}, Service: "x", TLS: &TLSOptions{ServerName: "n"}}).Key(); !strings.Contains(k, `service="x" tls sni=n verify=false`) {
		t.Errorf("key %q", k)
	}
}

// TestNetworkChecksLeaveNoGoroutines runs one probe of every network kind and then checks that,
// once the test servers are gone, nothing the checkers started is still running.
func TestNetworkChecksLeaveNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()                   // the snapshot is taken now, before any server starts
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // registered first, so it runs after the servers' cleanups
	httpAddr, _ := startHTTPTestServer(t, nil)
	cert, _ := selfSignedCert(t, "127.0.0.1")
	tlsAddr, _ := startHTTPTestServer(t, &cert)
	grpcAddr, _ := startGRPCTestServer(t, nil, nil)
	udpAddr := udpTestServer(t, func(p []byte) []byte { return p })
	smtpAddr := scriptedTCPServer(t, smtpConversation("220 hi\r\n", "250 ok\r\n", "221 bye\r\n", nil))

	checks := []probe.Checker{
		NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: httpAddr}}),
		mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: httpAddr}, URLs: []URL{{Path: "/ok"}}}),
		mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: tlsAddr}, TLS: &TLSOptions{}, URLs: []URL{{Path: "/ok"}}}),
		mustSMTP(t, SMTPOptions{ConnOptions: ConnOptions{Addr: smtpAddr}}),
		NewGRPC(GRPCOptions{ConnOptions: ConnOptions{Addr: grpcAddr}}),
		NewGRPC(GRPCOptions{ConnOptions: ConnOptions{Addr: testenv.SilentServer(t)}}),
	}
	u, err := NewUDP(UDPOptions{ConnOptions: ConnOptions{Addr: udpAddr}, RequireReply: true})
	if err != nil {
		t.Fatal(err)
	}
	h2 := h2cServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	checks = append(checks, u,
		mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: h2}, Protocol: HTTP2, URLs: []URL{{Path: "/"}}}),
		NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: smtpAddr}, SendProxy: ProxyV1,
			Steps: []TCPStep{{Kind: StepExpect, Data: []byte("220"), Keyword: "expect", Text: "220"}}}))
	for i, c := range checks {
		wantHealthy := i != 5
		d := probeTimeout
		if wantHealthy {
			d = probeDeadline("")
		}
		r := runProbe(t, c, d)
		if r.Healthy != wantHealthy {
			t.Errorf("%s %s: %+v", c.Kind(), c.Target(), r)
		}
	}
}
