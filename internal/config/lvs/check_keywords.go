package lvs

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Keyword tables for the checker blocks of a real_server, after Keepalived's check_api.c and
// check_{tcp,http,misc,smtp,dns,ping,udp,file,bfd}.c, plus vigil's GRPC_CHECK.

// lvsDNSTypes are the query types DNS_CHECK accepts (case-insensitive).
var lvsDNSTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"}

// lvsRegexOptions are the PCRE2 options regex_options accepts; others are silently ignored.
var lvsRegexOptions = []string{"allow_empty_class", "alt_bsux", "auto_callout", "caseless", "dollar_endonly",
	"dotall", "dupnames", "extended", "firstline", "match_unset_backref", "multiline", "never_ucp",
	"never_utf", "no_auto_capture", "no_auto_possess", "no_dotstar_anchor", "no_start_optimize", "ucp",
	"ungreedy", "utf", "never_backslash_c", "alt_circumflex", "alt_verbnames", "use_offset_limit",
	"extended_more", "literal", "match_invalid_utf"}

// Status codes an HTTP url may accept, and the default range.
const (
	httpStatusMin        = 100
	httpStatusMax        = 599
	httpDefaultStatusMin = 200
	httpDefaultStatusMax = 299
)

// lvsAddCheckerKeywords installs the checker blocks into a real_server table.
func lvsAddCheckerKeywords(k map[string]syntax.Keyword, s *Section, vs *VirtualServer, rs *RealServer) {
	add := func(kind string, body func(c *Checker, k map[string]syntax.Keyword), hasConn bool, closeFn func(p *syntax.Parser, c *Checker, end syntax.Pos)) {
		k[kind] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
			c := &Checker{Pos: l.Pos, Kind: kind}
			if hasConn {
				c.conn = &connRaw{pos: l.Pos}
			}
			rs.Checkers = append(rs.Checkers, c)
			ck := make(map[string]syntax.Keyword, 48)
			if kind != CheckFile && kind != CheckBFD {
				lvsCommonCheckerKeywords(ck, c, c.conn)
			}
			if body != nil {
				body(c, ck)
			}
			return &syntax.Table{Keywords: ck, Close: func(p *syntax.Parser, end syntax.Pos) {
				if c.conn != nil && !lvsCheckConn(p, c.conn, rs, end) {
					c.dropped = true
				}
				if closeFn != nil && !c.dropped {
					closeFn(p, c, end)
				}
				if c.dropped {
					rs.Checkers = slices.DeleteFunc(rs.Checkers, func(x *Checker) bool { return x == c })
				}
			}}
		}}
	}
	add(CheckTCP, nil, true, nil)
	add(CheckPing, nil, true, nil)
	add(CheckHTTP, func(c *Checker, k map[string]syntax.Keyword) { lvsHTTPKeywords(c, k, false) }, true, lvsHTTPClose)
	add(CheckSSL, func(c *Checker, k map[string]syntax.Keyword) { lvsHTTPKeywords(c, k, true) }, true, lvsHTTPClose)
	add(CheckMisc, lvsMiscKeywords, false, func(p *syntax.Parser, c *Checker, end syntax.Pos) {
		if len(c.Misc.Args) == 0 {
			p.Diags.Warnf(end, "No script path has been specified for MISC_CHECKER - skipping")
			c.dropped = true
		}
	})
	add(CheckSMTP, func(c *Checker, k map[string]syntax.Keyword) { lvsSMTPKeywords(c, k, rs) }, true, nil)
	add(CheckDNS, lvsDNSKeywords, true, nil)
	add(CheckUDP, lvsUDPKeywords, true, func(p *syntax.Parser, c *Checker, end syntax.Pos) {
		if c.UDP.MinReplyLength > c.UDP.MaxReplyLength {
			p.Diags.Warnf(end, "UDP_CHECK min_reply length %d > max_reply_length %d - will always fail", c.UDP.MinReplyLength, c.UDP.MaxReplyLength)
		}
	})
	add(CheckFile, func(c *Checker, k map[string]syntax.Keyword) { lvsFileKeywords(c, k, s) }, false, func(p *syntax.Parser, c *Checker, end syntax.Pos) {
		f := c.File
		if f.track == nil {
			p.Diags.Warnf(end, "FILE_CHECK has no track_file specified - ignoring")
			c.dropped = true
			return
		}
		if !f.weightSet {
			// file_end_handler: without its own weight the checker uses the track_file's.
			f.Weight, f.Reverse = int32(f.track.weight), f.track.reverse
		}
	})
	add(CheckBFD, func(c *Checker, k map[string]syntax.Keyword) { lvsBFDKeywords(c, k, vs, rs) }, false, func(p *syntax.Parser, c *Checker, end syntax.Pos) {
		if c.BFD.Name == "" {
			p.Diags.Warnf(end, "(%s) No name has been specified for BFD_CHECKER - skipping", vs.rsName(rs))
			c.dropped = true
		}
	})
	add(CheckGRPC, lvsGRPCKeywords, true, nil)
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
	k["alpha"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "alpha"); ok {
			c.alpha = &v
		}
	}}
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

