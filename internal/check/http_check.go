package check

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// HTTPProtocol is the request line and connection header a HTTP_GET or SSL_GET sends
// (http_protocol).
type HTTPProtocol uint8

const (
	// HTTP10 sends "HTTP/1.0" without a Connection header (Keepalived's default, "1.0").
	HTTP10 HTTPProtocol = iota
	// HTTP10Close sends "HTTP/1.0" with "Connection: close" ("1.0C").
	HTTP10Close
	// HTTP11 sends "HTTP/1.1" with "Connection: close" ("1.1").
	HTTP11
	// HTTP2 speaks HTTP/2 ("2", vigil's): negotiated with ALPN over TLS (SSL_GET), with prior
	// knowledge in clear (h2c, HTTP_GET).
	HTTP2
)

// MarshalText gives the keyword form, for `vigil dump-config`.
func (p HTTPProtocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// String returns the keyword form: "1.0", "1.0C" or "1.1".
func (p HTTPProtocol) String() string {
	switch p {
	case HTTP10Close:
		return "1.0C"
	case HTTP11:
		return "1.1"
	case HTTP2:
		return "2"
	default:
		return "1.0"
	}
}

// StatusRange is an inclusive range of HTTP status codes; a single code has Min == Max.
type StatusRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// DefaultMaxResponse bounds the bytes read for one URL (status line, headers and body) when
// HTTPOptions.MaxResponse is zero.
const DefaultMaxResponse = 1 << 20

// maxHTTPHeader bounds the status line and headers. Keepalived needs them within its 4 KiB read
// buffer; vigil allows more, since some servers send long cookies.
const maxHTTPHeader = 16 << 10

// URL is one url block of a HTTP_GET or SSL_GET. Every URL of a checker must pass.
type URL struct {
	// Pos is where the url block was written.
	Pos syntax.Pos `json:"pos"`
	// Path is the request target, "/" or "/health?full=1" (path).
	Path string `json:"path"`
	// Digest, when set, is the MD5 of the response body as 32 hex digits, as genhash prints it
	// (digest). The body is the bytes after the header, cut at Content-Length when the server
	// sends one, and otherwise everything up to the end of the connection, chunked framing
	// included, exactly as Keepalived hashes it.
	Digest string `json:"digest,omitempty"`
	// StatusCodes are the accepted statuses (status_code); empty means 200-299.
	StatusCodes []StatusRange `json:"status_code"`
	// VirtualHost, when set, is the Host header for this URL, overriding the checker's.
	VirtualHost string `json:"virtualhost,omitempty"`
	// Regex, when set, must match the body (regex). It is Go's RE2 syntax, not PCRE2:
	// no backreferences or lookaround, regex_options and regex_stack do not apply, and
	// regex_min_offset starts the search on a body sliced at that offset, so ^ matches there.
	Regex *Regexp `json:"regex,omitempty"`
	// RegexNoMatch inverts the sense: a match fails the check (regex_no_match).
	RegexNoMatch bool `json:"regex_no_match,omitempty"`
	// RegexOptions are the PCRE2 options named (regex_options), kept to be shown; RE2 has
	// none of them.
	RegexOptions []string `json:"regex_options,omitempty"`
	// RegexMinOffset is where in the body the search starts (regex_min_offset).
	RegexMinOffset int `json:"regex_min_offset,omitempty"`
	// RegexMaxOffset is the last body offset where a match may start (regex_max_offset); it
	// applies only when RegexMaxOffsetSet.
	RegexMaxOffset    int  `json:"regex_max_offset,omitempty"`
	RegexMaxOffsetSet bool `json:"-"`
	// RegexStack is whether regex_stack was given; RE2 needs no stack.
	RegexStack bool `json:"regex_stack,omitempty"`
	// TLSCompliant is the url's own tls_compliant (SSL_GET), read and shown as Keepalived
	// reads it; the checker's applies.
	TLSCompliant bool `json:"tls_compliant,omitempty"`

	// vigil's request shaping and header expectations.

	// Method replaces GET (method).
	Method string `json:"method,omitempty"`
	// Headers are sent after Keepalived's own, as written: "Name: value" (header, repeatable).
	// A Host or User-Agent among them replaces the one vigil would send.
	Headers []string `json:"headers,omitempty"`
	// Body is sent with its Content-Length (body, C escapes decoded).
	Body string `json:"body,omitempty"`
	// Username and Password send Basic authentication (username, password: the keywords of
	// Keepalived's pull request 2677). The password is not shown.
	Username string `json:"username,omitempty"`
	Password string `json:"-"`
	// ExpectHeaders must all hold of the response's headers (expect_header,
	// expect_header_regex).
	ExpectHeaders []HeaderExpect `json:"expect_headers,omitempty"`
}

// HeaderExpect is one expectation on a response header: a header called Name must be there,
// one of its values equal to Value when that is set, or matching Regex when that is.
type HeaderExpect struct {
	Name  string  `json:"name"`
	Value string  `json:"value,omitempty"`
	Regex *Regexp `json:"regex,omitempty"`
}

// String is the expectation as a reason says it: `header "Content-Type: application/json"`.
func (e HeaderExpect) String() string {
	switch {
	case e.Regex != nil:
		return "header " + strconv.Quote(e.Name+": ~"+e.Regex.String())
	case e.Value != "":
		return "header " + strconv.Quote(e.Name+": "+e.Value)
	}
	return "header " + strconv.Quote(e.Name)
}

// TLSOptions turn a HTTP_GET into a SSL_GET.
type TLSOptions struct {
	// ServerName, when set, is sent as SNI (enable_sni / sni_name: the daemon resolves which
	// name Keepalived would use). When empty no SNI is sent.
	ServerName string
	// Verify checks the server's certificate chain and name, a vigil extension: Keepalived does
	// not verify. The name checked is ServerName, or the target's IP address when that is empty.
	Verify bool
	// RootCAs are the authorities Verify trusts; nil means the system's.
	RootCAs *x509.CertPool
	// Certificates are client certificates to present (the SSL block's certificate and key).
	Certificates []tls.Certificate
	// Compliant ends each connection with a TLS close_notify and a normal close
	// (tls_compliant); otherwise the connection is reset, as Keepalived's quiet shutdown
	// sends no close_notify either.
	Compliant bool
}

// keySuffix renders the TLS options for a checker's Key. Root pools and client certificates are
// summarised by a hash of their subjects and certificates, stable across reloads.
func (o *TLSOptions) keySuffix() string {
	s := fmt.Sprintf(" sni=%s verify=%t", o.ServerName, o.Verify)
	if o.Compliant {
		s += " compliant"
	}
	if o.RootCAs == nil && len(o.Certificates) == 0 {
		return s
	}
	h := fnv.New64a()
	if o.RootCAs != nil {
		//lint:ignore SA1019 only pools built from files reach here, never the system pool
		for _, subj := range o.RootCAs.Subjects() {
			h.Write(subj)
			h.Write([]byte{0})
		}
	}
	h.Write([]byte{0xff})
	for _, cert := range o.Certificates {
		for _, der := range cert.Certificate {
			h.Write(der)
			h.Write([]byte{0})
		}
	}
	return s + fmt.Sprintf(" tls=%016x", h.Sum64())
}

// HTTPOptions configure a HTTP_GET or SSL_GET.
type HTTPOptions struct {
	ConnOptions `json:"-"`
	// TLS, when set, makes this a SSL_GET.
	TLS *TLSOptions `json:"-"`
	// VirtualHost is the Host header when a URL has none of its own; when both are empty the
	// Host header is the target's "ip:port", as Keepalived sends it. The configuration resolves
	// Keepalived's fallbacks: the checker's, then the real server's, then the virtual server's.
	VirtualHost string `json:"virtualhost,omitempty"`
	// Protocol is the http_protocol.
	Protocol HTTPProtocol `json:"http_protocol"`
	// EnableSNI sends VirtualHost as SNI (enable_sni); TLS.ServerName is set from it.
	EnableSNI bool `json:"enable_sni"`
	// FastRecovery is read and shown as Keepalived reads it: vigil's retries are the
	// scheduler's, and it probes every URL each time anyway.
	FastRecovery bool `json:"fast_recovery"`
	// TLSCompliant is tls_compliant (SSL_GET); TLS.Compliant is set from it.
	TLSCompliant bool `json:"tls_compliant"`
	// URLs are checked in order, each on its own connection; the first failure decides.
	URLs []URL `json:"urls"`
	// SendProxy, when set, writes a PROXY protocol header first on each connection, before
	// TLS (send_proxy, vigil's).
	SendProxy ProxyVersion `json:"send_proxy,omitempty"`
	// MaxResponse bounds the bytes read for one URL; 0 means DefaultMaxResponse. A server that
	// sends more fails the check ("response exceeds ... bytes").
	MaxResponse int64 `json:"-"`
}

// HTTPChecker is Keepalived's HTTP_GET, or SSL_GET when built with TLS options. It writes the
// request itself and reads the raw response, so the digest is computed over the same bytes as
// Keepalived's and genhash's, and memory stays bounded: a buffer for the header, and the body
// only when a regex needs it, never more than MaxResponse.
//
// Unlike Keepalived, which checks one URL per delay_loop, a Check runs every URL within its
// deadline and stops reading a body at Content-Length instead of waiting for the server to
// close the connection, then resets the connection (SO_LINGER 0), as HAProxy does for its
// checks, so that probes leave no TIME_WAIT sockets behind.
type HTTPChecker struct {
	opts     HTTPOptions
	target   probe.Endpoint
	kind     string
	addr     string
	key      string
	tls      *tls.Config
	urls     []httpURL
	maxResp  int64
	bufPool  sync.Pool        // *[]byte of maxHTTPHeader bytes, reused between checks
	hostPort string           // "ip:port" for the Host header when no virtualhost applies
	okReason string           // the reason of a passed check, made once rather than per probe
	h2       *http2.Transport // http_protocol 2: one per checker, a connection per probe
}

// httpURL is a URL prepared for probing.
type httpURL struct {
	URL
	digest  [md5.Size]byte
	request []byte
	codes   string // accepted statuses, for reasons
	host    string // the Host header (HTTP/1) or :authority (HTTP/2)
	prefix  string // "url <path>: ", which begins every reason about this URL

}

// NewHTTP returns a HTTP_GET (or SSL_GET when opts.TLS is set) of opts.Addr. It fails when a URL
// has no path, a path or virtual host would break the request, a digest is not 32 hex digits, a
// status range is outside 100-599 or a regex offset is negative. A regex_min_offset beyond
// regex_max_offset drops both, as Keepalived does.
func NewHTTP(opts HTTPOptions) (*HTTPChecker, error) {
	c := &HTTPChecker{
		opts:    opts,
		target:  probe.NewEndpoint(opts.Addr, opts.socketOptions()),
		kind:    "HTTP_GET",
		addr:    opts.Addr.String(),
		maxResp: opts.MaxResponse,
	}
	if c.maxResp <= 0 {
		c.maxResp = DefaultMaxResponse
	}
	if len(opts.URLs) == 0 {
		return nil, fmt.Errorf("HTTP_GET %s: no url", c.addr)
	}
	if strings.ContainsAny(opts.VirtualHost, "\r\n\x00") {
		return nil, fmt.Errorf("HTTP_GET %s: virtualhost %q holds a line break or NUL", c.addr, opts.VirtualHost)
	}
	if opts.TLS != nil {
		c.kind = "SSL_GET"
		c.tls = &tls.Config{
			ServerName:         opts.TLS.ServerName,
			InsecureSkipVerify: !opts.TLS.Verify,
			RootCAs:            opts.TLS.RootCAs,
			Certificates:       opts.TLS.Certificates,
		}
		if opts.TLS.Verify && c.tls.ServerName == "" {
			c.tls.ServerName = opts.Addr.Addr().Unmap().String()
		}
		if opts.Protocol == HTTP2 {
			// Offering HTTP/1.1 too, a server without HTTP/2 says so rather than end the
			// handshake.
			c.tls.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	if opts.Protocol == HTTP2 {
		c.h2 = &http2.Transport{AllowHTTP: true, MaxHeaderListSize: maxHTTPHeader, DisableCompression: true}
	}
	if opts.Addr.Addr().Unmap().Is6() {
		c.hostPort = "[" + opts.Addr.Addr().String() + "]:" + strconv.Itoa(int(opts.Addr.Port()))
	} else {
		c.hostPort = opts.Addr.Addr().Unmap().String() + ":" + strconv.Itoa(int(opts.Addr.Port()))
	}
	c.bufPool.New = func() any { b := make([]byte, maxHTTPHeader); return &b }

	keyHash := fnv.New64a()
	for i, u := range opts.URLs {
		if u.Path == "" {
			return nil, fmt.Errorf("%s %s: url %d: empty path", c.kind, c.addr, i+1)
		}
		if strings.ContainsAny(u.Path, "\r\n\x00") || strings.ContainsAny(u.VirtualHost, "\r\n\x00") {
			return nil, fmt.Errorf("%s %s: url %q: path or virtualhost %q holds a line break or NUL", c.kind, c.addr, u.Path, u.VirtualHost)
		}
		if u.RegexMinOffset < 0 || u.RegexMaxOffset < 0 {
			return nil, fmt.Errorf("%s %s: url %s: negative regex offset", c.kind, c.addr, u.Path)
		}
		if err := checkRequestShape(u); err != nil {
			return nil, fmt.Errorf("%s %s: url %s: %w", c.kind, c.addr, u.Path, err)
		}
		if u.RegexMaxOffsetSet && u.RegexMinOffset > u.RegexMaxOffset {
			// Keepalived logs "regex min offset > regex_max_offset - ignoring" and drops both.
			u.RegexMinOffset, u.RegexMaxOffset, u.RegexMaxOffsetSet = 0, 0, false
		}
		pu := httpURL{URL: u}
		if u.Digest != "" {
			d, err := hex.DecodeString(u.Digest)
			if err != nil || len(d) != md5.Size {
				return nil, fmt.Errorf("%s %s: url %s: digest %q: want %d hex digits", c.kind, c.addr, u.Path, u.Digest, 2*md5.Size)
			}
			copy(pu.digest[:], d)
		}
		if len(u.StatusCodes) == 0 {
			pu.StatusCodes = []StatusRange{{200, 299}}
		}
		var codes []string
		for _, r := range pu.StatusCodes {
			if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
				return nil, fmt.Errorf("%s %s: url %s: status_code %d-%d: want a range within 100-599", c.kind, c.addr, u.Path, r.Min, r.Max)
			}
			if r.Min == r.Max {
				codes = append(codes, strconv.Itoa(r.Min))
			} else {
				codes = append(codes, strconv.Itoa(r.Min)+"-"+strconv.Itoa(r.Max))
			}
		}
		pu.codes = strings.Join(codes, " ")
		pu.host = cmp.Or(u.VirtualHost, opts.VirtualHost, c.hostPort)
		if h := headerValue(u.Headers, "Host"); h != "" {
			pu.host = h
		}
		pu.request = c.buildRequest(u, pu.host)
		pu.prefix = "url " + u.Path + ": "
		c.urls = append(c.urls, pu)

		fmt.Fprintf(keyHash, "%s\x00%s\x00%s\x00%s\x00", u.Path, strings.ToLower(u.Digest), pu.codes, u.VirtualHost)
		if u.Regex != nil {
			fmt.Fprintf(keyHash, "%s\x00%t\x00%d\x00%t\x00%d\x00", u.Regex, u.RegexNoMatch, u.RegexMinOffset, u.RegexMaxOffsetSet, u.RegexMaxOffset)
		}
		if u.Method != "" || len(u.Headers) > 0 || u.Body != "" || u.Username != "" || u.Password != "" || len(u.ExpectHeaders) > 0 {
			fmt.Fprintf(keyHash, "%s\x00%q\x00%q\x00%q\x00%q\x00", u.Method, u.Headers, u.Body, u.Username, u.Password)
			for _, e := range u.ExpectHeaders {
				fmt.Fprintf(keyHash, "%s\x00", e)
			}
		}
		keyHash.Write([]byte{0xff})
	}

	c.okReason = strconv.Itoa(len(c.urls)) + " urls ok"
	if len(c.urls) == 1 {
		c.okReason = c.urls[0].prefix + "ok"
	}

	var key strings.Builder
	fmt.Fprintf(&key, "%s %s proto=%s", c.kind, c.addr, opts.Protocol)
	if opts.VirtualHost != "" {
		fmt.Fprintf(&key, " vhost=%s", opts.VirtualHost)
	}
	if opts.TLS != nil {
		key.WriteString(opts.TLS.keySuffix())
	}
	if opts.SendProxy != ProxyNone {
		key.WriteString(" proxy=" + opts.SendProxy.String())
	}
	fmt.Fprintf(&key, " max=%d urls=%016x%s", c.maxResp, keyHash.Sum64(), opts.keySuffix())
	c.key = key.String()
	return c, nil
}

// buildRequest writes the HTTP/1 request for u with host as its Host header: Keepalived's
// own, unless vigil's request shaping says otherwise.
func (c *HTTPChecker) buildRequest(u URL, host string) []byte {
	minor := "0"
	if c.opts.Protocol == HTTP11 {
		minor = "1"
	}
	var b bytes.Buffer
	b.WriteString(cmp.Or(u.Method, "GET") + " " + u.Path + " HTTP/1." + minor + "\r\n")
	if headerValue(u.Headers, "User-Agent") == "" {
		b.WriteString("User-Agent: KeepAliveClient\r\n")
	}
	if c.opts.Protocol != HTTP10 {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("Host: " + host + "\r\n")
	if u.Username != "" {
		b.WriteString("Authorization: " + basicAuth(u.Username, u.Password) + "\r\n")
	}
	for _, h := range u.Headers {
		if !strings.EqualFold(headerName(h), "Host") {
			b.WriteString(h + "\r\n")
		}
	}
	if u.Body != "" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(u.Body)) + "\r\n\r\n" + u.Body)
		return b.Bytes()
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// basicAuth is the Authorization header's value for user and password (RFC 7617).
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// headerName is the name of a "Name: value" header as written.
func headerName(h string) string {
	name, _, _ := strings.Cut(h, ":")
	return strings.TrimSpace(name)
}

// headerValue is the value of the first of headers called name, "" when none is.
func headerValue(headers []string, name string) string {
	for _, h := range headers {
		if n, v, _ := strings.Cut(h, ":"); strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2): a method or a field name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// checkRequestShape says what of u's method, headers and credentials would break the request.
func checkRequestShape(u URL) error {
	if u.Method != "" && !isToken(u.Method) {
		return fmt.Errorf("method %q is not an HTTP token", u.Method)
	}
	for _, h := range u.Headers {
		if err := checkHeaderLine(h); err != nil {
			return err
		}
		if strings.EqualFold(headerName(h), "Content-Length") {
			return fmt.Errorf("header %q: vigil sends the body's own Content-Length", h)
		}
	}
	if strings.ContainsAny(u.Username+u.Password, "\r\n\x00") || strings.Contains(u.Username, ":") {
		return errors.New("username holds a colon, or username or password a line break or NUL")
	}
	return nil
}

// checkHeaderLine says what is wrong with a "Name: value" header line, if anything.
func checkHeaderLine(h string) error {
	name, value, ok := strings.Cut(h, ":")
	switch {
	case !ok:
		return fmt.Errorf("header %q: want \"Name: value\"", h)
	case !isToken(name):
		return fmt.Errorf("header %q: %q is not a header name", h, name)
	case strings.ContainsAny(value, "\r\n\x00"):
		return fmt.Errorf("header %q holds a line break or NUL", h)
	}
	return nil
}

// Kind returns "HTTP_GET" or "SSL_GET".
func (c *HTTPChecker) Kind() string { return c.kind }

// Target returns the address probed.
func (c *HTTPChecker) Target() string { return c.addr }

// Key returns "<kind> <addr> proto=<p>[ vhost=<h>][ sni=<n> verify=<b>[ tls=<hash of CAs and
// client certificates>]] max=<n> urls=<hash of
// the url blocks>[ bind=..][ if=..][ mark=..]".
func (c *HTTPChecker) Key() string { return c.key }

// Check fetches every URL in turn; the first that fails decides the result.
func (c *HTTPChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	for i := range c.urls {
		if reason := c.checkURL(ctx, &c.urls[i]); reason != "" {
			return probeResult(start, false, reason)
		}
	}
	return probeResult(start, true, c.okReason)
}

// checkURL probes one URL and returns why it failed, or "" when it passed.
func (c *HTTPChecker) checkURL(ctx context.Context, u *httpURL) string {
	prefix := u.prefix
	// The socket is set to be reset rather than closed once done, as for TCP_CHECK: no TIME_WAIT
	// left behind per probe.
	sock, err := c.target.Dial(ctx, nil, false)
	if err != nil {
		return prefix + failReason(ctx, "connect", err)
	}
	var proxy []byte
	if c.opts.SendProxy != ProxyNone {
		local, err := sock.LocalAddr()
		if err != nil {
			sock.Close()
			return prefix + failReason(ctx, "send PROXY header", err)
		}
		proxy = proxyHeader(c.opts.SendProxy, local, c.opts.Addr)
	}
	raw := sock.Conn(c.opts.Addr)
	stop := bindConn(ctx, raw)
	defer stop()
	if proxy != nil {
		if _, err := raw.Write(proxy); err != nil {
			_ = raw.Close()
			return prefix + failReason(ctx, "send PROXY header", err)
		}
	}
	compliant := c.opts.TLS != nil && c.opts.TLS.Compliant
	if compliant {
		if err := unix.SetsockoptLinger(sock.FD(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{}); err != nil {
			_ = raw.Close()
			return prefix + failReason(ctx, "connect", os.NewSyscallError("setsockopt SO_LINGER", err))
		}
	}
	var conn net.Conn = raw
	if c.tls != nil {
		tc := tls.Client(raw, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return prefix + failReason(ctx, "TLS handshake", err)
		}
		conn = tc
		if c.h2 != nil && tc.ConnectionState().NegotiatedProtocol != "h2" {
			_ = raw.Close()
			return prefix + fmt.Sprintf("TLS handshake: the server chose %q over ALPN, not h2", tc.ConnectionState().NegotiatedProtocol)
		}
	}
	if c.h2 != nil {
		defer raw.Close()
		return c.roundTripH2(ctx, u, conn)
	}
	if compliant {
		// tls_compliant: say close_notify, then close.
		defer conn.Close()
	} else {
		// Closing the TCP socket, not the TLS layer: Keepalived's quiet shutdown sends no
		// close_notify either, and there is nothing left to say.
		defer raw.Close()
	}

	if _, err := conn.Write(u.request); err != nil {
		return prefix + failReason(ctx, "send request", err)
	}

	bp := c.bufPool.Get().(*[]byte)
	defer c.bufPool.Put(bp)
	buf := *bp
	reply := newHTTPReply(u, c.maxResp)
	for {
		m, err := conn.Read(buf)
		if m > 0 {
			done, reason := reply.feed(buf[:m])
			if reason != "" {
				return prefix + reason
			}
			if done {
				break
			}
		}
		if err != nil {
			// A TLS server that closes without close_notify ends the body as EOF does.
			if errors.Is(err, io.EOF) || (c.tls != nil && reply.headDone && errors.Is(err, io.ErrUnexpectedEOF)) {
				if reason := reply.eof(); reason != "" {
					return prefix + reason
				}
				break
			}
			return prefix + failReason(ctx, reply.step(), err)
		}
	}
	if reason := reply.verdict(); reason != "" {
		return prefix + reason
	}
	return ""
}

// roundTripH2 sends u's request over HTTP/2 on conn, whose TLS (if any) negotiated h2, or in
// clear with prior knowledge (h2c), and judges the answer as an HTTP/1 one is judged.
func (c *HTTPChecker) roundTripH2(ctx context.Context, u *httpURL, conn net.Conn) string {
	prefix := u.prefix
	cc, err := c.h2.NewClientConn(conn)
	if err != nil {
		return prefix + failReason(ctx, "HTTP/2 connection", err)
	}
	defer cc.Close()
	scheme := "http"
	if c.tls != nil {
		scheme = "https"
	}
	var body io.Reader
	if u.Body != "" {
		body = strings.NewReader(u.Body)
	}
	req, err := http.NewRequestWithContext(ctx, cmp.Or(u.Method, "GET"), scheme+"://"+c.hostPort+u.Path, body)
	if err != nil {
		return prefix + "request: " + err.Error()
	}
	req.Host = u.host
	req.Header.Set("User-Agent", "KeepAliveClient")
	for _, h := range u.Headers {
		name, value, _ := strings.Cut(h, ":")
		if !strings.EqualFold(strings.TrimSpace(name), "Host") {
			req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	if v := headerValue(u.Headers, "User-Agent"); v != "" {
		req.Header.Set("User-Agent", v)
	}
	if u.Username != "" {
		req.Header.Set("Authorization", basicAuth(u.Username, u.Password))
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return prefix + failReason(ctx, "read response", err)
	}
	defer resp.Body.Close()
	reply := newHTTPReply(u, c.maxResp)
	reply.parsedHead(resp.StatusCode, func(name string) []string { return resp.Header.Values(name) })
	bp := c.bufPool.Get().(*[]byte)
	defer c.bufPool.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, reason := reply.feed(buf[:n]); reason != "" {
				return prefix + reason
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return prefix + failReason(ctx, "read body", err)
		}
	}
	if reason := reply.verdict(); reason != "" {
		return prefix + reason
	}
	return ""
}

// Pollable is true for a plain HTTP_GET over HTTP/1; a SSL_GET's TLS handshake and HTTP/2's
// framing need a goroutine.
func (c *HTTPChecker) Pollable() bool { return c.tls == nil && c.h2 == nil }

// StartProbe connects for the first URL and sends its request as far as the socket takes it:
// done only when that failed already. The request goes right after connect, with the last ACK
// of the handshake held back (TCP_QUICKACK off, as HAProxy does when it has data to send), so
// that the ACK rides on the request instead of costing the target a packet of its own.
func (c *HTTPChecker) StartProbe(sockets *probe.SocketPool, start time.Time) (probe.Pending, probe.Result, bool) {
	h := &httpPending{c: c, sockets: sockets, start: start}
	if res, done := h.startURL(0); done {
		return nil, res, true
	}
	return h, probe.Result{}, false
}

// httpPending is a plain HTTP_GET under way in the scheduler's poller: sending a URL's request
// (or waiting for its handshake to end), then reading its answer, one URL after the other.
type httpPending struct {
	c         *HTTPChecker
	sockets   *probe.SocketPool
	sock      *probe.Socket // the current URL's; nil before the first
	url       int           // the URL being probed
	req       []byte        // what is sent for the URL: its request, after a PROXY header
	sent      int           // bytes of req written
	receiving bool          // its request is sent; reading the answer
	reply     httpReply
	start     time.Time
}

// startURL opens the connection for URL i and sends its request.
func (h *httpPending) startURL(i int) (probe.Result, bool) {
	c := h.c
	h.url, h.sent, h.receiving = i, 0, false
	h.reply = newHTTPReply(&c.urls[i], c.maxResp)
	s, _, err := c.target.Open(h.sockets, true)
	if err != nil {
		return h.Fail(failReason(context.Background(), "connect", err)), true
	}
	h.sock = s
	h.req = c.urls[i].request
	if c.opts.SendProxy != ProxyNone {
		local, err := s.LocalAddr()
		if err != nil {
			return h.Fail(failReason(context.Background(), "send PROXY header", err)), true
		}
		h.req = append(proxyHeader(c.opts.SendProxy, local, c.opts.Addr), h.req...)
	}
	return h.send()
}

// send writes what is left of the request. A socket whose handshake is not over refuses the
// write (EAGAIN) and the probe waits for it to become writable; a handshake that failed shows
// as the write's error.
func (h *httpPending) send() (probe.Result, bool) {
	req := h.req
	for h.sent < len(req) {
		n, again, err := sockCall(h.sock.Write, req[h.sent:])
		switch {
		case again:
			return probe.Result{}, false
		case err != nil:
			step := "send request"
			if h.sent == 0 && handshakeErrno(err) {
				step = "connect"
			}
			return h.Fail(failReason(context.Background(), step, os.NewSyscallError("write", err))), true
		}
		h.sent += n
	}
	h.receiving = true
	return probe.Result{}, false
}

// sockCall makes a read or write of a probe's non-blocking socket, again when a signal
// interrupted it: again is true when the socket has nothing to give or no room now (EAGAIN),
// and the probe must wait for it.
func sockCall(call func([]byte) (int, error), p []byte) (n int, again bool, err error) {
	for {
		n, err := call(p)
		switch err {
		case nil:
			return n, false, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, true, nil
		}
		return 0, false, err
	}
}

// handshakeErrno reports whether err is one a failed handshake leaves on a socket.
func handshakeErrno(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.ETIMEDOUT, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EHOSTDOWN, unix.ENETDOWN, unix.ECONNRESET:
		return true
	}
	return false
}

// Wait is for the socket to take the rest of the request, then for the answer.
func (h *httpPending) Wait() (*probe.Socket, uint32) {
	if h.receiving {
		return h.sock, unix.EPOLLIN | unix.EPOLLRDHUP
	}
	return h.sock, unix.EPOLLOUT
}

// Ready sends more of the request, or reads what the socket holds of the answer.
func (h *httpPending) Ready(_ uint32, buf []byte) (probe.Result, bool) {
	if !h.receiving {
		return h.send()
	}
	for {
		n, again, err := sockCall(h.sock.Read, buf)
		switch {
		case again:
			return probe.Result{}, false
		case err != nil:
			return h.Fail(failReason(context.Background(), h.reply.step(), os.NewSyscallError("read", err))), true
		case n == 0:
			if reason := h.reply.eof(); reason != "" {
				return h.Fail(reason), true
			}
			return h.urlDone()
		}
		done, reason := h.reply.feed(buf[:n])
		if reason != "" {
			return h.Fail(reason), true
		}
		if done {
			return h.urlDone()
		}
	}
}

// urlDone judges a complete response and goes on to the next URL, if any.
func (h *httpPending) urlDone() (probe.Result, bool) {
	if reason := h.reply.verdict(); reason != "" {
		return h.Fail(reason), true
	}
	h.sock.Close()
	if h.url+1 < len(h.c.urls) {
		return h.startURL(h.url + 1)
	}
	return probeResult(h.start, true, h.c.okReason), true
}

// Expire fails the probe, saying what it was waiting for.
func (h *httpPending) Expire() probe.Result {
	step := "connect"
	switch {
	case !h.receiving && h.sent > 0:
		step = "send request"
	case h.receiving:
		step = h.reply.step()
	}
	return h.Fail(step + ": timeout")
}

// Fail resets the connection and fails the probe with reason, prefixed with the URL's.
func (h *httpPending) Fail(reason string) probe.Result {
	if h.sock != nil {
		h.sock.Close()
	}
	return probeResult(h.start, false, h.c.urls[h.url].prefix+reason)
}

// regexMatches reports whether u's regex matches body within the configured offsets.
func regexMatches(u *httpURL, body []byte) bool {
	from := u.RegexMinOffset
	if from > len(body) {
		return false
	}
	loc := u.Regex.FindIndex(body[from:])
	if loc == nil {
		return false
	}
	return !u.RegexMaxOffsetSet || from+loc[0] <= u.RegexMaxOffset
}

// statusAccepted reports whether code is within one of ranges.
func statusAccepted(ranges []StatusRange, code int) bool {
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// parseStatusCode reads the three-digit code after the first space of the status line, or 0
// when there is none or it is outside 100..599, which RFC 9110 section 15 calls invalid.
// Keepalived also demands a space after the code; vigil accepts a status line without a reason
// phrase.
func parseStatusCode(hdr []byte) int {
	line := hdr
	if i := bytes.IndexByte(hdr, '\r'); i >= 0 {
		line = hdr[:i]
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 || len(line) < sp+4 {
		return 0
	}
	code := line[sp+1 : sp+4]
	if len(line) > sp+4 && line[sp+4] != ' ' {
		return 0
	}
	v := 0
	for _, ch := range code {
		if ch < '0' || ch > '9' {
			return 0
		}
		v = v*10 + int(ch-'0')
	}
	if v < 100 || v > 599 {
		return 0
	}
	return v
}

// parseContentLength returns the Content-Length header's value, or -1 when there is none or it
// is not a number.
func parseContentLength(hdr []byte) int64 {
	for len(hdr) > 0 {
		i := bytes.Index(hdr, []byte("\r\n"))
		if i < 0 {
			i = len(hdr)
		}
		line := hdr[:i]
		hdr = hdr[min(len(hdr), i+2):]
		const name = "content-length:"
		if len(line) > len(name) && bytes.EqualFold(line[:len(name)], []byte(name)) {
			v, err := strconv.ParseInt(strings.TrimSpace(string(line[len(name):])), 10, 64)
			if err != nil || v < 0 {
				return -1
			}
			return v
		}
	}
	return -1
}

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
	k["url"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table { return urlTable(o, l, ssl) }}
	b.Close = func(p *syntax.Parser, end syntax.Pos) bool {
		if len(o.URLs) == 0 {
			p.Diags.Warnf(end, "HTTP/SSL_GET checker has no urls specified - ignoring")
			return false
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
