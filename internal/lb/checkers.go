package lb

import (
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/probe"
)

// checkerFactory builds checkers from the configuration. It owns what checkers share: the
// script runner and the ICMP sockets (opened on first use, one per address family).
type checkerFactory struct {
	cfg     *config.Config
	runner  *notify.Runner
	pingers *pingers
	// warnings are what building found that runs anyway, at its line (a script with unsafe
	// permissions without enable_script_security); Validate reports them.
	warnings []config.Diagnostic
}

// script checks a script the checker half will run, written at pos for keyword, as the runner
// will when it runs it, and records what it finds as warnings at pos. A script that cannot run
// does not stop vigil, as it does not stop Keepalived: it fails each time it is due, with the
// reason (a MISC_CHECK's real server stays down).
func (f *checkerFactory) script(pos config.Pos, keyword string, s notify.Script) error {
	warnings, err := f.runner.Check(s)
	for _, w := range warnings {
		f.warnings = append(f.warnings, config.Diagnostic{Pos: pos, Severity: config.Warning, Message: keyword + ": " + w})
	}
	if err != nil {
		f.warnings = append(f.warnings, config.Diagnostic{Pos: pos, Severity: config.Warning,
			Message: fmt.Sprintf("%s: %v; it will fail each time it is due", keyword, err)})
	}
	return nil
}

// notifyScripts checks vs's quorum_up and quorum_down and its real servers' notify_up and
// notify_down scripts.
func (f *checkerFactory) notifyScripts(vs *lvs.VirtualServer) []error {
	var errs []error
	add := func(command string, pos config.Pos, keyword string) {
		if command == "" {
			return
		}
		if err := f.script(pos, keyword, notify.Script{Command: command}); err != nil {
			errs = append(errs, err)
		}
	}
	add(vs.QuorumUp, cmp.Or(vs.QuorumUpPos, vs.Pos), "quorum_up")
	add(vs.QuorumDown, cmp.Or(vs.QuorumDownPos, vs.Pos), "quorum_down")
	for _, rs := range vs.RealServers {
		add(rs.NotifyUp, cmp.Or(rs.NotifyUpPos, rs.Pos), "notify_up")
		add(rs.NotifyDown, cmp.Or(rs.NotifyDownPos, rs.Pos), "notify_down")
	}
	return errs
}