func lvsHTTPKeywords(c *Checker, k map[string]syntax.Keyword, ssl bool) {
	h := &HTTPCheck{Protocol: "1.0", URLs: []*URL{}}
	c.HTTP = h
	k["nb_get_retry"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		p.Diags.Warnf(l.Pos, "nb_get_retry is deprecated - please use 'retry'")
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if v, ok := p.Unsigned(l.Pos, l.Words[1], 0, lvsMaxUint32); ok {
			r := uint32(v)
			c.retry = &r
		} else {
			p.Diags.Warnf(l.Pos, "Invalid nb_get_retry value '%s'", l.Words[1])
		}
	}}
	k["virtualhost"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "HTTP_GET virtualhost name missing")
			return
		}
		h.VirtualHost = l.Words[1]
	}}
	k["http_protocol"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "Missing http_protocol version")
			return
		}
		switch l.Words[1] {
		case "1.0", "1.1":
			h.Protocol = l.Words[1]
		case "1.0C", "1.0c":
			h.Protocol = "1.0C"
		default:
			p.Diags.Warnf(l.Pos, "Invalid http_protocol version %s", l.Words[1])
		}
	}}
	k["enable_sni"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "enable_sni"); ok {
			h.EnableSNI = v
		}
	}}
	k["fast_recovery"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "fast_recovery"); ok {
			h.FastRecovery = v
		}
	}}
	if ssl {
		// tls_compliant arrived in Keepalived 2.2.8 (SSL_GET only); 2.2.7 does not know it.
		k["tls_compliant"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v, ok := lvsTLSCompliant(p, l); ok {
				h.TLSCompliant = v
			}
		}}
	}
	k["url"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table { return lvsURLTable(h, l, ssl) }}
}

// lvsTLSCompliant reads tls_compliant's optional true/false word.
func lvsTLSCompliant(p *syntax.Parser, l syntax.Line) (bool, bool) {
	return syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "Invalid tls_compliant option %s", w) })
}

func lvsHTTPClose(p *syntax.Parser, c *Checker, end syntax.Pos) {
	if len(c.HTTP.URLs) == 0 {
		p.Diags.Warnf(end, "HTTP/SSL_GET checker has no urls specified - ignoring")
		c.dropped = true
	}
}

