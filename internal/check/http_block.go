package check

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// The blocks of HTTP_GET and SSL_GET, after Keepalived's check_http.c.

// HTTPKind is HTTP_GET's block.
var HTTPKind = Kind{Name: "HTTP_GET", JSON: "http", Shared: Timing | Connection, Defaults: httpRetryDefaults,
	Block: func(b *Block) Options { return httpBlock(b, false) }}

// SSLKind is SSL_GET's block: HTTP_GET's over TLS, with tls_compliant.
var SSLKind = Kind{Name: "SSL_GET", JSON: "http", Shared: Timing | Connection, Defaults: httpRetryDefaults,
	Block: func(b *Block) Options { return httpBlock(b, true) }}

// httpRetryDefaults: an HTTP check waits 3 s before a retry, as in Keepalived.
func httpRetryDefaults(time.Duration) (uint32, time.Duration) { return 1, 3 * time.Second }

// New builds the HTTP_GET or SSL_GET these options describe.
func (o HTTPOptions) New(env Env) (probe.Checker, error) {
	o.ConnOptions = env.Conn
	return NewHTTP(o)
}

// regexOptions are the PCRE2 options regex_options accepts; others are silently ignored.
var regexOptions = []string{"allow_empty_class", "alt_bsux", "auto_callout", "caseless", "dollar_endonly",
	"dotall", "dupnames", "extended", "firstline", "match_unset_backref", "multiline", "never_ucp",
	"never_utf", "no_auto_capture", "no_auto_possess", "no_dotstar_anchor", "no_start_optimize", "ucp",
	"ungreedy", "utf", "never_backslash_c", "alt_circumflex", "alt_verbnames", "use_offset_limit",
	"extended_more", "literal", "match_invalid_utf"}

// Status codes a url may accept, and the default range.
const (
	httpStatusMin        = 100
	httpStatusMax        = 599
	httpDefaultStatusMin = 200
	httpDefaultStatusMax = 299
)

func httpBlock(b *Block, ssl bool) *HTTPOptions {
	o := &HTTPOptions{URLs: []URL{}}
	if ssl {
		o.TLS = &TLSOptions{}
	}
	k := b.Keywords
	k["nb_get_retry"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		p.Diags.Warnf(l.Pos, "nb_get_retry is deprecated - please use 'retry'")
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		if v, ok := p.Unsigned(l.Pos, l.Words[1], 0, maxUint32); ok {
			b.SetRetry(uint32(v))
		} else {
			p.Diags.Warnf(l.Pos, "Invalid nb_get_retry value '%s'", l.Words[1])
		}
	}}
	k["virtualhost"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "HTTP_GET virtualhost name missing")
			return
		}
		o.VirtualHost = l.Words[1]
	}}
	k["http_protocol"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "Missing http_protocol version")
			return
		}
		switch l.Words[1] {
		case "1.0":
			o.Protocol = HTTP10
		case "1.1":
			o.Protocol = HTTP11
		case "1.0C", "1.0c":
			o.Protocol = HTTP10Close
		case "2":
			o.Protocol = HTTP2
		default:
			p.Diags.Warnf(l.Pos, "Invalid http_protocol version %s", l.Words[1])
		}
	}}
	k["send_proxy"] = sendProxyKeyword(func(v ProxyVersion) { o.SendProxy = v })
	k["enable_sni"] = boolKeyword("enable_sni", func(v bool) { o.EnableSNI = v })
	k["fast_recovery"] = boolKeyword("fast_recovery", func(v bool) { o.FastRecovery = v })
	if ssl {
		// tls_compliant arrived in Keepalived 2.2.8 (SSL_GET only); 2.2.7 does not know it.
		k["tls_compliant"] = tlsCompliantKeyword(func(v bool) { o.TLSCompliant, o.TLS.Compliant = v, v })
	}
	var reusePos syntax.Pos
	if !ssl {
		// vigil's: the keyword is checked against http_protocol once the block is read, since
		// either may come first.
		k["reuse_connection"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if v, ok := optBool(p, l, "reuse_connection"); ok {
				o.ReuseConnection, reusePos = v, l.Pos
			}
		}}
	}
	k["url"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table { return urlTable(o, l, ssl) }}
	b.Close = func(p *syntax.Parser, end syntax.Pos) bool {
		if len(o.URLs) == 0 {
			p.Diags.Warnf(end, "HTTP/SSL_GET checker has no urls specified - ignoring")
			return false
		}
		if o.ReuseConnection && o.Protocol != HTTP11 {
			p.Diags.Warnf(reusePos, "reuse_connection requires http_protocol 1.1, not %s - ignoring", o.Protocol)
			o.ReuseConnection = false
		}
		return true
	}
	b.Resolve = func(s Server) {
		if o.VirtualHost == "" {
			o.VirtualHost = s.VirtualHost
		}
		if o.TLS != nil && o.EnableSNI {
			// Keepalived does not verify certificates; SNI only when enable_sni asks for it.
			o.TLS.ServerName = o.VirtualHost
		}
	}
	return o
}

