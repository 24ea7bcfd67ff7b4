package lvs

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The checker blocks of a real_server, after Keepalived's check_api.c. What a block holds of its
// own is read by its kind's table in package check (check.Kind), straight into the options its
// checker runs with; what every block shares (the connection, retry and timing keywords) is
// read here into Checker.

// checkerKinds are the checker blocks a real_server takes, one entry per kind.
var checkerKinds = []check.Kind{
	check.TCPKind,
	check.HTTPKind,
	check.SSLKind,
	check.MiscKind,
	check.SMTPKind,
	check.DNSKind,
	check.PingKind,
	check.UDPKind,
	check.FileKind,
	check.BFDKind,
	check.GRPCKind,
	check.AgentKind,
}

// lvsAddCheckerKeywords installs the checker blocks into a real_server table.
func lvsAddCheckerKeywords(k map[string]syntax.Keyword, s *Section, vs *VirtualServer, rs *RealServer) {
	for _, kind := range checkerKinds {
		k[kind.Name] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
			return lvsCheckerTable(kind, l, s, vs, rs)
		}}
	}
}

// lvsCheckerTable reads one checker block of kind into a Checker appended to rs's: the shared
// keywords the kind takes, then its own.
func lvsCheckerTable(kind check.Kind, l syntax.Line, s *Section, vs *VirtualServer, rs *RealServer) *syntax.Table {
	c := &Checker{Pos: l.Pos, Kind: kind.Name, kind: kind}
	rs.Checkers = append(rs.Checkers, c)
	ck := make(map[string]syntax.Keyword, 48)
	if kind.Shared&check.Connection != 0 {
		c.conn = &connRaw{pos: l.Pos}
	}
	if kind.Shared&check.Timing != 0 {
		lvsCommonCheckerKeywords(ck, c, c.conn)
	} else if kind.Shared&check.AlphaOnly != 0 {
		ck["alpha"] = lvsAlphaKeyword(c)
	}
	if kind.Shared&check.HostBlocks != 0 {
		lvsHostBlocks(ck, c, rs)
	}
	b := &check.Block{
		Keywords:  ck,
		Server:    vs.rsName(rs),
		SetRetry:  func(r uint32) { c.retry = &r },
		TrackFile: s.trackFile,
	}
	c.Options = kind.Block(b)
	c.resolveOptions = b.Resolve
	return &syntax.Table{Keywords: ck, Close: func(p *syntax.Parser, end syntax.Pos) {
		keep := c.conn == nil || lvsCheckConn(p, c.conn, rs, end)
		if keep && b.Close != nil {
			keep = b.Close(p, end)
		}
		if !keep {
			rs.Checkers = slices.DeleteFunc(rs.Checkers, func(x *Checker) bool { return x == c })
		}
	}}
}

func lvsAlphaKeyword(c *Checker) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "alpha"); ok {
			c.alpha = &v
		}
	}}
}

// lvsHostBlocks installs SMTP_CHECK's legacy host blocks. A host block holds its own
// connection; when the real server's checkers are resolved each host becomes a checker of its
// own, as in Keepalived.
func lvsHostBlocks(k map[string]syntax.Keyword, c *Checker, rs *RealServer) {
	var hosts []*connRaw
	main := c.conn
	k["host"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		h := &connRaw{pos: l.Pos}
		hk := map[string]syntax.Keyword{}
		lvsCommonCheckerKeywords(hk, c, h)
		return &syntax.Table{Keywords: hk, Close: func(p *syntax.Parser, end syntax.Pos) {
			if lvsCheckConn(p, h, rs, end) {
				hosts = append(hosts, h)
			}
		}}
	}}
	c.hosts = func() []*connRaw {
		if len(hosts) == 0 {
			return nil
		}
		configured := main.addr.IsValid() || main.port != 0 || main.bind.IsValid() || main.bindPort != 0 ||
			main.bindIf != "" || main.fwmark != 0 || main.timeout != nil
		if configured {
			return hosts
		}
		c.conn = hosts[0]
		return hosts[1:]
	}
}