func lvsURLTable(h *HTTPCheck, l syntax.Line, ssl bool) *syntax.Table {
	u := &URL{Pos: l.Pos}
	var status [httpStatusMax - httpStatusMin + 1]bool
	anyStatus := false
	var regexOpts []string
	k := make(map[string]syntax.Keyword, 24)
	k["path"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); ok {
			u.Path = l.Words[1]
		}
	}}
	k["digest"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		d := l.Words[1]
		if u.Digest != "" {
			p.Diags.Warnf(l.Pos, "Digest '%s' is a duplicate", d)
			return
		}
		if len(d) != 32 {
			p.Diags.Warnf(l.Pos, "digest '%s' character length should be 32 rather than %d", d, len(d))
			return
		}
		// Keepalived decodes from the last byte back and reports the first bad pair it meets,
		// with the string cut after that pair.
		for i := 15; i >= 0; i-- {
			if !lvsIsHex(d[2*i]) || !lvsIsHex(d[2*i+1]) {
				p.Diags.Warnf(l.Pos, "Unable to interpret hex digit in '%s' at offset %d/%d", d[:2*i+2], 2*i, 2*i+1)
				return
			}
		}
		u.Digest = strings.ToLower(d)
	}}
	k["status_code"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		for _, w := range l.Words[1:] {
			lo, hi, ok := lvsStatusRange(w)
			if !ok {
				p.Diags.Warnf(l.Pos, "Invalid HTTP_GET status code '%s'", w)
				continue
			}
			for s := lo; s <= hi; s++ {
				status[s-httpStatusMin] = true
			}
			anyStatus = true
		}
	}}
	k["virtualhost"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "Missing HTTP_GET virtualhost name")
			return
		}
		u.VirtualHost = l.Words[1]
	}}
	k["regex"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) != 2 {
			p.Diags.Warnf(l.Pos, "regex missing or too many fields")
			return
		}
		u.Regex, u.RegexPos = lvsUnquote(l.Words[1]), l.Pos
	}}
	k["regex_no_match"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { u.RegexNoMatch = true }}
	k["regex_options"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		for _, w := range l.Words[1:] {
			if slices.Contains(lvsRegexOptions, w) && !slices.Contains(regexOpts, w) {
				regexOpts = append(regexOpts, w)
			}
		}
	}}
	offset := func(kind string, set func(uint64)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) != 2 {
				p.Diags.Warnf(l.Pos, "Missing or too may options for regex_%s_offset", kind)
				set(0)
				return
			}
			v, err := strconv.ParseUint(l.Words[1], 10, 64)
			if err != nil {
				p.Diags.Warnf(l.Pos, "Invalid regex_%s_offset %s specified", kind, l.Words[1])
				set(0)
				return
			}
			set(v)
		}}
	}
	k["regex_min_offset"] = offset("min", func(v uint64) { u.RegexMinOffset = v })
	k["regex_max_offset"] = offset("max", func(v uint64) { u.RegexMaxOffset, u.maxSet = v, true })
	k["regex_stack"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) != 3 {
			p.Diags.Warnf(l.Pos, "regex_stack requires start and max values")
			return
		}
		start, err1 := strconv.ParseUint(l.Words[1], 10, 64)
		if err1 != nil {
			p.Diags.Warnf(l.Pos, "regex_stack invalid start value")
			return
		}
		max, err2 := strconv.ParseUint(l.Words[2], 10, 64)
		if err2 != nil {
			p.Diags.Warnf(l.Pos, "regex_stack invalid max value")
			return
		}
		if start > max {
			p.Diags.Warnf(l.Pos, "regex stack start cannot exceed max value")
			return
		}
		u.RegexStack = true
	}}
	if ssl {
		k["tls_compliant"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v, ok := lvsTLSCompliant(p, l); ok {
				u.TLSCompliant = v
			}
		}}
	}
	return &syntax.Table{Keywords: k, Close: func(p *syntax.Parser, end syntax.Pos) {
		if u.Path == "" {
			p.Diags.Warnf(end, "HTTP/SSL_GET checker url has no path - ignoring")
			return
		}
		if !anyStatus {
			for s := httpDefaultStatusMin; s <= httpDefaultStatusMax; s++ {
				status[s-httpStatusMin] = true
			}
		}
		u.StatusCodes = lvsStatusRanges(status[:])
		u.RegexOptions = regexOpts
		if u.Regex == "" && (len(regexOpts) > 0 || u.RegexNoMatch || u.RegexMinOffset != 0 || u.maxSet || u.RegexStack) {
			p.Diags.Warnf(end, "regex parameters specified without regex")
			u.RegexOptions, u.RegexNoMatch, u.RegexMinOffset, u.RegexMaxOffset, u.maxSet, u.RegexStack = nil, false, 0, 0, false, false
		}
		if u.maxSet && u.RegexMinOffset > u.RegexMaxOffset {
			p.Diags.Warnf(end, "regex min offset %d > regex_max_offset %d - ignoring", u.RegexMinOffset, u.RegexMaxOffset)
			u.RegexMinOffset, u.RegexMaxOffset, u.maxSet = 0, 0, false
		}
		h.URLs = append(h.URLs, u)
	}}
}

func lvsIsHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// lvsStatusRange reads "N" or "N-M" with 100 <= N <= M <= 599.
func lvsStatusRange(w string) (int, int, bool) {
	a, b, isRange := strings.Cut(w, "-")
	lo, err := strconv.Atoi(a)
	if err != nil || strings.HasPrefix(a, "+") || strings.HasPrefix(a, "-") {
		return 0, 0, false
	}
	hi := lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil || strings.HasPrefix(b, "+") || strings.HasPrefix(b, "-") {
			return 0, 0, false
		}
	}
	if lo < httpStatusMin || hi > httpStatusMax || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

// lvsStatusRanges turns a set of accepted codes (index 0 is code 100) into sorted ranges.
func lvsStatusRanges(set []bool) []StatusRange {
	out := []StatusRange{}
	for i := 0; i < len(set); i++ {
		if !set[i] {
			continue
		}
		j := i
		for j+1 < len(set) && set[j+1] {
			j++
		}
		out = append(out, StatusRange{Min: i + httpStatusMin, Max: j + httpStatusMin})
		i = j
	}
	return out
}

func lvsUnquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func lvsMiscKeywords(c *Checker, k map[string]syntax.Keyword) {
	m := &MiscCheck{}
	c.Misc = m
	k["misc_path"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		// Keepalived takes the first word only (quote it to pass arguments) and splits it.
		if len(l.Words) >= 2 {
			m.Path, m.PathPos = l.Words[1], l.Pos
			m.Args = strings.Fields(m.Path)
		}
	}}
	k["misc_timeout"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 0, lvsMaxUint32/1_000_000)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid misc_timeout value '%s'", l.Words[1])
			return
		}
		m.Timeout = syntax.Duration(time.Duration(v) * time.Second)
	}}
	k["misc_dynamic"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { m.Dynamic = true }}
	k["user"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "No user specified for misc checker script %s", lvsCmdStr(m.Path))
			return
		}
		// Whether the user exists is this machine's business: the daemon checks it when it
		// builds the checker (and so does `vigil -t`).
		m.User, m.UserPos = lvsRest(l), l.Pos
	}}
}

// lvsSMTPKeywords installs helo_name and the legacy host blocks. A host block holds its own
// connection; at the end of SMTP_CHECK each host becomes a checker of its own, as in Keepalived.
func lvsSMTPKeywords(c *Checker, k map[string]syntax.Keyword, rs *RealServer) {
	s := &SMTPCheck{HeloName: "smtpchecker.keepalived.org"}
	c.SMTP = s
	var hosts []*connRaw
	main := c.conn
	k["helo_name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "SMTP_CHECK helo name missing")
			return
		}
		s.HeloName = l.Words[1]
	}}
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
	// The host list is expanded when the real server's checkers are resolved.
	c.smtpHosts = func() []*connRaw {
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

func lvsDNSKeywords(c *Checker, k map[string]syntax.Keyword) {
	d := &DNSCheck{Type: "SOA"}
	c.DNS = d
	nameSet := false
	k["type"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		i := slices.IndexFunc(lvsDNSTypes, func(t string) bool { return strings.EqualFold(t, l.Words[1]) })
		if i < 0 {
			p.Diags.Warnf(l.Pos, "Unknown DNS check type %s - ignoring", l.Words[1])
			return
		}
		d.Type, d.TypePos = lvsDNSTypes[i], l.Pos
	}}
	k["name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if nameSet {
			p.Diags.Warnf(l.Pos, "DNS_CHECK name already specified - ignoring")
			return
		}
		n := l.Words[1]
		if (strings.HasPrefix(n, ".") && n != ".") || strings.Contains(n, "..") {
			p.Diags.Warnf(l.Pos, "DNS_CHECK name '%s' has empty label - ignoring", n)
			return
		}
		d.Name, nameSet = n, true
	}}
}

func lvsUDPKeywords(c *Checker, k map[string]syntax.Keyword) {
	u := &UDPCheck{MaxReplyLength: 255}
	c.UDP = u
	k["payload"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) == 1 {
			p.Diags.Warnf(l.Pos, "UDP_CHECK payload requires a payload")
			return
		}
		data, _, ok := lvsHexString(strings.Join(l.Words[1:], " "), false)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid hex string for UDP_CHECK payload")
			return
		}
		u.Payload = data
	}}
	k["require_reply"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		u.RequireReply = true
		if len(l.Words) == 1 {
			return
		}
		data, mask, ok := lvsHexString(strings.Join(l.Words[1:], " "), true)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid hex string for UDP_CHECK reply")
			return
		}
		u.ReplyData, u.ReplyMask = data, mask
	}}
	length := func(which string, set func(uint32)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if _, ok := p.Need(l, 1); !ok {
				return
			}
			v, ok := p.Unsigned(l.Pos, l.Words[1], 0, 65535)
			if !ok {
				p.Diags.Warnf(l.Pos, "UDP_CHECK %s length %s not valid - must be between 0 & 65535", which, l.Words[1])
				return
			}
			set(uint32(v))
		}}
	}
	k["min_reply_length"] = length("min", func(v uint32) { u.MinReplyLength = v })
	k["max_reply_length"] = length("max", func(v uint32) { u.MaxReplyLength = v })
}