// tlsCompliantKeyword reads tls_compliant's optional true/false word.
func tlsCompliantKeyword(set func(bool)) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "Invalid tls_compliant option %s", w) }); ok {
			set(v)
		}
	}}
}

// urlTable reads one url block into a URL appended to o's at its end.
func urlTable(o *HTTPOptions, l syntax.Line, ssl bool) *syntax.Table {
	u := &URL{Pos: l.Pos}
	var status [httpStatusMax - httpStatusMin + 1]bool
	anyStatus, maxSet := false, false
	var regexSrc string
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
			if !isHexDigit(d[2*i]) || !isHexDigit(d[2*i+1]) {
				p.Diags.Warnf(l.Pos, "Unable to interpret hex digit in '%s' at offset %d/%d", d[:2*i+2], 2*i, 2*i+1)
				return
			}
		}
		u.Digest = strings.ToLower(d)
	}}
	k["status_code"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		for _, w := range l.Words[1:] {
			lo, hi, ok := readStatusRange(w)
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
		regexSrc = unquote(l.Words[1])
		if re, ok := compileRegexp(p, l, "regex", regexSrc); ok {
			u.Regex = re
		}
	}}
	k["regex_no_match"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { u.RegexNoMatch = true }}
	k["regex_options"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		for _, w := range l.Words[1:] {
			if slices.Contains(regexOptions, w) && !slices.Contains(u.RegexOptions, w) {
				u.RegexOptions = append(u.RegexOptions, w)
			}
		}
	}}
	offset := func(kind string, set func(int)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			if len(l.Words) != 2 {
				p.Diags.Warnf(l.Pos, "Missing or too may options for regex_%s_offset", kind)
				set(0)
				return
			}
			v, err := strconv.ParseUint(l.Words[1], 10, 63)
			if err != nil {
				p.Diags.Warnf(l.Pos, "Invalid regex_%s_offset %s specified", kind, l.Words[1])
				set(0)
				return
			}
			set(int(v))
		}}
	}
	k["regex_min_offset"] = offset("min", func(v int) { u.RegexMinOffset = v })
	k["regex_max_offset"] = offset("max", func(v int) { u.RegexMaxOffset, maxSet = v, true })
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
		k["tls_compliant"] = tlsCompliantKeyword(func(v bool) { u.TLSCompliant = v })
	}
	addRequestShaping(k, u)
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
		u.StatusCodes = statusRanges(status[:])
		if regexSrc == "" && (len(u.RegexOptions) > 0 || u.RegexNoMatch || u.RegexMinOffset != 0 || maxSet || u.RegexStack) {
			p.Diags.Warnf(end, "regex parameters specified without regex")
			u.RegexOptions, u.RegexNoMatch, u.RegexMinOffset, u.RegexMaxOffset, maxSet, u.RegexStack = nil, false, 0, 0, false, false
		}
		if maxSet && u.RegexMinOffset > u.RegexMaxOffset {
			p.Diags.Warnf(end, "regex min offset %d > regex_max_offset %d - ignoring", u.RegexMinOffset, u.RegexMaxOffset)
			u.RegexMinOffset, u.RegexMaxOffset, maxSet = 0, 0, false
		}
		if u.Password != "" && u.Username == "" {
			p.Diags.Warnf(end, "url %s: password without username - no authentication sent", u.Path)
		}
		// A regex_max_offset of 0 sets no bound, as in Keepalived.
		u.RegexMaxOffsetSet = maxSet && u.RegexMaxOffset > 0
		o.URLs = append(o.URLs, *u)
	}}
}

