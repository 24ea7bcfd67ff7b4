package check

import (
	"cmp"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
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
	// ReuseConnection keeps the connection open between requests (reuse_connection, vigil's, as
	// Envoy's health checks do; HTTP_GET with http_protocol 1.1 only): the request asks for no
	// close, each answer is read to its end by Content-Length or chunked framing, and the next
	// URL or probe sends its request on the same connection. The check then no longer proves
	// that the target accepts new connections.
	ReuseConnection bool `json:"reuse_connection,omitempty"`
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
	// kept is the connection reuse_connection keeps between probes (the polled ones: a probe
	// on a goroutine, which runs only when the scheduler's poller failed, connects each time).
	kept probe.KeptSocket
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
	if opts.ReuseConnection && (opts.TLS != nil || opts.Protocol != HTTP11) {
		return nil, fmt.Errorf("%s %s: reuse_connection needs a HTTP_GET with http_protocol 1.1", c.kind, c.addr)
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
	if opts.ReuseConnection {
		key.WriteString(" reuse")
	}
	fmt.Fprintf(&key, " max=%d urls=%016x%s", c.maxResp, keyHash.Sum64(), opts.keySuffix())
	c.key = key.String()
	return c, nil
}

// Release closes the connection reuse_connection keeps, once the scheduler no longer runs the
// checker.
func (c *HTTPChecker) Release() { c.kept.Close() }

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
	reply := c.newReply(u)
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