// lvsCommonCheckerKeywords installs the keywords every checker but FILE_CHECK and BFD_CHECK
// accepts; the connection ones only when conn is not nil.
func lvsCommonCheckerKeywords(k map[string]syntax.Keyword, c *Checker, conn *connRaw) {
	if conn != nil {
		lvsConnKeywords(k, conn)
	}
	k["retry"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if v, ok := p.Unsigned(l.Pos, l.Words[1], 0, lvsMaxUint32); ok {
			r := uint32(v)
			c.retry = &r
		} else {
			p.Diags.Warnf(l.Pos, "Invalid retry connection value '%s'", l.Words[1])
		}
	}}
	k["delay_before_retry"] = lvsTimerKw(0, 0, "Invalid delay_before_retry connection value '%s'", func(d time.Duration) { v := syntax.Duration(d); c.dbr = &v })
	k["warmup"] = lvsTimerKw(0, 0, "Invalid warmup connection value '%s'", func(d time.Duration) { v := syntax.Duration(d); c.warmup = &v })
	k["delay_loop"] = lvsTimerKw(1, 0, "delay_loop '%s' is invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); c.delayLoop = &v })
	k["alpha"] = lvsAlphaKeyword(c)
	k["log_all_failures"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "log_all_failures"); ok {
			c.LogAllFailures = v
		}
	}}
}

// lvsConnAddr reads connect_ip or bindto into *set: an address whose family must match *other's
// when that is set already, as Keepalived requires.
func lvsConnAddr(name, otherName string, set, other *netip.Addr) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		a, _, ok := p.AddrPort(l.Pos, l.Words[1], "")
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid %s address %s - ignoring", name, l.Words[1])
			return
		}
		if other.IsValid() && other.Is4() != a.Is4() {
			p.Diags.Warnf(l.Pos, "%s address %s does not match address family of %s - skipping", name, l.Words[1], otherName)
			*set = netip.Addr{}
			return
		}
		*set = a
	}}
}

// lvsConnPort reads connect_port or bind_port into *set.
func lvsConnPort(name string, set *uint16) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 1, 65535)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid checker %s '%s'", name, l.Words[1])
			return
		}
		*set = uint16(v)
	}}
}

// lvsConnKeywords installs connect_ip, connect_port, bindto, bind_port, bind_if, connect_timeout
// and fwmark, filling conn.
func lvsConnKeywords(k map[string]syntax.Keyword, conn *connRaw) {
	k["connect_ip"] = lvsConnAddr("connect_ip", "bindto", &conn.addr, &conn.bind)
	k["connect_port"] = lvsConnPort("connect_port", &conn.port)
	k["bindto"] = lvsConnAddr("bindto", "connect_ip", &conn.bind, &conn.addr)
	k["bind_port"] = lvsConnPort("bind_port", &conn.bindPort)
	k["bind_if"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if len(l.Words[1]) > 15 { // IFNAMSIZ - 1
			p.Diags.Warnf(l.Pos, "Interface name %s is too long - ignoring", l.Words[1])
			return
		}
		conn.bindIf = l.Words[1]
	}}
	k["connect_timeout"] = lvsTimerKw(1, lvsMaxUint32, "connect_timeout %s invalid - ignoring", func(d time.Duration) { v := syntax.Duration(d); conn.timeout = &v })
	k["fwmark"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 0, lvsMaxUint32)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid fwmark connection value '%s'", l.Words[1])
			return
		}
		conn.fwmark = uint32(v)
	}}
}

// checkConn is Keepalived's check_conn_opts: an IPv6 link-local destination needs bind_if.
func lvsCheckConn(p *syntax.Parser, conn *connRaw, rs *RealServer, end syntax.Pos) bool {
	dst := conn.addr
	if !dst.IsValid() {
		dst = rs.Address
	}
	if dst.Is6() && dst.IsLinkLocalUnicast() && conn.bindIf == "" {
		p.Diags.Warnf(end, "Checker link local address %s requires a bind_if", dst)
		return false
	}
	return true
}
