package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// grpcMaxReply bounds a health reply; a real one is a few bytes.
const grpcMaxReply = 64 << 10

// GRPCOptions configure a GRPC_CHECK, a vigil extension.
type GRPCOptions struct {
	ConnOptions `json:"-"`
	// Service is the service name asked about; empty asks about the server as a whole.
	Service string `json:"service"`
	// UseTLS, TLSVerify and SNI are tls, tls_verify (default true) and sni as written; the
	// block's end turns them into TLS.
	UseTLS    bool   `json:"tls"`
	TLSVerify bool   `json:"tls_verify"`
	SNI       string `json:"sni,omitempty"`
	// TLS, when set, makes the connection TLS, with SNI and verification as for SSL_GET.
	TLS *TLSOptions `json:"-"`
}

// GRPCKind is GRPC_CHECK's block, a vigil extension.
var GRPCKind = Kind{Name: "GRPC_CHECK", JSON: "grpc", Shared: Timing | Connection, Block: func(b *Block) Options {
	o := &GRPCOptions{TLSVerify: true}
	k := b.Keywords
	k["service"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); ok {
			o.Service = l.Words[1]
		}
	}}
	k["tls"] = boolKeyword("tls", func(v bool) { o.UseTLS = v })
	k["tls_verify"] = boolKeyword("tls_verify", func(v bool) { o.TLSVerify = v })
	k["sni"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); ok {
			o.SNI = l.Words[1]
		}
	}}
	b.Close = func(*syntax.Parser, syntax.Pos) bool {
		if o.UseTLS {
			o.TLS = &TLSOptions{ServerName: o.SNI, Verify: o.TLSVerify}
		}
		return true
	}
	return o
}}

// New builds the GRPC_CHECK.
func (o GRPCOptions) New(env Env) (probe.Checker, error) {
	o.ConnOptions = env.Conn
	return NewGRPC(o), nil
}

// GRPCChecker calls grpc.health.v1.Health/Check on a fresh connection and is healthy when the
// answer is SERVING.
type GRPCChecker struct {
	opts   GRPCOptions
	addr   string
	key    string
	dialer *net.Dialer
	creds  credentials.TransportCredentials
}

// NewGRPC returns a GRPC_CHECK of opts.Addr.
func NewGRPC(opts GRPCOptions) *GRPCChecker {
	c := &GRPCChecker{
		opts:   opts,
		addr:   opts.Addr.String(),
		dialer: opts.dialer("tcp"),
		creds:  insecure.NewCredentials(),
	}
	c.key = fmt.Sprintf("GRPC_CHECK %s service=%q", c.addr, opts.Service)
	if opts.TLS != nil {
		cfg := &tls.Config{
			ServerName:         opts.TLS.ServerName,
			InsecureSkipVerify: !opts.TLS.Verify,
			RootCAs:            opts.TLS.RootCAs,
			Certificates:       opts.TLS.Certificates,
		}
		if opts.TLS.Verify && cfg.ServerName == "" {
			cfg.ServerName = opts.Addr.Addr().Unmap().String()
		}
		c.creds = credentials.NewTLS(cfg)
		c.key += " tls" + opts.TLS.keySuffix()
	}
	c.key += opts.keySuffix()
	return c
}

// Kind returns "GRPC_CHECK".
func (c *GRPCChecker) Kind() string { return "GRPC_CHECK" }

// Target returns the address probed.
func (c *GRPCChecker) Target() string { return c.addr }

// Key returns "GRPC_CHECK <addr> service=<quoted>[ tls sni=<n> verify=<b>[ tls=<hash>]][ bind=..][ if=..]
// [ mark=..]".
func (c *GRPCChecker) Key() string { return c.key }

// Check asks the server's health service.
func (c *GRPCChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	conn, err := grpc.NewClient("passthrough:///"+c.addr,
		grpc.WithTransportCredentials(c.creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return c.dialer.DialContext(ctx, "tcp", addr)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcMaxReply)),
		grpc.WithMaxHeaderListSize(grpcMaxReply),
		grpc.WithUserAgent("vigil-grpc-check"),
	)
	if err != nil {
		return probeResult(start, false, "grpc client: "+err.Error())
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: c.opts.Service})
	if err != nil {
		st := status.Convert(err)
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			return probeResult(start, false, "health check: canceled")
		case st.Code() == codes.DeadlineExceeded || errors.Is(ctx.Err(), context.DeadlineExceeded):
			return probeResult(start, false, "health check: timeout: "+st.Message())
		}
		return probeResult(start, false, fmt.Sprintf("health check: %s: %s", st.Code(), st.Message()))
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return probeResult(start, false, "health status "+s.String()+", expected SERVING")
	}
	return probeResult(start, true, "health status SERVING")
}
