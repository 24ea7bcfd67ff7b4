package daemon

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/miekg/dns"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/notify"
)

// checkerFactory builds checkers from the configuration. It owns what checkers share: the
// script runner and the ICMP sockets (opened on first use, one per address family).
type checkerFactory struct {
	cfg     *config.Config
	runner  *notify.Runner
	pingers *pingers
}

// build returns the checker for one checker block of rs, or an error saying why it cannot run.
func (f *checkerFactory) build(rs *config.RealServer, c *config.Checker) (check.Checker, error) {
	target := netip.AddrPortFrom(rs.Address, rs.Port).String()
	var conn check.ConnOptions
	if c.Connection != nil {
		conn = check.ConnOptions{
			Addr:     netip.AddrPortFrom(c.Connection.Address, c.Connection.Port),
			BindAddr: c.Connection.BindAddress,
			BindPort: c.Connection.BindPort,
			BindIf:   c.Connection.BindIf,
			Fwmark:   c.Connection.Fwmark,
		}
	}
	switch c.Kind {
	case config.CheckTCP:
		return check.NewTCP(check.TCPOptions{ConnOptions: conn}), nil
	case config.CheckHTTP, config.CheckSSL:
		return f.http(c, conn)
	case config.CheckMisc:
		if c.Misc == nil || c.Misc.Path == "" {
			return nil, fmt.Errorf("%s: MISC_CHECK without misc_path", c.Pos)
		}
		script := notify.Script{Command: c.Misc.Path, Timeout: c.Misc.Timeout.D()}
		if c.Misc.User != "" {
			name, group, _ := strings.Cut(c.Misc.User, " ")
			u, err := notify.LookupUser(name, strings.TrimSpace(group))
			if err != nil {
				return nil, fmt.Errorf("%s: MISC_CHECK user %q: %w", c.Pos, c.Misc.User, err)
			}
			script.User = u
		}
		return check.NewMisc(check.MiscOptions{Script: script, Dynamic: c.Misc.Dynamic, Target: target}, f.runner), nil
	case config.CheckSMTP:
		helo := ""
		if c.SMTP != nil {
			helo = c.SMTP.HeloName
		}
		return check.NewSMTP(check.SMTPOptions{ConnOptions: conn, HeloName: helo})
	case config.CheckDNS:
		opts := check.DNSOptions{ConnOptions: conn, Name: ".", Type: dns.TypeSOA}
		if c.DNS != nil {
			if c.DNS.Name != "" {
				opts.Name = c.DNS.Name
			}
			if c.DNS.Type != "" {
				t, ok := dns.StringToType[strings.ToUpper(c.DNS.Type)]
				if !ok {
					return nil, fmt.Errorf("%s: DNS_CHECK type %q unknown", c.Pos, c.DNS.Type)
				}
				opts.Type = t
			}
		}
		return check.NewDNS(opts)
	case config.CheckPing:
		addr := rs.Address
		if c.Connection != nil && c.Connection.Address.IsValid() {
			addr = c.Connection.Address
		}
		p, err := f.pingers.get(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: PING_CHECK: %w", c.Pos, err)
		}
		return check.NewPing(check.PingOptions{Addr: addr, Pinger: p}), nil
	case config.CheckUDP:
		opts := check.UDPOptions{ConnOptions: conn}
		if u := c.UDP; u != nil {
			opts.Payload, opts.RequireReply = u.Payload, u.RequireReply
			opts.Reply, opts.ReplyMask = u.ReplyData, u.ReplyMask
			opts.MinReplyLen, opts.MaxReplyLen = int(u.MinReplyLength), int(u.MaxReplyLength)
		}
		return check.NewUDP(opts)
	case config.CheckFile:
		if c.File == nil {
			return nil, fmt.Errorf("%s: FILE_CHECK without track_file", c.Pos)
		}
		path := ""
		for _, tf := range f.cfg.VRRPTrackFiles {
			if tf.Name == c.File.TrackFile {
				path = tf.File
			}
		}
		if path == "" {
			return nil, fmt.Errorf("%s: FILE_CHECK: track_file %q is not defined", c.Pos, c.File.TrackFile)
		}
		return check.NewFile(check.FileOptions{Path: path, Weight: int(c.File.Weight), Reverse: c.File.Reverse,
			BaseWeight: int(rs.Weight), Target: target}), nil
	case config.CheckGRPC:
		opts := check.GRPCOptions{ConnOptions: conn}
		if g := c.GRPC; g != nil {
			opts.Service = g.Service
			if g.TLS {
				opts.TLS = &check.TLSOptions{ServerName: g.SNI, Verify: g.TLSVerify}
			}
		}
		return check.NewGRPC(opts), nil
	}
	return nil, fmt.Errorf("%s: %s is not supported by vigil yet", c.Pos, c.Kind)
}

func (f *checkerFactory) http(c *config.Checker, conn check.ConnOptions) (check.Checker, error) {
	opts := check.HTTPOptions{ConnOptions: conn}
	h := c.HTTP
	if h == nil {
		return nil, fmt.Errorf("%s: %s without url", c.Pos, c.Kind)
	}
	switch h.Protocol {
	case "1.0C":
		opts.Protocol = check.HTTP10Close
	case "1.1":
		opts.Protocol = check.HTTP11
	default:
		opts.Protocol = check.HTTP10
	}
	opts.VirtualHost = h.VirtualHost
	if c.Kind == config.CheckSSL {
		// Keepalived does not verify certificates; SNI only when enable_sni asks for it.
		opts.TLS = &check.TLSOptions{}
		if h.EnableSNI {
			opts.TLS.ServerName = h.VirtualHost
		}
	}
	for _, u := range h.URLs {
		cu := check.URL{Path: u.Path, Digest: u.Digest, VirtualHost: u.VirtualHost, RegexNoMatch: u.RegexNoMatch,
			RegexMinOffset: int(u.RegexMinOffset), RegexMaxOffset: int(u.RegexMaxOffset), RegexMaxOffsetSet: u.RegexMaxOffset > 0}
		for _, r := range u.StatusCodes {
			cu.StatusCodes = append(cu.StatusCodes, check.StatusRange{Min: r.Min, Max: r.Max})
		}
		if u.Regex != "" {
			re, err := regexp.Compile(u.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s: regex %q: %w", u.Pos, u.Regex, err)
			}
			cu.Regex = re
		}
		opts.URLs = append(opts.URLs, cu)
	}
	return check.NewHTTP(opts)
}