// addRequestShaping installs vigil's keywords of a url block that shape the request and judge
// the response's headers. What they get wrong is an error: the check would not be the one
// written.
func addRequestShaping(k map[string]syntax.Keyword, u *URL) {
	// one reads the keyword's single word (quoted when it holds blanks) with read.
	one := func(read func(p *syntax.Parser, l syntax.Line, w string)) syntax.Keyword {
		return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
			switch {
			case len(l.Words) < 2:
				p.Diags.Errorf(l.Pos, "%s: missing its argument", l.Words[0])
			case len(l.Words) > 2:
				p.Diags.Errorf(l.Pos, "%s: one string expected, %d words given (quote it)", l.Words[0], len(l.Words)-1)
			default:
				read(p, l, l.Words[1])
			}
		}}
	}
	k["method"] = one(func(p *syntax.Parser, l syntax.Line, w string) {
		if !isToken(w) {
			p.Diags.Errorf(l.Pos, "method %q is not an HTTP token", w)
			return
		}
		u.Method = w
	})
	k["header"] = one(func(p *syntax.Parser, l syntax.Line, w string) {
		err := checkHeaderLine(w)
		if err == nil && strings.EqualFold(headerName(w), "Content-Length") {
			err = errors.New("vigil sends the body's own Content-Length")
		}
		if err != nil {
			p.Diags.Errorf(l.Pos, "header: %v", err)
			return
		}
		u.Headers = append(u.Headers, w)
	})
	k["body"] = one(func(p *syntax.Parser, l syntax.Line, w string) {
		b, err := cEscapes(w)
		if err != nil {
			p.Diags.Errorf(l.Pos, "body %q: %v", w, err)
			return
		}
		u.Body = string(b)
	})
	credential := func(set func(string)) syntax.Keyword {
		return one(func(p *syntax.Parser, l syntax.Line, w string) {
			if strings.ContainsAny(w, "\r\n\x00") || l.Words[0] == "username" && strings.Contains(w, ":") {
				p.Diags.Errorf(l.Pos, "%s holds a line break or NUL (or, a username, a colon)", l.Words[0])
				return
			}
			set(w)
		})
	}
	k["username"] = credential(func(w string) { u.Username = w })
	k["password"] = credential(func(w string) { u.Password = w })
	expect := func(regex bool) syntax.Keyword {
		return one(func(p *syntax.Parser, l syntax.Line, w string) {
			name, value, hasValue := strings.Cut(w, ":")
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			if !isToken(name) {
				p.Diags.Errorf(l.Pos, "%s %q: want \"Name\" or \"Name: value\"", l.Words[0], w)
				return
			}
			e := HeaderExpect{Name: name}
			switch {
			case regex:
				if !hasValue {
					p.Diags.Errorf(l.Pos, "%s %q: want \"Name: regex\"", l.Words[0], w)
					return
				}
				re, ok := compileRegexp(p, l, l.Words[0], value)
				if !ok {
					return
				}
				e.Regex = re
			default:
				e.Value = value
			}
			u.ExpectHeaders = append(u.ExpectHeaders, e)
		})
	}
	k["expect_header"] = expect(false)
	k["expect_header_regex"] = expect(true)
}

func isHexDigit(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// readStatusRange reads "N" or "N-M" with 100 <= N <= M <= 599.
func readStatusRange(w string) (int, int, bool) {
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

// statusRanges turns a set of accepted codes (index 0 is code 100) into sorted ranges.
func statusRanges(set []bool) []StatusRange {
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