// lvsHexString reads hex octets as Keepalived's read_hex_str does: pairs of hex digits, spaces
// between octets optional, a lone digit before a space or the end being one octet. With
// wildcards, an x or X nibble matches anything; mask then has, per octet, the bits that must
// match (it is nil when no wildcard was used).
func lvsHexString(s string, wildcards bool) (data, mask []byte, ok bool) {
	nib := func(c byte) (v byte, wild, valid bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', false, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, false, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, false, true
		case wildcards && (c == 'x' || c == 'X'):
			return 0, true, true
		}
		return 0, false, false
	}
	usedMask := false
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		v, w, valid := nib(s[i])
		if !valid {
			return nil, nil, false
		}
		i++
		var wild byte
		if w {
			wild = 0x0f
		}
		if i < len(s) && s[i] != ' ' {
			v2, w2, valid2 := nib(s[i])
			if !valid2 {
				return nil, nil, false
			}
			i++
			v = v<<4 | v2
			wild <<= 4
			if w2 {
				wild |= 0x0f
			}
		}
		usedMask = usedMask || wild != 0
		data = append(data, v)
		mask = append(mask, ^wild)
	}
	if len(data) == 0 {
		return nil, nil, false
	}
	if !usedMask {
		mask = nil
	}
	return data, mask, true
}

func lvsFileKeywords(c *Checker, k map[string]syntax.Keyword, s *Section) {
	f := &FileCheck{}
	c.File = f
	k["track_file"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		// Like Keepalived, only track_file blocks that come before the checker are known.
		weight, reverse, ok := s.trackFile(l.Words[1])
		if !ok {
			p.Diags.Warnf(l.Pos, "track_file %s not found", l.Words[1])
			return
		}
		f.TrackFile, f.track = l.Words[1], &trackFileRef{weight, reverse}
	}}
	k["weight"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "track file weight missing")
			return
		}
		v, ok := p.Int(l.Pos, l.Words[1], -2147483647, 2147483647)
		if !ok {
			p.Diags.Warnf(l.Pos, "weight for track file must be in [%d..%d] inclusive. Ignoring...", -2147483647, 2147483647)
			return
		}
		reverse := false
		if len(l.Words) >= 3 {
			switch l.Words[2] {
			case "reverse":
				reverse = true
			case "noreverse":
			default:
				p.Diags.Warnf(l.Pos, "unknown track file weight option %s - ignoring", l.Words[2])
				return
			}
		}
		f.Weight, f.Reverse, f.weightSet = int32(v), reverse, true
	}}
}

func lvsBFDKeywords(c *Checker, k map[string]syntax.Keyword, vs *VirtualServer, rs *RealServer) {
	b := &BFDCheck{}
	c.BFD = b
	k["name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		// Whether the bfd_instance exists is checked by the BFD side; vigil keeps the name.
		switch {
		case len(l.Words) != 2:
			p.Diags.Warnf(l.Pos, "(%s) BFD_CHECK - No or too many names specified - skipping checker", vs.rsName(rs))
			c.dropped = true
		case b.Name != "":
			p.Diags.Warnf(l.Pos, "(%s) BFD_CHECK - BFD %s already specified as %s", vs.rsName(rs), l.Words[1], b.Name)
			c.dropped = true
		case len(l.Words[1]) >= 32: // BFD_INAME_MAX
			p.Diags.Warnf(l.Pos, "(%s) BFD_CHECK - BFD name %s too long", vs.rsName(rs), l.Words[1])
			c.dropped = true
		default:
			b.Name = l.Words[1]
		}
	}}
	k["alpha"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := lvsOptBool(p, l, "alpha"); ok {
			c.alpha = &v
		}
	}}
}

// lvsGRPCKeywords installs the body of GRPC_CHECK, a vigil extension.
func lvsGRPCKeywords(c *Checker, k map[string]syntax.Keyword) {
	g := &GRPCCheck{TLSVerify: true}
	c.GRPC = g
	k["service"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); ok {
			g.Service = l.Words[1]
		}
	}}
	boolKw := func(name string, set func(bool)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v, ok := lvsOptBool(p, l, name); ok {
				set(v)
			}
		}}
	}
	k["tls"] = boolKw("tls", func(v bool) { g.TLS = v })
	k["tls_verify"] = boolKw("tls_verify", func(v bool) { g.TLSVerify = v })
	k["sni"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); ok {
			g.SNI = l.Words[1]
		}
	}}
}

// lvsCmdStr renders a command line as Keepalived's cmd_str does in messages: each word quoted,
// except a leading redirection.
func lvsCmdStr(cmd string) string {
	words := strings.Fields(cmd)
	for i, w := range words {
		if i > 0 || (!strings.HasPrefix(w, "<") && !strings.HasPrefix(w, ">")) {
			words[i] = "'" + w + "'"
		}
	}
	return strings.Join(words, " ")
}
