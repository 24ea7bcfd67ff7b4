package check

import (
	"bytes"
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
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
	bufPool  sync.Pool // *[]byte of maxHTTPHeader bytes, reused between checks
	hostPort string    // "ip:port" for the Host header when no virtualhost applies
	okReason string    // the reason of a passed check, made once rather than per probe
}

// httpURL is a URL prepared for probing.
type httpURL struct {
	URL
	digest  [md5.Size]byte
	request []byte
	codes   string // accepted statuses, for reasons
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
		pu.request = c.buildRequest(u)
		pu.prefix = "url " + u.Path + ": "
		c.urls = append(c.urls, pu)

		fmt.Fprintf(keyHash, "%s\x00%s\x00%s\x00%s\x00", u.Path, strings.ToLower(u.Digest), pu.codes, u.VirtualHost)
		if u.Regex != nil {
			fmt.Fprintf(keyHash, "%s\x00%t\x00%d\x00%t\x00%d\x00", u.Regex, u.RegexNoMatch, u.RegexMinOffset, u.RegexMaxOffsetSet, u.RegexMaxOffset)
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
	fmt.Fprintf(&key, " max=%d urls=%016x%s", c.maxResp, keyHash.Sum64(), opts.keySuffix())
	c.key = key.String()
	return c, nil
}

// buildRequest writes the request Keepalived sends for u.
func (c *HTTPChecker) buildRequest(u URL) []byte {
	host := u.VirtualHost
	if host == "" {
		host = c.opts.VirtualHost
	}
	if host == "" {
		host = c.hostPort
	}
	minor := "0"
	if c.opts.Protocol == HTTP11 {
		minor = "1"
	}
	var b bytes.Buffer
	b.WriteString("GET " + u.Path + " HTTP/1." + minor + "\r\n")
	b.WriteString("User-Agent: KeepAliveClient\r\n")
	if c.opts.Protocol != HTTP10 {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("Host: " + host + "\r\n\r\n")
	return b.Bytes()
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
	raw := sock.Conn(c.opts.Addr)
	stop := bindConn(ctx, raw)
	defer stop()
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

// Pollable is true for a plain HTTP_GET; a SSL_GET's TLS handshake needs a goroutine.
func (c *HTTPChecker) Pollable() bool { return c.tls == nil }

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
	sent      int           // bytes of its request written
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
	return h.send()
}

// send writes what is left of the request. A socket whose handshake is not over refuses the
// write (EAGAIN) and the probe waits for it to become writable; a handshake that failed shows
// as the write's error.
func (h *httpPending) send() (probe.Result, bool) {
	req := h.c.urls[h.url].request
	for h.sent < len(req) {
		n, err := h.sock.Write(req[h.sent:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
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
		n, err := h.sock.Read(buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
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
		default:
			p.Diags.Warnf(l.Pos, "Invalid http_protocol version %s", l.Words[1])
		}
	}}
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
		// A regex_max_offset of 0 sets no bound, as in Keepalived.
		u.RegexMaxOffsetSet = maxSet && u.RegexMaxOffset > 0
		o.URLs = append(o.URLs, *u)
	}}
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