// build returns the checker for one checker block of rs, or an error at its line saying why it
// cannot run.
func (f *checkerFactory) build(rs *lvs.RealServer, c *lvs.Checker) (probe.Checker, error) {
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
	case lvs.CheckTCP:
		return check.NewTCP(check.TCPOptions{ConnOptions: conn}), nil
	case lvs.CheckHTTP, lvs.CheckSSL:
		return f.http(c, conn)
	case lvs.CheckMisc:
		if c.Misc == nil || c.Misc.Path == "" {
			return nil, syntax.ErrorAt(c.Pos, "MISC_CHECK without misc_path")
		}
		script := notify.Script{Command: c.Misc.Path, Timeout: c.Misc.Timeout.D()}
		if c.Misc.User != "" {
			name, group, _ := strings.Cut(c.Misc.User, " ")
			u, err := notify.LookupUser(name, strings.TrimSpace(group))
			if err != nil {
				// Keepalived's words, but vigil refuses the configuration rather than drop
				// the checker.
				return nil, syntax.ErrorAt(cmp.Or(c.Misc.UserPos, c.Pos), "Failed to set uid/gid for misc checker script %s: %v", c.Misc.Path, err)
			}
			script.User = u
		}
		if err := f.script(cmp.Or(c.Misc.PathPos, c.Pos), "MISC_CHECK misc_path", script); err != nil {
			return nil, err
		}
		return check.NewMisc(check.MiscOptions{Script: script, Dynamic: c.Misc.Dynamic, Target: target}, f.runner), nil
	case lvs.CheckSMTP:
		helo := ""
		if c.SMTP != nil {
			helo = c.SMTP.HeloName
		}
		return atLine(c.Pos)(check.NewSMTP(check.SMTPOptions{ConnOptions: conn, HeloName: helo}))
	case lvs.CheckDNS:
		opts := check.DNSOptions{ConnOptions: conn, Name: ".", Type: dns.TypeSOA}
		if c.DNS != nil {
			if c.DNS.Name != "" {
				opts.Name = c.DNS.Name
			}
			if c.DNS.Type != "" {
				t, ok := dns.StringToType[strings.ToUpper(c.DNS.Type)]
				if !ok {
					return nil, syntax.ErrorAt(cmp.Or(c.DNS.TypePos, c.Pos), "DNS_CHECK type %q unknown", c.DNS.Type)
				}
				opts.Type = t
			}
		}
		return atLine(c.Pos)(check.NewDNS(opts))
	case lvs.CheckPing:
		addr := rs.Address
		if c.Connection != nil && c.Connection.Address.IsValid() {
			addr = c.Connection.Address
		}
		p, err := f.pingers.get(addr)
		if err != nil {
			return nil, syntax.ErrorAt(c.Pos, "PING_CHECK: %w", err)
		}
		return check.NewPing(check.PingOptions{Addr: addr, Pinger: p}), nil
	case lvs.CheckUDP:
		opts := check.UDPOptions{ConnOptions: conn}
		if u := c.UDP; u != nil {
			opts.Payload, opts.RequireReply = u.Payload, u.RequireReply
			opts.Reply, opts.ReplyMask = u.ReplyData, u.ReplyMask
			opts.MinReplyLen, opts.MaxReplyLen = int(u.MinReplyLength), int(u.MaxReplyLength)
		}
		return atLine(c.Pos)(check.NewUDP(opts))
	case lvs.CheckFile:
		if c.File == nil {
			return nil, syntax.ErrorAt(c.Pos, "FILE_CHECK without track_file")
		}
		path := ""
		for _, tf := range f.cfg.VRRPTrackFiles {
			if tf.Name == c.File.TrackFile {
				path = tf.File
			}
		}
		if path == "" {
			return nil, syntax.ErrorAt(c.Pos, "FILE_CHECK: track_file %q is not defined", c.File.TrackFile)
		}
		return check.NewFile(check.FileOptions{Path: path, Weight: int(c.File.Weight), Reverse: c.File.Reverse,
			BaseWeight: int(rs.Weight), Target: target}), nil
	case lvs.CheckGRPC:
		opts := check.GRPCOptions{ConnOptions: conn}
		if g := c.GRPC; g != nil {
			opts.Service = g.Service
			if g.TLS {
				opts.TLS = &check.TLSOptions{ServerName: g.SNI, Verify: g.TLSVerify}
			}
		}
		return check.NewGRPC(opts), nil
	}
	return nil, syntax.ErrorAt(c.Pos, "%s is not supported by vigil yet", c.Kind)
}

// atLine puts the error of a checker constructor at pos, the checker block's line.
func atLine(pos config.Pos) func(probe.Checker, error) (probe.Checker, error) {
	return func(ck probe.Checker, err error) (probe.Checker, error) {
		if err != nil {
			return nil, &syntax.PosError{Pos: pos, Err: err}
		}
		return ck, nil
	}
}

func (f *checkerFactory) http(c *lvs.Checker, conn check.ConnOptions) (probe.Checker, error) {
	opts := check.HTTPOptions{ConnOptions: conn}
	h := c.HTTP
	if h == nil {
		return nil, syntax.ErrorAt(c.Pos, "%s without url", c.Kind)
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
	if c.Kind == lvs.CheckSSL {
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
				return nil, syntax.ErrorAt(cmp.Or(u.RegexPos, u.Pos), "regex %q: %w", u.Regex, err)
			}
			cu.Regex = re
		}
		opts.URLs = append(opts.URLs, cu)
	}
	return atLine(c.Pos)(check.NewHTTP(opts))
}

// checkName names a checker in its real server's pool spec, after the earlier ones: its kind
// and target, numbered from the second when the server has several alike (Keepalived's own
// SMTP_CHECK sample checks one address twice), since the pool tells checks apart by name,
// also across reloads.
func checkName(earlier []pool.CheckSpec, ck probe.Checker) string {
	name := ck.Kind() + " " + ck.Target()
	n := 1
	for _, c := range earlier {
		if c.Name == name || strings.HasPrefix(c.Name, name+" #") {
			n++
		}
	}
	if n == 1 {
		return name
	}
	return name + " #" + strconv.Itoa(n)
}
